"""The map libraries ship with Kursatlas: vendored files, licences, package data, no CDN in any map.

The browser side (a map works with every request refused) is in
``tests/test_maps_browser.py``.
"""

from __future__ import annotations

import html
import logging
import re
import tomllib
from pathlib import Path

import folium
import pytest
from folium import plugins

from coverage.outputs import _assets
from coverage.outputs._assets import LIBRARIES, asset_digest, asset_files, read_asset, remote_resources
from coverage.outputs.maps import TILE_NOTICE, overview_map, render_html, write_maps
from coverage.outputs.maps.jobs import _render_salt
from tests.synthetic_maps import make_region

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "coverage" / "outputs" / "_mapassets"
_TAG = re.compile(r"<(script|link|img|iframe)\b[^>]*?\s(?:src|href)\s*=", re.IGNORECASE)


def test_every_vendored_file_is_there_with_its_licence() -> None:
    on_disk = {p.relative_to(ASSETS).as_posix() for p in ASSETS.rglob("*") if p.is_file()}
    assert on_disk == {*asset_files(), "README.md"}  # nothing missing, nothing extra
    readme = (ASSETS / "README.md").read_text(encoding="utf-8")
    for lib in LIBRARIES:
        assert lib.folder == f"{lib.name}-{lib.version}"
        licence = read_asset(f"{lib.folder}/{lib.licence_file}").decode("utf-8")
        assert "Permission is hereby granted" in licence or "Redistribution and use" in licence
        assert f"| {lib.version} | {lib.licence} (`{lib.folder}/{lib.licence_file}`)" in readme, lib.name
        for f in (*lib.js, *lib.css, *lib.resources):
            assert f"`{f}`" in readme, f
        for f in lib.js:  # the licence header stays at the top of every embedded script
            head = read_asset(f"{lib.folder}/{f}")[:400].decode("utf-8")
            assert "(c)" in head.lower() or "copyright" in head.lower(), f
    total = sum(len(read_asset(f)) for f in asset_files())
    assert total < 350_000, total  # only the files the maps use


def test_versions_are_the_ones_folium_references() -> None:
    referenced = {
        url
        for cls in (folium.Map, plugins.Search, plugins.Fullscreen)
        for _, url in (*cls.default_js, *cls.default_css)
    }
    for lib in LIBRARIES:
        for url in lib.folium_urls:
            assert url in referenced, f"{url}: folium verweist auf eine andere Version; Bibliothek aktualisieren"
            assert lib.version in url


def test_package_data_covers_every_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "coverage.outputs._mapassets" in config["packages"]
    patterns = config["package-data"]["coverage.outputs._mapassets"]
    matched = {p.relative_to(ASSETS).as_posix() for pat in patterns for p in ASSETS.glob(pat) if p.is_file()}
    assert matched == {*asset_files(), "README.md"}


def test_written_maps_load_nothing_from_the_network(tmp_path: Path) -> None:
    config, data = make_region(tmp_path, hostile=True)
    paths = write_maps(config, data, tmp_path / "karten")
    leaflet = read_asset("leaflet-1.9.3/dist/leaflet.js").decode("utf-8").split("\n//# sourceMappingURL")[0]
    for p in paths:
        text = p.read_text(encoding="utf-8")
        assert remote_resources(text) == []
        assert _TAG.findall(text) == [], p.name  # no script, stylesheet, image or frame is loaded by URL
        for cdn in ("https://cdn", "http://cdn", "//cdn.", "cdnjs.cloudflare", "code.jquery.com", "bootstrapcdn"):
            assert cdn not in text, (p.name, cdn)
        assert _assets.PLACEHOLDER not in text and "@import" not in text
        styles = "\n".join(re.findall(r"<style>(.*?)</style>", text, re.DOTALL))
        urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", styles)
        assert urls and all(u.startswith(("data:image/", "#default#VML")) for u in urls), urls
        assert leaflet in text  # the vendored file, unchanged
        for lib in LIBRARIES:
            assert f"{lib.name} {lib.version} ({lib.licence})" in text
        assert TILE_NOTICE in text and 'id="ka-kacheln"' in text and '"tileerror"' in text


def test_folium_is_not_changed_globally(tmp_path: Path) -> None:
    before = (list(folium.Map.default_js), list(folium.Map.default_css), list(plugins.Search.default_js))
    config, data = make_region(tmp_path)
    write_maps(config, data, tmp_path / "karten", per_municipality=False)
    assert (folium.Map.default_js, folium.Map.default_css, plugins.Search.default_js) == before
    assert all(url.startswith("https://") for _, url in folium.Map.default_js)


def test_every_way_of_rendering_a_kursatlas_map_embeds_the_libraries(tmp_path: Path) -> None:
    config, data = make_region(tmp_path)
    m = overview_map(config, data)
    first = render_html(m)
    # the per-instance links exist only while rendering
    assert "default_js" not in vars(m) and m.default_js == folium.Map.default_js
    m.save(str(tmp_path / "gespeichert.html"))  # folium's own save, as a user in a notebook might
    saved = (tmp_path / "gespeichert.html").read_text(encoding="utf-8")
    notebook = html.unescape(m._repr_html_())  # the iframe Jupyter shows
    for text in (first, saved, notebook):
        assert remote_resources(text) == [] and "https://cdn" not in text and _assets.PLACEHOLDER not in text
        assert "Leaflet 1.9.3" in text and TILE_NOTICE in text


def test_plain_folium_map_is_offline_too() -> None:
    m = folium.Map(location=[53.2, 9.4], zoom_start=9)
    text = render_html(m)
    assert remote_resources(text) == [] and "https://cdn" not in text
    assert len(text.encode("utf-8")) < 400_000
    # afterwards the map is folium's own again: folium's render links the CDN, no placeholder is left
    plain = m.get_root().render()
    assert _assets.PLACEHOLDER not in plain and "https://cdn.jsdelivr.net/npm/leaflet@1.9.3" in plain


def test_a_library_kursatlas_does_not_ship_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    m = folium.Map(location=[53.2, 9.4], zoom_start=9)
    folium.Marker([53.2, 9.4], icon=folium.Icon(color="red")).add_to(m)  # would need awesome-markers
    m.add_child(plugins.MiniMap())
    with caplog.at_level(logging.WARNING, logger="coverage.outputs._assets"):
        text = render_html(m)
    assert "nicht mitliefert" in caplog.text and "leaflet-minimap" in caplog.text.lower()
    assert any("minimap" in u.lower() for u in remote_resources(text))
    assert "cdn.jsdelivr.net/npm/leaflet@" not in text  # the libraries Kursatlas ships are still embedded


def test_map_keys_include_the_libraries() -> None:
    assert asset_digest() in _render_salt()
    assert re.fullmatch(r"[0-9a-f]{64}", asset_digest())
