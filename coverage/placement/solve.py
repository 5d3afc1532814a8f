"""Solving the placement model: decomposition into independent blocks (levels) and the joint MILP.

:func:`solve_placement` is the array front end. Without a euro budget the model is
split into independent blocks (:func:`solve_decomposed`): every block is solved for
0 … k courses (greedy prefix, combinatorial and aggregated bounds, compact MILP)
and the blocks are combined by a knapsack DP over the course counts. The
resulting :class:`Decomposition` gives the best solution for every budget up to
k; :mod:`coverage.placement.curve` and :mod:`coverage.placement.proposals` use the
same object.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from coverage.placement import _aggregate, _milp
from coverage.placement.model import PlacementSolution, Prepared, expand, prepare

__all__ = ["Decomposition", "solve_decomposed", "solve_placement"]

logger = logging.getLogger(__name__)


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


def _blocks(prep: Prepared) -> list[_Block]:
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


def _solve_blocks(prep: Prepared, kmax: int, *, time_limit_s: float, mip_rel_gap: float,
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


@dataclass(frozen=True)
class Decomposition:
    """The blocks of one prepared model, each solved for 0 … ``kmax`` courses (see :func:`solve_decomposed`).

    Attributes
    ----------
    prep
        The prepared model.
    blocks
        Solved independent blocks (empty if nothing can be served or ``kmax`` is 0).
    kmax
        Largest course count solved for.
    t0
        Start time (``time.perf_counter()``) of the whole solve, for the reported time.
    mip_rel_gap
        Relative optimality gap that counts as optimal.
    """

    prep: Prepared
    blocks: list[_Block]
    kmax: int
    t0: float
    mip_rel_gap: float

    @property
    def common(self) -> dict[str, int]:
        """Size figures of the model (for :class:`PlacementSolution`)."""
        return {"n_points": self.prep.cover.shape[0], "n_points_merged": self.prep.merged.cover.shape[0],
                "n_candidates_viable": len(self.prep.eligible)}

    def solution(self, budget: int) -> PlacementSolution:
        """Best known solution with at most ``budget`` (≤ ``kmax``) courses: a knapsack DP over the blocks."""
        prep = self.prep
        n_d, n_k = prep.cover.shape
        if not self.blocks or budget <= 0:
            return PlacementSolution(np.zeros(n_k, bool), sp.csr_matrix((n_d, n_k)), 0.0, 0.0, 0.0, 0.0, "optimal",
                                     time.perf_counter() - self.t0, "milp", **self.common)
        counts, value, bound = _combine(self.blocks, budget)
        sel_sub = np.zeros(len(prep.eligible), bool)
        x = np.zeros(prep.merged.cover.nnz)
        any_milp = False
        for b, k in zip(self.blocks, counts, strict=True):
            sel_sub[b.cols] = b.sel[k]
            x[b.edge_pos] = b.x[k]
            any_milp |= b.milp[k]
        selected = np.zeros(n_k, bool)
        selected[prep.eligible[sel_sub]] = True
        flow = expand(prep, x)
        gap = (bound - value) / abs(value) if abs(value) > 1e-12 else (0.0 if bound <= 1e-9 else float("inf"))
        status = "optimal" if gap <= self.mip_rel_gap + 1e-12 else "time_limit"
        return PlacementSolution(
            selected, flow, float(flow.sum()), float(value), float(bound), float(gap), status,
            time.perf_counter() - self.t0, "milp" if any_milp else "greedy", **self.common,
        )


def solve_decomposed(
    prep: Prepared,
    kmax: int,
    *,
    time_limit_s: float,
    mip_rel_gap: float,
    targets: tuple[int, ...] | None = None,
    t0: float | None = None,
) -> Decomposition:
    """Solve every independent block of ``prep`` for 0 … ``kmax`` courses (no euro budget).

    Parameters
    ----------
    prep
        The prepared model (:func:`coverage.placement.model.prepare`).
    kmax
        Largest course count.
    time_limit_s
        Time for all blocks together.
    mip_rel_gap
        Relative optimality gap at which a budget counts as solved.
    targets
        Course counts (≤ ``kmax``) whose gaps are closed first, in this order
        (default: ``kmax`` only).
    t0
        Start time of the caller's solve (default: now).

    Returns
    -------
    Decomposition
    """
    t0 = time.perf_counter() if t0 is None else t0
    if prep.merged.cover.shape[0] == 0 or len(prep.eligible) == 0 or kmax == 0:
        blocks: list[_Block] = []
    else:
        blocks = _solve_blocks(prep, kmax, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, targets=targets)
    return Decomposition(prep, blocks, int(kmax), t0, mip_rel_gap)


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
    prep = prepare(
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
        parts = solve_decomposed(prep, kmax, time_limit_s=remaining, mip_rel_gap=mip_rel_gap, t0=t0)
        sol = parts.solution(kmax)
        logger.info("Standortmodell (zerlegt in %d Blöcke) gelöst: %s", len(parts.blocks), sol.stats())
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
    flow = expand(prep, x)
    gap = (bound - objective) / abs(objective) if abs(objective) > 1e-12 else (0.0 if bound <= 1e-9 else float("inf"))
    sol = PlacementSolution(
        selected, flow, float(flow.sum()), float(objective), float(bound), float(gap), status,
        time.perf_counter() - t0, method, **common,
    )
    logger.info("Standortmodell gelöst: %s", sol.stats())
    return sol


