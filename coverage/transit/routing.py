"""Exact public-transport routing with the Connection Scan Algorithm (CSA).

Times are seconds since midnight of the service date as float64 (``inf`` =
unreachable for :func:`earliest_arrival`, ``-inf`` for :func:`latest_departure`).

Journey model (the usual CSA/RAPTOR semantics):

* start at a source stop at a given time (several sources with different
  times model walking from an origin to several stops), optionally walk one
  footpath, ride, change, ride, …, optionally walk one footpath at the end;
  at most one footpath between two vehicles;
* staying in the same trip needs no change; changing at the same stop ``s``
  needs ``arrival + min_transfer[s] <= departure`` (default 0 s, i.e. the
  connecting bus may leave in the same minute the train arrives, but not one
  minute earlier; ``inf`` forbids changing there); a footpath replaces the
  change time;
* ``pickup_type``/``drop_off_type`` 1 forbid boarding/alighting.

:func:`stop_to_stop_earliest_arrival` is the documented reference primitive
other routers can be checked against.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from coverage.errors import RoutingError
from coverage.transit import _csa
from coverage.transit.feed import Connections, Feed

__all__ = [
    "Connections",
    "Footpaths",
    "earliest_arrival",
    "footpaths_from_distances",
    "footpaths_with_transfers",
    "latest_departure",
    "stop_to_stop_earliest_arrival",
]

logger = logging.getLogger(__name__)

_DAY = 86400


@dataclass(frozen=True, eq=False)
class Footpaths:
    """Sparse stop-to-stop walking times in CSR form.

    The footpaths leaving stop ``s`` are ``indices[indptr[s]:indptr[s+1]]`` with
    walking times ``seconds[indptr[s]:indptr[s+1]]``. Footpaths are directed;
    self-loops are ignored by the routers (use ``min_transfer`` instead). The
    structure need not be transitively closed: routers walk at most one footpath
    between two vehicles.

    Attributes
    ----------
    indptr : numpy.ndarray of int64, shape (n_stops + 1,)
    indices : numpy.ndarray of int32
        Target stop indices.
    seconds : numpy.ndarray of float64
        Walking times, finite and ``>= 0``.
    """

    indptr: np.ndarray
    indices: np.ndarray
    seconds: np.ndarray
    _transposed: Footpaths | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        indptr = np.ascontiguousarray(self.indptr, dtype=np.int64)
        indices = np.ascontiguousarray(self.indices, dtype=np.int32)
        seconds = np.ascontiguousarray(self.seconds, dtype=np.float64)
        if indptr.ndim != 1 or indptr.size < 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise RoutingError("Fußwege: indptr muss mit 0 beginnen und monoton steigen.")
        if indices.shape != seconds.shape or indices.ndim != 1 or indptr[-1] != indices.size:
            raise RoutingError("Fußwege: indices und seconds müssen gleich lang sein und zu indptr passen.")
        n = indptr.size - 1
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise RoutingError(f"Fußwege: Zielhaltestellen müssen zwischen 0 und {n - 1} liegen.")
        if seconds.size and (not np.all(np.isfinite(seconds)) or seconds.min() < 0):
            raise RoutingError("Fußwege: Gehzeiten müssen endlich und ≥ 0 s sein.")
        object.__setattr__(self, "indptr", indptr)
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "seconds", seconds)

    @property
    def n_stops(self) -> int:
        """Number of stops."""
        return int(self.indptr.size - 1)

    def __len__(self) -> int:
        return int(self.indices.size)

    @classmethod
    def empty(cls, n_stops: int) -> Footpaths:
        """No footpaths between ``n_stops`` stops."""
        return cls(np.zeros(n_stops + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float64))

    @classmethod
    def from_pairs(cls, n_stops: int, from_stop: np.ndarray, to_stop: np.ndarray, seconds: np.ndarray) -> Footpaths:
        """Build from edge lists; duplicate pairs keep the shortest time, self-loops are dropped.

        Parameters
        ----------
        n_stops
            Number of stops.
        from_stop, to_stop
            Stop indices.
        seconds
            Walking times.

        Returns
        -------
        Footpaths
        """
        f = np.asarray(from_stop, dtype=np.int64)
        t = np.asarray(to_stop, dtype=np.int64)
        s = np.asarray(seconds, dtype=np.float64)
        if not (f.shape == t.shape == s.shape) or f.ndim != 1:
            raise RoutingError("Fußwege: from_stop, to_stop und seconds müssen gleich lang sein.")
        if f.size and (min(f.min(), t.min()) < 0 or max(f.max(), t.max()) >= n_stops):
            raise RoutingError(f"Fußwege: Haltestellenindizes müssen zwischen 0 und {n_stops - 1} liegen.")
        keep = f != t
        f, t, s = f[keep], t[keep], s[keep]
        order = np.lexsort((s, t, f))
        f, t, s = f[order], t[order], s[order]
        first = np.ones(f.size, dtype=bool)
        first[1:] = (f[1:] != f[:-1]) | (t[1:] != t[:-1])
        f, t, s = f[first], t[first], s[first]
        indptr = np.zeros(n_stops + 1, dtype=np.int64)
        np.cumsum(np.bincount(f, minlength=n_stops), out=indptr[1:])
        return cls(indptr, t.astype(np.int32), s)

    def to_frame(self) -> pd.DataFrame:
        """Edge list ``from_stop, to_stop, seconds``."""
        return pd.DataFrame(
            {
                "from_stop": np.repeat(np.arange(self.n_stops, dtype=np.int32), np.diff(self.indptr)),
                "to_stop": self.indices,
                "seconds": self.seconds,
            }
        )

    def transposed(self) -> Footpaths:
        """Footpaths with every direction reversed (used by :func:`latest_departure`; cached)."""
        if self._transposed is None:
            n = self.n_stops
            src = np.repeat(np.arange(n, dtype=np.int32), np.diff(self.indptr))
            order = np.lexsort((src, self.indices))
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(self.indices, minlength=n), out=indptr[1:])
            object.__setattr__(self, "_transposed", Footpaths(indptr, src[order], self.seconds[order]))
        return self._transposed


def footpaths_from_distances(
    stop_x: np.ndarray,
    stop_y: np.ndarray,
    *,
    max_m: float = 400.0,
    speed_m_s: float = 1.25,
    detour: float = 1.3,
) -> Footpaths:
    """Crow-fly footpaths between stops (fallback without a walking network).

    Every ordered pair of distinct stops with straight-line distance
    ``<= max_m`` gets a footpath of ``distance * detour / speed_m_s`` seconds.
    Stops with NaN coordinates get none.

    Parameters
    ----------
    stop_x, stop_y
        Projected coordinates in metres (e.g. ``feed.stops["x"]``, EPSG:25832).
    max_m
        Maximum straight-line distance in metres.
    speed_m_s
        Walking speed (1.25 m/s = 4.5 km/h).
    detour
        Ratio of network to straight-line distance.

    Returns
    -------
    Footpaths
    """
    x = np.asarray(stop_x, dtype=np.float64)
    y = np.asarray(stop_y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise RoutingError("stop_x und stop_y müssen eindimensional und gleich lang sein.")
    if not (max_m >= 0 and speed_m_s > 0 and detour >= 1):
        raise RoutingError("Erlaubt sind max_m ≥ 0, speed_m_s > 0 und detour ≥ 1.")
    n = x.size
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if ok.size < 2:
        return Footpaths.empty(n)
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([x[ok], y[ok]]))
    pairs = tree.query_pairs(r=max_m, output_type="ndarray")
    if pairs.size == 0:
        return Footpaths.empty(n)
    a, b = ok[pairs[:, 0]], ok[pairs[:, 1]]
    dist = np.hypot(x[a] - x[b], y[a] - y[b])
    secs = dist * detour / speed_m_s
    return Footpaths.from_pairs(n, np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([secs, secs]))


def footpaths_with_transfers(feed: Feed, footpaths: Footpaths | None = None) -> Footpaths:
    """Fold the stop-pair rules of ``transfers.txt`` into ``footpaths``.

    Type 2 between different stops sets the walking time of that pair to
    ``min_transfer_time`` (adding the pair if missing); type 3 removes it.
    Per-stop rules (``from_stop_id == to_stop_id``) are not footpaths; they are in
    :attr:`Feed.min_transfer_time` and used via ``Connections.min_transfer``.

    Parameters
    ----------
    feed
        The feed.
    footpaths
        Walking footpaths (e.g. from a street network); None = none. They may
        cover further stops after the feed's (the Rufbus stops of
        :meth:`coverage.transit.flex.FlexFeed.stop_layout`).

    Returns
    -------
    Footpaths
    """
    n = feed.n_stops
    base = Footpaths.empty(n) if footpaths is None else footpaths
    if base.n_stops < n:
        raise RoutingError(f"Die Fußwege haben {base.n_stops} Haltestellen, der Feed hat {n}.")
    n = base.n_stops  # footpaths may also cover stops after the feed's (e.g. Rufbus stops)
    pairs = feed.transfer_pairs
    if len(pairs) == 0:
        return base
    df = base.to_frame()
    key = df["from_stop"].to_numpy(np.int64) * n + df["to_stop"].to_numpy(np.int64)
    pkey = pairs["from_stop"].to_numpy(np.int64) * n + pairs["to_stop"].to_numpy(np.int64)
    df = df[~np.isin(key, pkey)]
    add = pairs[pairs["transfer_type"] == 2]
    return Footpaths.from_pairs(
        n,
        np.concatenate([df["from_stop"].to_numpy(), add["from_stop"].to_numpy()]),
        np.concatenate([df["to_stop"].to_numpy(), add["to_stop"].to_numpy()]),
        np.concatenate([df["seconds"].to_numpy(), add["min_transfer_time"].to_numpy()]),
    )


# ---------------------------------------------------------------------------
# argument normalisation
# ---------------------------------------------------------------------------


def _points(
    points: dict[int, float] | tuple[np.ndarray, np.ndarray], n_stops: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(points, dict):
        stops = np.fromiter(points.keys(), dtype=np.int64, count=len(points))
        times = np.fromiter(points.values(), dtype=np.float64, count=len(points))
    else:
        try:
            stops_raw, times_raw = points
        except (TypeError, ValueError):
            raise RoutingError(
                f"{what}: erwartet wird ein dict {{Haltestellenindex: Zeit}} oder ein Paar von Arrays."
            ) from None
        stops = np.atleast_1d(np.asarray(stops_raw, dtype=np.int64))
        times = np.atleast_1d(np.asarray(times_raw, dtype=np.float64))
        if stops.shape != times.shape or stops.ndim != 1:
            raise RoutingError(f"{what}: Haltestellen und Zeiten müssen gleich lang sein.")
    if stops.size and (stops.min() < 0 or stops.max() >= n_stops):
        raise RoutingError(f"{what}: Haltestellenindizes müssen zwischen 0 und {n_stops - 1} liegen.")
    if np.any(np.isnan(times)):
        raise RoutingError(f"{what}: Zeiten dürfen nicht NaN sein.")
    return stops.astype(np.int32), times


def _transfer_times(connections: Connections, min_transfer: float | np.ndarray | None) -> np.ndarray:
    n = connections.n_stops
    if min_transfer is None:
        if connections.min_transfer is not None:
            ct = np.asarray(connections.min_transfer, dtype=np.float64)
        else:
            ct = np.zeros(n)
    else:
        ct = np.broadcast_to(np.asarray(min_transfer, dtype=np.float64), (n,))
    if ct.shape != (n,) or np.any(np.isnan(ct)) or np.any(ct < 0):
        raise RoutingError(f"min_transfer muss ≥ 0 sein (Skalar oder ein Wert je Haltestelle, {n} Werte).")
    return np.ascontiguousarray(ct)


def _footpaths(connections: Connections, footpaths: Footpaths | None) -> Footpaths:
    if footpaths is None:
        return Footpaths.empty(connections.n_stops)
    if footpaths.n_stops != connections.n_stops:
        raise RoutingError(
            f"Die Fußwege haben {footpaths.n_stops} Haltestellen, die Verbindungen {connections.n_stops}."
        )
    return footpaths


# ---------------------------------------------------------------------------
# public routing API
# ---------------------------------------------------------------------------


def earliest_arrival(
    connections: Connections,
    *,
    sources: dict[int, float] | tuple[np.ndarray, np.ndarray],
    footpaths: Footpaths | None = None,
    min_transfer: float | np.ndarray | None = None,
    until: float | None = None,
) -> np.ndarray:
    """Earliest arrival time at every stop (forward Connection Scan).

    Parameters
    ----------
    connections
        Timetable of one day (:meth:`Feed.connections` or
        :meth:`Connections.from_arrays`).
    sources
        Start stops and times: ``{stop_index: time_s}`` or ``(stop_indices, times_s)``.
        Times may differ per stop (e.g. walking time from an origin added).
    footpaths
        Walking links, applied from the sources and after every vehicle
        arrival (one footpath between two vehicles). None = no walking.
    min_transfer
        Minimum change time at the same stop in seconds, scalar or per stop
        (``inf`` = changing forbidden). Default: ``connections.min_transfer``
        (from ``transfers.txt``) or 0.
    until
        Ignore connections departing after this time (speeds up queries with a
        known deadline; arrivals are then exact up to ``until``).

    Returns
    -------
    numpy.ndarray of float64, shape (n_stops,)
        Earliest arrival in seconds since midnight; ``inf`` = unreachable.
        Source stops carry their start time.

    Raises
    ------
    RoutingError
        For malformed sources, footpaths or transfer times.
    """
    stops, times = _points(sources, connections.n_stops, "sources")
    fp = _footpaths(connections, footpaths)
    ct = _transfer_times(connections, min_transfer)
    c = connections
    return _csa.earliest_arrival_scan(
        c.dep_stop, c.arr_stop, c.dep_time, c.arr_time, c.trip, c.board, c.alight,
        c.n_stops, c.n_trips, stops, times, fp.indptr, fp.indices, fp.seconds, ct,
        np.inf if until is None else float(until),
    )  # fmt: skip


def latest_departure(
    connections: Connections,
    *,
    targets: dict[int, float] | tuple[np.ndarray, np.ndarray],
    footpaths: Footpaths | None = None,
    min_transfer: float | np.ndarray | None = None,
    since: float | None = None,
) -> np.ndarray:
    """Latest time to leave every stop and still reach a target in time (reverse CSA).

    Exact dual of :func:`earliest_arrival`: starting at stop ``s`` at time
    ``latest_departure(...)[s]`` (as a source) reaches some target stop ``t`` by
    its deadline; starting later does not.

    Parameters
    ----------
    connections
        Timetable of one day.
    targets
        Target stops and latest arrival times: ``{stop_index: time_s}`` or
        ``(stop_indices, times_s)``.
    footpaths
        Walking links in the *forward* direction (they are transposed here).
    min_transfer
        As in :func:`earliest_arrival`.
    since
        Ignore connections arriving before this time.

    Returns
    -------
    numpy.ndarray of float64, shape (n_stops,)
        Latest departure in seconds since midnight; ``-inf`` = the targets
        cannot be reached from that stop. Target stops carry their deadline
        (or later, if a later departure still makes another target).

    Raises
    ------
    RoutingError
        For malformed targets, footpaths or transfer times.
    """
    stops, times = _points(targets, connections.n_stops, "targets")
    rfp = _footpaths(connections, footpaths).transposed()
    ct = _transfer_times(connections, min_transfer)
    c = connections
    return _csa.latest_departure_scan(
        c.dep_stop, c.arr_stop, c.dep_time, c.arr_time, c.trip, c.board, c.alight, c.rev_order,
        c.n_stops, c.n_trips, stops, times, rfp.indptr, rfp.indices, rfp.seconds, ct,
        -np.inf if since is None else float(since),
    )  # fmt: skip


def _seconds(t: dt.time | int | float) -> float:
    if isinstance(t, dt.time):
        return float(t.hour * 3600 + t.minute * 60 + t.second)
    if isinstance(t, bool) or not isinstance(t, int | float | np.integer | np.floating) or np.isnan(t):
        raise RoutingError(f"Abfahrtszeit: erwartet wird datetime.time oder Sekunden seit Mitternacht, nicht {t!r}.")
    return float(t)


def stop_to_stop_earliest_arrival(
    feed: Feed,
    from_stop_id: str,
    departure: dt.time | int,
    date: dt.date,
    *,
    footpaths: Footpaths | None = None,
    next_day_s: int = -1,
) -> pd.Series:
    """Earliest arrival at every stop when leaving one stop at a given time.

    The reference primitive of Kursatlas: exact earliest arrival (Connection
    Scan Algorithm) on the timetable of ``date`` including trips of the previous
    day running past midnight (and, with ``next_day_s``, the night trips of the
    next service day), with change times and stop-pair rules of ``transfers.txt``
    and optional footpaths (see module docstring for the journey model).

    Parameters
    ----------
    feed
        Loaded feed (:func:`coverage.transit.gtfs.load_gtfs`).
    from_stop_id
        GTFS ``stop_id`` of the start stop.
    departure
        Earliest departure, ``datetime.time`` or seconds since midnight of ``date``
        (may exceed 86400).
    date
        Service date.
    footpaths
        Walking links between stops (index = stop index of ``feed.stops``);
        None = only the stop-pair rules of ``transfers.txt``.
    next_day_s
        Also use the trips of the next service day (shifted by +24 h) departing at
        most this many seconds after midnight, e.g. ``4 * 3600`` for the night
        trips of a late departure; connections departing after ``86400 +
        next_day_s`` are then ignored (:meth:`Feed.connections`). Negative
        (default) = none.

    Returns
    -------
    pandas.Series of float64
        Index ``stop_id``, values earliest arrival in seconds since midnight of
        ``date``; NaN = unreachable. The start stop has ``departure``.

    Raises
    ------
    RoutingError
        Unknown stop id, invalid time, ``date`` outside the feed, or
        ``next_day_s`` not an integer.

    Examples
    --------
    >>> import datetime as dt
    >>> from coverage.transit.gtfs import load_gtfs
    >>> from coverage.transit.routing import stop_to_stop_earliest_arrival
    >>> feed = load_gtfs("tests/data/cairns_gtfs_2014.zip")
    >>> arr = stop_to_stop_earliest_arrival(feed, "750000", dt.time(7, 0), dt.date(2014, 6, 2))
    >>> float(arr["750000"])
    25200.0
    >>> bool((arr.dropna() >= 25200).all())
    True
    """
    start = feed.stop_index(from_stop_id)
    t0 = _seconds(departure)
    conns = feed.connections(date, next_day_s=next_day_s)
    fp = footpaths_with_transfers(feed, footpaths)
    until = None if next_day_s < 0 else float(_DAY + next_day_s)
    arr = earliest_arrival(conns, sources=({start: t0}), footpaths=fp, until=until)
    out = pd.Series(np.where(np.isinf(arr), np.nan, arr), index=pd.Index(feed.stop_ids, name="stop_id"))
    out.name = "ankunft_s"
    return out
