"""On-demand service in the travel-time stage (Rufbus, Anruf-Sammel-Taxi; issue #17).

Helpers of :mod:`coverage.traveltime.engine` for regions with on-demand service
(:attr:`Networks.has_on_demand <coverage.traveltime.engine.Networks.has_on_demand>`):

* :func:`merged_connections`: the fixed feed's connections of a day with the
  declared on-demand trips marked and the flex model connections merged in
  (mode ``rufbus``); :func:`fixed_only` drops every on-demand connection again
  (mode ``oepnv``), on the same stop indices;
* :func:`day_signature`: days with equal signatures have identical connections in
  both modes;
* :func:`stop_xy`: coordinates per stop index (the feed's stops, then the flex-only
  stops, then the hubs without walking access);
* :func:`vorlauf_max_min`: the longest booking lead time, stated in the tables;
* :func:`key_parts`: what of the on-demand service enters :attr:`Networks.key`;
* :func:`zone_areas`: the flex zones as areas for the maps.

The flex estimate uses a model vehicle every ``[netz] rufbus_takt_min`` minutes (default
:data:`TAKT_MIN`), a detour factor (:data:`UMWEG_FAKTOR`) and a speed (:data:`GESCHWINDIGKEIT_KMH`) (see
:mod:`coverage.transit.flex`). The functions take the networks as an argument
and do not import the engine.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np

from coverage.transit import flex
from coverage.transit.feed import Connections
from coverage.transit.flex import FlexConnections

__all__ = [
    "GESCHWINDIGKEIT_KMH",
    "TAKT_MIN",
    "UMWEG_FAKTOR",
    "day_signature",
    "fixed_only",
    "key_parts",
    "merged_connections",
    "stop_xy",
    "vorlauf_max_min",
    "zone_areas",
]

TAKT_MIN = 10.0
"""Interval of the flex model vehicle at the zone centre, minutes."""
UMWEG_FAKTOR = 1.3
"""Road distance / straight-line distance of flex rides."""
GESCHWINDIGKEIT_KMH = 30.0
"""Average speed of flex rides."""


def merged_connections(networks: Any, date: dt.date, signature: tuple[str, ...], next_day_s: int) -> FlexConnections:
    """Fixed and on-demand connections of one service day, built every time.

    Parameters
    ----------
    networks
        :class:`~coverage.traveltime.engine.Networks` with a feed.
    date
        The service day.
    signature
        :func:`day_signature` of the day with ``next_day_s`` (not used here; the
        cached variant keys by it).
    next_day_s
        Night trips of the next service day up to this many seconds after midnight.

    Returns
    -------
    FlexConnections
        The declared trips (``networks.on_demand``) carry ``bedarf`` and the lead
        time ``networks.rufbus_vorlauf_min``; the flex feed adds its model
        connections.
    """
    fixed = networks.feed.connections(date, next_day_s=next_day_s)
    extra = None
    if networks.flex is not None:
        takt_min, umweg_faktor, geschwindigkeit_kmh = _modell(networks)
        extra = networks.flex.connections(
            date,
            stop_ids=networks.feed.stop_ids,
            takt_min=takt_min,
            umweg_faktor=umweg_faktor,
            geschwindigkeit_kmh=geschwindigkeit_kmh,
            next_day_s=next_day_s,
            vorlauf_min_default=networks.rufbus_vorlauf_min,
        )
    return flex.merge_connections(fixed, extra, on_demand=networks.on_demand, vorlauf_min=networks.rufbus_vorlauf_min)


def fixed_only(merged: FlexConnections) -> Connections:
    """The connections of ``merged`` that run by timetable (``bedarf`` false), on the same stop indices."""
    c = merged.connections
    keep = ~np.asarray(merged.bedarf, dtype=bool)
    if keep.all():
        return c
    trips = c.trip[keep]
    n_trips = int(trips.max(initial=-1)) + 1
    return Connections.from_arrays(
        c.dep_stop[keep],
        c.arr_stop[keep],
        c.dep_time[keep],
        c.arr_time[keep],
        trips,
        board=c.board[keep],
        alight=c.alight[keep],
        n_stops=c.n_stops,
        stop_ids=c.stop_ids,
        min_transfer=c.min_transfer,
        date=c.date,
        run_trip=c.run_trip[:n_trips],
        run_day_offset=c.run_day_offset[:n_trips],
    )


def day_signature(networks: Any, date: dt.date, *, next_day_s: int = -1) -> tuple[str, ...]:
    """Days with equal signatures have identical connections in the modes ``oepnv`` and ``rufbus``.

    :meth:`Feed.service_signature <coverage.transit.feed.Feed.service_signature>`;
    with a flex feed, the flex services running on the date and on the days around
    it (``flex:<offset>:<index>``; windows past midnight reach into the next
    days) are appended: a coarse but safe distinction.
    """
    sig = networks.feed.service_signature(date, next_day_s=next_day_s)
    if networks.flex is not None:
        offsets = (-2, -1, 0, 1) if next_day_s >= 0 else (-2, -1, 0)
        sig = sig + tuple(
            f"flex:{off}:{i}" for off in offsets for i in networks.flex.services_on(date + dt.timedelta(days=off))
        )
    return sig


def stop_xy(networks: Any) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:25832 coordinates per stop index of the transit modes (NaN: no walking access).

    Without a flex feed: the feed's stops. With one: the feed's stops, then the
    flex-only stops, then the flex hubs (NaN), as in
    :meth:`coverage.transit.flex.FlexFeed.stop_layout`, so walking access and
    footpaths cover the stops only the Rufbus serves and never the hubs.
    """
    fs = networks.feed.stops
    x = fs["x"].to_numpy(dtype=float)
    y = fs["y"].to_numpy(dtype=float)
    if networks.has_on_demand and networks.flex is not None:
        _, _, fx, fy = networks.flex.stop_layout(networks.feed.stop_ids)
        x = np.concatenate([x, fx[len(x) :]])
        y = np.concatenate([y, fy[len(y) :]])
    return x, y


def vorlauf_max_min(networks: Any) -> float:
    """Longest booking lead time of the region's on-demand service in minutes.

    The declared trips count with ``networks.rufbus_vorlauf_min``; flex services
    with the prior notice of their booking rules at the start and end of their
    window (a rule of ``booking_type`` 2 depends on the departure), without a rule
    with ``networks.rufbus_vorlauf_min``. A maximum over the service, not over the
    rides actually used: on the safe side for the tables.
    """
    out: list[float] = []
    if networks.on_demand is not None and np.asarray(networks.on_demand).any():
        out.append(float(networks.rufbus_vorlauf_min))
    if networks.flex is not None:
        for svc in networks.flex.services:
            ends = np.array(svc.window_s, dtype=np.float64)
            for rid in np.unique(np.concatenate([svc.pickup_rule_id, svc.drop_off_rule_id]).astype(str)):
                rule = networks.flex.booking_rules.get(rid) if rid else None
                out.extend(rule.notice_min(ends).tolist() if rule else [float(networks.rufbus_vorlauf_min)])
    return float(max(out, default=0.0))


def key_parts(networks: Any, flex_path: Path | None) -> tuple:
    """What of the on-demand service enters :attr:`Networks.key`: flex content, mask, lead time, model."""
    from coverage.cache.store import tree_xxh128

    mask = networks.on_demand
    return (
        "rufbus",
        tree_xxh128(flex_path) if (flex_path is not None and networks.flex is not None) else "",
        np.packbits(np.asarray(mask, dtype=bool)) if mask is not None else np.zeros(0, np.uint8),
        float(networks.rufbus_vorlauf_min),
        tuple(float(x) for x in _modell(networks)),
    )


def _modell(networks: Any) -> tuple[float, float, float]:
    """The region's flex estimate (``Networks.rufbus_modell``), the defaults for a stand-in without it."""
    return tuple(getattr(networks, "rufbus_modell", (TAKT_MIN, UMWEG_FAKTOR, GESCHWINDIGKEIT_KMH)))


def zone_areas(networks: Any, *, buffer_m: float = 500.0) -> Any:
    """The flex zones as areas (EPSG:25832) for the maps: convex hull of the zone's stops plus ``buffer_m``.

    Parameters
    ----------
    networks
        :class:`~coverage.traveltime.engine.Networks`.
    buffer_m
        Buffer around the hull (a zone of one or two stops becomes a disc or a band).

    Returns
    -------
    geopandas.GeoDataFrame or None
        One row per zone served by a flex service: ``zone_id``, ``linie`` (route
        short names), ``buchung`` (booking rule text: message, phone, lead time;
        plain text, escape before use in HTML), ``vorlauf_min`` (longest prior
        notice); None without a flex feed.
    """
    import geopandas as gpd
    from shapely.geometry import MultiPoint

    fx = networks.flex
    if fx is None or not fx.services:
        return None
    rows: dict[str, dict[str, Any]] = {}
    for svc in fx.services:
        row = rows.setdefault(
            svc.hub_key, {"zone_id": svc.hub_key, "linie": set(), "buchung": set(), "vorlauf_min": 0.0, "xy": set()}
        )
        if svc.route_short_name:
            row["linie"].add(svc.route_short_name)
        ok = np.isfinite(svc.x) & np.isfinite(svc.y)
        row["xy"].update(zip(svc.x[ok].round(1).tolist(), svc.y[ok].round(1).tolist(), strict=True))
        ends = np.array(svc.window_s, dtype=np.float64)
        for rid in np.unique(np.concatenate([svc.pickup_rule_id, svc.drop_off_rule_id]).astype(str)):
            rule = fx.booking_rules.get(rid) if rid else None
            if rule is None:
                row["vorlauf_min"] = max(row["vorlauf_min"], float(networks.rufbus_vorlauf_min))
                continue
            row["vorlauf_min"] = max(row["vorlauf_min"], float(np.max(rule.notice_min(ends))))
            text = " ".join(t for t in (rule.message, f"Tel. {rule.phone}" if rule.phone else "") if t)
            if text:
                row["buchung"].add(text)
    out = []
    for row in rows.values():
        if not row["xy"]:
            continue
        geom = MultiPoint(sorted(row["xy"])).convex_hull.buffer(buffer_m)
        lead = row["vorlauf_min"]
        booking = "; ".join(sorted(row["buchung"]))
        lead_text = f"Voranmeldung {lead:.0f} Minuten" if math.isfinite(lead) else ""
        out.append(
            {
                "zone_id": row["zone_id"],
                "linie": ", ".join(sorted(row["linie"])),
                "buchung": " – ".join(t for t in (booking, lead_text) if t),
                "vorlauf_min": lead,
                "geometry": geom,
            }
        )
    if not out:
        return None
    return gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:25832")
