"""GTFS-Flex v2 on-demand service (Rufbus, Anruf-Sammel-Taxi) as connections for the exact router.

:func:`load_flex` reads a GTFS-Flex v2 feed (zip or folder): ``booking_rules.txt``,
``location_groups.txt`` (with ``location_group_stops.txt`` of the adopted spec, or
the ``location_id`` column of the older draft used e.g. by the Uckermark feed),
``locations.geojson`` (zones as polygons: the stops inside a polygon belong to the
zone; a polygon without stops is skipped with a warning), ``stop_times.txt`` with
``start_pickup_drop_off_window``/``end_pickup_drop_off_window`` (or the draft names
``start_pickup_dropoff_window``/``end_pickup_dropoff_window``) and
``pickup_booking_rule_id``/``drop_off_booking_rule_id``, ``trips.txt``,
``routes.txt``, ``calendar.txt``/``calendar_dates.txt`` and ``stops.txt``. Rows of
``stop_times.txt`` without a window (fixed stops of a deviated route) are left to
the fixed-schedule feed and ignored here.

The estimate (:meth:`FlexFeed.connections`)
--------------------------------------------
A flex trip carries a person from any stop of its zone where pickup is allowed to
any stop where drop-off is allowed, departing and arriving within the stop's
window on the trip's service days. Kursatlas does not simulate the dispatcher; it
replaces the service by a **model vehicle** that passes a virtual hub stop at the
centroid ``c`` of the zone's stops every ``takt_min`` minutes (hub times
``t_k = w0 + k * takt``, ``w0`` = earliest window start of the trip) and

* leaves every pickup stop ``a`` at ``t_k - τ(a)`` (connection ``a → hub``,
  boarding only) and
* reaches every drop-off stop ``b`` at ``t_k + τ(b)`` (connection ``hub → b``,
  alighting only), both in one trip run, so a ride ``a → b`` takes
  ``τ(a) + τ(b)`` (detour via the zone centre: at least the direct estimate,
  i.e. on the safe side) and the wait for a ride is at most ``takt_min``;
* a connection exists only if its departure (pickup) or arrival (drop-off) lies
  inside that stop's window, so no ride starts or ends outside its window.

``τ(s) = ceil(|s - c| * umweg_faktor / v)`` seconds with ``v = geschwindigkeit_kmh``
and the straight-line distance ``|s - c|`` in EPSG:25832. Where the feed gives
``mean_duration_factor``/``mean_duration_offset`` (draft spec, in
``stop_times.txt``; offset in minutes) the feed's formula is used instead:
``τ(s) = ceil(factor * |s - c| / v + offset / 2)`` (the offset is split between
the two legs of a ride). No person changes vehicles at the hub (boarding and
alighting are forbidden there), so the hub adds no false transfers. On this
timetable the Connection Scan stays exact; only the timetable is an estimate.

The size is bounded by ``2 * stops * window / takt`` connections per trip and day
(about 26,000 for a 150-stop zone with a 14.5 h window at 10 min); the count is
logged.

Prior notice is part of the result: :class:`FlexConnections` carries
``voranmeldung_min`` per connection (pickup connections: the pickup booking rule;
drop-off connections: the drop-off booking rule). ``booking_type`` 0 gives 0,
1 gives ``prior_notice_duration_min``, 2 gives the minutes from the latest
booking moment (``prior_notice_last_day`` days before at
``prior_notice_last_time``) to the departure. Connections without a booking rule
get ``vorlauf_min_default`` (NaN unless given).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from coverage import ANALYSIS_CRS
from coverage.errors import GTFSError, RoutingError
from coverage.transit import _flexread as rd
from coverage.transit._flexconn import build_connections, stop_layout
from coverage.transit._flexzones import build_services
from coverage.transit.feed import Connections

if TYPE_CHECKING:
    from coverage.transit.routing import Footpaths

__all__ = [
    "BookingRule",
    "FlexConnections",
    "FlexFeed",
    "FlexService",
    "extend_footpaths",
    "load_flex",
    "merge_connections",
]

logger = logging.getLogger(__name__)

_DAY = 86400


@dataclass(frozen=True)
class BookingRule:
    """One row of ``booking_rules.txt``.

    Attributes
    ----------
    booking_rule_id : str
    booking_type : int
        0 real time, 1 same day with prior notice, 2 up to some days before.
    prior_notice_min : int or None
        ``prior_notice_duration_min`` (type 1).
    last_day : int or None
        ``prior_notice_last_day`` (type 2).
    last_time_s : int or None
        ``prior_notice_last_time`` in seconds (type 2).
    message, phone : str
        Booking text and phone number (may be empty).
    info_url, booking_url : str
    """

    booking_rule_id: str
    booking_type: int
    prior_notice_min: int | None = None
    last_day: int | None = None
    last_time_s: int | None = None
    message: str = ""
    phone: str = ""
    info_url: str = ""
    booking_url: str = ""

    def notice_min(self, departure_s: np.ndarray) -> np.ndarray:
        """Prior notice in minutes for departures at ``departure_s`` (seconds of the service day)."""
        dep = np.asarray(departure_s, dtype=np.float64)
        if self.booking_type == 0:
            return np.zeros_like(dep)
        if self.booking_type == 1:
            return np.full_like(dep, float(self.prior_notice_min or 0))
        return (dep + (self.last_day or 0) * _DAY - (self.last_time_s or 0)) / 60.0


@dataclass(frozen=True, eq=False)
class FlexService:
    """The flex part of one trip of ``trips.txt``: who can ride where and when.

    One *entry* per (windowed ``stop_times`` row, stop of its zone).

    Attributes
    ----------
    trip_id, route_id, route_short_name, service_id : str
    route_type : int or None
    zone_ids : tuple of str
        Location group / location / stop ids of the windowed rows.
    stop_ids : numpy.ndarray of object
        Stop id per entry.
    x, y : numpy.ndarray of float64
        Entry coordinates in EPSG:25832.
    pickup, drop_off : numpy.ndarray of bool
        Boarding / alighting allowed (``pickup_type``/``drop_off_type`` ≠ 1).
    window_start_s, window_end_s : numpy.ndarray of int32
        Window of the entry's row in seconds of the service day (may exceed 86400).
    pickup_rule_id, drop_off_rule_id : numpy.ndarray of object
        Booking rule id per entry (``""`` = none).
    service_days : frozenset of datetime.date
        Dates on which the trip's service runs.
    mean_duration_factor : float or None
    mean_duration_offset_min : float or None
        The feed's travel-time formula, if given (see module docstring).
    """

    trip_id: str
    route_id: str
    route_short_name: str
    route_type: int | None
    service_id: str
    zone_ids: tuple[str, ...]
    stop_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    pickup: np.ndarray
    drop_off: np.ndarray
    window_start_s: np.ndarray
    window_end_s: np.ndarray
    pickup_rule_id: np.ndarray
    drop_off_rule_id: np.ndarray
    service_days: frozenset[dt.date]
    mean_duration_factor: float | None = None
    mean_duration_offset_min: float | None = None

    @property
    def hub_key(self) -> str:
        """Identifier of the zone(s); services with equal keys share one hub."""
        return "+".join(self.zone_ids)

    @property
    def hub_xy(self) -> tuple[float, float]:
        """Centroid of the distinct entry stops (EPSG:25832)."""
        _, first = np.unique(self.stop_ids.astype(str), return_index=True)
        return float(self.x[first].mean()), float(self.y[first].mean())

    @property
    def window_s(self) -> tuple[int, int]:
        """Earliest window start and latest window end over the entries."""
        return int(self.window_start_s.min()), int(self.window_end_s.max())

    def runs_on(self, date: dt.date) -> bool:
        """True if the service runs on ``date``."""
        return date in self.service_days

    def leg_seconds(
        self, x: np.ndarray, y: np.ndarray, hub: tuple[float, float], *, umweg_faktor: float, geschwindigkeit_kmh: float
    ) -> np.ndarray:
        """In-vehicle time ``τ`` between points and the hub in whole seconds (module docstring)."""
        d = np.hypot(np.asarray(x) - hub[0], np.asarray(y) - hub[1])
        v = geschwindigkeit_kmh / 3.6
        if self.mean_duration_factor is not None or self.mean_duration_offset_min is not None:
            f = 1.0 if self.mean_duration_factor is None else self.mean_duration_factor
            off = 0.0 if self.mean_duration_offset_min is None else self.mean_duration_offset_min
            secs = f * d / v + off * 30.0
        else:
            secs = d * umweg_faktor / v
        return np.ceil(secs - 1e-6).astype(np.int64)  # tolerance: coordinates went through lon/lat


@dataclass(frozen=True, eq=False)
class FlexConnections:
    """Flex connections (optionally merged with fixed ones) plus what the router does not see.

    Attributes
    ----------
    connections : Connections
        Sorted as required by the routers; stop index ``i`` is ``stop_ids[i]``.
    bedarf : numpy.ndarray of bool
        Per connection (same order): runs only on request (flex, or a fixed trip
        declared on-demand).
    voranmeldung_min : numpy.ndarray of float64
        Per connection: booking lead time in minutes (0 for regular service, NaN
        = unknown).
    stop_ids : numpy.ndarray of object
        Stop id per stop index: the ``stop_ids`` passed in first, then flex stops
        not among them, then the hubs (``"flex-hub:<zone>"``).
    n_base_stops : int
        Number of stop ids passed in (``len(stop_ids)`` argument, 0 if none).
    hub_stop : numpy.ndarray of int32
        Stop index of the hub per hub (``hub_stop[h]``); hubs are the last stops.
    hub_x, hub_y : numpy.ndarray of float64
        Hub coordinates (EPSG:25832).
    run_service : numpy.ndarray of int32
        Per trip run of ``connections``: index into :attr:`FlexFeed.services`,
        -1 for fixed-schedule runs.
    """

    connections: Connections
    bedarf: np.ndarray
    voranmeldung_min: np.ndarray
    stop_ids: np.ndarray
    n_base_stops: int
    hub_stop: np.ndarray
    hub_x: np.ndarray
    hub_y: np.ndarray
    run_service: np.ndarray

    def __len__(self) -> int:
        return len(self.connections)

    @property
    def n_stops(self) -> int:
        """Number of stop indices (base stops, extra flex stops, hubs)."""
        return int(self.stop_ids.shape[0])


@dataclass(eq=False)
class FlexFeed:
    """A validated GTFS-Flex feed.

    Attributes
    ----------
    path : str
    services : tuple of FlexService
        One per trip with at least one windowed stop time and a usable zone.
    booking_rules : dict of str to BookingRule
    zones : dict of str to tuple of str
        Zone id (location group, location, or stop) -> stop ids, as resolved.
    stops : pandas.DataFrame
        ``stop_id``, ``stop_lon``, ``stop_lat``, ``x``, ``y`` (EPSG:25832) of all
        known stops (the feed's and those passed to :func:`load_flex`).
    warnings : list of str
        German notes on what was skipped (also logged).
    """

    path: str
    services: tuple[FlexService, ...]
    booking_rules: dict[str, BookingRule]
    zones: dict[str, tuple[str, ...]]
    stops: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def date_range(self) -> tuple[dt.date, dt.date]:
        """First and last service date over all services."""
        days = [d for s in self.services for d in s.service_days]
        if not days:
            raise RoutingError("Der GTFS-Flex-Feed enthält keine Verkehrstage.")
        return min(days), max(days)

    def services_on(self, date: dt.date) -> list[int]:
        """Indices of :attr:`services` running on ``date``."""
        return [i for i, s in enumerate(self.services) if s.runs_on(date)]

    def stop_layout(self, stop_ids: np.ndarray | None = None) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
        """Stop indices of :meth:`connections` (the same for every date).

        Parameters
        ----------
        stop_ids
            As for :meth:`connections`.

        Returns
        -------
        ids : numpy.ndarray of object
            Stop id per stop index (``stop_ids`` first, then the other flex stops, then the hubs).
        n_plain : int
            Number of stops that are not hubs.
        x, y : numpy.ndarray of float64
            EPSG:25832 coordinates from :attr:`stops` (NaN for hubs and unknown stops).
        """
        ids, n_plain, _, _ = stop_layout(self, stop_ids)
        xy = self.stops.drop_duplicates("stop_id").set_index("stop_id")[["x", "y"]]
        known = xy.reindex(pd.Index(ids[:n_plain], dtype=object))
        x = np.concatenate([known["x"].to_numpy(np.float64), np.full(len(ids) - n_plain, np.nan)])
        y = np.concatenate([known["y"].to_numpy(np.float64), np.full(len(ids) - n_plain, np.nan)])
        return np.array(ids, dtype=object), n_plain, x, y

    def connections(
        self,
        date: dt.date,
        *,
        stop_ids: np.ndarray | None = None,
        takt_min: float = 10.0,
        umweg_faktor: float = 1.3,
        geschwindigkeit_kmh: float = 30.0,
        next_day_s: int = -1,
        vorlauf_min_default: float = math.nan,
    ) -> FlexConnections:
        """Model connections of the flex service on ``date`` (estimate: module docstring).

        Parameters
        ----------
        date
            Service date. Services of ``date - 1`` whose windows run past midnight
            contribute the connections arriving at or after 0:00 (times - 86400);
            with ``next_day_s >= 0`` the services of ``date + 1`` contribute the
            connections departing at most ``next_day_s`` after midnight (times +
            86400), as in :meth:`coverage.transit.gtfs.Feed.connections`.
        stop_ids
            Stop ids of the fixed feed (``Feed.stop_ids``); they keep their
            indices, so the result can be merged with :func:`merge_connections`.
            None = only the flex stops.
        takt_min
            Interval of the model vehicle at the hub in minutes (> 0).
        umweg_faktor
            Ratio of road to straight-line distance (≥ 1).
        geschwindigkeit_kmh
            Average speed of the vehicle (> 0).
        next_day_s
            See above; negative (default) = none.
        vorlauf_min_default
            Prior notice for connections without a booking rule.

        Returns
        -------
        FlexConnections
        """
        if not (takt_min > 0 and umweg_faktor >= 1 and geschwindigkeit_kmh > 0):
            raise RoutingError("Erlaubt sind takt_min > 0, umweg_faktor ≥ 1 und geschwindigkeit_kmh > 0.")
        if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
            raise RoutingError(f"Erwartet wird ein datetime.date, nicht {type(date).__name__}.")
        arrays = build_connections(
            self,
            date,
            stop_ids=stop_ids,
            takt_s=round(takt_min * 60),
            umweg_faktor=umweg_faktor,
            geschwindigkeit_kmh=geschwindigkeit_kmh,
            next_day_s=int(next_day_s),
            vorlauf_min_default=vorlauf_min_default,
        )
        out = FlexConnections(**arrays)
        logger.info(
            "Rufbus (GTFS-Flex) am %s: %d Modellverbindungen in %d Modellfahrten, %d Zonen",
            date.isoformat(),
            len(out),
            out.connections.n_trips,
            out.hub_stop.shape[0],
        )
        if len(out) > 2_000_000:
            logger.warning(
                "Rufbus (GTFS-Flex): %d Modellverbindungen an einem Tag; ein größerer takt_min verkleinert sie.",
                len(out),
            )
        return out


def load_flex(path: str | Path, *, stops: pd.DataFrame | None = None) -> FlexFeed:
    """Read and validate a GTFS-Flex v2 feed.

    Parameters
    ----------
    path
        ``.zip`` archive or directory.
    stops
        Further stops (e.g. :attr:`coverage.transit.gtfs.Feed.stops`) with
        ``stop_id``, ``stop_lat``, ``stop_lon``: location groups may name them and
        polygons of ``locations.geojson`` collect them. The feed's own
        ``stops.txt`` takes precedence for equal ids.

    Returns
    -------
    FlexFeed

    Raises
    ------
    GTFSError
        For any rule violation (file, row, column, value and what is allowed in
        the message).
    """
    p = Path(path)
    warnings: list[str] = []
    with rd.FlexFiles(p) as files:
        if not files.has("trips.txt") or not files.has("stop_times.txt"):
            missing = "trips.txt" if not files.has("trips.txt") else "stop_times.txt"
            raise GTFSError("Pflichtdatei fehlt im GTFS-Flex-Feed.", file=missing)
        coords = _stop_table(rd.parse_stops(files), stops)
        rules = {k: BookingRule(k, **_rule_kwargs(v)) for k, v in rd.parse_booking_rules(files).items()}
        cal_rules, exceptions = rd.parse_calendar(files)
        days = rd.service_dates(cal_rules, exceptions)
        fields, zones = build_services(files, coords, rules, days, warnings)
        services = [FlexService(**f) for f in fields]
    for w in warnings:
        logger.warning("%s", w)
    logger.info("GTFS-Flex-Feed %s: %d Bedarfsfahrten in %d Zonen gelesen", p, len(services), len(zones))
    return FlexFeed(str(p), tuple(services), rules, zones, coords, warnings)


def _rule_kwargs(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "booking_type": v["booking_type"],
        "prior_notice_min": v["prior_notice_duration_min"],
        "last_day": v["prior_notice_last_day"],
        "last_time_s": v["prior_notice_last_time"],
        "message": v["message"],
        "phone": v["phone_number"],
        "info_url": v["info_url"],
        "booking_url": v["booking_url"],
    }


def _stop_table(own: dict[str, tuple[float, float]], extra: pd.DataFrame | None) -> pd.DataFrame:
    """All known stops with WGS84 and EPSG:25832 coordinates (own stops first)."""
    ids = list(own)
    lon = [own[s][0] for s in ids]
    lat = [own[s][1] for s in ids]
    if extra is not None and len(extra):
        for col in ("stop_id", "stop_lat", "stop_lon"):
            if col not in extra.columns:
                raise GTFSError(f"Der Haltestellentabelle fehlt die Spalte '{col}'.", file="stops (Parameter)")
        seen = set(ids)
        for sid, la, lo in zip(extra["stop_id"].astype(str), extra["stop_lat"], extra["stop_lon"], strict=True):
            if sid not in seen:
                seen.add(sid)
                ids.append(sid)
                lon.append(float(lo) if pd.notna(lo) else math.nan)
                lat.append(float(la) if pd.notna(la) else math.nan)
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    x = np.full(lon_a.shape, np.nan)
    y = np.full(lon_a.shape, np.nan)
    ok = np.isfinite(lon_a) & np.isfinite(lat_a)
    if ok.any():
        from pyproj import Transformer

        tr = Transformer.from_crs("EPSG:4326", ANALYSIS_CRS, always_xy=True)
        x[ok], y[ok] = tr.transform(lon_a[ok], lat_a[ok])
    return pd.DataFrame({"stop_id": pd.Series(ids, dtype=object), "stop_lon": lon_a, "stop_lat": lat_a, "x": x, "y": y})


def merge_connections(
    fixed: Connections,
    flex: FlexConnections | None = None,
    *,
    on_demand: np.ndarray | None = None,
    vorlauf_min: float = 60.0,
) -> FlexConnections:
    """Fixed-schedule connections and flex connections in one timetable.

    Parameters
    ----------
    fixed
        :meth:`coverage.transit.gtfs.Feed.connections` of the date.
    flex
        :meth:`FlexFeed.connections` of the same date, built with
        ``stop_ids=fixed.stop_ids``; None = no flex feed.
    on_demand
        Bool mask over the fixed feed's trips (``Feed.trips`` rows, e.g. from
        :func:`coverage.transit.ondemand.on_demand_trips`): these trips run only
        on request; their connections get ``bedarf`` and ``vorlauf_min``.
    vorlauf_min
        Booking lead time of the declared on-demand trips in minutes.

    Returns
    -------
    FlexConnections
        Stop indices ``0 .. fixed.n_stops-1`` unchanged; fixed trip runs keep
        their indices, flex runs follow. ``connections.run_trip`` is -1 for flex
        runs; ``run_service`` is -1 for fixed runs.
    """
    n_fixed = fixed.n_stops
    base_ids = (
        np.asarray(fixed.stop_ids, dtype=object)
        if fixed.stop_ids is not None
        else np.array([str(i) for i in range(n_fixed)], dtype=object)
    )
    fb = np.zeros(len(fixed), dtype=bool)
    if on_demand is not None:
        mask = np.asarray(on_demand, dtype=bool)
        if mask.ndim != 1 or (fixed.run_trip.size and mask.shape[0] <= int(fixed.run_trip.max())):
            raise RoutingError("on_demand muss eine Maske über alle Fahrten des Feeds (Feed.trips) sein.")
        fb = mask[fixed.run_trip[fixed.trip]] if len(fixed) else fb
    fv = np.where(fb, float(vorlauf_min), 0.0)
    if flex is None:
        empty = np.zeros(0, dtype=np.int32)
        return FlexConnections(
            fixed, fb, fv, base_ids, n_fixed, empty, np.zeros(0), np.zeros(0), np.full(fixed.n_trips, -1, np.int32)
        )
    if flex.n_base_stops != n_fixed or not np.array_equal(flex.stop_ids[:n_fixed].astype(str), base_ids.astype(str)):
        raise RoutingError("Die Rufbus-Verbindungen wurden nicht mit den Haltestellen dieses Fahrplans erzeugt.")
    c, g = fixed, flex.connections
    cat = {
        k: np.concatenate([getattr(c, k), getattr(g, k) + (c.n_trips if k == "trip" else 0)])
        for k in ("dep_stop", "arr_stop", "dep_time", "arr_time", "trip", "board", "alight")
    }
    bedarf = np.concatenate([fb, flex.bedarf])
    vor = np.concatenate([fv, flex.voranmeldung_min])
    # both inputs are in scan order (a valid travel order within each trip); a stable sort keeps it
    order = np.lexsort((cat["arr_time"], cat["dep_time"]))
    mt = None
    if c.min_transfer is not None:
        mt = np.concatenate([np.asarray(c.min_transfer, np.float64), np.zeros(flex.n_stops - n_fixed)])
    merged = Connections.from_arrays(
        *(cat[k][order] for k in ("dep_stop", "arr_stop", "dep_time", "arr_time", "trip")),
        board=cat["board"][order],
        alight=cat["alight"][order],
        n_stops=flex.n_stops,
        stop_ids=flex.stop_ids,
        min_transfer=mt,
        date=c.date,
        run_trip=np.concatenate([c.run_trip, np.full(g.n_trips, -1, np.int32)]),
        run_day_offset=np.concatenate([c.run_day_offset, g.run_day_offset]),
    )
    return FlexConnections(
        merged,
        bedarf[order],
        vor[order],
        flex.stop_ids,
        n_fixed,
        flex.hub_stop,
        flex.hub_x,
        flex.hub_y,
        np.concatenate([np.full(c.n_trips, -1, np.int32), flex.run_service]),
    )


def extend_footpaths(footpaths: Footpaths, n_stops: int) -> Footpaths:
    """The same footpaths over ``n_stops`` stops (the added stops, e.g. hubs, get none)."""
    from coverage.transit.routing import Footpaths

    if n_stops < footpaths.n_stops:
        raise RoutingError(f"n_stops ({n_stops}) ist kleiner als die Zahl der Haltestellen der Fußwege.")
    pad = np.full(n_stops - footpaths.n_stops, footpaths.indptr[-1], dtype=np.int64)
    return Footpaths(np.concatenate([footpaths.indptr, pad]), footpaths.indices, footpaths.seconds)
