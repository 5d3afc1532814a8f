"""``kursatlas validate``: every input and the output folders are checked; the area's contents are printed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coverage.cli import DEMO_CONFIG, main
from coverage.errors import OutputError
from coverage.inputs.config import load_config
from coverage.workflow.summary import check_outputs, summarize, trips_per_weekday


@pytest.fixture()
def model_copy(tmp_path: Path) -> Path:
    shutil.copytree(DEMO_CONFIG.parent, tmp_path / "region", ignore=shutil.ignore_patterns(".kursatlas-cache"))
    toml = tmp_path / "region" / "region.toml"
    text = toml.read_text(encoding="utf-8").replace('karten = "../../maps"', 'karten = "../karten"')
    toml.write_text(text.replace('ergebnisse = "../../results"', 'ergebnisse = "../ergebnisse"'), encoding="utf-8")
    return toml


def test_validate_prints_what_the_area_holds(model_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--config", str(model_copy)]) == 0
    out = capsys.readouterr().out
    for text in ("Analysegebiet: Landkreis", "15 km Puffer", "Einwohner (nur im Landkreis gezählt)",
                 "außerhalb des Kreises", "Fußwegenetz:", "Radwegenetz:", "Haltestellen im Gebiet",
                 "Fahrten je Wochentag", "Ausgabeordner beschreibbar"):
        assert text in out, text
    # nothing but the cache (next to the region file, not in the results) was written
    assert not (model_copy.parent.parent / "karten").exists()
    assert not (model_copy.parent.parent / "ergebnisse").exists()
    assert any(p.is_file() for p in (model_copy.parent / ".kursatlas-cache").rglob("*"))


def test_summary_counts_match_the_inputs(model_copy: Path) -> None:
    s = summarize(load_config(model_copy))
    assert s.n_mitgliedskommunen == 13 and s.n_gemeinden == 57
    assert s.persons == pytest.approx(12590, abs=1) and s.n_outside == 0
    assert s.area_km2 > s.county_km2 > 2000
    assert s.trips_per_weekday is not None and len(s.trips_per_weekday) == 7
    assert s.trips_per_weekday[0] >= s.trips_per_weekday[6] > 0  # fewer trips on Sundays


def test_trips_per_weekday_by_hand() -> None:
    import datetime as dt

    from coverage.transit.gtfs import load_gtfs

    feed = load_gtfs(Path(__file__).parent / "data" / "cairns_gtfs_2014.zip")
    monday = dt.date(2014, 6, 2)
    counts = trips_per_weekday(feed, monday)
    service = feed.service_ids[feed.trip_service]
    for i, n in enumerate(counts):
        active = feed.active_services(monday + dt.timedelta(days=i))
        assert n == sum(1 for s in service if s in active)


@pytest.mark.parametrize("key", ["ergebnisse", "karten"])
def test_output_path_that_is_a_file(model_copy: Path, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = model_copy.parent / "eine_datei.txt"
    blocker.write_text("x", encoding="utf-8")
    text = model_copy.read_text(encoding="utf-8")
    old = 'ergebnisse = "../ergebnisse"' if key == "ergebnisse" else 'karten = "../karten"'
    model_copy.write_text(text.replace(old, f'{key} = "eine_datei.txt"'), encoding="utf-8")
    with pytest.raises(OutputError, match="ist eine Datei, kein Ordner"):
        check_outputs(load_config(model_copy))
    for command in ("validate", "run"):
        assert main([command, "--config", str(model_copy)]) == 1
        err = capsys.readouterr().err
        assert "ist eine Datei, kein Ordner" in err and "Traceback" not in err
    assert blocker.read_text(encoding="utf-8") == "x"


def test_timetable_without_any_trip_is_a_clear_error(model_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A stop_times.txt with only its header (found in a review: a traceback in ``run``) is reported by validate."""
    import zipfile

    folder = model_copy.parent
    with zipfile.ZipFile(folder / "gtfs_modell.zip") as src, zipfile.ZipFile(folder / "leer.zip", "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data.split(b"\n", 1)[0] + b"\n" if name.endswith("stop_times.txt") else data)
    text = model_copy.read_text(encoding="utf-8")
    model_copy.write_text(text.replace('gtfs = "gtfs_modell.zip"', 'gtfs = "leer.zip"'), encoding="utf-8")
    for command in ("validate", "run"):
        assert main([command, "--config", str(model_copy)]) == 1
        err = capsys.readouterr().err
        assert "keine Fahrt, die im Analysegebiet hält" in err and "leer.zip" in err and "Traceback" not in err
