"""Maps in a real browser: headless Chromium without internet.

Generates all maps of a small synthetic region whose course registry, sites,
reasons, a Mitgliedskommune name and an attribution contain hostile strings, opens
every map and checks: no console error, no uncaught exception, no dialog (alert),
no network request except map tiles, the expected numbers of layers, paths and
markers, and that the hostile strings appear as plain text in popups, tooltips,
the place search and the source box.

The maps embed their libraries, so nothing but the tiles is served
(``tests/browser/offline.py`` answers tiles with a 1×1 PNG); one test refuses the
tiles as well, as on a machine without any network.

Needs ``apt-get install -y chromium`` and ``pip install playwright`` (no browser
download); skipped only if Chromium is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coverage.outputs.maps import (
    CHANGE_LAYER_NAME,
    TILE_NOTICE,
    aggregate_residents,
    course_reach,
    overview_map,
    render_html,
    write_maps,
)
from coverage.outputs.report import write_report
from tests.browser.offline import TILE_URL, find_chromium, launch, new_page
from tests.synthetic_maps import HOSTILE, make_region
from tests.test_maps import change_report

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium ist nicht installiert (apt-get install -y chromium)")

N_MK = 3
N_COURSES = 7  # one per hostile string
N_PROPOSALS = 3
HOSTILE_MK = "Gemeinde <b>Fett</b> & `x` ${y}"

_FIND_MAP = """() => {
  for (const k of Object.keys(window)) {
    if (k.startsWith('map_') && window[k] instanceof L.Map) return k;
  }
  return null;
}"""


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("karten")
    config, data = make_region(tmp, n_mk=N_MK, n_courses=N_COURSES, n_proposals=N_PROPOSALS, hostile=True)
    paths = write_maps(config, data, tmp / "karten")
    import pandas as pd

    report = write_report(
        config,
        directory=tmp / "erg",
        gaps=data.gaps,
        proposals=data.proposals,
        marginal=pd.DataFrame({"Anzahl Kurse": [0, 1, 2], "neu versorgt": [0, 30, 50]}),
        courses=data.courses,
    )
    cells = aggregate_residents(data.residents, cell_m=1000, min_count=5, areas=data.mitgliedskommunen)
    reach = course_reach(data.travel_times, data.residents, minutes=data.reach_minutes, cell_m=1000, min_count=5)
    reach = reach[~reach.geometry.is_empty & reach["kurs_id"].isin(data.courses.dropna(subset=["geometry"])["kurs_id"])]
    return {"config": config, "data": data, "paths": paths, "report": report, "cells": cells, "reach": reach}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (ohne 'playwright install')")
    with sync_api.sync_playwright() as p:
        b = launch(p, CHROMIUM)
        yield b
        b.close()


class Opened:
    """A loaded page with everything it logged (``tiles=False``: tile requests are refused too)."""

    def __init__(self, browser: Any, path: Path, *, tiles: bool = True) -> None:
        self.ctx, self.page, self.router = new_page(browser, tiles=tiles)
        self.errors: list[str] = []
        self.tile_errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("dialog", self._dialog)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri(), wait_until="load")
        self.page.wait_for_timeout(300)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        if TILE_URL.match(str((message.location or {}).get("url", ""))):
            self.tile_errors.append(message.text)  # a refused tile: reported by the browser, not by the map
        else:
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def network(self) -> list[str]:
        """Every request that would have left the machine (not file:/data:/blob:/about:)."""
        return [u for u in self.requests if not u.startswith(("file:", "data:", "blob:", "about:"))]

    def clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs
        assert self.router.unknown == [], self.router.unknown
        assert all(TILE_URL.match(u) for u in self.network()), self.network()

    def count(self, selector: str) -> int:
        return int(self.page.evaluate("s => document.querySelectorAll(s).length", selector))

    def close(self) -> None:
        self.ctx.close()


@pytest.fixture
def opened(browser: Any) -> Iterator[Any]:
    pages: list[Opened] = []

    def _open(path: Path, *, tiles: bool = True) -> Opened:
        o = Opened(browser, path, tiles=tiles)
        pages.append(o)
        return o

    yield _open
    for o in pages:
        o.close()


def test_every_map_loads_cleanly(region: dict[str, Any], opened: Any) -> None:
    for path in region["paths"]:
        o = opened(path)
        o.clean()
        assert o.page.evaluate(_FIND_MAP), path.name
        assert o.count(".leaflet-control-scale") == 1
        assert o.count(".leaflet-control-zoom-fullscreen") == 1
        assert o.count(".leaflet-control-search") == 1
        assert o.count(".leaflet-control-layers") == 1
        sources = o.page.inner_text("#ka-quellen")
        assert "© GeoBasis-DE / BKG (2024) <script>alert(7)</script> ${alert(8)}" in sources
        assert "Kursdaten: synthetisch" in sources
        attribution = o.page.inner_text(".leaflet-control-attribution")
        assert "OpenStreetMap" in attribution and "<script>alert(7)</script>" in attribution
        notice = o.page.locator("#ka-modelldaten")
        assert notice.is_visible() and "keine realen Angaben" in notice.inner_text()
        assert o.page.locator("#ka-legende").is_visible()
        assert o.page.title().startswith("Kursatlas Testkreis")
        assert o.page.evaluate("document.documentElement.lang") == "de"
        assert o.router.tile_requests and not o.page.locator("#ka-kacheln").is_visible()  # tiles loaded
        o.clean()


def test_overview_layers_paths_and_markers(region: dict[str, Any], opened: Any) -> None:
    o = opened(region["paths"][0])
    base = o.page.locator(".leaflet-control-layers-base label")
    overlays = o.page.locator(".leaflet-control-layers-overlays label")
    assert base.count() == 7  # alle Niveaus + 6 levels, radio buttons
    assert [t.strip() for t in overlays.all_inner_texts()] == [
        "Grenzen der Mitgliedskommunen",
        "Zielgruppe (Raster 1 km)",
        "Erreichbar mit Bus und Bahn (je Kurs)",
        "Bestehende Kurse",
        "Vorschläge (landkreisgefördert)",
    ]
    assert o.count(".leaflet-control-layers-base input[type=radio]") == 7
    assert o.count(".ka-kurs") == N_COURSES  # the online course has no marker
    assert o.count(".ka-vorschlag") == N_PROPOSALS
    assert o.count(".leaflet-marker-icon") == N_COURSES + N_PROPOSALS
    initial = N_MK + N_MK + 1  # choropleth + boundaries + county outline
    assert o.count("path.leaflet-interactive, .leaflet-overlay-pane path") == initial
    # switch on the grid and the reach areas
    o.page.get_by_label("Zielgruppe (Raster 1 km)").check()
    o.page.get_by_label("Erreichbar mit Bus und Bahn (je Kurs)").check()
    expected = initial + len(region["cells"]) + len(region["reach"])
    assert o.count(".leaflet-overlay-pane path") == expected
    # radio switching: another level replaces the choropleth, it is not added on top
    o.page.get_by_label("Versorgungsquote B1").check()
    assert o.count(".leaflet-overlay-pane path") == expected
    o.page.get_by_label("Bestehende Kurse").uncheck()
    assert o.count(".ka-kurs") == 0
    o.clean()


def test_popups_show_hostile_text_as_text(region: dict[str, Any], opened: Any) -> None:
    o = opened(region["paths"][0])
    # a real click on the first course marker
    o.page.locator(".ka-kurs").first.click(force=True)
    o.page.wait_for_selector(".leaflet-popup-content")
    assert "Träger" in o.page.inner_text(".leaflet-popup-content")
    texts: list[str] = o.page.evaluate(
        """(name) => {
          const map = window[name]; const out = [];
          map.eachLayer(l => {
            if (l instanceof L.Marker && l.getPopup()) {
              l.openPopup();
              const el = l.getPopup().getElement().querySelector('.leaflet-popup-content');
              out.push(el ? el.innerText : '');
              if (el && el.querySelector('img, script, iframe')) out.push('ELEMENT INJECTED');
              l.closePopup();
            }
          });
          return out;
        }""",
        o.page.evaluate(_FIND_MAP),
    )
    assert len(texts) == N_COURSES + N_PROPOSALS
    joined = "\n".join(texts)
    assert "ELEMENT INJECTED" not in joined
    for attack in HOSTILE:
        assert attack.strip() in joined, attack
    assert "Mit Bus und Bahn erreichbar für" in joined and "Begründung" in joined
    o.clean()


def test_tooltips_and_search_show_hostile_name_as_text(region: dict[str, Any], opened: Any) -> None:
    o = opened(region["paths"][0])
    tips: list[str] = o.page.evaluate(
        """(name) => {
          const map = window[name]; const out = [];
          map.eachLayer(l => {
            if (l instanceof L.GeoJSON && l.getTooltip()) {
              l.eachLayer(f => {
                f.fire('mouseover', {latlng: f.getBounds ? f.getBounds().getCenter() : f.getLatLng()}, true);
                const el = l.getTooltip().getElement();
                out.push(el ? el.innerText : '');
                if (el && el.querySelector('b, img, script')) out.push('ELEMENT INJECTED');
                f.fire('mouseout', {}, true);
              });
            }
          });
          return out;
        }""",
        o.page.evaluate(_FIND_MAP),
    )
    joined = "\n".join(tips)
    assert "ELEMENT INJECTED" not in joined
    assert HOSTILE_MK in joined
    assert "Versorgungsquote" in joined
    # place search: the hostile name is offered as text and can be selected
    o.page.locator(".leaflet-control-search .search-button").click()
    o.page.locator(".leaflet-control-search input.search-input").press_sequentially("Fett", delay=50)
    tip = o.page.locator(".search-tip").first
    tip.wait_for()
    assert tip.inner_text() == HOSTILE_MK
    assert o.count(".search-tip b") == 0
    tip.click()
    o.page.wait_for_timeout(500)
    o.clean()


def test_municipality_and_proposal_maps_show_their_part(region: dict[str, Any], opened: Any) -> None:
    paths = {p.name: p for p in region["paths"]}
    data = region["data"]
    for ars in data.mitgliedskommunen["mk_ars"]:
        o = opened(paths[f"mk_{ars}.html"])
        assert o.count(".leaflet-control-layers-base input") == 7
        # one Mitgliedskommune: choropleth, boundary, county outline
        assert o.count(".leaflet-overlay-pane path") == 3
        o.clean()
    o = opened(paths["vorschlaege.html"])
    assert o.count(".ka-vorschlag") == N_PROPOSALS
    assert o.count(".leaflet-control-layers-overlays input") == 3
    o.clean()


def test_every_map_works_with_every_request_refused(region: dict[str, Any], opened: Any) -> None:
    """As on a machine without network: every request is refused, map tiles included.

    Leaflet and the plugins come from the file itself; layers, markers, popups, the
    place search and the full-screen button work; icons are embedded; the only
    requests are tile requests, and the map says that the background is missing.
    """
    for path in region["paths"]:
        o = opened(path, tiles=False)
        notice = o.page.locator("#ka-kacheln")
        notice.wait_for(state="visible")
        assert notice.inner_text() == TILE_NOTICE
        assert o.page.evaluate("[typeof window.L, L.version, typeof window.jQuery]") == ["object", "1.9.3", "function"]
        assert o.page.evaluate(_FIND_MAP), path.name
        assert o.count(".leaflet-overlay-pane path") >= 3 and o.count(".leaflet-marker-icon") >= 1
        for control in (".leaflet-control-search", ".leaflet-control-zoom-fullscreen", ".leaflet-control-layers"):
            assert o.count(control) == 1, control
        # the icons of the controls are embedded images, not fonts or files from a server
        icons = o.page.evaluate(
            """() => ['.leaflet-control-search .search-button', '.leaflet-control-zoom-fullscreen',
                      '.leaflet-control-layers-toggle']
                .map(s => getComputedStyle(document.querySelector(s)).backgroundImage)"""
        )
        assert all(i.startswith('url("data:image/') for i in icons), icons
        assert o.router.unknown == [] and o.router.tile_requests
        assert o.network() and all(TILE_URL.match(u) for u in o.network()), o.network()
        assert sorted(o.network()) == sorted(o.router.seen)  # nothing bypassed the refusing router
        o.clean()
    # the overview in detail: popups open, the search finds a Mitgliedskommune, full screen toggles
    o = opened(region["paths"][0], tiles=False)
    o.page.locator("#ka-kacheln").wait_for(state="visible")
    assert o.count(".ka-kurs") == N_COURSES and o.count(".ka-vorschlag") == N_PROPOSALS
    o.page.locator(".ka-kurs").first.click(force=True)
    o.page.wait_for_selector(".leaflet-popup-content")
    assert "Träger" in o.page.inner_text(".leaflet-popup-content")
    o.page.locator(".ka-vorschlag").first.click(force=True)
    o.page.wait_for_function("document.querySelector('.leaflet-popup-content').innerText.includes('Begründung')")
    o.page.locator(".leaflet-control-search .search-button").click()
    o.page.locator(".leaflet-control-search input.search-input").press_sequentially("Fett", delay=50)
    o.page.locator(".search-tip").first.wait_for()
    assert o.page.locator(".search-tip").first.inner_text() == HOSTILE_MK
    o.page.locator(".leaflet-control-zoom-fullscreen").click()
    o.page.wait_for_selector(".leaflet-control-zoom-fullscreen.leaflet-fullscreen-on")
    name = o.page.evaluate(_FIND_MAP)
    assert o.page.evaluate("(name) => window[name]._isFullscreen", name) is True
    assert o.page.locator("#ka-kacheln").is_visible()
    # back online: once the next tiles load, the notice disappears
    o.router.tiles = True
    o.page.evaluate("(name) => window[name].setZoom(window[name].getZoom() + 1, {animate: false})", name)
    o.page.locator("#ka-kacheln").wait_for(state="hidden")
    o.clean()


def test_report_renders_offline(region: dict[str, Any], opened: Any) -> None:
    o = opened(region["report"])
    o.clean()
    assert o.router.seen == [] and o.network() == []
    widths = o.page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
    assert len(widths) == 2 and all(w > 100 for w in widths)
    assert "keine realen Angaben" in o.page.inner_text("#modelldaten")
    assert "<script>alert(1)</script>" in o.page.inner_text("#luecken")
    assert o.count("#luecken tbody tr") == N_MK * 6


def test_change_layer_toggles_and_shows_text(region: dict[str, Any], opened: Any, tmp_path: Path) -> None:
    from dataclasses import replace

    data = region["data"]
    path = tmp_path / "uebersicht.html"
    path.write_text(render_html(overview_map(region["config"], replace(data, changes=change_report(data)))), "utf-8")
    o = opened(path)
    overlays = [t.strip() for t in o.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
    assert overlays[-1] == CHANGE_LAYER_NAME
    assert o.count(".leaflet-marker-icon .ka-aenderung") == 0  # hidden at first
    before = o.count(".leaflet-overlay-pane path")
    o.page.get_by_label(CHANGE_LAYER_NAME).check()
    assert o.count(".leaflet-marker-icon .ka-aenderung") == 2  # added and removed course; the online one has no place
    assert o.count(".leaflet-overlay-pane path") == before + 2  # two Mitgliedskommunen changed
    tips: list[str] = o.page.evaluate(
        """(name) => {
          const map = window[name]; const out = [];
          map.eachLayer(l => {
            if (l instanceof L.GeoJSON && l.getTooltip()) {
              l.eachLayer(f => {
                if (!String(f.feature.id).startsWith('d')) return;
                f.fire('mouseover', {latlng: f.getBounds().getCenter()}, true);
                const el = l.getTooltip().getElement();
                out.push(el ? el.innerText : '');
                if (el && el.querySelector('b, img, script')) out.push('ELEMENT INJECTED');
                f.fire('mouseout', {}, true);
              });
            }
          });
          return out;
        }""",
        o.page.evaluate(_FIND_MAP),
    )
    joined = "\n".join(tips)
    assert len(tips) == 2 and "ELEMENT INJECTED" not in joined
    assert HOSTILE_MK in joined and "Lücke neu geöffnet" in joined and "A1: 5 % → 85 %" in joined
    o.page.locator(".leaflet-marker-icon .ka-aenderung").first.click(force=True)
    o.page.wait_for_selector(".leaflet-popup-content")
    popup = o.page.inner_text(".leaflet-popup-content")
    assert "Kurs K900" in popup and "<script>alert(1)</script>" in popup
    assert o.count(".leaflet-popup-content script, .leaflet-popup-content img") == 0
    o.page.get_by_label(CHANGE_LAYER_NAME).uncheck()
    assert o.count(".leaflet-marker-icon .ka-aenderung") == 0
    o.clean()
