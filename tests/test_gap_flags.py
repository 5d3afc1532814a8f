"""Tests of the gap flag rule, the ranking of gaps and the candidate reach (issue #16, item 5).

Seven origins, one per Mitgliedskommune, each one case of the rule (defaults:
minimum group 8, maximum group 20, target share 80 %, ``mindestanzahl`` 5,
``min_bedarf_quote`` = minimum group). Candidate reach comes from a hand-made
``candidate_cover`` with two candidate courses.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import box

from coverage.analysis._gaptable import _ranks
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.analysis.gaps import CANDIDATE_COLUMN, _candidate_sums, assess, min_bedarf_quote
from coverage.errors import ConfigError
from coverage.inputs.config import Parameters, load_config
from coverage.outputs.tables import published_gaps
from coverage.traveltime import CourseTravelTimes

SEGMENTS = [
    # origin, level, persons; comment: situation with the defaults
    ("o0", "A1", 50.0),  # K1 reachable, 41 seats → 9 unserved, share 0.82; no candidate site → "nein"
    ("o1", "A2", 50.0),  # K2 reachable, 41 seats → 9 unserved, share 0.82; reaches a candidate → "ja" (a)
    ("o2", "B1", 6.0),   # no course: share 0, demand 6 < 8; reaches a candidate, 6 < 8 → "nein"
    ("o3", "B1", 9.0),   # no course: share 0, demand 9 ≥ 8; no candidate → "ja" (b), 0 for a new course
    ("o4", "A1", 30.0),  # no course, reaches a candidate → 20 (capped) → "ja"
    ("o5", "A1", 25.0),  # as o4 with 25: published 20 and unversorgt 30 as o4 → tie, ARS decides
    ("o6", "A1", 44.0),  # as o4 with 44: published unversorgt 40 → before o4 and o5
]
REACH = {"o1": 0, "o2": 0, "o4": 1, "o5": 1, "o6": 0}
"""Candidate course reached by each origin at the analysis thresholds."""


def _mk(n: int = 7) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"mk_ars": [f"0335750{i:02d}" for i in range(n)], "mk_name": [f"Samtgemeinde {i}" for i in range(n)]},
        geometry=[box(10000 * i, 0, 10000 * (i + 1), 10000) for i in range(n)], crs="EPSG:25832",
    )


def _inputs():
    mk = _mk()
    seg = pd.DataFrame(SEGMENTS, columns=["herkunft_id", "niveau", "personen"]).assign(gruppe="allgemein")
    seg["mk_ars"] = [f"0335750{int(h[1:]):02d}" for h in seg["herkunft_id"]]
    seg["gemeinde_ars"] = seg["mk_ars"] + "001"
    base = {"traeger": "VHS", "kursort": "Ort", "adresse": "Markt 1", "beginn": 540, "ende": 720,
            "kinderbetreuung": False, "plaetze": 41, "freie_plaetze": 41, "wochentage": (0, 2),
            "kursart": "integrationskurs"}
    courses = pd.DataFrame([base | {"kurs_id": "K1", "kursname": "A1", "niveaus": ("A1",)},
                            base | {"kurs_id": "K2", "kursname": "A2", "niveaus": ("A2",)}])
    t = np.full((7, 2), 200.0)
    t[0, 0] = 20
    t[1, 1] = 20
    travel = CourseTravelTimes(np.array([f"o{i}" for i in range(7)]), courses["kurs_id"].to_numpy(),
                               ("fuss", "oepnv"), np.stack([t, t]), np.stack([t, t]))
    return seg, courses, travel, mk


def _cover(segs: pd.DataFrame, params: Parameters) -> sp.csr_matrix:
    """Candidate reach of ``REACH``; with thresholds 15 min longer o0 reaches candidate 0 too."""
    longer = params.gruppen["allgemein"].max_minuten > Parameters().gruppen["allgemein"].max_minuten
    reach = REACH | ({"o0": 0} if longer else {})
    out = np.zeros((len(segs), 2), bool)
    for i, h in enumerate(segs["herkunft_id"]):
        if h in reach:
            out[i, reach[h]] = True
    return sp.csr_matrix(out)


def _run(params: Parameters | None = None, *, cover=_cover):
    seg, courses, travel, mk = _inputs()
    params = params or Parameters()
    m = params.sensitivitaet_min
    covers = None if cover is None else [cover(seg, p) for p in (params, params.shifted(-m), params.shifted(m))]
    return assess(seg, courses, travel, params=params, mitgliedskommunen=mk, kapazitaet="freie_plaetze",
                  candidate_cover=covers)


def _row(res, i: int, level: str) -> pd.Series:
    g = res.gaps
    return g[(g["ARS"] == f"0335750{i:02d}") & (g["Niveau"] == level)].iloc[0]


@pytest.fixture(scope="module")
def result():
    return _run()


def test_enough_unserved_without_candidate_site_is_no_gap(result):
    r = _row(result, 0, "A1")
    assert (r["unversorgt"], r[CANDIDATE_COLUMN]) == pytest.approx((9.0, 0.0))
    assert r["Versorgungsquote"] == pytest.approx(0.82)
    assert r["Versorgungslücke"] == "nein" and pd.isna(r["Rang"])


def test_enough_unserved_reaching_a_candidate_site_is_a_gap(result):
    r = _row(result, 1, "A2")
    assert (r["unversorgt"], r[CANDIDATE_COLUMN]) == pytest.approx((9.0, 9.0))
    assert r["Versorgungsquote"] == pytest.approx(0.82)
    assert r["Versorgungslücke"] == "ja"


def test_share_under_target_with_little_demand_is_no_gap(result):
    r = _row(result, 2, "B1")
    assert r["Versorgungsquote"] == 0 and r["Bedarf"] == 6.0 and r[CANDIDATE_COLUMN] == 6.0
    assert r["Versorgungslücke"] == "nein" and pd.isna(r["Rang"])
    assert "weniger als die Mindestgruppe von 8" in r["Begründung"]


def test_share_under_target_with_enough_demand_is_a_gap(result):
    r = _row(result, 3, "B1")
    assert r["Versorgungsquote"] == 0 and r["Bedarf"] == 9.0 and r[CANDIDATE_COLUMN] == 0.0
    assert r["Versorgungslücke"] == "ja"


def test_min_bedarf_quote_parameter():
    res = _run(replace(Parameters(), min_bedarf_quote=5.0))
    assert _row(res, 2, "B1")["Versorgungslücke"] == "ja"
    res = _run(replace(Parameters(), min_bedarf_quote=10.0))
    assert _row(res, 3, "B1")["Versorgungslücke"] == "nein"


def test_count_capped_at_maximum_group(result):
    assert _row(result, 4, "A1")[CANDIDATE_COLUMN] == 20.0
    assert _row(result, 6, "A1")[CANDIDATE_COLUMN] == 20.0


def test_rank_order_and_ties(result):
    g = result.gaps
    flagged = g[g["Versorgungslücke"] == "ja"].sort_values("Rang")
    # published count 20 for MK 6, 4, 5 (MK 6: published unversorgt 40 > 30; MK 4 and 5 tie on both
    # published numbers, the ARS decides), then MK 1 (9 → 10), then MK 3 (0)
    assert [(a[-1], lv) for a, lv in zip(flagged["ARS"], flagged["Niveau"], strict=True)] == [
        ("6", "A1"), ("4", "A1"), ("5", "A1"), ("1", "A2"), ("3", "B1")]
    assert flagged["Rang"].tolist() == [1, 2, 3, 4, 5]
    assert g.loc[g["Versorgungslücke"] != "ja", "Rang"].isna().all()
    assert str(g["Rang"].dtype) == "Int64"
    assert _row(result, 6, "A1")["Begründung"].startswith("Rang 1: ")


def test_rank_uses_published_numbers_only():
    # hidden values would put "b" first (34 > 25 unserved, 19 > 16 for a new course); published they tie (30, 20)
    t = pd.DataFrame({"ARS": ["a", "b", "c", "d"], "Niveau": ["A1", "A1", "A1", "B1"],
                      CANDIDATE_COLUMN: [16.0, 19.0, 3.0, 0.0], "unversorgt": [25.0, 34.0, 3.0, 0.0]})
    ranks = _ranks(t, np.array([True, True, True, True]), DisclosurePolicy(5))
    # a suppressed count (3 → "< 5") sorts between 0 and the smallest shown count
    assert ranks.tolist() == [1, 2, 3, 4]
    assert _ranks(t, np.array([False, True, False, True]), DisclosurePolicy(5)).tolist()[1::2] == [1, 2]


def test_published_table_rounds_the_new_count(result):
    pub = published_gaps(result.gaps, DisclosurePolicy(result.params.mindestanzahl), text=True)
    r = pub[(pub["ARS"] == "033575001") & (pub["Niveau"] == "A2")].iloc[0]
    assert r[CANDIDATE_COLUMN] == 10
    r = pub[(pub["ARS"] == "033575002") & (pub["Niveau"] == "B1")].iloc[0]
    assert r[CANDIDATE_COLUMN] == 10  # 6 → 10
    assert int(r["Rang"] if pd.notna(r["Rang"]) else 0) == 0


def test_shifted_threshold_uses_shifted_candidate_reach(result):
    r = _row(result, 0, "A1")
    assert r["Lücke bei +15 min"] == "ja" and r["Lücke bei −15 min"] == "nein" and r["Flagge robust"] == "nein"
    assert "Samtgemeinde 0" in set(result.robustness["Mitgliedskommune"])


def test_candidate_cover_must_have_one_row_per_segment():
    seg, courses, travel, mk = _inputs()
    bad = [sp.csr_matrix((3, 2), dtype=bool)] * 3
    with pytest.raises(ValueError, match="einer Zeile je Bedarfssegment"):
        assess(seg, courses, travel, params=Parameters(), mitgliedskommunen=mk, candidate_cover=bad)


def test_without_candidate_reach_falls_back_to_unserved():
    res = _run(cover=None)
    r = _row(res, 0, "A1")
    assert r[CANDIDATE_COLUMN] == 9.0 and r["Versorgungslücke"] == "ja"
    assert any("Kandidatenstandorte nicht berechnet" in n for n in res.notes)


def test_candidate_sums_take_the_best_single_course():
    # row 0: segments 0 and 1 reach different courses (4 + 5 but at most 5 at one course); row 1: both at course 1
    row = np.array([0, 0, 1, 1, -1])
    unserved = np.array([4.0, 5.0, 3.0, 2.0, 50.0])
    cover = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1], [1, 1], [1, 1]], bool))
    assert _candidate_sums(row, unserved, cover, 3).tolist() == [5.0, 5.0, 0.0]
    assert _candidate_sums(row, unserved, sp.csr_matrix((5, 0), dtype=bool), 3).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("value, ok", [("12", True), ("0", True), ("-1", False), ("\"acht\"", False),
                                       ("nan", False), ("true", False)])
def test_min_bedarf_quote_is_validated(tiny_region: Path, value: str, ok: bool) -> None:
    tiny_region.write_text(tiny_region.read_text() + f"\n[parameter]\nmin_bedarf_quote = {value}\n")
    if ok:
        assert load_config(tiny_region).parameter.min_bedarf_quote == float(value)
    else:
        with pytest.raises(ConfigError, match="min_bedarf_quote"):
            load_config(tiny_region)


def test_min_bedarf_quote_defaults_to_the_minimum_group() -> None:
    assert min_bedarf_quote(Parameters()) == 8.0
    assert min_bedarf_quote(replace(Parameters(), min_gruppe={**Parameters().min_gruppe, "landkreis": 6})) == 6.0
    assert min_bedarf_quote(replace(Parameters(), min_bedarf_quote=3.0)) == 3.0


def test_reason_sentences_name_rank_and_candidate_reach(result):
    assert _row(result, 1, "A2")["Begründung"].startswith("Rang 4: 10 Personen auf Niveau A2 unversorgt")
    assert "ein neuer Kurs könnte 10 Personen versorgen" in _row(result, 1, "A2")["Begründung"]
    assert "kein möglicher Kursort für einen neuen Kurs erreichbar" in _row(result, 3, "B1")["Begründung"]
    assert "davon erreichen 0 einen möglichen Kursort" in _row(result, 0, "A1")["Begründung"]
