"""Private validation helpers shared by the loaders.

Row numbers in messages are line numbers of the file as a planner sees it in an
editor or in Excel: the header is line 1, the first data row line 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import pandas as pd
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from coverage import ANALYSIS_CRS
from coverage.errors import CRSError, InputDataError
from coverage.inputs.schema import WEEKDAYS

__all__ = [
    "decode_csv",
    "line_of",
    "parse_bool",
    "parse_date",
    "parse_float",
    "parse_int",
    "parse_list",
    "parse_time",
    "points_from_table",
    "read_table",
    "require_columns",
    "to_analysis_crs",
]

_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def line_of(index: int) -> int:
    """File line of the 0-based data row ``index`` (header is line 1)."""
    return index + 2


_SEPARATORS = {";": "Semikolons (';')", ",": "Kommas (',')"}
_FOREIGN_SEPARATORS = {"\t": "Tabulatoren", "|": "senkrechten Strichen ('|')"}


def _count_outside_quotes(line: str, char: str) -> int:
    """How often ``char`` occurs in ``line`` outside double quotes."""
    n, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            n += 1
    return n


def decode_csv(path: Path, *, what: str) -> tuple[str, str]:
    """Text of a CSV file (UTF-8, with or without BOM) and its separator (``;`` or ``,``).

    The separator is the one that occurs more often in the header line (``;`` on a
    tie). Only ``;`` and ``,`` are accepted (what Excel and LibreOffice write as
    "CSV"); a header separated by tabs or ``|`` is reported as such.

    Raises
    ------
    InputDataError
        If the file is missing, empty, not UTF-8, or separated by tabs or ``|``.
    """
    if not path.is_file():
        raise InputDataError(f"{what}: Datei nicht gefunden.", file=str(path))
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputDataError(
            f"{what}: Datei ist nicht UTF-8-kodiert (Byte {exc.start}). Bitte als 'CSV UTF-8' speichern.",
            file=str(path),
        ) from exc
    if not text.strip():
        raise InputDataError(f"{what}: Datei ist leer; erwartet wird eine Kopfzeile und Datenzeilen.", file=str(path))
    nul = text.find("\x00")
    if nul >= 0:
        raise InputDataError(
            f"{what}: Die Datei enthält ein Nullzeichen (NUL); sie ist beschädigt oder keine Textdatei. Bitte die "
            "Tabelle erneut als 'CSV UTF-8' speichern.",
            file=str(path),
            row=text.count("\n", 0, nul) + 1,
        )
    first = text.splitlines()[0]
    counts = {c: _count_outside_quotes(first, c) for c in (*_SEPARATORS, *_FOREIGN_SEPARATORS)}
    sep = ";" if counts[";"] >= counts[","] else ","
    foreign = max(_FOREIGN_SEPARATORS, key=lambda c: counts[c])
    if counts[foreign] > counts[sep]:
        raise InputDataError(
            f"{what}: Die Datei ist mit {_FOREIGN_SEPARATORS[foreign]} getrennt; erwartet wird ';' oder ','. "
            "Bitte in Excel oder LibreOffice als 'CSV UTF-8 (durch Trennzeichen getrennt)' mit Semikolon speichern.",
            file=str(path),
            row=1,
        )
    return text, sep


def _check_records(text: str, sep: str, *, path: Path, what: str) -> pd.DataFrame:
    """Parse ``text`` record by record and raise on the first malformed one; the table when all are fine.

    Used when the fast reader (pandas) failed or saw something odd. Reports, with
    the file line: a row with more (non-empty) fields than the header, a quote that
    is not closed (the record then swallows the following lines, up to the end of
    the file), a last line cut short (file not completely saved), NUL bytes. Empty
    extra fields at the end of a row (a separator at the end of each line) are
    dropped; missing fields at the end of a row are empty cells.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True)
    header: list[str] | None = None
    rows: list[list[str]] = []
    end = 0
    ends_with_newline = text.endswith(("\n", "\r"))
    total_lines = len(text.splitlines())
    sep_name = "Semikolon" if sep == ";" else "Komma"
    while True:
        start = end + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line = reader.line_num or start
            reason = "enthält ein Nullzeichen (NUL) – ist es eine Binärdatei?" if "NUL" in str(exc) else (
                "ist keine gültige CSV-Zeile (Anführungszeichen oder Trennzeichen fehlerhaft)."
            )
            raise InputDataError(f"{what}: Die Zeile {reason}", file=str(path), row=line) from None
        end = reader.line_num
        if not record:
            continue  # blank line
        if header is None:
            header = record
            continue
        n, m = len(record), len(header)
        spans = end > start
        if spans and n != m:
            until = "bis zum Dateiende" if end >= total_lines else f"bis Zeile {end}"
            raise InputDataError(
                f"{what}: Ein Anführungszeichen (\") in dieser Zeile wird {until} nicht geschlossen; die Zeile hat "
                f"dadurch {n} statt {m} Felder. Bitte das fehlende Anführungszeichen ergänzen"
                + (" (oder ist die Datei unvollständig gespeichert?)." if end >= total_lines else "."),
                file=str(path),
                row=start,
            )
        if n > m and any(v.strip() for v in record[m:]):
            raise InputDataError(
                f"{what}: Die Zeile hat {n} Felder, die Kopfzeile aber {m} Spalten. Enthält ein Wert das "
                f"Trennzeichen ({sep_name})? Dann den Wert in Anführungszeichen setzen oder das Zeichen entfernen.",
                file=str(path),
                row=start,
            )
        if n < m and end >= total_lines and not ends_with_newline:
            raise InputDataError(
                f"{what}: Die letzte Zeile ist unvollständig ({n} von {m} Feldern) und die Datei endet ohne "
                "Zeilenende – ist sie abgeschnitten (Speichern oder Kopieren unterbrochen)?",
                file=str(path),
                row=start,
            )
        rows.append(record[:m] + [""] * (m - n))
    if header is None:
        raise InputDataError(f"{what}: Datei ist leer; erwartet wird eine Kopfzeile und Datenzeilen.", file=str(path))
    return pd.DataFrame(rows, columns=header, dtype=object)


def _unclosed_quote_line(text: str, sep: str) -> int | None:
    """File line where a quoted field starts that is never closed, or None.

    Follows the CSV quoting rules: a field is quoted when it starts with ``"``
    (after blanks), ``""`` inside it is a literal quote; a ``"`` inside an
    unquoted field is an ordinary character. Only called when the file holds an
    odd number of quote characters, so its speed does not matter.
    """
    line, i, n, field_start = 1, 0, len(text), True
    while i < n:
        c = text[i]
        if field_start and c == " ":
            i += 1
            continue
        if field_start and c == '"':
            start, i = line, i + 1
            while True:
                j = text.find('"', i)
                if j < 0:
                    return start
                line += text.count("\n", i, j)
                if text.startswith('""', j):
                    i = j + 2
                    continue
                i = j + 1
                break
            field_start = False
            continue
        field_start = c in (sep, "\n", "\r")
        if c == "\n":
            line += 1
        i += 1
    return None


def read_table(path: Path, *, what: str) -> pd.DataFrame:
    """Read a CSV (``;`` or ``,``, UTF-8 with or without BOM) with all cells as text.

    The fast reader (pandas) is tried first; when it fails or the result may be
    wrong (more fields than header columns in the first rows, which pandas would
    silently take as an index; no line end after the last row, which may be cut
    short), the file is read again record by record to name the line and the
    problem in German (:func:`_check_records`). Missing fields at the end of a row
    are empty cells.

    Raises
    ------
    InputDataError
        If the file is missing, empty, not UTF-8, separated by tabs or ``|``, has
        a row with more fields than the header, an unclosed quote, or is cut short.
    """
    text, sep = decode_csv(path, what=what)
    open_quote = _unclosed_quote_line(text, sep) if text.count('"') % 2 else None
    if open_quote is not None:
        raise InputDataError(
            f'{what}: Ein Anführungszeichen (") in dieser Zeile wird bis zum Dateiende nicht geschlossen. Bitte das '
            "fehlende Anführungszeichen ergänzen (oder ist die Datei unvollständig gespeichert?).",
            file=str(path),
            row=open_quote,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
        odd = not isinstance(df.index, pd.RangeIndex) or not text.endswith(("\n", "\r"))
    except (pd.errors.ParserError, csv.Error, ValueError):
        df, odd = None, True
    if odd or df is None:
        df = _check_records(text, sep, path=path, what=what)
    df.columns = [str(c).strip() for c in df.columns]
    return df.fillna("").apply(lambda s: s.astype(str).str.strip())


def require_columns(df: pd.DataFrame, columns: Iterable[str], *, path: Path, what: str) -> None:
    """Raise if a required column is missing, naming it and the columns found."""
    for col in columns:
        if col not in df.columns:
            raise InputDataError(
                f"{what}: Pflichtspalte fehlt. Vorhandene Spalten: {', '.join(map(str, df.columns)) or '(keine)'}.",
                file=str(path),
                column=col,
            )


def parse_time(value: str, *, path: Path, row: int, column: str) -> int:
    """``HH:MM`` → minutes after midnight (00:00 to 24:00)."""
    m = _TIME.match(value)
    if m:
        h, mi = int(m.group(1)), int(m.group(2))
        if mi < 60 and (h < 24 or (h == 24 and mi == 0)):
            return h * 60 + mi
    raise InputDataError(
        "keine gültige Uhrzeit; erlaubt ist HH:MM von 00:00 bis 24:00.",
        file=str(path),
        row=row,
        column=column,
        value=value,
    )


def parse_date(value: str, *, path: Path, row: int, column: str) -> dt.date:
    """ISO ``2027-01-11`` or German ``11.01.2027`` → date."""
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise InputDataError(
        "kein gültiges Datum; erlaubt ist JJJJ-MM-TT oder TT.MM.JJJJ.",
        file=str(path),
        row=row,
        column=column,
        value=value,
    )


def parse_list(value: str, *, allowed: Iterable[str], path: Path, row: int, column: str) -> tuple[str, ...]:
    """Split ``"A1, A2"`` (separators ``,`` ``;`` ``/`` ``|`` or blanks) and check each item."""
    allowed = tuple(allowed)
    lookup = {a.lower(): a for a in allowed}
    items = [v for v in re.split(r"[,;/|\s]+", value) if v]
    if not items:
        raise InputDataError(
            f"leer; erlaubt sind: {', '.join(allowed)}.", file=str(path), row=row, column=column, value=value
        )
    out = []
    for item in items:
        key = lookup.get(item.lower())
        if key is None:
            raise InputDataError(
                f"unbekannter Eintrag {item!r}; erlaubt sind: {', '.join(allowed)}.",
                file=str(path),
                row=row,
                column=column,
                value=value,
            )
        if key not in out:
            out.append(key)
    return tuple(out)


def parse_weekdays(value: str, *, path: Path, row: int, column: str) -> tuple[int, ...]:
    """``"Mo, Mi"`` or ``"Mo-Fr"`` → sorted weekday numbers (0 = Monday)."""
    v = value.strip()
    m = re.fullmatch(r"(\w\w)\s*[-–]\s*(\w\w)", v)
    if m:
        a, b = (parse_list(x, allowed=WEEKDAYS, path=path, row=row, column=column)[0] for x in m.groups())
        ia, ib = WEEKDAYS.index(a), WEEKDAYS.index(b)
        if ia <= ib:
            return tuple(range(ia, ib + 1))
    days = parse_list(v, allowed=WEEKDAYS, path=path, row=row, column=column)
    return tuple(sorted(WEEKDAYS.index(d) for d in days))


def parse_bool(value: str, *, path: Path, row: int, column: str) -> bool:
    """``ja``/``nein`` (also true/false, 1/0) → bool."""
    v = value.strip().lower()
    if v in ("ja", "j", "true", "1", "yes", "x"):
        return True
    if v in ("nein", "n", "false", "0", "no", ""):
        return False
    raise InputDataError("erlaubt ist 'ja' oder 'nein'.", file=str(path), row=row, column=column, value=value)


def parse_int(value: str, *, path: Path, row: int, column: str, minimum: int = 0, maximum: int | None = None) -> int:
    """Whole number within bounds."""
    try:
        v = int(value)
    except ValueError:
        v = None
    if v is None or v < minimum or (maximum is not None and v > maximum):
        upper = f" bis {maximum}" if maximum is not None else ""
        raise InputDataError(
            f"keine gültige ganze Zahl; erlaubt ist {minimum}{upper}.",
            file=str(path),
            row=row,
            column=column,
            value=value,
        )
    return v


def parse_float(value: str, *, path: Path, row: int, column: str, minimum: float | None = None) -> float:
    """Number with ``.`` or German decimal comma."""
    try:
        v = float(value.replace(",", "."))
    except ValueError:
        v = float("nan")
    if v != v or (minimum is not None and v < minimum) or v in (float("inf"), float("-inf")):
        lower = f" ≥ {minimum}" if minimum is not None else ""
        raise InputDataError(
            f"keine gültige Zahl; erlaubt ist eine Zahl{lower}.", file=str(path), row=row, column=column, value=value
        )
    return v


def to_analysis_crs(gdf: gpd.GeoDataFrame, *, path: Path, what: str) -> gpd.GeoDataFrame:
    """Reproject to EPSG:25832; a layer without CRS is an error, not a guess."""
    if gdf.crs is None:
        raise CRSError(
            f"{what}: Ebene hat kein Koordinatenbezugssystem (CRS). Bitte das CRS in der Datei angeben "
            f"(z. B. EPSG:25832 oder EPSG:4326); Kursatlas rät es nicht.",
            file=str(path),
        )
    return gdf.to_crs(ANALYSIS_CRS)


def points_from_table(
    df: pd.DataFrame, *, path: Path, what: str, crs: str | None, allow_empty: bool = False
) -> gpd.GeoSeries:
    """Point geometry from ``lat``/``lon`` (WGS84) or ``x``/``y`` with a stated CRS.

    Parameters
    ----------
    allow_empty
        Rows with both coordinates empty get an empty geometry (online courses).
    """
    if {"lat", "lon"} <= set(df.columns):
        xcol, ycol, src = "lon", "lat", "EPSG:4326"
    elif {"x", "y"} <= set(df.columns):
        if not crs:
            raise CRSError(
                f"{what}: Spalten x/y ohne Angabe des Koordinatenbezugssystems. Bitte 'crs' in der Konfiguration "
                'angeben (z. B. crs = "EPSG:25832") oder Spalten lat/lon verwenden.',
                file=str(path),
            )
        xcol, ycol, src = "x", "y", crs
    else:
        raise InputDataError(
            f"{what}: Koordinatenspalten fehlen; erlaubt sind lat/lon (WGS84) oder x/y mit CRS.",
            file=str(path),
            column="lat/lon",
        )
    try:
        src_crs = CRS.from_user_input(src)
    except PyprojCRSError as exc:
        raise CRSError(f"{what}: unbekanntes Koordinatenbezugssystem {src!r}.", file=str(path)) from exc
    xs, ys = [], []
    for i, (xv, yv) in enumerate(zip(df[xcol], df[ycol], strict=True)):
        if allow_empty and xv == "" and yv == "":
            xs.append(float("nan"))
            ys.append(float("nan"))
            continue
        x = parse_float(xv, path=path, row=line_of(i), column=xcol)
        y = parse_float(yv, path=path, row=line_of(i), column=ycol)
        if src == "EPSG:4326" and not (-90 <= y <= 90 and -180 <= x <= 180):
            bad_col, bad = (ycol, yv) if not -90 <= y <= 90 else (xcol, xv)
            raise InputDataError(
                "keine gültige geographische Koordinate (Breite −90…90, Länge −180…180).",
                file=str(path),
                row=line_of(i),
                column=bad_col,
                value=bad,
            )
        xs.append(x)
        ys.append(y)
    pts = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=src_crs, index=df.index)
    empty = pd.Series(xs, index=df.index).isna().to_numpy()
    out = pts.to_crs(ANALYSIS_CRS)
    if empty.any():
        out[empty] = None
    return out
