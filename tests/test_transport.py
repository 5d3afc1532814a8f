"""Exactness of the kernels of coverage.analysis._transport against plain references (bit for bit)."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.analysis import _transport as tr

_VALUES = [0.0, -0.0, 0.5, 1.5, 2.5, 3.0, -0.4, 7.25, 12.0]


@st.composite
def csr_rows(draw):
    """A CSR matrix (sorted indices) with many equal and near-equal rows, as lists."""
    n_c = draw(st.integers(1, 6))
    base = draw(st.lists(st.dictionaries(st.integers(0, n_c - 1), st.sampled_from(_VALUES), max_size=n_c),
                         min_size=1, max_size=6))
    picks = draw(st.lists(st.integers(0, len(base) - 1), min_size=0, max_size=30))
    rows = []
    for p in picks:
        row = dict(base[p])
        if row and draw(st.booleans()):  # flip a zero's sign or nudge a value: equal or not
            k = draw(st.sampled_from(sorted(row)))
            row[k] = draw(st.sampled_from([-row[k], row[k] + 1e-9, row[k]]))
        rows.append(sorted(row.items()))
    return rows


def _csr(rows, ptr_dtype, idx_dtype):
    indptr = np.zeros(len(rows) + 1, ptr_dtype)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    indices = np.array([c for r in rows for c, _ in r], idx_dtype)
    data = np.array([v for r in rows for _, v in r], np.float64)
    return indptr, indices, data


def _reference_groups(indptr, indices, data):
    """Groups by a dict of row tuples (0.0 == -0.0 as dict keys), numbered by first row."""
    first: dict = {}
    group = []
    for s in range(len(indptr) - 1):
        a, b = indptr[s], indptr[s + 1]
        key = (tuple(int(c) for c in indices[a:b]), tuple(float(v) for v in data[a:b]))
        group.append(first.setdefault(key, len(first)))
    rep = [group.index(g) for g in range(len(first))]
    return np.array(group, np.int64), np.array(rep, np.int64)


@settings(max_examples=200, deadline=None)
@given(csr_rows(), st.sampled_from([np.int32, np.int64]), st.sampled_from([np.int32, np.int64]),
       st.sampled_from([None, 1.0, 0.5, 5.0]))
def test_group_rows_matches_dict_reference(rows, ptr_dtype, idx_dtype, step):
    indptr, indices, data = _csr(rows, ptr_dtype, idx_dtype)
    if step is None:
        group, rep = tr.group_rows(indptr, indices, data)
        want = _reference_groups(indptr, indices, data)
    else:  # rounding on the fly = grouping the rounded values
        group, rep = tr._group_rows_kernel(indptr, indices, data, True, step)
        want = _reference_groups(indptr, indices, np.round(data / step) * step)
    assert group.dtype == np.int64 and rep.dtype == np.int64
    assert np.array_equal(group, want[0]) and np.array_equal(rep, want[1])


def test_group_rows_signed_zero_and_index_types():
    indptr = np.array([0, 2, 4, 6, 7], np.int32)
    indices = np.array([0, 3, 0, 3, 0, 2, 1], np.int32)
    data = np.array([0.0, 4.0, -0.0, 4.0, 0.0, 4.0, -0.0])
    for idx in (indices, indices.astype(np.int64), indices.astype(np.int16)):
        group, rep = tr.group_rows(indptr, idx, data)
        assert group.tolist() == [0, 0, 1, 2] and rep.tolist() == [0, 2, 3]


@st.composite
def problems(draw):
    n_s = draw(st.integers(1, 40))
    n_c = draw(st.integers(1, 6))
    mask = np.array(draw(st.lists(st.booleans(), min_size=n_s * n_c, max_size=n_s * n_c))).reshape(n_s, n_c)
    minutes = np.array(draw(st.lists(st.sampled_from([0.0, -0.0, 0.5, 1.5, 2.5, 4.4, 10.0, 30.2]),
                                     min_size=n_s * n_c, max_size=n_s * n_c))).reshape(n_s, n_c)
    dup = np.array(draw(st.lists(st.integers(0, n_s - 1), min_size=n_s, max_size=n_s)))
    mask, minutes = mask[dup], minutes[dup]  # many identical segments
    r, c = np.nonzero(mask)
    indptr = np.zeros(n_s + 1, np.int64)
    np.cumsum(mask.sum(1), out=indptr[1:])
    supply = np.array(draw(st.lists(st.sampled_from([0.0, 0.3, 1.0, 2.5, 4.0]), min_size=n_s, max_size=n_s)))
    capacity = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 2.0, 6.0, 40.0]), min_size=n_c, max_size=n_c)))
    return supply, capacity, indptr, c.astype(np.int32), minutes[r, c]


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k
        else:
            assert type(a[k]) is type(b[k]) and np.float64(a[k]).tobytes() == np.float64(b[k]).tobytes(), k


@settings(max_examples=150, deadline=None)
@given(problems(), st.sampled_from([1.0, 5.0, 0.25]))
def test_rounding_on_the_fly_equals_rounded_input(prob, step):
    supply, capacity, indptr, indices, minutes = prob
    got = tr.assign_csr(supply, capacity, indptr, indices, minutes, round_minutes=step)
    want = tr.assign_csr(supply, capacity, indptr, indices.astype(np.int64), np.round(minutes / step) * step)
    _same(got, want)


def _solve_reference(supply, capacity, indptr, cols, t):
    """:func:`coverage.analysis._transport.solve_transport` as it was before the start check: the simplex always runs,
    the arcs are concatenated."""
    n_g, n_c, n_p = len(supply), len(capacity), len(cols)
    indptr, cols = np.asarray(indptr, np.int64), np.asarray(cols, np.int64)
    keep = None
    cheapest, congested = tr._cheapest(indptr, cols, t, supply, capacity)
    if congested:
        rows = np.repeat(np.arange(n_g, dtype=np.int64), np.diff(indptr))
        bound = min(float(capacity.sum()), float(supply[np.diff(indptr) > 0].sum()))
        if np.bincount(cols, weights=supply[rows], minlength=n_c).max() >= bound * (1.0 - 1e-12) - 1e-9:
            keep = tr._prune_sorted(np.argsort(t).astype(np.int64), indptr, cols, t, supply, n_c, bound)
            if keep.all():
                keep = None
            else:
                indptr = np.zeros(n_g + 1, np.int64)
                np.cumsum(np.bincount(rows[keep], minlength=n_g), out=indptr[1:])
                cols, t, n_p = cols[keep], t[keep], int(keep.sum())
        order = np.argsort(cheapest, kind="stable").astype(np.int64)
    else:
        order = np.arange(n_g, dtype=np.int64)
    big_m = n_c * float(t.max()) + 1.0
    flow, state, parent, pedge = tr._crash(indptr, cols, t, supply, capacity, n_p, n_c, n_g, order)
    _, status, pivots = tr.network_simplex(*_arcs_reference(indptr, cols, t, capacity, big_m), flow, state, parent,
                                           pedge, n_g + n_c, 1e-11 * big_m, 1 << 62)
    assert status == 0
    x = np.maximum(flow[:n_p], 0.0)
    if keep is not None:
        full = np.zeros(len(keep))
        full[keep] = x
        x = full
    return x, int(pivots)


@st.composite
def transport_problems(draw):
    n_g = draw(st.integers(1, 30))
    n_c = draw(st.integers(1, 6))
    mask = np.array(draw(st.lists(st.booleans(), min_size=n_g * n_c, max_size=n_g * n_c))).reshape(n_g, n_c)
    mask[np.arange(n_g), draw(st.lists(st.integers(0, n_c - 1), min_size=n_g, max_size=n_g))] = True
    _, cols = np.nonzero(mask)
    indptr = np.zeros(n_g + 1, np.int64)
    np.cumsum(mask.sum(1), out=indptr[1:])
    t = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, 5.0, 9.0, 30.0, 2.75]), min_size=len(cols),
                               max_size=len(cols))))
    supply = np.array(draw(st.lists(st.sampled_from([0.3, 1.0, 2.5, 4.0]), min_size=n_g, max_size=n_g)))
    capacity = np.array(draw(st.lists(st.sampled_from([0.5, 2.0, 6.0, 40.0]), min_size=n_c, max_size=n_c)))
    return supply, capacity, indptr, cols.astype(draw(st.sampled_from([np.int32, np.int64]))), t


@settings(max_examples=200, deadline=None)
@given(transport_problems(), st.booleans())
def test_solve_transport_matches_always_running_the_simplex(prob, congested):
    # the start check replaces the network simplex only where it would stop at once: same flow, 0 pivots
    cheapest = tr._cheapest
    with mock.patch.object(tr, "_cheapest", side_effect=lambda *a: (cheapest(*a)[0], congested or cheapest(*a)[1])):
        x, pivots = tr.solve_transport(*prob)
        want_x, want_pivots = _solve_reference(*prob)
    assert x.dtype == want_x.dtype and x.tobytes() == want_x.tobytes() and pivots == want_pivots


@settings(max_examples=200, deadline=None)
@given(transport_problems(), st.booleans())
def test_start_check_agrees_with_the_simplex(prob, by_minutes):
    # on any start basis of _crash: no entering arc by the check ⇔ the simplex stops at once, with the flow unchanged
    supply, capacity, indptr, cols, t = prob
    n_g, n_c = len(supply), len(capacity)
    cheapest, _ = tr._cheapest(indptr, cols, t, supply, capacity)
    order = np.argsort(cheapest, kind="stable") if by_minutes else np.arange(n_g)
    big_m = n_c * float(t.max()) + 1.0
    flow, state, parent, pedge, optimal, *arcs = tr._start(indptr, cols, t, supply, capacity, order, big_m,
                                                           1e-11 * big_m)
    start = flow.copy()
    if optimal:
        assert all(len(a) == 0 for a in arcs)
        arcs = _arcs_reference(indptr, cols, t, capacity, big_m)
    _, status, pivots = tr.network_simplex(*arcs, flow, state, parent, pedge, n_g + n_c, 1e-11 * big_m, 1 << 62)
    assert status == 0
    assert optimal == (pivots == 0)  # an eligible arc always makes a pivot
    if optimal:
        assert flow.tobytes() == start.tobytes()


def _arcs_reference(indptr, cols, t, capacity, big_m):
    """The arcs as the concatenations before :func:`coverage.analysis._transport._arcs` built them."""
    n_g, n_c, n_p = len(indptr) - 1, len(capacity), len(cols)
    rows = np.repeat(np.arange(n_g, dtype=np.int64), np.diff(indptr))
    src = np.concatenate([rows, n_g + np.arange(n_c, dtype=np.int64), np.arange(n_g, dtype=np.int64)])
    dst = np.concatenate([n_g + cols.astype(np.int64), np.full(n_c + n_g, n_g + n_c, np.int64)])
    cap = np.concatenate([np.full(n_p, np.inf), capacity, np.full(n_g, np.inf)])
    cost = np.concatenate([t - big_m, np.zeros(n_c + n_g)])
    return src, dst, cap, cost


@pytest.mark.parametrize("seed", [0, 1])
def test_arcs_match_concatenation(seed):
    rng = np.random.default_rng(seed)
    n_g, n_c = 3000, 40
    mask = rng.random((n_g, n_c)) < 0.3
    _, cols = np.nonzero(mask)
    indptr = np.zeros(n_g + 1, np.int64)
    np.cumsum(mask.sum(1), out=indptr[1:])
    t = np.round(rng.uniform(0, 75, len(cols)))
    capacity = rng.uniform(0.5, 30, n_c)
    big_m = n_c * float(t.max()) + 1.0
    for c in (cols.astype(np.int32), cols.astype(np.int64)):
        for got, want in zip(tr._arcs(indptr, c, t, capacity, big_m), _arcs_reference(indptr, c, t, capacity, big_m),
                             strict=True):
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def _expand_reference(group, supply, m_supply, g_pos, ptr, cols, tt, x, n_c):
    """The member split with a loop over all pairs of the merged segment (the former kernel), in Python."""
    n_s = len(group)
    f_ptr = np.zeros(n_s + 1, np.int64)
    for s in range(n_s):
        i = g_pos[group[s]]
        k = sum(1 for q in range(ptr[i], ptr[i + 1]) if x[q] > 0.0) if i >= 0 and supply[s] > 0.0 else 0
        f_ptr[s + 1] = f_ptr[s] + k
    f_idx, f_val = [], []
    served, load, minutes = np.zeros(n_s), np.zeros(n_c), 0.0
    for s in range(n_s):
        if f_ptr[s + 1] == f_ptr[s]:
            continue
        g = group[s]
        i = g_pos[g]
        share = supply[s] / m_supply[g]
        total = 0.0
        for q in range(ptr[i], ptr[i + 1]):
            if x[q] > 0.0:
                v = x[q] * share
                f_idx.append(cols[q])
                f_val.append(v)
                total += v
                load[cols[q]] += v
                minutes += v * tt[q]
        served[s] = min(total, supply[s])
    return f_ptr, np.array(f_idx, np.int32), np.array(f_val, np.float64), served, load, minutes


def test_expand_matches_loop_over_all_pairs():
    rng = np.random.default_rng(7)
    n_s, n_c = 400, 12
    mask = rng.random((n_s, n_c)) < 0.4
    minutes = np.round(rng.uniform(0, 40, (n_s, n_c)))[rng.integers(0, 80, n_s)]
    mask = mask[rng.integers(0, 80, n_s)]
    r, c = np.nonzero(mask)
    indptr = np.zeros(n_s + 1, np.int64)
    np.cumsum(mask.sum(1), out=indptr[1:])
    indices, t = c.astype(np.int32), minutes[r, c]
    supply = rng.choice([0.0, 0.4, 1.0, 3.3], n_s)
    capacity = rng.choice([0.0, 2.0, 9.0], n_c)
    group, rep = tr.group_rows(indptr, indices, t)
    m_supply = np.bincount(group, weights=supply, minlength=len(rep))
    g_pos, _, ptr, cols, tt = tr._merged_problem(indptr, indices, t, False, 1.0, rep, m_supply, capacity, 1e-9)
    x = np.where(rng.random(len(cols)) < 0.3, rng.uniform(0, 2, len(cols)), 0.0)
    got = tr._expand(group, supply, m_supply, g_pos, ptr, cols, tt, x, n_c)
    want = _expand_reference(group, supply, m_supply, g_pos, ptr, cols, tt, x, n_c)
    for a, b in zip(got[:5], want[:5], strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert np.float64(got[5]).tobytes() == np.float64(want[5]).tobytes()


def test_uncongested_start_needs_no_simplex():
    indptr = np.array([0, 2, 3, 5])
    indices = np.array([0, 1, 1, 0, 1], np.int32)
    minutes = np.array([4.0, 2.0, 7.0, 1.0, 1.0])
    with mock.patch.object(tr, "network_simplex", side_effect=AssertionError("not needed")):
        out = tr.assign_csr(np.array([1.0, 2.0, 1.5]), np.array([10.0, 10.0]), indptr, indices, minutes)
    assert out["pivots"] == 0 and out["served"].tolist() == [1.0, 2.0, 1.5]
    assert out["total_minutes"] == 1.0 * 2.0 + 2.0 * 7.0 + 1.5 * 1.0
