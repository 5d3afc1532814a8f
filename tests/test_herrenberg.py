"""The real test region ``data/herrenberg``: full run, travel times against independent references, data checks.

Walking times are checked against networkx Dijkstra on a graph built here directly
from the OSM file with pyosmium (not with :mod:`coverage.network.streets`); public-transport
times against a brute-force fixpoint search over the merged GTFS feed read here with
:mod:`csv` (not with :mod:`coverage.transit.gtfs` or the Connection Scan in :mod:`coverage.transit.routing`).
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import itertools
import math
import shutil
import sys
import tomllib
import zipfile
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import holidays
import networkx as nx
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree

from coverage.inputs.config import load_config
from coverage.inputs.load import load_inputs
from coverage.traveltime import CourseTravelTimes, course_travel_times, load_networks
from coverage.workflow.pipeline import run

REPO = Path(__file__).resolve().parent.parent
REGION = REPO / "data" / "herrenberg"
BUILDER = REPO / "data" / "build_herrenberg.py"
SHARED = Path("/work/shared/data")
OSM = REGION / "strassennetz_otp_deufringen.osm.pbf"
GTFS = REGION / "gtfs_vvs_751_764.zip"
ATTRIBUTIONS = (
    "© OpenStreetMap-Mitwirkende (ODbL)",
    "Fahrplan: VVS",
    "Zensus 2011: © Statistische Ämter des Bundes und der Länder (dl-de/by-2-0)",
)
EARTH_RADIUS_M = 6_371_009.0
TOL_MIN = 0.02  # minutes (float32 storage, metre rounding)

needs_raw = pytest.mark.skipif(not SHARED.is_dir(), reason="Rohdaten /work/shared/data fehlen")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the region with outputs inside the temp folder, run once with proposals."""
    base = tmp_path_factory.mktemp("herrenberg")
    shutil.copytree(REGION, base / "region", ignore=shutil.ignore_patterns(".kursatlas-cache"))
    toml = base / "region" / "region.toml"
    text = toml.read_text(encoding="utf-8").replace('karten = "../../maps/herrenberg"', 'karten = "../karten"')
    toml.write_text(
        text.replace('ergebnisse = "../../results/herrenberg"', 'ergebnisse = "../ergebnisse"'), encoding="utf-8"
    )
    run(load_config(toml), proposals=True)
    return toml


@pytest.fixture(scope="module")
def kursatlas_times(region: Path) -> tuple[CourseTravelTimes, gpd.GeoDataFrame, gpd.GeoDataFrame, object]:
    """Kursatlas travel times: Zensus cells × example courses, all modes."""
    config = load_config(region)
    inputs = load_inputs(config)
    nets = load_networks(config, inputs.region)
    tt = course_travel_times(inputs.residents, inputs.courses, networks=nets, params=config.parameter)
    return tt, inputs.residents, inputs.courses, config.parameter


# --------------------------------------------------------------------------- independent walking graph

_EXCLUDED = {
    "abandoned", "bus_guideway", "busway", "construction", "disused", "emergency_bay", "escape", "motorway",
    "motorway_link", "no", "planned", "platform", "proposed", "raceway", "razed", "rest_area", "services",
    "trunk", "trunk_link", "cycleway",
}  # fmt: skip


def _walkable(tags: dict[str, str]) -> bool:
    """Documented walking rule (README: Fußwege ohne Einbahnstraßen), restated for the reference graph."""
    hw = tags.get("highway")
    if hw is None or tags.get("area") == "yes" or tags.get("foot") in {"no", "use_sidepath"}:
        return False
    allowed = tags.get("foot") in {"yes", "designated", "permissive", "official"}
    if not allowed and (tags.get("access") in {"private", "no"} or tags.get("service") == "private"):
        return False
    return allowed or hw not in _EXCLUDED


def _haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


class WalkGraph:
    """Largest component of the walkable OSM ways, undirected, great-circle lengths, with a nearest-node snap."""

    def __init__(self, path: Path, speed_m_s: float) -> None:
        graph = nx.Graph()
        coords: dict[int, tuple[float, float]] = {}
        for way in (
            osmium.FileProcessor(str(path)).with_locations().with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        ):
            if not _walkable({t.k: t.v for t in way.tags}):
                continue
            nodes = [(n.ref, n.lon, n.lat) for n in way.nodes]
            for (a, lon_a, lat_a), (b, lon_b, lat_b) in itertools.pairwise(nodes):
                coords[a], coords[b] = (lon_a, lat_a), (lon_b, lat_b)
                if a == b:
                    continue
                length = _haversine(lon_a, lat_a, lon_b, lat_b)
                if not graph.has_edge(a, b) or graph[a][b]["length"] > length:
                    graph.add_edge(a, b, length=length)
        keep = max(nx.connected_components(graph), key=len)
        self.graph = graph.subgraph(keep).copy()
        self.nodes = np.array(sorted(keep))
        to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
        x, y = to_utm.transform([coords[n][0] for n in self.nodes], [coords[n][1] for n in self.nodes])
        self.tree = cKDTree(np.column_stack([x, y]))
        self.speed = speed_m_s
        self._sp: dict[int, dict[int, float]] = {}

    def snap(self, x: float, y: float) -> tuple[int, float]:
        """Nearest node and the seconds walked to it."""
        d, i = self.tree.query([x, y])
        return int(self.nodes[i]), float(d) / self.speed

    def seconds(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        """Door-to-door walking seconds between two points (EPSG:25832)."""
        na, sa = self.snap(*a)
        nb, sb = self.snap(*b)
        if na not in self._sp:
            self._sp[na] = nx.single_source_dijkstra_path_length(self.graph, na, weight="length")
        return self._sp[na].get(nb, math.inf) / self.speed + sa + sb


@pytest.fixture(scope="module")
def walk_graph(kursatlas_times: tuple) -> WalkGraph:
    params = kursatlas_times[3]
    return WalkGraph(OSM, params.geh_m_s)


# --------------------------------------------------------------------------- brute-force timetable


def _secs(hms: str) -> int:
    h, m, s = (int(v) for v in hms.split(":"))
    return 3600 * h + 60 * m + s


def _read_feed(path: Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(path) as zf:
        return {n: list(csv.DictReader(io.TextIOWrapper(zf.open(n), encoding="utf-8-sig"))) for n in zf.namelist()}


class BruteTimetable:
    """Trips of one GTFS feed as lists of (stop, arrival s, departure s, board ok, alight ok) per service day."""

    def __init__(self, path: Path) -> None:
        feed = _read_feed(path)
        self.calendar = {r["service_id"]: r for r in feed["calendar.txt"]}
        self.exceptions = {(r["service_id"], r["date"]): r["exception_type"] for r in feed["calendar_dates.txt"]}
        self.trip_service = {r["trip_id"]: r["service_id"] for r in feed["trips.txt"]}
        to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
        self.stop_xy = {
            r["stop_id"]: to_utm.transform(float(r["stop_lon"]), float(r["stop_lat"])) for r in feed["stops.txt"]
        }
        rows: dict[str, list[dict[str, str]]] = defaultdict(list)
        for r in feed["stop_times.txt"]:
            rows[r["trip_id"]].append(r)
        self.trips = {
            t: [
                (
                    r["stop_id"],
                    _secs(r["arrival_time"]),
                    _secs(r["departure_time"]),
                    r.get("pickup_type", "") in {"", "0"},
                    r.get("drop_off_type", "") in {"", "0"},
                )
                for r in sorted(rs, key=lambda r: int(r["stop_sequence"]))
            ]
            for t, rs in rows.items()
        }

    def active(self, day: dt.date) -> frozenset[str]:
        """Trip ids running on ``day`` (calendar plus calendar_dates)."""
        key = day.strftime("%Y%m%d")
        weekday = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[day.weekday()]
        services = set()
        for sid, c in self.calendar.items():
            if c["start_date"] <= key <= c["end_date"] and c[weekday] == "1":
                services.add(sid)
        for (sid, d), kind in self.exceptions.items():
            if d == key:
                if kind == "1":
                    services.add(sid)
                else:
                    services.discard(sid)
        return frozenset(t for t, s in self.trip_service.items() if s in services)


def brute_latest(
    tt: BruteTimetable, trips: frozenset[str], target: dict[str, float], fp: dict[str, dict[str, float]], since: float
) -> dict[str, float]:
    """Latest time at each stop from which the targets are reached in time (fixpoint over all trip segments)."""
    at_stop = dict(target)  # latest time to stand at a stop: board a trip there or the target itself

    def with_walk() -> dict[str, float]:
        out = dict(at_stop)
        for a, near in fp.items():
            for b, s in near.items():
                if b in at_stop:
                    out[a] = max(out.get(a, -math.inf), at_stop[b] - s)
        return out

    changed = True
    while changed:
        changed = False
        reach = with_walk()
        for t in trips:
            seq = tt.trips[t]
            for i, (si, _, dep_i, board, _) in enumerate(seq):
                if not board or dep_i < since:
                    continue
                for sj, arr_j, _, _, alight in seq[i + 1 :]:
                    if alight and arr_j <= reach.get(sj, -math.inf) and dep_i > at_stop.get(si, -math.inf):
                        at_stop[si] = dep_i
                        changed = True
    return with_walk()


def brute_earliest(
    tt: BruteTimetable, trips: frozenset[str], source: dict[str, float], fp: dict[str, dict[str, float]], until: float
) -> dict[str, float]:
    """Earliest arrival at each stop after leaving from the sources (fixpoint over all trip segments)."""
    at_stop = dict(source)

    def with_walk() -> dict[str, float]:
        out = dict(at_stop)
        for a, near in fp.items():
            for b, s in near.items():
                if a in at_stop:
                    out[b] = min(out.get(b, math.inf), at_stop[a] + s)
        return out

    changed = True
    while changed:
        changed = False
        reach = with_walk()
        for t in trips:
            seq = tt.trips[t]
            for i, (si, _, dep_i, board, _) in enumerate(seq):
                if not board or dep_i < reach.get(si, math.inf):
                    continue
                for sj, arr_j, _, _, alight in seq[i + 1 :]:
                    if alight and arr_j <= until and arr_j < at_stop.get(sj, math.inf):
                        at_stop[sj] = arr_j
                        changed = True
    return with_walk()


def _course_days(first: dt.date, last: dt.date, weekdays: set[int]) -> list[dt.date]:
    feiertage = holidays.Germany(subdiv="BW", years=range(first.year, last.year + 1))
    days, d = [], first
    while d <= last:
        if d.weekday() in weekdays and d not in feiertage:
            days.append(d)
        d += dt.timedelta(days=1)
    return days


# --------------------------------------------------------------------------- (1) full run


def test_full_run_writes_maps_tables_report_with_attribution(region: Path) -> None:
    out = region.parent.parent
    res, karten = out / "ergebnisse", out / "karten"
    for name in ("luecken.csv", "luecken.xlsx", "kursatlas.gpkg", "bericht.html", "vorschlaege.csv"):
        assert (res / name).is_file(), name
    assert (karten / "uebersicht.html").is_file() and (karten / "mk_000000001.html").is_file()
    gaps = pd.read_csv(res / "luecken.csv", sep=";", decimal=",", encoding="utf-8-sig")
    assert len(gaps) == 6
    for path in (karten / "uebersicht.html", res / "bericht.html"):
        text = path.read_text(encoding="utf-8")
        for line in ATTRIBUTIONS:
            assert line in text, (path.name, line)
        assert "Modelldaten" in text, path.name


# --------------------------------------------------------------------------- (2) travel times


def test_walking_times_equal_networkx_dijkstra(kursatlas_times: tuple, walk_graph: WalkGraph) -> None:
    tt, residents, courses, params = kursatlas_times
    hin, rueck = tt.mode("fuss")
    limit_min = max(g.max_minuten for g in params.gruppen.values()) + params.sensitivitaet_min
    checked = 0
    for c, course in enumerate(courses.itertuples()):
        site = (course.geometry.x, course.geometry.y)
        for o, origin in enumerate(residents.geometry):
            ref = walk_graph.seconds((origin.x, origin.y), site) / 60.0
            got = float(hin[o, c])
            assert float(rueck[o, c]) == got  # walking is symmetric
            if ref > limit_min - TOL_MIN:
                assert not got < limit_min - TOL_MIN, (course.kurs_id, o, got, ref)
                continue
            assert got == pytest.approx(ref, abs=TOL_MIN), (course.kurs_id, o)
            checked += 1
    assert checked >= len(residents)  # most pairs are within walking range in this small area


def _pt_reference(
    tt_ref: BruteTimetable,
    walk: WalkGraph,
    area: shapely.Geometry,
    origin: tuple[float, float],
    course: object,
    params: object,
    memo: dict[tuple[object, ...], object],
) -> tuple[float, float]:
    """Brute-force (hin, rueck) minutes by bus (with walking), worst course day, before taking walking into account.

    ``memo`` keeps what does not depend on the origin (active trips of a day, stop times of a course and day).
    """
    access_s = params.max_zugang_min * 60.0
    transfer_s = params.max_umstieg_m / params.geh_m_s
    horizon = (max(g.max_minuten for g in params.gruppen.values()) + params.sensitivitaet_min) * 60.0
    site = (course.geometry.x, course.geometry.y)
    stops = {s: xy for s, xy in tt_ref.stop_xy.items() if area.contains(shapely.Point(xy))}
    egress = {s: w for s in stops if (w := walk.seconds(site, stops[s])) <= access_s}
    access = {s: w for s in stops if (w := walk.seconds(origin, stops[s])) <= access_s}
    fp: dict[str, dict[str, float]] = defaultdict(dict)
    for a in stops:
        for b in stops:
            if a != b and (w := walk.seconds(stops[a], stops[b])) <= transfer_s:
                fp[a][b] = w
    start, end = course.beginn * 60.0, course.ende * 60.0
    names = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")
    weekdays = {w if isinstance(w, (int, np.integer)) else names.index(w) for w in course.wochentage}
    worst_hin, worst_rueck = -math.inf, -math.inf
    seen: dict[frozenset[str], tuple[float, float]] = {}
    for day in _course_days(course.erster_tag, course.letzter_tag, weekdays):
        if ("tage", day) not in memo:
            memo[("tage", day)] = tt_ref.active(day)
        trips = memo[("tage", day)]
        if trips not in seen:
            key = ("kurs", course.kurs_id, trips)
            if key not in memo:
                memo[key] = (
                    brute_latest(tt_ref, trips, {s: start - w for s, w in egress.items()}, fp, start - horizon),
                    brute_earliest(tt_ref, trips, {s: end + w for s, w in egress.items()}, fp, end + horizon),
                )
            latest, earliest = memo[key]
            leave = max((latest[s] - a for s, a in access.items() if s in latest), default=-math.inf)
            arrive = min((earliest[s] + a for s, a in access.items() if s in earliest), default=math.inf)
            seen[trips] = (start - leave, arrive - end)
        h, r = seen[trips]
        worst_hin, worst_rueck = max(worst_hin, h), max(worst_rueck, r)
    return worst_hin / 60.0, worst_rueck / 60.0


def _as_date(value: object) -> dt.date:
    return pd.Timestamp(value).date()


def test_transit_times_equal_brute_force_over_the_merged_feed(kursatlas_times: tuple, walk_graph: WalkGraph) -> None:
    tt, residents, courses, params = kursatlas_times
    hin, rueck = tt.mode("oepnv")
    walk_hin, _ = tt.mode("fuss")
    ref_tt = BruteTimetable(GTFS)
    memo: dict[tuple[object, ...], object] = {}
    # the analysis area: study area plus puffer_km (README: stops and trips are used only there)
    cfg = tomllib.loads((REGION / "region.toml").read_text(encoding="utf-8"))
    area = gpd.read_file(REGION / "untersuchungsgebiet.gpkg", layer="landkreis").to_crs(25832).geometry.iloc[0]
    area = area.buffer(cfg["region"]["puffer_km"] * 1000.0)
    limit_min = max(g.max_minuten for g in params.gruppen.values()) + params.sensitivitaet_min
    picks = range(len(residents))  # every Zensus cell of the area
    faster_by_bus = 0
    compared: list[tuple[str, int, float, float, float]] = []
    for c, course in enumerate(courses.itertuples()):
        course = course._replace(erster_tag=_as_date(course.erster_tag), letzter_tag=_as_date(course.letzter_tag))
        for o in picks:
            origin = residents.geometry.iloc[o]
            walk_min = walk_graph.seconds((origin.x, origin.y), (course.geometry.x, course.geometry.y)) / 60.0
            if walk_min > limit_min:
                walk_min = math.inf
            bus_h, bus_r = _pt_reference(ref_tt, walk_graph, area, (origin.x, origin.y), course, params, memo)
            exp_h, exp_r = min(walk_min, bus_h), min(walk_min, bus_r)
            for got, exp in ((float(hin[o, c]), exp_h), (float(rueck[o, c]), exp_r)):
                if exp > limit_min:
                    assert not got < limit_min - TOL_MIN, (course.kurs_id, o, got, exp)
                else:
                    assert got == pytest.approx(exp, abs=TOL_MIN), (course.kurs_id, o, got, exp)
            compared.append((course.kurs_id, o, exp_h, exp_r, walk_min))
            faster_by_bus += bool(bus_h < walk_min - 0.5 and float(walk_hin[o, c]) > float(hin[o, c]) + 0.5)
    assert faster_by_bus > 0, "some trip to a course is faster by bus than on foot"
    # the comparison is not vacuous: many finite times, also on the way home
    assert sum(math.isfinite(h) and h <= limit_min for _, _, h, _, _ in compared) >= len(compared) // 2
    assert sum(r < w - 0.5 for _, _, _, r, w in compared) > 0, "some way home is faster by bus"


# --------------------------------------------------------------------------- (3) data checks


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_herrenberg", BUILDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_herrenberg"] = module
    spec.loader.exec_module(module)
    return module


@needs_raw
def test_committed_files_equal_a_fresh_build(tmp_path: Path) -> None:
    builder = _load_builder()
    builder.build(tmp_path)
    committed = sorted(p.name for p in REGION.iterdir() if p.is_file() and p.name not in {"region.toml", "QUELLEN.md"})
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        if name.endswith(".gpkg"):
            for layer in ("landkreis", "mitgliedskommunen", "gemeinden"):
                a = gpd.read_file(REGION / name, layer=layer)
                b = gpd.read_file(tmp_path / name, layer=layer)
                assert a.drop(columns="geometry").equals(b.drop(columns="geometry")), layer
                assert a.geometry.iloc[0].equals_exact(b.geometry.iloc[0], 1e-6), layer
        else:
            assert (REGION / name).read_bytes() == (tmp_path / name).read_bytes(), name


@needs_raw
def test_merged_feed_keeps_both_feeds_verbatim() -> None:
    merged = _read_feed(GTFS)
    names = ("vvs-bus-751-only.gtfs.zip", "vvs-bus-764-only.gtfs.zip")
    sources = [_read_feed(SHARED / "herrenberg" / f) for f in names]
    for name, rows in merged.items():
        as_set = {tuple(sorted((k, v) for k, v in r.items() if v != "")) for r in rows}
        union = {tuple(sorted((k, v) for k, v in r.items() if v != "")) for src in sources for r in src[name]}
        assert as_set == union, name
    assert len(merged["agency.txt"]) == 1
    assert len(merged["trips.txt"]) == 134 + 26
    assert {r["route_short_name"] for r in merged["routes.txt"]} == {"752", "764"}


def test_region_files_sources_and_sizes() -> None:
    cfg = tomllib.loads((REGION / "region.toml").read_text(encoding="utf-8"))
    by_file = {s["datei"]: s for s in cfg["datenquellen"]}
    assert {f for f, s in by_file.items() if s["art"] == "real"} == {
        "strassennetz_otp_deufringen.osm.pbf", "gtfs_vvs_751_764.zip", "einwohner_zensus2011_100m.csv",
    }  # fmt: skip
    assert {f for f, s in by_file.items() if s["art"] == "modelliert"} == {
        "untersuchungsgebiet.gpkg", "kurse.csv", "standorte.csv",
    }  # fmt: skip
    assert {s["namensnennung"] for s in by_file.values()} >= set(ATTRIBUTIONS)
    quellen = " ".join((REGION / "QUELLEN.md").read_text(encoding="utf-8").split())
    for name in [*by_file, "OTP_LICENSE"]:
        assert f"`{name}`" in quellen, name
        assert (REGION / name).is_file(), name
    for line in ATTRIBUTIONS:
        assert line in quellen
    assert "Zensus 2011" in quellen and "nicht** heutige Zahlen" in quellen
    assert "kein amtlicher Gemeindegrenzverlauf" in quellen
    assert sum(p.stat().st_size for p in REGION.iterdir() if p.is_file()) < 1_000_000
    kurse = list(csv.DictReader((REGION / "kurse.csv").open(encoding="utf-8"), delimiter=";"))
    assert 3 <= len(kurse) <= 5
    for k in kurse:
        assert "Beispiel" in k["kursname"] and k["traeger"] == "Beispielträger"
        assert "2020-02-02" <= k["erster_tag"] <= k["letzter_tag"] <= "2020-12-12"
    gitter = pd.read_csv(REGION / "einwohner_zensus2011_100m.csv", sep=";")
    assert list(gitter.columns) == ["Gitter_ID_100m", "x_mp_100m", "y_mp_100m", "Auslaender"]
    assert (gitter["Auslaender"] >= 3).all()


@needs_raw
def test_only_the_deufringen_extract_has_stops() -> None:
    """The reason for the study area (QUELLEN.md): no stop of either feed lies in the Herrenberg extract."""
    counts = _load_builder().stops_per_extract()
    assert counts == {
        "boeblingen-minimal.osm.pbf": {"vvs-bus-751-only.gtfs.zip": 5, "vvs-bus-764-only.gtfs.zip": 0},
        "deufringen-minimal.osm.pbf": {"vvs-bus-751-only.gtfs.zip": 0, "vvs-bus-764-only.gtfs.zip": 6},
        "herrenberg-minimal.osm.pbf": {"vvs-bus-751-only.gtfs.zip": 0, "vvs-bus-764-only.gtfs.zip": 0},
    }
