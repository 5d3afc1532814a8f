"""Spreadsheet export: hostile text stays text, the sheet is formatted, the file is written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from coverage import _io
from coverage._io import safe_cell, write_xlsx

HOSTILE = ['=HYPERLINK("http://x")', "+1+1", "@SUM(A1)", "-2", "http://example.org", "1e5"]


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "Text": [*HOSTILE, np.nan],
        "Versorgungsquote": [0.5, 0.25, np.nan, 1.0, 0.0, 0.125, 0.75],
        "Anzahl": [1, 2, 3, 4, 5, 6, 7],
    })


def test_write_xlsx_hostile_text_and_format(tmp_path: Path) -> None:
    target = tmp_path / "t.xlsx"
    long_name = "Eine sehr lange Blattbezeichnung mit mehr als 31 Zeichen"
    write_xlsx(target, {"Lücken": _frame(), long_name: _frame().iloc[:0]},
               percent_columns={"Lücken": ["Versorgungsquote"]})
    assert [p.name for p in tmp_path.iterdir()] == ["t.xlsx"]  # no temp file left behind

    wb = load_workbook(target)
    assert wb.sheetnames == ["Lücken", long_name[:31]]
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                assert cell.hyperlink is None, (ws.title, cell.coordinate, cell.value)

    ws = wb["Lücken"]
    assert [c.value for c in ws[1]] == ["Text", "Versorgungsquote", "Anzahl"]
    for cell in ws[1]:
        assert cell.font.b
        assert cell.fill.fill_type == "solid" and cell.fill.fgColor.rgb.endswith("DDEBF7")
        assert cell.alignment.wrap_text and cell.alignment.vertical == "top"
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:C8"

    texts = [ws.cell(row=r, column=1) for r in range(2, 8)]
    assert [c.value for c in texts] == [safe_cell(v) for v in HOSTILE]
    assert all(c.data_type == "s" for c in texts)
    assert ws["A6"].value == "http://example.org" and ws["A7"].value == "1e5"  # neither link nor number
    assert ws["A8"].value is None  # NaN → empty cell

    for r in range(2, 9):
        quote = ws.cell(row=r, column=2)
        assert quote.number_format == "0.0%" or quote.value is None, quote.coordinate
        assert ws.cell(row=r, column=3).number_format == "General"
    assert ws["B2"].value == 0.5 and ws["B4"].value is None
    assert ws["C8"].value == 7 and ws["C8"].data_type == "n"
    for dim in ws.column_dimensions.values():
        assert 8 <= dim.width <= 61

    empty = wb[long_name[:31]]
    assert empty.freeze_panes == "A2" and empty.auto_filter.ref is None
    assert [c.value for c in empty[1]] == ["Text", "Versorgungsquote", "Anzahl"]

    back = pd.read_excel(target, sheet_name="Lücken")
    assert back["Anzahl"].tolist() == list(range(1, 8))
    assert back["Text"].isna().tolist() == [False] * 6 + [True]


def test_write_xlsx_strings_never_formulas_even_unneutralised(tmp_path: Path, monkeypatch) -> None:
    """Defence in depth: without :func:`safe_frame` the writer still stores text as text."""
    monkeypatch.setattr(_io, "safe_frame", lambda df: df.copy())
    target = tmp_path / "roh.xlsx"
    write_xlsx(target, {"Roh": pd.DataFrame({"Text": ["=1+1", "{=SUM(A1)}", "http://example.org", "1e5"]})})
    ws = load_workbook(target)["Roh"]
    cells = [ws.cell(row=r, column=1) for r in range(2, 6)]
    assert [c.value for c in cells] == ["=1+1", "{=SUM(A1)}", "http://example.org", "1e5"]
    assert all(c.data_type == "s" and c.hyperlink is None for c in cells)


def test_write_xlsx_failure_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "t.xlsx"
    write_xlsx(target, {"Alt": _frame()})
    before = target.read_bytes()
    with pytest.raises(Exception, match="sheetname"):
        write_xlsx(target, {"ungültig/Name": _frame()})  # "/" is not allowed in sheet names
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.xlsx"]
