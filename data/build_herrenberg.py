"""Rebuild the real test region ``data/herrenberg`` deterministically.

The region uses the small real data set that the OpenTripPlanner project ships as
test resources under the name "Herrenberg": OpenStreetMap extracts of places in the
Landkreis Böblingen and two VVS bus feeds. Only one OSM extract overlaps the
timetable: ``deufringen-minimal.osm.pbf`` (8.84–8.89 E, 48.66–48.70 N) contains six
stops of VVS line 764 (the stops of the line's Dachtel end). The extract
``herrenberg-minimal.osm.pbf`` itself contains **no** stop of either feed, so a
region on it could not route any bus; this script therefore builds the region on
the Deufringen/Dachtel extract (see ``data/herrenberg/QUELLEN.md``).

What this script does (all deterministic, no network):

- copies the OSM extract and the licence of the OTP test data (``OTP_LICENSE``) verbatim;
- merges the two GTFS feeds into one (``gtfs_vvs_751_764.zip``): rows whose id
  occurs in both feeds (agency, stops, calendar, calendar_dates) must be identical
  and are kept once; any other id collision is an error; all values are kept
  verbatim, files are written in the column order of the first feed (columns that
  only the second feed has are appended);
- cuts the Zensus 2011 100 m cells of foreigners whose centre lies in the
  study area out of the national grid (``einwohner_zensus2011_100m.csv``);
- writes the study-area boundary (bounding box of the OSM extract; artificial
  keys, no official boundary), example courses and candidate sites.

Run from the repository root::

    python data/build_herrenberg.py            # writes data/herrenberg/
    python data/build_herrenberg.py --ziel DIR # writes into DIR instead
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import box

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = REPO_ROOT / "data" / "herrenberg"
RAW = Path("/work/shared/data")
OTP = RAW / "herrenberg"
OSM_SOURCE = OTP / "deufringen-minimal.osm.pbf"
FEEDS = (OTP / "vvs-bus-751-only.gtfs.zip", OTP / "vvs-bus-764-only.gtfs.zip")
ZENSUS_100M = RAW / "zensus2011" / "deutschland_100m_auslaender.parquet"

OSM_NAME = "strassennetz_otp_deufringen.osm.pbf"
GTFS_NAME = "gtfs_vvs_751_764.zip"
ZENSUS_NAME = "einwohner_zensus2011_100m.csv"
GRENZEN_NAME = "untersuchungsgebiet.gpkg"

#: GTFS files and the column(s) that identify a row (``None``: no id, rows are appended).
GTFS_KEYS: dict[str, tuple[str, ...] | None] = {
    "agency.txt": ("agency_id",),
    "stops.txt": ("stop_id",),
    "routes.txt": ("route_id",),
    "trips.txt": ("trip_id",),
    "stop_times.txt": ("trip_id", "stop_sequence"),
    "calendar.txt": ("service_id",),
    "calendar_dates.txt": ("service_id", "date"),
}

#: Artificial keys (no official ARS could be verified from the data available here).
ARS_LANDKREIS = "00000"
ARS_MK = "000000001"
ARS_GEMEINDE = "000000001001"
GEBIET = "Untersuchungsgebiet Dachtel/Deufringen (kein amtlicher Gemeindegrenzverlauf)"

#: Example course sites at bus stops of line 764 inside the extract (stop coordinates from the VVS feed).
SITES: tuple[tuple[str, str, str], ...] = (
    ("S01", "de:08115:4780:0:3", "Haltestelle Rathaus (Beispiel-Standort)"),
    ("S02", "de:08115:4779:0:4", "Haltestelle Aidlinger Straße (Beispiel-Standort)"),
    ("S03", "de:08115:4181:0:3", "Haltestelle Backhaus (Beispiel-Standort)"),
    ("S04", "de:08115:4189:0:4", "Haltestelle Bergsiedlung (Beispiel-Standort)"),
)

COURSE_HEADER = (
    "kurs_id;traeger;kursname;kursort;adresse;lat;lon;niveaus;kursart;wochentage;beginn;ende;"
    "erster_tag;letzter_tag;plaetze;freie_plaetze;kinderbetreuung;hinweis"
)
HINWEIS = "Beispiel (modelliert), kein reales Kursangebot"
# fmt: off
#: (id, name, site, niveaus, kursart, tage, beginn, ende, plaetze, frei, kinderbetreuung)
COURSES: tuple[tuple[str, ...], ...] = (
    ("K01", "Integrationskurs A1 vormittags (Beispiel)", "S02", "A1", "integrationskurs", "Mo-Fr",
     "08:45", "11:45", "20", "4", "nein"),
    ("K02", "Integrationskurs A2 nachmittags (Beispiel)", "S02", "A2", "integrationskurs", "Mo, Mi",
     "14:05", "16:05", "18", "6", "nein"),
    ("K03", "Elternkurs A1 mit Kinderbetreuung (Beispiel)", "S01", "A1", "eltern_frauen", "Di, Do",
     "09:00", "11:30", "15", "5", "ja"),
    ("K04", "Alphabetisierungskurs vormittags (Beispiel)", "S03", "Alpha", "alphabetisierung", "Mo-Fr",
     "08:45", "11:45", "12", "2", "nein"),
)
# fmt: on
ERSTER_TAG, LETZTER_TAG = "2020-09-14", "2020-11-27"


def _stops(path: Path) -> dict[str, tuple[str, str]]:
    """Stop id → (lat, lon) text of a GTFS zip."""
    with zipfile.ZipFile(path) as zf:
        rows = csv.DictReader(io.TextIOWrapper(zf.open("stops.txt"), encoding="utf-8-sig"))
        return {r["stop_id"]: (r["stop_lat"], r["stop_lon"]) for r in rows}


def merge_gtfs(feeds: tuple[Path, ...]) -> dict[str, bytes]:
    """Merge GTFS feeds file by file, keeping every value verbatim.

    Parameters
    ----------
    feeds
        GTFS zip files, merged in this order.

    Returns
    -------
    dict[str, bytes]
        File name → CSV bytes (UTF-8, ``\\n`` line ends, minimal quoting).

    Raises
    ------
    ValueError
        If an id occurs in two feeds with different rows, or a file has no known id.
    """
    merged: dict[str, tuple[list[str], list[dict[str, str]], dict[tuple[str, ...], dict[str, str]]]] = {}
    for feed in feeds:
        with zipfile.ZipFile(feed) as zf:
            for name in sorted(zf.namelist()):
                if name not in GTFS_KEYS:
                    raise ValueError(f"{feed.name}: unbekannte Datei {name} (Zusammenführung nicht definiert)")
                reader = csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8-sig", newline=""))
                cols, rows, seen = merged.setdefault(name, ([], [], {}))
                cols.extend(c for c in reader.fieldnames or [] if c not in cols)
                key_cols = GTFS_KEYS[name]
                for row in reader:
                    key = tuple(row[c] for c in key_cols) if key_cols else ()
                    if key in seen:
                        if seen[key] != row:
                            raise ValueError(f"{name}: Kennung {key} in zwei Feeds mit verschiedenem Inhalt")
                        continue
                    seen[key] = row
                    rows.append(row)
    out: dict[str, bytes] = {}
    for name in sorted(merged):
        cols, rows, _ = merged[name]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(rows)
        out[name] = buf.getvalue().encode("utf-8")
    return out


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    """Deterministic zip (fixed time stamps and permissions)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, files[name], compresslevel=9)
    return buf.getvalue()


def osm_bbox(path: Path) -> tuple[float, float, float, float]:
    """Bounding box (min lon, min lat, max lon, max lat) of all nodes of an OSM file."""
    lons: list[float] = []
    lats: list[float] = []
    for obj in osmium.FileProcessor(str(path), osmium.osm.NODE):
        lons.append(obj.location.lon)
        lats.append(obj.location.lat)
    return min(lons), min(lats), max(lons), max(lats)


def stops_per_extract() -> dict[str, dict[str, int]]:
    """Number of stops of each feed inside the node bounding box of each OSM extract of the data set.

    Returns
    -------
    dict[str, dict[str, int]]
        Extract file name → feed file name → number of stops.
    """
    feeds = {feed.name: _stops(feed) for feed in FEEDS}
    out: dict[str, dict[str, int]] = {}
    for extract in sorted(OTP.glob("*-minimal.osm.pbf")):
        lon0, lat0, lon1, lat1 = osm_bbox(extract)
        out[extract.name] = {
            name: sum(lat0 <= float(la) <= lat1 and lon0 <= float(lo) <= lon1 for la, lo in stops.values())
            for name, stops in feeds.items()
        }
    return out


def study_area(path: Path) -> shapely.Geometry:
    """Study area in EPSG:25832: the bounding box of the OSM extract (densified edges)."""
    lon0, lat0, lon1, lat1 = osm_bbox(path)
    poly = shapely.segmentize(box(lon0, lat0, lon1, lat1), 0.001)
    return gpd.GeoSeries([poly], crs="EPSG:4326").to_crs("EPSG:25832").iloc[0]


def zensus_cells(area: shapely.Geometry) -> pd.DataFrame:
    """Zensus 2011 100 m cells (foreigners) whose centre lies in ``area`` (EPSG:25832)."""
    grid = pd.read_parquet(ZENSUS_100M)
    to_utm = Transformer.from_crs("EPSG:3035", "EPSG:25832", always_xy=True)
    x, y = to_utm.transform(grid["x"].to_numpy(float), grid["y"].to_numpy(float))
    inside = shapely.contains_xy(area, x, y)
    cells = grid[inside].sort_values(["y", "x"]).reset_index(drop=True)
    ids = [f"100mN{(cy - 50) // 100}E{(cx - 50) // 100}" for cx, cy in zip(cells["x"], cells["y"], strict=True)]
    return pd.DataFrame(
        {
            "Gitter_ID_100m": ids,
            "x_mp_100m": cells["x"],
            "y_mp_100m": cells["y"],
            "Auslaender": cells["value"],
        }
    )


def write_boundary(path: Path, area: shapely.Geometry) -> None:
    """GeoPackage with layers ``landkreis``, ``mitgliedskommunen``, ``gemeinden`` (one polygon each)."""
    if path.exists():
        path.unlink()
    previous = os.environ.get("OGR_CURRENT_DATE")
    os.environ["OGR_CURRENT_DATE"] = "2020-01-01T00:00:00Z"  # fixed GeoPackage time stamps
    layers = {
        "landkreis": {"ARS": ARS_LANDKREIS, "GEN": GEBIET, "BEZ": "Untersuchungsgebiet (nicht amtlich)"},
        "mitgliedskommunen": {"ARS": ARS_MK, "GEN": GEBIET, "BEZ": "Untersuchungsgebiet (nicht amtlich)"},
        "gemeinden": {"ARS": ARS_GEMEINDE, "GEN": GEBIET, "BEZ": "Untersuchungsgebiet (nicht amtlich)"},
    }
    for layer, attrs in layers.items():
        gdf = gpd.GeoDataFrame({k: [v] for k, v in attrs.items()}, geometry=[area], crs="EPSG:25832")
        gdf.to_file(path, layer=layer, driver="GPKG")
    if previous is None:
        del os.environ["OGR_CURRENT_DATE"]
    else:
        os.environ["OGR_CURRENT_DATE"] = previous


def sites_and_courses(stops: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """Text of ``standorte.csv`` and ``kurse.csv`` (examples at bus stops of line 764)."""
    site_rows = ["standort_id;name;lat;lon;art;verfuegbar"]
    where: dict[str, tuple[str, str, str]] = {}
    for sid, stop_id, name in SITES:
        lat, lon = stops[stop_id]
        where[sid] = (name, lat, lon)
        site_rows.append(f"{sid};{name};{lat};{lon};beispiel;vormittag, abend, vormittag_kinderbetreuung")
    course_rows = [COURSE_HEADER]
    for kid, kname, sid, niv, art, tage, beg, end, pl, frei, kb in COURSES:
        name, lat, lon = where[sid]
        ort = name.removesuffix(" (Beispiel-Standort)")
        course_rows.append(
            f"{kid};Beispielträger;{kname};{ort} (Beispiel);bei der {ort} (Beispiel, keine Anschrift);{lat};{lon};"
            f"{niv};{art};{tage};{beg};{end};{ERSTER_TAG};{LETZTER_TAG};{pl};{frei};{kb};{HINWEIS}"
        )
    return "\n".join(site_rows) + "\n", "\n".join(course_rows) + "\n"


def build(target: Path) -> dict[str, int]:
    """Write all region files into ``target``.

    Parameters
    ----------
    target
        Output folder (created if missing).

    Returns
    -------
    dict[str, int]
        A few counts for the log.
    """
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(OSM_SOURCE, target / OSM_NAME)
    shutil.copyfile(OTP / "OTP_LICENSE", target / "OTP_LICENSE")
    files = merge_gtfs(FEEDS)
    (target / GTFS_NAME).write_bytes(_zip_bytes(files))
    area = study_area(OSM_SOURCE)
    cells = zensus_cells(area)
    cells.to_csv(target / ZENSUS_NAME, sep=";", index=False, lineterminator="\n")
    write_boundary(target / GRENZEN_NAME, area)
    stops: dict[str, tuple[str, str]] = {}
    for feed in FEEDS:
        stops.update(_stops(feed))
    standorte, kurse = sites_and_courses(stops)
    (target / "standorte.csv").write_text(standorte, encoding="utf-8")
    (target / "kurse.csv").write_text(kurse, encoding="utf-8")
    return {
        "zellen": len(cells),
        "auslaender": int(np.sum(cells["Auslaender"])),
        "haltestellen": files["stops.txt"].count(b"\n") - 1,
        "fahrten": files["trips.txt"].count(b"\n") - 1,
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ziel", type=Path, default=DEFAULT_TARGET, help="Zielordner")
    args = parser.parse_args()
    print(build(args.ziel))


if __name__ == "__main__":
    main()
