"""Door-to-door travel times between origins and courses, schedule-exact.

For every origin and course this stage computes, per mode,

* ``hin``: minutes from leaving home to the course start, arriving in time
  (waiting at the site counts), and
* ``rueck``: minutes from the course end until home,

each the worst over all course days (dates from the first to the last course day
on the course's weekdays, minus public holidays). Days with the same active
services (including the previous day's trips past midnight and, for a way home
running past midnight, the next day's night trips) share one computation. Transit
routing is done *from the sites*: one reverse (latest departure) and one forward
(earliest arrival) Connection Scan per course schedule and service day, then a
sparse max-plus/min-plus step over the walking access matrix gives every origin
at once.

``oepnv`` includes walking to, from and between stops and is never worse than
walking the whole way. Snap distances to the street network are walked.

On-demand service (Rufbus, Anruf-Sammel-Taxi; issue #17): when the region has
some (a GTFS-Flex feed, ``[netz] rufbus_flex``, or trips of the fixed feed declared
on-demand, ``[netz] rufbus_*``), the table gets a fourth mode ``rufbus`` = public
transport *including* on-demand service (the declared trips and the flex model
connections of :func:`coverage.transit.flex.merge_connections`), and ``oepnv``
becomes the fixed-schedule service *without* on-demand trips. Both use the same
stop set (the feed's stops, then the flex-only stops, then the flex hubs, which get
no walking access and no footpaths). The booking lead time is not part of the
travel time; :attr:`Networks.rufbus_vorlauf_min` gives the longest one of the
region's on-demand service for the tables. Without on-demand service the modes,
arrays and outputs are those of the fixed feed alone.

This module computes; it keeps nothing. The disk cache of travel-time columns,
access matrices and day connections is :mod:`coverage.traveltime.store`, which
also holds :func:`~coverage.traveltime.store.course_travel_times`, the entry point
with and without a cache.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.inputs.config import OnDemandRules
from coverage.inputs.schema import MODES, RUFBUS_MODE, TRAVEL_MODES
from coverage.network import _osm, streets
from coverage.network import load as network_load
from coverage.network.load import load_street_networks
from coverage.network.streets import StreetNetwork, snap, street_times, street_times_sparse
from coverage.transit import _csa, _flexconn, _flexread, _flexzones, feed, flex, gtfs, ondemand, routing
from coverage.traveltime import rufbus

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.cache.store import Cache
    from coverage.inputs.config import Config, Parameters
    from coverage.inputs.load import Region
    from coverage.transit import Connections, Feed
    from coverage.transit.flex import FlexConnections, FlexFeed

__all__ = [
    "TRAVEL_CODE",
    "CourseTravelTimes",
    "DayConnections",
    "Networks",
    "Prepare",
    "RufbusConnections",
    "compute_travel_times",
    "course_days",
    "load_networks",
    "networks_key",
]

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class CourseTravelTimes:
    """Travel times origins × courses × modes, in minutes.

    Attributes
    ----------
    origin_ids
        Origin ids, shape ``(n_o,)``.
    course_ids
        Course ids, shape ``(n_c,)``.
    modes
        Mode keys in the order of the first axis (subset of ``fuss``, ``rad``, ``oepnv``
        and, in regions with on-demand service, ``rufbus``; see :attr:`Networks.modes`).
    hin
        ``(n_modes, n_o, n_c)`` minutes to arrive by the start (worst course day); ``inf`` = impossible.
    rueck
        ``(n_modes, n_o, n_c)`` minutes home after the end (worst course day).
    column_keys
        ``(n_c,)`` content key of every course column (the travel-time cache key: a
        SHA-256 over the origins, networks, parameters, code and exactly the course
        fields the routing reads), or None. Equal keys mean equal columns, so later
        stages can identify a column by its key instead of hashing its values. Set by
        :func:`~coverage.traveltime.store.course_travel_times` with a cache; do not change ``hin``/``rueck`` in
        place while keys are set.
    """

    origin_ids: np.ndarray
    course_ids: np.ndarray
    modes: tuple[str, ...]
    hin: np.ndarray
    rueck: np.ndarray
    column_keys: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        shape = (len(self.modes), len(self.origin_ids), len(self.course_ids))
        if self.hin.shape != shape or self.rueck.shape != shape:
            raise ValueError(f"Reisezeiten haben die Form {self.hin.shape}/{self.rueck.shape}, erwartet {shape}.")
        if any(m not in TRAVEL_MODES for m in self.modes):
            raise ValueError(f"Unbekannter Modus in {self.modes}; erlaubt: {TRAVEL_MODES}.")
        if self.column_keys is not None and len(self.column_keys) != shape[2]:
            raise ValueError(f"{len(self.column_keys)} Spaltenschlüssel für {shape[2]} Kurse.")

    @property
    def course_index(self) -> dict[str, int]:
        """Course id → column index."""
        return {str(c): i for i, c in enumerate(self.course_ids)}

    def mode(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(hin, rueck)`` for one mode, each ``(n_o, n_c)``."""
        i = self.modes.index(name)
        return self.hin[i], self.rueck[i]

    def subset(self, courses: slice | list[int] | np.ndarray) -> CourseTravelTimes:
        """The same origins for a subset of the courses (slice or index list)."""
        return CourseTravelTimes(
            origin_ids=self.origin_ids,
            course_ids=np.asarray(self.course_ids)[courses],
            modes=self.modes,
            hin=self.hin[:, :, courses],
            rueck=self.rueck[:, :, courses],
            column_keys=None if self.column_keys is None else np.asarray(self.column_keys)[courses],
        )

    def to_long(self, *, finite_only: bool = True) -> pd.DataFrame:
        """Long format like r5py's TravelTimeMatrix.

        Columns ``herkunft_id``, ``kurs_id``, ``modus``, ``hin_min``, ``rueck_min``.
        """
        n_c = self.hin.shape[2]
        frames = []
        for i, m in enumerate(self.modes):
            h = self.hin[i].ravel()
            r = self.rueck[i].ravel()
            keep = np.isfinite(h) & np.isfinite(r) if finite_only else np.ones(h.shape, bool)
            idx = np.nonzero(keep)[0]
            frames.append(
                pd.DataFrame(
                    {
                        "herkunft_id": np.asarray(self.origin_ids)[idx // n_c],
                        "kurs_id": np.asarray(self.course_ids)[idx % n_c],
                        "modus": m,
                        "hin_min": h[idx],
                        "rueck_min": r[idx],
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Networks:
    """Street networks and timetable of a region.

    Attributes
    ----------
    walk, bike
        Walking and cycling networks.
    feed
        The GTFS feed, or None (then ``oepnv`` equals walking).
    key
        Content fingerprint of both networks, the feed file and (with on-demand
        service) the flex feed and the ``rufbus_*`` rules (cache key part).
    flex
        The GTFS-Flex feed (``[netz] rufbus_flex``), or None.
    on_demand
        Bool mask over ``feed.trips``: trips declared on-demand (``[netz] rufbus_*``), or None.
    rufbus_vorlauf_min
        Booking lead time of the declared on-demand trips (and of flex connections
        without a booking rule), minutes.
    rufbus_modell
        The flex estimate ``(takt_min, umweg_faktor, geschwindigkeit_kmh)``
        (``[netz] rufbus_takt_min`` …, see :mod:`coverage.transit.flex`).
    """

    walk: StreetNetwork
    bike: StreetNetwork
    feed: Feed | None = None
    key: str = ""
    flex: FlexFeed | None = field(default=None, compare=False)
    on_demand: np.ndarray | None = field(default=None, compare=False, repr=False)
    rufbus_vorlauf_min: float = 60.0
    rufbus_modell: tuple[float, float, float] = (10.0, 1.3, 30.0)

    @property
    def has_on_demand(self) -> bool:
        """True if the region has on-demand service the router can use (needs the fixed feed)."""
        if self.feed is None:
            return False
        marked = self.on_demand is not None and bool(np.asarray(self.on_demand).any())
        return marked or (self.flex is not None and len(self.flex.services) > 0)

    @property
    def modes(self) -> tuple[str, ...]:
        """Modes of the travel-time table: :data:`~coverage.inputs.schema.MODES`, plus ``rufbus`` with on-demand."""
        return TRAVEL_MODES if self.has_on_demand else MODES

    @property
    def vorlauf_max_min(self) -> float:
        """Longest booking lead time of the region's on-demand service in minutes (0 without).

        See :func:`coverage.traveltime.rufbus.vorlauf_max_min`.
        """
        return rufbus.vorlauf_max_min(self) if self.has_on_demand else 0.0

    def stop_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """EPSG:25832 coordinates per stop index of the transit modes (NaN: no walking access).

        See :func:`coverage.traveltime.rufbus.stop_xy`.
        """
        return rufbus.stop_xy(self)


def load_networks(config: Config, region: Region, *, cache: Cache | None = None) -> Networks:
    """Load the walk and bike networks and the GTFS feed named in ``config``.

    Parameters
    ----------
    config
        The region configuration.
    region
        The county; its analysis area (:attr:`coverage.inputs.load.Region.area`, the county
        plus ``[region] puffer_km``) clips the street networks (plus 2 km) and the
        timetable (every trip serving a stop in the area, cut to those stops).
    cache
        Disk cache for the parsed GTFS feed (see :func:`coverage.transit.gtfs.load_gtfs`),
        e.g. the one of :func:`coverage.workflow.pipeline.run`. Default: a cache in
        ``config.cache / "berechnung"``, the folder the pipeline uses. The street
        networks are read from the OSM file in one pass for both modes
        (:func:`coverage.network.load.load_street_networks`) and always cached in
        ``config.cache / "osm"``.

    Returns
    -------
    Networks
    """
    # one pass over the OSM file (also a whole Land extract) for both modes; cached by content
    walk, bike = load_street_networks(config.osm, boundary=region.area, cache_dir=config.cache / "osm")
    feed = None
    flex_feed = None
    mask = None
    rules = getattr(config, "rufbus", None) or OnDemandRules()  # a config stand-in without [netz] rufbus_*
    if config.gtfs is not None:
        if cache is None:
            from coverage.cache.store import Cache

            cache = Cache(config.cache / "berechnung")
        feed = gtfs.load_gtfs(config.gtfs, cache=cache, area=region.area)
        if len(feed.trips) == 0:
            from coverage.errors import GTFSError

            clip = feed.clip
            read = f" ({clip.trips_read:,} Fahrten gelesen)".replace(",", ".") if clip is not None else ""
            raise GTFSError(
                f"Der Fahrplan enthält keine Fahrt, die im Analysegebiet hält{read}. Ist stop_times.txt leer, "
                "oder gehört der Feed zu einer anderen Gegend? Ohne Fahrten rechnet Kursatlas nur zu Fuß und "
                "mit dem Rad; dann [netz] gtfs weglassen.",
                file=str(config.gtfs),
            )
        mask = ondemand.on_demand_trips(feed, rules)
        if rules.flex is not None:
            flex_feed = flex.load_flex(rules.flex, stops=feed.stops)
        n_marked = int(mask.sum())
        if n_marked:
            logger.info("Rufbus: %d Fahrten des Fahrplans fahren nur nach Anmeldung ([netz] rufbus_*)", n_marked)
    elif rules.flex is not None:
        logger.warning("[netz] rufbus_flex wird ohne [netz] gtfs nicht genutzt (Rufbus nur mit einem Fahrplan)")
    nets = Networks(
        walk=walk, bike=bike, feed=feed, flex=flex_feed, on_demand=mask, rufbus_vorlauf_min=rules.vorlauf_min,
        rufbus_modell=rules.modell,
    )
    parts = rufbus.key_parts(nets, rules.flex) if nets.has_on_demand else None
    return replace(nets, key=networks_key(walk, bike, config.gtfs, rufbus_parts=parts))


TRAVEL_CODE: tuple[ModuleType, ...] = (
    sys.modules[__name__], streets, network_load, _osm, routing, _csa, gtfs, feed,
    flex, _flexconn, _flexread, _flexzones, ondemand, rufbus,
)
"""Modules whose source enters every travel-time key (the cache kinds add :mod:`coverage.traveltime.store`)."""



def networks_key(
    walk: StreetNetwork, bike: StreetNetwork, gtfs: Path | None, *, rufbus_parts: tuple | None = None
) -> str:
    """Content fingerprint of the two street networks and the GTFS file.

    The feed's content enters as XXH3-128 (:func:`coverage.cache.store.tree_xxh128`): a
    Germany-wide feed of several hundred MB is hashed on every run. ``rufbus_parts`` (flex
    feed content, on-demand mask, lead time, model parameters) enters only when the
    region has on-demand service, so the key of a region without stays as it was.
    """
    from coverage.cache.store import fingerprint, tree_xxh128

    arrays = [getattr(n, f) for n in (walk, bike) for f in ("node_ids", "x", "y", "indptr", "indices", "length_m")]
    feed = ("gtfs-xxh128", tree_xxh128(gtfs)) if gtfs is not None else ""
    extra = () if rufbus_parts is None else (rufbus_parts,)
    return fingerprint(*arrays, feed, *extra, code=tuple(m.__name__ for m in TRAVEL_CODE))


# --------------------------------------------------------------------------- course days


def course_days(
    first: dt.date,
    last: dt.date,
    weekdays: tuple[int, ...],
    *,
    holiday_region: str | None = "NI",
) -> list[dt.date]:
    """Dates a course meets: ``first``..``last`` on ``weekdays`` (0 = Monday), minus public holidays.

    Parameters
    ----------
    holiday_region
        Bundesland code for the public holidays (``holidays`` package); ``None`` keeps all dates.
    """
    out = []
    hol: set[dt.date] = set()
    if holiday_region:
        import holidays

        hol = set(holidays.Germany(subdiv=holiday_region, years=range(first.year, last.year + 1)))
    d = first
    while d <= last:
        if d.weekday() in weekdays and d not in hol:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def _days_in_feed(days: list[dt.date], feed: Feed, *, course_id: object = "?") -> list[dt.date]:
    """The course days inside the feed's date range.

    Days outside the range are left out with a warning. If *no* course day lies in
    the range, the travel times of the course cannot be computed from this timetable:
    :class:`~coverage.errors.GTFSError` names the feed's range and the course (earlier
    versions silently used the same weekdays of the feed's first weeks instead, which
    hid an outdated timetable).

    Raises
    ------
    GTFSError
        If no course day lies inside :attr:`Feed.date_range`.
    """
    from coverage.errors import GTFSError

    lo, hi = feed.date_range
    inside = [d for d in days if lo <= d <= hi]
    if not inside:
        raise GTFSError(
            f"Der Fahrplan gilt vom {lo:%d.%m.%Y} bis {hi:%d.%m.%Y}; Kurs {course_id} "
            f"({min(days):%d.%m.%Y}–{max(days):%d.%m.%Y}) liegt ganz außerhalb. "
            "Bitte einen aktuellen Fahrplan angeben (oder die Kurstage prüfen).",
            file=feed.path,
        )
    if len(inside) < len(days):
        logger.warning(
            "Kurs %s: %d von %d Kurstagen liegen außerhalb des Fahrplanzeitraums (%s bis %s) und werden nicht geprüft",
            course_id,
            len(days) - len(inside),
            len(days),
            f"{lo:%d.%m.%Y}",
            f"{hi:%d.%m.%Y}",
        )
    return inside


# --------------------------------------------------------------------------- sparse max/min-plus


def _row_reduce(matrix: sp.csr_matrix, values: np.ndarray, *, how: str) -> np.ndarray:
    """Per row of ``matrix`` (origins × stops, data = seconds): max_s(values[s] − a) or min_s(values[s] + a)."""
    n = matrix.shape[0]
    if how == "max":
        vals = values[matrix.indices] - matrix.data
        out = np.full(n, -np.inf)
        ufunc = np.maximum
    else:
        vals = values[matrix.indices] + matrix.data
        out = np.full(n, np.inf)
        ufunc = np.minimum
    nonempty = np.diff(matrix.indptr) > 0
    if vals.size:
        red = ufunc.reduceat(vals, matrix.indptr[:-1][nonempty])
        out[nonempty] = red
    return out


# --------------------------------------------------------------------------- engine


@dataclass
class _Prepared:
    """Everything that depends on origins and networks but not on the courses."""

    walk_node: np.ndarray
    walk_snap_s: np.ndarray
    bike_node: np.ndarray
    bike_snap_s: np.ndarray
    access: sp.csr_matrix | None  # origins × stops, walk seconds
    stop_tree: sp.csr_matrix | None  # stops × walk nodes, walk seconds (≤ access limit)
    stop_snap_s: np.ndarray | None
    footpaths: object | None

def _prepare(xy: np.ndarray, nets: Networks, params: Parameters) -> _Prepared:
    walk, bike = nets.walk, nets.bike
    sw = snap(walk, xy[:, 0], xy[:, 1], max_distance_m=params.max_fangdistanz_m)
    sb = snap(bike, xy[:, 0], xy[:, 1], max_distance_m=params.max_fangdistanz_m)
    if sw.too_far.any():
        logger.warning(
            "%d Herkunftsorte liegen mehr als %.0f m vom Straßennetz entfernt (der Weg zur Straße wird gegangen)",
            int(sw.too_far.sum()),
            params.max_fangdistanz_m,
        )
    prep = _Prepared(
        sw.node, sw.distance_m / params.geh_m_s, sb.node, sb.distance_m / params.geh_m_s, None, None, None, None
    )
    feed = nets.feed
    if feed is None:
        return prep
    limit = params.max_zugang_min * 60.0
    sx, sy = nets.stop_xy()
    has_xy = np.isfinite(sx) & np.isfinite(sy)
    if not has_xy.any():
        logger.warning("Keine Haltestelle des Fahrplans hat Koordinaten; ÖPNV wird nicht berechnet")
        return prep
    ss = snap(
        walk,
        np.where(has_xy, sx, sx[has_xy][0]),
        np.where(has_xy, sy, sy[has_xy][0]),
        max_distance_m=params.max_fangdistanz_m,
    )
    stop_snap_s = np.where(has_xy, ss.distance_m / params.geh_m_s, np.inf)
    if ss.too_far.any():
        logger.warning(
            "%d Haltestellen liegen mehr als %.0f m vom Straßennetz entfernt",
            int(ss.too_far.sum()),
            params.max_fangdistanz_m,
        )
    tree = street_times_sparse(walk, ss.node, speed_m_s=params.geh_m_s, limit_s=limit)
    tree.data -= 1e-9  # stored entries carry a tiny offset so that 0 s survives; remove it
    tree.data = np.maximum(tree.data, 0.0)
    prep.stop_tree = tree.tocsc()
    prep.stop_snap_s = stop_snap_s
    # origins × stops
    acc = _node_columns(prep.stop_tree, sw.node).T.tocsr()  # origins × stops
    acc = _add_snaps(acc, prep.walk_snap_s, stop_snap_s, limit)
    prep.access = acc
    # stop × stop footpaths within the transfer distance
    fp = _node_columns(prep.stop_tree, ss.node).tocsr()
    fp = _add_snaps(fp, stop_snap_s, stop_snap_s, params.max_umstieg_m / params.geh_m_s)
    fp.sort_indices()
    prep.footpaths = routing.footpaths_with_transfers(feed, routing.Footpaths(fp.indptr, fp.indices, fp.data))
    logger.info(
        "Zugangswege: %d Herkunftsorte mit Haltestelle in %.0f min, %d Fußwege zwischen Haltestellen",
        int((np.diff(acc.indptr) > 0).sum()),
        params.max_zugang_min,
        fp.nnz,
    )
    return prep


def _node_columns(tree_csc: sp.csc_matrix, nodes: np.ndarray) -> sp.csc_matrix:
    """Columns ``nodes`` of a stops × nodes matrix (keeps explicit zeros)."""
    return tree_csc[:, nodes]


def _add_snaps(m: sp.csr_matrix, row_add: np.ndarray, col_add: np.ndarray, limit: float) -> sp.csr_matrix:
    """Add per-row and per-column snap times to stored entries and drop those over ``limit``."""
    m = m.tocoo()
    vals = m.data + row_add[m.row] + col_add[m.col]
    keep = vals <= limit
    return sp.csr_matrix((vals[keep] + 0.0, (m.row[keep], m.col[keep])), shape=m.shape)


def _street_leg(
    net: StreetNetwork,
    site_nodes: np.ndarray,
    origin_nodes: np.ndarray,
    *,
    speed: float,
    limit_s: float,
    reverse: bool,
) -> np.ndarray:
    """Seconds between each site node and each origin node (sites × origins)."""
    out = np.empty((len(site_nodes), len(origin_nodes)))
    chunk = max(1, 4_000_000 // max(net.n_nodes, 1))
    for a in range(0, len(site_nodes), chunk):
        part = site_nodes[a : a + chunk]
        d = street_times(net, part, speed_m_s=speed, limit_s=limit_s, reverse=reverse)
        out[a : a + chunk] = d[:, origin_nodes]
    return out


def _horizon_s(params: Parameters) -> float:
    """Largest one-way time any group (plus the sensitivity shift) may accept, in seconds."""
    return max(g.max_minuten for g in params.gruppen.values()) * 60.0 + params.sensitivitaet_min * 60.0


_DAY_S = 86400.0


def _next_day_s(horizon_s: float, last_end_s: float) -> int:
    """Seconds after midnight up to which night trips of the next service day are needed.

    The way home leaves at the course end (at most 24:00, later ends count too) and
    is searched for ``horizon_s``; :meth:`Feed.connections` then holds every
    connection such a search can scan.
    """
    return int(np.ceil(max(horizon_s, last_end_s + horizon_s - _DAY_S)))


def _online(courses: pd.DataFrame) -> np.ndarray:
    """Boolean mask of online courses (all False without an ``online`` column)."""
    return courses["online"].to_numpy(bool) if "online" in courses.columns else np.zeros(len(courses), bool)


Prepare = Callable[[np.ndarray, "Networks", "Parameters"], "_Prepared"]
"""``prepare(origin_xy, networks, params)``: snaps and access matrices of the origins (see :func:`_prepare`)."""

DayConnections = Callable[["Feed", dt.date, tuple[str, ...], int], "Connections"]
"""``connections(feed, date, signature, next_day_s)``: the connections of one service day.

``signature`` is ``feed.service_signature(date, next_day_s=next_day_s)``; days with equal
signatures have identical connections.
"""


def _feed_connections(feed: Feed, date: dt.date, signature: tuple[str, ...], next_day_s: int) -> Connections:
    """:data:`DayConnections` built from the feed every time."""
    return feed.connections(date, next_day_s=next_day_s)


RufbusConnections = Callable[["Networks", dt.date, tuple[str, ...], int], "FlexConnections"]
"""``connections(networks, date, signature, next_day_s)``: fixed and on-demand connections of one service day.

``signature`` is :func:`~coverage.traveltime.rufbus.day_signature` with ``next_day_s``; the
result is :func:`~coverage.traveltime.rufbus.merged_connections`.
"""


def compute_travel_times(
    origins: gpd.GeoDataFrame,
    courses: gpd.GeoDataFrame | pd.DataFrame,
    *,
    networks: Networks,
    params: Parameters,
    prepare: Prepare | None = None,
    connections: DayConnections | None = None,
    rufbus_connections: RufbusConnections | None = None,
) -> CourseTravelTimes:
    """Compute travel times for all ``courses`` (see :func:`coverage.traveltime.store.course_travel_times`).

    Parameters
    ----------
    origins, courses, networks, params
        As for :func:`~coverage.traveltime.store.course_travel_times`.
    prepare
        Gives the origins' snaps and access matrices; default :func:`_prepare`
        (the cache passes one that reads them from disk).
    connections
        Gives the connections of a service day; default: built from the feed.
    rufbus_connections
        With on-demand service (:attr:`Networks.has_on_demand`): gives the merged
        connections of a service day (default :func:`~coverage.traveltime.rufbus.merged_connections`); then
        ``connections`` is not used.
    """
    n_o, n_c = len(origins), len(courses)
    modes = networks.modes
    hin = np.full((len(modes), n_o, n_c), np.inf, dtype=np.float32)
    rueck = np.full((len(modes), n_o, n_c), np.inf, dtype=np.float32)
    result = CourseTravelTimes(
        origin_ids=origins["herkunft_id"].to_numpy(),
        course_ids=courses["kurs_id"].astype(str).to_numpy(),
        modes=modes,
        hin=hin,
        rueck=rueck,
    )
    if n_o == 0 or n_c == 0:
        return result
    max_s = _horizon_s(params)
    xy = np.column_stack([origins.geometry.x.to_numpy(), origins.geometry.y.to_numpy()])
    prep = (prepare or _prepare)(xy, networks, params)

    online = _online(courses)
    hin[:, :, online] = 0.0
    rueck[:, :, online] = 0.0
    located = np.nonzero(~online)[0]
    if located.size == 0:
        return result
    geo = courses.geometry.iloc[located]
    site_xy = np.column_stack([geo.x.to_numpy(), geo.y.to_numpy()])
    # unique sites
    site_keys, site_of = np.unique(np.round(site_xy, 1), axis=0, return_inverse=True)
    site_of = site_of.ravel()
    i_walk, i_bike = modes.index("fuss"), modes.index("rad")
    pt_modes = [modes.index(m) for m in ("oepnv", RUFBUS_MODE) if m in modes]
    walk, bike = networks.walk, networks.bike
    sw = snap(walk, site_keys[:, 0], site_keys[:, 1], max_distance_m=params.max_fangdistanz_m)
    sb = snap(bike, site_keys[:, 0], site_keys[:, 1], max_distance_m=params.max_fangdistanz_m)
    site_walk_snap = sw.distance_m / params.geh_m_s
    site_bike_snap = sb.distance_m / params.geh_m_s
    # walking is symmetric: one search per site serves both legs
    w = _street_leg(walk, sw.node, prep.walk_node, speed=params.geh_m_s, limit_s=max_s, reverse=False)
    w = w + site_walk_snap[:, None] + prep.walk_snap_s[None, :]
    b_to = _street_leg(bike, sb.node, prep.bike_node, speed=params.rad_m_s, limit_s=max_s, reverse=True)
    b_from = _street_leg(bike, sb.node, prep.bike_node, speed=params.rad_m_s, limit_s=max_s, reverse=False)
    b_to = b_to + site_bike_snap[:, None] + prep.bike_snap_s[None, :]
    b_from = b_from + site_bike_snap[:, None] + prep.bike_snap_s[None, :]
    for j, c in enumerate(located):
        s = site_of[j]
        hin[i_walk, :, c] = w[s] / 60.0
        rueck[i_walk, :, c] = w[s] / 60.0
        hin[i_bike, :, c] = b_to[s] / 60.0
        rueck[i_bike, :, c] = b_from[s] / 60.0
        for i in pt_modes:
            hin[i, :, c] = w[s] / 60.0
            rueck[i, :, c] = w[s] / 60.0
    if networks.feed is not None and prep.access is not None:
        _transit_legs(
            result,
            courses,
            located,
            site_of,
            site_keys,
            sw.node,
            site_walk_snap,
            prep,
            networks,
            params,
            connections or _feed_connections,
            rufbus_connections or rufbus.merged_connections,
        )
    logger.info("Reisezeiten: %d Herkunftsorte × %d Kurse (%d Kursorte)", n_o, n_c, len(site_keys))
    return result


def _transit_legs(
    result: CourseTravelTimes,
    courses: pd.DataFrame,
    located: np.ndarray,
    site_of: np.ndarray,
    site_keys: np.ndarray,
    site_walk_nodes: np.ndarray,
    site_walk_snap: np.ndarray,
    prep: _Prepared,
    networks: Networks,
    params: Parameters,
    connections: DayConnections,
    rufbus_connections: RufbusConnections,
) -> None:
    feed = networks.feed
    on_demand = networks.has_on_demand
    i_pt = {m: result.modes.index(m) for m in ("oepnv", RUFBUS_MODE) if m in result.modes}
    # stops near each site: sites × stops walk seconds
    egress = _node_columns(prep.stop_tree, site_walk_nodes).T.tocsr()
    egress = _add_snaps(egress, site_walk_snap, prep.stop_snap_s, params.max_zugang_min * 60.0)
    # group courses by (site, start, end, days)
    groups: dict[tuple, list[int]] = defaultdict(list)
    horizon_s = _horizon_s(params)
    # Night trips of the next service day: the way home may run up to horizon_s past the course end
    # (at most 24:00), so departures up to next_day_s after midnight are needed.
    ends_s = courses["ende"].iloc[located].to_numpy(dtype=np.float64) * 60.0
    next_day_s = _next_day_s(horizon_s, float(ends_s.max(initial=0.0)))
    signatures: dict[dt.date, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for j, c in enumerate(located):
        row = courses.iloc[c]
        days = course_days(
            row["erster_tag"], row["letzter_tag"], tuple(row["wochentage"]), holiday_region=params.feiertage_land
        )
        if not days:
            logger.warning("Kurs %s hat keinen Kurstag im Zeitraum", row["kurs_id"])
            continue
        days = _days_in_feed(days, feed, course_id=row["kurs_id"])
        # A search that stops before midnight never scans a trip of the next day: such groups
        # share a day whenever the timetables without the next day's night trips are equal.
        night = int(row["ende"]) * 60.0 + horizon_s >= _DAY_S
        sigs: dict[tuple[str, ...], dt.date] = {}
        for d in days:
            if d not in signatures:
                signatures[d] = (
                    rufbus.day_signature(networks, d) if on_demand else feed.service_signature(d),
                    rufbus.day_signature(networks, d, next_day_s=next_day_s)
                    if on_demand
                    else feed.service_signature(d, next_day_s=next_day_s),
                )
            sig = signatures[d][1 if night else 0]
            if sig not in sigs:
                sigs[sig] = d
        key = (int(site_of[j]), int(row["beginn"]), int(row["ende"]), tuple(sorted(sigs.values())))
        groups[key].append(int(c))
    conn_cache: dict[dt.date, object] = {}
    n_scans = 0
    from coverage._progress import bar

    progress = bar(total=len(groups), desc="Bus und Bahn: Verbindungen je Kursgruppe und Fahrplantag", unit="Gruppen")
    for (s, beginn, ende, dates), cols in groups.items():
        progress.update(1)
        start_s, end_s = beginn * 60.0, ende * 60.0
        e_row = egress.getrow(s)
        stops, walk_s = e_row.indices, e_row.data
        worst_hin = {m: np.full(len(result.origin_ids), -np.inf) for m in i_pt}
        worst_rueck = {m: np.full(len(result.origin_ids), -np.inf) for m in i_pt}
        if stops.size == 0:
            continue
        for d in dates:
            if d not in conn_cache:
                if on_demand:
                    merged = rufbus_connections(networks, d, signatures[d][1], next_day_s)
                    conn_cache[d] = {"oepnv": rufbus.fixed_only(merged), RUFBUS_MODE: merged.connections}
                else:
                    conn_cache[d] = {"oepnv": connections(feed, d, signatures[d][1], next_day_s)}
            for m, conns in conn_cache[d].items():
                ld = routing.latest_departure(
                    conns, targets=(stops, start_s - walk_s), footpaths=prep.footpaths, since=start_s - horizon_s
                )
                ea = routing.earliest_arrival(
                    conns, sources=(stops, end_s + walk_s), footpaths=prep.footpaths, until=end_s + horizon_s
                )
                n_scans += 2
                leave = _row_reduce(prep.access, np.asarray(ld, dtype=np.float64), how="max")
                arrive = _row_reduce(prep.access, np.asarray(ea, dtype=np.float64), how="min")
                worst_hin[m] = np.maximum(worst_hin[m], start_s - leave)
                worst_rueck[m] = np.maximum(worst_rueck[m], arrive - end_s)
        for m, i in i_pt.items():
            wh = (worst_hin[m] / 60.0).astype(np.float32)
            wr = (worst_rueck[m] / 60.0).astype(np.float32)
            for c in cols:
                cur_h = result.hin[i, :, c]
                cur_r = result.rueck[i, :, c]
                np.minimum(cur_h, wh, out=cur_h)
                np.minimum(cur_r, wr, out=cur_r)
    progress.close()
    logger.info("ÖPNV: %d Verbindungssuchen für %d Kurs-Fahrplan-Gruppen", n_scans, len(groups))
