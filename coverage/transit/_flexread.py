"""Reading and validating the files of a GTFS-Flex v2 feed (private helper of :mod:`coverage.transit.flex`).

Every rule violation raises :class:`~coverage.errors.GTFSError` naming the file,
the row (file line number: header = line 1, first data row = line 2, as in
:mod:`coverage.transit.gtfs`), the column, the bad value and what is allowed.
Flex feeds are small (a few thousand rows), so rows are checked one by one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coverage.errors import GTFSError
from coverage.transit._gtfsfiles import _Source, utf8_text

__all__ = [
    "FlexFiles",
    "Row",
    "parse_booking_rules",
    "parse_calendar",
    "parse_locations",
    "parse_stops",
    "parse_time",
    "service_dates",
]

_TIME_RE = re.compile(r"^(\d{1,3}):([0-5]\d):([0-5]\d)$")
_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

TIME_ALLOWED = "erlaubt ist eine Uhrzeit H:MM:SS oder HH:MM:SS (Stunden dürfen 24 überschreiten)"
DATE_ALLOWED = "erlaubt ist ein Datum JJJJMMTT, z. B. 20240115"


@dataclass(frozen=True)
class Row:
    """One CSV row: its file line number and the stripped values by column."""

    line: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        """Value of ``column`` (``""`` when the column or the value is absent)."""
        return self.values.get(column, "") or ""


class FlexFiles(_Source):
    """The files of a flex feed in a ``.zip`` archive or a directory.

    Parameters
    ----------
    path
        Zip file or directory. A zip whose files sit in one enclosing folder is
        read from that folder.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, marker="trips.txt", what="GTFS-Flex-Feed")

    def __enter__(self) -> FlexFiles:
        return self

    def text(self, name: str) -> str:
        """Content of ``name`` decoded as UTF-8 (a BOM is dropped)."""
        return utf8_text(self.raw(name), name)

    def rows(self, name: str, *, required: tuple[str, ...] = ()) -> list[Row]:
        """Rows of CSV file ``name``; the columns in ``required`` must exist.

        Returns an empty list for an absent file.
        """
        if not self.has(name):
            return []
        text = self.text(name)
        reader = csv.reader(io.StringIO(text))
        try:
            header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
            body = list(reader)
        except csv.Error as exc:
            raise GTFSError(f"Die Datei ist kein gültiges CSV: {exc}", file=name) from exc
        for col in required:
            if col not in header:
                raise GTFSError(
                    f"Die Pflichtspalte '{col}' fehlt; vorhanden sind: {', '.join(header) or '(keine)'}.", file=name
                )
        out = []
        for i, rec in enumerate(body):
            if not any(v.strip() for v in rec):
                continue
            if len(rec) > len(header):
                raise GTFSError(
                    f"Die Zeile hat {len(rec)} Felder, die Kopfzeile nur {len(header)}.", file=name, row=i + 2
                )
            out.append(Row(i + 2, {h: v.strip() for h, v in zip(header, rec, strict=False)}))
        return out


# ---------------------------------------------------------------------------
# value parsers
# ---------------------------------------------------------------------------


def _bad(file: str, row: Row, column: str, allowed: str, *, what: str = "ungültiger Wert") -> GTFSError:
    return GTFSError(f"{what}; {allowed}.", file=file, row=row.line, column=column, value=row.get(column))


def require(file: str, row: Row, column: str) -> str:
    """The non-empty value of ``column`` in ``row``; an error naming file/row/column otherwise."""
    v = row.get(column)
    if not v:
        raise GTFSError("Pflichtwert fehlt; erlaubt ist ein nicht leerer Wert.", file=file, row=row.line, column=column)
    return v


def parse_time(file: str, row: Row, column: str) -> int | None:
    """GTFS time ``H:MM:SS`` (hours may exceed 24) in seconds; None for an empty value."""
    v = row.get(column)
    if not v:
        return None
    m = _TIME_RE.match(v)
    if m is None:
        raise _bad(file, row, column, TIME_ALLOWED, what="ungültige Uhrzeit")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def parse_int(
    file: str, row: Row, column: str, *, allowed: tuple[int, ...] | None = None, minimum: int | None = None
) -> int | None:
    """Integer value (None for empty), checked against ``allowed`` values or ``minimum``."""
    v = row.get(column)
    if not v:
        return None
    if _INT_RE.match(v) is None:
        desc = "erlaubt ist " + (" oder ".join(map(str, allowed)) if allowed else "eine ganze Zahl")
        raise _bad(file, row, column, desc, what="keine ganze Zahl")
    n = int(v)
    if allowed is not None and n not in allowed:
        raise _bad(file, row, column, "erlaubt ist " + ", ".join(map(str, allowed)), what="unzulässiger Wert")
    if minimum is not None and n < minimum:
        raise _bad(file, row, column, f"erlaubt ist eine ganze Zahl ≥ {minimum}", what="Wert zu klein")
    return n


def parse_float(file: str, row: Row, column: str, *, minimum: float, maximum: float) -> float | None:
    """Finite number within ``[minimum, maximum]`` (None for empty)."""
    v = row.get(column)
    if not v:
        return None
    try:
        x = float(v)
    except ValueError:
        x = float("nan")
    if not (minimum <= x <= maximum):
        raise _bad(file, row, column, f"erlaubt ist eine Zahl zwischen {minimum:g} und {maximum:g}")
    return x


def parse_date(file: str, row: Row, column: str) -> dt.date:
    """Required date ``YYYYMMDD``."""
    v = require(file, row, column)
    m = _DATE_RE.match(v)
    try:
        if m is None:
            raise ValueError(v)
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise _bad(file, row, column, DATE_ALLOWED, what="ungültiges Datum") from None


def check_unique(file: str, rows: list[Row], column: str) -> None:
    """Raise for the first repeated value of ``column``."""
    seen: dict[str, int] = {}
    for r in rows:
        v = r.get(column)
        if v in seen:
            raise GTFSError(
                f"doppelter Schlüssel (schon in Zeile {seen[v]}); erlaubt ist jeder Wert nur einmal.",
                file=file,
                row=r.line,
                column=column,
                value=v,
            )
        seen[v] = r.line


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------


def parse_stops(files: FlexFiles) -> dict[str, tuple[float, float]]:
    """``stops.txt``: stop id -> (lon, lat); stops without coordinates get NaN."""
    file = "stops.txt"
    rows = files.rows(file, required=("stop_id",))
    check_unique(file, rows, "stop_id")
    out: dict[str, tuple[float, float]] = {}
    for r in rows:
        sid = require(file, r, "stop_id")
        lat = parse_float(file, r, "stop_lat", minimum=-90.0, maximum=90.0)
        lon = parse_float(file, r, "stop_lon", minimum=-180.0, maximum=180.0)
        out[sid] = (float("nan") if lon is None else lon, float("nan") if lat is None else lat)
    return out


def parse_booking_rules(files: FlexFiles) -> dict[str, dict[str, Any]]:
    """``booking_rules.txt``: rule id -> fields (``booking_type``, minutes, message, phone, …).

    ``booking_type`` 0 = real time, 1 = same day with ``prior_notice_duration_min``
    (required), 2 = up to ``prior_notice_last_day`` days before at
    ``prior_notice_last_time`` (both required).
    """
    file = "booking_rules.txt"
    rows = files.rows(file, required=("booking_rule_id", "booking_type"))
    check_unique(file, rows, "booking_rule_id")
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        rid = require(file, r, "booking_rule_id")
        require(file, r, "booking_type")
        btype = parse_int(file, r, "booking_type", allowed=(0, 1, 2))
        dur = parse_int(file, r, "prior_notice_duration_min", minimum=0)
        last_day = parse_int(file, r, "prior_notice_last_day", minimum=0)
        last_time = parse_time(file, r, "prior_notice_last_time")
        if btype == 1 and dur is None:
            raise GTFSError(
                "Pflichtwert fehlt: bei booking_type 1 (Anmeldung am selben Tag) ist prior_notice_duration_min "
                "erforderlich; erlaubt ist eine ganze Zahl ≥ 0 (Minuten).",
                file=file,
                row=r.line,
                column="prior_notice_duration_min",
            )
        if btype == 2 and (last_day is None or last_time is None):
            col = "prior_notice_last_day" if last_day is None else "prior_notice_last_time"
            raise GTFSError(
                "Pflichtwert fehlt: bei booking_type 2 (Anmeldung an einem Vortag) sind prior_notice_last_day und "
                "prior_notice_last_time erforderlich.",
                file=file,
                row=r.line,
                column=col,
            )
        out[rid] = {
            "booking_type": int(btype or 0),
            "prior_notice_duration_min": dur,
            "prior_notice_last_day": last_day,
            "prior_notice_last_time": last_time,
            "message": r.get("message"),
            "phone_number": r.get("phone_number"),
            "info_url": r.get("info_url"),
            "booking_url": r.get("booking_url"),
        }
    return out


def parse_calendar(files: FlexFiles) -> tuple[dict[str, tuple[tuple[bool, ...], dt.date, dt.date]], list[Any]]:
    """``calendar.txt`` rules and ``calendar_dates.txt`` exceptions ``(service_id, date, type)``."""
    rules: dict[str, tuple[tuple[bool, ...], dt.date, dt.date]] = {}
    file = "calendar.txt"
    rows = files.rows(file, required=("service_id", *_WEEKDAYS, "start_date", "end_date"))
    check_unique(file, rows, "service_id")
    for r in rows:
        sid = require(file, r, "service_id")
        days = []
        for col in _WEEKDAYS:
            require(file, r, col)
            days.append(parse_int(file, r, col, allowed=(0, 1)) == 1)
        start, end = parse_date(file, r, "start_date"), parse_date(file, r, "end_date")
        if start > end:
            allowed = "erlaubt ist start_date ≤ end_date"
            raise _bad(file, r, "start_date", allowed, what="start_date liegt nach end_date")
        rules[sid] = (tuple(days), start, end)
    file = "calendar_dates.txt"
    exceptions = []
    seen: dict[tuple[str, dt.date], int] = {}
    for r in files.rows(file, required=("service_id", "date", "exception_type")):
        sid = require(file, r, "service_id")
        d = parse_date(file, r, "date")
        require(file, r, "exception_type")
        typ = parse_int(file, r, "exception_type", allowed=(1, 2))
        if (sid, d) in seen:
            raise GTFSError(
                f"doppelter Schlüssel (service_id, date) (schon in Zeile {seen[(sid, d)]}); erlaubt ist jedes Paar "
                "nur einmal.",
                file=file,
                row=r.line,
                column="date",
                value=r.get("date"),
            )
        seen[(sid, d)] = r.line
        exceptions.append((sid, d, int(typ or 0)))
    return rules, exceptions


def service_dates(
    rules: dict[str, tuple[tuple[bool, ...], dt.date, dt.date]], exceptions: list[Any]
) -> dict[str, frozenset[dt.date]]:
    """Every date on which each service runs (calendar rule plus/minus exceptions)."""
    out: dict[str, set[dt.date]] = {}
    for sid, (days, start, end) in rules.items():
        dates = out.setdefault(sid, set())
        d = start
        while d <= end:
            if days[d.weekday()]:
                dates.add(d)
            d += dt.timedelta(days=1)
    for sid, d, typ in exceptions:
        if typ == 1:
            out.setdefault(sid, set()).add(d)
        else:
            out.setdefault(sid, set()).discard(d)
    return {k: frozenset(v) for k, v in out.items()}


def _rings(geometry: Any, file: str, feature: int, fid: str) -> Iterator[Any]:
    """Polygons (lists of rings) of a GeoJSON Polygon/MultiPolygon geometry."""
    gtype = geometry.get("type") if isinstance(geometry, dict) else None
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if gtype == "Polygon" and isinstance(coords, list):
        yield coords
    elif gtype == "MultiPolygon" and isinstance(coords, list):
        yield from coords
    else:
        raise GTFSError(
            "ungültige Geometrie; erlaubt sind die GeoJSON-Typen Polygon und MultiPolygon (Längen-/Breitengrad).",
            file=file,
            row=feature,
            column="geometry.type",
            value=gtype if gtype is not None else fid,
        )


def parse_locations(files: FlexFiles) -> dict[str, Any]:
    """``locations.geojson``: location id -> shapely (Multi)Polygon in WGS84 (lon, lat).

    ``row`` in messages is the 1-based feature number.
    """
    from shapely.geometry import MultiPolygon, Polygon

    file = "locations.geojson"
    if not files.has(file):
        return {}
    try:
        doc = json.loads(files.text(file))
    except json.JSONDecodeError as exc:
        raise GTFSError(f"Die Datei ist kein gültiges JSON: {exc}", file=file) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise GTFSError(
            "erwartet wird eine GeoJSON-FeatureCollection mit einer Liste 'features'.",
            file=file,
            column="type",
            value=doc.get("type") if isinstance(doc, dict) else type(doc).__name__,
        )
    out: dict[str, Any] = {}
    for i, feat in enumerate(doc["features"], start=1):
        if not isinstance(feat, dict):
            raise GTFSError("erwartet wird ein GeoJSON-Feature (Objekt).", file=file, row=i)
        fid = feat.get("id")
        if not isinstance(fid, str | int) or isinstance(fid, bool) or str(fid) == "":
            raise GTFSError(
                "Pflichtwert fehlt; erlaubt ist eine nicht leere Kennung (location_id) als Text.",
                file=file,
                row=i,
                column="id",
                value=fid,
            )
        fid = str(fid)
        if fid in out:
            raise GTFSError(
                "doppelte location_id; erlaubt ist jede Kennung nur einmal.", file=file, row=i, column="id", value=fid
            )
        polys = []
        for rings in _rings(feat.get("geometry"), file, i, fid):
            try:
                polys.append(Polygon(rings[0], rings[1:]))
            except (TypeError, ValueError, IndexError, AttributeError) as exc:
                raise GTFSError(
                    f"ungültige Polygon-Koordinaten ({exc}); erlaubt sind Ringe aus [Länge, Breite]-Paaren.",
                    file=file,
                    row=i,
                    column="geometry.coordinates",
                    value=fid,
                ) from exc
        geom = polys[0] if len(polys) == 1 else MultiPolygon(polys)
        if not geom.is_valid:
            geom = geom.buffer(0)
        out[fid] = geom
    return out
