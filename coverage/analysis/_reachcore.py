"""Numba kernels of the reach rules (private; see :mod:`coverage.analysis.reach`).

The rules are evaluated in two steps so that several thresholds (the analysis
and the robustness runs at ``±params.sensitivitaet_min``) share the expensive part:

1. :func:`candidates` – per segment, every course of the right level and type
   whose way there fits the *largest* threshold of the segment's group, with the
   best time there (``t_hin = min over modes of hin``) and the best time of both
   legs with one mode (``t_both = min over modes of max(hin, rueck)``); online
   courses have both times 0. Stored as a CSR matrix (rows = segments, sorted
   columns).
2. :func:`derive` – for one threshold per group: the allowed pairs (``ok``) with
   their minutes ``t_both`` and the reason code per segment.

A pair's *stage* is 0 (not there in time), 1 (there, no way home), 2 (both legs,
schedule does not fit), 3 (schedule fits, no childcare) or 4 (ok). Stages are
nested because ``t_both ≥ t_hin``. A segment's reason is decided by its best
stage: 4 → ``''``, 3 → ``kinderbetreuung``, 2 → ``termin``, 1 → ``kein_rueckweg``,
0 or no course of the right level and type → ``kein_kurs``.
"""

from __future__ import annotations

import numpy as np

from coverage._compat import import_numba

_numba = import_numba()
njit = _numba.njit

__all__ = ["candidates", "derive", "merge_columns", "stage_reason"]

_EPS = 1e-9


@njit(cache=True, nogil=True)
def _candidates_fill(
    i, order, seg_origin, seg_key, key_indptr, key_cols, group_of_key, modeset_of_group, modesets, limit,
    hin, rueck, online, col_map, th, tb, done, counts, seg_start, buf_c, buf_h, buf_b, fill,
):  # pragma: no cover - numba  # fmt: skip
    """Process whole origins from position ``i`` of ``order`` while the buffers have room.

    Returns ``(i, fill, need)``: the next position, the entries written and the room
    the next origin needs (0 when done).
    """
    n_m = hin.shape[0]
    n_c = col_map.shape[0]
    n_order = order.shape[0]
    room = buf_c.shape[0]
    while i < n_order:
        o = seg_origin[order[i]]
        j = i
        bound = 0
        while j < n_order and seg_origin[order[j]] == o:
            key = seg_key[order[j]]
            bound += key_indptr[key + 1] - key_indptr[key]
            j += 1
        if fill + bound > room:
            return i, fill, bound
        done[:] = False
        for k in range(i, j):
            s = order[k]
            key = seg_key[s]
            g = group_of_key[key]
            ms = modeset_of_group[g]
            lim = limit[g] + _EPS
            if not done[ms]:
                for c in range(n_c):
                    th[ms, c] = np.inf
                    tb[ms, c] = np.inf
                for m in range(n_m):
                    if modesets[ms, m]:
                        for c in range(n_c):
                            tc = col_map[c]
                            h = np.float64(hin[m, o, tc])
                            r = np.float64(rueck[m, o, tc])
                            if h < th[ms, c]:
                                th[ms, c] = h
                            b = h if h >= r else r
                            if b < tb[ms, c]:
                                tb[ms, c] = b
                done[ms] = True
            seg_start[s] = fill
            for q in range(key_indptr[key], key_indptr[key + 1]):
                c = key_cols[q]
                if online[c]:
                    h = 0.0
                    b = 0.0
                else:
                    h = th[ms, c]
                    b = tb[ms, c]
                if h <= lim:
                    buf_c[fill] = c
                    buf_h[fill] = h
                    buf_b[fill] = b
                    fill += 1
            counts[s + 1] = fill - seg_start[s]
        i = j
    return i, fill, 0


@njit(cache=True, nogil=True)
def _candidates_kernel(
    order, seg_origin, seg_key, key_indptr, key_cols, group_of_key, modeset_of_group, modesets, limit,
    hin, rueck, online, col_map, in_order,
):  # pragma: no cover - numba  # fmt: skip
    """Candidate pairs of the segments in ``order`` (grouped by origin); see :func:`candidates`."""
    n_s = seg_origin.shape[0]
    n_c = col_map.shape[0]
    n_ms = modesets.shape[0]
    counts = np.zeros(n_s + 1, np.int64)
    seg_start = np.zeros(n_s, np.int64)
    th = np.empty((n_ms, n_c), np.float64)
    tb = np.empty((n_ms, n_c), np.float64)
    done = np.zeros(n_ms, np.bool_)
    size = 4 * n_s + 1024
    buf_c = np.empty(size, np.int32)
    buf_h = np.empty(size, hin.dtype)
    buf_b = np.empty(size, hin.dtype)
    i = 0
    fill = 0
    while True:
        i, fill, need = _candidates_fill(
            i, order, seg_origin, seg_key, key_indptr, key_cols, group_of_key, modeset_of_group, modesets, limit,
            hin, rueck, online, col_map, th, tb, done, counts, seg_start, buf_c, buf_h, buf_b, fill,
        )
        if i >= order.shape[0]:
            break
        size = max(2 * buf_c.shape[0], fill + need)
        new_c = np.empty(size, np.int32)
        new_h = np.empty(size, hin.dtype)
        new_b = np.empty(size, hin.dtype)
        new_c[:fill] = buf_c[:fill]
        new_h[:fill] = buf_h[:fill]
        new_b[:fill] = buf_b[:fill]
        buf_c = new_c
        buf_h = new_h
        buf_b = new_b
    for s in range(n_s):
        counts[s + 1] += counts[s]
    if in_order:
        return counts, buf_c[:fill].copy(), buf_h[:fill].copy(), buf_b[:fill].copy()
    out_c = np.empty(fill, np.int32)
    out_h = np.empty(fill, hin.dtype)
    out_b = np.empty(fill, hin.dtype)
    for s in range(n_s):
        a = seg_start[s]
        for q in range(counts[s + 1] - counts[s]):
            out_c[counts[s] + q] = buf_c[a + q]
            out_h[counts[s] + q] = buf_h[a + q]
            out_b[counts[s] + q] = buf_b[a + q]
    return counts, out_c, out_h, out_b


def candidates(
    seg_origin: np.ndarray,
    seg_group: np.ndarray,
    seg_level: np.ndarray,
    *,
    accept: np.ndarray,
    mode_allowed: np.ndarray,
    limit: np.ndarray,
    hin: np.ndarray,
    rueck: np.ndarray,
    online: np.ndarray,
    col_map: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs (CSR) for the largest threshold.

    Parameters
    ----------
    seg_origin, seg_group, seg_level
        ``(n_s,)`` integer codes: travel-time row, group, level of every segment.
    accept
        ``(n_g, n_l, n_c)`` bool: course offers the level and suits the group (in
        person, or online where the group accepts online courses at that level).
    mode_allowed
        ``(n_g, n_m)`` bool.
    limit
        ``(n_g,)`` largest threshold per group (minutes).
    hin, rueck
        ``(n_m, n_o, n_t)`` minutes; ``inf`` = impossible.
    online
        ``(n_c,)`` bool.
    col_map
        ``(n_c,)`` travel column of every course (default: the identity).

    Returns
    -------
    indptr, indices, t_hin, t_both
        CSR arrays ``(n_s, n_c)``; the times have the dtype of ``hin``.
    """
    n_g, n_l, n_c = accept.shape
    if col_map is None:
        col_map = np.arange(n_c, dtype=np.int64)
    dtype = np.result_type(hin.dtype, rueck.dtype, np.float32)
    hin = np.ascontiguousarray(hin, dtype=dtype)
    rueck = np.ascontiguousarray(rueck, dtype=dtype)
    key = seg_group.astype(np.int64) * n_l + seg_level.astype(np.int64)
    flat = accept.reshape(n_g * n_l, n_c)
    key_indptr = np.zeros(n_g * n_l + 1, np.int64)
    np.cumsum(flat.sum(axis=1), out=key_indptr[1:])
    key_cols = np.nonzero(flat)[1].astype(np.int64)
    group_of_key = np.repeat(np.arange(n_g, dtype=np.int64), n_l)
    order = np.argsort(seg_origin, kind="stable").astype(np.int64)
    mode_allowed = np.asarray(mode_allowed, np.bool_).reshape(n_g, -1)
    if mode_allowed.shape[1]:
        modesets, modeset_of_group = np.unique(mode_allowed, axis=0, return_inverse=True)
    else:
        modesets, modeset_of_group = np.zeros((1, 0), np.bool_), np.zeros(n_g, np.int64)
    return _candidates_kernel(
        order, seg_origin.astype(np.int64), key, key_indptr, key_cols, group_of_key,
        modeset_of_group.astype(np.int64).ravel(), np.ascontiguousarray(modesets, dtype=np.bool_),
        np.asarray(limit, np.float64), hin, rueck,
        np.asarray(online, np.bool_), np.asarray(col_map, np.int64), bool(np.all(order[1:] > order[:-1])),
    )


@njit(cache=True, nogil=True)
def _derive_kernel(indptr, indices, t_hin, t_both, seg_group, limit, schedule_ok, childcare_ok, online,
                   include_online, stage_in):  # pragma: no cover - numba
    n_s = indptr.shape[0] - 1
    out_ptr = np.zeros(n_s + 1, np.int64)
    out_c = np.empty(indices.shape[0], np.int32)
    out_t = np.empty(indices.shape[0], np.float64)
    best = np.zeros(n_s, np.int8)
    fill = 0
    for s in range(n_s):
        g = seg_group[s]
        lim = limit[g] + _EPS
        top = stage_in[s]
        for q in range(indptr[s], indptr[s + 1]):
            c = indices[q]
            if online[c] and not include_online:
                continue
            if t_hin[q] > lim:
                continue
            tb = np.float64(t_both[q])
            if tb > lim:
                st = 1
            elif not schedule_ok[g, c]:
                st = 2
            elif not childcare_ok[g, c]:
                st = 3
            else:
                st = 4
                out_c[fill] = c
                out_t[fill] = tb
                fill += 1
            if st > top:
                top = st
        best[s] = top
        out_ptr[s + 1] = fill
    return out_ptr, out_c[:fill].copy(), out_t[:fill].copy(), best


_REASON_OF_STAGE = np.array([1, 2, 3, 4, 0], np.int8)


def stage_reason(best_stage: np.ndarray) -> np.ndarray:
    """Reason code (index into :data:`coverage.analysis.reach.REASONS`) of every segment's best stage."""
    return _REASON_OF_STAGE[best_stage]


def derive(
    indptr: np.ndarray,
    indices: np.ndarray,
    t_hin: np.ndarray,
    t_both: np.ndarray,
    *,
    seg_group: np.ndarray,
    limit: np.ndarray,
    schedule_ok: np.ndarray,
    childcare_ok: np.ndarray,
    online: np.ndarray,
    include_online: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Allowed pairs and best stage for one threshold per group.

    Parameters
    ----------
    indptr, indices, t_hin, t_both
        Candidates from :func:`candidates` (computed for thresholds ≥ ``limit``).
    seg_group
        ``(n_s,)`` group code per segment.
    limit
        ``(n_g,)`` threshold per group.
    schedule_ok, childcare_ok
        ``(n_g, n_c)`` bool.
    online
        ``(n_c,)`` bool.
    include_online
        If False, online courses are ignored.

    Returns
    -------
    indptr, indices, minutes, best_stage
        CSR of the allowed pairs (minutes ``t_both`` as float64) and the best
        stage ``(n_s,)`` int8 of every segment.
    """
    return _derive_kernel(
        indptr, indices, t_hin, t_both, seg_group.astype(np.int64), np.asarray(limit, np.float64),
        np.ascontiguousarray(schedule_ok, dtype=np.bool_), np.ascontiguousarray(childcare_ok, dtype=np.bool_),
        np.asarray(online, np.bool_), bool(include_online), np.zeros(len(indptr) - 1, np.int8),
    )


@njit(cache=True, nogil=True)
def _merge_kernel(a_ptr, a_idx, a_h, a_b, a_map, b_ptr, b_idx, b_h, b_b, b_map):  # pragma: no cover - numba
    n_s = a_ptr.shape[0] - 1
    total = 0
    for q in range(a_idx.shape[0]):
        if a_map[a_idx[q]] >= 0:
            total += 1
    total += b_idx.shape[0]
    out_ptr = np.zeros(n_s + 1, np.int64)
    out_c = np.empty(total, np.int32)
    out_h = np.empty(total, a_h.dtype)
    out_b = np.empty(total, a_b.dtype)
    fill = 0
    for s in range(n_s):
        qa = a_ptr[s]
        qb = b_ptr[s]
        ea = a_ptr[s + 1]
        eb = b_ptr[s + 1]
        while qa < ea and a_map[a_idx[qa]] < 0:
            qa += 1
        while qa < ea or qb < eb:
            take_a = qb >= eb or (qa < ea and a_map[a_idx[qa]] < b_map[b_idx[qb]])
            if take_a:
                out_c[fill] = a_map[a_idx[qa]]
                out_h[fill] = a_h[qa]
                out_b[fill] = a_b[qa]
                qa += 1
                while qa < ea and a_map[a_idx[qa]] < 0:
                    qa += 1
            else:
                out_c[fill] = b_map[b_idx[qb]]
                out_h[fill] = b_h[qb]
                out_b[fill] = b_b[qb]
                qb += 1
            fill += 1
        out_ptr[s + 1] = fill
    return out_ptr, out_c, out_h, out_b


def merge_columns(
    a: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    a_map: np.ndarray,
    b: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    b_map: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Combine the columns of two candidate matrices over the same rows.

    ``a_map``/``b_map`` give the new column of every old column (``-1`` = drop);
    the new columns of ``a`` and ``b`` must be disjoint and each map increasing
    over the kept columns, so the rows stay sorted.
    """
    dtype = np.result_type(a[2].dtype, b[2].dtype)
    return _merge_kernel(
        a[0], a[1], a[2].astype(dtype, copy=False), a[3].astype(dtype, copy=False), np.asarray(a_map, np.int64),
        b[0], b[1], b[2].astype(dtype, copy=False), b[3].astype(dtype, copy=False), np.asarray(b_map, np.int64),
    )


@njit(cache=True, nogil=True)
def transpose(indptr, indices, n_cols):  # pragma: no cover - numba
    """Counting-sort transpose of a CSR pattern: ``(col_ptr, rows, perm)`` with rows increasing per column.

    ``perm[k]`` is the position in the CSR arrays of the ``k``-th entry in column order.
    """
    n_rows = indptr.shape[0] - 1
    col_ptr = np.zeros(n_cols + 1, np.int64)
    for q in range(indices.shape[0]):
        col_ptr[indices[q] + 1] += 1
    for c in range(n_cols):
        col_ptr[c + 1] += col_ptr[c]
    fill = col_ptr[:-1].copy()
    rows = np.empty(indices.shape[0], np.int32)
    perm = np.empty(indices.shape[0], np.int64)
    for r in range(n_rows):
        for q in range(indptr[r], indptr[r + 1]):
            c = indices[q]
            rows[fill[c]] = r
            perm[fill[c]] = q
            fill[c] += 1
    return col_ptr, rows, perm
