"""Private I/O helpers: atomic writes and spreadsheet-safe exports.

Every file Kursatlas writes goes through :func:`atomic_path`: the content is
written to a temporary file in the target folder and renamed over the target only
when complete, so an interrupted run never leaves a half-written result.

File modes: :func:`tempfile.mkstemp` creates files readable by their owner only
(0600). :func:`atomic_path` therefore gives every finished file the mode a plain
``open()`` would have given it, ``0o666 & ~umask`` (colleagues on a shared drive can
read the maps), or, with ``keep_mode=True``, the mode of the file it replaces (a
course register edited by ``kursatlas kurse neu`` keeps its permissions). The umask
is read from ``/proc/self/status`` on Linux; elsewhere it is read by setting it
(``os.umask``) and restoring it at once, under a lock, so that two threads of
Kursatlas never see the temporary value (another library creating a file in the
same microsecond could; Windows ignores these bits anyway).
Text cells that a spreadsheet would run as a formula are neutralised (OWASP
CSV-injection guidance).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

__all__ = [
    "atomic_path",
    "current_umask",
    "default_dir_mode",
    "default_file_mode",
    "make_dir",
    "safe_cell",
    "safe_frame",
    "write_csv",
    "write_text",
    "write_xlsx",
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


_UMASK_LOCK = threading.Lock()


def _umask_from_proc() -> int | None:
    """The umask from ``/proc/self/status`` (Linux ≥ 4.7), or None where that is not available."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        return None
    return None


def current_umask() -> int:
    """The process umask, read without changing it where possible (see the module docstring)."""
    mask = _umask_from_proc()
    if mask is not None:
        return mask
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open()`` gives a new file."""
    return 0o666 & ~current_umask()


def default_dir_mode() -> int:
    """``0o777 & ~umask``: the mode ``os.mkdir()`` gives a new folder."""
    return 0o777 & ~current_umask()


def make_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) with the umask's mode; an existing folder is fine."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _finish_mode(tmp: Path, target: Path, *, keep_mode: bool) -> None:
    """Give ``tmp`` the mode of ``target`` (``keep_mode``, if it exists) or the umask's default mode."""
    mode = None
    if keep_mode:
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(target).st_mode)
    if mode is None:
        mode = default_file_mode()
    with contextlib.suppress(FileNotFoundError):
        os.chmod(tmp, mode)


@contextlib.contextmanager
def atomic_path(target: str | Path, *, keep_mode: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is untouched.

    Parameters
    ----------
    target
        The file to write.
    keep_mode
        Give the new file the permissions of the file it replaces (when there is
        one); otherwise it gets ``0o666 & ~umask`` like any newly created file.
    """
    target = Path(target)
    make_dir(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _finish_mode(tmp_path, target, keep_mode=keep_mode)
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
