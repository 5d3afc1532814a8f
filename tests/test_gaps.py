"""Tests of coverage.gaps: reasons, the gap table and its files."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from coverage.config import Parameters
from coverage.demand import demand_segments
from coverage.gaps import assess, gap_columns, write_gap_tables
from coverage.schema import LEVELS
from coverage.traveltime import CourseTravelTimes

HOSTILE = '=HYPERLINK("http://example.invalid","klick")'


def _mitgliedskommunen(n: int = 13) -> gpd.GeoDataFrame:
    names = [f"Samtgemeinde {i}" for i in range(n)]
    names[12] = "@SUMME(1;2)"  # hostile Mitgliedskommune name too
    return gpd.GeoDataFrame(
        {"mk_ars": [f"0335750{i:02d}" for i in range(n)], "mk_name": names, "mk_art": "Samtgemeinde"},
        geometry=[box(500000 + 10000 * i, 5900000, 510000 + 10000 * i, 5910000) for i in range(n)],
        crs="EPSG:25832",
    )


def _courses() -> pd.DataFrame:
    base = {"traeger": "VHS", "kursort": "Ort", "adresse": "Markt 1", "beginn": 540, "ende": 720,
            "kinderbetreuung": False, "plaetze": 20, "wochentage": (0, 2)}
    rows = [
        {"kurs_id": "K1", "kursname": HOSTILE, "niveaus": ("A1",), "kursart": "integrationskurs", "freie_plaetze": 4},
        {"kurs_id": "K2", "kursname": "A2", "niveaus": ("A2",), "kursart": "integrationskurs", "freie_plaetze": 10},
        {"kurs_id": "K3", "kursname": "B1", "niveaus": ("B1",), "kursart": "integrationskurs", "freie_plaetze": 10},
        {"kurs_id": "K4", "kursname": "B2", "niveaus": ("B2",), "kursart": "integrationskurs", "freie_plaetze": 20},
        {"kurs_id": "ON", "kursname": "+online", "niveaus": ("C1",), "kursart": "online", "freie_plaetze": 10},
    ]
    return pd.DataFrame([base | r for r in rows])


def _case():
    """Eight origins in MK 0–7; each shows one situation (see the comments)."""
    mk = _mitgliedskommunen()
    seg = pd.DataFrame(
        [
            ("o0", "A1", "allgemein", 10.0),    # K1 20 min, 4 free seats → 6 'Kurs voll'
            ("o1", "A1", "allgemein", 12.0),    # K1 100 min → 'kein Kurs'
            ("o2", "A2", "allgemein", 9.0),     # K2 30 min there, 90 back → 'kein Rückweg'
            ("o3", "B1", "berufstaetig", 5.0),  # K3 9–12 → 'Termin'
            ("o4", "A1", "eltern", 3.0),        # K1 reachable, no childcare → 'Kinderbetreuung'
            ("o5", "C1", "allgemein", 2.0),     # online only → served, 'zusätzlich online'
            ("o6", "B1", "allgemein", 5.0),     # K3 10 min → served
            ("o7", "B2", "allgemein", 9.0),     # K4 70 min: gap at 60, none at +15
        ],
        columns=["herkunft_id", "niveau", "gruppe", "personen"],
    )
    seg["mk_ars"] = [mk["mk_ars"][int(h[1])] for h in seg["herkunft_id"]]
    seg["gemeinde_ars"] = seg["mk_ars"] + "001"
    courses = _courses()
    t = np.full((8, 5), 200.0)
    t[:, 4] = 0.0  # online
    t[0, 0] = 20
    t[1, 0] = 100
    t[3, 2] = 10
    t[4, 0] = 20
    t[6, 2] = 10
    t[7, 3] = 70
    hin = t.copy()
    rueck = t.copy()
    hin[2, 1], rueck[2, 1] = 30, 90
    travel = CourseTravelTimes(np.array([f"o{i}" for i in range(8)]), courses["kurs_id"].to_numpy(),
                               ("fuss", "oepnv"), np.stack([hin, hin]), np.stack([rueck, rueck]))
    return seg, courses, travel, mk


@pytest.fixture(scope="module")
def result():
    seg, courses, travel, mk = _case()
    return assess(seg, courses, travel, params=Parameters(), mitgliedskommunen=mk, kapazitaet="freie_plaetze")


def _row(res, i: int, level: str) -> pd.Series:
    g = res.gaps
    return g[(g["ARS"] == f"0335750{i:02d}") & (g["Niveau"] == level)].iloc[0]


def test_gap_table_shape_and_columns(result):
    g = result.gaps
    assert len(g) == 13 * 6
    assert list(g.columns) == list(gap_columns(15.0))
    assert "Lücke bei −15 min" in g.columns and "Lücke bei +15 min" in g.columns
    assert g.groupby("ARS").size().eq(6).all()
    assert list(g["Niveau"][:6]) == list(LEVELS)
    assert g["Bedarf"].sum() == pytest.approx(55.0)


def test_each_reason_by_hand(result):
    r = _row(result, 0, "A1")
    assert (r["Bedarf"], r["erreichbar"], r["versorgt"], r["unversorgt"]) == (10.0, 10.0, 4.0, 6.0)
    assert r["davon: Kurs voll"] == 6.0 and r["Versorgungsquote"] == pytest.approx(0.4)
    assert r["Versorgungslücke"] == "ja"
    assert r["Begründung"].startswith("6 Personen auf Niveau A1 unversorgt, vor allem: Kurs voll (6)")
    assert _row(result, 1, "A1")["davon: kein Kurs erreichbar"] == 12.0
    r2 = _row(result, 2, "A2")
    assert r2["davon: kein Rückweg"] == 9.0 and r2["erreichbar"] == 0.0
    assert _row(result, 3, "B1")["davon: Termin passt nicht"] == 5.0
    r4 = _row(result, 4, "A1")
    assert r4["davon: keine Kinderbetreuung"] == 3.0 and r4["Versorgungslücke"] == "ja"
    assert "weniger als 5 Personen" in r4["Begründung"]
    r5 = _row(result, 5, "C1")
    assert (r5["versorgt"], r5["zusätzlich online versorgbar"], r5["Versorgungslücke"]) == (2.0, 2.0, "nein")
    r6 = _row(result, 6, "B1")
    assert r6["versorgt"] == 5.0 and r6["Versorgungslücke"] == "nein" and "gedeckt" in r6["Begründung"]
    empty = _row(result, 9, "Alpha")
    assert empty["Bedarf"] == 0 and empty["Versorgungslücke"] == "nein" and np.isnan(empty["Versorgungsquote"])
    seg = result.segments.set_index("herkunft_id")
    assert seg["grund"].to_dict() == {"o0": "kurs_voll", "o1": "kein_kurs", "o2": "kein_rueckweg", "o3": "termin",
                                      "o4": "kinderbetreuung", "o5": "", "o6": "", "o7": "kein_kurs"}
    assert seg.loc["o5", "grund_ohne_online"] == "kein_kurs" and bool(seg.loc["o5", "nur_online"])


def test_robustness_columns(result):
    r7 = _row(result, 7, "B2")
    assert (r7["Versorgungslücke"], r7["Lücke bei −15 min"], r7["Lücke bei +15 min"], r7["Flagge robust"]) == (
        "ja", "ja", "nein", "nein")
    assert _row(result, 1, "A1")["Flagge robust"] == "ja"
    rb = result.robustness
    assert len(rb) == 1 and rb.loc[0, "Niveau"] == "B2"


def test_conservation_and_course_load(result):
    g = result.gaps
    davon = g[[c for c in g.columns if c.startswith("davon: ")]].sum(axis=1)
    assert (g["versorgt"] + g["unversorgt"]).to_numpy() == pytest.approx(g["Bedarf"].to_numpy(), abs=0.11)
    assert davon.to_numpy() == pytest.approx(g["unversorgt"].to_numpy(), abs=0.3)
    s = result.segments
    assert (s["versorgt"] + s["unversorgt"]).to_numpy() == pytest.approx(s["personen"].to_numpy())
    c = result.courses.set_index("kurs_id")
    assert (c["zugeordnet"] <= c["kapazitaet"] + 1e-9).all()
    assert c.loc["K1", "zugeordnet"] == pytest.approx(4.0)
    p = result.segments_for_placement
    assert list(p.columns) == ["herkunft_id", "niveau", "gruppe", "unversorgt", "mk_ars", "gemeinde_ars"]
    assert p["unversorgt"].sum() == pytest.approx(6 + 12 + 9 + 5 + 3 + 9)


def test_capacity_option_plaetze():
    seg, courses, travel, mk = _case()
    res = assess(seg, courses, travel, params=Parameters(), mitgliedskommunen=mk, kapazitaet="plaetze")
    r = _row(res, 0, "A1")
    assert r["versorgt"] == 10.0 and r["Versorgungslücke"] == "nein"


def test_write_files(result, tmp_path):
    from openpyxl import load_workbook

    paths = write_gap_tables(result, directory=tmp_path, crs_geometries=result.mitgliedskommunen)
    assert [p.name for p in paths] == ["luecken.csv", "luecken.xlsx", "luecken.gpkg"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    csv = pd.read_csv(tmp_path / "luecken.csv", sep=";", decimal=",", encoding="utf-8-sig", dtype=str)
    assert len(csv) == 78
    assert csv.loc[(csv["ARS"] == "033575004") & (csv["Niveau"] == "A1"), "unversorgt"].item() == "< 5"
    assert csv["Mitgliedskommune"].str.startswith("'@").sum() == 6  # neutralised
    wb = load_workbook(tmp_path / "luecken.xlsx")
    assert {"Lücken", "Erläuterung", "Annahmen", "Kurse", "Robustheit"} <= set(wb.sheetnames)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(("=", "+", "-", "@")), (ws.title, cell.value)
    kurse = [c.value for c in wb["Kurse"]["B"]]
    assert "'" + HOSTILE in kurse
    explained = {c.value for c in wb["Erläuterung"]["A"]}
    assert set(result.gaps.columns) <= explained
    lay = gpd.read_file(tmp_path / "luecken.gpkg", layer="luecken")
    assert len(lay) == 78 and lay.crs.to_epsg() == 25832
    assert lay.geometry.notna().all()
    small = lay[(lay["ARS"] == "033575004") & (lay["Niveau"] == "A1")]
    assert small["unversorgt"].isna().all()  # suppressed (< 5) → NULL


def test_synthetic_county_from_residents():
    rng = np.random.default_rng(7)
    mk = _mitgliedskommunen()
    n_o = 130
    res = pd.DataFrame({
        "herkunft_id": [f"h{i}" for i in range(n_o)],
        "einwohner": rng.uniform(0, 200, n_o),
        "mk_ars": [mk["mk_ars"][i % 13] for i in range(n_o)],
    })
    res["gemeinde_ars"] = res["mk_ars"] + "001"
    demand = demand_segments(res, params=Parameters())
    levels = list(LEVELS)
    n_c = 12
    courses = pd.DataFrame({
        "kurs_id": [f"K{j}" for j in range(n_c)],
        "kursname": [f"Kurs {j}" for j in range(n_c)],
        "niveaus": [tuple(rng.choice(levels, 2, replace=False)) for _ in range(n_c)],
        "kursart": ["integrationskurs"] * 10 + ["eltern_frauen", "online"],
        "beginn": rng.choice([540, 1080], n_c),
        "ende": 0,
        "kinderbetreuung": rng.random(n_c) < 0.3,
        "plaetze": 20,
        "freie_plaetze": rng.integers(0, 12, n_c),
    })
    courses["ende"] = courses["beginn"] + 180
    hin = rng.uniform(5, 110, (3, n_o, n_c))
    rueck = hin + rng.uniform(0, 30, (3, n_o, n_c))
    hin[:, :, -1] = rueck[:, :, -1] = 0.0
    travel = CourseTravelTimes(res["herkunft_id"].to_numpy(), courses["kurs_id"].to_numpy(),
                               ("fuss", "rad", "oepnv"), hin, rueck)
    out = assess(demand, courses, travel, params=Parameters(), mitgliedskommunen=mk, kapazitaet="freie_plaetze")
    g = out.gaps
    assert len(g) == 78
    assert g["Bedarf"].sum() == pytest.approx(demand["personen"].sum(), abs=0.05 * 78)
    assert (g["versorgt"] <= g["erreichbar"] + 0.1).all()
    assert out.segments["versorgt"].sum() <= out.courses["kapazitaet"].sum() + 1e-6
    assert set(g["Versorgungslücke"]) <= {"ja", "nein"} and set(g["Flagge robust"]) <= {"ja", "nein"}
    assert g["E2SFCA-Index (Median)"].notna().sum() > 0
    assert set(out.segments["grund"]) <= {"", "kein_kurs", "kein_rueckweg", "termin", "kinderbetreuung",
                                          "kurs_voll"}
