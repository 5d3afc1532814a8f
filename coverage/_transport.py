"""Exact solver of the seat assignment (a transportation problem) as a min-cost flow (private).

The network has a node per segment (group of identical segments) with its
persons as supply, a node per course and a root node that absorbs all flow:

* pair arcs segment → course (cost ``t − M``, unbounded),
* course arcs course → root (cost 0, capacity = seats),
* "unserved" arcs segment → root (cost 0, unbounded).

With ``M = n_courses · max(t) + 1`` a flow that serves fewer persons is never
optimal (see :mod:`coverage.assignment`), so the min-cost flow is the
lexicographic optimum: most persons served, then fewest minutes.

The start basis is a greedy assignment: every segment takes its cheapest course if
that course still has more free seats than the segment has persons, else it stays
unserved. If no course fills up this way, the start is already optimal and the
network simplex (:mod:`coverage._netsimplex`) only proves it. Otherwise segments
are visited by increasing minutes to their cheapest course, pairs that can never
carry flow are dropped first (exactly, see :func:`_prune_sorted`), and the simplex
pivots from the start. The basis is a spanning tree of depth 2 rooted at the root
node; all tree arcs point towards the root and none is saturated, so it is
strongly feasible.
"""

from __future__ import annotations

import numpy as np

from ._compat import import_numba
from ._netsimplex import LOWER, TREE, network_simplex
from .errors import OptimizationError

_numba = import_numba()
njit = _numba.njit

__all__ = ["assign_csr", "group_rows", "solve_transport"]


@njit(cache=True, nogil=True)
def _mix(h, v):  # pragma: no cover - numba
    """splitmix64-style mixing of ``v`` into ``h`` (uint64 arithmetic wraps)."""
    z = h ^ (v + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2)))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _group_rows_kernel(indptr, indices, bits):  # pragma: no cover - numba
    n = indptr.shape[0] - 1
    hashes = np.empty(n, np.uint64)
    for s in range(n):
        h = np.uint64(indptr[s + 1] - indptr[s])
        for q in range(indptr[s], indptr[s + 1]):
            h = _mix(h, bits[q] ^ (np.uint64(indices[q]) * np.uint64(0xD6E8FEB86659FD93)))
        hashes[s] = h
    size = 1
    while size < 2 * n + 2:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, np.int64)  # representative row of the slot
    group = np.empty(n, np.int64)
    rep_group = np.empty(n, np.int64)
    n_groups = 0
    for s in range(n):
        slot = hashes[s] & mask
        while True:
            r = table[slot]
            if r < 0:
                table[slot] = s
                group[s] = n_groups
                rep_group[s] = n_groups
                n_groups += 1
                break
            if hashes[r] == hashes[s] and indptr[r + 1] - indptr[r] == indptr[s + 1] - indptr[s]:
                same = True
                a = indptr[r]
                b = indptr[s]
                for k in range(indptr[s + 1] - indptr[s]):
                    if indices[a + k] != indices[b + k] or bits[a + k] != bits[b + k]:
                        same = False
                        break
                if same:
                    group[s] = rep_group[r]
                    break
            slot = (slot + np.uint64(1)) & mask
    rep = np.empty(n_groups, np.int64)
    seen = np.zeros(n_groups, np.bool_)
    for s in range(n):
        g = group[s]
        if not seen[g]:
            seen[g] = True
            rep[g] = s
    return group, rep


def group_rows(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group the rows of a CSR matrix (sorted indices) that are exactly equal (pattern and values).

    Rows are hashed, and rows with equal hashes are compared entry by entry, so
    the grouping is exact. Groups are numbered in the order of their first row.

    Returns
    -------
    group : numpy.ndarray
        ``(n_rows,)`` group of every row.
    rep : numpy.ndarray
        ``(n_groups,)`` first row of every group.
    """
    bits = np.ascontiguousarray(data, dtype=np.float64).view(np.uint64)
    bits = np.where(np.asarray(data) == 0, np.uint64(0), bits)  # -0.0 == 0.0
    return _group_rows_kernel(np.asarray(indptr, np.int64), np.asarray(indices, np.int64), bits)


@njit(cache=True, nogil=True)
def _argmin_row(indptr, t, g):  # pragma: no cover - numba
    """Position of the first smallest ``t`` in row ``g`` (−1 for an empty row)."""
    best = -1
    bt = np.inf
    for q in range(indptr[g], indptr[g + 1]):
        if t[q] < bt:
            bt = t[q]
            best = q
    return best


@njit(cache=True, nogil=True)
def _crash(indptr, cols, t, supply, capacity, n_p, n_c, n_g, order):  # pragma: no cover - numba
    """Greedy start basis (see module docstring): flow, state, parent and parent arc of every node.

    Segments are visited in ``order``; each takes its cheapest course (the first of
    equally cheap ones) if that course has more free seats than the segment has
    persons, else it stays unserved.
    """
    root = n_g + n_c
    m = n_p + n_c + n_g
    flow = np.zeros(m)
    state = np.full(m, LOWER, np.int8)
    parent = np.full(root + 1, root, np.int64)
    pedge = np.full(root + 1, -1, np.int64)
    parent[root] = -1
    free = capacity.copy()
    for k in range(order.shape[0]):
        g = order[k]
        best = _argmin_row(indptr, t, g)
        b = supply[g]
        if best >= 0 and free[cols[best]] - b > 1e-12 * (1.0 + b):
            c = cols[best]
            free[c] -= b
            flow[best] = b
            state[best] = TREE
            parent[g] = n_g + c
            pedge[g] = best
    for g in range(n_g):
        if pedge[g] < 0:
            e = n_p + n_c + g
            flow[e] = supply[g]
            state[e] = TREE
            pedge[g] = e
    for c in range(n_c):
        e = n_p + c
        flow[e] = capacity[c] - free[c]
        state[e] = TREE
        pedge[n_g + c] = e
    return flow, state, parent, pedge


@njit(cache=True, nogil=True)
def _prune_sorted(order, indptr, cols, t, supply, n_c, bound):  # pragma: no cover - numba
    """Pairs that may carry flow in some optimum (exact; see :mod:`coverage.assignment`).

    If the segments at least as cheap as pair ``q`` at its course hold at least
    ``bound`` persons (≥ the most persons that can be served), a more expensive
    pair of that course never needs flow.
    """
    n_p = cols.shape[0]
    rows = np.empty(n_p, np.int64)
    for g in range(indptr.shape[0] - 1):
        for q in range(indptr[g], indptr[g + 1]):
            rows[q] = g
    cum = np.zeros(n_c)
    cut = np.full(n_c, np.inf)
    reach = bound * (1.0 - 1e-12) - 1e-9
    for k in range(n_p):
        q = order[k]
        c = cols[q]
        if cut[c] == np.inf:
            cum[c] += supply[rows[q]]
            if cum[c] >= reach:
                cut[c] = t[q]
    keep = np.empty(n_p, np.bool_)
    for q in range(n_p):
        keep[q] = t[q] <= cut[cols[q]]
    return keep


@njit(cache=True, nogil=True)
def _cheapest(indptr, cols, t, supply, capacity):  # pragma: no cover - numba
    """Cheapest minutes of every segment, and whether sending each there would fill some course."""
    n_g = indptr.shape[0] - 1
    load = np.zeros(capacity.shape[0])
    cheapest = np.full(n_g, np.inf)
    for g in range(n_g):
        best = _argmin_row(indptr, t, g)
        bt = t[best] if best >= 0 else np.inf
        cheapest[g] = bt
        if best >= 0:
            load[cols[best]] += supply[g]
    full = False
    for c in range(capacity.shape[0]):
        if load[c] >= capacity[c] * (1.0 - 1e-12):
            full = True
    return cheapest, full


def solve_transport(
    supply: np.ndarray,
    capacity: np.ndarray,
    indptr: np.ndarray,
    cols: np.ndarray,
    t: np.ndarray,
    *,
    max_pivots: int = 1 << 62,
) -> tuple[np.ndarray, int]:
    """Lexicographic optimum (most persons, then fewest minutes) of a transportation problem.

    Parameters
    ----------
    supply
        ``(n_g,)`` persons per segment, all ``> 0``.
    capacity
        ``(n_c,)`` seats per course, all ``> 0``.
    indptr, cols, t
        CSR ``(n_g, n_c)`` of the allowed pairs and their minutes (≥ 0).
    max_pivots
        Safety limit for the network simplex.

    Returns
    -------
    x : numpy.ndarray
        ``(n_pairs,)`` flow of every pair, aligned with ``cols``.
    pivots : int
        Pivots of the network simplex.

    Raises
    ------
    OptimizationError
        If the simplex stops without an optimum (cannot happen for valid input).
    """
    n_g, n_c, n_p = len(supply), len(capacity), len(cols)
    indptr = np.asarray(indptr, np.int64)
    cols = np.asarray(cols, np.int64)
    t = np.asarray(t, np.float64)
    if n_p == 0:
        return np.zeros(0), 0
    supply = np.asarray(supply, np.float64)
    capacity = np.asarray(capacity, np.float64)
    keep = None
    cheapest, congested = _cheapest(indptr, cols, t, supply, capacity)
    if congested:
        # congested: drop pairs that never carry flow (exact), visit segments by their cheapest minutes
        rows = np.repeat(np.arange(n_g, dtype=np.int64), np.diff(indptr))
        has_pair = np.diff(indptr) > 0
        bound = min(float(capacity.sum()), float(supply[has_pair].sum()))
        pair_supply = np.bincount(cols, weights=supply[rows], minlength=n_c)
        if pair_supply.max() >= bound * (1.0 - 1e-12) - 1e-9:
            keep = _prune_sorted(np.argsort(t).astype(np.int64), indptr, cols, t, supply, n_c, bound)
            if keep.all():
                keep = None
            else:
                indptr = np.zeros(n_g + 1, np.int64)
                np.cumsum(np.bincount(rows[keep], minlength=n_g), out=indptr[1:])
                cols = cols[keep]
                t = t[keep]
                n_p = len(cols)
        order = np.argsort(cheapest, kind="stable").astype(np.int64)  # a heuristic visiting order only
    else:
        # uncongested: every segment to its cheapest course is optimal
        order = np.arange(n_g, dtype=np.int64)
    big_m = n_c * float(t.max()) + 1.0
    root = n_g + n_c
    rows = np.repeat(np.arange(n_g, dtype=np.int64), np.diff(indptr))
    src = np.concatenate([rows, n_g + np.arange(n_c, dtype=np.int64), np.arange(n_g, dtype=np.int64)])
    dst = np.concatenate([n_g + cols, np.full(n_c + n_g, root, np.int64)])
    cap = np.concatenate([np.full(n_p, np.inf), np.asarray(capacity, np.float64), np.full(n_g, np.inf)])
    cost = np.concatenate([t - big_m, np.zeros(n_c + n_g)])
    flow, state, parent, pedge = _crash(indptr, cols, t, supply, capacity, n_p, n_c, n_g, order)
    # integer costs give integer reduced costs; otherwise a tolerance far below any real improvement
    tol = 1e-11 * big_m
    _, status, pivots = network_simplex(src, dst, cap, cost, flow, state, parent, pedge, root, tol, max_pivots)
    if status != 0:
        raise OptimizationError(f"Zuordnung zu Kursplätzen nicht lösbar (Netzwerk-Simplex, Status {status}).")
    x = np.maximum(flow[:n_p], 0.0)
    if keep is not None:
        full = np.zeros(len(keep))
        full[keep] = x
        x = full
    return x, int(pivots)


@njit(cache=True, nogil=True)
def _merged_problem(indptr, indices, t, rep, m_supply, capacity, tol):  # pragma: no cover - numba
    """The transportation problem of the merged segments with persons and the courses with seats."""
    n_g = rep.shape[0]
    g_pos = np.full(n_g, -1, np.int64)
    n_live = 0
    n_p = 0
    for g in range(n_g):
        if m_supply[g] > tol:
            r = rep[g]
            k = 0
            for q in range(indptr[r], indptr[r + 1]):
                if capacity[indices[q]] > tol:
                    k += 1
            if k > 0:
                g_pos[g] = n_live
                n_live += 1
                n_p += k
    live = np.empty(n_live, np.int64)
    ptr = np.zeros(n_live + 1, np.int64)
    cols = np.empty(n_p, np.int64)
    tt = np.empty(n_p, np.float64)
    fill = 0
    for g in range(n_g):
        i = g_pos[g]
        if i >= 0:
            live[i] = g
            r = rep[g]
            for q in range(indptr[r], indptr[r + 1]):
                c = indices[q]
                if capacity[c] > tol:
                    cols[fill] = c
                    tt[fill] = t[q]
                    fill += 1
            ptr[i + 1] = fill
    return g_pos, live, ptr, cols, tt


@njit(cache=True, nogil=True)
def _expand(group, supply, m_supply, g_pos, ptr, cols, tt, x, n_c):  # pragma: no cover - numba
    """Split the flow of every merged segment among its members in proportion to their persons."""
    n_s = group.shape[0]
    f_ptr = np.zeros(n_s + 1, np.int64)
    for s in range(n_s):
        i = g_pos[group[s]]
        k = 0
        if i >= 0 and supply[s] > 0.0:
            for q in range(ptr[i], ptr[i + 1]):
                if x[q] > 0.0:
                    k += 1
        f_ptr[s + 1] = f_ptr[s] + k
    nnz = f_ptr[n_s]
    f_idx = np.empty(nnz, np.int32)
    f_val = np.empty(nnz, np.float64)
    served = np.zeros(n_s)
    load = np.zeros(n_c)
    minutes = 0.0
    for s in range(n_s):
        if f_ptr[s + 1] == f_ptr[s]:
            continue
        g = group[s]
        i = g_pos[g]
        share = supply[s] / m_supply[g]
        w = f_ptr[s]
        total = 0.0
        for q in range(ptr[i], ptr[i + 1]):
            if x[q] > 0.0:
                v = x[q] * share
                f_idx[w] = cols[q]
                f_val[w] = v
                total += v
                load[cols[q]] += v
                minutes += v * tt[q]
                w += 1
        served[s] = min(total, supply[s])
    return f_ptr, f_idx, f_val, served, load, minutes


def assign_csr(
    supply: np.ndarray,
    capacity: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    minutes: np.ndarray,
    *,
    round_minutes: float | None = None,
    tol: float = 1e-9,
) -> dict[str, np.ndarray | float | int]:
    """Lexicographic seat assignment on CSR arrays (the core of :func:`coverage.assignment.assign`).

    Parameters
    ----------
    supply, capacity
        ``(n_s,)`` persons, ``(n_c,)`` seats (finite, ≥ 0).
    indptr, indices, minutes
        CSR ``(n_s, n_c)`` of the allowed pairs with sorted indices, no duplicates.
    round_minutes
        Round the minutes to this step first (None = exact minutes).
    tol
        Segments with at most ``tol`` persons and courses with at most ``tol``
        seats take no part.

    Returns
    -------
    dict
        ``indptr``, ``indices``, ``data`` (the flow, CSR ``(n_s, n_c)``), ``served``,
        ``load``, ``total_minutes`` (with the rounded minutes), ``n_variables``,
        ``n_groups``, ``pivots``.
    """
    supply = np.asarray(supply, np.float64)
    capacity = np.asarray(capacity, np.float64)
    t = np.asarray(minutes, np.float64)
    if round_minutes:
        t = np.round(t / round_minutes) * round_minutes
    group, rep = group_rows(indptr, indices, t)
    m_supply = np.bincount(group, weights=supply, minlength=len(rep))
    g_pos, live, ptr, cols, tt = _merged_problem(
        np.asarray(indptr, np.int64), np.asarray(indices, np.int64), t, rep, m_supply, capacity, tol
    )
    x, pivots = solve_transport(m_supply[live], capacity, ptr, cols, tt)
    f_ptr, f_idx, f_val, served, load, total = _expand(group, supply, m_supply, g_pos, ptr, cols, tt, x,
                                                       len(capacity))
    return {
        "indptr": f_ptr, "indices": f_idx, "data": f_val, "served": served, "load": load,
        "total_minutes": float(total), "n_variables": len(cols), "n_groups": len(rep), "pivots": pivots,
    }
