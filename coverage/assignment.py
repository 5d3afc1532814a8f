"""Capacity-constrained assignment of demand to course seats (a transportation LP).

Every demand segment ``s`` has ``supply[s]`` expected persons; every course ``c``
has ``capacity[c]`` seats; ``pairs`` lists the allowed segment–course pairs with
their travel minutes. The flow ``x[s, c] ≥ 0`` is chosen lexicographically:

1. maximise the persons served ``Σ x`` subject to ``Σ_c x[s, c] ≤ supply[s]``
   and ``Σ_s x[s, c] ≤ capacity[c]``;
2. among those flows, minimise the total travel minutes ``Σ t[s, c] · x[s, c]``.

Both stages are solved as one linear program with HiGHS (``scipy.optimize.linprog``)
whose cost per person is ``t[s, c] − M`` with ``M = (number of courses) · max(t) + 1``:
an augmenting path changes the minutes by less than ``M`` per person, so a flow
that serves fewer persons is never optimal (exact lexicographic optimum).
Before solving, pairs that can never carry flow in some optimal solution are
dropped exactly: if the segments cheaper than ``t[s, c]`` at course ``c`` have at
least as many persons as can be served at all (``min(Σ capacity, Σ supply)``),
some of them has spare persons whenever ``x[s, c] > 0``, and moving that flow to
them keeps the served total and does not increase the minutes. The pruned model
therefore has the same optimal values; with ~50,000 segments × 30 courses it has
a few ten thousand variables instead of 1.5 million.

Capacity is by default the **free** seats (``freie_plaetze``): the other seats are
held by current participants, who are not part of the demand. With
``kapazitaet="plaetze"`` the whole course is assumed to be open to the demand.

The optimum is not unique in general: which of several equally good segments gets
a seat is arbitrary; totals (served persons, minutes) are unique.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

from .errors import InputDataError, OptimizationError

__all__ = ["AssignmentResult", "assign", "course_capacity"]

logger = logging.getLogger(__name__)

_TOL = 1e-9
_DIRECT_MAX = 40_000  # pairs up to which the LP is solved directly
_MAX_ROUNDS = 50
_ADD_MAX = 40_000  # pairs added per round of the column generation at most
_START_PER_COURSE = 2000  # start columns per course in the column generation
_RC_TOL = 1e-9  # relative to big_m


@dataclass(frozen=True)
class AssignmentResult:
    """Result of :func:`assign`.

    Attributes
    ----------
    flow
        CSR ``(n_seg, n_c)``: expected persons of segment s in course c.
    served, unserved
        ``(n_seg,)`` persons served / not served; ``served + unserved = supply``.
    load
        ``(n_c,)`` persons assigned to each course (``≤ capacity``).
    total_minutes
        ``Σ t · x`` over the flow.
    n_variables
        Pairs kept in the LP after the exact pruning.
    """

    flow: sp.csr_matrix
    served: np.ndarray
    unserved: np.ndarray
    load: np.ndarray
    total_minutes: float
    n_variables: int


def _prune(pairs_csc: sp.csc_matrix, supply: np.ndarray, bound: float) -> np.ndarray:
    """Boolean mask over the stored entries of ``pairs_csc`` that are kept (see module docstring)."""
    keep = np.zeros(pairs_csc.nnz, bool)
    for c in range(pairs_csc.shape[1]):
        lo, hi = pairs_csc.indptr[c], pairs_csc.indptr[c + 1]
        if hi == lo:
            continue
        t = pairs_csc.data[lo:hi]
        rows = pairs_csc.indices[lo:hi]
        order = np.argsort(t, kind="stable")
        cum = np.cumsum(supply[rows[order]])
        k = int(np.searchsorted(cum, bound * (1 - 1e-12) - _TOL))  # first prefix reaching the bound
        if k >= len(order):
            keep[lo:hi] = True
            continue
        t_cut = t[order[k]]
        keep[lo:hi] = t <= t_cut
    return keep


def _lp(
    rows: np.ndarray, cols: np.ndarray, cost: np.ndarray, supply: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve the transportation LP over the given pairs; return flow and the duals of all rows."""
    n_v = len(cost)
    seg_u, seg_row = np.unique(rows, return_inverse=True)
    crs_u, crs_row = np.unique(cols, return_inverse=True)
    n1 = len(seg_u)
    var = np.arange(n_v)
    a = sp.csc_matrix(
        (np.ones(2 * n_v), (np.concatenate([seg_row, n1 + crs_row]), np.concatenate([var, var]))),
        shape=(n1 + len(crs_u), n_v),
    )
    b = np.concatenate([supply[seg_u], capacity[crs_u]])
    res = linprog(cost, A_ub=a, b_ub=b, bounds=(0, None), method="highs")
    if res.status != 0 or res.x is None:
        raise OptimizationError(f"Zuordnung zu Kursplätzen nicht lösbar: {res.message}")
    dual_s = np.zeros(len(supply))
    dual_c = np.zeros(len(capacity))
    marg = np.asarray(res.ineqlin.marginals, float)
    dual_s[seg_u] = marg[:n1]
    dual_c[crs_u] = marg[n1:]
    return np.maximum(res.x, 0.0), dual_s, dual_c


def _initial_columns(rows: np.ndarray, cols: np.ndarray, t: np.ndarray, supply: np.ndarray,
                     capacity: np.ndarray) -> np.ndarray:
    """Start set: each course's cheapest pairs for 2 × its capacity (and, if demand is below capacity,
    each segment's cheapest pair)."""
    sel = np.zeros(len(t), bool)
    if supply.sum() <= capacity.sum():
        # supply-bound: most segments will be served, start with each one's cheapest course
        order = np.lexsort((t, rows))
        first = np.ones(len(order), bool)
        first[1:] = rows[order][1:] != rows[order][:-1]
        sel[order[first]] = True
    order_c = np.lexsort((t, cols))
    c_sorted = cols[order_c]
    bounds = np.searchsorted(c_sorted, np.arange(len(capacity) + 1))
    for c in range(len(capacity)):
        lo, hi = bounds[c], bounds[c + 1]
        if hi == lo:
            continue
        idx = order_c[lo:hi]
        cum = np.cumsum(supply[rows[idx]])
        k = min(int(np.searchsorted(cum, 2.0 * capacity[c])) + 1, hi - lo, _START_PER_COURSE)
        sel[idx[:k]] = True
    return sel


def _solve_pairs(
    rows: np.ndarray, cols: np.ndarray, t: np.ndarray, supply: np.ndarray, capacity: np.ndarray
) -> tuple[np.ndarray, int]:
    """Exact lexicographic optimum over the pairs (direct LP or column generation); flow per pair."""
    n_v = len(t)
    # lexicographic objective as one LP: an augmenting path visits at most n_courses courses, so it
    # changes the minutes by less than big_m per person; serving more persons always wins.
    big_m = len(np.unique(cols)) * float(t.max(initial=0.0)) + 1.0
    cost = t - big_m
    if n_v <= _DIRECT_MAX:
        x, _, _ = _lp(rows, cols, cost, supply, capacity)
        return x, 1
    active = _initial_columns(rows, cols, t, supply, capacity)
    for it in range(1, _MAX_ROUNDS + 1):
        idx = np.nonzero(active)[0]
        xa, dual_s, dual_c = _lp(rows[idx], cols[idx], cost[idx], supply, capacity)
        reduced = cost - dual_s[rows] - dual_c[cols]
        neg = np.nonzero(~active & (reduced < -_RC_TOL * big_m))[0]
        if len(neg) == 0:
            x = np.zeros(n_v)
            x[idx] = xa
            return x, it
        if len(neg) > _ADD_MAX:
            neg = neg[np.argsort(reduced[neg], kind="stable")[:_ADD_MAX]]
        active[neg] = True
    logger.warning("Spaltengenerierung nach %d Runden nicht fertig; löse das volle Modell.", _MAX_ROUNDS)
    x, _, _ = _lp(rows, cols, cost, supply, capacity)
    return x, _MAX_ROUNDS + 1


def _merge_identical(pairs: sp.csr_matrix, supply: np.ndarray) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """Group segments whose allowed courses and minutes are identical.

    Returns the group of every segment, the summed supply per group and the pair
    matrix of one representative per group. Merging is exact: an optimal flow of
    the merged problem, split in proportion to the segments' supply, is optimal
    for the original problem (same rows, linear objective).
    """
    pairs = pairs.tocsr()
    pairs.sort_indices()
    n_s, n_c = pairs.shape
    if n_c * n_s <= 20_000_000:
        # dense rows (-1 = not allowed), grouped by one vectorised sort
        dense = np.full((n_s, n_c), -1.0)
        r = np.repeat(np.arange(n_s), np.diff(pairs.indptr))
        dense[r, pairs.indices] = pairs.data
        order = np.lexsort(dense.T[::-1])
        srt = dense[order]
        new = np.ones(n_s, dtype=bool)
        new[1:] = (srt[1:] != srt[:-1]).any(axis=1)
        group = np.empty(n_s, dtype=np.int64)
        group[order] = np.cumsum(new) - 1
        n_g = int(new.sum())
    else:
        keys: dict[tuple[bytes, bytes], int] = {}
        group = np.empty(n_s, dtype=np.int64)
        ip, ind, dat = pairs.indptr, pairs.indices, pairs.data
        for i in range(n_s):
            a, b = ip[i], ip[i + 1]
            group[i] = keys.setdefault((ind[a:b].tobytes(), dat[a:b].tobytes()), len(keys))
        n_g = len(keys)
    rep = np.full(n_g, -1, dtype=np.int64)
    rep[group[::-1]] = np.arange(pairs.shape[0] - 1, -1, -1)  # first segment of each group
    merged_supply = np.bincount(group, weights=supply, minlength=n_g)
    return group, merged_supply, pairs[rep]


def assign(
    supply: np.ndarray,
    capacity: np.ndarray,
    pairs: sp.spmatrix,
    *,
    round_minutes: float | None = None,
) -> AssignmentResult:
    """Assign demand to seats: most persons served first, then fewest travel minutes.

    Segments with identical allowed courses and minutes are merged before solving
    (exactly); with ``round_minutes`` the minutes used for the tie-break are rounded
    first (e.g. to whole minutes), which merges far more segments and never changes
    the number of persons served.

    Parameters
    ----------
    supply
        ``(n_seg,)`` expected persons per segment (≥ 0).
    capacity
        ``(n_c,)`` seats per course (≥ 0).
    pairs
        Sparse ``(n_seg, n_c)``: the stored entries are the allowed pairs and
        their values the travel minutes (explicit zeros are allowed pairs with 0
        minutes, e.g. online courses).
    round_minutes
        Round the minutes to this step before solving (None = exact minutes).

    Returns
    -------
    AssignmentResult

    Raises
    ------
    InputDataError
        If shapes do not match or values are negative or not finite.
    OptimizationError
        If HiGHS fails (should not happen: the model is always feasible).
    """
    supply = np.asarray(supply, float).ravel()
    capacity = np.asarray(capacity, float).ravel()
    n_s, n_c = len(supply), len(capacity)
    if pairs.shape != (n_s, n_c):
        raise InputDataError(f"Paarmatrix hat die Form {pairs.shape}, erwartet ({n_s}, {n_c}).")
    if not np.all(np.isfinite(supply)) or (supply < 0).any():
        raise InputDataError("Bedarf je Segment muss eine endliche Zahl ≥ 0 sein.")
    if not np.all(np.isfinite(capacity)) or (capacity < 0).any():
        raise InputDataError("Kursplätze müssen eine endliche Zahl ≥ 0 sein.")
    csr_in = sp.csr_matrix(pairs, dtype=float, copy=True)
    csr_in.sum_duplicates()
    if not np.all(np.isfinite(csr_in.data)) or (csr_in.data < 0).any():
        raise InputDataError("Reisezeiten der erlaubten Paare müssen endlich und ≥ 0 sein.")
    if round_minutes:
        csr_in.data = np.round(csr_in.data / round_minutes) * round_minutes
    group, m_supply, m_pairs = _merge_identical(csr_in, supply)
    if len(m_supply) < n_s:
        merged = _assign_exact(m_supply, capacity, m_pairs)
        share = np.divide(supply, m_supply[group], out=np.zeros(n_s), where=m_supply[group] > 0)
        flow = sp.csr_matrix(sp.diags(share) @ merged.flow[group])
        served = np.minimum(np.asarray(flow.sum(axis=1)).ravel(), supply)
        t_flow = csr_in.copy()
        total_minutes = float(flow.multiply(t_flow).sum())
        logger.debug("Zuordnung: %d Segmente zu %d Gruppen zusammengefasst", n_s, len(m_supply))
        return AssignmentResult(
            flow=flow, served=served, unserved=supply - served, load=np.asarray(flow.sum(axis=0)).ravel(),
            total_minutes=total_minutes, n_variables=merged.n_variables,
        )
    return _assign_exact(supply, capacity, csr_in)


def _assign_exact(supply: np.ndarray, capacity: np.ndarray, pairs: sp.csr_matrix) -> AssignmentResult:
    """The LP of :func:`assign` without merging."""
    n_s, n_c = len(supply), len(capacity)
    csc = sp.csc_matrix(pairs)

    # drop pairs that cannot carry flow: empty segments, full courses
    rows_all = csc.indices
    cols_all = np.repeat(np.arange(n_c), np.diff(csc.indptr))
    live = (supply[rows_all] > _TOL) & (capacity[cols_all] > _TOL)
    bound = min(float(capacity.sum()), float(supply.sum()))
    live_csc = _pattern_csc(rows_all[live], cols_all[live], csc.data[live], (n_s, n_c))
    keep = _prune(live_csc, supply, bound) if bound > 0 else np.zeros(live_csc.nnz, bool)
    v_rows = live_csc.indices[keep]
    v_cols = np.repeat(np.arange(n_c), np.diff(live_csc.indptr))[keep]
    v_t = live_csc.data[keep]
    n_v = len(v_t)
    x = np.zeros(n_v)
    rounds = 0
    if n_v:
        x, rounds = _solve_pairs(v_rows, v_cols, v_t, supply, capacity)
    x[x < 1e-10] = 0.0
    # repair tiny solver tolerance violations by scaling down (keeps feasibility, changes < 1e-7)
    flow = sp.csr_matrix((x, (v_rows, v_cols)), shape=(n_s, n_c))
    flow.eliminate_zeros()
    out = np.asarray(flow.sum(axis=1)).ravel()
    over = out > supply
    if over.any():
        scale = np.ones(n_s)
        scale[over] = supply[over] / out[over]
        flow = sp.diags(scale) @ flow
    load = np.asarray(flow.sum(axis=0)).ravel()
    over_c = load > capacity
    if over_c.any():
        scale_c = np.ones(n_c)
        scale_c[over_c] = capacity[over_c] / load[over_c]
        flow = flow @ sp.diags(scale_c)
    flow = sp.csr_matrix(flow)
    served = np.minimum(np.asarray(flow.sum(axis=1)).ravel(), supply)
    load = np.asarray(flow.sum(axis=0)).ravel()
    t_flow = sp.csr_matrix((v_t, (v_rows, v_cols)), shape=(n_s, n_c))
    total_minutes = float(flow.multiply(t_flow).sum())
    logger.debug(
        "Zuordnung: %d von %d Paaren im LP (%d Runden), %.1f von %.1f Personen versorgt, %.0f Personenminuten",
        n_v, csc.nnz, rounds, float(served.sum()), float(supply.sum()), total_minutes,
    )
    return AssignmentResult(
        flow=flow, served=served, unserved=supply - served, load=load, total_minutes=total_minutes, n_variables=n_v
    )


def _pattern_csc(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> sp.csc_matrix:
    """CSC matrix that keeps explicit zeros (one entry per (row, col); input must have no duplicates)."""
    order = np.lexsort((rows, cols))
    indptr = np.zeros(shape[1] + 1, np.int64)
    np.cumsum(np.bincount(cols, minlength=shape[1]), out=indptr[1:])
    return sp.csc_matrix((data[order], rows[order], indptr), shape=shape)


def course_capacity(
    courses: pd.DataFrame, *, kapazitaet: Literal["freie_plaetze", "plaetze"] = "freie_plaetze"
) -> np.ndarray:
    """Seats available to the demand per course.

    Parameters
    ----------
    courses
        Courses with the column named by ``kapazitaet``.
    kapazitaet
        ``freie_plaetze`` (default: the other seats are taken by current
        participants) or ``plaetze`` (the whole course).

    Returns
    -------
    numpy.ndarray
        ``(n_c,)`` seats ≥ 0; missing values count as 0 (with a warning).

    Raises
    ------
    InputDataError
        If the column is missing or a value is negative.
    """
    if kapazitaet not in ("freie_plaetze", "plaetze"):
        raise InputDataError(f"Unbekannte Kapazität '{kapazitaet}'; erlaubt: freie_plaetze, plaetze.")
    if kapazitaet not in courses.columns:
        raise InputDataError(f"Kurse: es fehlt die Spalte '{kapazitaet}'.")
    cap = np.array(pd.to_numeric(courses[kapazitaet], errors="coerce"), dtype=float)
    nan = ~np.isfinite(cap)
    if nan.any():
        logger.warning("%d Kurse ohne Angabe in '%s': als 0 Plätze gezählt.", int(nan.sum()), kapazitaet)
        cap[nan] = 0.0
    neg = np.nonzero(cap < 0)[0]
    if len(neg):
        raise InputDataError("Platzzahl darf nicht negativ sein.", column=kapazitaet, row=int(neg[0]) + 1,
                             value=cap[neg[0]])
    return cap
