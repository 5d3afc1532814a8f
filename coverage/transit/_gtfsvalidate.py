"""The GTFS rules a feed is checked against and the collection of their violations.

Required files, columns and values, the value formats (time, date, integer, number),
duplicate keys and foreign keys, checked vectorised (distinct values parsed once).
:class:`_Checker` raises a :class:`~coverage.errors.GTFSError` (strict) or collects
the violations as problems (lenient); row numbers are file line numbers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from coverage.errors import GTFSError
from coverage.transit.feed import _WEEKDAY_COLUMNS

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
