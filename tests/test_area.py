"""The analysis area: county plus ``puffer_km``; courses beyond the border serve residents inside.

Also the strict region file: every unknown key is an error naming the nearest valid key.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from coverage.analysis.gaps import OUTSIDE_COLUMN, assess
from coverage.errors import ConfigError, InputDataError
from coverage.inputs.config import Parameters, load_config
from coverage.inputs.load import load_inputs
from coverage.outputs.tables import write_gap_tables
from coverage.traveltime import CourseTravelTimes

from .conftest import COURSE_HEADER, X0, Y0, _lonlat
from .test_gaps import _mitgliedskommunen


def _course(kid: str, x: float, y: float, *, niveaus: str = "A1") -> str:
    lon, lat = _lonlat(x, y)
    return (
        f"{kid};Träger;Kurs {kid};Ort;Markt 1;{lat:.6f};{lon:.6f};{niveaus};integrationskurs;Mo-Fr;"
        "08:30;11:45;2027-01-11;2027-06-30;20;5;nein"
    )


def _set(toml: Path, old: str, new: str) -> None:
    text = toml.read_text(encoding="utf-8")
    assert old in text
    toml.write_text(text.replace(old, new, 1), encoding="utf-8")


# --------------------------------------------------------------------------- configuration


def test_buffer_default_and_range(tiny_region: Path) -> None:
    assert load_config(tiny_region).puffer_km == 15.0
    _set(tiny_region, 'name = "Testkreis"', 'name = "Testkreis"\npuffer_km = 4.5')
    cfg = load_config(tiny_region)
    assert cfg.puffer_km == 4.5 and cfg.puffer_m == 4500.0
    _set(tiny_region, "puffer_km = 4.5", "puffer_km = -1")
    with pytest.raises(ConfigError, match="puffer_km"):
        load_config(tiny_region)


@pytest.mark.parametrize(
    ("section_line", "typo", "near"),
    [
        ("[netz]", 'gfts = "fahrplan.zip"', "gtfs"),
        ("[ausgabe]", 'ergebnise = "x"', "ergebnisse"),
        ("[standorte]", 'dattei = "standorte.csv"', "datei"),
        ("[region]", "puffer = 3", "puffer_km"),
        ("[einwohner]", 'fromat = "punkte"', "format"),
        ("[kurse]", 'nachbarkurs = "n.csv"', "nachbarkurse"),
    ],
)
def test_unknown_key_in_any_section_names_the_nearest(tiny_region: Path, section_line: str, typo: str,
                                                     near: str) -> None:
    _set(tiny_region, section_line, f"{section_line}\n{typo}")
    with pytest.raises(ConfigError) as err:
        load_config(tiny_region)
    msg = str(err.value)
    section = section_line.strip("[]")
    key = typo.split(" =")[0]
    assert str(tiny_region) in msg and f"[{section}]" in msg and f"'{key}'" in msg and f"Meinten Sie '{near}'" in msg


def test_unknown_key_in_data_sources_and_parameters(tiny_region: Path) -> None:
    text = tiny_region.read_text(encoding="utf-8")
    tiny_region.write_text(text + '\n[[datenquellen]]\ndatei = "x"\nart = "real"\nlizens = "CC"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'lizens'.*datenquellen\[1\].*Meinten Sie 'lizenz'"):
        load_config(tiny_region)
    tiny_region.write_text(text + "\n[parameter]\nzielquote = 0.5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Meinten Sie 'ziel_quote'"):
        load_config(tiny_region)
    tiny_region.write_text(text + "\n[parameter.gruppen.eltern]\nmax_minute = 40\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Meinten Sie 'max_minuten'"):
        load_config(tiny_region)


@pytest.mark.parametrize("value", [0, 1, 2])
def test_small_mindestanzahl_is_refused(tiny_region: Path, value: int) -> None:
    text = tiny_region.read_text(encoding="utf-8")
    tiny_region.write_text(text + f"\n[parameter]\nmindestanzahl = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mindestanzahl"):
        load_config(tiny_region)


# --------------------------------------------------------------------------- loading


def test_course_in_the_buffer_is_kept_and_marked_outside(tiny_region: Path) -> None:
    # the county is 20 km × 10 km from (X0, Y0); one course 5 km west of it, one 40 km away
    folder = tiny_region.parent
    (folder / "kurse.csv").write_text(
        "\n".join([COURSE_HEADER, _course("IN", X0 + 5000, Y0 + 5000), _course("NAH", X0 - 5000, Y0 + 5000)]) + "\n",
        encoding="utf-8",
    )
    courses = load_inputs(load_config(tiny_region)).courses.set_index("kurs_id")
    assert bool(courses.loc["IN", "im_kreis"]) and courses.loc["IN", "mk_ars"] == "039990001"
    assert not bool(courses.loc["NAH", "im_kreis"])
    assert courses.loc["NAH", "mk_ars"] == "" and courses.loc["NAH", "gemeinde_ars"] == ""

    with (folder / "kurse.csv").open("a", encoding="utf-8") as fh:
        fh.write(_course("FERN", X0 - 40000, Y0 + 5000) + "\n")
    with pytest.raises(InputDataError) as err:
        load_inputs(load_config(tiny_region))
    assert err.value.row == 4 and "außerhalb des Analysegebiets" in str(err.value) and "15 km" in str(err.value)
    _set(tiny_region, 'name = "Testkreis"', 'name = "Testkreis"\npuffer_km = 50')
    assert len(load_inputs(load_config(tiny_region)).courses) == 3


def test_neighbour_course_file(tiny_region: Path) -> None:
    folder = tiny_region.parent
    (folder / "nachbarkurse.csv").write_text(
        "\n".join([COURSE_HEADER, _course("N1", X0 + 25000, Y0 + 5000, niveaus="B1")]) + "\n", encoding="utf-8"
    )
    _set(tiny_region, 'datei = "kurse.csv"', 'datei = "kurse.csv"\nnachbarkurse = "nachbarkurse.csv"')
    courses = load_inputs(load_config(tiny_region)).courses
    assert list(courses["kurs_id"]) == ["K1", "K2", "N1"]
    assert list(courses["im_kreis"]) == [True, True, False]
    # IDs must be unique across both files
    (folder / "nachbarkurse.csv").write_text(
        "\n".join([COURSE_HEADER, _course("K1", X0 + 25000, Y0 + 5000)]) + "\n", encoding="utf-8"
    )
    with pytest.raises(InputDataError) as err:
        load_inputs(load_config(tiny_region))
    assert err.value.row == 2 and err.value.column == "kurs_id" and "nachbarkurse.csv" in str(err.value)


# --------------------------------------------------------------------------- coverage


def _border_case(*, with_outside: bool):
    """Ten A1 persons in MK 0: the own county's course is 100 min away, one just across the border 20 min."""
    mk = _mitgliedskommunen()
    seg = pd.DataFrame(
        [("o0", "A1", "allgemein", 10.0, mk["mk_ars"][0]), ("o1", "A1", "allgemein", 4.0, mk["mk_ars"][1])],
        columns=["herkunft_id", "niveau", "gruppe", "personen", "mk_ars"],
    )
    seg["gemeinde_ars"] = seg["mk_ars"] + "001"
    base = {"traeger": "VHS", "kursort": "Ort", "adresse": "Markt 1", "beginn": 540, "ende": 720,
            "kinderbetreuung": False, "plaetze": 20, "freie_plaetze": 20, "wochentage": (0, 2),
            "niveaus": ("A1",), "kursart": "integrationskurs"}
    rows = [base | {"kurs_id": "IN", "kursname": "im Kreis", "im_kreis": True}]
    minutes = [[100.0], [15.0]]
    if with_outside:
        rows.append(base | {"kurs_id": "AUS", "kursname": "Nachbarstadt", "im_kreis": False})
        minutes = [[100.0, 20.0], [15.0, 90.0]]
    courses = pd.DataFrame(rows)
    t = np.asarray(minutes)
    travel = CourseTravelTimes(np.array(["o0", "o1"]), courses["kurs_id"].to_numpy(), ("oepnv",),
                               np.stack([t]), np.stack([t]))
    return assess(seg, courses, travel, params=Parameters(), mitgliedskommunen=mk, kapazitaet="plaetze")


def test_course_just_outside_serves_residents_inside() -> None:
    with_out = _border_case(with_outside=True)
    without = _border_case(with_outside=False)
    g = with_out.gaps.set_index(["ARS", "Niveau"])
    row = g.loc[("033575000", "A1")]
    assert row["versorgt"] == 10.0 and row[OUTSIDE_COLUMN] == 10.0 and row["Versorgungslücke"] == "nein"
    other = g.loc[("033575001", "A1")]  # served by the course inside the county
    assert other["versorgt"] == 4.0 and other[OUTSIDE_COLUMN] == 0.0
    assert g[OUTSIDE_COLUMN].sum() == 10.0
    # ignoring the neighbour's course would flag a gap that does not exist
    g0 = without.gaps.set_index(["ARS", "Niveau"])
    assert g0.loc[("033575000", "A1"), "Versorgungslücke"] == "ja" and g0[OUTSIDE_COLUMN].sum() == 0.0
    seg = with_out.segments.set_index("herkunft_id")
    assert seg.loc["o0", "versorgt_ausserhalb"] == 10.0 and seg.loc["o1", "versorgt_ausserhalb"] == 0.0
    assert "10 in Kursen außerhalb des Kreises" in with_out.notes[0]


def test_outside_column_and_course_location_in_the_files(tmp_path: Path) -> None:
    res = _border_case(with_outside=True)
    write_gap_tables(res, directory=tmp_path)
    table = pd.read_csv(tmp_path / "luecken.csv", sep=";", decimal=",", encoding="utf-8-sig", dtype=str)
    assert OUTSIDE_COLUMN in table.columns
    courses = pd.read_excel(tmp_path / "luecken.xlsx", sheet_name="Kurse")
    assert dict(zip(courses["Kurs-ID"], courses["Lage"], strict=True)) == {
        "IN": "im Landkreis", "AUS": "außerhalb des Kreises"}
    layer = gpd.read_file(tmp_path / "luecken.gpkg")
    assert OUTSIDE_COLUMN in layer.columns


def test_courses_outside_the_county_are_marked_on_the_map(tmp_path: Path) -> None:
    from dataclasses import replace

    from coverage.outputs.maps import overview_map, render_html
    from tests.synthetic_maps import make_region

    config, data = make_region(tmp_path)
    courses = data.courses.copy()
    courses["im_kreis"] = True
    courses.loc[courses.index[0], "im_kreis"] = False
    name = str(courses["kursname"].iloc[0])
    html = render_html(overview_map(config, replace(data, courses=courses)))
    assert html.count("ka-kurs ka-aussen") == 1
    assert "Kurs außerhalb des Kreises (1)" in html and "außerhalb des Landkreises (im Analysegebiet)" in html
    assert "(außerhalb des Kreises)" in html and name.split()[0] in html
    plain = render_html(overview_map(config, data))
    assert "ka-kurs ka-aussen" not in plain and "Kurs außerhalb des Kreises (" not in plain
