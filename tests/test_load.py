"""Input validation: every bad input names file, line, column, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from coverage.errors import ConfigError, CRSError, InputDataError, KursatlasError
from coverage.inputs.config import load_config
from coverage.inputs.load import load_courses, load_inputs, load_region

from .conftest import COURSE_HEADER, write_tiny_region

GOOD = "K1;T;Kurs;Aheim;Markt 1;{lat};{lon};A1;integrationskurs;Mo, Mi;08:30;11:45;2027-01-11;2027-06-30;20;5;ja"


def _course_line(tiny: Path, **changes: str) -> str:
    cfg = load_config(tiny)
    region = load_region(cfg)
    pt = gpd.GeoSeries([region.boundary.centroid], crs="EPSG:25832").to_crs("EPSG:4326").iloc[0]
    line = GOOD.format(lat=f"{pt.y:.6f}", lon=f"{pt.x:.6f}")
    cols = COURSE_HEADER.split(";")
    vals = line.split(";")
    for k, v in changes.items():
        vals[cols.index(k)] = v
    return ";".join(vals)


def test_valid_region_loads(tiny_region: Path) -> None:
    inputs = load_inputs(load_config(tiny_region))
    assert list(inputs.region.mitgliedskommunen["mk_name"]) == ["Aheim", "Bdorf"]
    assert inputs.residents["einwohner"].sum() == 160
    assert set(inputs.residents["mk_ars"]) == {"039990001", "039995401"}
    k1 = inputs.courses.set_index("kurs_id").loc["K1"]
    assert k1["niveaus"] == ("A1", "A2") and k1["wochentage"] == (0, 1, 2, 3, 4)
    assert k1["beginn"] == 8 * 60 + 30 and k1["ende"] == 11 * 60 + 45
    assert k1["mk_ars"] == "039990001"
    online = inputs.courses.set_index("kurs_id").loc["K2"]
    assert online["online"] and online.geometry is None
    assert inputs.candidates["verfuegbar"].iloc[0] == ("vormittag", "abend")


def _courses_error(tiny: Path, text: str) -> InputDataError:
    path = tiny.parent / "kurse.csv"
    path.write_text(text, encoding="utf-8")
    cfg = load_config(tiny)
    with pytest.raises(InputDataError) as exc:
        load_courses(path, load_region(cfg))
    return exc.value


@pytest.mark.parametrize(
    ("change", "column", "value", "allowed"),
    [
        ({"niveaus": "A1, Z9"}, "niveaus", "A1, Z9", "Alpha, A1, A2, B1, B2, C1"),
        ({"beginn": "25:00"}, "beginn", "25:00", "HH:MM"),
        ({"ende": "08:00"}, "ende", "08:00", "später"),
        ({"kursart": "sprachcafe"}, "kursart", "sprachcafe", "integrationskurs"),
        ({"wochentage": "Mo, Xy"}, "wochentage", "Mo, Xy", "Mo, Di, Mi"),
        ({"plaetze": "zwanzig"}, "plaetze", "zwanzig", "ganze Zahl"),
        ({"freie_plaetze": "30"}, "freie_plaetze", "30", "0 bis 20"),
        ({"kinderbetreuung": "vielleicht"}, "kinderbetreuung", "vielleicht", "'ja' oder 'nein'"),
        ({"erster_tag": "31.02.2027"}, "erster_tag", "31.02.2027", "JJJJ-MM-TT"),
        ({"lat": "95.0"}, "lat", "95.0", "Breite"),
    ],
)
def test_bad_course_value_is_named(tiny_region: Path, change: dict, column: str, value: str, allowed: str) -> None:
    err = _courses_error(tiny_region, COURSE_HEADER + "\n" + _course_line(tiny_region, **change) + "\n")
    assert err.row == 2 and err.column == column and err.value == value
    msg = str(err)
    assert "kurse.csv" in msg and "Zeile 2" in msg and column in msg and allowed in msg


def test_missing_column(tiny_region: Path) -> None:
    header = COURSE_HEADER.replace(";kursart", "")
    line = _course_line(tiny_region).split(";")
    del line[COURSE_HEADER.split(";").index("kursart")]
    err = _courses_error(tiny_region, header + "\n" + ";".join(line) + "\n")
    assert err.column == "kursart" and "Pflichtspalte fehlt" in str(err)


def test_duplicate_course_id(tiny_region: Path) -> None:
    line = _course_line(tiny_region)
    err = _courses_error(tiny_region, f"{COURSE_HEADER}\n{line}\n{line}\n")
    assert err.row == 3 and err.column == "kurs_id" and err.value == "K1" and "Zeile 2" in str(err)


def test_empty_registry(tiny_region: Path) -> None:
    err = _courses_error(tiny_region, COURSE_HEADER + "\n")
    assert "keine Kurse" in str(err)


def test_coordinates_outside_region(tiny_region: Path) -> None:
    # Munich is far outside the test county.
    err = _courses_error(tiny_region, COURSE_HEADER + "\n" + _course_line(tiny_region, lat="48.137", lon="11.575"))
    assert err.row == 2 and "außerhalb des Analysegebiets" in str(err)


def test_layer_without_crs(tiny_region: Path) -> None:
    gpkg = tiny_region.parent / "grenzen.gpkg"
    lk = gpd.read_file(gpkg, layer="landkreis")
    lk = lk.set_crs(None, allow_override=True)
    lk.to_file(gpkg, layer="landkreis", mode="w")
    with pytest.raises(CRSError) as exc:
        load_region(load_config(tiny_region))
    assert "kein Koordinatenbezugssystem" in str(exc.value) and "grenzen.gpkg" in str(exc.value)
    assert isinstance(exc.value, KursatlasError) and isinstance(exc.value, ValueError)


def test_missing_layer(tiny_region: Path) -> None:
    text = tiny_region.read_text(encoding="utf-8").replace('grenzen = "grenzen.gpkg"',
                                                           'grenzen = "grenzen.gpkg"\nebene_gemeinden = "gem"')
    tiny_region.write_text(text, encoding="utf-8")
    with pytest.raises(InputDataError, match="Ebene 'gem' fehlt"):
        load_region(load_config(tiny_region))


def test_residents_xy_without_crs(tiny_region: Path) -> None:
    (tiny_region.parent / "einwohner.csv").write_text("herkunft_id;x;y;einwohner\nA;525000;5895000;3\n")
    with pytest.raises(CRSError, match="ohne Angabe des Koordinatenbezugssystems"):
        load_inputs(load_config(tiny_region))


def test_zensus_grid(tmp_path: Path) -> None:
    toml = write_tiny_region(tmp_path / "r")
    # Cell centre of the tiny region's middle in EPSG:3035.
    c = gpd.GeoSeries([Point(525000, 5895000)], crs="EPSG:25832").to_crs("EPSG:3035").iloc[0]
    e, n = int(c.x // 100 * 100), int(c.y // 100 * 100)
    (tmp_path / "r" / "zensus.csv").write_text(
        "GITTER_ID_100m;x_mp_100m;y_mp_100m;Einwohner;AnteilAuslaender\n"
        f"CRS3035RES100mN{n}E{e};{e + 50};{n + 50};40;12,5\n"
        f"CRS3035RES100mN{n + 100}E{e};{e + 50};{n + 150};–;–\n",
        encoding="utf-8",
    )
    text = toml.read_text().replace('datei = "einwohner.csv"\nformat = "punkte"\nspalte = "einwohner"',
                                    'datei = "zensus.csv"\nformat = "zensus"\nspalte = "AnteilAuslaender"')
    toml.write_text(text)
    inputs = load_inputs(load_config(toml))
    assert len(inputs.residents) == 1
    assert inputs.residents["einwohner"].iloc[0] == pytest.approx(5.0)


def test_config_errors(tmp_path: Path, tiny_region: Path) -> None:
    with pytest.raises(ConfigError, match="nicht gefunden"):
        load_config(tmp_path / "nope.toml")
    text = tiny_region.read_text() + "\n[parameter]\nziel_quote = 1.5\n"
    tiny_region.write_text(text)
    with pytest.raises(ConfigError, match="ziel_quote"):
        load_config(tiny_region)
