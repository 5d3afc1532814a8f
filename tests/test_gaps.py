"""Tests of coverage.analysis.gaps: reasons, the gap table and its files."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from coverage.analysis.demand import demand_segments
from coverage.analysis.gaps import assess, gap_columns
from coverage.cache.session import Session
from coverage.inputs.config import Parameters
from coverage.inputs.schema import LEVELS
from coverage.outputs.tables import write_gap_tables
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
    # the sentence uses published numbers only: 6 → 10 (rounded to 10), versorgt 4 hidden → no quote
    assert r["Begründung"] == ("Rang 1: 10 Personen auf Niveau A1 unversorgt, vor allem: Kurs voll (10); "
                               "ein neuer Kurs könnte 10 Personen versorgen; "
                               "Versorgungsquote nicht ausgewiesen (Ziel 80 %).")
    assert _row(result, 1, "A1")["davon: kein Kurs erreichbar"] == 12.0
    r2 = _row(result, 2, "A2")
    assert r2["davon: kein Rückweg"] == 9.0 and r2["erreichbar"] == 0.0
    assert _row(result, 3, "B1")["davon: Termin passt nicht"] == 5.0
    r4 = _row(result, 4, "A1")
    assert r4["davon: keine Kinderbetreuung"] == 3.0 and r4["Versorgungslücke"] == "zu wenig Bedarf"
    assert "zu wenig Bedarf für eine Aussage" in r4["Begründung"] and "3" not in r4["Begründung"]
    r5 = _row(result, 5, "C1")
    assert (r5["versorgt"], r5["zusätzlich online versorgbar"], r5["Versorgungslücke"]) == (2.0, 2.0,
                                                                                          "zu wenig Bedarf")
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
    assert set(g["Versorgungslücke"]) <= {"ja", "nein", "zu wenig Bedarf"}
    assert set(g["Flagge robust"]) <= {"ja", "nein"}
    assert g["E2SFCA-Index (Median)"].notna().sum() > 0
    assert set(out.segments["grund"]) <= {"", "kein_kurs", "kein_rueckweg", "termin", "kinderbetreuung",
                                          "kurs_voll"}


# --------------------------------------------------------------------------- reuse of unchanged blocks


def _with_travel(travel: CourseTravelTimes, hin: np.ndarray) -> CourseTravelTimes:
    return CourseTravelTimes(travel.origin_ids, travel.course_ids, travel.modes, hin, travel.rueck)


def test_rerun_recomputes_only_changed_blocks_and_is_never_stale(tmp_path):
    """Reuse is keyed by content: a changed travel time or seat count of a course with the same id is seen."""
    from unittest import mock

    from coverage.analysis import _blocks
    from coverage.cache.store import Cache

    seg, courses, travel, mk = _case()
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    session = Session()
    solved: list[list[str]] = []
    real = _blocks.solve_block

    def spy(problem, levels, segs, crs, **kw):
        solved.append([LEVELS[i] for i in levels])
        return real(problem, levels, segs, crs, **kw)

    def run(c, t, **kw):
        return assess(seg, c, t, params=p, mitgliedskommunen=mk, kapazitaet="freie_plaetze", **kw)

    with mock.patch.object(_blocks, "solve_block", side_effect=spy):
        first = run(courses, travel, cache=cache, session=session)
        assert sorted(solved) == [["A1"], ["A2"], ["B1"], ["B2"], ["C1"]]
        solved.clear()
        again = run(courses, travel, cache=cache, session=session)
        assert solved == []
        pd.testing.assert_frame_equal(first.gaps, again.gaps)
        # o0 → K1 (A1) no longer within the threshold: same course id, new content
        hin = travel.hin.copy()
        hin[:, 0, 0] = 100.0
        far = run(courses, _with_travel(travel, hin), cache=cache, session=session)
        assert solved == [["A1"]]
        r = _row(far, 0, "A1")
        assert r["davon: kein Kurs erreichbar"] == 10.0 and r["versorgt"] == 0.0
        # more free seats at K1: seen as well
        solved.clear()
        more = run(courses.assign(freie_plaetze=[8, 10, 10, 20, 10]), travel, cache=cache, session=session)
        assert solved == [["A1"]]
        assert _row(more, 0, "A1")["versorgt"] == 8.0
        # a new process: nothing in memory, everything from the disk cache
        solved.clear()
        from_disk = run(courses, _with_travel(travel, hin), cache=cache, session=Session())
        assert solved == []
        # no session and no cache: nothing is kept, every block is solved
        run(courses, travel)
        run(courses, travel)
        assert len(solved) == 10
    # every result equals a run without any stored results
    cases = [(far, courses, _with_travel(travel, hin)),
             (more, courses.assign(freie_plaetze=[8, 10, 10, 20, 10]), travel),
             (from_disk, courses, _with_travel(travel, hin))]
    for res, c, t in cases:
        cold = run(c, t, session=Session())
        pd.testing.assert_frame_equal(res.gaps, cold.gaps)
        pd.testing.assert_frame_equal(res.segments, cold.segments)
        pd.testing.assert_frame_equal(res.courses, cold.courses)
        pd.testing.assert_frame_equal(res.e2sfca, cold.e2sfca)


def test_block_keys_see_every_input():
    from coverage.analysis import _blocks
    from coverage.analysis.assignment import course_capacity
    from coverage.analysis.gaps import _problem

    seg, courses, travel, _ = _case()
    p = Parameters()

    def keys(s, c, t, params):
        prob = _problem(s.reset_index(drop=True), c, t, params, course_capacity(c))
        dig = _blocks.column_digests(prob.hin, prob.rueck)
        return {tuple(lv): _blocks.block_key(prob, lv, sg, cr, dig)
                for lv, sg, cr in _blocks.level_blocks(prob.prep.courses["level_ok"], prob.prep.seg_level)}

    base = keys(seg, courses, travel, p)
    a1 = (LEVELS.index("A1"),)
    hin = travel.hin.copy()
    hin[1, 4, 0] += 0.5  # another origin, another mode, same course
    variants = {
        "travel": keys(seg, courses, _with_travel(travel, hin), p),
        "seats": keys(seg, courses.assign(freie_plaetze=[5, 10, 10, 20, 10]), travel, p),
        "persons": keys(seg.assign(personen=seg["personen"].where(seg["niveau"] != "A1", 11.0)), courses, travel,
                        p),
        "schedule": keys(seg, courses.assign(beginn=[360, 540, 540, 540, 540]), travel, p),  # before 7:00
        "childcare": keys(seg, courses.assign(kinderbetreuung=[True, False, False, False, False]), travel, p),
        "threshold": keys(seg, courses, travel, p.shifted(1.0)),
    }
    for name, k in variants.items():
        assert k[a1] != base[a1], name
        assert k[(LEVELS.index("B1"),)] == base[(LEVELS.index("B1"),)] or name == "threshold", name
    # the course id is not part of the key: renaming a course keeps the content
    renamed = courses.assign(kurs_id=["X1", "K2", "K3", "K4", "ON"])
    t_renamed = CourseTravelTimes(travel.origin_ids, renamed["kurs_id"].to_numpy(), travel.modes, travel.hin,
                                  travel.rueck)
    assert keys(seg, renamed, t_renamed, p) == base


def test_level_blocks_join_levels_of_one_course():
    from coverage.analysis._blocks import level_blocks

    level_ok = np.zeros((6, 3), bool)
    level_ok[[1, 2], 0] = True  # A1, A2
    level_ok[2, 1] = True       # A2
    level_ok[4, 2] = True       # B2
    seg_level = np.array([1, 2, 3, 4, 1])
    blocks = level_blocks(level_ok, seg_level)
    assert [(b[0].tolist(), b[1].tolist(), b[2].tolist()) for b in blocks] == [
        ([1, 2], [0, 1, 4], [0, 1]), ([3], [2], []), ([4], [3], [2])]


def test_column_digests_change_with_any_value():
    from coverage.analysis._blocks import column_digests

    rng = np.random.default_rng(2)
    for dtype in (np.float32, np.float64):
        a = rng.uniform(0, 100, (2, 50, 7)).astype(dtype)
        d = column_digests(a)
        for idx in [(0, 0, 3), (1, 49, 6), (1, 17, 0)]:
            b = a.copy()
            b[idx] = np.nextafter(b[idx], np.inf)
            changed = np.nonzero((column_digests(b) != d).any(axis=1))[0]
            assert changed.tolist() == [idx[2]]
        assert (column_digests(a[:, :, ::-1]) == d[::-1]).all()  # a column's digest does not depend on its position


def test_gap_table_from_segments_matches_assess(result):
    from coverage.analysis.gaps import gap_table

    g = gap_table(result.segments, result.mitgliedskommunen, params=result.params, e2sfca=result.e2sfca)
    same = [c for c in g.columns if not c.startswith("Lücke bei") and c != "Flagge robust"]
    pd.testing.assert_frame_equal(g[same], result.gaps[same])


def _random_demand(rng: np.random.Generator, mk: pd.DataFrame, n_o: int) -> pd.DataFrame:
    """Demand segments of ``n_o`` origins with random residents, spread over the Mitgliedskommunen."""
    res = pd.DataFrame({"herkunft_id": [f"h{i}" for i in range(n_o)], "einwohner": rng.uniform(0, 150, n_o),
                        "mk_ars": [mk["mk_ars"][i % 13] for i in range(n_o)]})
    res["gemeinde_ars"] = res["mk_ars"] + "001"
    return demand_segments(res, params=Parameters())


def test_rerun_after_new_course_equals_cold_run():
    """One new course: only its block is computed again, from reused per-course pieces; same result as cold."""

    rng = np.random.default_rng(11)
    mk = _mitgliedskommunen()
    n_o, n_c = 90, 10
    demand = _random_demand(rng, mk, n_o)
    courses = pd.DataFrame({
        "kurs_id": [f"K{j}" for j in range(n_c + 1)],
        "niveaus": [("A1",), ("A1", "A2"), ("A2",), ("B1",), ("B1",), ("A1",), ("B1",), ("A2",), ("B2",), ("A1",),
                    ("B1",)],
        "kursart": "integrationskurs", "beginn": 540, "ende": 720, "kinderbetreuung": False, "plaetze": 20,
        "freie_plaetze": rng.integers(1, 6, n_c + 1),
    })
    hin = rng.uniform(5, 90, (3, n_o, n_c + 1))
    rueck = hin + rng.uniform(0, 10, (3, n_o, n_c + 1))
    full = CourseTravelTimes(np.array([f"h{i}" for i in range(n_o)]), courses["kurs_id"].to_numpy(),
                             ("fuss", "rad", "oepnv"), hin, rueck)
    before = courses.iloc[:n_c]

    def run(c, t, session):
        return assess(demand, c, t, params=Parameters(), mitgliedskommunen=mk, kapazitaet="freie_plaetze",
                      session=session)

    session = Session()
    run(before, full.subset(list(range(n_c))), session)
    after = run(courses, full, session)  # K10 (B1) is new: the B1 block reuses the columns of K3, K4, K6
    cold = run(courses, full, Session())
    for name in ("gaps", "segments", "courses", "e2sfca"):
        pd.testing.assert_frame_equal(getattr(after, name), getattr(cold, name))
    assert (after.reach.ok != cold.reach.ok).nnz == 0
    assert (after.assignment.flow != cold.assignment.flow).nnz == 0


def test_candidate_columns_from_disk_equal_cold_run(tmp_path):
    """A new process reuses the stored candidate columns (also of a course equal to another); same result as cold."""
    from unittest import mock

    from coverage.analysis import _blocks
    from coverage.cache.store import Cache

    rng = np.random.default_rng(5)
    mk = _mitgliedskommunen()
    n_o, n_c = 80, 8
    demand = _random_demand(rng, mk, n_o)
    courses = pd.DataFrame({
        "kurs_id": [f"K{j}" for j in range(n_c + 1)],
        "niveaus": [("A1",), ("A1",), ("A2",), ("A1",), ("A2",), ("A1",), ("A2",), ("A1",), ("A1",)],
        "kursart": "integrationskurs", "beginn": 540, "ende": 720, "kinderbetreuung": False, "plaetze": 20,
        "freie_plaetze": rng.integers(1, 6, n_c + 1),
    })
    hin = rng.uniform(5, 90, (3, n_o, n_c + 1))
    hin[:, :, n_c] = hin[:, :, 1]  # the new course K8 travels like K1
    rueck = hin + 3.0
    full = CourseTravelTimes(np.array([f"h{i}" for i in range(n_o)]), courses["kurs_id"].to_numpy(),
                             ("fuss", "rad", "oepnv"), hin, rueck)
    cache = Cache(tmp_path / "cache")

    def run(c, t, **kw):
        return assess(demand, c, t, params=Parameters(), mitgliedskommunen=mk, kapazitaet="freie_plaetze", **kw)

    run(courses.iloc[:n_c], full.subset(list(range(n_c))), cache=cache, session=Session())
    assert cache.entries(_blocks.PARTS_KIND.name)
    fresh: list[int] = []
    real = _blocks._candidates

    def spy(problem, segs, crs):
        fresh.append(len(crs))
        return real(problem, segs, crs)

    with mock.patch.object(_blocks, "_candidates", side_effect=spy):
        after = run(courses, full, cache=cache, session=Session())  # a new process: an empty session
    assert fresh == [1]  # only the new course's column of the A1 block
    cold = run(courses, full, session=Session())
    for name in ("gaps", "segments", "courses", "e2sfca"):
        pd.testing.assert_frame_equal(getattr(after, name), getattr(cold, name))
    assert (after.reach.ok != cold.reach.ok).nnz == 0
    assert (after.assignment.flow != cold.assignment.flow).nnz == 0


def test_travel_column_keys_stand_for_the_values():
    """With travel-cache keys the blocks are keyed by them: same results as hashing the values; a new key is seen."""
    import hashlib
    from dataclasses import replace
    from unittest import mock

    from coverage.analysis import _blocks

    seg, courses, travel, mk = _case()
    keys = np.array([hashlib.sha256(f"spalte{j}".encode()).hexdigest() for j in range(len(courses))])
    keyed = replace(travel, column_keys=keys)
    assert list(keyed.subset([2, 0]).column_keys) == [keys[2], keys[0]]

    session = Session()

    def run(t, session=session):
        return assess(seg, courses, t, params=Parameters(), mitgliedskommunen=mk, kapazitaet="freie_plaetze",
                      session=session)

    by_value = run(travel, Session())
    by_key = run(keyed)
    for name in ("gaps", "segments", "courses", "e2sfca"):
        pd.testing.assert_frame_equal(getattr(by_key, name), getattr(by_value, name))
    # K1 (A1) gets other travel times and hence another key: only the A1 block is solved again, as a cold run would
    hin = travel.hin.copy()
    hin[:, 0, 0] = 100.0
    new_keys = keys.copy()
    new_keys[0] = hashlib.sha256(b"anders").hexdigest()
    changed = replace(_with_travel(travel, hin), column_keys=new_keys)
    solved: list[list[str]] = []
    real = _blocks.solve_block

    def spy(problem, levels, segs, crs, **kw):
        solved.append([LEVELS[i] for i in levels])
        return real(problem, levels, segs, crs, **kw)

    with mock.patch.object(_blocks, "solve_block", side_effect=spy):
        again = run(changed)
    assert solved == [["A1"]]
    cold = run(_with_travel(travel, hin), Session())
    pd.testing.assert_frame_equal(again.gaps, cold.gaps)
    with pytest.raises(ValueError, match="Spaltenschlüssel"):
        replace(travel, column_keys=keys[:2])


def test_block_cache_kinds_are_declared_with_their_code():
    """Both kinds of the blocks are declared once, with module objects, and give the pipeline their limits."""
    import sys

    from coverage.analysis import _blocks
    from coverage.cache.kinds import DECLARED, keep_limits

    for kind in (_blocks.KIND, _blocks.PARTS_KIND):
        assert DECLARED[kind.name] is kind
        assert kind.code[0] is sys.modules["coverage.analysis._blocks"]
        assert "coverage.analysis.reach" in kind.modules
    assert keep_limits()["versorgung_block"] == 60 and keep_limits()["versorgung_kandidaten"] == 12


def test_rufbus_column_sentence_and_course_lead_time(tmp_path) -> None:
    """Rufbus (#17): o1 (12 persons, A1) reaches K1 only with the Rufbus (25 min); counted unless switched off."""
    from dataclasses import replace

    from coverage.analysis.gaps import RUFBUS_COLUMN, RUFBUS_LEAD_COLUMN

    seg, courses, travel, mk = _case()
    ruf_h, ruf_r = travel.hin[1].copy(), travel.rueck[1].copy()
    ruf_h[1, 0] = ruf_r[1, 0] = 25.0
    tt = CourseTravelTimes(travel.origin_ids, travel.course_ids, ("fuss", "oepnv", "rufbus"),
                           np.concatenate([travel.hin, ruf_h[None]]), np.concatenate([travel.rueck, ruf_r[None]]))
    base = assess(seg, courses, travel, params=Parameters(), mitgliedskommunen=mk, kapazitaet="freie_plaetze")
    assert RUFBUS_COLUMN not in base.gaps.columns and list(base.gaps.columns) == list(gap_columns(15.0))
    for erreichbar in (True, False):
        p = replace(Parameters(), rufbus_erreichbar=erreichbar)
        res = assess(seg, courses, tt, params=p, mitgliedskommunen=mk, kapazitaet="freie_plaetze",
                     rufbus_vorlauf_min=60.0)
        assert list(res.gaps.columns) == list(gap_columns(15.0, rufbus=True))
        row = _row(res, 1, "A1")
        assert row[RUFBUS_COLUMN] == pytest.approx(12.0)
        assert row["erreichbar"] == pytest.approx(12.0 if erreichbar else 0.0)
        assert "Nur mit Rufbus erreichbar: 10 (" in row["Begründung"] and "Voranmeldung bis 60 Minuten" in row[
            "Begründung"]
        assert ("nicht als erreichbar" in row["Begründung"]) != erreichbar
        assert res.gaps[RUFBUS_COLUMN].sum() == pytest.approx(12.0)
        lead = res.courses.set_index("kurs_id")["rufbus_voranmeldung_min"]
        assert lead["K1"] == 60.0 and lead.drop("K1").isna().all()
    files = write_gap_tables(res, directory=tmp_path)
    table = pd.read_csv(files[0], sep=";", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert set(table[RUFBUS_COLUMN]) <= {"0", "10", "< 5"} and "10" in set(table[RUFBUS_COLUMN])
    kurse = pd.read_excel(files[1], sheet_name="Kurse")
    assert RUFBUS_LEAD_COLUMN in kurse.columns
    explain = pd.read_excel(files[1], sheet_name="Erläuterung")
    assert RUFBUS_COLUMN in set(explain["Spalte"])
