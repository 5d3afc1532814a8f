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

    Parameters
    ----------
    target
        The ``.xlsx`` file.
    sheets
        Sheet name → table; sheet names are cut to Excel's 31 characters.
    percent_columns
        Sheet name → columns shown as percentages.
    """
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    percent_columns = percent_columns or {}
    with atomic_path(target) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        for name, df in sheets.items():
            sheet = name[:31]
            safe_frame(df).to_excel(writer, sheet_name=sheet, index=False)
            ws = writer.sheets[sheet]
            ws.freeze_panes = "A2"
            header_fill = PatternFill("solid", fgColor="DDEBF7")
            for cell in ws[1]:
                cell.font = Font(bold=True)
                cell.fill = header_fill
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            for i, col in enumerate(df.columns, start=1):
                width = max([len(str(col))] + [len(str(v)) for v in df[col].head(200)]) + 2
                ws.column_dimensions[get_column_letter(i)].width = min(max(width, 8), 60)
                if col in percent_columns.get(name, []):
                    for row in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                        for cell in row:
                            cell.number_format = "0.0%"
            if len(df):
                ws.auto_filter.ref = ws.dimensions
