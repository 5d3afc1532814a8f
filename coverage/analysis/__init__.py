"""Analysis: demand, reach, seat assignment, E2SFCA and the gap table.

- :mod:`coverage.analysis.demand`: :func:`demand_segments` (persons per origin × level × group).
- :mod:`coverage.analysis.reach`, :mod:`coverage.analysis.assignment`,
  :mod:`coverage.analysis.accessibility`: who may attend which course, who gets a seat, E2SFCA.
- :mod:`coverage.analysis.gaps`: :func:`assess` (all of it, in cached blocks) → :class:`CoverageResult`
  with the gap table (:func:`gap_table`).
- :mod:`coverage.analysis.disclosure`: :class:`DisclosurePolicy`, the one rule for every published count
  (gap flags and ranks are decided on it; the outputs apply it).
"""

from coverage.analysis.assignment import AssignmentResult, assign
from coverage.analysis.demand import demand_segments
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.analysis.gaps import CoverageResult, assess, gap_columns, gap_table

__all__ = [
    "AssignmentResult", "CoverageResult", "DisclosurePolicy", "assess", "assign", "demand_segments",
    "gap_columns", "gap_table",
]
