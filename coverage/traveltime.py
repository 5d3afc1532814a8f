"""Door-to-door travel times between origins and courses (contract; engine to follow).

The result of this stage is a :class:`CourseTravelTimes`: for every mode, origin and
course the minutes needed to arrive by the course start (``hin``, waiting at the
site counts) and to get home after the course end (``rueck``), each the worst over
all course days. ``inf`` means not possible. Online courses need no travel: 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .schema import MODES

__all__ = ["CourseTravelTimes"]


@dataclass(frozen=True)
class CourseTravelTimes:
    """Travel times origins × courses × modes, in minutes.

    Attributes
    ----------
    origin_ids
        Origin ids, shape ``(n_o,)``.
    course_ids
        Course ids, shape ``(n_c,)``.
    modes
        Mode keys in the order of the first axis (subset of ``fuss``, ``rad``, ``oepnv``).
    hin
        ``(n_modes, n_o, n_c)`` minutes to arrive by the start (worst course day).
    rueck
        ``(n_modes, n_o, n_c)`` minutes home after the end (worst course day).
    """

    origin_ids: np.ndarray
    course_ids: np.ndarray
    modes: tuple[str, ...]
    hin: np.ndarray
    rueck: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.modes), len(self.origin_ids), len(self.course_ids))
        if self.hin.shape != shape or self.rueck.shape != shape:
            raise ValueError(f"Reisezeiten haben die Form {self.hin.shape}/{self.rueck.shape}, erwartet {shape}.")
        if any(m not in MODES for m in self.modes):
            raise ValueError(f"Unbekannter Modus in {self.modes}; erlaubt: {MODES}.")

    def mode(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(hin, rueck)`` for one mode, each ``(n_o, n_c)``."""
        i = self.modes.index(name)
        return self.hin[i], self.rueck[i]

    def to_long(self, *, finite_only: bool = True) -> pd.DataFrame:
        """Long format like r5py's TravelTimeMatrix.

        Columns ``herkunft_id``, ``kurs_id``, ``modus``, ``hin_min``, ``rueck_min``.
        """
        _n_m, _n_o, n_c = self.hin.shape
        frames = []
        for i, m in enumerate(self.modes):
            h = self.hin[i].ravel()
            r = self.rueck[i].ravel()
            keep = np.isfinite(h) & np.isfinite(r) if finite_only else np.ones(h.shape, bool)
            idx = np.nonzero(keep)[0]
            frames.append(
                pd.DataFrame(
                    {
                        "herkunft_id": np.asarray(self.origin_ids)[idx // n_c],
                        "kurs_id": np.asarray(self.course_ids)[idx % n_c],
                        "modus": m,
                        "hin_min": h[idx],
                        "rueck_min": r[idx],
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)
