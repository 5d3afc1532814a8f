"""End to end on the embedded model region: outputs, bad input writes nothing, interrupted runs keep results."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from coverage.cli import DEMO_CONFIG, main
from coverage.errors import InputDataError
from coverage.inputs.config import load_config
from coverage.outputs import maps
from coverage.outputs._assets import remote_resources
from coverage.workflow.pipeline import run


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".cache" not in p.parts
    }


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the model region with outputs inside the temp folder, run once."""
    base = tmp_path_factory.mktemp("modell")
    shutil.copytree(DEMO_CONFIG.parent, base / "region", ignore=shutil.ignore_patterns(".kursatlas-cache"))
    toml = base / "region" / "region.toml"
    text = toml.read_text(encoding="utf-8").replace('karten = "../../maps"', 'karten = "../karten"')
    toml.write_text(text.replace('ergebnisse = "../../results"', 'ergebnisse = "../ergebnisse"'), encoding="utf-8")
    result = run(load_config(toml), proposals=True)
    assert result.placement is not None
    return toml


def test_outputs_of_a_full_run(region: Path) -> None:
    out = region.parent.parent
    res, karten = out / "ergebnisse", out / "karten"
    for name in ("luecken.csv", "luecken.xlsx", "luecken.gpkg", "vorschlaege.csv", "vorschlaege.xlsx",
                 "grenznutzen.csv", "grenznutzen.png", "bericht.html", "kursatlas.gpkg", "aenderungen.csv"):
        assert (res / name).is_file(), name
    assert (karten / "uebersicht.html").is_file() and (karten / "vorschlaege.html").is_file()
    assert len(list(karten.glob("mk_*.html"))) == 13
    gaps = pd.read_csv(res / "luecken.csv", sep=";", decimal=",", encoding="utf-8-sig")
    assert len(gaps) == 13 * 6 and set(gaps["Niveau"]) == {"Alpha", "A1", "A2", "B1", "B2", "C1"}
    assert gaps["Versorgungslücke"].isin(["ja", "nein", "zu wenig Bedarf"]).all()
    # the flag rule of issue #16: well under half of the 78 rows (46 with the old rule), ranked 1..n;
    # the report says how many flags change with the ±15 min thresholds
    flagged = gaps[gaps["Versorgungslücke"] == "ja"]
    n = len(flagged)
    assert 0 < n < 78 // 2 and sorted(flagged["Rang"].astype(int)) == list(range(1, n + 1))
    assert gaps.loc[gaps["Versorgungslücke"] != "ja", "Rang"].isna().all()
    changing = int((gaps["Flagge robust"] == "nein").sum())
    report = (res / "bericht.html").read_text(encoding="utf-8")
    assert 'id="rangliste"' in report and f"{changing} von 78 Einstufungen ändern sich" in report
    layers = {name for name, _ in pyogrio.list_layers(res / "kursatlas.gpkg")}
    assert {"mitgliedskommunen", "kurse", "luecken", "zielgruppe_raster", "vorschlaege", "aenderungen"} <= layers
    assert gpd.read_file(res / "kursatlas.gpkg", layer="luecken").crs.to_epsg() == 25832
    proposals = pd.read_csv(res / "vorschlaege.csv", sep=";", decimal=",", encoding="utf-8-sig")
    assert 1 <= len(proposals) <= 8 and proposals["Begründung"].str.len().min() > 20
    html = (karten / "uebersicht.html").read_text(encoding="utf-8")
    assert "Modelldaten" in html and "GeoBasis-DE / BKG" in html and "GeoNames" in html
    # every map carries its libraries: nothing but the map files is written, nothing is loaded from a CDN
    assert {p.suffix for p in karten.iterdir() if p.name != ".gitkeep"} == {".html"}
    for path in karten.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert remote_resources(text) == [] and "https://cdn" not in text and "Leaflet 1.9.3" in text, path.name
    assert list((res / "laeufe").iterdir()), "a run manifest is written"
    # no staging folders left behind
    assert not [p for p in list(res.iterdir()) + list(karten.iterdir()) if p.name.startswith(".kursatlas-")]


def test_candidate_reach_is_read_from_the_cache(region: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run cached the candidate reach (kind kandidaten_erreichbar); reading it equals computing it."""
    from coverage.analysis import candidates as cand_mod
    from coverage.inputs.load import load_inputs
    from coverage.placement import candidate_courses
    from coverage.traveltime import load_networks
    from coverage.workflow.pipeline import _demand, _open_cache

    cfg = load_config(region)
    params = cfg.parameter
    cache = _open_cache(cfg)
    inputs = load_inputs(cfg, cache=cache)
    nets = load_networks(cfg, inputs.region, cache=cache)
    demand = _demand(inputs.residents, params, cache)
    courses = candidate_courses(inputs.candidates, params=params)
    travel = cand_mod.candidate_travel_times(courses, inputs.residents, networks=nets, params=params,
                                             period=cand_mod.planning_period(inputs.courses), cache=cache)
    fresh = cand_mod.candidate_cover(demand, inputs, courses=courses, networks=nets, params=params, travel=travel)

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("computed although cached")

    monkeypatch.setattr(cand_mod.reach, "reach", boom)
    cached = cand_mod.candidate_cover(demand, inputs, courses=courses, networks=nets, params=params, cache=cache)
    assert len(cached) == 3
    for a, b in zip(fresh, cached, strict=True):
        assert a.shape == b.shape == (len(demand), len(courses)) and (a != b).nnz == 0
    assert fresh[0].nnz > 0


def test_bad_input_writes_nothing(region: Path) -> None:
    out = region.parent.parent
    before = _digest(out / "ergebnisse") | _digest(out / "karten")
    registry = region.parent / "kurse.csv"
    good = registry.read_text(encoding="utf-8")
    try:
        registry.write_text(good.replace(";08:30;11:45;", ";25:00;11:45;", 1), encoding="utf-8")
        with pytest.raises(InputDataError) as exc:
            run(load_config(region), proposals=False)
        assert "beginn" in str(exc.value) and "25:00" in str(exc.value)
        assert main(["run", "--config", str(region), "--nur-versorgung"]) == 1
    finally:
        registry.write_text(good, encoding="utf-8")
    assert _digest(out / "ergebnisse") | _digest(out / "karten") == before


def test_interrupted_run_keeps_previous_results(region: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = region.parent.parent
    before = _digest(out / "ergebnisse") | _digest(out / "karten")

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(maps, "write_map", boom)
    with pytest.raises(KeyboardInterrupt):
        run(load_config(region), proposals=False)
    assert _digest(out / "ergebnisse") | _digest(out / "karten") == before
    leftovers = [p for d in (out / "ergebnisse", out / "karten") for p in d.iterdir() if p.name.startswith(".")]
    assert [p.name for p in leftovers if p.name != ".cache"] == []


def test_quick_rerun_reports_a_new_course(region: Path) -> None:
    from coverage.workflow.registry import add_course

    cfg = load_config(region)
    registry = region.parent / "kurse.csv"
    good = registry.read_text(encoding="utf-8")
    try:
        add_course(cfg, {
            "kurs_id": "K901", "traeger": "Test", "kursname": "A2 (Test)", "kursort": "Zeven", "adresse": "",
            "lat": "53.2957", "lon": "9.2756", "niveaus": "A2", "kursart": "landkreis", "wochentage": "Mo-Fr",
            "beginn": "08:30", "ende": "11:45", "erster_tag": "2027-02-01", "letzter_tag": "2027-06-30",
            "plaetze": "20", "freie_plaetze": "20", "kinderbetreuung": "nein",
        })
        result = run(cfg, proposals=False)
        assert any("K901" in line for line in result.changes.summary_lines())
        changed = result.changes.table
        zeven = changed[(changed["Mitgliedskommune"] == "Zeven") & (changed["Niveau"] == "A2")]
        assert (zeven["Versorgungsquote nachher"] >= zeven["Versorgungsquote vorher"]).all()
    finally:
        registry.write_text(good, encoding="utf-8")


def test_cli_init_and_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "neu"), "--name", "Testkreis"]) == 0
    assert (tmp_path / "neu" / "region.toml").is_file() and (tmp_path / "neu" / "kurse.csv").is_file()
    # the empty template is not a valid region yet: a clear German error, exit code 1
    assert main(["validate", "--config", str(tmp_path / "neu" / "region.toml")]) == 1
    assert "grenzen.gpkg" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "neu")]) == 1  # never overwrites


def test_validate_demo_config() -> None:
    assert main(["validate", "--config", str(DEMO_CONFIG)]) == 0



def test_rerun_keeps_unchanged_maps_and_rewrites_edited_ones(region: Path) -> None:
    from coverage.cache.store import file_sha256
    from coverage.workflow.manifest import read_manifest

    cfg = load_config(region)
    run(cfg, proposals=False)
    second = run(cfg, proposals=False)
    karten = cfg.karten
    mk_maps = sorted(karten.glob("mk_*.html"))
    assert set(mk_maps) <= set(second.kept)  # nothing changed: no map of a Mitgliedskommune is rendered again
    entries = {Path(e["pfad"]).name: e for e in read_manifest(second.run_dir)["ausgaben"]}
    assert all(len(entries[p.name]["schluessel"]) == 64 for p in [*mk_maps, karten / "uebersicht.html"])
    assert "schluessel" not in entries["luecken.csv"]
    # an edited and a deleted map are written again, with the same content as before
    edited, deleted = mk_maps[0], mk_maps[1]
    edited.write_text(edited.read_text(encoding="utf-8") + "<!-- bearbeitet -->", encoding="utf-8")
    deleted.unlink()
    third = run(cfg, proposals=False)
    assert edited not in third.kept and deleted not in third.kept
    assert set(mk_maps[2:]) <= set(third.kept)
    for p in (edited, deleted):
        assert file_sha256(p) == entries[p.name]["sha256"]


def test_cached_inputs_equal_fresh_ones_and_follow_the_files(tmp_path: Path) -> None:
    from coverage.cache.kinds import CacheKind
    from coverage.cache.store import Cache, fingerprint
    from coverage.inputs._cached import FRAMES
    from coverage.inputs.load import cached_frames, load_inputs

    shutil.copytree(DEMO_CONFIG.parent, tmp_path / "region", ignore=shutil.ignore_patterns(".kursatlas-cache"))
    cfg = load_config(tmp_path / "region" / DEMO_CONFIG.name)
    cache = Cache(tmp_path / "cache")
    fresh = load_inputs(cfg)
    first = load_inputs(cfg, cache=cache)
    again = load_inputs(cfg, cache=cache)
    assert cache.hits == 3  # boundaries, residents, candidate sites
    for a, b in ((fresh, first), (fresh, again)):
        for name in ("residents", "courses", "candidates"):
            assert fingerprint(getattr(a, name)) == fingerprint(getattr(b, name)), name
        for name in ("landkreis", "mitgliedskommunen", "gemeinden"):
            assert fingerprint(getattr(a.region, name)) == fingerprint(getattr(b.region, name)), name
    # an edited residents file is read again
    path = cfg.einwohner
    lines = path.read_text(encoding="utf-8").splitlines()
    head, row = lines[0].split(";"), lines[1].split(";")
    col = head.index(cfg.einwohner_spalte)
    row[col] = str(int(float(row[col].replace(",", ".") or 0)) + 7)
    path.write_text("\n".join([lines[0], ";".join(row), *lines[2:]]) + "\n", encoding="utf-8")
    changed = load_inputs(cfg, cache=cache)
    assert fingerprint(changed.residents) == fingerprint(load_inputs(cfg).residents)
    assert fingerprint(changed.residents) != fingerprint(fresh.residents)
    # a table that would not come back identical is computed, not stored
    mixed = pd.DataFrame({"a": [1, "x", None]})
    kind = CacheKind(name="test_gemischt", code=(sys.modules[__name__],), codec=FRAMES)
    out = cached_frames(cache, kind, ("gemischt",), lambda: {"t": mixed})
    assert out["t"] is mixed and not cache.entries("test_gemischt")
