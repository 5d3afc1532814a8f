"""Private compatibility helpers.

The import package of Kursatlas is called ``coverage`` (as the user asked), which is
also the import name of coverage.py. ``numba.misc.coverage_support`` runs
``import coverage`` expecting coverage.py and would fail on this package.
:func:`import_numba` hides this package while numba is imported for the first time,
so numba treats coverage.py as absent. Every module that needs numba (directly or
through libpysal/spopt/access) calls it first.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

__all__ = ["import_numba"]


def import_numba() -> ModuleType:
    """Import and return numba, shielding it from this package's name."""
    if "numba" in sys.modules:
        return sys.modules["numba"]
    own = sys.modules.get("coverage")
    sys.modules["coverage"] = None  # type: ignore[assignment]  # -> ImportError inside numba
    try:
        return importlib.import_module("numba")
    finally:
        if own is not None:
            sys.modules["coverage"] = own
        else:
            del sys.modules["coverage"]
