"""Damaged CSV inputs (course register, candidate sites, residents): clear German messages with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from coverage.cli import main
from coverage.errors import InputDataError
from coverage.inputs.config import load_config
from coverage.inputs.load import load_inputs

FILES = ["kurse.csv", "standorte.csv", "einwohner.csv"]


def _damage(text: str, how: str) -> str:
    lines = text.splitlines()
    if how == "tab":
        return text.replace(";", "\t")
    if how == "pipe":
        return text.replace(";", "|")
    if how == "extra":
        lines[1] += ";zu viel"
        return "\n".join(lines) + "\n"
    if how == "quote":
        head, _, rest = lines[1].partition(";")
        lines[1] = f'{head};"{rest}'  # opened, never closed
        return "\n".join(lines) + "\n"
    if how == "truncated":
        last = lines[-1]
        return "\n".join([*lines[:-1], last[: last.index(";") + 2]])  # cut off in the second field, no line end
    raise ValueError(how)


EXPECTED = {
    "tab": ("ist mit Tabulatoren getrennt; erwartet wird ';' oder ','", 1),
    "pipe": ("ist mit senkrechten Strichen ('|') getrennt; erwartet wird ';' oder ','", 1),
    "extra": ("Felder, die Kopfzeile aber", 2),
    "quote": ("Anführungszeichen", 2),
    "truncated": ("unvollständig", None),
}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("how", list(EXPECTED))
def test_damaged_csv_is_reported_in_german(tiny_region: Path, name: str, how: str) -> None:
    path = tiny_region.parent / name
    good = path.read_text(encoding="utf-8")
    path.write_text(_damage(good, how), encoding="utf-8")
    with pytest.raises(InputDataError) as exc:
        load_inputs(load_config(tiny_region))
    text, row = EXPECTED[how]
    err = exc.value
    assert text in str(err) and err.file == str(path)
    assert err.row == (row if row is not None else len(good.splitlines()))
    if how == "extra":
        n = good.splitlines()[0].count(";") + 1
        assert f"hat {n + 1} Felder" in str(err) and f"{n} Spalten" in str(err)
    for english in ("Expected", "tokenizing", "Error", "EOF", "Pflichtspalte"):
        assert english not in str(err)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_cli_says_fehler_without_traceback(tiny_region: Path, command: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_region.parent / "kurse.csv"
    path.write_text(_damage(path.read_text(encoding="utf-8"), "extra"), encoding="utf-8")
    assert main([command, "--config", str(tiny_region)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Fehler: ") and "Zeile 2" in err and str(path) in err
    assert "Traceback" not in err and "Expected" not in err


def test_empty_trailing_fields_and_short_rows_are_accepted(tiny_region: Path) -> None:
    path = tiny_region.parent / "standorte.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(line + ";" for line in lines) + "\n", encoding="utf-8")  # a separator at every end
    sites = load_inputs(load_config(tiny_region)).candidates
    assert list(sites["standort_id"]) == ["S1"]


def test_quotes_inside_values_are_not_errors(tmp_path: Path) -> None:
    from coverage.inputs._validate import read_table

    path = tmp_path / "t.csv"
    path.write_text('a;b;c\n1;Bildschirm 5" breit;x\n2;"zwei\nZeilen";"mit ""Zitat"""\n', encoding="utf-8")
    df = read_table(path, what="Test")
    assert list(df["b"]) == ['Bildschirm 5" breit', "zwei\nZeilen"] and df.loc[1, "c"] == 'mit "Zitat"'
