"""The validated GTFS feed and the timetable of one service date.

:class:`Feed` holds a feed read by :func:`coverage.transit.gtfs.load_gtfs`;
:meth:`Feed.connections` turns it into the elementary :class:`Connections` of one
calendar day (the input of the routers in :mod:`coverage.transit.routing`), with the
scan orders of the Connection Scan Algorithm and the service days active on that date.
:class:`ClipSummary` counts what a clipped reading kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from coverage.errors import RoutingError

__all__ = ["ClipSummary", "Connections", "Feed"]


_DAY = 86400
_WEEKDAY_COLUMNS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# ---------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Connections:
    """Elementary connections of one service day, sorted for the Connection Scan Algorithm.

    Connection ``k`` is one vehicle hop: trip run ``trip[k]`` leaves stop ``dep_stop[k]``
    at ``dep_time[k]`` and reaches the next stop ``arr_stop[k]`` at ``arr_time[k]``
    (seconds since midnight of :attr:`date`; negative for trips of the previous
    service day that started before midnight, 86400 or more for trips of the
    next service day and for the date's own trips past midnight). The arrays are sorted by departure
    time, then arrival time, then position in the trip; :attr:`rev_order` is the
    permutation for scans by descending arrival time.

    Attributes
    ----------
    dep_stop, arr_stop : numpy.ndarray of int32
        Stop indices (rows of :attr:`Feed.stops`).
    dep_time, arr_time : numpy.ndarray of int32
        Seconds since midnight of :attr:`date`.
    trip : numpy.ndarray of int32
        Trip *run* index ``0 .. n_trips-1``; a trip of the feed that runs on the
        date and (past midnight) on the previous day, or on the date and (after
        midnight) on the next day, gives two runs.
    board, alight : numpy.ndarray of bool
        Boarding allowed at ``dep_stop`` (``pickup_type != 1``) and alighting
        allowed at ``arr_stop`` (``drop_off_type != 1``).
    n_stops, n_trips : int
        Number of stops (length of label arrays) and of trip runs.
    rev_order : numpy.ndarray of int64
        Connection indices ordered by descending arrival, descending departure,
        descending position in the trip.
    run_trip, run_day_offset : numpy.ndarray of int32
        Per run: the trip index in :attr:`Feed.trips` and the service day
        relative to :attr:`date` (0 or -1, rarely -2 …; +1 for night trips of the
        next service day, see :meth:`Feed.connections`).
    stop_ids : numpy.ndarray or None
        GTFS ``stop_id`` per stop index.
    min_transfer : numpy.ndarray of float64 or None
        Per-stop minimum change time in seconds from ``transfers.txt``
        (``inf`` = changing forbidden); used by the routers by default.
    date : datetime.date or None
        The service date.
    """

    dep_stop: np.ndarray
    arr_stop: np.ndarray
    dep_time: np.ndarray
    arr_time: np.ndarray
    trip: np.ndarray
    board: np.ndarray
    alight: np.ndarray
    n_stops: int
    n_trips: int
    rev_order: np.ndarray
    run_trip: np.ndarray
    run_day_offset: np.ndarray
    stop_ids: np.ndarray | None = None
    min_transfer: np.ndarray | None = None
    date: dt.date | None = None

    def __len__(self) -> int:
        return int(self.dep_stop.shape[0])

    @classmethod
    def from_arrays(
        cls,
        dep_stop: np.ndarray,
        arr_stop: np.ndarray,
        dep_time: np.ndarray,
        arr_time: np.ndarray,
        trip: np.ndarray,
        *,
        board: np.ndarray | None = None,
        alight: np.ndarray | None = None,
        n_stops: int | None = None,
        stop_ids: np.ndarray | None = None,
        min_transfer: np.ndarray | None = None,
        date: dt.date | None = None,
        run_trip: np.ndarray | None = None,
        run_day_offset: np.ndarray | None = None,
    ) -> Connections:
        """Build sorted connections from arrays given in trip order.

        Parameters
        ----------
        dep_stop, arr_stop, dep_time, arr_time, trip
            One entry per connection. Within each trip the connections must be
            listed in travel order (as in ``stop_times.txt`` after sorting by
            ``stop_sequence``); trips may be interleaved. ``trip`` values must be
            ``0 .. n_trips-1``.
        board, alight
            Boarding/alighting allowed (default: everywhere).
        n_stops
            Number of stops; default ``max(stop index) + 1``.
        stop_ids, min_transfer, date, run_trip, run_day_offset
            Stored as attributes (see class docstring).

        Returns
        -------
        Connections

        Raises
        ------
        RoutingError
            If the arrays have different lengths, a connection arrives before it
            departs, or indices are negative.
        """
        dep_stop = np.asarray(dep_stop, dtype=np.int32)
        arr_stop = np.asarray(arr_stop, dtype=np.int32)
        dep_time = np.asarray(dep_time, dtype=np.int32)
        arr_time = np.asarray(arr_time, dtype=np.int32)
        trip = np.asarray(trip, dtype=np.int32)
        m = dep_stop.shape[0]
        board = np.ones(m, dtype=bool) if board is None else np.asarray(board, dtype=bool)
        alight = np.ones(m, dtype=bool) if alight is None else np.asarray(alight, dtype=bool)
        arrays = (dep_stop, arr_stop, dep_time, arr_time, trip, board, alight)
        if any(a.ndim != 1 or a.shape[0] != m for a in arrays):
            raise RoutingError("Die Verbindungs-Arrays müssen eindimensional und gleich lang sein.")
        if m and (dep_stop.min() < 0 or arr_stop.min() < 0 or trip.min() < 0):
            raise RoutingError("Haltestellen- und Fahrtindizes dürfen nicht negativ sein.")
        if m and np.any(arr_time < dep_time):
            k = int(np.argmax(arr_time < dep_time))
            raise RoutingError(
                f"Verbindung {k} kommt vor ihrer Abfahrt an ({int(dep_time[k])} s → {int(arr_time[k])} s)."
            )
        max_stop = int(max(dep_stop.max(initial=-1), arr_stop.max(initial=-1)))
        if n_stops is None:
            n_stops = max_stop + 1
        elif max_stop >= n_stops:
            raise RoutingError(f"Haltestellenindex {max_stop} ist zu groß für {n_stops} Haltestellen.")
        n_trips = int(trip.max(initial=-1)) + 1
        order, rev = _scan_orders(dep_time, arr_time)
        if run_trip is None:
            run_trip = np.arange(n_trips, dtype=np.int32)
        if run_day_offset is None:
            run_day_offset = np.zeros(n_trips, dtype=np.int32)
        if min_transfer is not None:
            min_transfer = np.asarray(min_transfer, dtype=np.float64)
        return cls(
            dep_stop=np.ascontiguousarray(dep_stop[order]),
            arr_stop=np.ascontiguousarray(arr_stop[order]),
            dep_time=np.ascontiguousarray(dep_time[order]),
            arr_time=np.ascontiguousarray(arr_time[order]),
            trip=np.ascontiguousarray(trip[order]),
            board=np.ascontiguousarray(board[order]),
            alight=np.ascontiguousarray(alight[order]),
            n_stops=int(n_stops),
            n_trips=n_trips,
            rev_order=rev.astype(np.int64),
            run_trip=np.asarray(run_trip, dtype=np.int32),
            run_day_offset=np.asarray(run_day_offset, dtype=np.int32),
            stop_ids=stop_ids,
            min_transfer=min_transfer,
            date=date,
        )

    def to_frame(self) -> pd.DataFrame:
        """Return the connections as a DataFrame (for inspection and tests)."""
        df = pd.DataFrame(
            {
                "dep_stop": self.dep_stop,
                "arr_stop": self.arr_stop,
                "dep_time": self.dep_time,
                "arr_time": self.arr_time,
                "trip": self.trip,
                "board": self.board,
                "alight": self.alight,
            }
        )
        if self.stop_ids is not None:
            df["dep_stop_id"] = self.stop_ids[self.dep_stop]
            df["arr_stop_id"] = self.stop_ids[self.arr_stop]
        return df


def _scan_orders(dep_time: np.ndarray, arr_time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scan orders of connections given in trip order: ``(order, rev)`` as in :class:`Connections`.

    ``order`` sorts by departure, then arrival, then input position; ``rev`` orders
    the sorted connections by descending arrival, descending departure, descending
    position. Both are the permutations of :func:`numpy.lexsort` over these keys.
    Where the three keys fit into 63 bits (always for real timetables: times span
    a few days, i.e. under 20 bits each), they are packed into one ``int64`` per
    connection with the position in the lowest bits; the packed values are
    distinct, so one plain sort of them gives exactly the lexicographic order,
    and the permutation is read back from the low bits. This is several times
    faster than ``lexsort`` (one SIMD sort of integers instead of three stable
    indirect sorts).

    Parameters
    ----------
    dep_time, arr_time
        ``int32`` seconds, one entry per connection, in input (trip) order.

    Returns
    -------
    tuple of numpy.ndarray
        ``order`` and ``rev``, both ``int64``.
    """
    m = int(dep_time.shape[0])
    if m == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    dep = dep_time.astype(np.int64)
    arr = arr_time.astype(np.int64)
    d_lo, d_hi = int(dep.min()), int(dep.max())
    a_lo, a_hi = int(arr.min()), int(arr.max())
    b_pos = (m - 1).bit_length()
    b_arr = (a_hi - a_lo).bit_length()
    b_dep = (d_hi - d_lo).bit_length()
    if b_pos + b_arr + b_dep > 63:  # not for timetables: times spread over centuries, or billions of connections
        pos = np.arange(m, dtype=np.int64)
        order = np.lexsort((pos, arr, dep))
        return order, np.lexsort((-pos[order], -dep[order], -arr[order]))
    low = (1 << b_pos) - 1
    pos = np.arange(m, dtype=np.int64)
    key = ((dep - d_lo) << (b_arr + b_pos)) | ((arr - a_lo) << b_pos) | pos
    key.sort()
    order = key & low
    # reverse: descending (arrival, departure, position). Among connections with equal times the
    # sorted positions ascend with the input positions, so the sorted position breaks ties the same way.
    key = ((a_hi - arr[order]) << (b_dep + b_pos)) | ((d_hi - dep[order]) << b_pos) | (m - 1 - pos)
    key.sort()
    rev = (m - 1) - (key & low)
    return order, rev


# ---------------------------------------------------------------------------
# Feed
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipSummary:
    """Counts of a feed clipped to an analysis area (:attr:`Feed.clip`).

    Attributes
    ----------
    stops_read, stops_kept : int
        Rows of ``stops.txt`` read; stops kept (inside the area plus the parent
        stations of kept stops).
    trips_read, trips_kept : int
        Rows of ``trips.txt`` read; trips kept (serving at least one kept stop,
        after validation; trips of ``frequencies.txt`` counted once).
    stop_times_read, stop_times_kept : int
        Rows of ``stop_times.txt`` read; stop times kept (at kept stops, of kept
        trips; trips of ``frequencies.txt`` counted once).
    services_kept : int
        Service ids used by the kept trips.
    feed_start, feed_end : datetime.date or None
        First and last service date of the whole feed (``calendar.txt`` ranges
        and added dates of ``calendar_dates.txt``), None if it has none.
    """

    stops_read: int
    stops_kept: int
    trips_read: int
    trips_kept: int
    stop_times_read: int
    stop_times_kept: int
    services_kept: int
    feed_start: dt.date | None
    feed_end: dt.date | None


@dataclass(eq=False)
class Feed:
    """A validated GTFS feed.

    Attributes
    ----------
    path : str
        Where the feed was read from.
    stops : pandas.DataFrame
        One row per stop index: ``stop_id``, ``stop_name``, ``stop_lat``, ``stop_lon``
        (float, NaN if absent), ``location_type``, ``parent_station`` and ``x``, ``y``
        in EPSG:25832 (metres, NaN without coordinates).
    routes, agency, calendar, calendar_dates, frequencies, transfers : pandas.DataFrame
        The (cleaned) files as strings, plus ``_row`` = file line number. Empty
        frames for absent optional files.
    trips : pandas.DataFrame
        One row per *concrete* trip (trip index): ``trip_id``, ``route_id``,
        ``service_id``, ``gtfs_trip_id`` (the trip of ``trips.txt``; differs from
        ``trip_id`` for trips expanded from ``frequencies.txt``) and ``start_time``
        in seconds.
    min_transfer_time : numpy.ndarray of float64
        Per-stop minimum change time from ``transfers.txt`` (type 2 with
        ``from_stop_id == to_stop_id``; ``inf`` for type 3), default 0.
    transfer_pairs : pandas.DataFrame
        Stop-pair rules of ``transfers.txt`` between different stops:
        ``from_stop``, ``to_stop`` (indices), ``transfer_type`` (2 or 3) and
        ``min_transfer_time`` (seconds).
    problems : list of dict
        Rule violations found with ``strict=False`` (keys ``code``, ``file``,
        ``row``, ``column``, ``value``, ``message``); empty when strict.
    clip : ClipSummary or None
        What was read and kept when the feed was clipped to an analysis area
        (``load_gtfs(..., area=...)``); None for a feed read in full.
    """

    path: str
    agency: pd.DataFrame
    stops: pd.DataFrame
    routes: pd.DataFrame
    trips: pd.DataFrame
    calendar: pd.DataFrame
    calendar_dates: pd.DataFrame
    frequencies: pd.DataFrame
    transfers: pd.DataFrame
    min_transfer_time: np.ndarray
    transfer_pairs: pd.DataFrame
    problems: list[dict[str, Any]]
    # Stop times of all concrete trips in CSR form (trip index -> rows).
    st_ptr: np.ndarray = field(repr=False)
    st_stop: np.ndarray = field(repr=False)
    st_arr: np.ndarray = field(repr=False)
    st_dep: np.ndarray = field(repr=False)
    st_pickup: np.ndarray = field(repr=False)
    st_dropoff: np.ndarray = field(repr=False)
    service_ids: np.ndarray = field(repr=False)
    trip_service: np.ndarray = field(repr=False)
    _stop_index: dict[str, int] = field(repr=False, default_factory=dict)
    _calendar_rules: dict[str, tuple[tuple[bool, ...], dt.date, dt.date]] = field(repr=False, default_factory=dict)
    _exceptions: dict[dt.date, list[tuple[str, int]]] = field(repr=False, default_factory=dict)
    _conn_cache: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    clip: ClipSummary | None = None

    # -- basic lookups -----------------------------------------------------

    @property
    def n_stops(self) -> int:
        """Number of stops (length of per-stop arrays)."""
        return len(self.stops)

    @property
    def stop_ids(self) -> np.ndarray:
        """GTFS ``stop_id`` per stop index."""
        return self.stops["stop_id"].to_numpy(dtype=object)

    def stop_index(self, stop_id: str) -> int:
        """Return the index of ``stop_id``.

        Raises
        ------
        RoutingError
            If the stop does not exist in the feed.
        """
        try:
            return self._stop_index[str(stop_id)]
        except KeyError:
            raise RoutingError(f"Die Haltestelle {stop_id!r} kommt im GTFS-Feed nicht vor.") from None

    # -- calendar ------------------------------------------------------------

    @property
    def date_range(self) -> tuple[dt.date, dt.date]:
        """First and last date with any service rule (``calendar`` or ``calendar_dates``)."""
        dates: list[dt.date] = []
        for _, start, end in self._calendar_rules.values():
            dates.extend((start, end))
        dates.extend(d for d, ex in self._exceptions.items() if any(t == 1 for _, t in ex))
        if not dates:
            raise RoutingError("Der GTFS-Feed enthält keine Verkehrstage.")
        return min(dates), max(dates)

    def active_services(self, date: dt.date) -> frozenset[str]:
        """Service ids running on ``date`` (calendar rule plus/minus calendar_dates exceptions)."""
        wd = date.weekday()
        active = {sid for sid, (days, start, end) in self._calendar_rules.items() if days[wd] and start <= date <= end}
        for sid, typ in self._exceptions.get(date, ()):
            if typ == 1:
                active.add(sid)
            else:
                active.discard(sid)
        return frozenset(active)

    def _check_date(self, date: dt.date) -> None:
        if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
            raise RoutingError(f"Erwartet wird ein datetime.date, nicht {type(date).__name__}.")
        first, last = self.date_range
        if not first <= date <= last:
            raise RoutingError(
                f"Das Datum {date.isoformat()} liegt außerhalb des Fahrplanzeitraums des GTFS-Feeds "
                f"({first.isoformat()} bis {last.isoformat()})."
            )

    # -- connections -----------------------------------------------------------

    def _all_connections(self) -> dict[str, np.ndarray]:
        """Connections of all concrete trips in trip order (cached)."""
        if not self._conn_cache:
            n_rows = self.st_stop.shape[0]
            n_trips = self.st_ptr.shape[0] - 1
            row_trip = np.repeat(np.arange(n_trips, dtype=np.int32), np.diff(self.st_ptr))
            is_last = np.zeros(n_rows, dtype=bool)
            is_last[self.st_ptr[1:] - 1] = True
            i = np.flatnonzero(~is_last)
            self._conn_cache.update(
                trip=row_trip[i],
                dep_stop=self.st_stop[i],
                arr_stop=self.st_stop[i + 1],
                dep_time=self.st_dep[i],
                arr_time=self.st_arr[i + 1],
                board=self.st_pickup[i] != 1,
                alight=self.st_dropoff[i + 1] != 1,
            )
            # Latest arrival per service: which services matter on the following days.
            ends = np.full(self.service_ids.shape[0], -1, dtype=np.int64)
            if n_trips:
                last_arr = self.st_arr[self.st_ptr[1:] - 1]
                has_conn = np.diff(self.st_ptr) >= 2
                np.maximum.at(ends, self.trip_service[has_conn], last_arr[has_conn])
            self._conn_cache["service_end"] = ends
            # Earliest departure per service: which services of the next day a day includes (next_day_s).
            starts = np.full(self.service_ids.shape[0], np.iinfo(np.int64).max, dtype=np.int64)
            if i.size:
                np.minimum.at(starts, self.trip_service[row_trip[i]], self.st_dep[i].astype(np.int64))
            self._conn_cache["service_start"] = starts
        return self._conn_cache

    def _runs(self, date: dt.date, next_day_s: int) -> list[tuple[int, frozenset[str]]]:
        """(day offset, relevant active services): ``date``, the previous days, then ``date + 1``.

        Offsets ``0, -1, -2, …`` (previous days only as far as some service runs past
        midnight) and last ``+1``, whose services count only if one of their
        connections departs at most ``next_day_s`` after midnight (none for
        ``next_day_s < 0``).
        """
        allc = self._all_connections()
        ends = allc["service_end"]
        starts = allc["service_start"]
        sid_pos = {s: i for i, s in enumerate(self.service_ids.tolist())}
        max_end = int(ends.max(initial=-1))
        out = []
        for k in range(0, max(max_end, 0) // _DAY + 1):
            active = self.active_services(date - dt.timedelta(days=k))
            relevant = frozenset(s for s in active if s in sid_pos and ends[sid_pos[s]] >= k * _DAY)
            out.append((-k, relevant))
        nxt: frozenset[str] = frozenset()
        if next_day_s >= 0:
            active = self.active_services(date + dt.timedelta(days=1))
            nxt = frozenset(s for s in active if s in sid_pos and starts[sid_pos[s]] <= next_day_s)
        out.append((1, nxt))
        return out

    def service_signature(self, date: dt.date, *, next_day_s: int = -1) -> tuple[str, ...]:
        """Key identifying the timetable of ``date``.

        Two dates with equal signatures have identical :meth:`connections` (called
        with the same ``next_day_s``). Entries are ``"<offset>|<service_id>"`` for
        the services active on ``date`` (offset ``0``) and those of ``date - 1``
        (offset ``-1``; ``-2`` … for feeds with times beyond 48:00) that still run
        after midnight, and ``"1<<next_day_s>|<service_id>"`` for the services of
        ``date + 1`` with a departure at most ``next_day_s`` after midnight (so the
        cut-off is part of the key); services without any trip are left out.

        Parameters
        ----------
        date
            Service date.
        next_day_s
            As in :meth:`connections`.

        Returns
        -------
        tuple of str
            Sorted entries.

        Raises
        ------
        RoutingError
            If ``date`` is outside :attr:`date_range`.
        """
        self._check_date(date)
        next_day_s = _next_day_seconds(next_day_s)
        entries = []
        for off, services in self._runs(date, next_day_s):
            tag = f"1<{next_day_s}" if off == 1 else str(off)
            entries.extend(f"{tag}|{s}" for s in services)
        return tuple(sorted(entries))

    def connections(self, date: dt.date, *, next_day_s: int = -1) -> Connections:
        """Elementary connections of all trips running on ``date``.

        Includes the trips of the service day ``date``, the parts after midnight of
        trips of the previous service day(s) (times shifted by -86400 s; only
        connections arriving at or after 0:00 are kept) and, for searches running
        past midnight, the night trips of the next service day ``date + 1`` (times
        shifted by +86400 s; only connections departing at most ``next_day_s``
        after midnight, i.e. at most ``86400 + next_day_s`` on the time axis of
        ``date``). Each is its own trip run: a trip running on ``date`` and on
        ``date + 1`` gives two runs that are never joined.

        Searches are exact as long as they stay within ``86400 + next_day_s``:
        :func:`~coverage.transit.routing.earliest_arrival` with ``until`` at most that,
        :func:`~coverage.transit.routing.latest_departure` with deadlines at most that
        (connections of ``date + 1`` start at 86400 or later, so they never help to
        arrive before midnight).

        Parameters
        ----------
        date
            Service date.
        next_day_s
            Seconds after the midnight ending ``date`` up to which departures of the
            next service day are included; negative (default) = none, ``86400`` =
            the whole next service day.

        Returns
        -------
        Connections
            Times in seconds since midnight of ``date``.

        Raises
        ------
        RoutingError
            If ``date`` is outside :attr:`date_range` or ``next_day_s`` is not an
            integer.
        """
        self._check_date(date)
        next_day_s = _next_day_seconds(next_day_s)
        allc = self._all_connections()
        sid_pos = {s: i for i, s in enumerate(self.service_ids.tolist())}
        parts: list[dict[str, np.ndarray]] = []
        runs = self._runs(date, next_day_s)
        n_runs = len(runs)
        offsets = np.array([off for off, _ in runs], dtype=np.int32)
        for j, (off, services) in enumerate(runs):
            svc_mask = np.zeros(self.service_ids.shape[0], dtype=bool)
            svc_mask[[sid_pos[s] for s in services]] = True
            sel = svc_mask[self.trip_service[allc["trip"]]]
            shift = off * _DAY
            if off < 0:
                sel &= allc["arr_time"] + shift >= 0
            elif off > 0:
                sel &= allc["dep_time"] <= next_day_s
            idx = np.flatnonzero(sel)
            parts.append(
                {
                    "dep_stop": allc["dep_stop"][idx],
                    "arr_stop": allc["arr_stop"][idx],
                    "dep_time": allc["dep_time"][idx] + shift,
                    "arr_time": allc["arr_time"][idx] + shift,
                    "board": allc["board"][idx],
                    "alight": allc["alight"][idx],
                    "run_key": allc["trip"][idx].astype(np.int64) * n_runs + j,
                }
            )
        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        # runs numbered in the order of (trip, position in runs: 0, -1, …, +1), as np.unique(run_key)
        # would, with a table instead of a sort
        seen = np.zeros((self.st_ptr.shape[0] - 1) * n_runs, dtype=bool)
        seen[cat["run_key"]] = True
        run_keys = np.flatnonzero(seen)
        rank = np.cumsum(seen, dtype=np.int64) - 1
        run = rank[cat["run_key"]]
        return Connections.from_arrays(
            cat["dep_stop"],
            cat["arr_stop"],
            cat["dep_time"],
            cat["arr_time"],
            run.astype(np.int32),
            board=cat["board"],
            alight=cat["alight"],
            n_stops=self.n_stops,
            stop_ids=self.stop_ids,
            min_transfer=self.min_transfer_time,
            date=date,
            run_trip=(run_keys // n_runs).astype(np.int32),
            run_day_offset=offsets[run_keys % n_runs],
        )


def _next_day_seconds(value: object) -> int:
    """Validate ``next_day_s`` of :meth:`Feed.connections`: an integer; negative values mean none (-1)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise RoutingError(f"next_day_s: erwartet wird eine ganze Zahl von Sekunden, nicht {value!r}.")
    return max(int(value), -1)
