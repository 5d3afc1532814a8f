"""Numba kernels of the Connection Scan Algorithm (private).

Labels are float64 seconds (``inf`` / ``-inf`` = unreachable). Semantics, shared
by the forward and the reverse scan:

* A journey starts at a source stop at a given time, may walk one footpath,
  then alternates vehicle rides and changes, and may walk one footpath after the
  last ride (at most one footpath between two vehicles).
* Staying in the same trip needs no change. Changing vehicles at the same stop
  ``s`` needs ``arrival + min_transfer[s] <= departure`` (``inf`` forbids it).
  Walking a footpath replaces the change time.
* Boarding needs ``board[k]``, alighting ``alight[k]``.
* Zero-duration connections with equal times are rescanned until stable, so
  chains of them are handled regardless of their order.
"""

from __future__ import annotations

import numpy as np

from coverage._compat import import_numba

_numba = import_numba()
njit = _numba.njit

__all__ = ["earliest_arrival_scan", "latest_departure_scan"]


@njit(cache=True)
def earliest_arrival_scan(
    dep_stop, arr_stop, dep_time, arr_time, trip, board, alight, n_stops, n_trips,
    src_stop, src_time, fp_indptr, fp_indices, fp_secs, ct, until,
):  # fmt: skip
    """Earliest arrival per stop (forward CSA over connections sorted by departure).

    The relaxation is written inline: calls to a jitted helper with this many
    array arguments cost ~0.5 µs each (reference counting) and made the scan
    50× slower.
    """
    m = dep_time.shape[0]
    arr = np.full(n_stops, np.inf)
    ready = np.full(n_stops, np.inf)
    veh = np.full(n_stops, np.inf)
    reached = np.full(n_trips, m, dtype=np.int64)  # first sorted index at which the trip was boarded
    tmin = np.inf
    for i in range(src_stop.shape[0]):
        s = src_stop[i]
        t = src_time[i]
        if t < veh[s]:
            veh[s] = t
        if t < arr[s]:
            arr[s] = t
        if t < ready[s]:
            ready[s] = t
        if t < tmin:
            tmin = t
    for i in range(src_stop.shape[0]):
        s = src_stop[i]
        t0 = src_time[i]
        for e in range(fp_indptr[s], fp_indptr[s + 1]):
            u = fp_indices[e]
            t = t0 + fp_secs[e]
            if t < arr[u]:
                arr[u] = t
            if t < ready[u]:
                ready[u] = t
    if tmin == np.inf:
        return arr
    i = np.searchsorted(dep_time, np.ceil(tmin)) if tmin > -2.0e9 else 0
    blk_start = -1  # current block of zero-duration connections with equal time
    blk_end = -1
    blk_changed = False
    while i < m:
        td = dep_time[i]
        if td > until:
            break
        if i > blk_end and arr_time[i] == td:
            j = i
            while j + 1 < m and dep_time[j + 1] == td and arr_time[j + 1] == td:
                j += 1
            if j > i:
                blk_start = i
                blk_end = j
                blk_changed = False
        changed = False
        tr = trip[i]
        usable = True
        if reached[tr] > i:
            if board[i] and ready[dep_stop[i]] <= td:
                reached[tr] = i
                changed = True
            else:
                usable = False
        if usable and alight[i]:
            y = arr_stop[i]
            a = np.float64(arr_time[i])
            if a < veh[y]:
                veh[y] = a
                changed = True
                if a < arr[y]:
                    arr[y] = a
                r = a + ct[y]
                if r < ready[y]:
                    ready[y] = r
                for e in range(fp_indptr[y], fp_indptr[y + 1]):
                    u = fp_indices[e]
                    t = a + fp_secs[e]
                    if t < arr[u]:
                        arr[u] = t
                    if t < ready[u]:
                        ready[u] = t
        if blk_start <= i <= blk_end:
            blk_changed = blk_changed or changed
            if i == blk_end and blk_changed:
                blk_changed = False
                i = blk_start  # rescan the block until stable
                continue
        i += 1
    return arr


@njit(cache=True)
def latest_departure_scan(
    dep_stop, arr_stop, dep_time, arr_time, trip, board, alight, rev_order, n_stops, n_trips,
    tgt_stop, tgt_time, rfp_indptr, rfp_indices, rfp_secs, ct, since,
):  # fmt: skip
    """Latest departure per stop (reverse CSA by descending arrival; footpaths transposed)."""
    m = rev_order.shape[0]
    ld = np.full(n_stops, -np.inf)
    alight_ok = np.full(n_stops, -np.inf)
    bveh = np.full(n_stops, -np.inf)
    trip_ok = np.full(n_trips, m, dtype=np.int64)  # first reverse position from which the trip leads on
    tmax = -np.inf
    for i in range(tgt_stop.shape[0]):
        s = tgt_stop[i]
        t = tgt_time[i]
        if t > ld[s]:
            ld[s] = t
        if t > alight_ok[s]:
            alight_ok[s] = t
        if t > tmax:
            tmax = t
        for e in range(rfp_indptr[s], rfp_indptr[s + 1]):
            u = rfp_indices[e]
            tu = t - rfp_secs[e]
            if tu > ld[u]:
                ld[u] = tu
            if tu > alight_ok[u]:
                alight_ok[u] = tu
    if tmax == -np.inf:
        return ld
    i = 0
    while i < m and arr_time[rev_order[i]] > tmax:
        i += 1
    blk_start = -1
    blk_end = -1
    blk_changed = False
    while i < m:
        k = rev_order[i]
        ta = arr_time[k]
        if ta < since:
            break
        if i > blk_end and dep_time[k] == ta:
            j = i
            while j + 1 < m and arr_time[rev_order[j + 1]] == ta and dep_time[rev_order[j + 1]] == ta:
                j += 1
            if j > i:
                blk_start = i
                blk_end = j
                blk_changed = False
        changed = False
        tr = trip[k]
        usable = True
        if trip_ok[tr] > i:
            if alight[k] and ta <= alight_ok[arr_stop[k]]:
                trip_ok[tr] = i
                changed = True
            else:
                usable = False
        if usable and board[k]:
            x = dep_stop[k]
            d = np.float64(dep_time[k])
            if d > bveh[x]:
                bveh[x] = d
                changed = True
                if d > ld[x]:
                    ld[x] = d
                r = d - ct[x]
                if r > alight_ok[x]:
                    alight_ok[x] = r
                for e in range(rfp_indptr[x], rfp_indptr[x + 1]):
                    u = rfp_indices[e]
                    t = d - rfp_secs[e]
                    if t > ld[u]:
                        ld[u] = t
                    if t > alight_ok[u]:
                        alight_ok[u] = t
        if blk_start <= i <= blk_end:
            blk_changed = blk_changed or changed
            if i == blk_end and blk_changed:
                blk_changed = False
                i = blk_start
                continue
        i += 1
    return ld
