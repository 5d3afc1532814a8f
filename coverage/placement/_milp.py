"""Private model building and solving for the course placement (HiGHS via highspy).

Everything here works on plain arrays; :mod:`coverage.placement.solve` is the public
front end. The model (after dropping candidates that can never be viable and
merging demand points with identical coverage)::

    max  Σ_dk v_d x_dk − Σ_k ε_k y_k
    s.t. Σ_k x_dk            ≤ w_d              for every demand point d
         Σ_d x_dk − cap_k y_k ≤ 0               capacity
         Σ_d x_dk − min_k y_k ≥ 0               viability (minimum group)
         x_dk − u_dk y_k      ≤ 0               strong link, u_dk = min(w_d, cap_k)
         Σ_k y_k ≤ B,  Σ_k c_k y_k ≤ E          budgets
         Σ_{k ∈ g} y_k ≤ 1                      conflict groups
         y_k ∈ {0, 1},  x_dk ≥ 0 only where d may attend k

``ε_k`` is a tiny tie-breaking penalty (cheaper and fewer courses among equally
good solutions); it is removed from every reported number.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from coverage.errors import OptimizationError

__all__: list[str] = []

logger = logging.getLogger(__name__)

_INF = highspy.kHighsInf
_EPS_BASE = 1e-6
_TOL = 1e-7
_TAU_MIN = 1e-6


@dataclass(frozen=True)
class Merged:
    """Demand points merged by identical coverage and equal value weight.

    Attributes
    ----------
    weights, values
        Persons and value weight per merged point, ``(m,)``.
    cover
        ``(m, n_k)`` boolean CSR with sorted indices.
    group
        ``(n_d,)`` merged index of every original point, ``-1`` if dropped
        (no weight or no coverage).
    """

    weights: np.ndarray
    values: np.ndarray
    cover: sp.csr_matrix
    group: np.ndarray


def merge_demand(
    weights: np.ndarray,
    values: np.ndarray,
    cover: sp.csr_matrix,
    minutes: sp.csr_matrix | None = None,
    *,
    round_minutes: float = 30.0,
) -> Merged:
    """Merge demand points with identical column sets and equal value weight.

    With ``minutes`` (travel minutes on the pattern of ``cover``) only points
    whose minutes agree after rounding to ``round_minutes`` are merged, so clearly
    different trip lengths stay visible to the tie-break.
    """
    cover = sp.csr_matrix(cover, dtype=bool, copy=True)
    cover.eliminate_zeros()
    cover.sort_indices()
    n_d = cover.shape[0]
    group = np.full(n_d, -1, dtype=np.int64)
    keys: dict[tuple, int] = {}
    indptr, indices = cover.indptr, cover.indices
    if minutes is not None:
        # minutes aligned with the pattern of ``cover`` (missing entries count as 0 min)
        mins = sp.csr_matrix(minutes, dtype=float, copy=True)
        mins.sum_duplicates()
        aligned = np.asarray(mins[cover.nonzero()]).ravel()
        binned = np.round(aligned / round_minutes)
    rows: list[np.ndarray] = []
    new_w: list[float] = []
    new_v: list[float] = []
    for d in range(n_d):
        lo, hi = indptr[d], indptr[d + 1]
        if hi == lo or weights[d] <= 0:
            continue
        cols = indices[lo:hi]
        key: tuple = (float(values[d]), cols.tobytes())
        if minutes is not None:
            key = (*key, binned[lo:hi].tobytes())
        g = keys.get(key)
        if g is None:
            g = len(rows)
            keys[key] = g
            rows.append(cols)
            new_w.append(0.0)
            new_v.append(float(values[d]))
        new_w[g] += float(weights[d])
        group[d] = g
    m = len(rows)
    if m:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=m)
        ptr = np.concatenate([[0], np.cumsum(lengths)])
        idx = np.concatenate(rows).astype(np.int32)
    else:
        ptr = np.zeros(1, dtype=np.int64)
        idx = np.zeros(0, dtype=np.int32)
    merged = sp.csr_matrix((np.ones(len(idx), dtype=bool), idx, ptr), shape=(m, cover.shape[1]))
    return Merged(np.asarray(new_w, dtype=float), np.asarray(new_v, dtype=float), merged, group)


def unmerge_flow(merged: Merged, weights: np.ndarray, flow: sp.csr_matrix) -> sp.csr_matrix:
    """Spread a merged flow back onto the original points in proportion to their weights."""
    n_d = len(merged.group)
    keep = merged.group >= 0
    rows = np.nonzero(keep)[0]
    g = merged.group[keep]
    share = np.where(merged.weights[g] > 0, weights[keep] / np.maximum(merged.weights[g], 1e-300), 0.0)
    spread = sp.csr_matrix((share, (rows, g)), shape=(n_d, merged.cover.shape[0]))
    out = sp.csr_matrix(spread @ flow)
    out.eliminate_zeros()
    return out


@dataclass
class Layout:
    """Column and row layout of a built model."""

    n_k: int
    n_e: int
    edge_d: np.ndarray
    edge_k: np.ndarray
    row_budget_count: int
    eps: np.ndarray
    n_z: int = 0
    extra_pen: float = 0.0


def new_highs() -> highspy.Highs:
    """A :class:`highspy.Highs` instance that prints nothing, not even the banner.

    ``highspy.Highs()`` prints its banner while it installs its callbacks, before
    any option can be set; the base object is therefore silenced first.
    """
    try:
        h = highspy.Highs.__new__(highspy.Highs)
        highspy._core._Highs.__init__(h)
        h.setOptionValue("output_flag", False)
        h.setOptionValue("log_to_console", False)
        h.callbacks = [
            highspy.highs.HighsCallback(highspy.cb.HighsCallbackType(i), h)
            for i in range(int(highspy.cb.HighsCallbackType.kCallbackMax) + 1)
        ]
        h.enableCallbacks()
    except (AttributeError, TypeError):  # other highspy layout: plain instance
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    return h


def conflict_pairs(merged: Merged, min_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of candidates that can never both be viable.

    Two open courses need ``min_k + min_l`` different persons; if fewer persons
    reach at least one of them, ``y_k + y_l ≤ 1`` is valid (a strong cut: HiGHS
    builds cliques from these rows).
    """
    n_k = merged.cover.shape[1]
    if n_k < 2 or n_k > 4000:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    c = merged.cover.astype(float)
    overlap = (c.T @ sp.diags(merged.weights) @ c).toarray()
    reach = np.diag(overlap).copy()
    bad = reach[:, None] + reach[None, :] - overlap < min_size[:, None] + min_size[None, :] - 1e-9
    a, b = np.nonzero(np.triu(bad, 1))
    return a.astype(np.int64), b.astype(np.int64)


def _tie_eps(cost: np.ndarray) -> np.ndarray:
    cmax = float(cost.max()) if len(cost) and cost.max() > 0 else 1.0
    return _EPS_BASE * (1.0 + cost / cmax)


def build_model(
    merged: Merged,
    *,
    capacity: np.ndarray,
    min_size: np.ndarray,
    cost: np.ndarray,
    budget_count: int | None,
    budget_euro: float | None,
    conflict_groups: np.ndarray | None,
    integer: bool = True,
    strong: bool = True,
    strong_min_weight: float = 1.0,
    fixed: np.ndarray | None = None,
    edge_minutes: np.ndarray | None = None,
    sites: np.ndarray | None = None,
    pair_cuts: bool = True,
    edge_weight: np.ndarray | None = None,
) -> tuple[highspy.Highs, Layout]:
    """Build the placement model in a fresh :class:`highspy.Highs` instance.

    ``fixed`` (bool ``(n_k,)``) fixes every ``y_k`` to the given value (used to
    evaluate a selection as an LP). The strong links ``x_dk ≤ u_dk y_k`` are added
    only for points with at least ``strong_min_weight`` persons: for the many tiny
    points they barely tighten the bound but make every LP much slower.

    Secondary objective (tie-breaking, removed from reported numbers): with
    ``edge_minutes`` (travel minutes per edge of ``merged.cover``) a person on
    edge dk is worth ``v_d · (1 − τ · minutes_dk / max minutes)``, τ = 1e-6, so
    shorter trips win among equally good solutions; with ``sites`` (int label per
    candidate) every further course at the same site costs ``ε`` more (a
    continuous ``z_s ≥ Σ_{k at s} y_k − 1``), so courses spread over sites.

    ``edge_weight`` (per edge of ``merged.cover``) replaces ``w_d`` in the edge
    bounds and strong links: the persons of an aggregated point that can reach
    the course (see :mod:`coverage.placement._aggregate`).
    """
    cover = merged.cover
    m, n_k = cover.shape
    w = merged.weights
    n_e = cover.nnz
    edge_d = np.repeat(np.arange(m, dtype=np.int64), np.diff(cover.indptr))
    edge_k = cover.indices.astype(np.int64)
    xcol = n_k + np.arange(n_e, dtype=np.int64)
    ub_e = np.minimum(w[edge_d] if edge_weight is None else np.asarray(edge_weight, float), capacity[edge_k])

    r_rows: list[np.ndarray] = []
    r_cols: list[np.ndarray] = []
    r_vals: list[np.ndarray] = []
    lower: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    n_rows = 0

    def add(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        r_rows.append(rows)
        r_cols.append(cols)
        r_vals.append(vals)

    ones_e = np.ones(n_e)
    karange = np.arange(n_k, dtype=np.int64)
    # demand rows
    add(edge_d, xcol, ones_e)
    lower.append(np.full(m, -_INF))
    upper.append(w.astype(float))
    n_rows += m
    # capacity rows
    add(n_rows + edge_k, xcol, ones_e)
    add(n_rows + karange, karange, -capacity.astype(float))
    lower.append(np.full(n_k, -_INF))
    upper.append(np.zeros(n_k))
    n_rows += n_k
    # viability rows
    add(n_rows + edge_k, xcol, ones_e)
    add(n_rows + karange, karange, -min_size.astype(float))
    lower.append(np.zeros(n_k))
    upper.append(np.full(n_k, _INF))
    n_rows += n_k
    # strong variable upper bounds
    if strong and n_e:
        erange = np.arange(n_e) if edge_weight is not None else np.nonzero(w[edge_d] >= strong_min_weight)[0]
        n_v = len(erange)
        vrange = np.arange(n_v, dtype=np.int64)
        add(n_rows + vrange, xcol[erange], ones_e[erange])
        add(n_rows + vrange, edge_k[erange], -ub_e[erange])
        lower.append(np.full(n_v, -_INF))
        upper.append(np.zeros(n_v))
        n_rows += n_v
    # budget on the number of courses (always present so that the curve can change it)
    row_budget_count = n_rows
    add(np.full(n_k, n_rows, dtype=np.int64), karange, np.ones(n_k))
    lower.append(np.array([-_INF]))
    upper.append(np.array([float(budget_count) if budget_count is not None else _INF]))
    n_rows += 1
    if budget_euro is not None:
        add(np.full(n_k, n_rows, dtype=np.int64), karange, cost.astype(float))
        lower.append(np.array([-_INF]))
        upper.append(np.array([float(budget_euro)]))
        n_rows += 1
    if pair_cuts and fixed is None and n_k:
        pa, pb = conflict_pairs(merged, min_size)
        n_p = len(pa)
        if n_p:
            prange = np.arange(n_p, dtype=np.int64)
            add(n_rows + prange, pa, np.ones(n_p))
            add(n_rows + prange, pb, np.ones(n_p))
            lower.append(np.full(n_p, -_INF))
            upper.append(np.ones(n_p))
            n_rows += n_p
    n_z = 0
    if sites is not None and fixed is None and n_k:
        _, site_inv, site_cnt = np.unique(np.asarray(sites), return_inverse=True, return_counts=True)
        multi_s = site_cnt[site_inv] >= 2
        if multi_s.any():
            uniq_s, s_idx = np.unique(site_inv[multi_s], return_inverse=True)
            n_z = len(uniq_s)
            zcol = n_k + n_e + np.arange(n_z, dtype=np.int64)
            # Σ_{k at s} y_k − z_s ≤ 1
            add(n_rows + s_idx, karange[multi_s], np.ones(int(multi_s.sum())))
            add(n_rows + np.arange(n_z, dtype=np.int64), zcol, -np.ones(n_z))
            lower.append(np.full(n_z, -_INF))
            upper.append(np.ones(n_z))
            n_rows += n_z
    if conflict_groups is not None and n_k:
        cg = np.asarray(conflict_groups)
        valid = cg >= 0
        _, inverse, counts = np.unique(cg[valid], return_inverse=True, return_counts=True)
        multi = counts[inverse] >= 2
        if multi.any():
            members = karange[valid][multi]
            lab = inverse[multi]
            uniq, lab_idx = np.unique(lab, return_inverse=True)
            add(n_rows + lab_idx, members, np.ones(len(members)))
            lower.append(np.full(len(uniq), -_INF))
            upper.append(np.ones(len(uniq)))
            n_rows += len(uniq)

    rows = np.concatenate(r_rows) if r_rows else np.zeros(0, np.int64)
    cols = np.concatenate(r_cols) if r_cols else np.zeros(0, np.int64)
    vals = np.concatenate(r_vals) if r_vals else np.zeros(0)
    n_col = n_k + n_e + n_z
    a = sp.csc_matrix((vals, (rows, cols)), shape=(n_rows, n_col))
    a.sum_duplicates()
    a.sort_indices()

    eps = _tie_eps(cost.astype(float))
    edge_value = merged.values[edge_d].astype(float)
    extra_pen = 0.0
    if edge_minutes is not None and n_e and float(np.max(edge_minutes)) > 0:
        edge_value = edge_value * (1.0 - _TAU_MIN * edge_minutes / float(np.max(edge_minutes)))
        extra_pen += _TAU_MIN * float(np.dot(merged.weights, merged.values))
    extra_pen += _EPS_BASE * n_k if n_z else 0.0
    col_cost = np.concatenate([-eps, edge_value, np.full(n_z, -_EPS_BASE)])
    col_lower = np.zeros(n_col)
    col_upper = np.concatenate([np.ones(n_k), ub_e, np.full(n_z, float(n_k))])
    if fixed is not None:
        col_lower[:n_k] = fixed.astype(float)
        col_upper[:n_k] = fixed.astype(float)

    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_rows
    lp.col_cost_ = col_cost
    lp.col_lower_ = col_lower
    lp.col_upper_ = col_upper
    lp.row_lower_ = np.concatenate(lower) if lower else np.zeros(0)
    lp.row_upper_ = np.concatenate(upper) if upper else np.zeros(0)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = n_rows
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.sense_ = highspy.ObjSense.kMaximize
    if integer and fixed is None:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_k + [highspy.HighsVarType.kContinuous] * (n_e + n_z)

    h = new_highs()
    h.setOptionValue("random_seed", 0)
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        raise OptimizationError("Das Standortmodell konnte nicht an HiGHS übergeben werden.")
    return h, Layout(n_k, n_e, edge_d, edge_k, row_budget_count, eps, n_z, extra_pen)


@dataclass
class RawResult:
    """Result of one solve on the merged instance."""

    selected: np.ndarray
    x: np.ndarray
    objective: float
    bound: float
    status: str
    method: str
    solve_time_s: float


def _flow_value(merged: Merged, layout: Layout, x: np.ndarray) -> float:
    return float(np.dot(merged.values[layout.edge_d], x))


def run_mip(
    h: highspy.Highs,
    layout: Layout,
    merged: Merged,
    *,
    time_limit_s: float,
    mip_rel_gap: float,
    start: np.ndarray | None = None,
    budget_hint: int | None = None,
) -> tuple[RawResult | None, float]:
    """Run the MIP; return the result (``None`` without incumbent) and the bound.

    The bound is an upper bound on the value without tie-breaking penalty
    (``inf`` if HiGHS stopped before it had one).
    """
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if start is not None:
        sol = highspy.HighsSolution()
        start = np.asarray(start, dtype=float)
        if len(start) == layout.n_k + layout.n_e and layout.n_z:
            start = np.concatenate([start, np.full(layout.n_z, float(layout.n_k))])
        sol.col_value = list(map(float, start))
        sol.value_valid = True
        h.setSolution(sol)
    t0 = time.perf_counter()
    run_status = h.run()
    elapsed = time.perf_counter() - t0
    model_status = h.getModelStatus()
    info = h.getInfo()
    if run_status == highspy.HighsStatus.kError and model_status != highspy.HighsModelStatus.kTimeLimit:
        raise OptimizationError(
            f"HiGHS meldet einen Fehler beim Lösen des Standortmodells ({h.modelStatusToString(model_status)})."
        )
    if model_status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible,
                        highspy.HighsModelStatus.kUnbounded):
        raise OptimizationError(f"Standortmodell unlösbar: {h.modelStatusToString(model_status)}.")
    # penalty bound: at most ``budget`` courses, each with at most the largest ε
    n_pen = layout.n_k if budget_hint is None else min(layout.n_k, budget_hint)
    pen_max = float(np.sort(layout.eps)[::-1][:n_pen].sum()) if layout.n_k else 0.0
    dual = float(info.mip_dual_bound)
    pen_max += layout.extra_pen
    bound = dual + pen_max if np.isfinite(dual) and abs(dual) < 1e29 else float("inf")
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        return None, bound
    values = np.asarray(h.getSolution().col_value, dtype=float)
    y = values[: layout.n_k] > 0.5
    x = np.clip(values[layout.n_k: layout.n_k + layout.n_e], 0.0, None)
    x[~y[layout.edge_k]] = 0.0
    obj = _flow_value(merged, layout, x)
    status = "optimal" if model_status == highspy.HighsModelStatus.kOptimal else "time_limit"
    return RawResult(y, x, obj, max(bound, obj), status, "milp", elapsed), max(bound, obj)


def solve_lp_bound(
    merged: Merged,
    *,
    capacity: np.ndarray,
    min_size: np.ndarray,
    cost: np.ndarray,
    budget_count: int | None,
    budget_euro: float | None,
    conflict_groups: np.ndarray | None,
    time_limit_s: float,
) -> float:
    """Return the LP-relaxation bound, or a trivial bound if the LP does not finish."""
    trivial = float(np.dot(merged.weights, merged.values))
    if budget_count is not None and len(capacity):
        trivial = min(trivial, float(budget_count) * float(capacity.max()) * float(merged.values.max(initial=0.0)))
    h, layout = build_model(
        merged, capacity=capacity, min_size=min_size, cost=cost, budget_count=budget_count,
        budget_euro=budget_euro, conflict_groups=conflict_groups, integer=False,
    )
    h.setOptionValue("time_limit", float(time_limit_s))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        logger.warning("LP-Relaxation nicht rechtzeitig gelöst; triviale Schranke %.1f verwendet.", trivial)
        return trivial
    return min(trivial, float(h.getInfo().objective_function_value) + float(layout.eps.sum()))


def combinatorial_bound(
    merged: Merged,
    *,
    capacity: np.ndarray,
    cost: np.ndarray,
    budget_count: int | None,
    budget_euro: float | None,
) -> float:
    """Cheap upper bound: all coverable value, and the best courses filled to capacity.

    Each course contributes at most ``capacity · (largest value it reaches)``; the
    courses are chosen as a (fractional) knapsack under the budgets.
    """
    total = float(np.dot(merged.weights, merged.values))
    cover_csc = merged.cover.tocsc()
    n_k = cover_csc.shape[1]
    if n_k == 0:
        return 0.0
    vmax = np.zeros(n_k)
    nonempty = np.diff(cover_csc.indptr) > 0
    vmax[nonempty] = np.maximum.reduceat(merged.values[cover_csc.indices], cover_csc.indptr[:-1][nonempty])
    u = capacity * vmax
    bound = min(total, float(u.sum()))
    if budget_count is not None:
        bound = min(bound, float(np.sort(u)[::-1][: int(budget_count)].sum()))
    if budget_euro is not None:
        free = cost <= 0
        b = float(u[free].sum())
        order = np.argsort(-(u[~free] / cost[~free]), kind="stable")
        uu, cc = u[~free][order], cost[~free][order]
        left = float(budget_euro)
        for ui, ci in zip(uu, cc, strict=True):
            if left <= 0:
                break
            take = min(1.0, left / ci)
            b += take * ui
            left -= take * ci
        bound = min(bound, b)
    return bound


def evaluate_selection(
    merged: Merged,
    selected: np.ndarray,
    *,
    capacity: np.ndarray,
    min_size: np.ndarray,
    edge_minutes: np.ndarray | None = None,
) -> tuple[float, np.ndarray] | None:
    """Best flow for a fixed selection (an LP); ``None`` if the selection is not viable.

    Returns the value and the flow on the edges of ``merged.cover``. With
    ``edge_minutes`` (per edge of ``merged.cover``) a second LP keeps the value
    and minimises the person-minutes (shortest trips among the best flows).
    """
    sel = np.asarray(selected, dtype=bool)
    x_full = np.zeros(merged.cover.nnz)
    if not sel.any():
        return 0.0, x_full
    # restrict to the selected columns; csr order of the sub-matrix equals the
    # order of the kept edges of the full matrix
    idx = np.nonzero(sel)[0]
    sub = Merged(merged.weights, merged.values, sp.csr_matrix(merged.cover[:, idx]), merged.group)
    n_s = len(idx)
    h, layout = build_model(
        sub, capacity=capacity[idx], min_size=min_size[idx], cost=np.zeros(n_s), budget_count=None,
        budget_euro=None, conflict_groups=None, integer=False, strong=False, fixed=np.ones(n_s, bool),
    )
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    values = np.asarray(h.getSolution().col_value, dtype=float)
    x = np.clip(values[n_s:], 0.0, None)
    edge_k = merged.cover.indices
    value = _flow_value(sub, layout, x)
    if edge_minutes is not None and layout.n_e and value > 0:
        m_sub = np.asarray(edge_minutes, dtype=float)[sel[edge_k]]
        if m_sub.max(initial=0.0) > 0:
            cols = (n_s + np.arange(layout.n_e)).astype(np.int32)
            vals = sub.values[layout.edge_d].astype(float)
            h.addRow(value - 1e-7 * max(1.0, value), _INF, len(cols), cols, vals)
            h.changeColsCost(len(cols), cols, -m_sub)
            h.run()
            if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                x2 = np.clip(np.asarray(h.getSolution().col_value, dtype=float)[n_s:], 0.0, None)
                x, value = x2, _flow_value(sub, layout, x2)
    x_full[sel[edge_k]] = x
    return value, x_full


def greedy(
    merged: Merged,
    *,
    capacity: np.ndarray,
    min_size: np.ndarray,
    cost: np.ndarray,
    budget_count: int | None,
    budget_euro: float | None,
    conflict_groups: np.ndarray | None,
    edge_minutes: np.ndarray | None = None,
    order_out: list[int] | None = None,
) -> np.ndarray:
    """Greedy selection: add the course with the largest viable marginal gain.

    The gain of a course is the value of the still unassigned persons it can reach,
    highest value first, up to its capacity; a course is viable only if at least its
    minimum group is still unassigned. Assigned persons are taken first from points
    with the fewest other candidate courses. With a euro budget the gain per euro
    decides; ties go to the cheaper course, then to the one with the shorter mean
    trip (``edge_minutes``). Returns the selection (bool ``(n_k,)``).
    """
    mean_min = np.zeros(merged.cover.shape[1])
    if edge_minutes is not None and merged.cover.nnz:
        m_csc = sp.csr_matrix((np.asarray(edge_minutes, float), merged.cover.indices, merged.cover.indptr),
                              shape=merged.cover.shape).tocsc()
        wsum = np.asarray(merged.cover.T.astype(float) @ merged.weights).ravel()
        mean_min = np.asarray(m_csc.T @ merged.weights).ravel() / np.maximum(wsum, 1e-12)
    cover_csc = merged.cover.tocsc()
    n_k = cover_csc.shape[1]
    residual = merged.weights.astype(float).copy()
    values = merged.values
    options = np.diff(merged.cover.indptr).astype(float)
    selected = np.zeros(n_k, dtype=bool)
    blocked = np.zeros(n_k, dtype=bool)
    spent = 0.0
    cg = np.asarray(conflict_groups) if conflict_groups is not None else None
    limit = n_k if budget_count is None else min(n_k, int(budget_count))
    while selected.sum() < limit:
        best_k, best_score = -1, 0.0
        for k in range(n_k):
            if selected[k] or blocked[k]:
                continue
            if budget_euro is not None and spent + cost[k] > budget_euro + 1e-9:
                continue
            rows = cover_csc.indices[cover_csc.indptr[k]: cover_csc.indptr[k + 1]]
            r = residual[rows]
            if r.sum() < min_size[k] - _TOL:
                continue
            order = np.argsort(-values[rows], kind="stable")
            take = _fill(r[order], capacity[k])
            gain = float(np.dot(values[rows][order], take))
            score = gain / max(cost[k], 1e-9) if budget_euro is not None else gain
            better = score > best_score + 1e-9 * max(1.0, best_score)
            tie = best_k >= 0 and abs(score - best_score) <= 1e-9 * max(1.0, best_score) and (
                cost[k] < cost[best_k] or (cost[k] == cost[best_k] and mean_min[k] < mean_min[best_k] - 1e-12)
            )
            if better or tie:
                best_k, best_score = k, score
        if best_k < 0:
            break
        k = best_k
        selected[k] = True
        if order_out is not None:
            order_out.append(k)
        spent += float(cost[k])
        if cg is not None and cg[k] >= 0:
            blocked |= cg == cg[k]
        rows = cover_csc.indices[cover_csc.indptr[k]: cover_csc.indptr[k + 1]]
        order = np.lexsort((options[rows], -values[rows]))
        take = _fill(residual[rows][order], capacity[k])
        residual[rows[order]] -= take
    return selected


def _fill(amounts: np.ndarray, cap: float) -> np.ndarray:
    """Take from ``amounts`` in order until ``cap`` is reached."""
    before = np.concatenate([[0.0], np.cumsum(amounts)[:-1]])
    return np.clip(np.minimum(amounts, cap - before), 0.0, None)
