"""Clip a GTFS feed to an analysis area while reading it (``load_gtfs(..., area=...)``).

A Germany-wide feed (30–40 million stop times) does not fit into memory as Python
strings or one DataFrame. Here every file is streamed with :func:`pyarrow.csv.open_csv`
in blocks, and only the rows the analysis area needs are kept:

1. ``stops.txt`` (read in full, ~500,000 rows): stops inside the area, plus the
   parent stations of kept stops (transitively).
2. ``stop_times.txt``: the trips serving at least one kept stop, with *all* their
   rows, so that validation and interpolation of missing times see the whole trip.
   One pass (``trip_id`` and ``stop_id`` dictionary-encoded, see :class:`_OnePass`)
   when every trip's rows are contiguous, as in published feeds (checked while
   reading); otherwise a second pass reads the rows of the trips found.
3. ``trips.txt``: the rows of these trips.
4. ``routes``, ``agency``, ``calendar``, ``calendar_dates``, ``frequencies``,
   ``transfers``: the rows the kept trips and stops refer to.

Zip members are inflated in a background thread (:class:`_Prefetch`) while pyarrow
parses, and a progress bar shows the bytes read (on a terminal only).

The kept rows carry their data row number in the original file (``_row``, header =
line 1) and go through the same validation as a full read
(:func:`coverage.transit._gtfstables._assemble`). Stop times at stops outside the area count as
valid while the trips are checked, interpolated and expanded (``frequencies.txt``);
then they are dropped (:func:`~coverage.transit._gtfstables.cut_to_stops`), so every kept trip keeps its stops in
the area in ``stop_sequence`` order with exactly the times of the full trip.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from coverage import ANALYSIS_CRS
from coverage._progress import ProgressReader, byte_bar
from coverage.errors import GTFSError
from coverage.transit._gtfsfiles import _check_calendar_files, _Source, utf8_text
from coverage.transit._gtfstables import _assemble
from coverage.transit._gtfsvalidate import _FATAL_FILES, _REQUIRED_COLUMNS, _check_columns, _Checker, _date_value
from coverage.transit.feed import ClipSummary, Feed

__all__ = ["check_area", "parse_clipped"]

logger = logging.getLogger(__name__)

_BLOCK = 1 << 22
"""Bytes per CSV block (about 70,000 stop_times rows); larger blocks are not faster but need more memory."""

_STOP_COLUMNS = ("stop_id", "stop_name", "stop_lat", "stop_lon", "location_type", "parent_station")
_STOP_TIME_COLUMNS = (*_REQUIRED_COLUMNS["stop_times.txt"], "pickup_type", "drop_off_type")

Batches = Iterator[tuple[int, pa.RecordBatch]]


def check_area(area: object) -> None:
    """Raise TypeError/ValueError unless ``area`` is a non-empty shapely (Multi)Polygon."""
    from shapely.geometry import MultiPolygon, Polygon

    if not isinstance(area, Polygon | MultiPolygon):
        raise TypeError(
            f"area muss ein shapely Polygon oder MultiPolygon in {ANALYSIS_CRS} sein, nicht {type(area).__name__}"
        )
    if area.is_empty:
        raise ValueError("Das Analysegebiet (area) ist leer.")


# --------------------------------------------------------------------------- streaming


def _header(src: _Source, name: str) -> list[str] | None:
    """Cleaned column names of ``name``, or None for an empty file."""
    with src.open(name) as fh:
        line = fh.readline()
    text = utf8_text(line, name)
    if not text.strip():
        return None
    names = next(csv.reader([text.rstrip("\r\n")]))
    return [str(c).strip().lstrip("\ufeff") for c in names]


def _batches(
    src: _Source,
    name: str,
    header: list[str],
    columns: list[str] | None,
    *,
    desc: str,
    dictionary: tuple[str, ...] = (),
) -> Batches:
    """Stream ``name`` in blocks: ``(index of the block's first data row, batch)``, values untrimmed.

    Columns in ``dictionary`` come dictionary-encoded (``int32`` codes into the distinct
    values of the block): cheap to compare and look up row by row.
    """
    include = list(header) if columns is None else [c for c in columns if c in header]
    block = max(_BLOCK, 4 * len(",".join(header)) + 64)  # the skipped header must fit into the first block
    read = pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=block)
    parse = pacsv.ParseOptions(newlines_in_values=name == "stops.txt")
    convert = pacsv.ConvertOptions(
        include_columns=include,
        column_types={c: pa.dictionary(pa.int32(), pa.string()) if c in dictionary else pa.string() for c in include},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    start = 0
    with (
        byte_bar(total=src.size(name), desc=desc) as progress,
        _Prefetch(ProgressReader(src.open(name), progress)) as raw,
    ):
        try:
            reader = pacsv.open_csv(raw, read, parse, convert)
            try:
                for batch in reader:
                    yield start, batch
                    start += batch.num_rows
            finally:
                reader.close()  # stops its read-ahead before the stream closes
        except pa.ArrowInvalid as exc:
            text = str(exc)
            if "UTF8" in text or "UTF-8" in text:
                raise GTFSError("Die Datei ist nicht UTF-8-kodiert; GTFS verlangt UTF-8.", file=name) from exc
            raise GTFSError(f"Die Datei ist kein gültiges CSV: {text}", file=name) from exc


def _trim(batch: pa.RecordBatch, names: Iterable[str] | None = None) -> pa.RecordBatch:
    """``batch`` with surrounding whitespace removed from the columns ``names`` (None: all), as a full read does."""
    todo = set(batch.schema.names if names is None else names)
    cols = [
        pc.utf8_trim_whitespace(batch.column(i)) if n in todo else batch.column(i)
        for i, n in enumerate(batch.schema.names)
    ]
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


class _Prefetch(io.RawIOBase):
    """Reads ``raw`` (e.g. a zip member: inflating) in a background thread, ahead of the CSV parser.

    Inflating and parsing then overlap on two cores instead of taking turns (zlib and
    pyarrow both release the GIL while they work). At most ``depth`` chunks wait.
    """

    def __init__(self, raw: IO[bytes], *, chunk: int = 1 << 22, depth: int = 2) -> None:
        super().__init__()
        self._raw = raw
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._buf = memoryview(b"")
        self._eof = False
        self._thread = threading.Thread(target=self._fill, args=(chunk,), daemon=True, name="gtfs-prefetch")
        self._thread.start()

    def _fill(self, chunk: int) -> None:
        item: bytes | BaseException | None
        try:
            while not self._stop.is_set():
                data = self._raw.read(chunk)
                if not data:
                    break
                self._put(data)
            item = None
        except BaseException as exc:  # handed to the reading thread
            item = exc
        self._put(item)

    def _put(self, item: bytes | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        want = size if size is not None and size >= 0 else None
        while want is None or want > 0:
            if not self._buf:
                if self._eof:
                    break
                item = self._queue.get()
                if item is None:
                    self._eof = True
                    break
                if isinstance(item, BaseException):
                    self._eof = True
                    raise item
                self._buf = memoryview(item)
            n = len(self._buf) if want is None else min(want, len(self._buf))
            parts.append(bytes(self._buf[:n]))
            self._buf = self._buf[n:]
            if want is not None:
                want -= n
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stop.set()
            self._thread.join()
            self._raw.close()
            # a parser thread still waiting in read() gets the end of the stream
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queue.put_nowait(None)
        super().close()


def _frame(parts: list[pa.RecordBatch], rows: list[np.ndarray], names: list[str]) -> pd.DataFrame:
    """Kept rows as a string DataFrame with ``_row`` (file line number), as :meth:`_Source.read` gives."""
    schema = pa.schema([(n, pa.string()) for n in names])
    table = pa.Table.from_batches(parts, schema=schema)
    df = pd.DataFrame({n: table.column(n).to_pandas().astype(str) for n in names})
    if not names:
        df = pd.DataFrame(index=pd.RangeIndex(sum(len(r) for r in rows)))
    df["_row"] = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return df


class _Reader:
    """Reads the files of one feed, filtered, with the checks of :func:`coverage.transit._gtfsfiles._read_required`."""

    def __init__(self, src: _Source, chk: _Checker) -> None:
        self.src = src
        self.chk = chk

    def header(self, name: str, *, required: bool) -> list[str] | None:
        """Column names of ``name`` if present and complete; problems reported like a full read."""
        fatal = name in _FATAL_FILES
        if not self.src.has(name):
            if required:
                self.chk.report(
                    "missing_required_file", f"Pflichtdatei {name} fehlt im GTFS-Feed", file=name, fatal=fatal
                )
            return None
        names = _header(self.src, name)
        if names is None:
            if required:
                self.chk.report(
                    "empty_file", "Die Datei ist leer; erwartet wird mindestens die Kopfzeile", file=name, fatal=fatal
                )
            return None
        if not _check_columns(pd.DataFrame(columns=[*names, "_row"]), name, self.chk):
            return None
        return names

    def read(
        self,
        name: str,
        *,
        required: bool,
        columns: list[str] | None = None,
        keep: Callable[[pa.RecordBatch], pa.Array | None] | None = None,
        keys: tuple[str, ...] | None = None,
        observe: Callable[[pa.RecordBatch], None] | None = None,
    ) -> tuple[pd.DataFrame | None, int]:
        """Rows of ``name`` for which ``keep(batch)`` is true (None: all), and the number of rows read.

        ``keep`` and ``observe`` see the columns ``keys`` trimmed (None: all); the other
        columns are trimmed only in the kept rows.
        """
        header = self.header(name, required=required)
        if header is None:
            return None, 0
        names = list(header) if columns is None else [c for c in columns if c in header]
        parts: list[pa.RecordBatch] = []
        rows: list[np.ndarray] = []
        n = 0
        for start, raw in _batches(self.src, name, header, columns, desc=f"Fahrplan lesen: {name}"):
            n += raw.num_rows
            batch = _trim(raw, keys)
            rest = None if keys is None else [c for c in batch.schema.names if c not in keys]
            if observe is not None:
                observe(batch)
            mask = keep(batch) if keep is not None else None
            if mask is None:
                parts.append(_trim(batch, rest) if rest else batch)
                rows.append(np.arange(start + 2, start + 2 + batch.num_rows, dtype=np.int64))
                continue
            sel = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
            if sel.size:
                kept = batch.take(pa.array(sel))
                parts.append(_trim(kept, rest) if rest else kept)
                rows.append(sel.astype(np.int64) + (start + 2))
        return _frame(parts, rows, names), n


def _in(column: str, values: pa.Array) -> Callable[[pa.RecordBatch], pa.Array]:
    """Row filter: ``column`` is one of ``values``."""
    options = pc.SetLookupOptions(value_set=values)

    def keep(batch: pa.RecordBatch) -> pa.Array:
        return pc.is_in(batch.column(column), options=options)

    return keep


def _strings(values: Any) -> pa.Array:
    return pa.array(pd.unique(np.asarray(values, dtype=object)).tolist() if len(values) else [], type=pa.string())


# --------------------------------------------------------------------------- stops


def _stops_in_area(df: pd.DataFrame, area: Any) -> np.ndarray:
    """Mask of stops inside ``area`` (EPSG:25832), plus the parent stations of kept stops."""
    import shapely
    from pyproj import Transformer

    lat = pd.to_numeric(df["stop_lat"], errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(df["stop_lon"], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    inside = np.zeros(len(df), dtype=bool)
    if ok.any():
        tr = Transformer.from_crs("EPSG:4326", ANALYSIS_CRS, always_xy=True)
        x, y = tr.transform(lon[ok], lat[ok])
        geom = shapely.from_wkb(area.wkb)  # prepared copy; the caller's geometry stays as it is
        shapely.prepare(geom)
        inside[ok] = shapely.intersects_xy(geom, x, y)
    ids = pd.Index(df["stop_id"])
    parents = df["parent_station"].to_numpy(dtype=object)
    keep = inside
    while True:  # parents of parents (boarding area -> platform -> station)
        need = pd.unique(parents[keep])
        add = ~keep & np.asarray(ids.isin([p for p in need if p]))
        if not add.any():
            return keep
        keep = keep | add


# --------------------------------------------------------------------------- dates


class _DateRange:
    """Smallest and largest service date seen in calendar files (valid dates only)."""

    def __init__(self) -> None:
        self.lo: dt.date | None = None
        self.hi: dt.date | None = None

    def add(self, values: pa.Array) -> None:
        values = pc.filter(values, pc.match_substring_regex(values, r"^\d{8}$"))
        if len(values) == 0:
            return
        for v in (pc.min(values).as_py(), pc.max(values).as_py()):
            try:
                d = dt.date.fromordinal(int(_date_value(v)))
            except ValueError:
                continue
            self.lo = d if self.lo is None else min(self.lo, d)
            self.hi = d if self.hi is None else max(self.hi, d)

    def calendar(self, batch: pa.RecordBatch) -> None:
        for col in ("start_date", "end_date"):
            if col in batch.schema.names:
                self.add(batch.column(col))

    def calendar_dates(self, batch: pa.RecordBatch) -> None:
        if "date" in batch.schema.names and "exception_type" in batch.schema.names:
            self.add(pc.filter(batch.column("date"), pc.equal(batch.column("exception_type"), "1")))


# --------------------------------------------------------------------------- clipping


def parse_clipped(path: Path, *, strict: bool, area: Any) -> Feed:
    """Read the feed at ``path`` clipped to ``area`` (see :func:`coverage.transit.gtfs.load_gtfs`)."""
    chk = _Checker(strict=strict)
    src = _Source(path)
    rd = _Reader(src, chk)
    frames: dict[str, pd.DataFrame | None] = {}
    dates = _DateRange()
    try:
        frames["agency.txt"], _ = rd.read("agency.txt", required=True)
        all_stops, n_stops = rd.read("stops.txt", required=True, columns=list(_STOP_COLUMNS))
        rd.header("trips.txt", required=True)
        if all_stops is None:  # pragma: no cover - reported as fatal above
            raise GTFSError("Pflichtdatei fehlt", file="stops.txt")
        for col in ("stop_lat", "stop_lon", "parent_station"):
            if col not in all_stops.columns:
                all_stops[col] = ""
        in_area = _stops_in_area(all_stops, area)
        clip_ids = pd.Index(all_stops["stop_id"].to_numpy(dtype=object)[in_area])
        frames["stops.txt"] = all_stops[in_area].reset_index(drop=True)

        st_header = rd.header("stop_times.txt", required=True)
        kept_trips, st_df, n_st = _stop_times_one_pass(src, st_header or [], _strings(clip_ids))
        trips_df, n_trips = rd.read(
            "trips.txt",
            required=True,
            columns=list(_REQUIRED_COLUMNS["trips.txt"]),
            keep=_in("trip_id", kept_trips),
            keys=("trip_id",),
        )
        frames["trips.txt"] = trips_df
        if st_df is None:  # trips not contiguous: second pass
            st_df, _ = rd.read(
                "stop_times.txt",
                required=True,
                columns=list(_STOP_TIME_COLUMNS),
                keep=_in("trip_id", kept_trips),
                keys=("trip_id",),
            )
        frames["stop_times.txt"] = st_df
        if trips_df is None or st_df is None:  # pragma: no cover - reported as fatal above
            raise GTFSError("Pflichtdatei fehlt", file=str(path))
        outside = _outside_stops(st_df, all_stops, clip_ids)
        del all_stops

        route_ids = _strings(trips_df["route_id"])
        routes_df, _ = rd.read("routes.txt", required=True, keep=_in("route_id", route_ids))
        frames["routes.txt"] = routes_df
        frames["agency.txt"] = _needed_agencies(frames["agency.txt"], routes_df)
        _check_calendar_files(src, chk)
        service_ids = _strings(trips_df["service_id"])
        frames["calendar.txt"], _ = rd.read(
            "calendar.txt", required=False, keep=_in("service_id", service_ids), observe=dates.calendar
        )
        frames["calendar_dates.txt"], _ = rd.read(
            "calendar_dates.txt",
            required=False,
            keep=_in("service_id", service_ids),
            keys=("service_id", "date", "exception_type"),
            observe=dates.calendar_dates,
        )
        frames["frequencies.txt"], _ = rd.read("frequencies.txt", required=False, keep=_in("trip_id", kept_trips))
        stop_set = _strings(clip_ids)
        frames["transfers.txt"], _ = rd.read(
            "transfers.txt",
            required=False,
            keep=lambda b: pc.and_(
                pc.is_in(b.column("from_stop_id"), value_set=stop_set),
                pc.is_in(b.column("to_stop_id"), value_set=stop_set),
            ),
        )
    finally:
        src.close()
    feed = _assemble(path, frames, chk, outside_stop_ids=outside)
    feed.clip = _summary(feed, n_stops, n_trips, n_st, dates)
    c = feed.clip
    logger.info(
        "GTFS-Feed %s: %s Haltestellen gelesen, %s im Analysegebiet; %s Fahrten gelesen, %s behalten; "
        "%s Fahrtabschnitte gelesen, %s behalten; %s Verkehrstage-Regeln (service_id) behalten",
        path,
        _n(c.stops_read),
        _n(c.stops_kept),
        _n(c.trips_read),
        _n(c.trips_kept),
        _n(c.stop_times_read),
        _n(c.stop_times_kept),
        _n(c.services_kept),
    )
    if c.trips_kept == 0:
        logger.warning(
            "GTFS-Feed %s: im Analysegebiet bleibt keine gültige Fahrt (liegt das Gebiet, in %s, im Bereich "
            "des Feeds?)",
            path,
            ANALYSIS_CRS,
        )
    return feed


def _outside_stops(st_df: pd.DataFrame, all_stops: pd.DataFrame, clip_ids: pd.Index) -> np.ndarray:
    """Ids of stops that kept trips serve, that exist in ``stops.txt`` and lie outside the area."""
    referenced = pc.unique(pa.array(st_df["stop_id"].to_numpy(dtype=object), pa.string()))
    known = pc.is_in(referenced, value_set=pa.array(all_stops["stop_id"].to_numpy(dtype=object), pa.string()))
    inside = pc.is_in(referenced, value_set=_strings(clip_ids))
    return np.asarray(pc.filter(referenced, pc.and_(known, pc.invert(inside))).to_pylist(), dtype=object)


class _OnePass:
    """One pass over ``stop_times.txt`` that keeps all rows of the trips serving kept stops.

    Exact when every trip's rows are contiguous in the file (as in practically every
    published feed, which lists stop times trip by trip): a trip found to touch the
    area in some block keeps its rows of that block and of later blocks, and its
    earlier rows are the trailing run of the previous block(s), held back until the
    next block shows whether the trip continues. Whether the trips *were* contiguous
    is known at the end: the number of runs of equal ``trip_id`` equals the number of
    distinct trip ids. Otherwise :attr:`exact` is False and the caller reads the rows
    of :attr:`trips` in a second pass.
    """

    def __init__(self, stop_ids: pa.Array) -> None:
        self.options = pc.SetLookupOptions(value_set=stop_ids)
        self.touching = pa.array([], pa.string())
        self.parts: list[pa.RecordBatch] = []
        self.rows: list[np.ndarray] = []
        self.pending: list[tuple[pa.RecordBatch, np.ndarray]] = []
        self.pending_trip: str | None = None
        self.last_trip: str | None = None
        self.runs = 0
        self.distinct: list[pa.Array] = []
        self.n = 0

    def add(self, start: int, raw: pa.RecordBatch) -> None:
        """Process one block (rows ``start ..`` of the file; ``trip_id``, ``stop_id`` dictionary-encoded)."""
        m = raw.num_rows
        self.n += m
        if m == 0:
            return
        trip, stop = _dictionary(raw, "trip_id"), _dictionary(raw, "stop_id")
        t_code = trip.indices.to_numpy(zero_copy_only=False)
        s_code = stop.indices.to_numpy(zero_copy_only=False)
        stop_hit = pc.is_in(pc.utf8_trim_whitespace(stop.dictionary), options=self.options)
        row_hit = stop_hit.to_numpy(zero_copy_only=False)[s_code]
        # runs of equal trip_id (one per trip when trips are contiguous)
        starts = np.concatenate([[0], np.flatnonzero(t_code[1:] != t_code[:-1]) + 1])
        lens = np.diff(np.append(starts, m))
        run_ids = pc.utf8_trim_whitespace(trip.dictionary.take(pa.array(t_code[starts])))
        run_hit = np.logical_or.reduceat(row_hit, starts)
        if run_hit.any():
            hits = pc.filter(run_ids, pa.array(run_hit))
            self.touching = pc.unique(pa.concat_arrays([self.touching, hits]))
        first, last = run_ids[0].as_py(), run_ids[len(run_ids) - 1].as_py()
        self.runs += starts.size - (1 if first == self.last_trip else 0)
        self.distinct.append(run_ids)
        keep = np.repeat(pc.is_in(run_ids, value_set=self.touching).to_numpy(zero_copy_only=False), lens)
        # rows of the trip that ran on from the previous block(s)
        if self.pending and first == self.pending_trip and run_hit[0]:
            for part, rows in self.pending:
                self._keep(part, rows)
        if first != self.pending_trip or run_hit[0]:
            self.pending, self.pending_trip = [], None
        sel = np.flatnonzero(keep)
        if sel.size:
            self._keep(raw.take(pa.array(sel)), sel + (start + 2))
        # the trailing run: held back unless its trip is already known to touch the area
        tail = int(starts[-1])
        if keep[-1]:  # kept already
            self.pending, self.pending_trip = [], None
        else:
            part = raw.slice(tail)
            rows = np.arange(start + 2 + tail, start + 2 + m, dtype=np.int64)
            if tail == 0 and self.pending_trip == last:
                self.pending.append((part, rows))
            else:
                self.pending, self.pending_trip = [(part, rows)], last
        self.last_trip = last

    def _keep(self, part: pa.RecordBatch, rows: np.ndarray) -> None:
        cols = [
            pc.cast(c, pa.string()) if pa.types.is_dictionary(c.type) else c
            for c in (part.column(i) for i in range(part.num_columns))
        ]
        self.parts.append(_trim(pa.RecordBatch.from_arrays(cols, names=part.schema.names)))
        self.rows.append(rows.astype(np.int64))

    @property
    def trips(self) -> pa.Array:
        """Distinct trip ids with a row at a kept stop."""
        return self.touching

    @property
    def exact(self) -> bool:
        """True when every trip's rows were contiguous (then the kept rows are complete)."""
        if not self.distinct:
            return True
        return self.runs == len(pc.unique(pa.concat_arrays(self.distinct)))


def _dictionary(batch: pa.RecordBatch, name: str) -> pa.DictionaryArray:
    col = batch.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _stop_times_one_pass(
    src: _Source, header: list[str], stop_ids: pa.Array
) -> tuple[pa.Array, pd.DataFrame | None, int]:
    """Trips at ``stop_ids``, all their stop times (None if the file needs a second pass), rows read."""
    one = _OnePass(stop_ids)
    desc = "Fahrplan lesen: stop_times.txt"
    batches = _batches(
        src, "stop_times.txt", header, list(_STOP_TIME_COLUMNS), desc=desc, dictionary=("trip_id", "stop_id")
    )
    for start, raw in batches:
        one.add(start, raw)
    names = [c for c in _STOP_TIME_COLUMNS if c in header]
    if not one.exact:
        logger.info("stop_times.txt ist nicht nach Fahrten geordnet; ein zweiter Durchgang liest die Fahrten")
        return one.trips, None, one.n
    return one.trips, _frame(one.parts, one.rows, names), one.n


def _needed_agencies(agency: pd.DataFrame | None, routes: pd.DataFrame | None) -> pd.DataFrame | None:
    """Agencies of the kept routes (all agencies when a kept route names none)."""
    if agency is None or routes is None or "agency_id" not in agency.columns or "agency_id" not in routes.columns:
        return agency
    wanted = set(routes["agency_id"])
    if "" in wanted:
        return agency
    return agency[agency["agency_id"].isin(wanted).to_numpy()].reset_index(drop=True)


def _summary(feed: Feed, n_stops: int, n_trips: int, n_st: int, dates: _DateRange) -> ClipSummary:
    gtfs_ids = feed.trips["gtfs_trip_id"]
    first = ~gtfs_ids.duplicated().to_numpy()
    lens = np.diff(feed.st_ptr)
    return ClipSummary(
        stops_read=int(n_stops),
        stops_kept=len(feed.stops),
        trips_read=int(n_trips),
        trips_kept=int(first.sum()),
        stop_times_read=int(n_st),
        stop_times_kept=int(lens[first].sum()),
        services_kept=int(feed.service_ids.shape[0]),
        feed_start=dates.lo,
        feed_end=dates.hi,
    )


def _n(value: int) -> str:
    """German thousands separators: 512345 -> '512.345'."""
    return f"{value:,}".replace(",", ".")
