"""Where should county-funded courses (landkreisgeförderte Kurse) go?

A capacitated maximal-coverage model with a minimum group size ("viability"):
every candidate course (site × level × time slot) may be opened; persons left
unserved by the existing courses are assigned to open courses they can reach; an
open course holds at most its capacity and needs at least its minimum group from
persons not served elsewhere. The model maximises the newly served persons within
a budget (number of courses and/or euros).

Layers
------
:func:`solve_placement`
    Array core (like spopt's ``from_cost_matrix``): weights, sparse coverage,
    capacities, minimum sizes, costs → :class:`PlacementSolution`.
:func:`marginal_curve`
    Newly served persons for 1 … k courses (warm-started re-solves).
:func:`candidate_courses`, :func:`propose_courses`, :func:`write_proposals`
    Pipeline wrappers on DataFrames with German output tables and files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage._io import atomic_path, write_csv, write_xlsx
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.errors import InputDataError
from coverage.inputs.config import Parameters
from coverage.inputs.schema import GROUP_LABELS, LEVELS, SLOT_LABELS, SLOTS, WEEKDAYS
from coverage.placement import _aggregate, _milp

__all__ = [
    "PlacementResult",
    "PlacementSolution",
    "candidate_courses",
    "evaluate_selection",
    "marginal_curve",
    "propose_courses",
    "published_curve",
    "solve_placement",
    "write_proposals",
]

logger = logging.getLogger(__name__)

KURSART = "landkreis"
"""Course type of the proposed courses."""

SEGMENT_COLUMNS: tuple[str, ...] = ("herkunft_id", "niveau", "gruppe", "unversorgt", "mk_ars", "gemeinde_ars")
SITE_COLUMNS: tuple[str, ...] = ("standort_id", "name", "art", "verfuegbar", "gemeinde_ars", "mk_ars")
PROPOSAL_COLUMNS: tuple[str, ...] = (
    "Rang",
    "Kurs-ID",
    "Standort",
    "Gemeinde",
    "Mitgliedskommune",
    "Niveau",
    "Zeitfenster",
    "erwartete Teilnehmende",
    "Teilnehmende nach Mitgliedskommune",
    "neu versorgt",
    "Reisezeit Median (min)",
    "Reisezeit max (min)",
    "Kosten (€)",
    "Begründung",
)
CURVE_COLUMNS: tuple[str, ...] = (
    "Anzahl Kurse",
    "neu versorgte Personen",
    "Zuwachs",
    "Kosten (€)",
    "Optimalitätslücke (%)",
    "Methode",
)


# --------------------------------------------------------------------------- array core


@dataclass(frozen=True)
class PlacementSolution:
    """Result of :func:`solve_placement`.

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
class _Prepared:
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


def _as_vector(name: str, value: object, n: int, *, default: float | None = None) -> np.ndarray:
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


def _prepare(
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
) -> _Prepared:
    cover = sp.csr_matrix(cover, dtype=bool)
    cover.eliminate_zeros()
    n_d, n_k = cover.shape
    w = _as_vector("weights", weights, n_d)
    v = _as_vector("value_weights", value_weights, n_d, default=1.0)
    cost_arr = _as_vector("cost", cost, n_k, default=0.0)
    reach = np.asarray(cover.T.astype(float) @ w).ravel()
    if relax:
        cap = reach.copy()
        mins = np.zeros(n_k)
    else:
        cap = _as_vector("capacity", capacity, n_k)
        mins = _as_vector("min_size", min_size, n_k)
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
    return _Prepared(
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


def _expand(prep: _Prepared, x: np.ndarray) -> sp.csr_matrix:
    """Merged edge flow → original points × all candidates."""
    mc = prep.merged.cover
    flow_m = sp.csr_matrix((x, mc.indices.copy(), mc.indptr.copy()), shape=mc.shape)
    flow = _milp.unmerge_flow(prep.merged, prep.weights, flow_m)
    flow = sp.csr_matrix((flow.data, prep.eligible[flow.indices], flow.indptr), shape=prep.cover.shape)
    flow.eliminate_zeros()
    return flow


@dataclass
class _Block:
    """One independent part of the model (no shared demand point or conflict group)."""

    cols: np.ndarray  # candidate indices (eligible space)
    edge_pos: np.ndarray  # positions of its edges in merged.cover
    value: list[float] = field(default_factory=list)  # best value with ≤ k courses, k = 0, 1, …
    bound: list[float] = field(default_factory=list)  # upper bound with ≤ k courses
    sel: list[np.ndarray] = field(default_factory=list)
    x: list[np.ndarray] = field(default_factory=list)
    milp: list[bool] = field(default_factory=list)  # value came from HiGHS (not greedy)


def _blocks(prep: _Prepared) -> list[_Block]:
    """Split the candidates into independent blocks (connected components).

    Candidates are linked if a demand point may attend both or if they share a
    conflict group; candidate courses only serve their own level, so a block is at
    most one level (often smaller).
    """
    from scipy.sparse.csgraph import connected_components

    mc = prep.merged.cover
    n_k = mc.shape[1]
    m = mc.shape[0]
    # bipartite graph points + candidates (+ conflict groups)
    edge_d = np.repeat(np.arange(m), np.diff(mc.indptr))
    r = [edge_d, ]
    c = [m + mc.indices]
    if prep.groups is not None:
        valid = np.nonzero(prep.groups >= 0)[0]
        _, g_inv = np.unique(prep.groups[valid], return_inverse=True)
        r.append(m + n_k + g_inv)
        c.append(m + valid)
    n_g = int(r[-1].max()) + 1 - m - n_k if len(r) > 1 and len(r[-1]) else 0
    size = m + n_k + max(n_g, 0)
    rr, cc = np.concatenate(r), np.concatenate(c)
    graph = sp.csr_matrix((np.ones(len(rr), bool), (rr, cc)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    k_lab = labels[m: m + n_k]
    e_lab = k_lab[mc.indices]
    blocks = []
    for lab in np.unique(k_lab):
        blocks.append(_Block(np.nonzero(k_lab == lab)[0], np.nonzero(e_lab == lab)[0]))
    return blocks


def _sub_merged(merged: _milp.Merged, block: _Block) -> tuple[_milp.Merged, np.ndarray]:
    mc = merged.cover
    rows = np.unique(np.repeat(np.arange(mc.shape[0]), np.diff(mc.indptr))[block.edge_pos])
    sub = sp.csr_matrix(mc[rows][:, block.cols])
    sub.sort_indices()
    return _milp.Merged(merged.weights[rows], merged.values[rows], sub, np.zeros(0, np.int64)), rows


@dataclass
class _BlockCtx:
    """Per-block data kept between the improvement steps of :func:`_solve_blocks`."""

    sub: _milp.Merged
    kw: dict[str, np.ndarray | None]
    edge_minutes: np.ndarray | None
    sites: np.ndarray | None
    agg_state: dict[str, object] = field(default_factory=dict)
    compact: tuple[object, _milp.Layout] | None = None
    attempts: dict[int, int] = field(default_factory=dict)


def _monotone(b: _Block) -> None:
    """``k`` courses can do what ``k − 1`` did; a bound for ``k + 1`` also bounds ``k``."""
    for k in range(1, len(b.value)):
        if b.value[k] < b.value[k - 1]:
            b.value[k], b.sel[k], b.x[k], b.milp[k] = b.value[k - 1], b.sel[k - 1], b.x[k - 1], b.milp[k - 1]
    for k in range(len(b.bound) - 2, -1, -1):
        b.bound[k] = min(b.bound[k], b.bound[k + 1])
    for k in range(len(b.bound)):
        b.bound[k] = max(b.bound[k], b.value[k])


def _shortest_flow(merged: _milp.Merged, raw: _milp.RawResult, *, capacity: np.ndarray, min_size: np.ndarray,
                   edge_minutes: np.ndarray | None) -> np.ndarray:
    """The flow of ``raw``'s courses with the shortest trips among the best flows (``raw.x`` without minutes)."""
    if edge_minutes is None:
        return raw.x
    ev = _milp.evaluate_selection(merged, raw.selected, capacity=capacity, min_size=min_size,
                                  edge_minutes=edge_minutes)
    if ev is not None and ev[0] >= raw.objective - 1e-6 * max(1.0, raw.objective):
        return ev[1]
    return raw.x


def _improve(b: _Block, ctx: _BlockCtx, k: int, deadline: float, mip_rel_gap: float) -> None:
    """Spend time until ``deadline`` on block ``b`` with ``k`` courses.

    First the aggregated strong model (bound and candidate selections, refined
    while it helps); if that leaves the gap open, the compact MILP on the
    original points, started from the best known solution.
    """
    best = (b.value[k], b.sel[k], b.x[k], b.milp[k])
    bound = b.bound[k]
    attempt = ctx.attempts.get(k, 0)
    ctx.attempts[k] = attempt + 1
    best, bound = _aggregated_rounds(ctx.sub, ctx.kw, k, best, bound, deadline, mip_rel_gap=mip_rel_gap,
                                     state=ctx.agg_state, edge_minutes=ctx.edge_minutes)
    left = deadline - time.perf_counter()
    if best[0] < (1.0 - mip_rel_gap) * bound - 1e-9 and left > 0.05 and (attempt > 0 or ctx.agg_state.get("off")):
        if ctx.compact is None:
            ctx.compact = _milp.build_model(ctx.sub, **ctx.kw, budget_count=k, budget_euro=None,
                                            edge_minutes=ctx.edge_minutes, sites=ctx.sites)
        h, layout = ctx.compact
        h.changeRowBounds(layout.row_budget_count, -_milp._INF, float(k))
        start = np.concatenate([best[1].astype(float), best[2]]) if best[1].any() else None
        raw, mb = _milp.run_mip(h, layout, ctx.sub, time_limit_s=left, mip_rel_gap=mip_rel_gap, start=start,
                                budget_hint=k)
        bound = min(bound, mb)
        if raw is not None and raw.objective > best[0] + 1e-9:
            x = _shortest_flow(ctx.sub, raw, capacity=ctx.kw["capacity"], min_size=ctx.kw["min_size"],
                               edge_minutes=ctx.edge_minutes)
            best = (raw.objective, raw.selected, x, True)
    b.value[k], b.sel[k], b.x[k], b.milp[k] = float(best[0]), best[1], best[2], best[3]
    b.bound[k] = float(max(min(b.bound[k], bound), best[0]))
    _monotone(b)


def _solve_blocks(prep: _Prepared, kmax: int, *, time_limit_s: float, mip_rel_gap: float,
                  targets: tuple[int, ...] | None = None) -> list[_Block]:
    """Values and bounds of every block for 0 … ``kmax`` courses.

    Phase 1 gives every block and course count the greedy prefix (its best flow)
    and the combinatorial bound. Phase 2 repeatedly takes the budget split that
    maximises the summed bounds (the knapsack over blocks, see :func:`_combine`),
    picks its block with the largest gap and improves it (:func:`_improve`) until
    the combined gap for ``kmax`` courses is within ``mip_rel_gap`` or the time is
    used up. With ``targets`` (course counts ≤ ``kmax``) the gaps of these budgets
    are closed in this order instead. The combined bound is valid at every moment.
    """
    t0 = time.perf_counter()
    blocks = _blocks(prep)
    merged = prep.merged
    ctxs: list[_BlockCtx] = []
    for b in blocks:
        kb = len(b.cols)
        if prep.groups is not None:
            g = prep.groups[b.cols]
            kb = int((g < 0).sum() + len(np.unique(g[g >= 0])))
        kb = min(kmax, kb)
        sub, _ = _sub_merged(merged, b)
        n_b = len(b.cols)
        em = None if prep.edge_minutes is None else prep.edge_minutes[b.edge_pos]
        kw = {"capacity": prep.capacity[b.cols], "min_size": prep.min_size[b.cols], "cost": prep.cost[b.cols],
              "conflict_groups": None if prep.groups is None else prep.groups[b.cols]}
        total = float(np.dot(sub.weights, sub.values))
        ctx = _BlockCtx(sub, kw, em, None if prep.sites is None else prep.sites[b.cols])
        ctxs.append(ctx)
        b.value.append(0.0)
        b.bound.append(0.0)
        b.sel.append(np.zeros(n_b, bool))
        b.x.append(np.zeros(sub.cover.nnz))
        b.milp.append(False)
        order: list[int] = []
        _milp.greedy(sub, **kw, budget_count=kb, budget_euro=None, edge_minutes=em, order_out=order)
        for k in range(1, kb + 1):
            prev = (b.value[-1], b.sel[-1], b.x[-1], b.milp[-1])
            cand = [prev]
            if prev[0] < total * (1 - 1e-9) and len(order) >= k:
                g_sel = np.zeros(n_b, bool)
                g_sel[order[:k]] = True
                ev = _milp.evaluate_selection(sub, g_sel, capacity=kw["capacity"], min_size=kw["min_size"],
                                              edge_minutes=em)
                if ev is not None:
                    cand.append((ev[0], g_sel, ev[1], False))
            best = max(cand, key=lambda t: t[0])
            cheap = _milp.combinatorial_bound(sub, capacity=kw["capacity"], cost=kw["cost"], budget_count=k,
                                              budget_euro=None)
            b.value.append(float(best[0]))
            b.bound.append(float(max(min(cheap, total), best[0])))
            b.sel.append(best[1])
            b.x.append(best[2])
            b.milp.append(best[3])
            _monotone(b)
    logger.debug("Standortmodell Phase 1 (Greedy und einfache Schranken): %.2f s", time.perf_counter() - t0)
    # phase 2: improve the block and course count that limits the combined gap
    while True:
        left = time_limit_s - (time.perf_counter() - t0)
        for budget in targets or (kmax,):
            counts_v, value, bound = _combine(blocks, budget)
            if value < (1.0 - mip_rel_gap) * bound - 1e-9:
                break
        if value >= (1.0 - mip_rel_gap) * bound - 1e-9 or left <= 0.05:
            logger.debug("Standortmodell: %d Kurse, Wert %.3f, Schranke %.3f, Restzeit %.1f s", budget, value, bound,
                         left)
            break
        counts_u = _combine(blocks, budget, by="bound")[0]
        pick, pick_gap = None, 0.0
        for counts in (counts_u, counts_v):
            for i, (b, k) in enumerate(zip(blocks, counts, strict=True)):
                gap_bk = b.bound[k] - b.value[k]
                if k > 0 and ctxs[i].attempts.get(k, 0) < 6 and gap_bk > pick_gap + 1e-12:
                    pick, pick_gap = (i, k), gap_bk
            if pick is not None:
                break
        if pick is None:
            logger.debug("Standortmodell: keine Verbesserung mehr möglich (Wert %.3f, Schranke %.3f)", value, bound)
            break
        i, k = pick
        tries = ctxs[i].attempts.get(k, 0)
        slice_s = min(left, max(1.0, left * (0.25 if tries == 0 else 0.5)))
        t_pick = time.perf_counter()
        _improve(blocks[i], ctxs[i], k, t_pick + slice_s, mip_rel_gap)
        logger.debug("Block %d mit %d Kursen (Versuch %d, %.1f s): Wert %.3f, Schranke %.3f; gesamt %.3f / %.3f",
                     i, k, tries + 1, time.perf_counter() - t_pick, blocks[i].value[k], blocks[i].bound[k],
                     value, bound)
    return blocks


def _aggregated_rounds(
    sub: _milp.Merged,
    kw: dict[str, np.ndarray | None],
    k: int,
    best: tuple[float, np.ndarray, np.ndarray, bool],
    bound: float,
    deadline: float,
    *,
    mip_rel_gap: float,
    state: dict[str, object],
    edge_minutes: np.ndarray | None,
) -> tuple[tuple[float, np.ndarray, np.ndarray, bool], float]:
    """Bound and improve one block with ``k`` courses through aggregated models.

    Solves the aggregated strong model (:mod:`coverage.placement._aggregate`); its dual bound
    bounds the block, its selection evaluated on the original points is a
    candidate solution. While the gap is open and time is left, clusters that the
    aggregated solution over-served are split and the model is solved again.
    ``state`` keeps the clustering and the built model between calls (for the
    next ``k`` of the same block). Returns the best solution and the bound.
    """
    if state.get("off"):
        return best, bound
    cap, mins = kw["capacity"], kw["min_size"]
    for _ in range(50):
        left = deadline - time.perf_counter()
        if left <= 0.05:
            break
        if "model" not in state:
            labels = state.get("labels")
            if labels is None:
                m = sub.cover.shape[0]
                labels = _aggregate.cluster_points(sub, n_clusters=int(np.clip(m // 6, 40, 250)))
                if labels is None or int(labels.max()) + 1 >= m:
                    state["off"] = True  # too large to cluster, or nothing to aggregate
                    return best, bound
            agg = _aggregate.aggregate(sub, labels)
            h, layout = _milp.build_model(agg.merged, **kw, budget_count=k, budget_euro=None,
                                          edge_weight=agg.edge_weight)
            state.update(labels=labels, model=(agg, h, layout))
        agg, h, layout = state["model"]  # type: ignore[misc]
        h.changeRowBounds(layout.row_budget_count, -_milp._INF, float(k))
        raw, mb = _milp.run_mip(h, layout, agg.merged, time_limit_s=left, mip_rel_gap=mip_rel_gap / 2,
                                budget_hint=k)
        bound = min(bound, mb)
        fine = None
        if raw is not None and raw.selected.any():
            ev = _milp.evaluate_selection(sub, raw.selected, capacity=cap, min_size=mins, edge_minutes=edge_minutes)
            if ev is not None:
                fine = ev[1]
                if ev[0] > best[0] + 1e-9:
                    best = (float(ev[0]), raw.selected, ev[1], True)
        logger.debug("Aggregiertes Modell (%d Cluster, %d Kurse): Schranke %.3f, bester Wert %.3f",
                     agg.merged.cover.shape[0], k, bound, best[0])
        if best[0] >= (1.0 - mip_rel_gap) * bound - 1e-9 or raw is None or raw.status != "optimal":
            break
        labels = _aggregate.refine(sub, agg, raw.x, fine, max_split=max(8, agg.merged.cover.shape[0] // 5))
        if np.array_equal(labels, agg.labels):
            break
        state["labels"] = labels
        del state["model"]
    return best, bound


def _combine(blocks: list[_Block], budget: int, *, by: str = "value") -> tuple[list[int], float, float]:
    """Knapsack over blocks: course counts per block maximising the value; also the bound.

    With ``by="bound"`` the counts are those of the split that maximises the
    summed bounds (where the combined bound is attained).
    """

    def dp(table: list[list[float]]) -> tuple[np.ndarray, list[np.ndarray]]:
        best = np.zeros(budget + 1)
        choice = []
        for vals in table:
            v = np.asarray(vals)
            new = np.full(budget + 1, -np.inf)
            arg = np.zeros(budget + 1, np.int64)
            for k in range(min(len(v) - 1, budget) + 1):
                cand = np.full(budget + 1, -np.inf)
                cand[k:] = best[: budget + 1 - k] + v[k]
                better = cand > new + 1e-12
                new[better] = cand[better]
                arg[better] = k
            # ≤ budget: non-decreasing in the budget
            best = np.maximum.accumulate(new)
            idx = np.arange(budget + 1)
            pos = np.maximum.accumulate(np.where(new >= best - 1e-12, idx, 0))
            arg = arg[pos]
            choice.append((arg, pos))
        return best, choice

    best_v, choice_v = dp([b.value for b in blocks])
    best_u, choice_u = dp([b.bound for b in blocks])
    choice = choice_u if by == "bound" else choice_v
    counts = [0] * len(blocks)
    j = budget
    for i in range(len(blocks) - 1, -1, -1):
        arg, pos = choice[i]
        j = int(pos[j])
        counts[i] = int(arg[j])
        j -= counts[i]
    return counts, float(best_v[budget]), float(max(best_u[budget], best_v[budget]))


def _decomposed_solution(
    prep: _Prepared, blocks: list[_Block], budget: int, t0: float, common: dict[str, int], mip_rel_gap: float
) -> PlacementSolution:
    counts, value, bound = _combine(blocks, budget)
    n_k = prep.cover.shape[1]
    sel_sub = np.zeros(len(prep.eligible), bool)
    x = np.zeros(prep.merged.cover.nnz)
    any_milp = False
    for b, k in zip(blocks, counts, strict=True):
        sel_sub[b.cols] = b.sel[k]
        x[b.edge_pos] = b.x[k]
        any_milp |= b.milp[k]
    selected = np.zeros(n_k, bool)
    selected[prep.eligible[sel_sub]] = True
    flow = _expand(prep, x)
    gap = (bound - value) / abs(value) if abs(value) > 1e-12 else (0.0 if bound <= 1e-9 else float("inf"))
    status = "optimal" if gap <= mip_rel_gap + 1e-12 else "time_limit"
    return PlacementSolution(
        selected, flow, float(flow.sum()), float(value), float(bound), float(gap), status,
        time.perf_counter() - t0, "milp" if any_milp else "greedy", **common,
    )


def solve_placement(
    weights: np.ndarray,
    cover: sp.spmatrix | np.ndarray,
    *,
    capacity: np.ndarray | float | None = None,
    min_size: np.ndarray | float | None = None,
    cost: np.ndarray | float | None = None,
    budget_count: int | None = None,
    budget_euro: float | None = None,
    conflict_groups: np.ndarray | None = None,
    value_weights: np.ndarray | float | None = None,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 0.01,
    relax: bool = False,
    cost_minutes: sp.spmatrix | None = None,
    sites: np.ndarray | None = None,
    decompose: bool = True,
) -> PlacementSolution:
    """Choose courses that newly serve the most persons.

    Parameters
    ----------
    weights
        ``(n_d,)`` persons per demand point (expected values, ≥ 0).
    cover
        ``(n_d, n_k)`` sparse boolean: demand point d may attend candidate course k.
    capacity
        ``(n_k,)`` or scalar maximum group size (required unless ``relax``).
    min_size
        ``(n_k,)`` or scalar minimum group size (required unless ``relax``).
    cost
        ``(n_k,)`` or scalar cost in euros (default 0).
    budget_count
        At most this many courses (None: no limit).
    budget_euro
        Total cost at most this (None: no limit).
    conflict_groups
        ``(n_k,)`` int: at most one course per group label; ``-1`` = no group.
    value_weights
        ``(n_d,)`` value of serving one person of demand point d (default 1).
    time_limit_s
        Time limit of the MILP solver in seconds.
    mip_rel_gap
        Relative optimality gap at which the solver stops.
    relax
        Pure maximal covering (spopt's MCLP): no capacity, no minimum group; every
        covered person counts once.
    cost_minutes
        Optional ``(n_d, n_k)`` sparse travel minutes: among equally good
        solutions shorter trips win (tie-breaking only; reported numbers exclude it).
    sites
        Optional ``(n_k,)`` site label per candidate: among equally good solutions
        courses spread over sites (tie-breaking only).
    decompose
        With a course budget (no euro budget) solve every independent block
        (candidates sharing no demand point, e.g. the levels) for 0 … budget
        courses and combine the blocks by a knapsack DP; the bound is the DP over
        the blocks' bounds. ``False`` solves one joint MILP.

    Returns
    -------
    PlacementSolution

    Raises
    ------
    ValueError
        On inconsistent shapes, negative or missing values.
    OptimizationError
        If HiGHS fails.

    Notes
    -----
    Candidates whose reachable persons are fewer than their minimum group (or that
    cost more than the euro budget) are closed before solving. Demand points with
    identical coverage and equal value weight are merged (weights summed); the
    flow is split back in proportion to the weights. If the time limit passes
    without any incumbent, a greedy heuristic is used and the best bound (MILP dual
    bound or LP relaxation) is reported.
    """
    t0 = time.perf_counter()
    if budget_count is not None and budget_count < 0:
        raise ValueError("'budget_count' darf nicht negativ sein.")
    if budget_euro is not None and budget_euro < 0:
        raise ValueError("'budget_euro' darf nicht negativ sein.")
    if time_limit_s <= 0:
        raise ValueError("'time_limit_s' muss positiv sein.")
    prep = _prepare(
        weights, cover, capacity=capacity, min_size=min_size, cost=cost, budget_euro=budget_euro,
        conflict_groups=conflict_groups, value_weights=value_weights, relax=relax, cost_minutes=cost_minutes,
        sites=sites,
    )
    merged = prep.merged
    n_d, n_k = prep.cover.shape
    logger.info(
        "Standortmodell: %d Nachfragepunkte → %d nach Zusammenfassen, %d von %d Kandidaten tragfähig, %d Kanten.",
        n_d, merged.cover.shape[0], len(prep.eligible), n_k, merged.cover.nnz,
    )
    common = {"n_points": n_d, "n_points_merged": merged.cover.shape[0], "n_candidates_viable": len(prep.eligible)}
    if merged.cover.shape[0] == 0 or len(prep.eligible) == 0 or budget_count == 0:
        return PlacementSolution(
            np.zeros(n_k, bool), sp.csr_matrix((n_d, n_k)), 0.0, 0.0, 0.0, 0.0, "optimal",
            time.perf_counter() - t0, "milp", **common,
        )
    if decompose and budget_euro is None and budget_count is not None:
        # quick exit (as in the joint path): greedy within the gap of the simple bound
        g_quick = _milp.greedy(merged, capacity=prep.capacity, min_size=prep.min_size, cost=prep.cost,
                               budget_count=budget_count, budget_euro=None, conflict_groups=prep.groups)
        ev_quick = _milp.evaluate_selection(merged, g_quick, capacity=prep.capacity, min_size=prep.min_size)
        cheap_quick = _milp.combinatorial_bound(merged, capacity=prep.capacity, cost=prep.cost,
                                                budget_count=budget_count, budget_euro=None)
        if ev_quick is not None and ev_quick[0] >= (1.0 - mip_rel_gap) * cheap_quick - 1e-9:
            decompose = False  # the joint path returns the greedy solution at once
    if decompose and budget_euro is None:
        kmax = len(prep.eligible) if budget_count is None else int(budget_count)
        remaining = max(time_limit_s - (time.perf_counter() - t0), 0.05 * time_limit_s)
        blocks = _solve_blocks(prep, kmax, time_limit_s=remaining, mip_rel_gap=mip_rel_gap)
        sol = _decomposed_solution(prep, blocks, kmax, t0, common, mip_rel_gap)
        logger.info("Standortmodell (zerlegt in %d Blöcke) gelöst: %s", len(blocks), sol.stats())
        return sol
    model_kw = {"capacity": prep.capacity, "min_size": prep.min_size, "cost": prep.cost,
                "budget_count": budget_count, "budget_euro": budget_euro, "conflict_groups": prep.groups}
    # greedy start: HiGHS begins with a good incumbent, and it is the fallback
    g_sel = _milp.greedy(merged, **model_kw, edge_minutes=prep.edge_minutes)
    evaluated = _milp.evaluate_selection(merged, g_sel, capacity=prep.capacity, min_size=prep.min_size,
                                         edge_minutes=prep.edge_minutes)
    if evaluated is None:  # cannot happen: the greedy flow is feasible
        g_sel = np.zeros(len(prep.eligible), bool)
        evaluated = (0.0, np.zeros(merged.cover.nnz))
    g_value, g_x = evaluated
    cheap = _milp.combinatorial_bound(merged, capacity=prep.capacity, cost=prep.cost, budget_count=budget_count,
                                      budget_euro=budget_euro)
    if g_value >= (1.0 - mip_rel_gap) * cheap - 1e-9:
        # the greedy solution is already within the gap of a simple bound
        raw, bound = _milp.RawResult(g_sel, g_x, g_value, cheap, "optimal", "greedy", 0.0), cheap
    else:
        h, layout = _milp.build_model(merged, **model_kw, edge_minutes=prep.edge_minutes, sites=prep.sites)
        start = np.concatenate([g_sel.astype(float), g_x]) if g_sel.any() else None
        remaining = max(time_limit_s - (time.perf_counter() - t0), 0.05 * time_limit_s)
        raw, bound = _milp.run_mip(h, layout, merged, time_limit_s=remaining, mip_rel_gap=mip_rel_gap,
                                   start=start, budget_hint=budget_count)
        bound = min(bound, cheap)
        if raw is not None and bound <= (1.0 + mip_rel_gap) * raw.objective:
            raw.status = "optimal"
    if raw is not None and raw.objective > g_value + 1e-9:
        sel_sub, objective, status, method = raw.selected, raw.objective, raw.status, "milp"
        x = _shortest_flow(merged, raw, capacity=prep.capacity, min_size=prep.min_size,
                           edge_minutes=prep.edge_minutes)
    else:
        if raw is None:
            logger.warning("Zeitlimit ohne Lösung des MILP erreicht; Greedy-Lösung wird verwendet.")
        sel_sub, x, objective, method = g_sel, g_x, g_value, "greedy"
        status = raw.status if raw is not None else "greedy"
        if not np.isfinite(bound):
            bound = min(cheap, _milp.solve_lp_bound(merged, **model_kw, time_limit_s=max(30.0, 5 * time_limit_s)))
    bound = max(bound, objective)
    selected = np.zeros(n_k, bool)
    selected[prep.eligible[sel_sub]] = True
    flow = _expand(prep, x)
    gap = (bound - objective) / abs(objective) if abs(objective) > 1e-12 else (0.0 if bound <= 1e-9 else float("inf"))
    sol = PlacementSolution(
        selected, flow, float(flow.sum()), float(objective), float(bound), float(gap), status,
        time.perf_counter() - t0, method, **common,
    )
    logger.info("Standortmodell gelöst: %s", sol.stats())
    return sol


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
    w = _as_vector("weights", weights, n_d)
    v = _as_vector("value_weights", value_weights, n_d, default=1.0)
    cap = _as_vector("capacity", capacity, n_k)
    mins = _as_vector("min_size", min_size, n_k)
    idx = np.nonzero(sel)[0]
    merged = _milp.merge_demand(w, v, cover[:, idx])
    if merged.cover.shape[0] == 0:
        return (0.0, sp.csr_matrix((n_d, n_k))) if not (mins[idx] > 1e-9).any() else None
    res = _milp.evaluate_selection(merged, np.ones(len(idx), bool), capacity=cap[idx], min_size=mins[idx])
    if res is None:
        return None
    value, x = res
    prep = _Prepared(w, v, cover, cap[idx], mins[idx], np.zeros(len(idx)), None, idx, merged)
    return value, _expand(prep, x)


def marginal_curve(
    weights: np.ndarray,
    cover: sp.spmatrix | np.ndarray,
    *,
    max_courses: int,
    capacity: np.ndarray | float,
    min_size: np.ndarray | float,
    cost: np.ndarray | float | None = None,
    budget_euro: float | None = None,
    conflict_groups: np.ndarray | None = None,
    value_weights: np.ndarray | float | None = None,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 0.01,
) -> pd.DataFrame:
    """Newly served persons with 1 … ``max_courses`` new courses.

    Without a euro budget the model is split into independent blocks (see
    :func:`solve_placement`); every block is solved once for 0 … ``max_courses``
    courses and each point of the curve is a knapsack DP over the blocks (the whole
    curve within ``time_limit_s``). With a euro budget every k is a joint solve
    (``time_limit_s`` each). The curve is non-decreasing.

    Returns
    -------
    DataFrame
        Columns ``Anzahl Kurse``, ``neu versorgte Personen``, ``Zuwachs``,
        ``Kosten (€)``, ``Optimalitätslücke (%)``, ``Methode``.
    """
    if max_courses < 0:
        raise ValueError("'max_courses' darf nicht negativ sein.")
    cost_arr = _as_vector("cost", cost, sp.csr_matrix(cover).shape[1], default=0.0)
    if budget_euro is None:
        t0 = time.perf_counter()
        prep = _prepare(weights, cover, capacity=capacity, min_size=min_size, cost=cost_arr, budget_euro=None,
                        conflict_groups=conflict_groups, value_weights=value_weights, relax=False)
        return _curve_from_blocks(prep, max_courses, t0, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    rows: list[dict[str, object]] = []
    previous = 0.0
    for k in range(1, max_courses + 1):
        sol = solve_placement(
            weights, cover, capacity=capacity, min_size=min_size, cost=cost_arr, budget_count=k,
            budget_euro=budget_euro, conflict_groups=conflict_groups, value_weights=value_weights,
            time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
        )
        rows.append(_curve_row(k, sol, previous, cost_arr))
        previous = float(rows[-1]["neu versorgte Personen"])  # type: ignore[arg-type]
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def _curve_row(k: int, sol: PlacementSolution, previous: float, cost_arr: np.ndarray) -> dict[str, object]:
    persons = max(sol.served_new, previous)  # k courses can always do what k − 1 did
    gap = sol.gap if np.isfinite(sol.gap) else 0.0
    return dict(zip(CURVE_COLUMNS, (
        k, persons, persons - previous, float(cost_arr[sol.selected].sum()), round(100.0 * max(gap, 0.0), 3),
        sol.method,
    ), strict=True))


def _curve_from_blocks(
    prep: _Prepared, max_courses: int, t0: float, *, time_limit_s: float, mip_rel_gap: float,
    blocks: list[_Block] | None = None,
) -> pd.DataFrame:
    n_d, n_k = prep.cover.shape
    common = {"n_points": n_d, "n_points_merged": prep.merged.cover.shape[0],
              "n_candidates_viable": len(prep.eligible)}
    cost_full = np.zeros(n_k)
    cost_full[prep.eligible] = prep.cost
    if blocks is None:
        if prep.merged.cover.shape[0] == 0 or len(prep.eligible) == 0 or max_courses == 0:
            blocks = []
        else:
            blocks = _solve_blocks(prep, max_courses, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    rows: list[dict[str, object]] = []
    previous = 0.0
    for k in range(1, max_courses + 1):
        if blocks:
            sol = _decomposed_solution(prep, blocks, k, t0, common, mip_rel_gap)
        else:
            sol = PlacementSolution(np.zeros(n_k, bool), sp.csr_matrix((n_d, n_k)), 0.0, 0.0, 0.0, 0.0, "optimal",
                                    0.0, "milp", **common)
        rows.append(_curve_row(k, sol, previous, cost_full))
        previous = float(rows[-1]["neu versorgte Personen"])  # type: ignore[arg-type]
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


# --------------------------------------------------------------------------- pipeline wrappers


def candidate_courses(
    candidates: pd.DataFrame, *, params: Parameters, levels: tuple[str, ...] = LEVELS
) -> pd.DataFrame:
    """One hypothetical county-funded course per site × level × available slot.

    Parameters
    ----------
    candidates
        Candidate sites with ``standort_id``, ``name``, ``art``, ``verfuegbar``
        (tuple of slot keys), ``gemeinde_ars``, ``mk_ars`` (and ``geometry`` if a
        GeoDataFrame; it is kept).
    params
        Analysis parameters (slot times, group sizes, costs).
    levels
        Levels offered (default all).

    Returns
    -------
    DataFrame
        Columns ``kurs_id`` (``NEU-<standort_id>-<niveau>-<slot>``), ``standort_id``,
        ``kursname``, ``kursort``, ``niveau``, ``niveaus`` (1-tuple), ``kursart``
        (``landkreis``), ``slot``, ``wochentage`` (tuple of weekday numbers),
        ``beginn``/``ende`` (minutes after midnight), ``kinderbetreuung``,
        ``plaetze``, ``min_gruppe``, ``kosten``, ``gemeinde_ars``, ``mk_ars``,
        ``konfliktgruppe`` (same site × level × slot) and ``geometry`` if given.
        A GeoDataFrame in, a GeoDataFrame out.
    """
    missing = [c for c in SITE_COLUMNS if c not in candidates.columns]
    if missing:
        raise InputDataError(f"Kandidatenstandorte: es fehlen die Spalten {missing}.")
    cap = int(params.max_gruppe[KURSART])
    mins = int(params.min_gruppe[KURSART])
    records: list[dict[str, object]] = []
    positions: list[int] = []
    for pos, row in enumerate(candidates.itertuples(index=False)):
        slots = row.verfuegbar
        if isinstance(slots, str):
            slots = tuple(s.strip() for s in slots.replace(";", ",").split(",") if s.strip())
        for slot in slots:
            if slot not in SLOTS:
                raise InputDataError(
                    f"Unbekanntes Zeitfenster '{slot}'; erlaubt: {', '.join(SLOTS)}.",
                    column="verfuegbar", value=slot, row=pos + 1,
                )
        for level in levels:
            for slot in SLOTS:
                if slot not in slots:
                    continue
                beginn, ende, tage = params.slot_zeiten[slot]
                records.append({
                    "kurs_id": f"NEU-{row.standort_id}-{level}-{slot}",
                    "standort_id": row.standort_id,
                    "kursname": f"Landkreis-Kurs {level} {SLOT_LABELS[slot]}",
                    "kursort": row.name,
                    "niveau": level,
                    "niveaus": (level,),
                    "kursart": KURSART,
                    "slot": slot,
                    "wochentage": tuple(tage),
                    "beginn": int(beginn),
                    "ende": int(ende),
                    "kinderbetreuung": slot == "vormittag_kinderbetreuung",
                    "plaetze": cap,
                    "min_gruppe": mins,
                    "kosten": float(params.kosten[slot]),
                    "gemeinde_ars": row.gemeinde_ars,
                    "mk_ars": row.mk_ars,
                })
                positions.append(pos)
    out = pd.DataFrame.from_records(records, columns=[
        "kurs_id", "standort_id", "kursname", "kursort", "niveau", "niveaus", "kursart", "slot", "wochentage",
        "beginn", "ende", "kinderbetreuung", "plaetze", "min_gruppe", "kosten", "gemeinde_ars", "mk_ars",
    ])
    out["konfliktgruppe"] = out.groupby(["standort_id", "niveau", "slot"], sort=False).ngroup().astype(np.int64)
    if out["kurs_id"].duplicated().any():
        dup = out.loc[out["kurs_id"].duplicated(), "kurs_id"].iloc[0]
        logger.warning("Kandidatenkurs %s kommt mehrfach vor (Standort-ID doppelt); höchstens einer wird gewählt.", dup)
    if "geometry" in candidates.columns:
        import geopandas as gpd

        geom = candidates.geometry.iloc[positions].reset_index(drop=True)
        crs = getattr(candidates, "crs", None)
        return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geom.values, crs=crs), crs=crs)
    return out


@dataclass(frozen=True)
class PlacementResult:
    """Proposals for new county-funded courses.

    Attributes
    ----------
    proposals
        Ranked proposals with German columns (see :data:`PROPOSAL_COLUMNS`).
    curve
        Marginal-value curve (see :func:`marginal_curve`).
    solution
        The array-level solution (gap, time, method, merged point count).
    courses
        All candidate courses (from :func:`candidate_courses`), with ``gewaehlt``.
    assignment
        Expected persons per segment and proposed course: ``herkunft_id``,
        ``niveau``, ``gruppe``, ``kurs_id``, ``personen``.
    budget_count, budget_euro
        Budgets used.
    """

    proposals: pd.DataFrame
    curve: pd.DataFrame
    solution: PlacementSolution
    courses: pd.DataFrame
    assignment: pd.DataFrame
    budget_count: int | None = None
    budget_euro: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _de(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}".replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _weekdays(days: tuple[int, ...]) -> str:
    days = tuple(sorted(days))
    if len(days) >= 3 and days == tuple(range(days[0], days[-1] + 1)):
        return f"{WEEKDAYS[days[0]]}–{WEEKDAYS[days[-1]]}"
    return ", ".join(WEEKDAYS[d] for d in days)


def _slot_text(slot: str, params: Parameters) -> str:
    beginn, ende, tage = params.slot_zeiten[slot]
    return f"{SLOT_LABELS[slot]} {_hhmm(beginn)}–{_hhmm(ende)} ({_weekdays(tage)})"


def _slot_reason(slot: str, params: Parameters) -> str:
    beginn, _, _ = params.slot_zeiten[slot]
    if slot == "abend":
        return f"ab {_hhmm(beginn)} Uhr, auch für Berufstätige"
    if slot == "vormittag_kinderbetreuung":
        return f"vormittags ab {_hhmm(beginn)} Uhr mit Kinderbetreuung für Eltern"
    return f"vormittags ab {_hhmm(beginn)} Uhr"


def _join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " und " + names[-1]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    if len(values) == 0 or weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def propose_courses(
    segments: pd.DataFrame,
    candidates: pd.DataFrame,
    cover_fn: Callable[[pd.DataFrame], tuple[sp.spmatrix, sp.spmatrix]],
    *,
    params: Parameters,
    names: Mapping[str, str],
    budget_count: int | None = None,
    budget_euro: float | None = None,
    curve_max: int | None = None,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.01,
) -> PlacementResult:
    """Propose new county-funded courses for the persons without a course place.

    Parameters
    ----------
    segments
        Unserved demand: ``herkunft_id``, ``niveau``, ``gruppe``, ``unversorgt``
        (expected persons), ``mk_ars``, ``gemeinde_ars``.
    candidates
        Candidate sites (see :func:`candidate_courses`).
    cover_fn
        ``cover_fn(courses) -> (ok, minutes)``: for the candidate-course table,
        sparse ``(n_segments, n_courses)`` matrices: may segment i attend course k
        under the reach rules, and the travel minutes (shown in the table).
    params
        Analysis parameters; budgets default to ``params.budget_euro`` if set, else
        ``params.budget_kurse``.
    names
        ARS → display name for Gemeinden and Mitgliedskommunen.
    budget_count, budget_euro
        Override the budgets of ``params``.
    curve_max
        Largest course count in the marginal-value curve (default budget + 4).
    time_limit_s
        Solver time for the proposal and the curve together (default 60 s; with a
        euro budget the proposal and each curve point get this much each).
    mip_rel_gap
        Relative optimality gap at which the solver stops.

    Returns
    -------
    PlacementResult
    """
    missing = [c for c in SEGMENT_COLUMNS if c not in segments.columns]
    if missing:
        raise InputDataError(f"Nachfragesegmente: es fehlen die Spalten {missing}.")
    seg = segments.reset_index(drop=True)
    weights = pd.to_numeric(seg["unversorgt"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InputDataError("Nachfragesegmente: 'unversorgt' muss eine Zahl ≥ 0 sein.", column="unversorgt")
    courses = candidate_courses(candidates, params=params)
    n_s, n_k = len(seg), len(courses)
    ok, minutes = cover_fn(courses)
    ok = sp.csr_matrix(ok, dtype=bool)
    minutes = sp.csr_matrix(minutes, dtype=float)
    if ok.shape != (n_s, n_k) or minutes.shape != (n_s, n_k):
        raise InputDataError(
            f"cover_fn lieferte Matrizen der Form {ok.shape}/{minutes.shape}, erwartet ({n_s}, {n_k})."
        )
    # safety net: a course only serves its own level
    same_level = seg["niveau"].to_numpy()[ok.nonzero()[0]] == courses["niveau"].to_numpy()[ok.nonzero()[1]]
    if not same_level.all():
        logger.warning("cover_fn erlaubt %d Paare mit anderem Niveau; sie werden entfernt.", int((~same_level).sum()))
        r, c = ok.nonzero()
        ok = sp.csr_matrix((np.ones(int(same_level.sum()), bool), (r[same_level], c[same_level])), shape=ok.shape)

    if budget_count is None and budget_euro is None:
        if params.budget_euro is not None:
            budget_euro = params.budget_euro
        else:
            budget_count = params.budget_kurse
    capacity = courses["plaetze"].to_numpy(float)
    min_size = courses["min_gruppe"].to_numpy(float)
    cost = courses["kosten"].to_numpy(float)
    groups = courses["konfliktgruppe"].to_numpy(np.int64)
    sites = courses["standort_id"].astype(str).to_numpy()
    limit = 60.0 if time_limit_s is None else float(time_limit_s)
    if curve_max is None:
        base = budget_count if budget_count is not None else int(budget_euro // max(cost.min(initial=1.0), 1.0))
        curve_max = base + 4
    if budget_euro is None:
        # one decomposed solve gives the proposal and the whole curve
        t0 = time.perf_counter()
        # merge by coverage only: far fewer demand points and a much stronger solve on county data;
        # the travel tie-break then uses each merged point's person-weighted mean minutes
        prep = _prepare(weights, ok, capacity=capacity, min_size=min_size, cost=cost, budget_euro=None,
                        conflict_groups=groups, value_weights=None, relax=False, cost_minutes=minutes, sites=sites,
                        merge_minutes=None)
        common = {"n_points": n_s, "n_points_merged": prep.merged.cover.shape[0],
                  "n_candidates_viable": len(prep.eligible)}
        kmax = max(int(curve_max), int(budget_count))
        blocks = [] if prep.merged.cover.shape[0] == 0 or len(prep.eligible) == 0 or kmax == 0 else _solve_blocks(
            prep, kmax, time_limit_s=limit, mip_rel_gap=mip_rel_gap, targets=(int(budget_count), kmax))
        if blocks and budget_count > 0:
            sol = _decomposed_solution(prep, blocks, int(budget_count), t0, common, mip_rel_gap)
        else:
            sol = PlacementSolution(np.zeros(n_k, bool), sp.csr_matrix((n_s, n_k)), 0.0, 0.0, 0.0, 0.0, "optimal",
                                    time.perf_counter() - t0, "milp", **common)
        curve = _curve_from_blocks(prep, int(curve_max), t0, time_limit_s=limit, mip_rel_gap=mip_rel_gap,
                                   blocks=blocks)
    else:
        sol = solve_placement(
            weights, ok, capacity=capacity, min_size=min_size, cost=cost, budget_count=budget_count,
            budget_euro=budget_euro, conflict_groups=groups, time_limit_s=limit, mip_rel_gap=mip_rel_gap,
            cost_minutes=minutes, sites=sites,
        )
        curve = marginal_curve(
            weights, ok, max_courses=curve_max, capacity=capacity, min_size=min_size, cost=cost,
            conflict_groups=groups, time_limit_s=limit, mip_rel_gap=mip_rel_gap,
        )
    proposals, assignment = _proposal_table(seg, courses, ok, minutes, sol, weights, params=params, names=names)
    notes = (
        "Teilnehmendenzahlen sind Erwartungswerte aus dem Nachfragemodell, keine Anmeldungen.",
        f"Lösung: {sol.method}, Status {sol.status}, Optimalitätslücke {_de(100 * sol.gap, 2)} %, "
        f"Rechenzeit {_de(sol.solve_time_s, 1)} s, {sol.n_points} Nachfragesegmente zu "
        f"{sol.n_points_merged} Punkten zusammengefasst.",
    )
    courses = courses.assign(gewaehlt=sol.selected)
    return PlacementResult(proposals, curve, sol, courses, assignment, budget_count, budget_euro, notes)


def _proposal_table(
    seg: pd.DataFrame,
    courses: pd.DataFrame,
    ok: sp.csr_matrix,
    minutes: sp.csr_matrix,
    sol: PlacementSolution,
    weights: np.ndarray,
    *,
    params: Parameters,
    names: Mapping[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    policy = DisclosurePolicy(params.mindestanzahl)
    sel_idx = np.nonzero(sol.selected)[0]
    flow = sol.flow.tocsc()
    ok_csc = ok.tocsc()
    minutes_csc = minutes.tocsc()
    capacity = courses["plaetze"].to_numpy(float)
    min_size = courses["min_gruppe"].to_numpy(float)
    # marginal contribution: drop one course, re-optimise the others
    marginal = {}
    for k in sel_idx:
        rest = sol.selected.copy()
        rest[k] = False
        ev = evaluate_selection(weights, ok, rest, capacity=capacity, min_size=min_size)
        rest_value = ev[0] if ev is not None else 0.0
        marginal[k] = max(sol.served_new - rest_value, 0.0)
    mk = seg["mk_ars"].astype(str).to_numpy()
    gem = seg["gemeinde_ars"].astype(str).to_numpy()
    gruppe = seg["gruppe"].to_numpy()
    rows = []
    assign_parts = []
    for k in sel_idx:
        lo, hi = flow.indptr[k], flow.indptr[k + 1]
        d = flow.indices[lo:hi]
        f = flow.data[lo:hi]
        course = courses.iloc[k]
        # minutes of the assigned pairs (missing entries of the sparse matrix are 0 min)
        mcol = minutes_csc[:, k].toarray().ravel()[d]
        part = float(f.sum())
        by_mk = pd.Series(f).groupby(mk[d]).sum().sort_values(ascending=False)
        by_gem = pd.Series(f).groupby(gem[d]).sum().sort_values(ascending=False)
        by_group = pd.Series(f).groupby(gruppe[d]).sum()
        reach_rows = ok_csc.indices[ok_csc.indptr[k]: ok_csc.indptr[k + 1]]
        reach = float(weights[reach_rows].sum())
        main_gem = [names.get(a, a) for a, v in by_gem.items() if v >= 0.15 * part][:3]
        if not main_gem and len(by_gem):
            main_gem = [names.get(by_gem.index[0], by_gem.index[0])]
        extra = []
        for g in ("berufstaetig", "eltern"):
            if by_group.get(g, 0.0) >= 0.5:
                extra.append(f"davon {policy.text(by_group[g])} {GROUP_LABELS[g]}")
        reason = (
            f"{policy.text(reach)} Personen auf Niveau {course['niveau']} ohne erreichbaren Kursplatz können diesen "
            f"Kurs erreichen, vor allem aus {_join_names(main_gem)}; Mindestgruppe {int(min_size[k])} erreicht "
            f"({policy.text(part)} erwartet, höchstens {int(capacity[k])} Plätze)"
            + (f"; {'; '.join(extra)}" if extra else "")
            + f"; {_slot_reason(course['slot'], params)}."
        )
        rows.append({
            "Kurs-ID": course["kurs_id"],
            "Standort": course["kursort"],
            "Gemeinde": names.get(str(course["gemeinde_ars"]), str(course["gemeinde_ars"])),
            "Mitgliedskommune": names.get(str(course["mk_ars"]), str(course["mk_ars"])),
            "Niveau": course["niveau"],
            "Zeitfenster": _slot_text(course["slot"], params),
            # published counts only (coverage.outputs.disclosure): rounded, small ones suppressed
            "erwartete Teilnehmende": _published(policy, part),
            "Teilnehmende nach Mitgliedskommune": "; ".join(
                f"{names.get(a, a) or 'außerhalb des Kreises'} {policy.text(v)}" for a, v in by_mk.items() if v >= 0.05
            ),
            "neu versorgt": _published(policy, marginal[k]),
            "Reisezeit Median (min)": round(_weighted_median(mcol, f), 0),
            "Reisezeit max (min)": round(float(mcol.max()) if len(mcol) else float("nan"), 0),
            "Kosten (€)": float(course["kosten"]),
            "Begründung": reason,
            "_sort": (-marginal[k], float(course["kosten"]), -part),
        })
        assign_parts.append(pd.DataFrame({
            "herkunft_id": seg["herkunft_id"].to_numpy()[d],
            "niveau": seg["niveau"].to_numpy()[d],
            "gruppe": gruppe[d],
            "kurs_id": course["kurs_id"],
            "personen": f,
        }))
    rows.sort(key=lambda r: r["_sort"])
    for rank, r in enumerate(rows, start=1):
        r["Rang"] = rank
        del r["_sort"]
    proposals = pd.DataFrame(rows, columns=list(PROPOSAL_COLUMNS))
    assignment = (
        pd.concat(assign_parts, ignore_index=True) if assign_parts
        else pd.DataFrame(columns=["herkunft_id", "niveau", "gruppe", "kurs_id", "personen"])
    )
    return proposals, assignment


_EXPLANATION: tuple[tuple[str, str], ...] = (
    ("Rang", "Reihenfolge nach 'neu versorgt', bei Gleichstand nach Kosten (günstiger zuerst)."),
    ("erwartete Teilnehmende", "Erwartete Personen im Kurs nach der besten Aufteilung auf alle vorgeschlagenen "
     "Kurse; höchstens die Gruppengröße."),
    ("Teilnehmende nach Mitgliedskommune", "Herkunft der erwarteten Teilnehmenden (Erwartungswerte); Werte unter "
     "der Mindestanzahl werden aus Datenschutzgründen nur als „< Mindestanzahl“ angegeben."),
    ("neu versorgt", "So viele Personen blieben ohne Kursplatz, wenn nur dieser Kurs wegfiele und die übrigen "
     "Kurse neu aufgeteilt würden (Grenzbeitrag). Die Summe kann kleiner sein als die Gesamtzahl."),
    ("Reisezeit", "Tür-zu-Tür-Reisezeit ohne Auto (Median und Maximum über die erwarteten Teilnehmenden)."),
    ("Mindestgruppe", "Ein Kurs wird nur vorgeschlagen, wenn mindestens so viele Personen ihn erreichen, "
     "die nicht schon einem anderen Kurs zugeordnet sind."),
    ("Grenznutzen", "Neu versorgte Personen, wenn 1, 2, … Kurse optimal verteilt würden (ohne Euro-Budget)."),
    ("Hinweis", "Alle Personenzahlen sind Modellschätzungen (Erwartungswerte), keine Anmeldungen."),
)


def _published(policy: DisclosurePolicy, value: float) -> float:
    """A published count as a number (NaN when suppressed)."""
    out = policy.count(value)
    return float("nan") if out is None else out


def published_curve(curve: pd.DataFrame, policy: DisclosurePolicy) -> pd.DataFrame:
    """The marginal-value curve with published counts: the cumulative persons rounded, the gain from them."""
    out = curve.copy()
    if len(out) and "neu versorgte Personen" in out.columns:
        persons = policy.counts(pd.to_numeric(out["neu versorgte Personen"], errors="coerce").to_numpy(float))
        out["neu versorgte Personen"] = persons
        if "Zuwachs" in out.columns:
            out["Zuwachs"] = np.diff(np.r_[0.0, np.nan_to_num(persons)])
    return out


def write_proposals(
    result: PlacementResult, *, directory: str | Path, policy: DisclosurePolicy | None = None
) -> list[Path]:
    """Write ``vorschlaege.csv``, ``vorschlaege.xlsx``, ``grenznutzen.csv`` and ``grenznutzen.png``.

    All files are written atomically. Returns the written paths. The proposal table
    holds published counts already; the curve is published with ``policy``
    (default: ``mindestanzahl`` 5) before it is written or drawn.
    """
    policy = policy or DisclosurePolicy()
    curve = published_curve(result.curve, policy)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / "vorschlaege.csv"
    xlsx_path = directory / "vorschlaege.xlsx"
    curve_csv = directory / "grenznutzen.csv"
    curve_png = directory / "grenznutzen.png"
    write_csv(csv_path, result.proposals)
    stats = result.solution.stats()
    explanation = pd.DataFrame(
        list(_EXPLANATION)
        + [("Budget", f"{result.budget_count} Kurse" if result.budget_count is not None
            else f"{_de(result.budget_euro or 0.0, 0)} €")]
        + [(f"Lösung: {k}", str(v)) for k, v in stats.items()]
        + [("Hinweis", n) for n in result.notes],
        columns=["Begriff", "Erläuterung"],
    )
    write_xlsx(xlsx_path, {"Vorschläge": result.proposals, "Grenznutzen": curve, "Erläuterung": explanation})
    write_csv(curve_csv, curve)
    _plot_curve(result, curve, curve_png)
    return [csv_path, xlsx_path, curve_csv, curve_png]


def _plot_curve(result: PlacementResult, curve: pd.DataFrame, target: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if len(curve):
        k = curve["Anzahl Kurse"].to_numpy()
        ax.bar(k, curve["Zuwachs"].to_numpy(), color="#9ecae1", label="Zuwachs je zusätzlichem Kurs")
        ax.plot(k, curve["neu versorgte Personen"].to_numpy(), "o-", color="#08519c", label="neu versorgte Personen")
        if result.budget_count is not None and result.budget_count <= k.max():
            ax.axvline(result.budget_count, color="#a50f15", ls="--", lw=1, label="Budget")
        ax.set_xticks(k)
    ax.set_xlabel("Anzahl neuer landkreisgeförderter Kurse")
    ax.set_ylabel("Personen (Erwartungswert)")
    ax.set_title("Grenznutzen zusätzlicher Kurse")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
