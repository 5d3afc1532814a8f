"""Tests of the embedded model region ``data/rotenburg`` and its builder."""

from __future__ import annotations

import bz2
import csv
import importlib.util
import io
import re
import sys
import tomllib
import zipfile
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import networkx as nx
import osmnx as ox
import pytest
import shapely

REPO = Path(__file__).resolve().parent.parent
REGION = REPO / "data" / "rotenburg"
BUILDER = REPO / "data" / "build_rotenburg.py"

COURSE_COLUMNS = [
    "kurs_id", "traeger", "kursname", "kursort", "adresse", "lat", "lon", "niveaus", "kursart",
    "wochentage", "beginn", "ende", "erster_tag", "letzter_tag", "plaetze", "freie_plaetze",
    "kinderbetreuung", "hinweis",
]  # fmt: skip
DATA_FILES = [
    "grenzen_vg250.gpkg",
    "quellen/vg250_gemeinden_lk_rotenburg_simplified_wgs84.geojson",
    "quellen/vg5000_rotenburg_wuemme.gpkg",
    "quellen/settlements_rotenburg_wuemme_25km.csv",
    "quellen/LIZENZEN.md",
    "quellen/haltestellen_lk_rotenburg.csv",
    "quellen/haltestellen_umgebung_8.9_52.9_9.9_53.6.csv",
    "quellen/zensus2011_100m_auslaender_lk_rotenburg.csv",
    "quellen/zensus2011_1km_einwohner_auslaenderanteil_lk_rotenburg.csv",
    "orte.csv",
    "einwohner_gitter100m.csv",
    "kurse.csv",
    "standorte.csv",
    "strassennetz.osm.bz2",
    "gtfs_modell.zip",
    "rufbus_modell.zip",
    "region.toml",
    "QUELLEN.md",
]
GTFS_FILES = [
    "agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt", "calendar.txt",
    "calendar_dates.txt", "feed_info.txt",
]  # fmt: skip


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_rotenburg", BUILDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_rotenburg"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    return _load_builder()


@pytest.fixture(scope="module")
def fresh(builder: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("rotenburg")
    builder.build(target)
    return target


def _read_semicolon(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def _gtfs(path: Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(path) as zf:
        return {name: list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8")))) for name in zf.namelist()}


def _county(crs: str) -> shapely.Geometry:
    lk = gpd.read_file(REGION / "grenzen_vg250.gpkg", layer="landkreis")
    return lk.to_crs(crs).geometry.iloc[0]


# --------------------------------------------------------------------------- rebuild
def test_committed_files_match_fresh_rebuild(fresh: Path) -> None:
    built = sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file())
    assert built == sorted(DATA_FILES)
    for rel in built:
        new, old = fresh / rel, REGION / rel
        assert old.is_file(), f"{rel} fehlt im Repository – python data/build_rotenburg.py ausführen"
        if rel.endswith(".zip"):
            with zipfile.ZipFile(new) as zn, zipfile.ZipFile(old) as zo:
                assert zn.namelist() == zo.namelist()
                for name in zn.namelist():
                    assert zn.read(name) == zo.read(name), f"{rel}:{name} weicht vom Neubau ab"
        elif rel.endswith(".bz2"):
            assert bz2.decompress(new.read_bytes()) == bz2.decompress(old.read_bytes()), rel
        else:
            assert new.read_bytes() == old.read_bytes(), f"{rel} weicht vom Neubau ab"


def test_rebuild_is_byte_identical(builder: ModuleType, fresh: Path, tmp_path: Path) -> None:
    builder.build(tmp_path, raw_dir=fresh / "quellen")
    for rel in DATA_FILES:
        assert (tmp_path / rel).read_bytes() == (fresh / rel).read_bytes(), rel


def test_file_sizes() -> None:
    sizes = {rel: (REGION / rel).stat().st_size for rel in DATA_FILES}
    assert all(s < 1_500_000 for s in sizes.values()), sizes
    assert sum(sizes.values()) < 4_000_000


def test_largest_remainder(builder: ModuleType) -> None:
    assert builder.largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(builder.largest_remainder(12_590, [22_139, 19_268, 427, 3])) == 12_590


# --------------------------------------------------------------------------- real data
def test_orte() -> None:
    rows = _read_semicolon(REGION / "orte.csv")
    assert list(rows[0]) == ["ort_id", "name", "lat", "lon", "einwohner_geonames", "gemeinde_ars", "gemeinde"]
    assert len(rows) == 60
    assert all(re.fullmatch(r"geonames:\d+", r["ort_id"]) for r in rows)
    assert sum(int(r["einwohner_geonames"]) for r in rows) == 170_252
    assert len({r["gemeinde_ars"] for r in rows}) == 56  # Bülstedt has no GeoNames point


def test_boundaries_vg250_with_vg5000_names() -> None:
    names3 = ("landkreis", "mitgliedskommunen", "gemeinden")
    layers = {n: gpd.read_file(REGION / "grenzen_vg250.gpkg", layer=n) for n in names3}
    assert [len(g) for g in layers.values()] == [1, 13, 57]
    old = {n: gpd.read_file(REGION / "quellen" / "vg5000_rotenburg_wuemme.gpkg", layer=n) for n in layers}
    for name, gdf in layers.items():
        assert gdf.crs is not None and gdf.crs.to_epsg() == 25832, name
        assert list(gdf.columns[:3]) == ["ARS", "GEN", "BEZ"]
        names = dict(zip(old[name]["ARS"], zip(old[name]["GEN"], old[name]["BEZ"], strict=True), strict=True))
        assert all(names[a] == (g, b) for a, g, b in zip(gdf["ARS"], gdf["GEN"], gdf["BEZ"], strict=True))
        assert gdf.is_valid.all()
    assert set(layers["gemeinden"]["ARS"].str[:9]) == set(layers["mitgliedskommunen"]["ARS"])
    county = layers["landkreis"].geometry.iloc[0]
    assert abs(layers["gemeinden"].area.sum() - county.area) < 1e-6 * county.area
    assert 2_000e6 < county.area < 2_150e6


# --------------------------------------------------------------------------- grid
def test_grid_sum_format_and_county() -> None:
    rows = _read_semicolon(REGION / "einwohner_gitter100m.csv")
    assert list(rows[0]) == ["GITTER_ID_100m", "x_mp_100m", "y_mp_100m", "Auslaender"]
    assert sum(int(r["Auslaender"]) for r in rows) == 12_590
    assert all(int(r["Auslaender"]) > 0 for r in rows)
    assert len({r["GITTER_ID_100m"] for r in rows}) == len(rows)
    xs, ys = [], []
    for r in rows:
        m = re.fullmatch(r"CRS3035RES100mN(\d+)E(\d+)", r["GITTER_ID_100m"])
        assert m, r["GITTER_ID_100m"]
        north, east = int(m.group(1)), int(m.group(2))
        assert north % 100 == 0 and east % 100 == 0
        assert int(r["x_mp_100m"]) == east + 50 and int(r["y_mp_100m"]) == north + 50
        xs.append(east + 50)
        ys.append(north + 50)
    assert shapely.contains_xy(_county("EPSG:3035"), xs, ys).all()


def test_grid_follows_zensus_2011() -> None:
    """Every published Zensus 2011 100 m cell inside the county is inhabited in the grid."""
    rows = _read_semicolon(REGION / "einwohner_gitter100m.csv")
    grid = {(int(r["x_mp_100m"]), int(r["y_mp_100m"])): int(r["Auslaender"]) for r in rows}
    with (REGION / "quellen" / "zensus2011_100m_auslaender_lk_rotenburg.csv").open(encoding="utf-8") as fh:
        census = [(int(r["x"]), int(r["y"]), int(r["value"])) for r in csv.DictReader(fh)]
    inside = shapely.contains_xy(_county("EPSG:3035"), [c[0] for c in census], [c[1] for c in census])
    kept = [c for c, ok in zip(census, inside, strict=True) if ok]
    assert len(kept) >= 900
    assert all((x, y) in grid for x, y, _ in kept)
    # scaled from the 2011 pattern (about 5,480 persons) to 12,590: every cell at least doubles
    assert all(grid[(x, y)] >= 2 * v for x, y, v in kept)


# --------------------------------------------------------------------------- courses, sites
def test_kurse_columns_and_values() -> None:
    with (REGION / "kurse.csv").open(encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh, delimiter=";"))
    assert header == COURSE_COLUMNS
    rows = _read_semicolon(REGION / "kurse.csv")
    assert 12 <= len(rows) <= 20
    levels = {"Alpha", "A1", "A2", "B1", "B2", "C1"}
    kinds = {"integrationskurs", "alphabetisierung", "eltern_frauen", "jugend", "beruf", "landkreis", "online"}
    days = {"Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"}
    county = _county("EPSG:4326")
    for r in rows:
        assert re.fullmatch(r"K\d{3}", r["kurs_id"])
        assert set(r["niveaus"].split(", ")) <= levels
        assert r["kursart"] in kinds
        assert set(r["wochentage"].split(", ")) <= days
        assert re.fullmatch(r"\d\d:\d\d", r["beginn"]) and re.fullmatch(r"\d\d:\d\d", r["ende"])
        assert "2027-01-11" <= r["erster_tag"] <= r["letzter_tag"] <= "2027-06-30"
        limit = 20 if r["kursart"] in {"alphabetisierung", "eltern_frauen", "jugend"} else 25
        assert 0 <= int(r["freie_plaetze"]) <= int(r["plaetze"]) <= limit
        assert r["kinderbetreuung"] in {"ja", "nein"}
        assert r["hinweis"] == "Beispiel (modelliert), kein reales Kursangebot"
        assert r["traeger"].startswith("Beispiel")
        if r["kursart"] == "online":
            assert r["lat"] == r["lon"] == ""
        else:
            assert county.contains(shapely.Point(float(r["lon"]), float(r["lat"])))
    assert sum(r["kursart"] == "online" for r in rows) == 1
    assert any(int(r["freie_plaetze"]) == 0 for r in rows)


def test_kurse_match_project_schema() -> None:
    schema = pytest.importorskip("coverage.inputs.schema")
    assert set(schema.COURSE_COLUMNS) <= set(COURSE_COLUMNS)


def test_standorte() -> None:
    rows = _read_semicolon(REGION / "standorte.csv")
    assert list(rows[0]) == ["standort_id", "name", "lat", "lon", "art", "verfuegbar"]
    assert [r["standort_id"] for r in rows] == [f"S{i:03d}" for i in range(1, 58)]
    assert sum(r["name"] == "Bülstedt (Gemeindemitte, modelliert)" for r in rows) == 1
    assert {r["art"] for r in rows} == {"hauptort"}
    county = _county("EPSG:4326")
    assert all(county.contains(shapely.Point(float(r["lon"]), float(r["lat"]))) for r in rows)


# --------------------------------------------------------------------------- street network
def test_osm_network_loads_as_one_component() -> None:
    path = REGION / "strassennetz.osm.bz2"
    xml = bz2.decompress(path.read_bytes()).decode("utf-8")
    assert 'generator="kursatlas build_rotenburg.py (modelliert)"' in xml
    assert "<bounds " in xml
    n_nodes = xml.count("<node ")
    n_ways = xml.count("<way ")
    assert 10_000 <= n_nodes <= 30_000
    assert xml.count('<tag k="note" v="modelliert"/>') == n_ways
    assert 'k="oneway" v="yes"' not in xml
    graph = ox.graph_from_xml(path, simplify=False, retain_all=False)
    assert graph.number_of_nodes() == n_nodes  # nothing dropped as a side component
    assert nx.number_weakly_connected_components(graph) == 1
    highways = {d["highway"] for _, _, d in graph.edges(data=True)}
    assert {"residential", "secondary", "tertiary", "unclassified"} <= highways


# --------------------------------------------------------------------------- GTFS
def _secs(hms: str) -> int:
    h, m, s = (int(v) for v in hms.split(":"))
    return h * 3600 + m * 60 + s


def test_gtfs_files_and_references() -> None:
    feed = _gtfs(REGION / "gtfs_modell.zip")
    assert set(GTFS_FILES) <= set(feed)
    stops = {r["stop_id"] for r in feed["stops.txt"]}
    trips = {r["trip_id"]: r for r in feed["trips.txt"]}
    routes = {r["route_id"]: r for r in feed["routes.txt"]}
    services = {r["service_id"] for r in feed["calendar.txt"]}
    assert services == {"werktag", "samstag", "sonntag", "schultag"}
    # real stops (DB InfraGO ids), prefixed so that no modelled trip passes as a real one
    real = {}
    for name in ("haltestellen_lk_rotenburg.csv", "haltestellen_umgebung_8.9_52.9_9.9_53.6.csv"):
        with (REGION / "quellen" / name).open(encoding="utf-8") as fh:
            real.update({r["id"]: r for r in csv.DictReader(fh)})
    for row in feed["stops.txt"]:
        assert row["stop_id"].startswith("mod:")
        src = real[row["stop_id"].removeprefix("mod:")]
        assert row["stop_name"] == src["name"] and row["stop_code"] == src["ifopt"]
        assert "Fahrten modelliert" in row["stop_desc"]
    rail_stops = {r["stop_id"] for r in feed["stop_times.txt"] if trips[r["trip_id"]]["route_id"].startswith("MB")}
    with (REGION / "quellen" / "haltestellen_lk_rotenburg.csv").open(encoding="utf-8") as fh:
        county_rail = {f"mod:{r['id']}" for r in csv.DictReader(fh) if r["regional"] == "True"}
    assert len(county_rail) == 9 and county_rail <= rail_stops  # every real station of the county has trains
    assert {r["route_type"] for r in routes.values()} == {"2", "3"}
    assert all(t["route_id"] in routes and t["service_id"] in services for t in trips.values())
    st = feed["stop_times.txt"]
    assert all(r["stop_id"] in stops and r["trip_id"] in trips for r in st)
    assert {r["trip_id"] for r in st} == set(trips)
    assert {r["stop_id"] for r in st} == stops
    keys = [(r["trip_id"], int(r["stop_sequence"])) for r in st]
    assert keys == sorted(keys)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", r[c]) for r in st for c in ("arrival_time", "departure_time"))
    late = {r["trip_id"] for r in st if _secs(r["arrival_time"]) >= 24 * 3600}
    assert len(late) == 1
    (agency,) = feed["agency.txt"]
    assert agency["agency_timezone"] == "Europe/Berlin" and "(modelliert)" in agency["agency_name"]
    (info,) = feed["feed_info.txt"]
    assert "Modellfahrplan, keine realen Fahrten" in info["feed_publisher_name"]
    assert "Modellfahrplan, keine realen Fahrten" in agency["agency_name"]
    assert (info["feed_start_date"], info["feed_end_date"]) == ("20260801", "20270731")


def test_gtfs_calendar_holidays(builder: ModuleType) -> None:
    feed = _gtfs(REGION / "gtfs_modell.zip")
    removed = {(r["service_id"], r["date"]) for r in feed["calendar_dates.txt"] if r["exception_type"] == "2"}
    masks = {
        r["service_id"]: [r[d] for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")]
        for r in feed["calendar.txt"]
    }
    for day in builder.PUBLIC_HOLIDAYS:
        for svc, mask in masks.items():
            if mask[day.weekday()] == "1":
                assert (svc, day.strftime("%Y%m%d")) in removed, (svc, day)
    for _, first, last in builder.SCHOOL_HOLIDAYS:
        day = first
        while day <= last:
            if day.weekday() < 5:
                assert ("schultag", day.strftime("%Y%m%d")) in removed, day
            day += timedelta(days=1)
    assert ("schultag", date(2027, 1, 12).strftime("%Y%m%d")) not in removed
    assert not any(svc == "werktag" and d == "20270112" for svc, d in removed)


# --------------------------------------------------------------------------- config, docs
def test_region_toml_references_existing_files() -> None:
    cfg = tomllib.loads((REGION / "region.toml").read_text(encoding="utf-8"))
    assert cfg["region"]["name"] == "Modellregion Landkreis Rotenburg (Wümme)"
    for rel in (cfg["region"]["grenzen"], cfg["einwohner"]["datei"], cfg["kurse"]["datei"],
                cfg["standorte"]["datei"], cfg["netz"]["osm"], cfg["netz"]["gtfs"]):  # fmt: skip
        assert (REGION / rel).is_file(), rel
    sources = {d["datei"]: d for d in cfg["datenquellen"]}
    data = [f for f in DATA_FILES if not f.endswith((".md", ".toml"))]
    assert set(sources) == set(data)
    for d in sources.values():
        assert d["art"] in {"real", "modelliert"}
        assert d["namensnennung"]
        if d["art"] == "modelliert":
            assert d["namensnennung"] == "Modelldaten Kursatlas (modelliert, keine realen Angaben)"


def test_quellen_md_labels_every_file() -> None:
    text = (REGION / "QUELLEN.md").read_text(encoding="utf-8")
    for rel in DATA_FILES:
        if rel != "QUELLEN.md":
            assert Path(rel).name in text, rel
    assert "Bülstedt" in text and "MODELLIERT" in text and "Schulferien sind MODELLIERT" in text
    assert "real (Zensus 2011), skaliert (Annahme)" in text
