"""Workflow: one run of the whole analysis, the course registry, the watch loop, run records.

- :mod:`coverage.workflow.pipeline`: :func:`run` (load → networks → travel times → demand →
  coverage/gaps → proposals → outputs) and its :class:`RunResult`.
- :mod:`coverage.workflow.summary`: :func:`summarize` → :class:`AreaSummary` (``kursatlas
  validate``), :func:`check_outputs`.
- :mod:`coverage.workflow.registry`: :func:`add_course`, :func:`check_registry` (``kursatlas kurse``).
- :mod:`coverage.workflow.watch`: :func:`watch` (``kursatlas beobachten``).
- :mod:`coverage.workflow.manifest`, :mod:`coverage.workflow.changes`: run records and the
  change report (:class:`ChangeReport`); :mod:`coverage.workflow._outputs`: :class:`OutputLock`,
  :class:`Staging`, :func:`recover` (one run per output folder, all-or-nothing swap).
"""

from coverage.workflow._outputs import OutputLock, Staging, recover
from coverage.workflow.changes import ChangeReport
from coverage.workflow.pipeline import STAGES, Published, RunResult, run
from coverage.workflow.registry import RegistrySummary, add_course, check_registry
from coverage.workflow.summary import AreaSummary, check_outputs, summarize
from coverage.workflow.watch import WatchEvent, watch

__all__ = [
    "STAGES",
    "AreaSummary",
    "ChangeReport",
    "OutputLock",
    "Published",
    "RegistrySummary",
    "RunResult",
    "Staging",
    "WatchEvent",
    "add_course",
    "check_outputs",
    "check_registry",
    "recover",
    "run",
    "summarize",
    "watch",
]
