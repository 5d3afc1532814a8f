"""Tests of coverage.analysis.accessibility: E2SFCA equals PySAL access."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from coverage.analysis.accessibility import band_weights, e2sfca, e2sfca_by_level
from coverage.inputs.config import Parameters
from coverage.traveltime import CourseTravelTimes

BANDS = Parameters().e2sfca_baender  # ((15, 1.0), (30, 0.68), (45, 0.22), (60, 0.05))


def test_band_weights_step_inclusive():
    w = band_weights(np.array([0, 15, 15.01, 30, 45, 59.9, 60, 60.1, np.inf]), BANDS)
    assert w.tolist() == [1.0, 1.0, 0.68, 0.68, 0.22, 0.05, 0.05, 0.0, 0.0]


def test_by_hand():
    # two origins, one site 10 min from both: R = 6 / (2 + 4), A = 1
    a = e2sfca(np.array([2.0, 4.0]), np.array([6.0]), np.array([[10.0], [10.0]]), bands=BANDS)
    assert a.tolist() == pytest.approx([1.0, 1.0])
    # second origin 40 min away: R = 6 / (2 + 0.22 · 4)
    a = e2sfca(np.array([2.0, 4.0]), np.array([6.0]), np.array([[10.0], [40.0]]), bands=BANDS)
    r = 6 / (2 + 0.22 * 4)
    assert a.tolist() == pytest.approx([r, 0.22 * r])
    # nobody in the catchment: ratio 0, not inf
    assert e2sfca(np.array([0.0]), np.array([5.0]), np.array([[10.0]]), bands=BANDS).tolist() == [0.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_pysal_access(seed):
    pytest.importorskip("access")
    from access import Access, weights

    logging.getLogger("access").setLevel(logging.WARNING)
    rng = np.random.default_rng(seed)
    n_o, n_s = 40, 9
    demand = rng.uniform(0.5, 30.0, n_o)
    supply = rng.integers(1, 25, n_s).astype(float)
    cost = rng.uniform(0, 90, (n_o, n_s))
    cost[rng.random((n_o, n_s)) < 0.15] = np.inf
    cost[0, :] = 5.0  # every site has demand in its catchment (PySAL gives inf otherwise)
    ours = e2sfca(demand, supply, cost, bands=BANDS)

    o_ids = [f"o{i}" for i in range(n_o)]
    s_ids = [f"s{j}" for j in range(n_s)]
    ii, jj = np.nonzero(np.isfinite(cost))
    cost_df = pd.DataFrame({"origin": np.array(o_ids)[ii], "dest": np.array(s_ids)[jj], "cost": cost[ii, jj]})
    # PySAL's two_stage_fca: weighted_catchment(demand, cost_df, cost_source=cost_origin, cost_dest=cost_dest)
    # merges the demand on the origins and sums per destination, i.e. origin = demand, dest = supply.
    acc = Access(
        demand_df=pd.DataFrame({"geoid": o_ids, "pop": demand}),
        demand_index="geoid",
        demand_value="pop",
        supply_df=pd.DataFrame({"geoid": s_ids, "seats": supply}),
        supply_index="geoid",
        supply_value="seats",
        cost_df=cost_df,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    fn = weights.step_fn(dict(BANDS))
    res = acc.two_stage_fca(name="e2", weight_fn=fn)
    theirs = res["e2_seats"].reindex(o_ids).fillna(0.0).to_numpy(float)
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)
    # enhanced_two_stage_fca with the same weight function is the same computation
    res2 = acc.enhanced_two_stage_fca(name="e3", weight_fn=fn)
    assert ours == pytest.approx(res2["e3_seats"].reindex(o_ids).fillna(0.0).to_numpy(float), rel=1e-12)


def test_by_level_wrapper_splits_seats_and_skips_online():
    courses = pd.DataFrame({
        "kurs_id": ["K1", "K2", "ON"],
        "niveaus": [("A1", "A2"), ("A1",), ("A1",)],
        "kursart": ["integrationskurs", "integrationskurs", "online"],
        "beginn": 540, "ende": 720, "kinderbetreuung": False,
        "plaetze": [20, 10, 25], "freie_plaetze": [10, 4, 25],
    })
    hin = np.array([[[10.0, 50.0, 0.0], [20.0, 10.0, 0.0]],      # fuss
                    [[5.0, 40.0, 0.0], [70.0, 70.0, 0.0]]])      # oepnv
    rueck = np.array([[[10.0, 50.0, 0.0], [20.0, 10.0, 0.0]],
                      [[30.0, 40.0, 0.0], [70.0, 70.0, 0.0]]])
    travel = CourseTravelTimes(np.array(["a", "b"]), np.array(["K1", "K2", "ON"]), ("fuss", "oepnv"), hin, rueck)
    demand = pd.DataFrame({"herkunft_id": ["a", "b", "a"], "niveau": ["A1", "A1", "A2"],
                           "gruppe": ["allgemein", "eltern", "allgemein"], "personen": [3.0, 2.0, 1.0]})
    out = e2sfca_by_level(demand, courses, travel, params=Parameters())
    assert len(out) == 2 * 6
    a1 = out[out["niveau"] == "A1"].set_index("herkunft_id")
    cost = np.array([[10.0, 40.0], [20.0, 10.0]])  # best over modes of max(hin, rueck)
    want = e2sfca(np.array([3.0, 2.0]), np.array([5.0, 4.0]), cost, bands=BANDS)  # K1: 10 free / 2 levels
    assert a1.loc[["a", "b"], "e2sfca"].to_numpy() == pytest.approx(want)
    assert a1.loc[["a", "b"], "personen"].tolist() == [3.0, 2.0]
    c1 = out[out["niveau"] == "C1"]
    assert (c1["e2sfca"] == 0).all()


def test_travel_weights_equal_band_weights_of_best_time():
    from coverage.analysis.accessibility import travel_weights

    rng = np.random.default_rng(4)
    for dtype in (np.float32, np.float64):
        hin = rng.uniform(0, 80, (3, 30, 9)).astype(dtype)
        rueck = rng.uniform(0, 80, (3, 30, 9)).astype(dtype)
        hin[rng.random(hin.shape) < 0.15] = np.inf
        hin[0, :, 2] = np.array([15, 30, 45, 60] * 7 + [15, 61], dtype)  # exactly on the band bounds
        rueck[0, :, 2] = 0
        modes = np.array([0, 2])
        cols = np.array([2, 5, 0, 8])
        cost = np.full((30, len(cols)), np.inf)
        for m in modes:
            cost = np.minimum(cost, np.maximum(hin[m][:, cols], rueck[m][:, cols]))
        want = band_weights(cost, BANDS)
        got = travel_weights(hin, rueck, modes=modes, cols=cols, bands=BANDS)
        assert np.array_equal(got, want)
