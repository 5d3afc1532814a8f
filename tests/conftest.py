"""Shared fixtures: a tiny hand-made region written to a temp folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from coverage._compat import import_numba

# numba (also via access/spopt) must not see this package as coverage.py.
import_numba()

# Two Mitgliedskommunen side by side (10 km × 10 km each), three Gemeinden, EPSG:25832.
X0, Y0 = 520000.0, 5890000.0

COURSE_HEADER = (
    "kurs_id;traeger;kursname;kursort;adresse;lat;lon;niveaus;kursart;wochentage;beginn;ende;"
    "erster_tag;letzter_tag;plaetze;freie_plaetze;kinderbetreuung"
)


def _lonlat(x: float, y: float) -> tuple[float, float]:
    p = gpd.GeoSeries(gpd.points_from_xy([x], [y]), crs="EPSG:25832").to_crs("EPSG:4326").iloc[0]
    return p.x, p.y


def write_tiny_region(folder: Path, *, courses: str | None = None) -> Path:
    """Write a complete tiny region and return its ``region.toml``."""
    folder.mkdir(parents=True, exist_ok=True)
    a = box(X0, Y0, X0 + 10000, Y0 + 10000)
    b = box(X0 + 10000, Y0, X0 + 20000, Y0 + 10000)
    crs = "EPSG:25832"
    gpkg = folder / "grenzen.gpkg"
    gpd.GeoDataFrame({"ARS": ["039990"], "GEN": ["Testkreis"], "BEZ": ["Landkreis"]},
                     geometry=[a.union(b)], crs=crs).to_file(gpkg, layer="landkreis")
    gpd.GeoDataFrame({"ARS": ["039990001", "039995401"], "GEN": ["Aheim", "Bdorf"],
                      "BEZ": ["Einheitsgemeinde", "Samtgemeinde"]},
                     geometry=[a, b], crs=crs).to_file(gpkg, layer="mitgliedskommunen", mode="a")
    gpd.GeoDataFrame({"ARS": ["039990001001", "039995401002", "039995401003"], "GEN": ["Aheim", "B1", "B2"],
                      "BEZ": ["Stadt", "Gemeinde", "Gemeinde"]},
                     geometry=[a, box(X0 + 10000, Y0, X0 + 20000, Y0 + 5000),
                               box(X0 + 10000, Y0 + 5000, X0 + 20000, Y0 + 10000)],
                     crs=crs).to_file(gpkg, layer="gemeinden", mode="a")
    lon1, lat1 = _lonlat(X0 + 5000, Y0 + 5000)
    lon2, lat2 = _lonlat(X0 + 15000, Y0 + 2500)
    (folder / "einwohner.csv").write_text(
        f"herkunft_id;lat;lon;einwohner\nO1;{lat1:.6f};{lon1:.6f};120\nO2;{lat2:.6f};{lon2:.6f};40\n",
        encoding="utf-8",
    )
    if courses is None:
        courses = (
            f"{COURSE_HEADER}\n"
            f"K1;Träger A;A1 vormittags;Aheim;Markt 1;{lat1:.6f};{lon1:.6f};A1, A2;integrationskurs;Mo-Fr;"
            "08:30;11:45;2027-01-11;2027-06-30;25;5;nein\n"
            "K2;Träger B;B1 online;online;;;;B1;online;Di, Do;18:00;20:00;2027-01-11;2027-06-30;25;10;nein\n"
        )
    (folder / "kurse.csv").write_text(courses, encoding="utf-8")
    (folder / "standorte.csv").write_text(
        f"standort_id;name;lat;lon;art;verfuegbar\nS1;Bdorf Mitte;{lat2:.6f};{lon2:.6f};hauptort;vormittag, abend\n",
        encoding="utf-8",
    )
    toml = folder / "region.toml"
    toml.write_text(
        textwrap.dedent(
            """\
            [region]
            name = "Testkreis"
            grenzen = "grenzen.gpkg"
            [einwohner]
            datei = "einwohner.csv"
            format = "punkte"
            spalte = "einwohner"
            [kurse]
            datei = "kurse.csv"
            [standorte]
            datei = "standorte.csv"
            [netz]
            osm = "netz.osm"
            [ausgabe]
            karten = "karten"
            ergebnisse = "ergebnisse"
            """
        ),
        encoding="utf-8",
    )
    return toml


@pytest.fixture()
def tiny_region(tmp_path: Path) -> Path:
    """Path of the ``region.toml`` of a tiny valid region."""
    return write_tiny_region(tmp_path / "region")
