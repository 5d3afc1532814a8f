"""Change report between two runs: courses added/removed/changed, gaps opened/closed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from coverage.inputs.config import load_config
from coverage.inputs.load import load_courses, load_region
from coverage.workflow.changes import (
    CHANGE_COLUMNS,
    change_layer,
    compare_runs,
    course_records,
    write_changes,
)
from coverage.workflow.manifest import write_manifest


def _gaps(rows: list[tuple[str, str, str, float, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Mitgliedskommune": mk,
                "ARS": ars,
                "Niveau": lv,
                "Bedarf": bedarf,
                "erreichbar": bedarf,
                "versorgt": bedarf * q,
                "unversorgt": bedarf * (1 - q),
                "Versorgungsquote": q,
                "Versorgungslücke": flag,
                "Begründung": "Test",
            }
            for mk, ars, lv, bedarf, q, flag in rows
        ]
    )


def _course(kid: str, **over: str) -> dict[str, str]:
    row = {
        "kurs_id": kid,
        "traeger": "VHS",
        "kursname": "-Kurs mit Minus",  # would be escaped as a formula in CSV
        "kursort": "Zeven",
        "adresse": "Markt 1",
        "lat": "53.29570",
        "lon": "9.27560",
        "niveaus": "A1",
        "kursart": "integrationskurs",
        "wochentage": "Mo, Mi",
        "beginn": "08:30",
        "ende": "11:45",
        "erster_tag": "2027-01-11",
        "letzter_tag": "2027-06-30",
        "plaetze": "25",
        "freie_plaetze": "5",
        "kinderbetreuung": "nein",
    }
    row.update(over)
    return row


BEFORE_GAPS = _gaps(
    [
        ("Zeven", "033570021", "A1", 100.0, 0.54, "ja"),
        ("Zeven", "033570021", "B1", 80.0, 0.95, "nein"),
        ("Sittensen", "033575406", "A1", 50.0, 0.90, "nein"),
        ("Sittensen", "033575406", "A2", 40.0, 0.50, "ja"),
    ]
)
AFTER_GAPS = _gaps(
    [
        ("Zeven", "033570021", "A1", 100.0, 0.91, "nein"),
        ("Zeven", "033570021", "B1", 80.0, 0.95, "nein"),
        ("Sittensen", "033575406", "A1", 50.0, 0.60, "ja"),
        ("Sittensen", "033575406", "A2", 40.0, 0.50, "ja"),
    ]
)
BEFORE_COURSES = pd.DataFrame([_course("K1"), _course("K2", niveaus="B1"), _course("K7", kursort="Gnarrenburg")])
AFTER_COURSES = pd.DataFrame(
    [_course("K1"), _course("K2", niveaus="B1", beginn="09:00", freie_plaetze="0"), _course("K100", kursort="Zeven")]
)


@pytest.fixture()
def previous_run(tmp_path: Path) -> Path:
    t0 = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
    return write_manifest(
        tmp_path / "ergebnisse",
        input_files={},
        parameters={},
        started=t0,
        finished=t0 + dt.timedelta(seconds=5),
        stage_seconds={},
        gap_table=BEFORE_GAPS,
        courses=BEFORE_COURSES,
    )


def test_course_changes(previous_run: Path) -> None:
    report = compare_runs(previous_run, AFTER_GAPS, AFTER_COURSES)
    c = report.courses.set_index("Kurs-ID")
    assert c.at["K100", "Änderung"] == "neu"
    assert c.at["K7", "Änderung"] == "entfernt"
    assert c.at["K2", "Änderung"] == "geändert"
    assert c.at["K2", "Details"] == "beginn: 08:30 → 09:00; freie_plaetze: 5 → 0"
    assert "K1" not in c.index  # unchanged, although its name starts with '-'
    lines = report.summary_lines()
    assert lines[0].startswith("Änderungen seit dem Lauf 2027-03-01T09-00-00Z")
    assert "Neu: Kurs K100 (A1, Zeven)" in lines
    assert "Entfernt: Kurs K7 (A1, Gnarrenburg)" in lines
    assert "Geändert: Kurs K2 (B1, Zeven) – beginn: 08:30 → 09:00; freie_plaetze: 5 → 0" in lines


def test_course_locations_for_the_map(previous_run: Path) -> None:
    after = pd.concat([AFTER_COURSES, pd.DataFrame([_course("ONLINE", lat="", lon="", kursart="online")])])
    report = compare_runs(previous_run, AFTER_GAPS, after)
    loc = report.locations.set_index("Kurs-ID")
    assert list(report.locations.columns) == ["Kurs-ID", "lat", "lon"]
    assert set(loc.index) == set(report.courses["Kurs-ID"])
    assert loc.at["K100", "lat"] == pytest.approx(53.2957) and loc.at["K100", "lon"] == pytest.approx(9.2756)
    assert loc.at["K7", "lat"] == pytest.approx(53.2957)  # removed: where it was in the previous run
    assert np.isnan(loc.at["ONLINE", "lat"])  # online courses have no place
    assert compare_runs(None, AFTER_GAPS, AFTER_COURSES).locations.empty


def test_gap_flags_opened_and_closed(previous_run: Path) -> None:
    report = compare_runs(previous_run, AFTER_GAPS, AFTER_COURSES)
    t = report.table
    assert list(t.columns) == list(CHANGE_COLUMNS)
    s = t.set_index(["Mitgliedskommune", "Niveau"])
    assert s.at[("Zeven", "A1"), "Status"] == "geschlossen"
    assert s.at[("Sittensen", "A1"), "Status"] == "neu geöffnet"
    assert s.at[("Sittensen", "A2"), "Status"] == "unverändert"
    assert s.at[("Zeven", "B1"), "Status"] == "unverändert"
    assert s.at[("Zeven", "A1"), "Versorgungsquote vorher"] == pytest.approx(0.54)
    assert s.at[("Zeven", "A1"), "Versorgungsquote nachher"] == pytest.approx(0.91)
    assert s.at[("Zeven", "A1"), "Änderung"] == pytest.approx(0.37)
    assert s.at[("Zeven", "A1"), "Lücke vorher"] == "ja"
    assert s.at[("Zeven", "A1"), "Lücke nachher"] == "nein"
    assert t["ARS"].tolist()[0] == "033570021"  # leading zero kept
    lines = report.summary_lines()
    assert "Lücke geschlossen: Zeven, A1 (Quote 54 % → 91 %)" in lines
    assert "Lücke neu geöffnet: Sittensen, A1 (Quote 90 % → 60 %)" in lines
    assert "Versorgungsquote gestiegen in 1, gesunken in 1 Kombinationen Mitgliedskommune × Niveau." in lines


def test_new_and_vanished_combinations(previous_run: Path) -> None:
    after = pd.concat([AFTER_GAPS, _gaps([("Zeven", "033570021", "Alpha", 10.0, 0.2, "ja")])], ignore_index=True)
    after = after[after["Niveau"] != "B1"]
    t = compare_runs(previous_run, after, AFTER_COURSES).table.set_index(["Mitgliedskommune", "Niveau"])
    assert t.at[("Zeven", "Alpha"), "Status"] == "neu geöffnet"
    assert np.isnan(t.at[("Zeven", "Alpha"), "Versorgungsquote vorher"])
    assert t.at[("Zeven", "B1"), "Status"] == "unverändert"
    assert np.isnan(t.at[("Zeven", "B1"), "Versorgungsquote nachher"])


def test_no_previous_run() -> None:
    report = compare_runs(None, AFTER_GAPS, AFTER_COURSES)
    assert not report.has_previous
    assert set(report.table["Status"]) == {"ohne Vergleich"}
    assert report.courses.empty
    assert report.summary_lines() == ["Kein früherer Lauf gefunden; Änderungen werden ab dem nächsten Lauf gezeigt."]


def test_identical_runs_report_no_changes(previous_run: Path) -> None:
    report = compare_runs(previous_run, BEFORE_GAPS, BEFORE_COURSES)
    assert report.courses.empty
    assert set(report.table["Status"]) == {"unverändert"}
    assert report.summary_lines()[1:] == ["Keine Änderungen bei Kursen und Versorgung."]


def test_course_records_normalise_loaded_registry(tiny_region: Path) -> None:
    config = load_config(tiny_region)
    region = load_region(config)
    loaded = load_courses(config.kurse, region)
    rec = course_records(loaded)
    k1 = rec.set_index("kurs_id").loc["K1"]
    assert k1["wochentage"] == "Mo, Di, Mi, Do, Fr"
    assert k1["niveaus"] == "A1, A2"
    assert k1["beginn"] == "08:30" and k1["erster_tag"] == "2027-01-11"
    assert k1["kinderbetreuung"] == "nein"
    assert rec.set_index("kurs_id").loc["K2", "lat"] == ""
    # the same course written as "Mo, Di, Mi, Do, Fr" and "11.01.2027" is not a change
    text = config.kurse.read_text(encoding="utf-8").replace("Mo-Fr", "Mo, Di, Mi, Do, Fr").replace(
        ";2027-01-11;2027-06-30;25;5", ";11.01.2027;2027-06-30;25;5"
    )
    config.kurse.write_text(text, encoding="utf-8")
    assert course_records(load_courses(config.kurse, region)).equals(rec)


def test_write_changes_and_layer(previous_run: Path, tmp_path: Path) -> None:
    report = compare_runs(previous_run, AFTER_GAPS, AFTER_COURSES)
    files = write_changes(report, tmp_path / "out")
    assert [f.name for f in files] == ["aenderungen.csv", "aenderungen_kurse.csv", "aenderungen.xlsx"]
    assert all(f.is_file() for f in files)
    back = pd.read_csv(files[0], sep=";", decimal=",", encoding="utf-8-sig", dtype={"ARS": str})
    assert list(back.columns) == list(CHANGE_COLUMNS)
    xl = pd.read_excel(files[2], sheet_name=None)
    assert set(xl) == {"Versorgung", "Kurse"}
    mk = gpd.GeoDataFrame(
        {"mk_ars": ["033570021", "033575406"], "mk_name": ["Zeven", "Sittensen"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:25832",
    )
    layer = change_layer(report, mk, levels=["A1"])
    assert len(layer) == 2 and layer.crs == mk.crs
    assert set(layer["Status"]) == {"geschlossen", "neu geöffnet"}
    assert layer.geometry.notna().all()
