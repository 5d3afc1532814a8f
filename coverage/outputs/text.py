"""German text and number formatting of everything Kursatlas publishes (maps, report).

One place for how numbers, shares, euros, times, dates, levels, weekdays and course
types read in German: ``1.234``, ``73 %``, ``30.000 €``, ``08:30``, ``01.03.2027``,
``A1–B1``, ``Mo, Mi``. Missing values read as :data:`MISSING` (``"–"``). The results
are plain text, not yet escaped for HTML (see :func:`coverage.outputs._html.esc`).
"""

from __future__ import annotations

import datetime as dt
import math
from datetime import date

import pandas as pd

from coverage.inputs.schema import COURSE_TYPE_LABELS, LEVELS, WEEKDAYS

__all__ = [
    "MISSING",
    "cell_size_label",
    "course_type_label",
    "fmt_count",
    "fmt_date",
    "fmt_datetime",
    "fmt_decimal",
    "fmt_euro",
    "fmt_int",
    "fmt_percent",
    "fmt_time",
    "levels_label",
    "levels_text",
    "run_label",
    "to_float",
    "weekdays_text",
    "yes_no",
]

MISSING = "–"
"""Text of a missing value."""


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def to_float(value: object) -> float:
    """``value`` as a float, NaN when it is not a number."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return x


def fmt_int(value: float) -> str:
    """Format a number as a German integer with a dot as thousands separator."""
    return f"{round(value):,}".replace(",", ".")


def fmt_decimal(value: float, *, digits: int = 2) -> str:
    """Format a number with ``digits`` decimals and a decimal comma (``"1,25"``)."""
    return f"{value:.{digits}f}".replace(".", ",")


def fmt_count(value: float | None, *, min_count: int, round_to: int = 1) -> str:
    """Format a person count for publication.

    Counts below ``min_count`` (but above 0) are shown as ``"< min_count"``; others
    are rounded to a multiple of ``round_to``.
    """
    if _missing(value):
        return MISSING
    if value <= 0:
        return "0"
    if value < min_count:
        return f"< {min_count}"
    if round_to > 1:
        value = round(value / round_to) * round_to
    return fmt_int(value)


def fmt_percent(value: float | None) -> str:
    """Format a share 0..1 as a German percentage without decimals (``"73 %"``)."""
    if _missing(value):
        return MISSING
    return f"{round(100 * value)} %"


def fmt_time(minutes: float | None) -> str:
    """Format minutes after midnight as ``HH:MM``."""
    if _missing(minutes):
        return MISSING
    m = round(minutes)
    return f"{m // 60:02d}:{m % 60:02d}"


def fmt_euro(value: float | None) -> str:
    """Format euros German style (``"30.000 €"``)."""
    if _missing(value):
        return MISSING
    return f"{fmt_int(value)} €"


def fmt_date(value: object) -> str:
    """A date as ``TT.MM.JJJJ``; other values as text, missing ones as :data:`MISSING`."""
    if isinstance(value, (date, pd.Timestamp)):
        return value.strftime("%d.%m.%Y")
    return str(value) if not _missing(value) else MISSING


def fmt_datetime(value: dt.datetime) -> str:
    """A point in time as ``TT.MM.JJJJ, HH:MM Uhr``."""
    return f"{value:%d.%m.%Y, %H:%M} Uhr"


def run_label(name: str) -> str:
    """``Lauf vom 01.03.2027, 09:15 Uhr`` (local time) for a run folder ``2027-03-01T08-15-30Z``."""
    try:
        stamp = dt.datetime.strptime(name[:20], "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return f"Lauf {name}"
    return f"Lauf vom {fmt_datetime(stamp.astimezone())}"


def yes_no(value: object) -> str:
    """``"ja"`` or ``"nein"``."""
    return "ja" if bool(value) else "nein"


def levels_text(levels: object) -> str:
    """The known levels among ``levels``, in level order, comma-separated (``"A1, A2"``)."""
    return ", ".join(x for x in LEVELS if x in tuple(levels or ()))  # type: ignore[arg-type]


def levels_label(levels: object) -> str:
    """Short label of a level range (``"A1–B1"``, one level, or ``"?"``)."""
    lv = [x for x in LEVELS if x in tuple(levels or ())] if not isinstance(levels, str) else [levels]  # type: ignore[arg-type]
    if not lv:
        return "?"
    return lv[0] if len(lv) == 1 else f"{lv[0]}–{lv[-1]}"


def weekdays_text(days: object) -> str:
    """Weekday numbers (0 = Monday) as German abbreviations (``"Mo, Mi"``); other values as text."""
    try:
        return ", ".join(WEEKDAYS[int(d)] for d in days)  # type: ignore[union-attr]
    except (TypeError, ValueError, IndexError):
        return str(days)


def course_type_label(kind: object) -> object:
    """German label of a course type (``kursart``); unknown types unchanged."""
    return COURSE_TYPE_LABELS.get(str(kind), kind)


def cell_size_label(cell_m: float) -> str:
    """Edge length of a grid square as text (``"1 km"``, ``"500 m"``)."""
    return f"{cell_m / 1000:g} km" if cell_m >= 1000 else f"{cell_m:g} m"
