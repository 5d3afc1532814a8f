"""Load and validate GTFS feeds and derive the timetable of one service date.

:func:`load_gtfs` reads a feed from a ``.zip`` archive or a directory and checks
it against the ERROR rules of the canonical GTFS validator (missing required
file, column or value, invalid time/date/number, foreign key violation,
duplicate key, non-increasing ``stop_sequence``, arrival after departure,
times decreasing along a trip, ...). Every violation raises
:class:`~coverage.errors.GTFSError`; with ``strict=False`` the violations are
collected in :attr:`Feed.problems` instead and the offending rows (for
stop times: the whole trip) are left out.

Row numbers in messages and problems are **file line numbers** as shown by an
editor and by the canonical GTFS validator (``csvRowNumber``): the header is
line 1, the first data row is line 2.

:meth:`Feed.connections` turns the feed into the elementary connections of one
calendar day (the input of the routers in :mod:`coverage.transit.routing`).

With ``load_gtfs(path, cache=...)`` the parsed feed is kept in the disk cache
(:class:`~coverage.cache.store.Cache`, kind ``fahrplan``) under a key from the feed's
content, ``strict``, the parser's source code and the library versions, and read
from there while none of these changes.

With ``load_gtfs(path, area=...)`` a large (e.g. Germany-wide) feed is clipped to
the analysis area while it is streamed (:mod:`coverage.transit._gtfsclip`); the counts of
what was read and kept are in :attr:`Feed.clip` (:class:`ClipSummary`).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from coverage import ANALYSIS_CRS
from coverage.errors import GTFSError, RoutingError

if TYPE_CHECKING:
    from shapely.geometry import MultiPolygon, Polygon

    from coverage.cache.store import Cache

__all__ = ["ClipSummary", "Connections", "Feed", "load_gtfs"]

logger = logging.getLogger(__name__)

_DAY = 86400
_WEEKDAY_COLUMNS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_name", "agency_url", "agency_timezone"),
    "stops.txt": ("stop_id",),
    "routes.txt": ("route_id", "route_type"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"),
    "calendar.txt": ("service_id", *_WEEKDAY_COLUMNS, "start_date", "end_date"),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "frequencies.txt": ("trip_id", "start_time", "end_time", "headway_secs"),
    "transfers.txt": ("from_stop_id", "to_stop_id", "transfer_type"),
}
"""Columns that must exist in each file."""

_REQUIRED_VALUES: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_name", "agency_url", "agency_timezone"),
    "stops.txt": ("stop_id",),
    "routes.txt": ("route_id", "route_type"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "stop_id", "stop_sequence"),
    "calendar.txt": ("service_id", *_WEEKDAY_COLUMNS, "start_date", "end_date"),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "frequencies.txt": ("trip_id", "start_time", "end_time", "headway_secs"),
    "transfers.txt": ("from_stop_id", "to_stop_id"),
}
"""Columns whose value must not be empty in any row."""

_FATAL_FILES = ("stops.txt", "trips.txt", "stop_times.txt")
"""Without these files (or their required columns) no timetable can be built."""

_TIME_RE = re.compile(r"^(\d{1,3}):([0-5]\d):([0-5]\d)$")
_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_INT_RE = re.compile(r"^[+-]?\d+$")

_TIME_ALLOWED = "erlaubt ist eine Uhrzeit H:MM:SS oder HH:MM:SS (Stunden dürfen 24 überschreiten)"
_DATE_ALLOWED = "erlaubt ist ein Datum JJJJMMTT, z. B. 20240115"


# ---------------------------------------------------------------------------
# Problem collection
# ---------------------------------------------------------------------------


class _Checker:
    """Raise (strict) or collect (lenient) GTFS rule violations."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.problems: list[dict[str, Any]] = []

    def report(
        self,
        code: str,
        message: str,
        *,
        file: str,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        fatal: bool = False,
    ) -> None:
        if self.strict or fatal:
            raise GTFSError(message, file=file, row=row, column=column, value=value)
        self.problems.append(
            {"code": code, "file": file, "row": row, "column": column, "value": value, "message": message}
        )

    def report_rows(
        self,
        code: str,
        message: str,
        *,
        file: str,
        rows: np.ndarray,
        column: str | None,
        values: Iterable[object] | None,
        fatal: bool = False,
    ) -> None:
        """Report one problem per entry of ``rows`` (file line numbers)."""
        rows = np.asarray(rows)
        if rows.size == 0:
            return
        vals = list(values) if values is not None else [None] * rows.size
        if self.strict or fatal:
            raise GTFSError(message, file=file, row=int(rows[0]), column=column, value=vals[0])
        for r, v in zip(rows.tolist(), vals, strict=True):
            self.problems.append(
                {"code": code, "file": file, "row": int(r), "column": column, "value": v, "message": message}
            )


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def utf8_text(raw: bytes, name: str) -> str:
    """``raw`` decoded as UTF-8 (a BOM is dropped); a :class:`GTFSError` naming ``name`` otherwise."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GTFSError(
            f"Die Datei ist nicht UTF-8-kodiert (Byte {exc.start}); GTFS verlangt UTF-8.", file=name
        ) from exc


class _Source:
    """Files of a feed in a zip archive or a directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._names: dict[str, str] = {}
        if path.is_dir():
            for p in path.iterdir():
                if p.is_file():
                    self._names[p.name] = str(p)
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                raise GTFSError(
                    "Die Datei ist kein gültiges ZIP-Archiv; erwartet wird ein GTFS-Feed als .zip oder Verzeichnis.",
                    file=str(path),
                ) from exc
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
            # Feeds are sometimes zipped with an enclosing folder.
            prefix = ""
            if "stops.txt" not in names:
                nested = sorted((n for n in names if n.endswith("/stops.txt")), key=len)
                if nested:
                    prefix = nested[0][: -len("stops.txt")]
            for n in names:
                if n.startswith(prefix) and "/" not in n[len(prefix) :]:
                    self._names[n[len(prefix) :]] = n
        else:
            raise GTFSError(
                "Der GTFS-Feed wurde nicht gefunden; erwartet wird eine .zip-Datei oder ein Verzeichnis.",
                file=str(path),
            )

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def has(self, name: str) -> bool:
        return name in self._names

    def open(self, name: str) -> IO[bytes]:
        """Binary stream of file ``name`` (decompressed for a zip member)."""
        if self._zip is not None:
            return self._zip.open(self._names[name])
        return open(self._names[name], "rb")

    def size(self, name: str) -> int:
        """Size of file ``name`` in bytes (uncompressed)."""
        if self._zip is not None:
            return int(self._zip.getinfo(self._names[name]).file_size)
        return Path(self._names[name]).stat().st_size

    def read(self, name: str) -> pd.DataFrame:
        raw = self._zip.read(self._names[name]) if self._zip is not None else Path(self._names[name]).read_bytes()
        text = utf8_text(raw, name)
        if not text.strip():
            return pd.DataFrame()
        try:
            df = pd.read_csv(
                io.StringIO(text),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=True,
            )
        except (pd.errors.ParserError, ValueError) as exc:
            raise GTFSError(f"Die Datei ist kein gültiges CSV: {exc}", file=name) from exc
        df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
        for c in df.columns:
            df[c] = df[c].astype(str).str.strip()
        df["_row"] = np.arange(2, len(df) + 2, dtype=np.int64)
        return df


# ---------------------------------------------------------------------------
# Vectorised parsers (parse the distinct values only)
# ---------------------------------------------------------------------------


def _parse_unique(values: pd.Series, parse: Any) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``parse`` (str -> float, NaN for empty, raises ValueError) to distinct values.

    Returns the parsed values (float64) and a boolean array marking invalid entries.
    """
    codes, uniques = pd.factorize(values, sort=False)
    parsed = np.empty(len(uniques), dtype=np.float64)
    bad = np.zeros(len(uniques), dtype=bool)
    for j, u in enumerate(uniques):
        if u == "":
            parsed[j] = np.nan
            continue
        try:
            parsed[j] = parse(u)
        except ValueError:
            parsed[j] = np.nan
            bad[j] = True
    if len(codes) == 0:
        return np.empty(0), np.zeros(0, dtype=bool)
    return parsed[codes], bad[codes]


def _time_value(s: str) -> float:
    m = _TIME_RE.match(s)
    if m is None:
        raise ValueError(s)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def _date_value(s: str) -> float:
    m = _DATE_RE.match(s)
    if m is None:
        raise ValueError(s)
    return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).toordinal()


def _int_value(s: str) -> float:
    if _INT_RE.match(s) is None:
        raise ValueError(s)
    return int(s)


def _float_value(s: str) -> float:
    v = float(s)
    if not np.isfinite(v):
        raise ValueError(s)
    return v


def _report_bad(df: pd.DataFrame, col: str, bad: np.ndarray, file: str, chk: _Checker, code: str, msg: str) -> None:
    """Report every row of ``df[col]`` flagged in ``bad`` with its file line and value."""
    if not bad.any():  # converting a string column to objects is not free
        return
    chk.report_rows(code, msg, file=file, rows=df["_row"].to_numpy()[bad], column=col, values=df[col].to_numpy()[bad])


def _parse_time_column(df: pd.DataFrame, col: str, file: str, chk: _Checker) -> tuple[np.ndarray, np.ndarray]:
    vals, bad = _parse_unique(df[col], _time_value)
    _report_bad(df, col, bad, file, chk, "invalid_time", f"ungültige Uhrzeit; {_TIME_ALLOWED}")
    return vals, bad


def _parse_date_column(df: pd.DataFrame, col: str, file: str, chk: _Checker) -> tuple[np.ndarray, np.ndarray]:
    vals, bad = _parse_unique(df[col], _date_value)
    _report_bad(df, col, bad, file, chk, "invalid_date", f"ungültiges Datum; {_DATE_ALLOWED}")
    return vals, bad


def _parse_int_column(
    df: pd.DataFrame,
    col: str,
    file: str,
    chk: _Checker,
    *,
    allowed: Iterable[int] | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    describe: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Parse an integer column; empty -> NaN; invalid or out of range -> problem."""
    vals, bad = _parse_unique(df[col], _int_value)
    ok = ~np.isnan(vals)
    if allowed is not None:
        bad |= ok & ~np.isin(vals, np.fromiter(allowed, dtype=np.float64))
    if minimum is not None:
        bad |= ok & (vals < minimum)
    if maximum is not None:
        bad |= ok & (vals > maximum)
    vals = np.where(bad, np.nan, vals)
    _report_bad(df, col, bad, file, chk, "invalid_value", f"ungültiger Wert; erlaubt ist {describe}")
    return vals, bad


# ---------------------------------------------------------------------------
# Generic checks
# ---------------------------------------------------------------------------


def _check_columns(df: pd.DataFrame, file: str, chk: _Checker) -> bool:
    """Report missing required columns; return False if the file is unusable."""
    fatal = file in _FATAL_FILES
    ok = True
    for col in _REQUIRED_COLUMNS[file]:
        if col not in df.columns:
            chk.report(
                "missing_required_column",
                f"Pflichtspalte '{col}' fehlt; vorhanden sind: {', '.join(c for c in df.columns if c != '_row')}",
                file=file,
                column=col,
                fatal=fatal,
            )
            ok = False
    return ok


def _check_required_values(df: pd.DataFrame, file: str, chk: _Checker) -> np.ndarray:
    """Report empty required fields; return mask of rows to keep."""
    keep = np.ones(len(df), dtype=bool)
    for col in _REQUIRED_VALUES[file]:
        empty = (df[col] == "").to_numpy()
        chk.report_rows(
            "missing_required_field",
            f"Pflichtfeld '{col}' ist leer; ein Wert ist erforderlich",
            file=file,
            rows=df["_row"].to_numpy()[empty],
            column=col,
            values=None,
        )
        keep &= ~empty
    return keep


def _check_duplicates(df: pd.DataFrame, keys: list[str], file: str, chk: _Checker) -> np.ndarray:
    """Report duplicate keys (every occurrence after the first); return mask of rows to keep."""
    dup = df.duplicated(subset=keys, keep="first").to_numpy()
    if dup.any():
        first = df.drop_duplicates(subset=keys, keep="first").set_index(keys)["_row"]
        rows = df["_row"].to_numpy()[dup]
        dkeys = df.loc[dup, keys]
        values = [tuple(r) if len(keys) > 1 else r[0] for r in dkeys.itertuples(index=False)]
        if chk.strict:
            k = values[0]
            raise GTFSError(
                f"doppelter Schlüssel ({', '.join(keys)}); jeder Wert darf nur einmal vorkommen "
                f"(erstmals in Zeile {int(first.loc[k])})",
                file=file,
                row=int(rows[0]),
                column=keys[0] if len(keys) == 1 else ", ".join(keys),
                value=k,
            )
        chk.report_rows(
            "duplicate_key",
            f"doppelter Schlüssel ({', '.join(keys)}); jeder Wert darf nur einmal vorkommen, "
            "die Wiederholung wird verworfen",
            file=file,
            rows=rows,
            column=", ".join(keys),
            values=values,
        )
    return ~dup


def _isin(values: pd.Series, valid: Iterable[str] | pd.Index) -> np.ndarray:
    """Mask of the entries of ``values`` that occur in ``valid`` (strings, hashed in pyarrow).

    Same result as ``values.isin(valid)``; the pandas version of the string dtype builds
    its lookup set value by value in Python, which takes seconds for 100,000 values.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    def strings(x: Any) -> pa.Array:
        arr = pa.array(x if isinstance(x, pd.Series | pd.Index) else list(x))
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return pc.cast(arr, pa.string()) if len(arr) else pa.array([], pa.string())

    return pc.is_in(strings(values), value_set=strings(valid)).to_numpy(zero_copy_only=False)


def _check_foreign_key(
    df: pd.DataFrame,
    col: str,
    valid: Iterable[str] | pd.Index,
    file: str,
    target: str,
    chk: _Checker,
    *,
    allow_empty: bool = False,
) -> np.ndarray:
    """Report values of ``col`` not in ``valid``; return mask of rows to keep."""
    vals = df[col]
    bad = ~_isin(vals, valid)
    if allow_empty:
        bad &= (vals != "").to_numpy()
    chk.report_rows(
        "foreign_key_violation",
        f"Fremdschlüsselverletzung: der Wert kommt in {target} nicht vor; erlaubt sind nur dort definierte Werte",
        file=file,
        rows=df["_row"].to_numpy()[bad],
        column=col,
        values=vals.to_numpy()[bad] if bad.any() else [],
    )
    return ~bad


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


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series([], dtype=str) for c in columns})
    df["_row"] = np.zeros(0, dtype=np.int64)
    return df


def _read_optional(src: _Source, name: str, chk: _Checker) -> pd.DataFrame | None:
    """Read ``name``; None if absent or lacking required columns (problem reported)."""
    if not src.has(name):
        return None
    df = src.read(name)
    if df.empty and "_row" not in df.columns:
        return None
    if not _check_columns(df, name, chk):
        return None
    return df


def _read_required(src: _Source, name: str, chk: _Checker) -> pd.DataFrame | None:
    fatal = name in _FATAL_FILES
    if not src.has(name):
        chk.report(
            "missing_required_file",
            f"Pflichtdatei {name} fehlt im GTFS-Feed",
            file=name,
            fatal=fatal,
        )
        return None
    df = src.read(name)
    if "_row" not in df.columns:
        chk.report("empty_file", "Die Datei ist leer; erwartet wird mindestens die Kopfzeile", file=name, fatal=fatal)
        return None
    if not _check_columns(df, name, chk):
        return None
    return df


def _load_agency(df: pd.DataFrame | None, chk: _Checker) -> pd.DataFrame:
    if df is None:
        return _empty(_REQUIRED_COLUMNS["agency.txt"])
    keep = _check_required_values(df, "agency.txt", chk)
    if "agency_id" in df.columns:
        keep &= _check_duplicates(df, ["agency_id"], "agency.txt", chk)
    return df[keep].reset_index(drop=True)


def _load_stops(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    file = "stops.txt"
    keep = _check_required_values(df, file, chk)
    keep &= _check_duplicates(df, ["stop_id"], file, chk)
    for col in ("stop_lat", "stop_lon", "location_type", "parent_station", "stop_name"):
        if col not in df.columns:
            df[col] = ""
    loc, bad = _parse_int_column(df, "location_type", file, chk, allowed=range(5), describe="0, 1, 2, 3, 4 oder leer")
    loc = np.where(np.isnan(loc), 0, loc).astype(np.int8)
    keep &= ~bad
    needs_coord = loc <= 2
    coords = {}
    for col, lim in (("stop_lat", 90.0), ("stop_lon", 180.0)):
        vals, bad = _parse_unique(df[col], _float_value)
        bad |= ~np.isnan(vals) & (np.abs(vals) > lim)
        chk.report_rows(
            "invalid_value",
            f"ungültige Koordinate; erlaubt ist eine Dezimalzahl zwischen -{lim:g} und {lim:g} (WGS84)",
            file=file,
            rows=df["_row"].to_numpy()[bad],
            column=col,
            values=df[col].to_numpy()[bad] if bad.any() else [],
        )
        missing = (df[col] == "").to_numpy() & needs_coord
        chk.report_rows(
            "missing_required_field",
            f"Pflichtfeld '{col}' ist leer; für Haltestellen, Stationen und Zugänge "
            "(location_type 0, 1, 2) sind Koordinaten erforderlich",
            file=file,
            rows=df["_row"].to_numpy()[missing],
            column=col,
            values=None,
        )
        coords[col] = np.where(bad, np.nan, vals)
    valid_ids = df.loc[keep, "stop_id"]
    keep &= _check_foreign_key(df, "parent_station", valid_ids, file, "stops.txt (stop_id)", chk, allow_empty=True)
    out = pd.DataFrame(
        {
            "stop_id": df["stop_id"],
            "stop_name": df["stop_name"],
            "stop_lat": coords["stop_lat"],
            "stop_lon": coords["stop_lon"],
            "location_type": loc,
            "parent_station": df["parent_station"],
            "_row": df["_row"],
        }
    )[keep].reset_index(drop=True)
    x = np.full(len(out), np.nan)
    y = np.full(len(out), np.nan)
    has = out["stop_lat"].notna().to_numpy() & out["stop_lon"].notna().to_numpy()
    if has.any():
        from pyproj import Transformer

        tr = Transformer.from_crs("EPSG:4326", ANALYSIS_CRS, always_xy=True)
        x[has], y[has] = tr.transform(out["stop_lon"].to_numpy()[has], out["stop_lat"].to_numpy()[has])
    out["x"] = x
    out["y"] = y
    return out


def _load_routes(df: pd.DataFrame | None, agency: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    file = "routes.txt"
    if df is None:
        return _empty(("route_id", "route_type"))
    keep = _check_required_values(df, file, chk)
    keep &= _check_duplicates(df, ["route_id"], file, chk)
    _, bad = _parse_int_column(
        df,
        "route_type",
        file,
        chk,
        allowed=[*range(8), 11, 12, *range(100, 1800)],
        describe="0–7, 11, 12 oder ein erweiterter Verkehrsmitteltyp 100–1799",
    )
    keep &= ~bad
    if "agency_id" in df.columns and "agency_id" in agency.columns:
        keep &= _check_foreign_key(
            df, "agency_id", agency["agency_id"], file, "agency.txt (agency_id)", chk, allow_empty=True
        )
    return df[keep].reset_index(drop=True)


def _load_calendar(
    cal: pd.DataFrame | None, cdates: pd.DataFrame | None, chk: _Checker
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[dt.date, list[tuple[str, int]]]]:
    rules: dict[str, tuple[tuple[bool, ...], dt.date, dt.date]] = {}
    exceptions: dict[dt.date, list[tuple[str, int]]] = {}
    if cal is None:
        cal = _empty(_REQUIRED_COLUMNS["calendar.txt"])
    else:
        file = "calendar.txt"
        keep = _check_required_values(cal, file, chk)
        keep &= _check_duplicates(cal, ["service_id"], file, chk)
        flags = []
        for col in _WEEKDAY_COLUMNS:
            v, bad = _parse_int_column(cal, col, file, chk, allowed=(0, 1), describe="0 oder 1")
            keep &= ~bad
            flags.append(v == 1)
        start, bad_s = _parse_date_column(cal, "start_date", file, chk)
        end, bad_e = _parse_date_column(cal, "end_date", file, chk)
        keep &= ~bad_s & ~bad_e
        order = keep & (start > end)
        msg = "start_date liegt nach end_date; erlaubt ist start_date ≤ end_date"
        _report_bad(cal, "start_date", order, file, chk, "start_and_end_range_out_of_order", msg)
        keep &= ~order
        sids = cal["service_id"].to_numpy()
        for i in np.flatnonzero(keep):
            rules[str(sids[i])] = (
                tuple(bool(f[i]) for f in flags),
                dt.date.fromordinal(int(start[i])),
                dt.date.fromordinal(int(end[i])),
            )
        cal = cal[keep].reset_index(drop=True)
    if cdates is None:
        cdates = _empty(_REQUIRED_COLUMNS["calendar_dates.txt"])
    else:
        file = "calendar_dates.txt"
        keep = _check_required_values(cdates, file, chk)
        d, bad = _parse_date_column(cdates, "date", file, chk)
        keep &= ~bad
        typ, bad = _parse_int_column(cdates, "exception_type", file, chk, allowed=(1, 2), describe="1 oder 2")
        keep &= ~bad
        keep &= _check_duplicates(cdates, ["service_id", "date"], file, chk)
        sids = cdates["service_id"].to_numpy()
        for i in np.flatnonzero(keep):
            exceptions.setdefault(dt.date.fromordinal(int(d[i])), []).append((str(sids[i]), int(typ[i])))
        cdates = cdates[keep].reset_index(drop=True)
    return cal, cdates, rules, exceptions


def _load_trips(df: pd.DataFrame, routes: pd.DataFrame, services: set[str], chk: _Checker) -> pd.DataFrame:
    file = "trips.txt"
    keep = _check_required_values(df, file, chk)
    keep &= _check_duplicates(df, ["trip_id"], file, chk)
    keep &= _check_foreign_key(df, "route_id", routes["route_id"], file, "routes.txt (route_id)", chk)
    keep &= _check_foreign_key(
        df, "service_id", pd.Index(sorted(services)), file, "calendar.txt/calendar_dates.txt (service_id)", chk
    )
    return df[keep].reset_index(drop=True)


def _load_stop_times(
    df: pd.DataFrame, trips: pd.DataFrame, stops: pd.DataFrame, chk: _Checker
) -> dict[str, np.ndarray]:
    """Validate stop_times; return arrays sorted by (trip, stop_sequence) with interpolated times."""
    file = "stop_times.txt"
    keep = _check_required_values(df, file, chk)
    keep &= _check_foreign_key(df, "trip_id", trips["trip_id"], file, "trips.txt (trip_id)", chk)
    trip_pos = pd.Index(trips["trip_id"]).get_indexer(df["trip_id"])
    bad_trip = np.zeros(len(trips) + 1, dtype=bool)  # last slot: unknown trip
    trip_pos = np.where(trip_pos < 0, len(trips), trip_pos)

    def drop_trips(mask: np.ndarray) -> None:
        bad_trip[trip_pos[mask]] = True

    stop_pos = pd.Index(stops["stop_id"]).get_indexer(df["stop_id"])
    bad = ~_check_foreign_key(df, "stop_id", stops["stop_id"], file, "stops.txt (stop_id)", chk)
    drop_trips(bad & keep)
    seq, bad = _parse_int_column(df, "stop_sequence", file, chk, minimum=0, describe="eine ganze Zahl ≥ 0")
    drop_trips(bad & keep)
    keep &= ~np.isnan(seq)
    arr, bad_a = _parse_time_column(df, "arrival_time", file, chk)
    dep, bad_d = _parse_time_column(df, "departure_time", file, chk)
    drop_trips((bad_a | bad_d) & keep)
    pick = np.zeros(len(df))
    drop = np.zeros(len(df))
    for col in ("pickup_type", "drop_off_type"):
        if col in df.columns:
            v, bad = _parse_int_column(df, col, file, chk, allowed=range(4), describe="0, 1, 2, 3 oder leer")
            drop_trips(bad & keep)
            v = np.where(np.isnan(v), 0, v)
            if col == "pickup_type":
                pick = v
            else:
                drop = v

    dupl = ~_check_duplicates_masked(df, keep, ["trip_id", "stop_sequence"], seq, trip_pos, file, chk)
    drop_trips(dupl & keep)
    keep &= ~dupl

    # Sort by (trip, stop_sequence); stop_times may be unsorted.
    idx = np.flatnonzero(keep)
    idx = idx[np.lexsort((seq[idx], trip_pos[idx]))]
    t = trip_pos[idx]
    rows = df["_row"].to_numpy()[idx]
    a = arr[idx]
    d = dep[idx]
    n = idx.size
    first = np.ones(n, dtype=bool)
    first[1:] = t[1:] != t[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = t[1:] != t[:-1]

    # Only one of arrival/departure given.
    one = np.isnan(a) ^ np.isnan(d)
    for mask, col in ((one & np.isnan(a), "arrival_time"), (one & np.isnan(d), "departure_time")):
        chk.report_rows(
            "stop_time_with_only_arrival_or_departure_time",
            "nur eine der Zeiten arrival_time/departure_time ist angegeben; erlaubt sind beide oder keine",
            file=file,
            rows=rows[mask],
            column=col,
            values=None,
        )
    a = np.where(np.isnan(a), d, a)
    d = np.where(np.isnan(d), a, d)
    missing = np.isnan(a)
    edge = missing & (first | last)
    chk.report_rows(
        "missing_trip_edge",
        "erste und letzte Haltestelle einer Fahrt brauchen arrival_time und departure_time",
        file=file,
        rows=rows[edge],
        column="arrival_time",
        values=None,
    )
    bad_trip[t[edge]] = True

    after = ~missing & (a > d)
    chk.report_rows(
        "stop_time_arrival_after_departure",
        "arrival_time liegt nach departure_time; erlaubt ist arrival_time ≤ departure_time",
        file=file,
        rows=rows[after],
        column="arrival_time",
        values=df["arrival_time"].to_numpy()[idx[after]] if after.any() else [],
    )
    bad_trip[t[after]] = True

    timed = np.flatnonzero(~missing)
    if timed.size > 1:
        same = t[timed[1:]] == t[timed[:-1]]
        dec = same & (a[timed[1:]] < d[timed[:-1]])
        where = timed[1:][dec]
        chk.report_rows(
            "stop_time_with_arrival_before_previous_departure_time",
            "Zeiten nehmen entlang der Fahrt ab: arrival_time liegt vor der departure_time der vorigen "
            "Haltestelle; erlaubt sind nicht fallende Zeiten",
            file=file,
            rows=rows[where],
            column="arrival_time",
            values=df["arrival_time"].to_numpy()[idx[where]] if where.size else [],
        )
        bad_trip[t[where]] = True

    # Drop invalid trips (lenient mode only; strict has raised already).
    ok = ~bad_trip[t]
    idx, t, a, d, missing, first = idx[ok], t[ok], a[ok], d[ok], missing[ok], first[ok]

    # Interpolate intermediate stops without times, evenly by position.
    if missing.any():
        pos = np.arange(idx.size)
        prev_t = np.maximum.accumulate(np.where(~missing, pos, -1))
        next_t = np.minimum.accumulate(np.where(~missing, pos, idx.size)[::-1])[::-1]
        m = np.flatnonzero(missing)
        p, q = prev_t[m], next_t[m]
        frac = (m - p) / (q - p)
        vals = np.round(d[p] + (a[q] - d[p]) * frac)
        a[m] = vals
        d[m] = vals

    counts = np.bincount(t, minlength=len(trips))
    ptr = np.zeros(len(trips) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return {
        "ptr": ptr,
        "stop": stop_pos[idx].astype(np.int32),
        "arr": a.astype(np.int32),
        "dep": d.astype(np.int32),
        "pickup": pick[idx].astype(np.int8),
        "dropoff": drop[idx].astype(np.int8),
        "bad_trip": bad_trip[: len(trips)],
    }


def _check_duplicates_masked(
    df: pd.DataFrame,
    keep: np.ndarray,
    keys: list[str],
    seq: np.ndarray,
    trip_pos: np.ndarray,
    file: str,
    chk: _Checker,
) -> np.ndarray:
    """Duplicate (trip, stop_sequence) among kept rows; compares numeric sequence values."""
    key = pd.DataFrame({"t": trip_pos, "s": seq})
    dup = key.duplicated(keep="first").to_numpy() & keep
    if dup.any():
        rows = df["_row"].to_numpy()[dup]
        firsts = key[keep].drop_duplicates(keep="first")
        first_rows = pd.Series(df["_row"].to_numpy()[firsts.index], index=pd.MultiIndex.from_frame(firsts))
        vals = list(zip(df["trip_id"].to_numpy()[dup], df["stop_sequence"].to_numpy()[dup], strict=True))
        k0 = (trip_pos[dup][0], seq[dup][0])
        chk.report_rows(
            "duplicate_key",
            "stop_sequence ist innerhalb der Fahrt nicht streng steigend (doppelter Schlüssel trip_id, "
            f"stop_sequence, erstmals in Zeile {int(first_rows.loc[k0])}); erlaubt sind eindeutige Werte, "
            "die Fahrt wird verworfen",
            file=file,
            rows=rows,
            column="stop_sequence",
            values=vals,
        )
    return ~dup


def _load_frequencies(
    df: pd.DataFrame | None, trips: pd.DataFrame, all_trip_ids: pd.Series, chk: _Checker
) -> pd.DataFrame:
    file = "frequencies.txt"
    if df is None:
        out = _empty(_REQUIRED_COLUMNS[file])
        for c in ("start_s", "end_s", "headway_s", "exact_times_i"):
            out[c] = np.zeros(0, dtype=np.int64)
        return out
    keep = _check_required_values(df, file, chk)
    keep &= _check_foreign_key(df, "trip_id", all_trip_ids, file, "trips.txt (trip_id)", chk)
    keep &= df["trip_id"].isin(trips["trip_id"]).to_numpy()  # trips dropped earlier (lenient mode)
    start, bad = _parse_time_column(df, "start_time", file, chk)
    keep &= ~bad
    end, bad = _parse_time_column(df, "end_time", file, chk)
    keep &= ~bad
    head, bad = _parse_int_column(df, "headway_secs", file, chk, minimum=1, describe="eine ganze Zahl > 0")
    keep &= ~bad
    if "exact_times" not in df.columns:
        df["exact_times"] = ""
    exact, bad = _parse_int_column(df, "exact_times", file, chk, allowed=(0, 1), describe="0, 1 oder leer")
    keep &= ~bad
    order = keep & (start >= end)
    msg = "start_time liegt nicht vor end_time; erlaubt ist start_time < end_time"
    _report_bad(df, "start_time", order, file, chk, "start_and_end_range_out_of_order", msg)
    keep &= ~order
    keep &= _check_duplicates(df, ["trip_id", "start_time"], file, chk)
    out = df[keep].copy()
    out["start_s"] = start[keep].astype(np.int64)
    out["end_s"] = end[keep].astype(np.int64)
    out["headway_s"] = head[keep].astype(np.int64)
    out["exact_times_i"] = np.where(np.isnan(exact[keep]), 0, exact[keep]).astype(np.int64)
    out = out.sort_values(["trip_id", "start_s"], kind="stable").reset_index(drop=True)
    same = (out["trip_id"].to_numpy()[1:] == out["trip_id"].to_numpy()[:-1]) if len(out) > 1 else np.zeros(0, bool)
    overlap = np.zeros(len(out), dtype=bool)
    if len(out) > 1:
        overlap[1:] = same & (out["start_s"].to_numpy()[1:] < out["end_s"].to_numpy()[:-1])
    chk.report_rows(
        "overlapping_frequency",
        "Zeitraum überschneidet sich mit einem anderen Eintrag derselben Fahrt; erlaubt sind "
        "überschneidungsfreie Zeiträume (end_time ≤ nächste start_time)",
        file=file,
        rows=out["_row"].to_numpy()[overlap],
        column="start_time",
        values=out["start_time"].to_numpy()[overlap],
    )
    return out[~overlap].reset_index(drop=True)


def _load_transfers(
    df: pd.DataFrame | None, stops: pd.DataFrame, chk: _Checker
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    file = "transfers.txt"
    n = len(stops)
    ct = np.zeros(n, dtype=np.float64)
    pairs = pd.DataFrame(
        {
            "from_stop": np.zeros(0, np.int32),
            "to_stop": np.zeros(0, np.int32),
            "transfer_type": np.zeros(0, np.int8),
            "min_transfer_time": np.zeros(0, np.float64),
        }
    )
    if df is None:
        return _empty(_REQUIRED_COLUMNS[file]), ct, pairs
    keep = _check_required_values(df, file, chk)
    keep &= _check_foreign_key(df, "from_stop_id", stops["stop_id"], file, "stops.txt (stop_id)", chk)
    keep &= _check_foreign_key(df, "to_stop_id", stops["stop_id"], file, "stops.txt (stop_id)", chk)
    typ, bad = _parse_int_column(df, "transfer_type", file, chk, allowed=range(6), describe="0–5 oder leer")
    keep &= ~bad
    typ = np.where(np.isnan(typ), 0, typ)
    if "min_transfer_time" not in df.columns:
        df["min_transfer_time"] = ""
    mtt, bad = _parse_int_column(
        df, "min_transfer_time", file, chk, minimum=0, describe="eine ganze Zahl ≥ 0 (Sekunden) oder leer"
    )
    keep &= ~bad
    mtt = np.where(np.isnan(mtt), 0, mtt)
    key_cols = [
        c
        for c in ("from_stop_id", "to_stop_id", "from_trip_id", "to_trip_id", "from_route_id", "to_route_id")
        if c in df.columns
    ]
    keep &= _check_duplicates(df, key_cols, file, chk)
    specific = np.zeros(len(df), dtype=bool)
    for c in ("from_trip_id", "to_trip_id", "from_route_id", "to_route_id"):
        if c in df.columns:
            specific |= (df[c] != "").to_numpy()
    use = keep & ~specific & np.isin(typ, (2, 3))
    if (keep & specific).any():
        logger.info(
            "transfers.txt: %d fahrt- oder linienspezifische Regeln werden beim Routing nicht berücksichtigt",
            int((keep & specific).sum()),
        )
    # Expand stations to their child stops; stop-level rules override station-level ones.
    sidx = pd.Index(stops["stop_id"])
    children: dict[int, list[int]] = {}
    parent = stops["parent_station"].to_numpy()
    for i, p in enumerate(parent):
        if p:
            children.setdefault(int(sidx.get_loc(p)), []).append(i)
    from_i = sidx.get_indexer(df["from_stop_id"])
    to_i = sidx.get_indexer(df["to_stop_id"])
    loc = stops["location_type"].to_numpy()
    pair_rules: dict[tuple[int, int], tuple[int, float]] = {}
    for level in (1, 0):  # station rules first, then stop rules override
        for r in np.flatnonzero(use):
            f, to = int(from_i[r]), int(to_i[r])
            is_station = loc[f] == 1 or loc[to] == 1
            if (level == 1) != is_station:
                continue
            fs = children.get(f, [f]) if loc[f] == 1 else [f]
            ts = children.get(to, [to]) if loc[to] == 1 else [to]
            for a in fs:
                for b in ts:
                    pair_rules[(a, b)] = (int(typ[r]), float(mtt[r]))
    rows_f, rows_t, rows_ty, rows_m = [], [], [], []
    for (a, b), (ty, m) in pair_rules.items():
        if a == b:
            ct[a] = np.inf if ty == 3 else m
        else:
            rows_f.append(a)
            rows_t.append(b)
            rows_ty.append(ty)
            rows_m.append(m)
    if rows_f:
        pairs = pd.DataFrame(
            {
                "from_stop": np.asarray(rows_f, np.int32),
                "to_stop": np.asarray(rows_t, np.int32),
                "transfer_type": np.asarray(rows_ty, np.int8),
                "min_transfer_time": np.asarray(rows_m, np.float64),
            }
        )
    return df[keep].reset_index(drop=True), ct, pairs


def _expand_frequencies(
    trips: pd.DataFrame, st: dict[str, np.ndarray], freq: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Replace template trips of frequencies.txt by concrete trips (start every headway, start < end_time)."""
    n = len(trips)
    ptr = st["ptr"]
    start_time = np.full(n, -1, dtype=np.int64)
    nonempty = np.diff(ptr) > 0
    start_time[nonempty] = st["dep"][ptr[:-1][nonempty]]
    base = pd.DataFrame(
        {
            "trip_id": trips["trip_id"].to_numpy(),
            "route_id": trips["route_id"].to_numpy(),
            "service_id": trips["service_id"].to_numpy(),
            "gtfs_trip_id": trips["trip_id"].to_numpy(),
            "start_time": start_time.astype(np.int64),
        }
    )
    if len(freq) == 0:
        return base, st
    tpos = pd.Index(trips["trip_id"]).get_indexer(freq["trip_id"])
    templ = np.zeros(n, dtype=bool)
    templ[tpos] = True
    counts = -(-(freq["end_s"].to_numpy() - freq["start_s"].to_numpy()) // freq["headway_s"].to_numpy())
    rep_trip = np.repeat(tpos, counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    starts = np.repeat(freq["start_s"].to_numpy(), counts) + k * np.repeat(freq["headway_s"].to_numpy(), counts)
    regular = np.flatnonzero(~templ)
    new_trip_src = np.concatenate([regular, rep_trip])
    shift = np.concatenate([np.zeros(regular.size, np.int64), starts - start_time[rep_trip]])
    lens = np.diff(ptr)[new_trip_src]
    rows = np.repeat(ptr[new_trip_src], lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens))
    rshift = np.repeat(shift, lens)
    new_ptr = np.zeros(new_trip_src.size + 1, dtype=np.int64)
    np.cumsum(lens, out=new_ptr[1:])
    new_st = {
        "ptr": new_ptr,
        "stop": st["stop"][rows],
        "arr": (st["arr"][rows] + rshift).astype(np.int32),
        "dep": (st["dep"][rows] + rshift).astype(np.int32),
        "pickup": st["pickup"][rows],
        "dropoff": st["dropoff"][rows],
    }
    out = base.iloc[new_trip_src].reset_index(drop=True)
    out["start_time"] = np.concatenate([start_time[regular], starts]).astype(np.int64)
    is_freq = np.arange(out.shape[0]) >= regular.size
    out.loc[is_freq, "trip_id"] = [
        f"{tid}@{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
        for tid, s in zip(out.loc[is_freq, "gtfs_trip_id"], out.loc[is_freq, "start_time"], strict=True)
    ]
    return out, new_st


def load_gtfs(
    path: str | Path,
    *,
    strict: bool = True,
    cache: Cache | None = None,
    area: Polygon | MultiPolygon | None = None,
) -> Feed:
    """Read and validate a GTFS feed.

    Parameters
    ----------
    path
        A ``.zip`` archive (files at its root or in one sub-folder) or a directory.
    strict
        If True (default), the first violation of a GTFS ERROR rule raises
        :class:`~coverage.errors.GTFSError`. If False, violations are collected in
        :attr:`Feed.problems`, a warning with their number is logged and the
        offending rows are left out (for ``stop_times.txt``: the whole trip).
        A missing ``stops.txt``, ``trips.txt`` or ``stop_times.txt`` (or a
        missing required column there) or a feed without any calendar file
        raises in both modes.
    cache
        Optional disk cache. The parsed and validated feed is then kept there,
        keyed by the *content* of the file or folder, ``strict``, the source code
        of this module and the versions of the libraries that parse it; a changed
        feed or parser is read again. A feed that would not come back from the
        cache identical in every field is not stored; a damaged entry is deleted
        and the feed read again. With ``area``, the *clipped* feed is cached, keyed
        in addition by the area; a cache hit does not read the feed again.
    area
        Analysis area (shapely polygon or multipolygon in EPSG:25832, e.g. the
        county plus a buffer). The feed is then clipped while it is read (streamed
        with :mod:`pyarrow.csv`, so a Germany-wide feed fits in a few hundred MB):
        kept are the stops inside the area (plus the parent stations of kept
        stops), every trip serving at least one of them, cut to its stops in the
        area with the exact times of the full trip (missing times are interpolated
        over the whole trip before the cut), and the rows of the other files these
        trips and stops need. Only kept rows are validated (for kept trips: all
        their stop times), with the line numbers of the original files. The counts
        are in :attr:`Feed.clip`. Default None: the whole feed.

    Returns
    -------
    Feed

    Raises
    ------
    GTFSError
        With file name, file line number (header = line 1), column, value and
        what is allowed.

    Notes
    -----
    * ``calendar.txt`` and/or ``calendar_dates.txt`` (at least one).
    * Times beyond 24:00:00 belong to the service day on which the trip started.
    * ``frequencies.txt``: each entry becomes concrete trips starting at
      ``start_time, start_time + headway_secs, …`` while ``< end_time``, for
      ``exact_times`` 0 and 1 alike (for 0 this is an approximation of the
      unknown actual schedule).
    * ``transfers.txt``: only stop-level rules of type 2 (``min_transfer_time``)
      and 3 (forbidden) are used; trip- or route-specific rules are ignored.
    * Intermediate stop times without times are interpolated evenly.

    Examples
    --------
    >>> feed = load_gtfs("tests/data/cairns_gtfs_2014.zip")  # doctest: +SKIP
    >>> feed.date_range  # doctest: +SKIP
    (datetime.date(2014, 5, 26), datetime.date(2014, 12, 26))
    """
    path = Path(path)
    if area is not None:
        from coverage.transit._gtfsclip import check_area

        check_area(area)
    if cache is None:
        return _parse_gtfs(path, strict=strict, area=area)
    from coverage.transit._gtfscache import load_cached

    return load_cached(path, strict=strict, cache=cache, area=area)


def _parse_gtfs(path: Path, *, strict: bool, area: Any = None) -> Feed:
    """Read and validate the feed at ``path`` (see :func:`load_gtfs`)."""
    if area is not None:
        from coverage.transit._gtfsclip import parse_clipped

        return parse_clipped(path, strict=strict, area=area)
    chk = _Checker(strict=strict)
    src = _Source(path)
    try:
        frames = {
            name: _read_required(src, name, chk)
            for name in ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
        }
        _check_calendar_files(src, chk)
        for name in ("calendar.txt", "calendar_dates.txt", "frequencies.txt", "transfers.txt"):
            frames[name] = _read_optional(src, name, chk)
    finally:
        src.close()
    return _assemble(path, frames, chk)


def _check_calendar_files(src: _Source, chk: _Checker) -> None:
    """Report (fatal) a feed without ``calendar.txt`` and ``calendar_dates.txt``."""
    if not src.has("calendar.txt") and not src.has("calendar_dates.txt"):
        chk.report(
            "missing_calendar_and_calendar_date_files",
            "Pflichtdatei calendar.txt oder calendar_dates.txt fehlt; mindestens eine ist erforderlich",
            file="calendar.txt",
            fatal=True,
        )


def _assemble(
    path: Path,
    frames: dict[str, pd.DataFrame | None],
    chk: _Checker,
    *,
    outside_stop_ids: np.ndarray | None = None,
) -> Feed:
    """Validate the raw tables ``frames`` (file name -> strings and ``_row``) and build the feed.

    ``outside_stop_ids`` (clipped reading only, see :mod:`coverage.transit._gtfsclip`): ids of
    stops that exist in ``stops.txt`` but lie outside the analysis area. Stop times
    at them count as valid while the trips are checked and interpolated in full;
    afterwards they are dropped, and trips left without stop times are dropped too.
    """
    agency_df, stops_df, routes_df = frames["agency.txt"], frames["stops.txt"], frames["routes.txt"]
    trips_df, st_df = frames["trips.txt"], frames["stop_times.txt"]
    if stops_df is None or trips_df is None or st_df is None:  # pragma: no cover - reported as fatal above
        raise GTFSError("Pflichtdatei fehlt", file=str(path))

    agency = _load_agency(agency_df, chk)
    stops = _load_stops(stops_df, chk)
    routes = _load_routes(routes_df, agency, chk)
    cal, cdates, rules, exceptions = _load_calendar(frames["calendar.txt"], frames["calendar_dates.txt"], chk)
    services = set(cal["service_id"]) | set(cdates["service_id"])
    if routes_df is None:
        routes = pd.DataFrame({"route_id": sorted(set(trips_df["route_id"])), "route_type": ""})
    trips = _load_trips(trips_df, routes, services, chk)
    st_stops = stops
    if outside_stop_ids is not None:
        st_stops = pd.DataFrame({"stop_id": np.concatenate([stops["stop_id"].to_numpy(object), outside_stop_ids])})
    st = _load_stop_times(st_df, trips, st_stops, chk)
    if st["bad_trip"].any():
        keep_trips = ~st["bad_trip"]
        old_ptr = st["ptr"]
        trips = trips[keep_trips].reset_index(drop=True)
        st["ptr"] = np.concatenate([[0], np.cumsum(np.diff(old_ptr)[keep_trips])]).astype(np.int64)
    freq = _load_frequencies(frames["frequencies.txt"], trips, trips_df["trip_id"], chk)
    transfers, ct, pairs = _load_transfers(frames["transfers.txt"], stops, chk)
    trips_out, st = _expand_frequencies(trips, st, freq)
    if outside_stop_ids is not None:
        from coverage.transit._gtfsclip import cut_to_stops

        trips_out, st = cut_to_stops(trips_out, st, len(stops))

    service_ids, trip_service = np.unique(trips_out["service_id"].to_numpy(dtype=object), return_inverse=True)
    if chk.problems:
        logger.warning("GTFS-Feed %s: %d Regelverstöße gefunden (siehe Feed.problems)", path, len(chk.problems))
    feed = Feed(
        path=str(path),
        agency=agency,
        stops=stops,
        routes=routes,
        trips=trips_out,
        calendar=cal,
        calendar_dates=cdates,
        frequencies=freq,
        transfers=transfers,
        min_transfer_time=ct,
        transfer_pairs=pairs,
        problems=chk.problems,
        st_ptr=st["ptr"],
        st_stop=st["stop"],
        st_arr=st["arr"],
        st_dep=st["dep"],
        st_pickup=st["pickup"],
        st_dropoff=st["dropoff"],
        service_ids=service_ids.astype(object),
        trip_service=trip_service.astype(np.int32),
        _stop_index={s: i for i, s in enumerate(stops["stop_id"].tolist())},
        _calendar_rules=rules,
        _exceptions=exceptions,
    )
    logger.info(
        "GTFS-Feed %s geladen: %d Haltestellen, %d Fahrten, %d Fahrtabschnitte",
        path,
        len(stops),
        len(trips_out),
        int(st["stop"].shape[0]),
    )
    return feed
