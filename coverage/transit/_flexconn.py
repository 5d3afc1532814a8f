"""Model connections of flex services (private helper of :mod:`coverage.transit.flex`).

Implements the hub model documented in :mod:`coverage.transit.flex`: per service
and day a model vehicle passes the zone's hub at ``t_k = w0 + k * takt``; trip run
``(service, day, k)`` has the connections ``a → hub`` (departing ``t_k - τ(a)``,
boarding only) for pickup entries whose window contains that departure and
``hub → b`` (arriving ``t_k + τ(b)``, alighting only) for drop-off entries whose
window contains that arrival. Runs lacking either side are dropped.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from coverage.transit.feed import Connections

__all__ = ["build_connections", "stop_layout"]

_DAY = 86400


def _service_parts(
    svc: Any,
    rules: dict[str, Any],
    hub: tuple[float, float],
    stop_idx: np.ndarray,
    hub_idx: int,
    *,
    takt_s: int,
    umweg_faktor: float,
    geschwindigkeit_kmh: float,
    vorlauf_min_default: float,
) -> dict[str, np.ndarray] | None:
    """Connections of one service day (times of the service day), with run number ``k`` per connection."""
    tau = svc.leg_seconds(svc.x, svc.y, hub, umweg_faktor=umweg_faktor, geschwindigkeit_kmh=geschwindigkeit_kmh)
    ws = svc.window_start_s.astype(np.int64)
    we = svc.window_end_s.astype(np.int64)
    w0, w1 = int(ws.min()), int(we.max())
    grid = w0 + takt_s * np.arange((w1 - w0) // takt_s + 1, dtype=np.int64)
    dep = grid[:, None] - tau[None, :]  # pickup departures, (K, E)
    arr = grid[:, None] + tau[None, :]  # drop-off arrivals
    pick = svc.pickup[None, :] & (dep >= ws[None, :]) & (dep <= we[None, :])
    drop = svc.drop_off[None, :] & (arr >= ws[None, :]) & (arr <= we[None, :])
    run_ok = pick.any(axis=1) & drop.any(axis=1)
    pick &= run_ok[:, None]
    drop &= run_ok[:, None]
    kp, ep = np.nonzero(pick)
    kd, ed = np.nonzero(drop)
    if kp.size == 0:
        return None

    def notice(rule_ids: np.ndarray, times: np.ndarray) -> np.ndarray:
        out = np.full(times.shape, float(vorlauf_min_default))
        for rid in np.unique(rule_ids.astype(str)):
            if rid:
                m = rule_ids == rid
                out[m] = rules[rid].notice_min(times[m])
        return out

    return {
        "dep_stop": np.concatenate([stop_idx[ep], np.full(kd.size, hub_idx)]),
        "arr_stop": np.concatenate([np.full(kp.size, hub_idx), stop_idx[ed]]),
        "dep_time": np.concatenate([dep[kp, ep], grid[kd]]),
        "arr_time": np.concatenate([grid[kp], arr[kd, ed]]),
        "board": np.concatenate([np.ones(kp.size, bool), np.zeros(kd.size, bool)]),
        "alight": np.concatenate([np.zeros(kp.size, bool), np.ones(kd.size, bool)]),
        "kind": np.concatenate([np.zeros(kp.size, np.int8), np.ones(kd.size, np.int8)]),
        "k": np.concatenate([kp, kd]),
        "voranmeldung_min": np.concatenate(
            [notice(svc.pickup_rule_id[ep], dep[kp, ep]), notice(svc.drop_off_rule_id[ed], grid[kd])]
        ),
    }


def stop_layout(
    feed: Any, stop_ids: np.ndarray | None
) -> tuple[list[str], int, dict[str, int], list[tuple[float, float]]]:
    """Stop indices of the flex connections, independent of the date.

    Returns ``(ids, n_plain, hubs, hub_xy)``: the stop id per index (``stop_ids``
    first, then the flex stops not among them in the feed's order, then the hubs
    ``"flex-hub:<zone>"``), the number of non-hub stops, hub key → stop index and
    the hub coordinates (the centroid of the first service with that zone).
    """
    ids = [] if stop_ids is None else [str(s) for s in np.asarray(stop_ids, dtype=object)]
    index = set(ids)
    for svc in feed.services:
        for s in svc.stop_ids:
            if s not in index:
                index.add(s)
                ids.append(s)
    n_plain = len(ids)
    hubs: dict[str, int] = {}
    hub_xy: list[tuple[float, float]] = []
    for svc in feed.services:
        if svc.hub_key not in hubs:
            hubs[svc.hub_key] = n_plain + len(hubs)
            hub_xy.append(svc.hub_xy)
    return ids + [f"flex-hub:{k}" for k in hubs], n_plain, hubs, hub_xy


def build_connections(
    feed: Any,
    date: dt.date,
    *,
    stop_ids: np.ndarray | None,
    takt_s: int,
    umweg_faktor: float,
    geschwindigkeit_kmh: float,
    next_day_s: int,
    vorlauf_min_default: float,
) -> dict[str, Any]:
    """Keyword arguments of :class:`~coverage.transit.flex.FlexConnections` for ``date``."""
    base = [] if stop_ids is None else [str(s) for s in np.asarray(stop_ids, dtype=object)]
    ids, n_plain, hubs, hub_xy = stop_layout(feed, stop_ids)
    index = {s: i for i, s in enumerate(ids[:n_plain])}
    services = feed.services
    hub_pos = {k: i for i, k in enumerate(hubs)}
    # hubs are fixed per zone: the centroid of the first service with that zone
    parts: list[dict[str, np.ndarray]] = []
    run_service: list[int] = []
    run_offset: list[int] = []
    offsets = [0]
    if any(int(s.window_end_s.max()) >= _DAY for s in services):
        offsets.extend(-k for k in range(1, max(int(s.window_end_s.max()) for s in services) // _DAY + 1))
    if next_day_s >= 0:
        offsets.append(1)
    for off in offsets:
        day = date + dt.timedelta(days=off)
        for si, svc in enumerate(services):
            if not svc.runs_on(day):
                continue
            stop_idx = np.array([index[s] for s in svc.stop_ids], dtype=np.int64)
            p = _service_parts(
                svc,
                feed.booking_rules,
                hub_xy[hub_pos[svc.hub_key]],
                stop_idx,
                hubs[svc.hub_key],
                takt_s=takt_s,
                umweg_faktor=umweg_faktor,
                geschwindigkeit_kmh=geschwindigkeit_kmh,
                vorlauf_min_default=vorlauf_min_default,
            )
            if p is None:
                continue
            shift = off * _DAY
            keep = np.ones(p["k"].shape, dtype=bool)
            if off < 0:
                keep &= p["arr_time"] + shift >= 0
            elif off > 0:
                keep &= p["dep_time"] <= next_day_s
            p = {key: v[keep] for key, v in p.items()}
            p["dep_time"] = p["dep_time"] + shift
            p["arr_time"] = p["arr_time"] + shift
            ks, run_local = np.unique(p["k"], return_inverse=True)
            p["trip"] = run_local + len(run_service)
            run_service.extend([si] * ks.size)
            run_offset.extend([off] * ks.size)
            parts.append(p)
    keys = ("dep_stop", "arr_stop", "dep_time", "arr_time", "board", "alight", "kind", "trip", "voranmeldung_min")
    if parts:
        cat = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    else:
        cat = {k: np.zeros(0, dtype=np.int64) for k in keys}
    # travel order within a run: pickups before drop-offs at equal times; then Connections keeps this order
    order = np.lexsort((cat["kind"], cat["arr_time"], cat["dep_time"]))
    n_stops = n_plain + len(hubs)
    conns = Connections.from_arrays(
        cat["dep_stop"][order],
        cat["arr_stop"][order],
        cat["dep_time"][order],
        cat["arr_time"][order],
        cat["trip"][order],
        board=cat["board"][order].astype(bool),
        alight=cat["alight"][order].astype(bool),
        n_stops=n_stops,
        stop_ids=np.array(ids, dtype=object),
        min_transfer=np.zeros(n_stops),
        date=date,
        run_trip=np.full(len(run_service), -1, dtype=np.int32),
        run_day_offset=np.asarray(run_offset, dtype=np.int32),
    )
    return {
        "connections": conns,
        "bedarf": np.ones(len(conns), dtype=bool),
        "voranmeldung_min": cat["voranmeldung_min"][order].astype(np.float64),
        "stop_ids": conns.stop_ids,
        "n_base_stops": len(base),
        "hub_stop": np.arange(n_plain, n_stops, dtype=np.int32),
        "hub_x": np.array([h[0] for h in hub_xy], dtype=np.float64),
        "hub_y": np.array([h[1] for h in hub_xy], dtype=np.float64),
        "run_service": np.asarray(run_service, dtype=np.int32),
    }
