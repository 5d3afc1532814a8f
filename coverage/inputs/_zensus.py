"""Streaming reader for Zensus grid CSVs (2022 and 2011 style), up to the Germany-wide 100 m grid.

A national 100 m file has about three million rows; only the few thousand cells of
one county matter. The file is read in blocks with :func:`pyarrow.csv.open_csv`
(every used column as text), each block is validated with vectorised checks, and a
cell is kept when its centre lies in the county polygon:

1. a cheap bounding-box test on the EPSG:3035 centre coordinates (the county's
   bounding box in EPSG:3035 plus a safety margin), then
2. an exact point-in-polygon test of the centre, reprojected to the analysis CRS
   (EPSG:25832, the same transformation the rest of Kursatlas uses), against the
   county polygon (:func:`shapely.contains_xy`).

Rule for the county border: a Zensus grid is a national product that contains the
neighbours' cells, so only the polygon counts – there is **no** tolerance band
around the (possibly generalised) border here. Use VG250 borders for a real county;
with the generalised VG5000 borders, cells within a few hundred metres of the
border can fall on the wrong side.

Validation covers **every row of the file**, also rows outside the county (a
broken national file is reported, not silently half-read). Each check finds its
first bad row with numpy and reports the file, the original line number (blank
lines counted as in an editor), the column, the bad value and what is allowed.

Encodings: UTF-8 with or without BOM; files that are not UTF-8 (Zensus downloads
are often Windows-1252/Latin-1) are detected on the first block and transcoded by
pyarrow (``ReadOptions(encoding=...)``); if a later block turns out not to be UTF-8,
the file is read again as Windows-1252 (then Latin-1).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from coverage import ANALYSIS_CRS
from coverage._progress import ProgressReader, byte_bar, file_size
from coverage.errors import InputDataError

__all__ = ["GRID_CRS", "SUPPRESSED", "ZensusCells", "read_zensus_grid"]

logger = logging.getLogger(__name__)

GRID_CRS = "EPSG:3035"
"""CRS of the Zensus grid (ETRS89-LAEA); ids and centre coordinates use it."""

SUPPRESSED = ("–", "-", "/", ".", "")
"""Values that mean "suppressed / no value" (counted as 0). Zensus 2022 writes ``–`` (en dash)."""

_SUPPRESSED_2011 = (*SUPPRESSED, "-1", "-9")
"""Zensus 2011 grids write ``-1`` (suppressed) and ``-9`` (no value, e.g. a share of a tiny cell)."""

_ID_2022 = r"^CRS3035RES(?P<res>\d{1,6})m?N(?P<n>\d{1,8})E(?P<e>\d{1,8})$"
_ID_2011 = r"^(?P<res>\d{1,3})(?P<unit>m|km)N(?P<n>\d{1,8})E(?P<e>\d{1,8})$"
_SUFFIX = re.compile(r"^(\d+)(m|km)$", re.IGNORECASE)
_NUMBER_HINT = "(mit Dezimalkomma oder -punkt)"
_BBOX_MARGIN_M = 500.0
"""Safety margin of the EPSG:3035 bounding-box prefilter (the exact test follows)."""

_SNIFF_BYTES = 1 << 20
_BLOCK_BYTES = 4 << 20


@dataclass(frozen=True)
class ZensusCells:
    """The grid cells of one file whose centre lies in the county.

    Attributes
    ----------
    ids
        Grid ids (``GITTER_ID_…``) of the kept cells, as in the file.
    x, y
        Cell centres in the analysis CRS (EPSG:25832).
    values
        Persons per kept cell (suppressed values are 0; share columns multiplied
        with ``Einwohner``).
    rows
        Data rows read (the whole file).
    suppressed
        Suppressed values in the whole file.
    suppressed_kept
        Suppressed values among the kept cells.
    outside_cells, outside_persons
        Cells of the file whose centre lies outside the county, and their persons.
    encoding
        The text encoding the file was read with.
    """

    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    values: np.ndarray
    rows: int
    suppressed: int
    suppressed_kept: int
    outside_cells: int
    outside_persons: float
    encoding: str


@dataclass(frozen=True)
class _Layout:
    """What the header line says: separator, column names and the columns used."""

    encoding: str
    sep: str
    names: list[str]
    id_col: str
    x_col: str
    y_col: str
    value_col: str
    einwohner_col: str | None
    resolution: int


# --------------------------------------------------------------------------- header and encoding


def _encodings(head: bytes) -> list[str]:
    """Encodings to try, best guess first (decided on the first block)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return ["cp1252", "latin-1"]
    return ["utf-8", "cp1252", "latin-1"]


def _first_line(head: bytes, encoding: str) -> str:
    text = head.decode(encoding, errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.splitlines()[0] if text.strip() else ""


def _layout(path: Path, *, column: str, what: str) -> tuple[_Layout, list[str]]:
    if not path.is_file():
        raise InputDataError(f"{what}: Datei nicht gefunden.", file=str(path))
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    encodings = _encodings(head)
    first = _first_line(head, encodings[0])
    if not first.strip():
        raise InputDataError(f"{what}: Datei ist leer; erwartet wird eine Kopfzeile und Datenzeilen.", file=str(path))
    sep = ";" if first.count(";") >= first.count(",") else ","
    names = [c.strip() for c in next(csv.reader([first], delimiter=sep))]
    lower = {n.lower(): n for n in names}
    found = ", ".join(names)
    id_cols = [n for n in names if n.lower().startswith("gitter_id_")]
    if not id_cols:
        raise InputDataError(
            f"{what}: Pflichtspalte fehlt (z. B. GITTER_ID_100m). Vorhandene Spalten: {found}.",
            file=str(path),
            column="GITTER_ID_100m",
        )
    id_col = id_cols[0]
    suffix = id_col[len("gitter_id_") :]
    m = _SUFFIX.match(suffix)
    if m is None:
        raise InputDataError(
            f"{what}: unbekannte Gitterweite in der Spalte; erlaubt sind z. B. GITTER_ID_100m, GITTER_ID_1km, "
            "GITTER_ID_10km.",
            file=str(path),
            column=id_col,
        )
    resolution = int(m.group(1)) * (1000 if m.group(2).lower() == "km" else 1)

    def need(name: str) -> str:
        col = name if name in names else lower.get(name.lower())
        if col is None:
            raise InputDataError(
                f"{what}: Pflichtspalte fehlt. Vorhandene Spalten: {found}.", file=str(path), column=name
            )
        return col

    x_col, y_col = need(f"x_mp_{suffix}"), need(f"y_mp_{suffix}")
    value_col = need(column)
    einwohner_col = need("Einwohner") if column.lower().startswith("anteil") else None
    layout = _Layout(
        encoding=encodings[0],
        sep=sep,
        names=names,
        id_col=id_col,
        x_col=x_col,
        y_col=y_col,
        value_col=value_col,
        einwohner_col=einwohner_col,
        resolution=resolution,
    )
    return layout, encodings


# --------------------------------------------------------------------------- line numbers (error path only)


def _records(path: Path, layout: _Layout) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of the non-empty data records, as pyarrow sees them."""
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig" if layout.encoding == "utf-8" else layout.encoding,
                                newline="", errors="replace")
        reader = csv.reader(text, delimiter=layout.sep)
        start = 1
        for i, fields in enumerate(reader):
            line = start
            start = reader.line_num + 1
            if i == 0 or not fields:
                continue
            yield line, fields


def _line_of(path: Path, layout: _Layout, index: int) -> int:
    """Original line number of the 0-based data record ``index`` (blank lines counted)."""
    for k, (line, _) in enumerate(_records(path, layout)):
        if k == index:
            return line
    return index + 2


def _shape_error(path: Path, layout: _Layout, *, what: str, detail: str) -> InputDataError:
    n = len(layout.names)
    for line, fields in _records(path, layout):
        if len(fields) != n:
            return InputDataError(
                f"{what}: Zeile hat {len(fields)} statt {n} Spalten; erlaubt ist genau ein Wert je Spalte "
                f"({layout.sep!r} trennt die Spalten).",
                file=str(path),
                row=line,
                value=layout.sep.join(fields),
            )
    return InputDataError(f"{what}: Datei ist keine gültige CSV-Tabelle ({detail}).", file=str(path))


# --------------------------------------------------------------------------- vectorised checks


class _BadRow(Exception):
    """First bad row of a block: position in the block, column, value and message."""

    def __init__(self, pos: int, column: str, value: str, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.column = column
        self.value = value
        self.message = message


def _numbers(
    text: pa.Array, *, column: str, skip: np.ndarray | None = None, minimum: float | None = None
) -> np.ndarray:
    """Parse numbers with ``.`` or ``,`` as decimal separator; rows in ``skip`` become 0.

    Raises
    ------
    _BadRow
        At the first row that is not a finite number (or is below ``minimum``).
    """
    dotted = pc.replace_substring(text, ",", ".")
    if skip is not None and skip.any():
        dotted = pc.if_else(pa.array(skip), "0", dotted)
    try:
        values = pc.cast(dotted, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = None
    if values is None:
        # locate the first value arrow refuses; Python's float() decides as before
        strings = dotted.to_pylist()
        values = np.empty(len(strings))
        for i, s in enumerate(strings):
            try:
                values[i] = float(s)
            except ValueError:
                values[i] = np.nan
    bad = ~np.isfinite(values)
    if minimum is not None:
        bad |= values < minimum
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        lower = f" ≥ {minimum:g}" if minimum is not None else ""
        message = f"keine gültige Zahl; erlaubt ist eine Zahl{lower} {_NUMBER_HINT}."
        raise _BadRow(pos, column, text[pos].as_py(), message)
    return values


def _grid_ids(ids: pa.Array, layout: _Layout, style: str) -> tuple[np.ndarray, np.ndarray]:
    """South-west corners (easting, northing in metres) from the grid ids; checks the pattern."""
    parts = pc.extract_regex(ids, _ID_2022 if style == "2022" else _ID_2011)
    ok = np.asarray(parts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    example = (
        f"CRS3035RES{layout.resolution}mN2689100E4337000"
        if style == "2022"
        else ("100mN26891E43370" if layout.resolution == 100 else "1kmN2689E4337")
    )
    if not ok.all():
        pos = int(np.flatnonzero(~ok)[0])
        raise _BadRow(
            pos, layout.id_col, ids[pos].as_py(), f"keine gültige Zensus-Gitter-ID; erwartet z. B. {example}."
        )
    res = pc.cast(parts.field("res"), pa.int64()).to_numpy()
    n = pc.cast(parts.field("n"), pa.int64()).to_numpy()
    e = pc.cast(parts.field("e"), pa.int64()).to_numpy()
    if style == "2011":
        unit_km = np.asarray(pc.equal(parts.field("unit"), "km").to_numpy(zero_copy_only=False), dtype=bool)
        res = np.where(unit_km, res * 1000, res)
        n, e = n * res, e * res
    wrong = res != layout.resolution
    if wrong.any():
        pos = int(np.flatnonzero(wrong)[0])
        raise _BadRow(
            pos,
            layout.id_col,
            ids[pos].as_py(),
            f"Gitterweite der ID passt nicht zur Spalte {layout.id_col} ({layout.resolution} m); "
            f"erwartet z. B. {example}.",
        )
    return e, n


def _check_centres(e: np.ndarray, n: np.ndarray, x: np.ndarray, y: np.ndarray, layout: _Layout,
                   xs: pa.Array, ys: pa.Array) -> None:
    half = layout.resolution / 2.0
    bad_x = np.abs(x - (e + half)) > 0.5
    bad_y = np.abs(y - (n + half)) > 0.5
    bad = bad_x | bad_y
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        col, arr, want = (layout.x_col, xs, e[pos] + half) if bad_x[pos] else (layout.y_col, ys, n[pos] + half)
        raise _BadRow(
            pos,
            col,
            arr[pos].as_py(),
            f"Zellmittelpunkt passt nicht zur Gitter-ID (erwartet {want:.0f}: Südwestecke aus der ID plus halbe "
            "Zellweite, in EPSG:3035). Sind x und y vertauscht?",
        )


# --------------------------------------------------------------------------- the reader


@dataclass
class _Acc:
    """Accumulates kept cells and counts over the blocks of one read."""

    ids: list[pa.Array]
    x: list[np.ndarray]
    y: list[np.ndarray]
    values: list[np.ndarray]
    keys: list[np.ndarray]
    rows: int = 0
    suppressed: int = 0
    suppressed_kept: int = 0
    outside_persons: float = 0.0


def _area_box(area: BaseGeometry, to_grid: Transformer) -> tuple[float, float, float, float]:
    dense = shapely.segmentize(shapely.boundary(area), 200.0)
    xy = shapely.get_coordinates(dense)
    gx, gy = to_grid.transform(xy[:, 0], xy[:, 1])
    return (
        float(np.min(gx)) - _BBOX_MARGIN_M,
        float(np.min(gy)) - _BBOX_MARGIN_M,
        float(np.max(gx)) + _BBOX_MARGIN_M,
        float(np.max(gy)) + _BBOX_MARGIN_M,
    )


def _style_of(first_id: str) -> str:
    return "2011" if re.match(_ID_2011, first_id) and not first_id.upper().startswith("CRS") else "2022"


def _read_blocks(
    path: Path,
    layout: _Layout,
    *,
    area: BaseGeometry,
    what: str,
    block_size: int,
) -> _Acc:
    to_grid = Transformer.from_crs(ANALYSIS_CRS, GRID_CRS, always_xy=True)
    to_analysis = Transformer.from_crs(GRID_CRS, ANALYSIS_CRS, always_xy=True)
    x0, y0, x1, y1 = _area_box(area, to_grid)
    shapely.prepare(area)
    used = [c for c in (layout.id_col, layout.x_col, layout.y_col, layout.value_col, layout.einwohner_col) if c]
    used = list(dict.fromkeys(used))
    read_opts = pacsv.ReadOptions(
        column_names=layout.names,
        skip_rows=1,
        block_size=block_size,
        encoding="utf8" if layout.encoding == "utf-8" else layout.encoding,
    )
    parse_opts = pacsv.ParseOptions(delimiter=layout.sep)
    convert_opts = pacsv.ConvertOptions(
        include_columns=used,
        column_types={c: pa.string() for c in used},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    acc = _Acc(ids=[], x=[], y=[], values=[], keys=[])
    style: str | None = None
    with (
        byte_bar(total=file_size(path), desc=f"{what}: {path.name}") as progress,
        path.open("rb") as raw,
        ProgressReader(raw, progress) as stream,
    ):
        reader = pacsv.open_csv(stream, read_options=read_opts, parse_options=parse_opts, convert_options=convert_opts)
        for batch in reader:
            n_rows = batch.num_rows
            if n_rows == 0:
                continue
            cols = {name: pc.utf8_trim_whitespace(batch.column(name)) for name in used}
            if style is None:
                style = _style_of(str(cols[layout.id_col][0].as_py()))
            try:
                _block(cols, layout, style, acc, box=(x0, y0, x1, y1), area=area, to_analysis=to_analysis)
            except _BadRow as bad:
                line = _line_of(path, layout, acc.rows + bad.pos)
                raise InputDataError(
                    bad.message, file=str(path), row=line, column=bad.column, value=bad.value
                ) from None
            acc.rows += n_rows
    return acc


def _block(
    cols: dict[str, pa.Array],
    layout: _Layout,
    style: str,
    acc: _Acc,
    *,
    box: tuple[float, float, float, float],
    area: BaseGeometry,
    to_analysis: Transformer,
) -> None:
    ids = cols[layout.id_col]
    e, n = _grid_ids(ids, layout, style)
    xs, ys = cols[layout.x_col], cols[layout.y_col]
    x = _numbers(xs, column=layout.x_col)
    y = _numbers(ys, column=layout.y_col)
    _check_centres(e, n, x, y, layout, xs, ys)
    tokens = pa.array(_SUPPRESSED_2011 if style == "2011" else SUPPRESSED)
    raw = cols[layout.value_col]
    hidden = np.asarray(pc.is_in(raw, value_set=tokens).to_numpy(zero_copy_only=False), dtype=bool)
    values = _numbers(raw, column=layout.value_col, skip=hidden, minimum=0.0)
    if layout.einwohner_col is not None:
        over = values > 100.0
        if over.any():
            pos = int(np.flatnonzero(over)[0])
            raise _BadRow(pos, layout.value_col, raw[pos].as_py(), "Anteil über 100 %; erlaubt ist 0 bis 100.")
        ew_raw = cols[layout.einwohner_col]
        ew_hidden = np.asarray(pc.is_in(ew_raw, value_set=tokens).to_numpy(zero_copy_only=False), dtype=bool)
        ew = _numbers(ew_raw, column=layout.einwohner_col, skip=ew_hidden, minimum=0.0)
        values = ew * values / 100.0
    acc.keys.append(n * 100_000_000 + e)
    acc.suppressed += int(hidden.sum())
    # cheap prefilter on the EPSG:3035 centres, then the exact test in the analysis CRS
    x0, y0, x1, y1 = box
    cand = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    keep = cand[:0]
    if len(cand):
        ax, ay = to_analysis.transform(x[cand], y[cand])
        inside = shapely.contains_xy(area, ax, ay)
        keep = cand[inside]
        if len(keep):
            acc.ids.append(ids.take(pa.array(keep)))
            acc.x.append(np.asarray(ax)[inside])
            acc.y.append(np.asarray(ay)[inside])
            acc.values.append(values[keep])
            acc.suppressed_kept += int(hidden[keep].sum())
    acc.outside_persons += float(values.sum() - values[keep].sum())


def _check_duplicates(path: Path, layout: _Layout, keys: np.ndarray) -> None:
    if len(keys) < 2:
        return
    _, first = np.unique(keys, return_index=True)
    if len(first) == len(keys):
        return
    is_first = np.zeros(len(keys), dtype=bool)
    is_first[first] = True
    pos = int(np.flatnonzero(~is_first)[0])
    earlier = int(np.flatnonzero(keys[:pos] == keys[pos])[0])
    found: dict[int, tuple[int, list[str]]] = {}
    for k, record in enumerate(_records(path, layout)):
        if k in (earlier, pos):
            found[k] = record
        if k >= pos:
            break
    line, fields = found.get(pos, (pos + 2, []))
    col = layout.names.index(layout.id_col)
    raise InputDataError(
        f"Gitterzelle doppelt (schon in Zeile {found.get(earlier, (earlier + 2, []))[0]}); jede Zelle darf nur "
        "einmal vorkommen.",
        file=str(path),
        row=line,
        column=layout.id_col,
        value=fields[col].strip() if col < len(fields) else None,
    )


def read_zensus_grid(
    path: Path,
    *,
    column: str,
    area: BaseGeometry,
    what: str = "Einwohner (Zensus-Gitter)",
    block_size: int = _BLOCK_BYTES,
) -> ZensusCells:
    """Read a Zensus grid CSV and keep the cells whose centre lies in ``area``.

    Parameters
    ----------
    path
        The CSV (``GITTER_ID_100m;x_mp_100m;y_mp_100m;<value columns>``, also 1 km /
        10 km; Zensus 2011 ids such as ``100mN26891E43370`` are accepted too).
        May be the Germany-wide file; it is read in blocks, never whole.
    column
        The value column. A share column (name starting with ``Anteil``, a
        percentage) is multiplied with ``Einwohner``.
    area
        The county polygon in the analysis CRS (EPSG:25832).
    what
        Name of the input in messages.
    block_size
        Bytes per parsed block.

    Returns
    -------
    ZensusCells
        The kept cells (centres in EPSG:25832) and the counts of the whole file.

    Raises
    ------
    InputDataError
        If the file is missing, empty, malformed, or a value is invalid anywhere in
        the file (also outside the county): file, original line number, column,
        value and what is allowed are named.
    """
    layout, encodings = _layout(path, column=column, what=what)
    acc: _Acc | None = None
    for k, enc in enumerate(encodings):
        layout = dataclasses.replace(layout, encoding=enc)
        try:
            acc = _read_blocks(path, layout, area=area, what=what, block_size=block_size)
            break
        except (UnicodeDecodeError, pa.ArrowInvalid) as exc:
            text = str(exc)
            not_decodable = isinstance(exc, UnicodeDecodeError) or "UTF8" in text or "UTF-8" in text
            if not_decodable and k + 1 < len(encodings):
                logger.info("%s: nicht %s-kodiert; wird als %s gelesen", path.name, enc, encodings[k + 1])
                continue
            raise _shape_error(path, layout, what=what, detail=text) from exc
    if acc is None:  # pragma: no cover - latin-1 decodes every byte
        raise InputDataError(f"{what}: Kodierung der Datei nicht erkannt.", file=str(path))
    keys = np.concatenate(acc.keys) if acc.keys else np.empty(0, dtype=np.int64)
    _check_duplicates(path, layout, keys)
    if acc.ids:
        ids = pa.concat_arrays(acc.ids).to_numpy(zero_copy_only=False).astype(object)
        x, y, values = (np.concatenate(a) for a in (acc.x, acc.y, acc.values))
    else:
        ids = np.empty(0, dtype=object)
        x, y, values = np.empty(0), np.empty(0), np.empty(0)
    return ZensusCells(
        ids=ids,
        x=x,
        y=y,
        values=values,
        rows=acc.rows,
        suppressed=acc.suppressed,
        suppressed_kept=acc.suppressed_kept,
        outside_cells=acc.rows - len(ids),
        outside_persons=acc.outside_persons,
        encoding=layout.encoding,
    )
