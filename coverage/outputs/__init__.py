"""Outputs: everything that leaves the process, every person count published by the disclosure rule.

- :mod:`coverage.outputs.tables`: the gap table as it may be published (:func:`published_gaps`),
  ``luecken.csv``/``.xlsx``/``.gpkg`` (:func:`write_gap_tables`).
- :mod:`coverage.outputs.proposals`: German proposal tables, curve, plot (:func:`write_proposals`).
- :mod:`coverage.outputs.report`: the HTML report (:func:`write_report`).
- :mod:`coverage.outputs.maps`: folium maps (spec → build → render → jobs), libraries embedded.
- :mod:`coverage.outputs.text`: German number, date and label formatting used by all of them.
- private: ``_html`` (escaping, info tables), ``_assets`` + ``_mapassets/`` (vendored map libraries).

The disclosure rule itself lives in :mod:`coverage.analysis.disclosure`: the gap flags and
ranks are decided on it; this stage only applies it.
"""

from coverage.outputs.proposals import write_proposals
from coverage.outputs.report import write_report
from coverage.outputs.tables import published_gaps, write_gap_tables

__all__ = ["published_gaps", "write_gap_tables", "write_proposals", "write_report"]
