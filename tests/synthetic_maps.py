"""Synthetic region for map/report tests and benchmarks (no real data).

``make_region`` builds Mitgliedskommunen, courses, residents, travel times, gap
table and proposals with the contract shapes of the other stages. With
``hostile=True`` the course registry, sites, reasons and attributions contain
strings that try to break out of HTML and JavaScript.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import voronoi_diagram

from coverage.inputs.config import Config, DataSource, Parameters
from coverage.inputs.schema import COURSE_TYPES, LEVELS
from coverage.outputs.maps import MapData
from coverage.traveltime import CourseTravelTimes

CRS = "EPSG:25832"
X0, Y0 = 500_000.0, 5_870_000.0

HOSTILE = (
    "<script>alert(1)</script>",
    "</script><script>alert(2)</script>",
    "${alert(3)}",
    "`+alert(4)+`",
    "\"'><img src=x onerror=alert(5)>",
    "<img src=x onerror=alert(6)>",
    "C:\\u0041\\x \\",
)


def make_config(tmp: Path, *, modelled: bool = True, hostile: bool = False, name: str = "Testkreis") -> Config:
    """Return a :class:`Config` without reading a TOML file."""
    attr_extra = " <script>alert(7)</script> ${alert(8)}" if hostile else ""
    sources = (
        DataSource("grenzen.gpkg", "real", "BKG VG250", "dl-de/by-2-0", "© GeoBasis-DE / BKG (2024)" + attr_extra),
        DataSource("kurse.csv", "modelliert" if modelled else "real", "synthetisch", "CC0", "Kursdaten: synthetisch"),
    )
    return Config(
        path=tmp / "region.toml",
        name=name,
        grenzen=tmp / "grenzen.gpkg",
        ebene_landkreis="landkreis",
        ebene_mitgliedskommunen="mitgliedskommunen",
        ebene_gemeinden="gemeinden",
        einwohner=tmp / "einwohner.csv",
        einwohner_format="punkte",
        einwohner_spalte="einwohner",
        einwohner_crs=None,
        kurse=tmp / "kurse.csv",
        standorte=None,
        osm=tmp / "netz.osm.pbf",
        gtfs=None,
        karten=tmp / "karten",
        ergebnisse=tmp / "ergebnisse",
        cache=tmp / "cache",
        datenquellen=sources,
        parameter=Parameters(),
    )


def _wiggle(coords: np.ndarray) -> np.ndarray:
    """Displace coordinates by a smooth function of themselves (shared edges stay shared)."""
    x, y = coords[:, 0], coords[:, 1]
    dx = 120 * np.sin(y / 310.0) + 60 * np.sin(y / 97.0 + x / 500.0)
    dy = 120 * np.sin(x / 290.0) + 60 * np.sin(x / 83.0 + y / 450.0)
    return np.column_stack([x + dx, y + dy])


def make_region(
    tmp: Path,
    *,
    n_mk: int = 3,
    width_km: float = 12.0,
    height_km: float = 10.0,
    n_courses: int = 6,
    n_proposals: int = 3,
    points_per_km2: float = 3.0,
    hostile: bool = False,
    wiggly: bool = False,
    modelled: bool = True,
    seed: int = 1,
) -> tuple[Config, MapData]:
    """Build a synthetic region of ``n_mk`` Mitgliedskommunen in a rectangle."""
    rng = np.random.default_rng(seed)
    w, h = width_km * 1000, height_km * 1000
    county = shapely.box(X0, Y0, X0 + w, Y0 + h)
    seeds = shapely.MultiPoint(
        np.column_stack([X0 + rng.uniform(0.1, 0.9, n_mk) * w, Y0 + rng.uniform(0.1, 0.9, n_mk) * h])
    )
    cells = [c.intersection(county) for c in voronoi_diagram(seeds, envelope=county.buffer(w)).geoms]
    if wiggly:
        cells = [shapely.transform(shapely.segmentize(c, 40.0), _wiggle) for c in cells]
        cells = [c.buffer(0) for c in cells]
    ars = [f"0335{i:08d}" for i in range(n_mk)]
    names = [f"Samtgemeinde Test{i}" for i in range(n_mk)]
    if hostile and n_mk > 1:
        names[1] = "Gemeinde <b>Fett</b> & `x` ${y}"
    mk = gpd.GeoDataFrame({"mk_ars": ars, "mk_name": names, "mk_art": ["Samtgemeinde"] * n_mk}, geometry=cells, crs=CRS)
    landkreis = gpd.GeoDataFrame({"name": ["Testkreis"]}, geometry=[shapely.union_all(cells)], crs=CRS)

    # residents: 100 m cell centres with counts, some small
    n_pts = int(points_per_km2 * width_km * height_km)
    px = X0 + (np.floor(rng.uniform(0, w, n_pts) / 100) + 0.5) * 100
    py = Y0 + (np.floor(rng.uniform(0, h, n_pts) / 100) + 0.5) * 100
    counts = np.where(rng.random(n_pts) < 0.3, rng.integers(1, 4, n_pts), rng.integers(3, 60, n_pts)).astype(float)
    residents = gpd.GeoDataFrame(
        {"herkunft_id": [f"o{i}" for i in range(n_pts)], "einwohner": counts},
        geometry=gpd.points_from_xy(px, py),
        crs=CRS,
    )
    residents = residents.dissolve(by=[px, py], aggfunc={"herkunft_id": "first", "einwohner": "sum"}).reset_index(
        drop=True
    )
    residents = residents.set_crs(CRS, allow_override=True)

    # courses
    rows = []
    kinds = [k for k in COURSE_TYPES if k != "online"]
    for i in range(n_courses):
        lv0 = int(rng.integers(0, len(LEVELS) - 1))
        levels = tuple(LEVELS[lv0 : lv0 + int(rng.integers(1, 3))])
        text = HOSTILE[i % len(HOSTILE)] if hostile else ""
        rows.append(
            {
                "kurs_id": f"K{i:03d}",
                "traeger": f"Träger {i} {text}",
                "kursname": f"Kurs {i} {text}",
                "kursort": f"Kursort {i} {text}",
                "adresse": f"Hauptstraße {i} {text}",
                "niveaus": levels,
                "kursart": kinds[i % len(kinds)],
                "wochentage": (0, 2, 4),
                "beginn": 8 * 60 + 30,
                "ende": 11 * 60 + 45,
                "erster_tag": date(2026, 2, 2),
                "letzter_tag": date(2026, 7, 31),
                "plaetze": 20,
                "freie_plaetze": int(rng.integers(0, 8)),
                "kinderbetreuung": bool(i % 2),
                "geometry": shapely.Point(X0 + rng.uniform(0.05, 0.95) * w, Y0 + rng.uniform(0.05, 0.95) * h),
            }
        )
    rows.append(
        {
            **rows[0],
            "kurs_id": "ONLINE1",
            "kursname": "Online-Kurs B1" + (" <script>alert(9)</script>" if hostile else ""),
            "kursart": "online",
            "niveaus": ("B1",),
            "geometry": None,
        }
    )
    courses = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)

    # travel times: minutes grow with distance (bus ~ 25 km/h + 10 min)
    cx = shapely.get_x(courses.geometry.values[:-1])
    cy = shapely.get_y(courses.geometry.values[:-1])
    ox = shapely.get_x(residents.geometry.values)
    oy = shapely.get_y(residents.geometry.values)
    dist = np.hypot(ox[:, None] - cx[None, :], oy[:, None] - cy[None, :])
    hin = 10 + dist / (25_000 / 60)
    hin = np.concatenate([hin, np.zeros((len(residents), 1))], axis=1)
    tt = CourseTravelTimes(
        origin_ids=residents["herkunft_id"].to_numpy(),
        course_ids=courses["kurs_id"].to_numpy(),
        modes=("oepnv",),
        hin=hin[None, :, :],
        rueck=hin[None, :, :].copy(),
    )

    # gap table
    gap_rows = []
    for a, n in zip(ars, names, strict=True):
        for lv in LEVELS:
            bedarf = float(rng.integers(0, 120))
            versorgt = float(min(bedarf, rng.integers(0, 120)))
            q = versorgt / bedarf if bedarf else math.nan
            gap = "ja" if bedarf and q < 0.8 else "nein"
            gap_rows.append(
                {
                    "Mitgliedskommune": n,
                    "ARS": a,
                    "Niveau": lv,
                    "Bedarf": bedarf,
                    "versorgt": versorgt,
                    "unversorgt": bedarf - versorgt,
                    "Versorgungsquote": q,
                    "Versorgungslücke": gap,
                    "Begründung": ("zu wenige Plätze " + (HOSTILE[0] if hostile else "")) if gap == "ja" else "",
                    "davon: zu weit": bedarf - versorgt,
                }
            )
    gaps = pd.DataFrame(gap_rows)

    props = []
    for r in range(n_proposals):
        text = HOSTILE[(r + 2) % len(HOSTILE)] if hostile else ""
        props.append(
            {
                "Rang": r + 1,
                "Kurs-ID": f"V{r + 1:02d}",
                "Standort": f"Dorfgemeinschaftshaus {r} {text}",
                "Gemeinde": f"Gemeinde {r}",
                "Mitgliedskommune": names[r % n_mk],
                "Niveau": LEVELS[r % len(LEVELS)],
                "Zeitfenster": "vormittags",
                "erwartete Teilnehmende": 12,
                "neu versorgt": 40 - r,
                "Kosten (€)": 30000.0,
                "Begründung": f"größte Lücke {text}",
                "geometry": shapely.Point(X0 + rng.uniform(0.1, 0.9) * w, Y0 + rng.uniform(0.1, 0.9) * h),
            }
        )
    proposals = gpd.GeoDataFrame(props, geometry="geometry", crs=CRS)
    data = MapData(
        mitgliedskommunen=mk,
        courses=courses,
        gaps=gaps,
        residents=residents,
        proposals=proposals,
        travel_times=tt,
        reach_minutes={"K000": 30.0},
        landkreis=landkreis,
    )
    return make_config(tmp, modelled=modelled, hostile=hostile), data


def county_scale(tmp: Path, **kwargs: object) -> tuple[Config, MapData]:
    """County-scale region: 13 MK (wiggly boundaries), ~3,000 km² grid, 30 courses, 10 proposals."""
    opts: dict[str, object] = {
        "n_mk": 13,
        "width_km": 60.0,
        "height_km": 50.0,
        "n_courses": 30,
        "n_proposals": 10,
        "points_per_km2": 4.0,
        "wiggly": True,
    }
    opts.update(kwargs)
    return make_region(tmp, **opts)  # type: ignore[arg-type]


__all__ = ["HOSTILE", "county_scale", "make_config", "make_region", "replace"]
