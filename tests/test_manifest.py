"""Run manifests under ``ergebnisse/laeufe/<Zeitstempel>/``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from coverage import __version__
from coverage.inputs.config import Parameters, load_config
from coverage.workflow.manifest import (
    MANIFEST_NAME,
    config_input_files,
    hash_inputs,
    latest_run,
    previous_run,
    read_manifest,
    write_manifest,
)

T0 = dt.datetime(2027, 3, 1, 9, 0, 0, tzinfo=dt.UTC)


def _write(results: Path, started: dt.datetime, **kw: object) -> Path:
    return write_manifest(
        results,
        input_files=kw.pop("input_files", {}),
        parameters=kw.pop("parameters", Parameters()),
        started=started,
        finished=started + dt.timedelta(seconds=42),
        stage_seconds=kw.pop("stage_seconds", {"laden": 1.25, "reisezeiten": 30.5}),
        **kw,
    )


def test_manifest_content(tiny_region: Path, tmp_path: Path) -> None:
    config = load_config(tiny_region)
    results = tmp_path / "ergebnisse"
    out = results / "luecken.csv"
    out.parent.mkdir(parents=True)
    out.write_text("a;b\n", encoding="utf-8")
    gaps = pd.DataFrame({"Mitgliedskommune": ["Aheim"], "ARS": ["039990001"], "Niveau": ["A1"],
                         "Versorgungsquote": [0.5], "Versorgungslücke": ["ja"]})
    courses = pd.DataFrame({"kurs_id": ["K1"], "niveaus": ["A1"]})
    folder = _write(results, T0, input_files=config_input_files(config), output_files=[out],
                    gap_table=gaps, courses=courses)
    assert folder == results / "laeufe" / "2027-03-01T09-00-00Z"
    m = read_manifest(folder)
    assert m["kursatlas"] == __version__
    assert m["dauer_s"] == 42.0
    assert m["dauer_je_schritt_s"] == {"laden": 1.25, "reisezeiten": 30.5}
    assert {"numpy", "pandas", "geopandas", "osmnx", "folium", "highspy"} <= set(m["pakete"])
    assert m["python"].count(".") == 2
    kurse = m["eingaben"]["kurse"]
    assert kurse["pfad"] == str(config.kurse)
    assert kurse["sha256"] == hashlib.sha256(config.kurse.read_bytes()).hexdigest()
    assert set(m["eingaben"]) >= {"konfiguration", "grenzen", "einwohner", "kurse", "standorte"}
    assert "osm" not in m["eingaben"]  # netz.osm does not exist in the tiny region
    assert m["ausgaben"] == [{"pfad": "luecken.csv", "sha256": hashlib.sha256(b"a;b\n").hexdigest(), "bytes": 4}]
    assert m["parameter"]["gruppen"]["eltern"]["kinderbetreuung"] is True
    assert m["parameter"]["ziel_quote"] == 0.8
    assert {c["pfad"] for c in m["kopien"]} == {"luecken.csv", "kurse.csv"}
    assert (folder / "luecken.csv").is_file() and (folder / "kurse.csv").is_file()
    json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert not list(folder.glob(".*.tmp"))


def test_output_keys_are_recorded(tmp_path: Path) -> None:
    results, maps_dir = tmp_path / "ergebnisse", tmp_path / "karten"
    maps_dir.mkdir()
    (karte := maps_dir / "uebersicht.html").write_text("<html></html>", encoding="utf-8")
    results.mkdir()
    (table := results / "luecken.csv").write_text("a;b\n", encoding="utf-8")
    folder = _write(results, T0, output_files=[karte, table], output_keys={karte: "ab" * 32})
    entries = {Path(e["pfad"]).name: e for e in read_manifest(folder)["ausgaben"]}
    assert entries["uebersicht.html"]["schluessel"] == "ab" * 32
    assert entries["uebersicht.html"]["pfad"] == str(karte)  # outside the results folder: absolute
    assert "schluessel" not in entries["luecken.csv"]


def test_latest_and_previous_run(tmp_path: Path) -> None:
    results = tmp_path / "ergebnisse"
    assert latest_run(results) is None
    a = _write(results, T0)
    b = _write(results, T0 + dt.timedelta(hours=1))
    c = _write(results, T0 + dt.timedelta(hours=1))  # same second: gets a suffix
    assert c.name == b.name + "_2"
    incomplete = results / "laeufe" / "2099-01-01T00-00-00Z"
    incomplete.mkdir()
    (incomplete / "luecken.csv").write_text("x", encoding="utf-8")
    assert latest_run(results) == c
    assert previous_run(results, before=c) == b
    assert previous_run(results, before=b) == a
    assert previous_run(results, before=a) is None
    assert previous_run(results, before=T0 + dt.timedelta(minutes=30)) == a
    assert previous_run(results, before=b.name) == a


def test_naive_start_time_is_local(tmp_path: Path) -> None:
    naive = dt.datetime(2027, 7, 1, 12, 0, 0)
    folder = _write(tmp_path, naive)
    expected = naive.astimezone().astimezone(dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    assert folder.name == expected
    assert read_manifest(folder)["beginn"].startswith("2027-07-01T12:00:00")


def test_interrupted_manifest_leaves_no_complete_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coverage.workflow import manifest as manifest_mod

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(manifest_mod, "write_text", boom)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, T0, gap_table=pd.DataFrame({"a": [1]}))
    assert latest_run(tmp_path) is None


def test_inputs_hashed_at_start_are_recorded(tiny_region: Path, tmp_path: Path) -> None:
    config = load_config(tiny_region)
    snapshot = hash_inputs(config_input_files(config))
    original = snapshot["kurse"]["sha256"]
    config.kurse.write_text("geändert während des Laufs\n", encoding="utf-8")
    folder = _write(tmp_path / "ergebnisse", T0, input_files=snapshot)
    assert read_manifest(folder)["eingaben"]["kurse"]["sha256"] == original
