"""Primal network simplex for min-cost flows with real-valued supplies (private).

A port of the network simplex of NetworkX (:func:`networkx.network_simplex`,
itself after LEMON and Kiraly & Kovacs 2012) to numba, with these changes:

* every arc carries an explicit state (``LOWER``, ``UPPER``, ``TREE``) instead of
  comparing its flow with 0, and the leaving arc is set *exactly* to the bound it
  reached, so rounding in the (float) flows can never misclassify an arc;
* the caller passes the initial spanning tree (a strongly feasible basis), so a
  problem need not be padded with artificial arcs of huge cost;
* reduced costs are compared with a tolerance ``tol`` (exact for integer costs
  with ``tol < 0.5``).

Pricing keeps a list of the arcs with a negative reduced cost: filled by one
scan of all arcs at the start, and after every pivot extended by the arcs at the
nodes whose potential changed (the moved subtree) – the only arcs whose reduced
cost can have changed. If those nodes have many arc ends while the list still has
other candidates, one scan of all arcs when the list runs empty takes their place.
The best of up to ``√m / 2`` listed arcs enters (partial Dantzig); entries that
are no longer eligible leave the list when met. An empty list with no scan
pending proves optimality. The leaving arc follows the strongly-feasible rule of
Cunningham (the last blocking arc of the cycle, seen from its apex), which rules
out cycling.

Conventions: arc ``e`` goes from ``src[e]`` to ``dst[e]``, has capacity ``cap[e]``
(``inf`` allowed) and cost ``cost[e]``; the reduced cost is
``cost[e] − pi[src[e]] + pi[dst[e]]`` (tree arcs 0).

Why not a library: the exact min-cost flow solvers at hand are either for
integer data only (OR-tools), pure Python (NetworkX: minutes at county scale) or a
general LP (HiGHS: the transportation LP with column generation took over seven
minutes at county scale). Results are checked against a two-stage HiGHS LP in
``tests/test_assignment.py``.

Licence of the code this module derives from (NetworkX, 3-clause BSD)::

   Copyright (c) 2004-2025, NetworkX Developers
   Aric Hagberg <hagberg@lanl.gov>
   Dan Schult <dschult@colgate.edu>
   Pieter Swart <swart@lanl.gov>
   All rights reserved.

   Redistribution and use in source and binary forms, with or without
   modification, are permitted provided that the following conditions are
   met:

     * Redistributions of source code must retain the above copyright
       notice, this list of conditions and the following disclaimer.

     * Redistributions in binary form must reproduce the above
       copyright notice, this list of conditions and the following
       disclaimer in the documentation and/or other materials provided
       with the distribution.

     * Neither the name of the NetworkX Developers nor the names of its
       contributors may be used to endorse or promote products derived
       from this software without specific prior written permission.

   THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
   "AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
   LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
   A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
   OWNER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
   SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT
   LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
   DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
   THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
   (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
   OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""

from __future__ import annotations

import numpy as np

from coverage._compat import import_numba

_numba = import_numba()
njit = _numba.njit

__all__ = ["LOWER", "TREE", "UPPER", "network_simplex"]

LOWER = 1
UPPER = -1
TREE = 0


@njit(cache=True, nogil=True)
def _potentials(root, parent, pedge, nxt, src, dst, cost, pi):  # pragma: no cover - numba
    """Potentials of all nodes from the tree, visiting nodes in thread (preorder) order."""
    pi[root] = 0.0
    u = nxt[root]
    while u != root:
        e = pedge[u]
        p = parent[u]
        if dst[e] == u:
            pi[u] = pi[p] - cost[e]
        else:
            pi[u] = pi[p] + cost[e]
        u = nxt[u]


@njit(cache=True, nogil=True)
def _thread(root, parent, n):  # pragma: no cover - numba
    """Preorder thread (circular, through the root), subtree sizes and last descendants of a tree."""
    # children lists in CSR form
    count = np.zeros(n + 1, np.int64)
    for u in range(n):
        if u != root:
            count[parent[u] + 1] += 1
    for u in range(n):
        count[u + 1] += count[u]
    child = np.empty(max(n - 1, 1), np.int64)
    fill = count[:-1].copy()
    for u in range(n):
        if u != root:
            child[fill[parent[u]]] = u
            fill[parent[u]] += 1
    order = np.empty(n, np.int64)
    stack = np.empty(n, np.int64)
    top = 0
    stack[0] = root
    top = 1
    k = 0
    while top > 0:
        top -= 1
        u = stack[top]
        order[k] = u
        k += 1
        for c in range(count[u + 1] - 1, count[u] - 1, -1):
            stack[top] = child[c]
            top += 1
    nxt = np.empty(n, np.int64)
    prv = np.empty(n, np.int64)
    for k in range(n):
        a = order[k]
        b = order[(k + 1) % n]
        nxt[a] = b
        prv[b] = a
    size = np.ones(n, np.int64)
    last = order.copy()  # placeholder, set below
    for u in range(n):
        last[u] = u
    # reverse preorder: children are finished before their parents
    for k in range(n - 1, 0, -1):
        u = order[k]
        p = parent[u]
        size[p] += size[u]
    # last descendant: the node of the subtree that comes last in preorder
    pos = np.empty(n, np.int64)
    for k in range(n):
        pos[order[k]] = k
    for u in range(n):
        last[u] = order[pos[u] + size[u] - 1]
    return nxt, prv, size, last


@njit(cache=True, nogil=True)
def _scan_all(state, cost, pi, src, dst, tol, elig, listed, n_el):  # pragma: no cover - numba
    """List every non-tree arc not yet listed whose reduced cost is below ``−tol``; return the new count."""
    for e in range(state.shape[0]):
        st = state[e]
        if st != TREE and not listed[e]:
            c = cost[e] - pi[src[e]] + pi[dst[e]]
            if st == UPPER:
                c = -c
            if c < -tol:
                elig[n_el] = e
                listed[e] = True
                n_el += 1
    return n_el


@njit(cache=True, nogil=True)
def network_simplex(src, dst, cap, cost, flow, state, parent, pedge, root, tol, max_pivots):  # pragma: no cover
    """Optimise a min-cost flow from a strongly feasible spanning-tree basis.

    Parameters
    ----------
    src, dst
        ``(m,)`` int64 arc ends.
    cap, cost
        ``(m,)`` float64 capacities (``inf`` allowed) and costs.
    flow
        ``(m,)`` float64 feasible flow of the basis (changed in place).
    state
        ``(m,)`` int8 ``LOWER``/``UPPER``/``TREE`` (changed in place); exactly
        ``n − 1`` tree arcs.
    parent, pedge
        ``(n,)`` int64 parent node and arc to the parent of every node (``-1`` at
        the root); changed in place.
    root
        Root node.
    tol
        An arc enters if its reduced cost is below ``-tol``.
    max_pivots
        Stop after this many pivots (status 2).

    Returns
    -------
    pi : numpy.ndarray
        ``(n,)`` potentials of the final basis.
    status : int
        0 optimal, 1 unbounded, 2 pivot limit reached.
    pivots : int
        Number of pivots.
    """
    n = parent.shape[0]
    m = src.shape[0]
    nxt, prv, size, last = _thread(root, parent, n)
    pi = np.zeros(n)
    _potentials(root, parent, pedge, nxt, src, dst, cost, pi)
    if m == 0:
        return pi, 0, 0
    # node → incident arcs, for the exact update of the eligible list after a pivot
    adj_ptr = np.zeros(n + 1, np.int64)
    for e in range(m):
        adj_ptr[src[e] + 1] += 1
        adj_ptr[dst[e] + 1] += 1
    for u in range(n):
        adj_ptr[u + 1] += adj_ptr[u]
    adj = np.empty(adj_ptr[n], np.int64)
    fill = adj_ptr[:-1].copy()
    for e in range(m):
        adj[fill[src[e]]] = e
        fill[src[e]] += 1
        adj[fill[dst[e]]] = e
        fill[dst[e]] += 1
    # eligible list: every arc with a negative reduced cost is in it (maybe with others)
    elig = np.empty(m, np.int64)
    listed = np.zeros(m, np.bool_)
    n_el = _scan_all(state, cost, pi, src, dst, tol, elig, listed, 0)
    window = max(16, int(np.sqrt(m)) // 2)
    pos = 0
    stale = False
    wn = np.empty(n + 1, np.int64)
    we = np.empty(n + 1, np.int64)
    tmp = np.empty(n + 1, np.int64)
    anc = np.empty(n + 1, np.int64)
    pivots = 0
    status = 0
    while True:
        # ---- entering arc: the best of up to `window` eligible arcs of the list (cyclic); stale entries leave it
        i = -1
        best = -tol
        found = 0
        k = 0
        while n_el > 0 and k < n_el and found < window:
            if pos >= n_el:
                pos = 0
            e = elig[pos]
            st = state[e]
            c = 0.0
            if st != TREE:
                c = cost[e] - pi[src[e]] + pi[dst[e]]
                if st == UPPER:
                    c = -c
            if st == TREE or c >= -tol:
                n_el -= 1
                elig[pos] = elig[n_el]
                listed[e] = False
                continue
            found += 1
            if c < best:
                best = c
                i = e
            pos += 1
            k += 1
        if i < 0:
            if not stale:
                break  # no arc with a negative reduced cost is left: optimal
            # some moved subtree was too large to look at its arcs: scan all arcs once more
            stale = False
            n_el = _scan_all(state, cost, pi, src, dst, tol, elig, listed, n_el)
            continue
        if pivots >= max_pivots:
            status = 2
            break
        pivots += 1
        if state[i] == LOWER:
            p = src[i]
            q = dst[i]
        else:
            p = dst[i]
            q = src[i]
        # ---- apex of the cycle
        a = p
        b = q
        sa = size[a]
        sb = size[b]
        while True:
            while sa < sb:
                a = parent[a]
                sa = size[a]
            while sa > sb:
                b = parent[b]
                sb = size[b]
            if sa == sb:
                if a != b:
                    a = parent[a]
                    sa = size[a]
                    b = parent[b]
                    sb = size[b]
                else:
                    break
        w = a
        # ---- cycle: w ... p (down), arc i, q ... (up to w)
        n_p = 0
        u = p
        while u != w:
            tmp[n_p] = u
            n_p += 1
            u = parent[u]
        # nodes w, then reversed path to p; edges: pedge of the node below each node
        k = 0
        wn[k] = w
        for t in range(n_p - 1, -1, -1):
            we[k] = pedge[tmp[t]]
            k += 1
            wn[k] = tmp[t]
        ipos = k
        we[k] = i
        k += 1
        u = q
        while u != w:
            wn[k] = u
            we[k] = pedge[u]
            k += 1
            u = parent[u]
        n_cyc = k  # number of edges; wn[k'] is the node an edge leaves in cycle orientation
        # ---- leaving arc: last minimum of the residual capacities in cycle orientation
        delta = np.inf
        jpos = -1
        for t in range(n_cyc - 1, -1, -1):
            ee = we[t]
            r = cap[ee] - flow[ee] if src[ee] == wn[t] else flow[ee]
            if r < delta:
                delta = r
                jpos = t
        if delta == np.inf:
            status = 1
            break
        if delta < 0.0:
            delta = 0.0
        # ---- augment
        if delta > 0.0:
            for t in range(n_cyc):
                ee = we[t]
                if src[ee] == wn[t]:
                    flow[ee] += delta
                else:
                    flow[ee] -= delta
        j = we[jpos]
        s = wn[jpos]
        if src[j] == s:
            flow[j] = cap[j]
            new_state = UPPER
        else:
            flow[j] = 0.0
            new_state = LOWER
        if i == j:
            state[i] = new_state
            continue
        state[i] = TREE
        state[j] = new_state
        t_node = dst[j] if src[j] == s else src[j]
        if parent[t_node] != s:
            s, t_node = t_node, s
        if ipos > jpos:
            p, q = q, p
        # ---- remove_edge(s, t_node)
        size_t = size[t_node]
        prev_t = prv[t_node]
        last_t = last[t_node]
        next_last_t = nxt[last_t]
        parent[t_node] = -1
        pedge[t_node] = -1
        nxt[prev_t] = next_last_t
        prv[next_last_t] = prev_t
        nxt[last_t] = t_node
        prv[t_node] = last_t
        u = s
        while u != -1:
            size[u] -= size_t
            if last[u] == last_t:
                last[u] = prev_t
            u = parent[u]
        # ---- make_root(q)
        n_a = 0
        u = q
        while u != -1:
            anc[n_a] = u
            n_a += 1
            u = parent[u]
        for t in range(n_a - 1, 0, -1):
            pp = anc[t]
            qq = anc[t - 1]
            size_p = size[pp]
            last_p = last[pp]
            prev_q = prv[qq]
            last_q = last[qq]
            next_last_q = nxt[last_q]
            parent[pp] = qq
            parent[qq] = -1
            pedge[pp] = pedge[qq]
            pedge[qq] = -1
            size[pp] = size_p - size[qq]
            size[qq] = size_p
            nxt[prev_q] = next_last_q
            prv[next_last_q] = prev_q
            nxt[last_q] = qq
            prv[qq] = last_q
            if last_p == last_q:
                last[pp] = prev_q
                last_p = prev_q
            prv[pp] = last_q
            nxt[last_q] = pp
            nxt[last_p] = qq
            prv[qq] = last_p
            last[qq] = last_p
        # ---- add_edge(i, p, q)
        last_p = last[p]
        next_last_p = nxt[last_p]
        size_q = size[q]
        last_q = last[q]
        parent[q] = p
        pedge[q] = i
        nxt[last_p] = q
        prv[q] = last_p
        prv[next_last_p] = last_q
        nxt[last_q] = next_last_p
        u = p
        while u != -1:
            size[u] += size_q
            if last[u] == last_p:
                last[u] = last_q
            u = parent[u]
        # ---- update_potentials(i, p, q)
        d = pi[p] - cost[i] - pi[q] if q == dst[i] else pi[p] + cost[i] - pi[q]
        u = q
        pi[u] += d
        while u != last_q:
            u = nxt[u]
            pi[u] += d
        # ---- only arcs at the moved subtree changed their reduced cost: list those that became eligible
        arcs_moved = 0
        u = q
        while True:
            arcs_moved += adj_ptr[u + 1] - adj_ptr[u]
            if u == last_q:
                break
            u = nxt[u]
        if arcs_moved * 64 > m and (n_el > 0 or arcs_moved * 2 > m):
            # many arcs at the subtree while other candidates are listed: defer to one scan of all arcs
            stale = True
            continue
        u = q
        while True:
            # the test of _scan_all written out on purpose: moved into a helper kernel (inlined or
            # not) it made the assignment 6-10x slower at county scale (bench/bench_rerun.py)
            for a in range(adj_ptr[u], adj_ptr[u + 1]):
                e = adj[a]
                if listed[e]:
                    continue
                st = state[e]
                if st == TREE:
                    continue
                c = cost[e] - pi[src[e]] + pi[dst[e]]
                if st == UPPER:
                    c = -c
                if c < -tol:
                    elig[n_el] = e
                    listed[e] = True
                    n_el += 1
            if u == last_q:
                break
            u = nxt[u]
    return pi, status, pivots
