"""Tests of coverage.analysis.reach: the reach rules and the reason per segment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coverage.analysis.reach import reach
from coverage.errors import InputDataError
from coverage.inputs.config import Parameters
from coverage.traveltime import CourseTravelTimes

INF = np.inf


def _courses(rows: list[dict]) -> pd.DataFrame:
    base = {"kursart": "integrationskurs", "beginn": 9 * 60, "ende": 12 * 60, "kinderbetreuung": False,
            "plaetze": 20, "freie_plaetze": 5}
    return pd.DataFrame([base | r for r in rows])


def _travel(course_ids, hin, rueck, modes=("fuss", "oepnv"), origins=("o0",)) -> CourseTravelTimes:
    hin = np.asarray(hin, float).reshape(len(modes), len(origins), len(course_ids))
    rueck = np.asarray(rueck, float).reshape(len(modes), len(origins), len(course_ids))
    return CourseTravelTimes(np.asarray(origins), np.asarray(course_ids), tuple(modes), hin, rueck)


def _demand(rows: list[tuple[str, str]], origin: str = "o0") -> pd.DataFrame:
    return pd.DataFrame({"herkunft_id": origin, "niveau": [r[0] for r in rows], "gruppe": [r[1] for r in rows],
                         "personen": 1.0, "mk_ars": "m", "gemeinde_ars": "g"})


@pytest.fixture()
def case():
    courses = _courses([
        {"kurs_id": "K_A1", "niveaus": ("A1",)},                      # 20/20 min, no childcare, 9–12
        {"kurs_id": "K_A2", "niveaus": ("A2",)},                      # fuss 30 there / 80 back, oepnv 80 / 30
        {"kurs_id": "K_B2", "niveaus": ("B2",)},                      # 90 min there
        {"kurs_id": "K_C1", "niveaus": ("C1", "Alpha"), "kursart": "online"},
        {"kurs_id": "K_J", "niveaus": ("B1",), "kursart": "jugend"},  # only for jugend
    ])
    #         K_A1 K_A2 K_B2 K_C1 K_J
    hin = [[20, 30, 90, 0, 10],     # fuss
           [25, 80, 95, 0, 10]]     # oepnv
    rueck = [[20, 80, 90, 0, 10],
             [25, 30, 95, 0, 10]]
    return courses, _travel(courses["kurs_id"], hin, rueck)


def test_reasons_by_hand(case):
    courses, travel = case
    d = _demand([
        ("A1", "allgemein"),     # ok via K_A1
        ("B2", "allgemein"),     # kein_kurs: 90 min there
        ("A2", "allgemein"),     # kein_rueckweg: no single mode fits both legs
        ("A1", "berufstaetig"),  # termin: course 9–12, group wants 17–22
        ("A1", "eltern"),        # kinderbetreuung: reachable, timed, no childcare
        ("C1", "allgemein"),     # ok via online
        ("Alpha", "allgemein"),  # kein_kurs: online Alpha not accepted, no other course
        ("B1", "allgemein"),     # kein_kurs: jugend course not accepted
        ("B1", "jugend"),        # ok via K_J
    ])
    r = reach(d, courses, travel, params=Parameters())
    assert list(r.reason) == ["", "kein_kurs", "kein_rueckweg", "termin", "kinderbetreuung", "", "kein_kurs",
                              "kein_kurs", ""]
    ok = r.ok.toarray()
    assert ok.shape == (9, 5)
    assert ok[0].tolist() == [True, False, False, False, False]
    assert ok[5].tolist() == [False, False, False, True, False]
    assert ok[8].tolist() == [False, False, False, False, True]
    # minutes: best over modes of max(hin, rueck); online stored as explicit 0
    assert r.minutes[0, 0] == 20.0
    row5 = r.minutes.getrow(5)
    assert row5.indices.tolist() == [3] and row5.data.tolist() == [0.0]
    assert np.array_equal(r.minutes.indptr, r.ok.indptr) and np.array_equal(r.minutes.indices, r.ok.indices)
    assert r.reachable.tolist() == [True, False, False, False, False, True, False, False, True]
    assert r.reachable_offline.tolist() == [True, False, False, False, False, False, False, False, True]


def test_online_acceptance_by_level_and_switch(case):
    courses, travel = case
    d = _demand([("C1", "allgemein"), ("C1", "eltern"), ("Alpha", "eltern")])
    r = reach(d, courses, travel, params=Parameters())
    assert list(r.reason) == ["", "", "kein_kurs"]  # eltern accept online at C1 (no childcare needed at home)
    r_off = reach(d, courses, travel, params=Parameters(), include_online=False)
    assert list(r_off.reason) == ["kein_kurs", "kein_kurs", "kein_kurs"]
    assert r_off.ok.nnz == 0 and not r_off.include_online


def test_threshold_inclusive_and_shift(case):
    courses, travel = case
    d = _demand([("B2", "allgemein")])
    p = Parameters()
    assert reach(d, courses, travel, params=p).reason[0] == "kein_kurs"
    shifted = p.shifted(30.0)  # 90 min allowed: K_B2 both legs 90 by fuss
    r = reach(d, courses, travel, params=shifted)
    assert r.reason[0] == "" and r.minutes[0, 2] == 90.0


def test_childcare_course_is_ok_for_parents():
    courses = _courses([{"kurs_id": "K", "niveaus": ("A1",), "kinderbetreuung": True,
                         "kursart": "eltern_frauen"}])
    travel = _travel(["K"], [[10], [10]], [[10], [10]])
    r = reach(_demand([("A1", "eltern"), ("A1", "allgemein")]), courses, travel, params=Parameters())
    assert list(r.reason) == ["", "kein_kurs"]  # eltern_frauen course is not a type for 'allgemein'


def test_schedule_window_edges():
    courses = _courses([{"kurs_id": "K", "niveaus": ("A1",), "beginn": 17 * 60, "ende": 22 * 60}])
    travel = _travel(["K"], [[10], [10]], [[10], [10]])
    r = reach(_demand([("A1", "berufstaetig")]), courses, travel, params=Parameters())
    assert r.reason[0] == ""
    courses2 = courses.assign(ende=22 * 60 + 1)
    assert reach(_demand([("A1", "berufstaetig")]), courses2, travel, params=Parameters()).reason[0] == "termin"


def test_mode_not_allowed_for_group():
    # eltern may not cycle: only 'rad' is fast enough
    courses = _courses([{"kurs_id": "K", "niveaus": ("A1",), "kinderbetreuung": True}])
    travel = _travel(["K"], [[10], [100]], [[10], [100]], modes=("rad", "oepnv"))
    r = reach(_demand([("A1", "eltern"), ("A1", "allgemein")]), courses, travel, params=Parameters())
    assert list(r.reason) == ["kein_kurs", ""]


def test_course_order_matched_by_id(case):
    courses, travel = case
    d = _demand([("A1", "allgemein")])
    r = reach(d, courses.iloc[::-1].reset_index(drop=True), travel, params=Parameters())
    assert r.course_ids[r.ok.indices[0]] == "K_A1"


def test_unknown_values_raise():
    courses = _courses([{"kurs_id": "K", "niveaus": ("A1",)}])
    travel = _travel(["K"], [[10], [10]], [[10], [10]])
    with pytest.raises(InputDataError, match="Herkunftsort"):
        reach(_demand([("A1", "allgemein")], origin="x"), courses, travel, params=Parameters())
    with pytest.raises(InputDataError, match="Niveau"):
        reach(_demand([("D1", "allgemein")]), courses, travel, params=Parameters())
    with pytest.raises(InputDataError, match="Kursart"):
        reach(_demand([("A1", "allgemein")]), courses.assign(kursart="x"), travel, params=Parameters())
    with pytest.raises(InputDataError, match="Reisezeiten"):
        reach(_demand([("A1", "allgemein")]), courses.assign(kurs_id="Z"), travel, params=Parameters())


def test_large_instance_fast():

    rng = np.random.default_rng(1)
    n_o, n_c = 2000, 30
    levels = ["Alpha", "A1", "A2", "B1", "B2", "C1"]
    courses = _courses([{"kurs_id": f"K{j}", "niveaus": tuple(rng.choice(levels, 2, replace=False))}
                        for j in range(n_c)])
    hin = rng.uniform(5, 120, (3, n_o, n_c))
    rueck = rng.uniform(5, 120, (3, n_o, n_c))
    travel = CourseTravelTimes(np.array([f"o{i}" for i in range(n_o)]), courses["kurs_id"].to_numpy(),
                               ("fuss", "rad", "oepnv"), hin, rueck)
    groups = ["allgemein", "eltern", "jugend", "frauen", "berufstaetig"]
    d = pd.DataFrame([(f"o{i}", lv, g) for i in range(n_o) for lv in levels for g in groups],
                     columns=["herkunft_id", "niveau", "gruppe"])
    r = reach(d, courses, travel, params=Parameters())
    # brute force on a sample of segments
    p = Parameters()
    for s in rng.choice(len(d), 300, replace=False):
        o, lv, g = int(d.herkunft_id[s][1:]), d.niveau[s], d.gruppe[s]
        rule = p.gruppen[g]
        for c in range(n_c):
            row = courses.iloc[c]
            ms = [i for i, m in enumerate(travel.modes) if m in rule.modi]
            t = min(max(hin[m, o, c], rueck[m, o, c]) for m in ms)
            want = (lv in row.niveaus and row.kursart in rule.kursarten and t <= rule.max_minuten
                    and row.beginn >= rule.fruehester_beginn and row.ende <= rule.spaetestes_ende
                    and (row.kinderbetreuung or not rule.kinderbetreuung))
            assert bool(r.ok[s, c]) == want
            if want:
                assert r.minutes[s, c] == pytest.approx(t)


# --------------------------------------------------------------------------- reference implementation


def _reference_reach_core(
    seg_origin: np.ndarray,
    seg_level: np.ndarray,
    seg_group: np.ndarray,
    *,
    hin: np.ndarray,
    rueck: np.ndarray,
    mode_allowed: np.ndarray,
    max_minutes: np.ndarray,
    level_ok: np.ndarray,
    type_ok: np.ndarray,
    online: np.ndarray,
    online_ok: np.ndarray,
    schedule_ok: np.ndarray,
    childcare_ok: np.ndarray,
    include_online: bool = True,
) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """The reach rules as first written (NumPy, one block per group × level): the reference."""
    n_s = len(seg_origin)
    n_c = hin.shape[2]
    reason = np.zeros(n_s, np.int8)
    rows_all: list[np.ndarray] = []
    cols_all: list[np.ndarray] = []
    mins_all: list[np.ndarray] = []
    online = np.asarray(online, bool)
    key = seg_group.astype(np.int64) * (level_ok.shape[0] + 1) + seg_level.astype(np.int64)
    order = np.argsort(key, kind="stable")
    bounds = np.nonzero(np.diff(key[order]))[0] + 1
    for block in np.split(order, bounds):
        if len(block) == 0:
            continue
        g, lv = int(seg_group[block[0]]), int(seg_level[block[0]])
        accept = (~online & type_ok[g]) | (online & bool(online_ok[g, lv]) & include_online)
        cols = np.nonzero(level_ok[lv] & accept)[0]
        if len(cols) == 0:
            reason[block] = 1
            continue
        o_u, inv = np.unique(seg_origin[block], return_inverse=True)
        t_hin = np.full((len(o_u), len(cols)), np.inf)
        t_both = np.full((len(o_u), len(cols)), np.inf)
        sub = np.ix_(o_u, cols)
        for m in np.nonzero(mode_allowed[g])[0]:
            h = hin[m][sub]
            t_hin = np.minimum(t_hin, h)
            t_both = np.minimum(t_both, np.maximum(h, rueck[m][sub]))
        on = online[cols]
        t_hin[:, on] = 0.0
        t_both[:, on] = 0.0
        limit = float(max_minutes[g]) + 1e-9
        there = (t_hin <= limit)[inv]
        both = (t_both <= limit)[inv]
        timed = both & schedule_ok[g, cols][None, :]
        ok = timed & childcare_ok[g, cols][None, :]
        r = np.where(
            ok.any(axis=1), 0,
            np.where(~there.any(axis=1), 1, np.where(~both.any(axis=1), 2, np.where(~timed.any(axis=1), 3, 4))),
        )
        reason[block] = r
        ri, ci = np.nonzero(ok)
        rows_all.append(block[ri])
        cols_all.append(cols[ci])
        mins_all.append(t_both[inv[ri], ci])
    if rows_all:
        rows = np.concatenate(rows_all)
        cols = np.concatenate(cols_all)
        mins = np.concatenate(mins_all)
    else:
        rows = cols = np.zeros(0, np.int64)
        mins = np.zeros(0)
    order = np.lexsort((cols, rows))
    rows, cols, mins = rows[order], cols[order], mins[order]
    indptr = np.zeros(n_s + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_s), out=indptr[1:])
    minutes = sp.csr_matrix((mins.astype(float), cols.astype(np.int64), indptr), shape=(n_s, n_c))
    ok_m = sp.csr_matrix((np.ones(len(cols), bool), cols.astype(np.int64), indptr.copy()), shape=(n_s, n_c))
    return ok_m, minutes, reason



@pytest.mark.parametrize("seed", range(6))
def test_kernels_equal_reference_implementation(seed):
    """The numba kernels give exactly the pairs, minutes and reasons of the original NumPy rules."""
    from coverage.analysis.reach import _accept, _reach_core

    rng = np.random.default_rng(seed)
    n_o, n_c, n_g, n_l, n_m = 40, 12, 5, 6, 3
    dtype = np.float32 if seed % 2 else np.float64
    hin = rng.uniform(0, 120, (n_m, n_o, n_c)).astype(dtype)
    rueck = (hin + rng.uniform(-20, 40, (n_m, n_o, n_c))).clip(0).astype(dtype)
    hin[rng.random(hin.shape) < 0.1] = np.inf
    rueck[rng.random(rueck.shape) < 0.1] = np.inf
    hin[:, :, 0] = np.round(hin[:, :, 0])  # exact ties with the thresholds
    online = rng.random(n_c) < 0.2
    level_ok = rng.random((n_l, n_c)) < 0.35
    arrays = {
        "mode_allowed": rng.random((n_g, n_m)) < 0.7,
        "max_minutes": rng.choice([30.0, 45.0, 60.0, 75.0], n_g),
        "type_ok": (rng.random((n_g, n_c)) < 0.7) & ~online,
        "online_ok": rng.random((n_g, n_l)) < 0.5,
        "schedule_ok": rng.random((n_g, n_c)) < 0.8,
        "childcare_ok": rng.random((n_g, n_c)) < 0.8,
    }
    n_s = 300
    seg = (rng.integers(0, n_o, n_s), rng.integers(0, n_l, n_s), rng.integers(0, n_g, n_s))
    for include_online in (True, False):
        want = _reference_reach_core(*seg, hin=hin, rueck=rueck, level_ok=level_ok, online=online,
                                     include_online=include_online, **arrays)
        got = _reach_core(*seg, hin=hin, rueck=rueck, level_ok=level_ok, online=online,
                          include_online=include_online, **arrays)
        assert (want[0] != got[0]).nnz == 0
        assert np.array_equal(want[1].indptr, got[1].indptr) and np.array_equal(want[1].indices, got[1].indices)
        assert np.array_equal(want[1].data, got[1].data)
        assert np.array_equal(want[2], got[2])
    # candidates for a larger threshold, derived for a smaller one (as for the robustness runs)
    from coverage.analysis import _reachcore
    from coverage.analysis.reach import _pairs_of

    accept = _accept(level_ok, arrays["type_ok"], online, arrays["online_ok"])
    cand = _reachcore.candidates(seg[0], seg[2], seg[1], accept=accept, mode_allowed=arrays["mode_allowed"],
                                 limit=arrays["max_minutes"] + 15.0, hin=hin, rueck=rueck, online=online)
    for shift in (-15.0, 0.0, 15.0):
        limit = np.maximum(1.0, arrays["max_minutes"] + shift)
        want = _reference_reach_core(*seg, hin=hin, rueck=rueck, level_ok=level_ok, online=online,
                                     **(arrays | {"max_minutes": limit}))
        got = _pairs_of(cand, n_c, seg_group=seg[2], limit=limit, schedule_ok=arrays["schedule_ok"],
                        childcare_ok=arrays["childcare_ok"], online=online, include_online=True)
        assert (want[1] != got[1]).nnz == 0 and np.array_equal(want[1].indices, got[1].indices)
        assert np.array_equal(want[2], got[2])


def test_rufbus_mode_counts_for_groups_with_oepnv_unless_switched_off() -> None:
    """Rufbus (#17): the mode ``rufbus`` is allowed where ``oepnv`` is, unless ``rufbus_erreichbar`` is false."""
    from dataclasses import replace

    from coverage.analysis.reach import allowed_modes, reach, rufbus_only
    from coverage.inputs.config import Parameters
    from coverage.traveltime import CourseTravelTimes

    p = Parameters()
    assert "rufbus" in allowed_modes(p.gruppen["allgemein"], rufbus=True)
    assert "rufbus" not in allowed_modes(p.gruppen["allgemein"], rufbus=False)
    courses = pd.DataFrame({"kurs_id": ["K"], "niveaus": [("B1",)], "kursart": ["integrationskurs"],
                            "beginn": [9 * 60], "ende": [12 * 60], "kinderbetreuung": [False], "online": [False]})
    demand = pd.DataFrame({"herkunft_id": ["o1", "o2"], "niveau": ["B1", "B1"], "gruppe": ["allgemein"] * 2})
    inf = np.inf
    # o1 reaches K only with the Rufbus (30 min); o2 by bus without it (40 min)
    hin = np.array([[[inf], [inf]], [[inf], [inf]], [[inf], [40.0]], [[30.0], [40.0]]], np.float32)
    tt = CourseTravelTimes(np.array(["o1", "o2"]), np.array(["K"]), ("fuss", "rad", "oepnv", "rufbus"), hin, hin)
    on = reach(demand, courses, tt, params=p)
    off = reach(demand, courses, tt, params=replace(p, rufbus_erreichbar=False))
    assert list(on.reason) == ["", ""] and list(off.reason) == ["kein_kurs", ""]
    for q in (p, replace(p, rufbus_erreichbar=False)):
        seg, course = rufbus_only(demand, courses, tt, params=q)
        np.testing.assert_array_equal(seg, [True, False])
        np.testing.assert_array_equal(course, [True])
    three = CourseTravelTimes(tt.origin_ids, tt.course_ids, ("fuss", "rad", "oepnv"), hin[:3], hin[:3])
    assert not any(a.any() for a in rufbus_only(demand, courses, three, params=p))
