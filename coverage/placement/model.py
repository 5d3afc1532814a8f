"""The placement model as arrays (like spopt's ``from_cost_matrix``).

A capacitated maximal-coverage model with a minimum group size ("viability"):
every candidate course (site × level × time slot) may be opened; persons left
unserved by the existing courses are assigned to open courses they can reach; an
open course holds at most its capacity and needs at least its minimum group from
persons not served elsewhere. The model maximises the newly served persons within
a budget (number of courses and/or euros).

This module holds the model data: :func:`prepare` turns weights, a sparse cover
matrix, capacities, minimum sizes and costs into the merged model (:class:`Prepared`);
:class:`PlacementSolution` is the solved result; :func:`evaluate_selection` gives the
best assignment for a fixed set of courses. Solving is in :mod:`coverage.placement.solve`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.placement import _milp

__all__ = ["PlacementSolution", "Prepared", "evaluate_selection", "expand", "prepare"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlacementSolution:
    """Result of :func:`coverage.placement.solve.solve_placement`.

    Attributes
    ----------
    selected
        Bool ``(n_k,)``: courses to open.
    flow
        CSR ``(n_d, n_k)``: expected persons of demand point d in course k.
    served_new
        Newly served persons, ``flow.sum()``.
    objective
        Value of the solution (``Σ value_d · flow_dk``; equals ``served_new`` for
        unit value weights).
    bound
        Upper bound on the optimal value (MILP dual bound or LP relaxation).
    gap
        Relative optimality gap ``(bound − objective) / objective`` (0 if both are 0).
    status
        ``"optimal"`` (within ``mip_rel_gap``), ``"time_limit"`` (best incumbent) or
        ``"greedy"`` (time limit before HiGHS had any solution: greedy fallback,
        bound from the LP relaxation).
    solve_time_s
        Wall time of the whole call in seconds.
    method
        ``"greedy"`` if the greedy start solution was not improved by the MILP
        (it may still be proven optimal), else ``"milp"``.
    n_points
        Demand points given.
    n_points_merged
        Demand points in the model after merging identical coverage (points
        without weight or coverage are dropped).
    n_candidates_viable
        Candidates that can reach their minimum group at all (the others are fixed
        to closed before solving).
    """

    selected: np.ndarray
    flow: sp.csr_matrix
    served_new: float
    objective: float
    bound: float
    gap: float
    status: str
    solve_time_s: float
    method: str
    n_points: int = 0
    n_points_merged: int = 0
    n_candidates_viable: int = 0

    @property
    def participants(self) -> np.ndarray:
        """Expected participants per course, ``(n_k,)``."""
        return np.asarray(self.flow.sum(axis=0)).ravel()

    def stats(self) -> dict[str, float | int | str]:
        """Key figures as a flat dict (for logs and reports)."""
        return {
            "kurse": int(self.selected.sum()),
            "neu_versorgt": round(self.served_new, 4),
            "zielfunktion": round(self.objective, 4),
            "schranke": round(self.bound, 4),
            "luecke": round(self.gap, 6),
            "status": self.status,
            "methode": self.method,
            "rechenzeit_s": round(self.solve_time_s, 3),
            "nachfragepunkte": self.n_points,
            "nachfragepunkte_zusammengefasst": self.n_points_merged,
            "kandidaten_tragfaehig": self.n_candidates_viable,
        }


@dataclass(frozen=True)
class Prepared:
    """The model after dropping non-viable candidates and merging demand points (see :func:`prepare`)."""

    weights: np.ndarray
    values: np.ndarray
    cover: sp.csr_matrix
    capacity: np.ndarray
    min_size: np.ndarray
    cost: np.ndarray
    groups: np.ndarray | None
    eligible: np.ndarray  # indices of the candidates kept in the model
    merged: _milp.Merged
    edge_minutes: np.ndarray | None = None  # per edge of merged.cover (weighted mean)
    sites: np.ndarray | None = None


def as_vector(name: str, value: object, n: int, *, default: float | None = None) -> np.ndarray:
    """``value`` as a finite, non-negative float vector of length ``n`` (a scalar is broadcast)."""
    if value is None:
        if default is None:
            raise ValueError(f"'{name}' fehlt.")
        return np.full(n, float(default))
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"'{name}' hat die Form {arr.shape}, erwartet ({n},).")
    if not np.all(np.isfinite(arr)) and name != "capacity":
        raise ValueError(f"'{name}' enthält NaN oder unendliche Werte.")
    if np.any(arr < 0):
        raise ValueError(f"'{name}' enthält negative Werte.")
    return arr


def prepare(
    weights: np.ndarray,
    cover: sp.spmatrix | np.ndarray,
    *,
    capacity: np.ndarray | float | None,
    min_size: np.ndarray | float | None,
    cost: np.ndarray | float | None,
    budget_euro: float | None,
    conflict_groups: np.ndarray | None,
    value_weights: np.ndarray | float | None,
    relax: bool,
    cost_minutes: sp.spmatrix | None = None,
    sites: np.ndarray | None = None,
    merge_minutes: float | None = 30.0,
) -> Prepared:
    """Validate the arrays, close candidates that can never be viable and merge the demand points."""
    cover = sp.csr_matrix(cover, dtype=bool)
    cover.eliminate_zeros()
    n_d, n_k = cover.shape
    w = as_vector("weights", weights, n_d)
    v = as_vector("value_weights", value_weights, n_d, default=1.0)
    cost_arr = as_vector("cost", cost, n_k, default=0.0)
    reach = np.asarray(cover.T.astype(float) @ w).ravel()
    if relax:
        cap = reach.copy()
        mins = np.zeros(n_k)
    else:
        cap = as_vector("capacity", capacity, n_k)
        mins = as_vector("min_size", min_size, n_k)
    groups = None
    if conflict_groups is not None:
        groups = np.asarray(conflict_groups)
        if groups.shape != (n_k,) or not np.issubdtype(groups.dtype, np.integer):
            raise ValueError(f"'conflict_groups' muss ganzzahlig mit Form ({n_k},) sein.")
    ok = (reach > _milp._TOL) & (reach >= mins - 1e-9) & (mins <= cap + 1e-9) & (cap > 0)
    cap = np.minimum(cap, reach)  # a course never holds more than can reach it (tighter model)
    if budget_euro is not None:
        ok &= cost_arr <= budget_euro + 1e-9
    eligible = np.nonzero(ok)[0]
    sub = cover[:, eligible]
    edge_minutes = None
    mins_m = None
    if cost_minutes is not None:
        mins_m = sp.csr_matrix(cost_minutes, dtype=float)
        if mins_m.shape != cover.shape:
            raise ValueError(f"'cost_minutes' hat die Form {mins_m.shape}, erwartet {cover.shape}.")
        mins_m = sp.csr_matrix(mins_m[:, eligible])
    # merge by coverage and 30-minute travel bands (many fewer points than exact minutes);
    # the travel tie-break uses the person-weighted mean minutes of each merged edge
    merged = (_milp.merge_demand(w, v, sub, mins_m, round_minutes=merge_minutes) if merge_minutes
              else _milp.merge_demand(w, v, sub))
    if mins_m is not None:
        edge_minutes = _merged_edge_minutes(merged, w, mins_m)
    site_arr = None
    if sites is not None:
        site_arr = pd.factorize(np.asarray(sites))[0][eligible] if len(eligible) else np.zeros(0, np.int64)
    return Prepared(
        w, v, cover, cap[eligible], mins[eligible], cost_arr[eligible],
        None if groups is None else groups[eligible], eligible, merged, edge_minutes, site_arr,
    )


def _merged_edge_minutes(merged: _milp.Merged, weights: np.ndarray, minutes: sp.csr_matrix) -> np.ndarray:
    """Person-weighted mean minutes of every merged edge (linear in the merged flow)."""
    keep = merged.group >= 0
    rows = np.nonzero(keep)[0]
    m = merged.cover.shape[0]
    agg = sp.csr_matrix((weights[keep], (merged.group[keep], rows)), shape=(m, len(weights)))
    total = sp.csr_matrix(agg @ minutes)
    edge_d = np.repeat(np.arange(m), np.diff(merged.cover.indptr))
    vals = np.asarray(total[edge_d, merged.cover.indices]).ravel()
    return vals / np.maximum(merged.weights[edge_d], 1e-300)


def expand(prep: Prepared, x: np.ndarray) -> sp.csr_matrix:
    """Merged edge flow → original points × all candidates."""
    mc = prep.merged.cover
    flow_m = sp.csr_matrix((x, mc.indices.copy(), mc.indptr.copy()), shape=mc.shape)
    flow = _milp.unmerge_flow(prep.merged, prep.weights, flow_m)
    flow = sp.csr_matrix((flow.data, prep.eligible[flow.indices], flow.indptr), shape=prep.cover.shape)
    flow.eliminate_zeros()
    return flow


def evaluate_selection(
    weights: np.ndarray,
    cover: sp.spmatrix | np.ndarray,
    selected: np.ndarray,
    *,
    capacity: np.ndarray | float,
    min_size: np.ndarray | float,
    value_weights: np.ndarray | float | None = None,
) -> tuple[float, sp.csr_matrix] | None:
    """Best assignment of persons to a fixed set of courses (an LP).

    Returns ``(value, flow)`` or ``None`` if the courses cannot all reach their
    minimum group at the same time.
    """
    cover = sp.csr_matrix(cover, dtype=bool)
    n_d, n_k = cover.shape
    sel = np.asarray(selected, dtype=bool)
    if sel.shape != (n_k,):
        raise ValueError(f"'selected' hat die Form {sel.shape}, erwartet ({n_k},).")
    w = as_vector("weights", weights, n_d)
    v = as_vector("value_weights", value_weights, n_d, default=1.0)
    cap = as_vector("capacity", capacity, n_k)
    mins = as_vector("min_size", min_size, n_k)
    idx = np.nonzero(sel)[0]
    merged = _milp.merge_demand(w, v, cover[:, idx])
    if merged.cover.shape[0] == 0:
        return (0.0, sp.csr_matrix((n_d, n_k))) if not (mins[idx] > 1e-9).any() else None
    res = _milp.evaluate_selection(merged, np.ones(len(idx), bool), capacity=cap[idx], min_size=mins[idx])
    if res is None:
        return None
    value, x = res
    prep = Prepared(w, v, cover, cap[idx], mins[idx], np.zeros(len(idx)), None, idx, merged)
    return value, expand(prep, x)


