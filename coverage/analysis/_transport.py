"""Exact solver of the seat assignment (a transportation problem) as a min-cost flow (private).

The network has a node per segment (group of identical segments) with its
persons as supply, a node per course and a root node that absorbs all flow:

* pair arcs segment → course (cost ``t − M``, unbounded),
* course arcs course → root (cost 0, capacity = seats),
* "unserved" arcs segment → root (cost 0, unbounded).

With ``M = n_courses · max(t) + 1`` a flow that serves fewer persons is never
optimal (see :mod:`coverage.analysis.assignment`), so the min-cost flow is the
lexicographic optimum: most persons served, then fewest minutes.

The start basis is a greedy assignment: every segment takes its cheapest course if
that course still has more free seats than the segment has persons, else it stays
unserved. If no course fills up this way, the start is already optimal. Otherwise
segments are visited by increasing minutes to their cheapest course, pairs that
can never carry flow are dropped first (exactly, see :func:`_prune_sorted`), and
the network simplex (:mod:`coverage.analysis._netsimplex`) pivots from the start. The basis
is a spanning tree of depth 2 rooted at the root node; all tree arcs point towards
the root and none is saturated, so it is strongly feasible. Its reduced costs are
checked first with the simplex's own arithmetic (:func:`_start_is_optimal`): if no
arc would enter, the simplex would stop at once and is not started (the arcs are
not even built).

Large inputs: no array as long as the input's nonzeros is allocated (the minutes
are rounded where the kernels read them, int32 indices are used as they are), as
first touches of fresh memory cost more than the arithmetic here.
"""

from __future__ import annotations

import numpy as np

from coverage._compat import import_numba
from coverage.analysis._netsimplex import LOWER, TREE, network_simplex
from coverage.errors import OptimizationError

_numba = import_numba()
njit = _numba.njit

__all__ = ["assign_csr", "group_rows", "solve_transport"]


@njit(cache=True, nogil=True)
def _fmix(z):  # pragma: no cover - numba
    """splitmix64 finaliser of ``z`` (uint64 arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _rounded(x, rounded, step):  # pragma: no cover - numba
    """``x`` rounded like ``np.round(x / step) * step`` (half to even) if ``rounded``, else ``x``."""
    if rounded:
        return np.rint(x / step) * step
    return x


@njit(cache=True, nogil=True)
def _key(v):  # pragma: no cover - numba
    """The bits of ``v`` with −0.0 as 0.0: equal keys ⇔ equal values (NaN: equal bits)."""
    if v == 0.0:
        return np.uint64(0)
    return np.float64(v).view(np.uint64)


@njit(cache=True, nogil=True)
def _group_rows_kernel(indptr, indices, data, rounded, step):  # pragma: no cover - numba
    """Group of every row and first row of every group, of the values rounded on the fly (:func:`_rounded`).

    A row's hash is a sum over its entries (independent of each other, so the
    loop pipelines); with sorted indices the entries determine the row. Rows with
    equal hashes are compared exactly: first all raw entries at once (equal raw
    values round equally), entry by entry with rounding only if they differ.
    """
    n = indptr.shape[0] - 1
    hashes = np.empty(n, np.uint64)
    for s in range(n):
        h = np.uint64(0)
        for q in range(indptr[s], indptr[s + 1]):
            v = _key(_rounded(data[q], rounded, step))
            h += _fmix(v + np.uint64(indices[q]) * np.uint64(0xD6E8FEB86659FD93))
        hashes[s] = _fmix(h ^ np.uint64(indptr[s + 1] - indptr[s]))
    size = 1
    while size < 2 * n + 2:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, np.int32)  # group of the slot
    group = np.empty(n, np.int64)
    first = np.empty(n, np.int64)  # first row of every group
    n_groups = 0
    for s in range(n):
        a = indptr[s]
        length = indptr[s + 1] - a
        slot = hashes[s] & mask
        while True:
            g = table[slot]
            if g < 0:
                table[slot] = n_groups
                group[s] = n_groups
                first[n_groups] = s
                n_groups += 1
                break
            r = first[g]
            if hashes[r] == hashes[s] and indptr[r + 1] - indptr[r] == length:
                b = indptr[r]
                differ = False
                for k in range(length):  # no early exit: vectorised
                    differ |= (indices[a + k] != indices[b + k]) | (data[a + k] != data[b + k])
                same = True
                if differ:
                    for k in range(length):
                        if indices[a + k] != indices[b + k]:
                            same = False
                            break
                        x = data[a + k]
                        y = data[b + k]
                        if x != y and _key(_rounded(x, rounded, step)) != _key(_rounded(y, rounded, step)):
                            same = False
                            break
                if same:
                    group[s] = g
                    break
            slot = (slot + np.uint64(1)) & mask
    return group, first[:n_groups].copy()


def _index(a: np.ndarray) -> np.ndarray:
    """``a`` as contiguous int32 or int64 array (no copy if it is one already; numba specialises on both)."""
    a = np.asarray(a)
    return np.ascontiguousarray(a) if a.dtype in (np.int32, np.int64) else np.ascontiguousarray(a, np.int64)


def _csr_arrays(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays as the kernels take them: int32/int64 indices (see :func:`_index`), float64 values."""
    return _index(indptr), _index(indices), np.ascontiguousarray(data, np.float64)


def group_rows(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group the rows of a CSR matrix (sorted indices) that are exactly equal (pattern and values).

    Rows are hashed, and rows with equal hashes are compared entry by entry, so
    the grouping is exact (−0.0 equals 0.0). Groups are numbered in the order of their first row.

    Returns
    -------
    group : numpy.ndarray
        ``(n_rows,)`` group of every row.
    rep : numpy.ndarray
        ``(n_groups,)`` first row of every group.
    """
    return _group_rows_kernel(*_csr_arrays(indptr, indices, data), False, 1.0)


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
    """Pairs that may carry flow in some optimum (exact; see :mod:`coverage.analysis.assignment`).

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


@njit(cache=True, nogil=True)
def _start_is_optimal(indptr, t, state, pedge, n_p, big_m, tol):  # pragma: no cover - numba
    """Whether :func:`network_simplex` would find no entering arc in the start basis of :func:`_crash`.

    The same potentials and reduced costs, with the same floating-point operations,
    as its first scan, on the arcs :func:`_arcs` would build: the root and the course
    nodes have potential 0, a segment ``t − M`` of its tree pair or 0 if unserved.
    """
    for g in range(indptr.shape[0] - 1):
        e = pedge[g]
        if e < n_p:
            pi_g = 0.0 + (t[e] - big_m)
            if 0.0 - pi_g + 0.0 < -tol:  # its unserved arc (not in the tree)
                return False
        else:
            pi_g = 0.0 + 0.0
        for q in range(indptr[g], indptr[g + 1]):
            if state[q] != TREE and (t[q] - big_m) - pi_g + 0.0 < -tol:
                return False
    return True


@njit(cache=True, nogil=True)
def _arcs(indptr, cols, t, capacity, big_m):  # pragma: no cover - numba
    """Tail, head, capacity and cost of every arc: pairs, course arcs, unserved arcs (see module docstring)."""
    n_g = indptr.shape[0] - 1
    n_c = capacity.shape[0]
    n_p = cols.shape[0]
    m = n_p + n_c + n_g
    root = n_g + n_c
    src = np.empty(m, np.int64)
    dst = np.empty(m, np.int64)
    cap = np.empty(m)
    cost = np.empty(m)
    for g in range(n_g):
        for q in range(indptr[g], indptr[g + 1]):
            src[q] = g
            dst[q] = n_g + cols[q]
            cap[q] = np.inf
            cost[q] = t[q] - big_m
    for c in range(n_c):
        e = n_p + c
        src[e] = n_g + c
        dst[e] = root
        cap[e] = capacity[c]
        cost[e] = 0.0
    for g in range(n_g):
        e = n_p + n_c + g
        src[e] = g
        dst[e] = root
        cap[e] = np.inf
        cost[e] = 0.0
    return src, dst, cap, cost


@njit(cache=True, nogil=True)
def _start(indptr, cols, t, supply, capacity, order, big_m, tol):  # pragma: no cover - numba
    """Start basis of :func:`_crash`, whether it is optimal, and the arcs for the simplex if it is not.

    One kernel for the three steps, so that a process loads one compiled kernel for them.
    If the start is optimal, the arcs are not built (empty arrays).
    """
    n_g, n_c, n_p = indptr.shape[0] - 1, capacity.shape[0], cols.shape[0]
    flow, state, parent, pedge = _crash(indptr, cols, t, supply, capacity, n_p, n_c, n_g, order)
    if _start_is_optimal(indptr, t, state, pedge, n_p, big_m, tol):
        return flow, state, parent, pedge, True, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0)
    src, dst, cap, cost = _arcs(indptr, cols, t, capacity, big_m)
    return flow, state, parent, pedge, False, src, dst, cap, cost


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
        CSR ``(n_g, n_c)`` of the allowed pairs and their minutes (≥ 0); ``indptr[0] == 0``;
        int32 or int64 ``cols``.
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
    indptr = np.ascontiguousarray(indptr, np.int64)
    cols = _index(cols)
    t = np.ascontiguousarray(t, np.float64)
    if n_p == 0:
        return np.zeros(0), 0
    supply = np.ascontiguousarray(supply, np.float64)
    capacity = np.ascontiguousarray(capacity, np.float64)
    keep = None
    cheapest, congested = _cheapest(indptr, cols, t, supply, capacity)
    if congested:
        # congested: drop pairs that never carry flow (exact), visit segments by their cheapest minutes
        has_pair = np.diff(indptr) > 0
        bound = min(float(capacity.sum()), float(supply[has_pair].sum()))
        pair_supply = np.bincount(cols, weights=np.repeat(supply, np.diff(indptr)), minlength=n_c)
        if pair_supply.max() >= bound * (1.0 - 1e-12) - 1e-9:
            keep = _prune_sorted(np.argsort(t).astype(np.int64), indptr, cols, t, supply, n_c, bound)
            if keep.all():
                keep = None
            else:
                rows = np.repeat(np.arange(n_g, dtype=np.int64), np.diff(indptr))
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
    # integer costs give integer reduced costs; otherwise a tolerance far below any real improvement
    tol = 1e-11 * big_m
    flow, state, parent, pedge, optimal, src, dst, cap, cost = _start(indptr, cols, t, supply, capacity, order,
                                                                      big_m, tol)
    pivots = 0
    if not optimal:  # else the simplex would stop at once
        root = n_g + n_c
        _, status, pivots = network_simplex(src, dst, cap, cost, flow, state, parent, pedge, root, tol, max_pivots)
        if status != 0:
            raise OptimizationError(f"Zuordnung zu Kursplätzen nicht lösbar (Netzwerk-Simplex, Status {status}).")
    x = flow[:n_p]
    np.maximum(x, 0.0, out=x)
    if keep is not None:
        full = np.zeros(len(keep))
        full[keep] = x
        x = full
    return x, int(pivots)


@njit(cache=True, nogil=True)
def _merged_problem(indptr, indices, data, rounded, step, rep, m_supply, capacity, tol):  # pragma: no cover - numba
    """The transportation problem of the merged segments with persons and the courses with seats.

    The minutes of the pairs are rounded on the fly (:func:`_rounded`).
    """
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
    cols = np.empty(n_p, np.int32)  # course indices < 2**31 (as in the flow's CSR indices)
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
                    tt[fill] = _rounded(data[q], rounded, step)
                    fill += 1
            ptr[i + 1] = fill
    return g_pos, live, ptr, cols, tt


@njit(cache=True, nogil=True)
def _expand(group, supply, m_supply, g_pos, ptr, cols, tt, x, n_c):  # pragma: no cover - numba
    """Split the flow of every merged segment among its members in proportion to their persons.

    The pairs with flow are listed per merged segment first, so a member visits only those
    (in the same order, with the same arithmetic as over all pairs of its segment).
    """
    n_live = ptr.shape[0] - 1
    pos_ptr = np.zeros(n_live + 1, np.int64)
    for i in range(n_live):
        k = 0
        for q in range(ptr[i], ptr[i + 1]):
            if x[q] > 0.0:
                k += 1
        pos_ptr[i + 1] = pos_ptr[i] + k
    pos = np.empty(pos_ptr[n_live], np.int64)
    w = 0
    for q in range(ptr[n_live]):
        if x[q] > 0.0:
            pos[w] = q
            w += 1
    n_s = group.shape[0]
    f_ptr = np.zeros(n_s + 1, np.int64)
    for s in range(n_s):
        i = g_pos[group[s]]
        k = 0
        if i >= 0 and supply[s] > 0.0:
            k = pos_ptr[i + 1] - pos_ptr[i]
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
        for k in range(pos_ptr[i], pos_ptr[i + 1]):
            q = pos[k]
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
    """Lexicographic seat assignment on CSR arrays (the core of :func:`coverage.analysis.assignment.assign`).

    Parameters
    ----------
    supply, capacity
        ``(n_s,)`` persons, ``(n_c,)`` seats (finite, ≥ 0).
    indptr, indices, minutes
        CSR ``(n_s, n_c)`` of the allowed pairs with sorted indices, no duplicates
        (int32 or int64 indices are used without a copy).
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
    supply = np.ascontiguousarray(supply, np.float64)
    capacity = np.ascontiguousarray(capacity, np.float64)
    indptr, indices, t = _csr_arrays(indptr, indices, minutes)
    # the kernels round the minutes where they read them (np.round(t / step) * step, no temporaries)
    rounded = bool(round_minutes)
    step = float(round_minutes) if rounded else 1.0
    group, rep = _group_rows_kernel(indptr, indices, t, rounded, step)
    m_supply = np.bincount(group, weights=supply, minlength=len(rep))
    g_pos, live, ptr, cols, tt = _merged_problem(indptr, indices, t, rounded, step, rep, m_supply, capacity, tol)
    x, pivots = solve_transport(m_supply[live], capacity, ptr, cols, tt)
    f_ptr, f_idx, f_val, served, load, total = _expand(group, supply, m_supply, g_pos, ptr, cols, tt, x,
                                                       len(capacity))
    return {
        "indptr": f_ptr, "indices": f_idx, "data": f_val, "served": served, "load": load,
        "total_minutes": float(total), "n_variables": len(cols), "n_groups": len(rep), "pivots": pivots,
    }
