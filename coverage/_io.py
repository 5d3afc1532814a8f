"""Private I/O helpers: atomic writes and spreadsheet-safe exports.

Every file Kursatlas writes goes through :func:`atomic_path`: the content is
written to a temporary file in the target folder and renamed over the target only
when complete, so an interrupted run never leaves a half-written result.
Text cells that a spreadsheet would run as a formula are neutralised (OWASP
CSV-injection guidance).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

__all__ = ["atomic_path", "safe_cell", "safe_frame", "write_csv", "write_text", "write_xlsx"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text(target: str | Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def safe_cell(value: object) -> object:
    """Return ``value`` so that no spreadsheet runs it as a formula.

    Strings starting with ``= + - @``, a tab or a line break get a leading
    apostrophe; numbers are returned unchanged.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Apply :func:`safe_cell` to every text cell and column name of ``df``."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(str(c)) for c in out.columns]
    return out


def write_csv(target: str | Path, df: pd.DataFrame) -> None:
    """Write ``df`` as a German-Excel friendly CSV (``;``, decimal comma, UTF-8 BOM), atomically."""
    out = safe_frame(df)
    for col in out.columns:
        if out[col].dtype == object:
            # numbers in mixed text/number columns (e.g. "< 5" next to 21.7) get the decimal comma too
            out[col] = out[col].map(lambda v: repr(v).replace(".", ",") if isinstance(v, float) else v)
    with atomic_path(target) as tmp:
        out.to_csv(tmp, sep=";", decimal=",", index=False, encoding="utf-8-sig")


def write_xlsx(
    target: str | Path,
    sheets: dict[str, pd.DataFrame],
    *,
    percent_columns: dict[str, list[str]] | None = None,
) -> None:
    """Write several sheets into one formatted XLSX file, atomically.

    Written with XlsxWriter (fast to import, no per-cell style objects). Every sheet
    goes through :func:`safe_frame`; in addition XlsxWriter is told never to turn a
    string into a formula, a hyperlink or a number, so text always stays text. Each
    sheet gets a bold, shaded, wrapped header row, frozen panes below the header,
    column widths from the header and the first 200 values (8 to 60 characters) and,
    when the table has rows, an autofilter over the data. Missing values are written
    as empty cells.

    Parameters
    ----------
    target
        The ``.xlsx`` file.
    sheets
        Sheet name → table; sheet names are cut to Excel's 31 characters.
    percent_columns
        Sheet name → columns shown as percentages (number format ``0.0%``).
    """
    percent_columns = percent_columns or {}
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False, "in_memory": True}
    with (
        atomic_path(target) as tmp,
        pd.ExcelWriter(tmp, engine="xlsxwriter", engine_kwargs={"options": options}) as writer,
    ):
        book = writer.book
        header_format = book.add_format(
            {"bold": True, "bg_color": "#DDEBF7", "pattern": 1, "text_wrap": True, "valign": "top", "border": 1}
        )
        percent_format = book.add_format({"num_format": "0.0%"})
        for name, df in sheets.items():
            sheet = name[:31]
            out = safe_frame(df)
            # the header is written below by hand (with its format); pandas writes the data from row 2 on
            out.to_excel(writer, sheet_name=sheet, index=False, header=False, startrow=1)
            ws = writer.sheets[sheet]
            for j, label in enumerate(out.columns):
                ws.write_string(0, j, label, header_format)
            ws.freeze_panes(1, 0)
            percent = set(percent_columns.get(name, []))
            for j, col in enumerate(df.columns):
                width = max([len(str(col))] + [len(str(v)) for v in df[col].head(200)]) + 2
                # a column format lands on every data cell without a format of its own (the header has one)
                ws.set_column(j, j, min(max(width, 8), 60), percent_format if col in percent else None)
            if len(df) and len(df.columns):
                ws.autofilter(0, 0, len(df), len(df.columns) - 1)
