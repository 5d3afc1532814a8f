"""Kursatlas: reachability of German courses without a car, gaps and proposals.

The import package is ``coverage``; the distribution and command are ``kursatlas``.
"""

from __future__ import annotations

__version__ = "0.1.0"

ANALYSIS_CRS = "EPSG:25832"
"""Analysis CRS of every stage: ETRS89 / UTM zone 32N."""

__all__ = ["ANALYSIS_CRS", "__version__"]
