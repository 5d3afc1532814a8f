"""Tests of coverage.analysis.assignment: the capacity-constrained seat assignment."""

from __future__ import annotations

from unittest import mock

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from coverage.analysis import assignment as asg
from coverage.analysis.assignment import assign, course_capacity
from coverage.errors import InputDataError


def _pairs(dense: np.ndarray) -> sp.csr_matrix:
    """Dense minutes with NaN = not allowed → CSR keeping explicit zeros."""
    r, c = np.nonzero(~np.isnan(dense))
    m = sp.csr_matrix((dense[r, c], (r, c)), shape=dense.shape)
    return m


def test_by_hand_capacity_and_shortest_trips():
    # two segments, one course with 5 seats: the nearer segment gets the seats first
    pairs = _pairs(np.array([[10.0], [30.0]]))
    res = assign(np.array([4.0, 4.0]), np.array([5.0]), pairs)
    assert res.served.tolist() == pytest.approx([4.0, 1.0])
    assert res.unserved.tolist() == pytest.approx([0.0, 3.0])
    assert res.load.tolist() == pytest.approx([5.0])
    assert res.total_minutes == pytest.approx(4 * 10 + 1 * 30)


def test_served_first_then_minutes():
    # seg0 can go to A (1 min) or B (50 min); seg1 only to A. Max served needs seg0 → B.
    dense = np.array([[1.0, 50.0], [1.0, np.nan]])
    res = assign(np.array([1.0, 1.0]), np.array([1.0, 1.0]), _pairs(dense))
    assert res.served.sum() == pytest.approx(2.0)
    assert res.flow.toarray() == pytest.approx(np.array([[0.0, 1.0], [1.0, 0.0]]))


def test_explicit_zero_minutes_are_allowed_pairs():
    pairs = sp.csr_matrix((np.array([0.0]), np.array([0]), np.array([0, 1])), shape=(1, 1))
    assert pairs.nnz == 1
    res = assign(np.array([3.0]), np.array([2.0]), pairs)
    assert res.served.tolist() == pytest.approx([2.0])


def test_nothing_allowed_or_no_seats():
    res = assign(np.array([2.0, 1.0]), np.array([0.0, 3.0]), _pairs(np.array([[5.0, np.nan], [np.nan, np.nan]])))
    assert res.served.tolist() == [0.0, 0.0] and res.unserved.tolist() == [2.0, 1.0]
    assert res.flow.nnz == 0


def test_input_validation():
    with pytest.raises(InputDataError):
        assign(np.array([-1.0]), np.array([1.0]), _pairs(np.array([[1.0]])))
    with pytest.raises(InputDataError):
        assign(np.array([1.0]), np.array([1.0, 2.0]), _pairs(np.array([[1.0]])))
    with pytest.raises(InputDataError):
        assign(np.array([1.0]), np.array([1.0]), _pairs(np.array([[np.inf]])))


def test_course_capacity_columns():
    c = pd.DataFrame({"plaetze": [20, 25], "freie_plaetze": [3, None]})
    assert course_capacity(c).tolist() == [3.0, 0.0]
    assert course_capacity(c, kapazitaet="plaetze").tolist() == [20.0, 25.0]
    with pytest.raises(InputDataError):
        course_capacity(c.assign(plaetze=[-1, 2]), kapazitaet="plaetze")


def _max_flow_networkx(supply, capacity, dense) -> float:
    g = nx.DiGraph()
    for s, a in enumerate(supply):
        g.add_edge("src", ("s", s), capacity=float(a))
    for c, b in enumerate(capacity):
        g.add_edge(("c", c), "snk", capacity=float(b))
    for s, c in zip(*np.nonzero(~np.isnan(dense)), strict=True):
        g.add_edge(("s", s), ("c", c))  # no capacity attribute = infinite
    return nx.maximum_flow_value(g, "src", "snk")


def _min_minutes_bruteforce(supply, capacity, dense, served_total) -> float:
    r, c = np.nonzero(~np.isnan(dense))
    t = dense[r, c]
    n_v = len(t)
    if n_v == 0:
        return 0.0
    a = sp.vstack([
        sp.csr_matrix((np.ones(n_v), (r, np.arange(n_v))), shape=(len(supply), n_v)),
        sp.csr_matrix((np.ones(n_v), (c, np.arange(n_v))), shape=(len(capacity), n_v)),
    ])
    res = linprog(t, A_ub=a, b_ub=np.r_[supply, capacity], A_eq=np.ones((1, n_v)), b_eq=[served_total],
                  bounds=(0, None), method="highs")
    return float(res.fun)


@st.composite
def instances(draw):
    n_s = draw(st.integers(1, 9))
    n_c = draw(st.integers(1, 5))
    supply = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5, 4.0, 7.25]), min_size=n_s, max_size=n_s)))
    capacity = np.array(draw(st.lists(st.integers(0, 8), min_size=n_c, max_size=n_c)), float)
    cells = draw(st.lists(st.one_of(st.none(), st.integers(0, 90)), min_size=n_s * n_c, max_size=n_s * n_c))
    dense = np.array([np.nan if v is None else float(v) for v in cells]).reshape(n_s, n_c)
    return supply, capacity, dense


def _check(supply, capacity, dense):
    res = assign(supply, capacity, _pairs(dense))
    flow = res.flow.toarray()
    # conservation and capacity
    assert res.served + res.unserved == pytest.approx(supply, abs=1e-9)
    assert np.all(res.served <= supply + 1e-9) and np.all(res.unserved >= -1e-9)
    assert np.all(res.load <= capacity + 1e-9)
    assert np.all(flow >= 0)
    assert np.all(flow[np.isnan(dense)] == 0)  # only allowed pairs carry flow
    # maximum served equals networkx max flow
    best = _max_flow_networkx(supply, capacity, dense)
    assert res.served.sum() == pytest.approx(best, abs=1e-6)
    # minutes minimal among maximum flows
    want = _min_minutes_bruteforce(supply, capacity, dense, res.served.sum())
    assert res.total_minutes == pytest.approx(want, abs=1e-5, rel=1e-7)


@settings(max_examples=120, deadline=None)
@given(instances())
def test_property_vs_networkx_and_bruteforce(inst):
    _check(*inst)


@settings(max_examples=60, deadline=None)
@given(instances())
def test_property_congested_start_and_unmerged(inst):
    # the congested branch (pruning, greedy by minutes) on every instance, and the model without merging
    from coverage.analysis import _transport

    with mock.patch.object(_transport, "_cheapest", side_effect=lambda *a: (_cheapest_plain(*a), True)):
        _check(*inst)
    supply, capacity, dense = inst
    plain = asg._assign_exact(supply, capacity, _pairs(dense))
    merged = assign(supply, capacity, _pairs(dense))
    assert plain.served.sum() == pytest.approx(merged.served.sum(), abs=1e-9)
    assert plain.total_minutes == pytest.approx(merged.total_minutes, abs=1e-6)


def _cheapest_plain(indptr, cols, t, supply, capacity):
    out = np.full(len(indptr) - 1, np.inf)
    for g in range(len(indptr) - 1):
        if indptr[g + 1] > indptr[g]:
            out[g] = t[indptr[g]:indptr[g + 1]].min()
    return out


def _lexicographic_reference(supply, capacity, pairs) -> tuple[float, float]:
    """Served persons (max flow) and the least minutes among maximum flows, by two HiGHS LPs."""
    coo = pairs.tocoo()
    r, c, t = coo.row, coo.col, coo.data
    n_v = len(t)
    a = sp.vstack([sp.csr_matrix((np.ones(n_v), (r, np.arange(n_v))), shape=(len(supply), n_v)),
                   sp.csr_matrix((np.ones(n_v), (c, np.arange(n_v))), shape=(len(capacity), n_v))])
    b = np.r_[supply, capacity]
    first = linprog(-np.ones(n_v), A_ub=a, b_ub=b, bounds=(0, None), method="highs")
    served = -first.fun
    second = linprog(t, A_ub=a, b_ub=b, A_eq=np.ones((1, n_v)), b_eq=[served * (1 - 1e-12)], bounds=(0, None),
                     method="highs")
    return served, float(second.fun)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_medium_instances_match_two_stage_lp(seed):
    # a few hundred segments: many pivots, congested and uncongested courses, fractional persons
    rng = np.random.default_rng(seed)
    n_s, n_c = 400, 25
    mask = rng.random((n_s, n_c)) < 0.15
    t = np.round(rng.uniform(0, 90, (n_s, n_c)))
    pairs = sp.csr_matrix((t[mask], np.nonzero(mask)), shape=(n_s, n_c))
    supply = rng.choice([0.0, 0.013, 0.2, 0.5, 1.7, 3.0], n_s)
    capacity = rng.choice([0.0, 0.5, 2.0, 5.0, 12.0], n_c)
    res = assign(supply, capacity, pairs)
    served, minutes = _lexicographic_reference(supply, capacity, pairs)
    assert res.served.sum() == pytest.approx(served, rel=1e-9, abs=1e-9)
    assert res.total_minutes == pytest.approx(minutes, rel=1e-7, abs=1e-5)
    assert np.all(res.load <= capacity + 1e-9) and np.all(res.served <= supply + 1e-12)
    # whole minutes: same served persons, minutes of the rounded problem
    again = assign(supply, capacity, pairs, round_minutes=1.0)
    assert again.served.sum() == pytest.approx(served, rel=1e-9, abs=1e-9)


def test_group_rows_is_exact():
    from coverage.analysis._transport import group_rows

    rng = np.random.default_rng(5)
    base = sp.random(60, 8, density=0.4, random_state=6, format="csr")
    base.data = np.round(base.data * 3)  # few distinct values: many equal rows, many near-equal ones
    rows = rng.integers(0, 60, 500)
    m = sp.csr_matrix(base[rows])
    m.sort_indices()
    group, rep = group_rows(m.indptr, m.indices, m.data)
    keys = [(tuple(m.indices[m.indptr[i]:m.indptr[i + 1]]), tuple(m.data[m.indptr[i]:m.indptr[i + 1]]))
            for i in range(m.shape[0])]
    first: dict = {}
    want = np.array([first.setdefault(k, len(first)) for k in keys])
    assert np.array_equal(group, want)  # numbered by first appearance
    assert np.array_equal(rep, [keys.index(k) for k in first])


def test_large_instance_serves_what_it_can():
    # speed is measured in bench/, not asserted here
    rng = np.random.default_rng(0)
    n, m = 50_000, 30
    mask = rng.random((n, m)) < 0.5
    t = rng.uniform(5, 60, (n, m))
    pairs = sp.csr_matrix(np.where(mask, t, 0.0))
    supply = rng.exponential(0.04, n)  # ~2,000 persons, like the county model
    cap = rng.integers(0, 25, m).astype(float)
    res = assign(supply, cap, pairs)
    assert res.served.sum() == pytest.approx(min(cap.sum(), supply.sum()), rel=1e-6)
    assert np.all(res.load <= cap + 1e-9)


def test_merging_identical_segments_is_exact() -> None:
    """Duplicated segments (same courses, same minutes) give the same optimum as one merged segment."""
    import numpy as np
    import scipy.sparse as sp

    from coverage.analysis.assignment import _assign_exact, assign

    rng = np.random.default_rng(3)
    base = sp.random(40, 6, density=0.4, random_state=4, format="csr") * 30
    rows = np.concatenate([np.arange(40), rng.integers(0, 40, 60)])  # 60 duplicates of random rows
    pairs = sp.csr_matrix(base[rows])
    supply = rng.uniform(0.5, 5.0, len(rows))
    cap = rng.uniform(5.0, 40.0, 6)
    merged = assign(supply, cap, pairs)
    plain = _assign_exact(supply, cap, pairs)
    assert merged.served.sum() == pytest.approx(plain.served.sum(), rel=1e-9)
    assert merged.total_minutes == pytest.approx(plain.total_minutes, rel=1e-7, abs=1e-6)
    assert (merged.load <= cap + 1e-9).all()
    assert np.allclose(merged.served + merged.unserved, supply)
    # rounding the minutes never changes how many persons are served
    rounded = assign(supply, cap, pairs, round_minutes=5.0)
    assert rounded.served.sum() == pytest.approx(plain.served.sum(), rel=1e-9)
