"""Aggregated placement models give valid upper bounds (checked against brute force)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.placement import _aggregate, _milp

from .test_placement import _subset_lp


def _brute_force(w: np.ndarray, dense: np.ndarray, cap: np.ndarray, mins: np.ndarray, budget: int) -> float:
    best = 0.0
    for r in range(budget + 1):
        for subset in itertools.combinations(range(dense.shape[1]), r):
            v = _subset_lp(w, dense, subset, cap, mins)
            if v is not None:
                best = max(best, v)
    return best


def _instance(seed: int, n_d: int, n_k: int) -> tuple[_milp.Merged, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dense = rng.random((n_d, n_k)) < 0.45
    dense[np.arange(n_d), rng.integers(0, n_k, n_d)] = True  # every point reaches a course
    w = np.round(rng.uniform(0.3, 4.0, n_d), 2)
    merged = _milp.merge_demand(w, np.ones(n_d), sp.csr_matrix(dense))
    cap = rng.choice([6.0, 8.0, 10.0], n_k)
    mins = rng.choice([3.0, 4.0, 5.0], n_k)
    return merged, cap, mins


def _solve_exact(merged: _milp.Merged, cap: np.ndarray, mins: np.ndarray, budget: int,
                 edge_weight: np.ndarray | None = None) -> tuple[float, _milp.RawResult | None]:
    n_k = merged.cover.shape[1]
    h, layout = _milp.build_model(merged, capacity=cap, min_size=mins, cost=np.zeros(n_k), budget_count=budget,
                                  budget_euro=None, conflict_groups=None, edge_weight=edge_weight)
    raw, bound = _milp.run_mip(h, layout, merged, time_limit_s=30.0, mip_rel_gap=1e-9, budget_hint=budget)
    return bound, raw


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_clusters=st.integers(1, 8), budget=st.integers(1, 3))
def test_any_partition_bounds_the_optimum(seed: int, n_clusters: int, budget: int) -> None:
    merged, cap, mins = _instance(seed, n_d=9, n_k=5)
    m = merged.cover.shape[0]
    rng = np.random.default_rng(seed + 1)
    labels = np.unique(rng.integers(0, n_clusters, m), return_inverse=True)[1]
    agg = _aggregate.aggregate(merged, labels)
    # aggregation keeps every person and only adds edges
    assert agg.merged.weights.sum() == pytest.approx(merged.weights.sum())
    assert (agg.edge_weight <= agg.merged.weights[np.repeat(np.arange(agg.merged.cover.shape[0]),
                                                           np.diff(agg.merged.cover.indptr))] + 1e-9).all()
    bound, _ = _solve_exact(agg.merged, cap, mins, budget, agg.edge_weight)
    truth = _brute_force(merged.weights, merged.cover.toarray(), cap, mins, budget)
    assert bound >= truth - 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_singleton_clusters_are_exact(seed: int) -> None:
    merged, cap, mins = _instance(seed, n_d=10, n_k=5)
    agg = _aggregate.aggregate(merged, np.arange(merged.cover.shape[0]))
    bound, raw = _solve_exact(agg.merged, cap, mins, 2, agg.edge_weight)
    truth = _brute_force(merged.weights, merged.cover.toarray(), cap, mins, 2)
    assert raw is not None
    assert raw.objective == pytest.approx(truth, abs=1e-6)
    assert bound == pytest.approx(truth, abs=1e-4)


def test_clusters_keep_value_weights_apart_and_refine_splits() -> None:
    rng = np.random.default_rng(3)
    dense = rng.random((60, 8)) < 0.4
    dense[np.arange(60), rng.integers(0, 8, 60)] = True
    values = np.where(np.arange(60) < 30, 1.0, 2.0)
    merged = _milp.merge_demand(rng.uniform(0.1, 1.0, 60), values, sp.csr_matrix(dense))
    labels = _aggregate.cluster_points(merged, n_clusters=6)
    assert labels is not None
    for c in np.unique(labels):
        assert len(np.unique(merged.values[labels == c])) == 1
    agg = _aggregate.aggregate(merged, labels)
    served = np.full(agg.merged.cover.nnz, 0.5)
    new = _aggregate.refine(merged, agg, served, None, max_split=3)
    assert len(np.unique(new)) == len(np.unique(labels)) + 3
    # a split never merges: points together after refining were together before
    for c in np.unique(new):
        assert len(np.unique(labels[new == c])) == 1
