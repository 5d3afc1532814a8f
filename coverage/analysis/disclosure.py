"""Disclosure control: one policy for every number of persons that Kursatlas publishes.

Residence data is personal data. Every output (tables, GeoPackage layers, XLSX,
report, change report, map tooltips and popups, the run archive) shows persons
only through :class:`DisclosurePolicy`:

1. **Primary suppression.** A count with ``0 < x < mindestanzahl`` is not shown
   (tables: ``"< 5"``, GeoPackage: empty/NULL). ``mindestanzahl`` is at least 3
   (the threshold of the Bundesagentur für Arbeit's statistics: "Zahlenwerte
   von 1 oder 2 … werden anonymisiert"); Kursatlas uses 5 by default.
2. **Rounding.** Every other count is rounded to a multiple of the *rounding
   base* ``2 × mindestanzahl`` (10 by default), half up; zero stays zero. A shown
   value ``P`` therefore only says that the true value lies in
   ``[P − B/2, P + B/2)``.
3. **Shares from published counts.** A share (e.g. the Versorgungsquote) is
   computed from the *published* counts and left empty when one of them is
   suppressed.
4. **No recomputation.** Because every published count is a multiple of ``B``
   and carries an uncertainty of ``±B/2``, any sum or difference of two or more
   published counts (a total minus its visible parts, Bedarf − versorgt, …) is
   a multiple of ``B`` with an uncertainty of at least ``±B``; every value of a
   suppressed cell, the whole range ``(0, mindestanzahl)``, stays consistent
   with it. This replaces secondary suppression for the tables; the resident
   grid keeps its secondary suppression as well. The attacker test
   (``tests/test_disclosure.py``) checks this on real outputs with a linear
   programme over all published numbers and their relations.

Unrounded values stay in memory for the computation only (decisions such as the
gap flag use them; the flag itself is published).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MIN_THRESHOLD", "DisclosurePolicy"]

MIN_THRESHOLD = 3
"""Smallest ``mindestanzahl`` the configuration accepts."""

_ZERO = 1e-9
"""Only values below this count as zero; any larger value below ``min_count`` is suppressed (a part
that is 0.04 must not be published as 0 next to a suppressed total of 0.2)."""


@dataclass(frozen=True)
class DisclosurePolicy:
    """The publication rule for counts of persons (see the module docstring).

    Parameters
    ----------
    min_count
        ``parameter.mindestanzahl``: counts below it (and above 0) are suppressed.
    """

    min_count: int = 5

    def __post_init__(self) -> None:
        if int(self.min_count) != self.min_count or self.min_count < MIN_THRESHOLD:
            raise ValueError(f"mindestanzahl muss eine ganze Zahl ≥ {MIN_THRESHOLD} sein, nicht {self.min_count!r}.")

    @property
    def base(self) -> int:
        """Rounding base of published counts: ``2 × min_count``."""
        return 2 * int(self.min_count)

    @property
    def hidden_text(self) -> str:
        """Text shown for a suppressed count (``"< 5"``)."""
        return f"< {self.min_count}"

    # -- numbers -------------------------------------------------------------

    def counts(self, values: Any) -> np.ndarray:
        """Published counts as floats: NaN for suppressed (and missing) values, else rounded to :attr:`base`.

        Parameters
        ----------
        values
            Array-like of counts (NaN = no value).
        """
        v = np.asarray(pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce"), float)
        v = v.reshape(np.shape(values))
        out = np.floor(v / self.base + 0.5) * self.base
        out = np.where(v < _ZERO, 0.0, out)
        with np.errstate(invalid="ignore"):
            out = np.where((v >= _ZERO) & (v < self.min_count), np.nan, out)
        return np.where(np.isnan(v), np.nan, out)

    def count(self, value: float | None) -> float | None:
        """One published count: None when suppressed or missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        out = float(self.counts(np.array([float(value)]))[0])
        return None if math.isnan(out) else out

    def is_hidden(self, values: Any) -> np.ndarray:
        """True where a count is suppressed (``0 < x < min_count``)."""
        v = np.asarray(pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce"), float)
        with np.errstate(invalid="ignore"):
            return ((v >= _ZERO) & (v < self.min_count)).reshape(np.shape(values))

    @staticmethod
    def share(numerator: Any, denominator: Any) -> np.ndarray:
        """Share of two *published* count arrays (NaN when either is missing or the denominator is 0)."""
        n = np.asarray(numerator, float)
        d = np.asarray(denominator, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(np.isfinite(n) & np.isfinite(d) & (d > 0), n / np.where(d > 0, d, 1.0), np.nan)

    # -- text ------------------------------------------------------------------

    def text(self, value: float | None) -> str:
        """A count as published German text: ``"< 5"``, ``"0"`` or the rounded number (``"1.230"``)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if bool(self.is_hidden(np.array([float(value)]))[0]):
            return self.hidden_text
        pub = self.count(value)
        return "–" if pub is None else f"{pub:,.0f}".replace(",", ".")

    def persons(self, value: float | None) -> str:
        """A count as a phrase: ``"weniger als 5 Personen"``, ``"10 Personen"``."""
        if value is not None and bool(self.is_hidden(np.array([float(value)]))[0]):
            return f"weniger als {self.min_count} Personen"
        return f"{self.text(value)} Personen"

    def frame(self, df: pd.DataFrame, columns: Any, *, text: bool) -> pd.DataFrame:
        """``df`` with the count ``columns`` published: numbers (NaN suppressed) or text (``"< 5"``)."""
        out = df.copy()
        for c in columns:
            if c not in out.columns:
                continue
            raw = pd.to_numeric(out[c], errors="coerce").to_numpy(float)
            pub = self.counts(raw)
            if text:
                hidden = self.is_hidden(raw)
                values: list[object] = [int(x) if np.isfinite(x) else None for x in pub]
                col = pd.Series(values, index=out.index, dtype=object)
                col[hidden] = self.hidden_text
                out[c] = col
            else:
                out[c] = pub
        return out
