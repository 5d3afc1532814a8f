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
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.inputs.schema import MODES
from coverage.network.streets import StreetNetwork, snap, street_times, street_times_sparse

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.cache.store import Cache
    from coverage.inputs.config import Config, Parameters
    from coverage.inputs.load import Region
    from coverage.transit import Connections, Feed

__all__ = [
    "CourseTravelTimes",
    "Networks",
    "course_days",
    "course_travel_times",
    "load_networks",
    "travel_time_matrix",
    "write_travel_time_matrix",
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
        Mode keys in the order of the first axis (subset of ``fuss``, ``rad``, ``oepnv``).
    hin
        ``(n_modes, n_o, n_c)`` minutes to arrive by the start (worst course day); ``inf`` = impossible.
    rueck
        ``(n_modes, n_o, n_c)`` minutes home after the end (worst course day).
    column_keys
        ``(n_c,)`` content key of every course column (the travel-time cache key: a
        SHA-256 over the origins, networks, parameters, code and exactly the course
        fields the routing reads), or None. Equal keys mean equal columns, so later
        stages can identify a column by its key instead of hashing its values. Set by
        :func:`course_travel_times` with a cache; do not change ``hin``/``rueck`` in
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
        if any(m not in MODES for m in self.modes):
            raise ValueError(f"Unbekannter Modus in {self.modes}; erlaubt: {MODES}.")
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
    """

    walk: StreetNetwork
    bike: StreetNetwork
    feed: Feed | None = None
    key: str = ""
    """Content fingerprint of both networks and the feed file (cache key part)."""


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
        (:func:`coverage.network.streets.load_street_networks`) and always cached in
        ``config.cache / "osm"``.

    Returns
    -------
    Networks
    """
    from coverage.network.streets import load_street_networks
    from coverage.transit.gtfs import load_gtfs

    # one pass over the OSM file (also a whole Land extract) for both modes; cached by content
    walk, bike = load_street_networks(config.osm, boundary=region.area, cache_dir=config.cache / "osm")
    feed = None
    if config.gtfs is not None:
        if cache is None:
            from coverage.cache.store import Cache

            cache = Cache(config.cache / "berechnung")
        feed = load_gtfs(config.gtfs, cache=cache, area=region.area)
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
    return Networks(walk=walk, bike=bike, feed=feed, key=networks_key(walk, bike, config.gtfs))


TRAVEL_CODE: tuple[str, ...] = (
    "coverage.traveltime.engine",
    "coverage.network.streets",
    "coverage.transit.routing",
    "coverage.transit._csa",
    "coverage.transit.gtfs",
    "coverage.transit.feed",
    "coverage.network._osm",
)
"""Modules whose source enters every travel-time cache key."""


def networks_key(walk: StreetNetwork, bike: StreetNetwork, gtfs: Path | None) -> str:
    """Content fingerprint of the two street networks and the GTFS file.

    The feed's content enters as XXH3-128 (:func:`coverage.cache.store.tree_xxh128`): a
    Germany-wide feed of several hundred MB is hashed on every run.
    """
    from coverage.cache.store import fingerprint, tree_xxh128

    arrays = [getattr(n, f) for n in (walk, bike) for f in ("node_ids", "x", "y", "indptr", "indices", "length_m")]
    feed = ("gtfs-xxh128", tree_xxh128(gtfs)) if gtfs is not None else ""
    return fingerprint(*arrays, feed, code=TRAVEL_CODE)


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


def _prepare_cached(xy: np.ndarray, nets: Networks, params: Parameters, cache: Cache | None) -> _Prepared:
    """:func:`_prepare`, served from ``cache`` when origins, networks and access parameters are unchanged."""
    if cache is None or not nets.key:
        return _prepare(xy, nets, params)
    from coverage.cache.store import fingerprint
    from coverage.transit.routing import Footpaths

    key = fingerprint(
        xy,
        nets.key,
        (params.geh_m_s, params.max_fangdistanz_m, params.max_zugang_min, params.max_umstieg_m),
        code=TRAVEL_CODE,
    )
    hit = cache.get("zugang", key)
    if isinstance(hit, dict):
        prep = _Prepared(
            hit["walk_node"], hit["walk_snap_s"], hit["bike_node"], hit["bike_snap_s"], None, None, None, None
        )
        if "access_data" in hit:
            n_o, n_s, n_n = (int(v) for v in hit["shape"])
            prep.access = sp.csr_matrix(
                (hit["access_data"], hit["access_indices"], hit["access_indptr"]), shape=(n_o, n_s)
            )
            prep.stop_tree = sp.csc_matrix(
                (hit["tree_data"], hit["tree_indices"], hit["tree_indptr"]), shape=(n_s, n_n)
            )
            prep.stop_snap_s = hit["stop_snap_s"]
            prep.footpaths = Footpaths(hit["fp_indptr"], hit["fp_indices"], hit["fp_seconds"])
        return prep
    prep = _prepare(xy, nets, params)
    arrays = {
        "walk_node": prep.walk_node,
        "walk_snap_s": prep.walk_snap_s,
        "bike_node": prep.bike_node,
        "bike_snap_s": prep.bike_snap_s,
    }
    if prep.access is not None:
        arrays.update(
            shape=np.array([prep.access.shape[0], prep.access.shape[1], prep.stop_tree.shape[1]]),
            access_data=prep.access.data,
            access_indices=prep.access.indices,
            access_indptr=prep.access.indptr,
            tree_data=prep.stop_tree.data,
            tree_indices=prep.stop_tree.indices,
            tree_indptr=prep.stop_tree.indptr,
            stop_snap_s=prep.stop_snap_s,
            fp_indptr=prep.footpaths.indptr,
            fp_indices=prep.footpaths.indices,
            fp_seconds=prep.footpaths.seconds,
        )
    cache.put("zugang", key, arrays)
    return prep


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
    from coverage.transit.routing import Footpaths, footpaths_with_transfers

    limit = params.max_zugang_min * 60.0
    sx = feed.stops["x"].to_numpy(dtype=float)
    sy = feed.stops["y"].to_numpy(dtype=float)
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
    prep.footpaths = footpaths_with_transfers(feed, Footpaths(fp.indptr, fp.indices, fp.data))
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


def course_travel_times(
    origins: gpd.GeoDataFrame,
    courses: gpd.GeoDataFrame | pd.DataFrame,
    *,
    networks: Networks,
    params: Parameters,
    cache: Cache | None = None,
) -> CourseTravelTimes:
    """Door-to-door minutes for every origin, course and mode (worst course day).

    Parameters
    ----------
    origins
        Points (EPSG:25832) with ``herkunft_id``.
    courses
        Course table with geometry (None for online), ``beginn``, ``ende`` (minutes),
        ``wochentage``, ``erster_tag``, ``letzter_tag``, ``online``; candidate courses
        with identical site and schedule share one computation.
    networks
        Street networks and feed.
    params
        Speeds, access limits, thresholds (the largest group threshold bounds the searches).
    cache
        Optional disk cache. Each course's columns are addressed by a key made of the
        content of networks, feed and origins, the travel parameters, the course's
        location and schedule and the code version, so adding, removing or changing
        one course recomputes only that course, and a changed input never yields a
        stale result. Columns are stored in blocks of many courses (one file,
        memory-mapped on reading) plus single entries for courses added since the
        last block. The connections of each timetable day are stored too (kind
        ``verbindungen``, keyed by the networks' key, which covers the feed, and the
        day's service signature including the next day's night services), so routing
        a new course does not rebuild them. The way home after a course ending late
        sees the night trips of the next service day (departing up to the search
        horizon after midnight).

    Returns
    -------
    CourseTravelTimes
    """
    if cache is None or not networks.key:
        return _compute(origins, courses, networks=networks, params=params, cache=None)
    return _cached_columns(origins, courses, networks=networks, params=params, cache=cache)


_KIND_COURSE = "reisezeiten_kurs"
_KIND_BLOCK = "reisezeiten_block"
_KIND_INDEX = "reisezeiten_index"
_BLOCK_MIN = 8
"""A new block is written when at least this many courses (and an eighth of the table) came from elsewhere."""
_INDEX_LEN = 8
"""Blocks listed per origins/networks/parameters key."""


@functools.cache
def _holidays_version() -> str:
    """Installed version of the ``holidays`` package (read once per process: the lookup costs ~10 ms)."""
    import importlib.metadata

    return importlib.metadata.version("holidays")


def _base_key(origins: gpd.GeoDataFrame, xy: np.ndarray, networks: Networks, params: Parameters) -> str:
    """Fingerprint of everything all courses' columns depend on (origins, networks, parameters, code)."""
    from coverage.cache.store import fingerprint

    return fingerprint(
        origins["herkunft_id"].to_numpy(),
        xy,
        networks.key,
        (
            params.geh_m_s,
            params.rad_m_s,
            params.max_fangdistanz_m,
            params.max_zugang_min,
            params.max_umstieg_m,
            params.feiertage_land,
            _horizon_s(params),
        ),
        _holidays_version(),
        code=TRAVEL_CODE,
    )


def _date_text(value: object) -> str:
    """Type-tagged text of a course date for the course key."""
    if isinstance(value, dt.date):  # also datetime and pandas Timestamp
        return f"{type(value).__name__}:{value.isoformat()}"
    return f"{type(value).__name__}:{value!r}"


def _course_keys(courses: gpd.GeoDataFrame | pd.DataFrame, base: str) -> list[str]:
    """One content key per course: ``base`` plus exactly the course fields :func:`_compute` reads.

    The site enters rounded to 0.1 m as in :func:`_compute` (which routes from the
    rounded coordinates), so equal keys always mean equal columns.
    """
    import hashlib
    import json

    n = len(courses)
    online = _online(courses)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    located = np.nonzero(~online)[0]
    if located.size:
        geo = courses.geometry.iloc[located]
        site_xy = np.round(np.column_stack([geo.x.to_numpy(), geo.y.to_numpy()]), 1)
        x[located], y[located] = site_xy[:, 0], site_xy[:, 1]
    beginn = [int(v) for v in courses["beginn"].tolist()]
    ende = [int(v) for v in courses["ende"].tolist()]
    days = [[int(d) for d in v] for v in courses["wochentage"].tolist()]
    first = [_date_text(v) for v in courses["erster_tag"].tolist()]
    last = [_date_text(v) for v in courses["letzter_tag"].tolist()]
    prefix = b"kurs\0" + base.encode() + b"\0"
    keys = []
    for i in range(n):
        where = None if online[i] else [float(x[i]).hex(), float(y[i]).hex()]
        payload = json.dumps([bool(online[i]), where, beginn[i], ende[i], days[i], first[i], last[i]])
        keys.append(hashlib.sha256(prefix + payload.encode()).hexdigest())
    return keys


def _online(courses: pd.DataFrame) -> np.ndarray:
    """Boolean mask of online courses (all False without an ``online`` column)."""
    return courses["online"].to_numpy(bool) if "online" in courses.columns else np.zeros(len(courses), bool)


def _copy_columns(dst: np.ndarray, dst_cols: np.ndarray, src: np.ndarray, src_cols: np.ndarray) -> None:
    """``dst[:, :, dst_cols] = src[:, :, src_cols]`` as slice copies over runs of consecutive columns.

    Fancy indexing on the last axis is several times slower than copying slices; the
    columns to copy usually form one or a few runs.
    """
    if len(dst_cols) == 0:
        return
    order = np.argsort(dst_cols, kind="stable")
    d = np.asarray(dst_cols)[order]
    s = np.asarray(src_cols)[order]
    cut = np.nonzero((np.diff(d) != 1) | (np.diff(s) != 1))[0] + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [len(d)]])
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        dst[:, :, d[a] : d[b - 1] + 1] = src[:, :, s[a] : s[b - 1] + 1]


_PARALLEL_BYTES = 1 << 23
"""Copies of ``hin`` and ``rueck`` larger than this (each) run side by side in two threads."""


def _copy_pair(
    dst: tuple[np.ndarray, np.ndarray],
    dst_cols: np.ndarray,
    src: tuple[np.ndarray, np.ndarray],
    src_cols: np.ndarray,
) -> None:
    """:func:`_copy_columns` for ``hin`` and ``rueck`` (``dst[i][:, :, dst_cols] = src[i][:, :, src_cols]``).

    Large copies run in two threads, one per array: numpy releases the GIL while
    copying, so on two cores the copies, and the page faults of freshly allocated
    result arrays, overlap (a rerun copies the columns of all unchanged courses from
    a block, 2 × 60 MB at county scale). Both copies have finished when this returns,
    also when one fails, so no view of a memory-mapped source outlives the call.
    """
    n_bytes = len(dst_cols) * src[0].shape[0] * src[0].shape[1] * src[0].itemsize
    if n_bytes < _PARALLEL_BYTES:
        _copy_columns(dst[0], dst_cols, src[0], src_cols)
        _copy_columns(dst[1], dst_cols, src[1], src_cols)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kursatlas-kopie") as pool:
        first = pool.submit(_copy_columns, dst[0], dst_cols, src[0], src_cols)
        _copy_columns(dst[1], dst_cols, src[1], src_cols)
        first.result()


def _cached_columns(
    origins: gpd.GeoDataFrame,
    courses: gpd.GeoDataFrame | pd.DataFrame,
    *,
    networks: Networks,
    params: Parameters,
    cache: Cache,
) -> CourseTravelTimes:
    """:func:`course_travel_times` with the per-course disk cache.

    Storage (all content-addressed, so no entry can be stale):

    * ``reisezeiten_block/<key>``: the columns of many courses, ``kurse`` (their
      course keys), ``hin`` and ``rueck`` ``(n_modes, n_o, n_courses)``; the block
      key is a hash over the course keys.
    * ``reisezeiten_kurs/<course key>``: the columns ``(n_modes, n_o)`` of one course.
    * ``reisezeiten_index/<base key>``: which blocks exist for these origins,
      networks and parameters and which course keys they hold. Only a hint: a
      block is used for a course only if the block itself lists the course's key.

    Courses are served from blocks first, then from single entries, the rest is
    computed. A run that served most courses from blocks writes single entries for
    the computed courses; otherwise (first run, or many courses changed since the
    last block) it writes one new block of all its courses and drops older blocks
    that the new one contains.
    """
    xy = np.column_stack([origins.geometry.x.to_numpy(), origins.geometry.y.to_numpy()])
    base = _base_key(origins, xy, networks, params)
    keys = _course_keys(courses, base)
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(k, len(first)) for k in keys), dtype=np.int64, count=len(keys))
    ukeys = list(first)
    first_row = np.unique(inverse, return_index=True)[1]  # the first course of every key
    n_m, n_o, n_u = len(MODES), len(origins), len(ukeys)
    filled = np.zeros(n_u, dtype=bool)
    index = cache.get(_KIND_INDEX, base)
    blocks = _index_blocks(index)
    u_hin, u_rueck, n_block = _from_blocks(cache, blocks, ukeys, filled, n_m=n_m, n_o=n_o)
    n_single = 0
    for j in np.nonzero(~filled)[0].tolist():
        hit = cache.get(_KIND_COURSE, ukeys[j])
        if isinstance(hit, dict) and all(
            k in hit and hit[k].shape == (n_m, n_o) and hit[k].dtype == np.float32 for k in ("hin", "rueck")
        ):
            u_hin[:, :, j] = hit["hin"]
            u_rueck[:, :, j] = hit["rueck"]
            filled[j] = True
            n_single += 1
    missed = np.nonzero(~filled)[0]
    if missed.size:
        sub = _compute(origins, courses.iloc[first_row[missed]], networks=networks, params=params, cache=cache)
        if missed.size == n_u:
            u_hin, u_rueck = sub.hin, sub.rueck
        else:
            _copy_pair((u_hin, u_rueck), missed, (sub.hin, sub.rueck), np.arange(missed.size))
    loose = n_u - n_block
    if loose >= _BLOCK_MIN and 8 * loose >= n_u:
        _write_block(cache, base, blocks, ukeys, u_hin, u_rueck)
    else:
        for j, i in enumerate(missed.tolist()):
            cache.put(_KIND_COURSE, ukeys[i], {"hin": sub.hin[:, :, j], "rueck": sub.rueck[:, :, j]})
    logger.info(
        "Reisezeiten: %d von %d Kursen aus dem Cache (%d aus Sammeleinträgen, %d einzeln), %d neu berechnet",
        n_block + n_single,
        n_u,
        n_block,
        n_single,
        missed.size,
    )
    if n_u == len(keys):  # no two courses share a key: the unique columns are the table
        hin, rueck = u_hin, u_rueck
    else:
        hin = np.empty((n_m, n_o, len(keys)), dtype=np.float32)
        rueck = np.empty_like(hin)
        _copy_pair((hin, rueck), np.arange(len(keys)), (u_hin, u_rueck), inverse)
    return CourseTravelTimes(
        origin_ids=origins["herkunft_id"].to_numpy(),
        course_ids=courses["kurs_id"].astype(str).to_numpy(),
        modes=MODES,
        hin=hin,
        rueck=rueck,
        column_keys=np.array(keys, dtype="U64"),
    )


def _index_blocks(index: object) -> list[tuple[str, list[str]]]:
    """``(block key, course keys)`` pairs of an index entry, newest first (empty for a missing or odd entry)."""
    if not isinstance(index, dict) or not {"bloecke", "laengen", "kurse"} <= set(index):
        return []
    try:
        names = _key_list(index["bloecke"])
        lengths = [int(v) for v in index["laengen"].tolist()]
        course_keys = _key_list(index["kurse"])
    except (TypeError, ValueError):
        return []
    if len(names) != len(lengths) or sum(lengths) != len(course_keys) or min(lengths, default=0) < 0:
        return []
    ends = np.cumsum(lengths, dtype=np.int64).tolist()
    return [(n, course_keys[e - ln : e]) for n, ln, e in zip(names, lengths, ends, strict=True)]


def _key_list(arr: np.ndarray) -> list[str]:
    """Hex keys stored as a 1-D bytes array."""
    if arr.ndim != 1 or arr.dtype.kind != "S":
        raise ValueError("Schlüsselliste hat die falsche Form")
    return [k.decode("ascii") for k in arr.tolist()]


def _from_blocks(
    cache: Cache,
    blocks: list[tuple[str, list[str]]],
    ukeys: list[str],
    filled: np.ndarray,
    *,
    n_m: int,
    n_o: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """New ``(hin, rueck)`` arrays for ``ukeys``, filled from block entries, and the number of columns filled.

    A block is used for the courses its own (checksummed) key list holds; the
    index only says which blocks to open. Blocks are memory-mapped and copied
    straight into the result.
    """
    pos = {k: j for j, k in enumerate(ukeys)}
    hin = np.empty((n_m, n_o, len(ukeys)), dtype=np.float32)
    rueck = np.empty_like(hin)
    n = 0
    for name, listed in blocks:
        if filled.all():
            break
        if not any(k in pos and not filled[pos[k]] for k in listed):
            continue
        with cache.mapped(_KIND_BLOCK, name) as hit:
            if not isinstance(hit, dict) or not {"kurse", "hin", "rueck"} <= set(hit):
                continue
            try:
                held = _key_list(hit["kurse"])
            except ValueError:
                held = []
            shape = (n_m, n_o, len(held))
            if not held or any(hit[a].shape != shape or hit[a].dtype != np.float32 for a in ("hin", "rueck")):
                logger.warning("Cache-Sammeleintrag %s passt nicht zu den Herkunftsorten, wird übergangen", name)
                continue
            dst, src = [], []
            for s, k in enumerate(held):
                j = pos.get(k)
                if j is not None and not filled[j]:
                    filled[j] = True
                    dst.append(j)
                    src.append(s)
            dst_cols, src_cols = np.array(dst, dtype=np.int64), np.array(src, dtype=np.int64)
            _copy_pair((hin, rueck), dst_cols, (hit["hin"], hit["rueck"]), src_cols)
            n += len(dst)
            del hit  # no view may outlive the mapping
    return hin, rueck, n


def _write_block(
    cache: Cache,
    base: str,
    blocks: list[tuple[str, list[str]]],
    ukeys: list[str],
    hin: np.ndarray,
    rueck: np.ndarray,
) -> None:
    """Store all columns as one block, list it first in the index and drop the blocks it contains."""
    import hashlib

    name = hashlib.sha256(b"block\0" + base.encode() + b"\0" + "".join(ukeys).encode()).hexdigest()
    cache.put(_KIND_BLOCK, name, {"kurse": np.array(ukeys, dtype="S64"), "hin": hin, "rueck": rueck})
    mine = set(ukeys)
    kept = []
    for other, listed in blocks:
        if other == name:
            continue
        if set(listed) <= mine:
            cache.discard(_KIND_BLOCK, other)
        else:
            kept.append((other, listed))
    entries = [(name, ukeys), *kept][:_INDEX_LEN]
    cache.put(
        _KIND_INDEX,
        base,
        {
            "bloecke": np.array([b for b, _ in entries], dtype="S64"),
            "laengen": np.array([len(ks) for _, ks in entries], dtype=np.int64),
            "kurse": np.array([k for _, ks in entries for k in ks], dtype="S64"),
        },
    )


def _compute(
    origins: gpd.GeoDataFrame,
    courses: gpd.GeoDataFrame | pd.DataFrame,
    *,
    networks: Networks,
    params: Parameters,
    cache: Cache | None,
) -> CourseTravelTimes:
    """Compute travel times for all ``courses`` (no per-course cache)."""
    n_o, n_c = len(origins), len(courses)
    modes = MODES
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
    prep = _prepare_cached(xy, networks, params, cache)

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
    i_walk, i_bike, i_pt = modes.index("fuss"), modes.index("rad"), modes.index("oepnv")
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
        hin[i_pt, :, c] = w[s] / 60.0
        rueck[i_pt, :, c] = w[s] / 60.0
    if networks.feed is not None and prep.access is not None:
        _transit_legs(
            result, courses, located, site_of, site_keys, sw.node, site_walk_snap, prep, networks, params, cache
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
    cache: Cache | None,
) -> None:
    from coverage.transit.routing import earliest_arrival, latest_departure

    feed = networks.feed
    i_pt = result.modes.index("oepnv")
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
                signatures[d] = (feed.service_signature(d), feed.service_signature(d, next_day_s=next_day_s))
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
        worst_hin = np.full(len(result.origin_ids), -np.inf)
        worst_rueck = np.full(len(result.origin_ids), -np.inf)
        if stops.size == 0:
            continue
        for d in dates:
            if d not in conn_cache:
                conn_cache[d] = _day_connections(
                    feed, d, signatures[d][1], networks.key, cache, next_day_s=next_day_s
                )
            conns = conn_cache[d]
            ld = latest_departure(
                conns, targets=(stops, start_s - walk_s), footpaths=prep.footpaths, since=start_s - horizon_s
            )
            ea = earliest_arrival(
                conns, sources=(stops, end_s + walk_s), footpaths=prep.footpaths, until=end_s + horizon_s
            )
            n_scans += 2
            leave = _row_reduce(prep.access, np.asarray(ld, dtype=np.float64), how="max")
            arrive = _row_reduce(prep.access, np.asarray(ea, dtype=np.float64), how="min")
            worst_hin = np.maximum(worst_hin, start_s - leave)
            worst_rueck = np.maximum(worst_rueck, arrive - end_s)
        for c in cols:
            cur_h = result.hin[i_pt, :, c]
            cur_r = result.rueck[i_pt, :, c]
            np.minimum(cur_h, (worst_hin / 60.0).astype(np.float32), out=cur_h)
            np.minimum(cur_r, (worst_rueck / 60.0).astype(np.float32), out=cur_r)
    progress.close()
    logger.info("ÖPNV: %d Verbindungssuchen für %d Kurs-Fahrplan-Gruppen", n_scans, len(groups))


_KIND_CONNECTIONS = "verbindungen"
_CONNECTION_ARRAYS: dict[str, type] = {
    "dep_stop": np.int32,
    "arr_stop": np.int32,
    "dep_time": np.int32,
    "arr_time": np.int32,
    "trip": np.int32,
    "board": np.bool_,
    "alight": np.bool_,
    "rev_order": np.int64,
}
_RUN_ARRAYS: dict[str, type] = {"run_trip": np.int32, "run_day_offset": np.int32}


def _day_connections(
    feed: Feed,
    date: dt.date,
    signature: tuple[str, ...],
    nets_key: str,
    cache: Cache | None,
    *,
    next_day_s: int = -1,
) -> Connections:
    """``feed.connections(date, next_day_s=next_day_s)``, through the disk cache (kind ``verbindungen``).

    Building a day's connections costs more than reading them: a rerun that computes
    one new course would build them again for its course days. The entry is keyed by
    ``nets_key`` (:attr:`Networks.key`, which covers the feed's content), the
    timetable signature of the day (:meth:`Feed.service_signature`: days with equal
    signatures have identical connections, so one entry serves all of them) and
    the code (:data:`TRAVEL_CODE`, including the GTFS module). ``signature`` must be
    ``feed.service_signature(date, next_day_s=next_day_s)``: it names the next day's
    night services and the cut-off, and ``next_day_s`` enters the key as well. A hit
    gives the same arrays as building them; an entry that does not fit the feed is
    built again.
    """
    if cache is None or not nets_key:
        return feed.connections(date, next_day_s=next_day_s)
    from coverage.cache.store import fingerprint

    key = fingerprint(_KIND_CONNECTIONS, nets_key, signature, int(next_day_s), feed.n_stops, code=TRAVEL_CODE)
    conns = _connections_from(cache.get(_KIND_CONNECTIONS, key), feed, date)
    if conns is not None:
        return conns
    conns = feed.connections(date, next_day_s=next_day_s)
    arrays = {name: getattr(conns, name) for name in (*_CONNECTION_ARRAYS, *_RUN_ARRAYS)}
    try:
        cache.put(_KIND_CONNECTIONS, key, arrays)
    except OSError as exc:
        logger.warning("Verbindungen des %s nicht im Cache gespeichert (%s)", date.isoformat(), exc)
    return conns


def _connections_from(hit: object, feed: Feed, date: dt.date) -> Connections | None:
    """The :class:`~coverage.transit.gtfs.Connections` of ``date`` from a cache entry (None: not fitting ``feed``)."""
    from coverage.transit import Connections

    names = {**_CONNECTION_ARRAYS, **_RUN_ARRAYS}
    if not isinstance(hit, dict) or set(hit) != set(names):
        return None
    if any(hit[n].ndim != 1 or hit[n].dtype != np.dtype(t) for n, t in names.items()):
        return None
    m = hit["dep_stop"].shape[0]
    n_trips = hit["run_trip"].shape[0]
    if any(hit[n].shape[0] != m for n in _CONNECTION_ARRAYS) or hit["run_day_offset"].shape[0] != n_trips:
        return None
    if m and not (
        min(int(hit["dep_stop"].min()), int(hit["arr_stop"].min())) >= 0
        and max(int(hit["dep_stop"].max()), int(hit["arr_stop"].max())) < feed.n_stops
        and 0 <= int(hit["trip"].min()) <= int(hit["trip"].max()) < n_trips
        and 0 <= int(hit["rev_order"].min()) <= int(hit["rev_order"].max()) < m
    ):
        return None
    return Connections(
        **{n: hit[n] for n in _CONNECTION_ARRAYS},
        n_stops=feed.n_stops,
        n_trips=n_trips,
        run_trip=hit["run_trip"],
        run_day_offset=hit["run_day_offset"],
        stop_ids=feed.stop_ids,
        min_transfer=np.asarray(feed.min_transfer_time, dtype=np.float64),
        date=date,
    )


# --------------------------------------------------------------------------- matrix API


def travel_time_matrix(config: Config) -> pd.DataFrame:
    """Long-format travel times of every origin × course × mode of the region in ``config``."""
    from coverage.inputs.load import load_inputs

    inputs = load_inputs(config)
    nets = load_networks(config, inputs.region)
    tt = course_travel_times(inputs.residents, inputs.courses, networks=nets, params=config.parameter)
    return tt.to_long()


def write_travel_time_matrix(config: Config, target: Path) -> Path:
    """Write :func:`travel_time_matrix` as ``.csv`` (``;``) or ``.parquet``, atomically."""
    from coverage._io import atomic_path, write_csv
    from coverage.errors import ConfigError

    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigError(f"Zieldatei {target}: erlaubt sind .csv oder .parquet.")
    df = travel_time_matrix(config)
    if suffix == ".csv":
        write_csv(target, df)
    else:
        with atomic_path(target) as tmp:
            df.to_parquet(tmp, index=False)
    return target
