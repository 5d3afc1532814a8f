"""Tests of the modelled Rufbus of the model region (``data/rotenburg/rufbus_modell.zip``, issue #17)."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from coverage.inputs.config import load_config
from coverage.transit.flex import FlexFeed, load_flex, merge_connections
from coverage.transit.gtfs import Feed, load_gtfs

REPO = Path(__file__).resolve().parent.parent
REGION = REPO / "data" / "rotenburg"
FLEX = REGION / "rufbus_modell.zip"
FIXED = REGION / "gtfs_modell.zip"
SOURCE = REGION / "quellen" / "haltestellen_lk_rotenburg.csv"
FLEX_FILES = [
    "agency.txt", "stops.txt", "routes.txt", "trips.txt", "location_groups.txt", "location_group_stops.txt",
    "booking_rules.txt", "stop_times.txt", "calendar.txt", "calendar_dates.txt", "feed_info.txt",
]  # fmt: skip
WEEKDAY, SATURDAY, SUNDAY, HOLIDAY = (
    dt.date(2027, 1, 12),
    dt.date(2027, 1, 16),
    dt.date(2027, 1, 17),
    dt.date(2027, 5, 6),
)


def _tables(path: Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(path) as zf:
        return {n: list(csv.DictReader(io.StringIO(zf.read(n).decode("utf-8")))) for n in zf.namelist()}


def _source() -> dict[str, dict[str, str]]:
    with SOURCE.open(encoding="utf-8", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def fixed() -> Feed:
    return load_gtfs(FIXED)


@pytest.fixture(scope="module")
def flex(fixed: Feed) -> FlexFeed:
    return load_flex(FLEX, stops=fixed.stops)


def test_files_and_flex_v2_names() -> None:
    with zipfile.ZipFile(FLEX) as zf:
        assert zf.namelist() == FLEX_FILES
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
    t = _tables(FLEX)
    st = t["stop_times.txt"]
    assert {"start_pickup_drop_off_window", "end_pickup_drop_off_window", "location_group_id"} <= set(st[0])
    assert "arrival_time" not in st[0] and "start_pickup_dropoff_window" not in st[0]
    (rule,) = t["booking_rules.txt"]
    assert (rule["booking_type"], rule["prior_notice_duration_min"]) == ("1", "60")
    assert {r["route_type"] for r in t["routes.txt"]} == {"715"}
    windows = {(r["trip_id"].rsplit("-", 1)[1], r["start_pickup_drop_off_window"], r["end_pickup_drop_off_window"])
               for r in st}  # fmt: skip
    assert windows == {("werktag", "06:00:00", "21:00:00"), ("samstag", "08:00:00", "18:00:00")}
    for name, rows in t.items():  # sorted rows (deterministic)
        key = {"stop_times.txt": lambda r: (r["trip_id"], int(r["stop_sequence"]))}.get(
            name, lambda r: list(r.values())
        )
        assert rows == sorted(rows, key=key), name


def test_loads_with_load_flex(flex: FlexFeed, fixed: Feed) -> None:
    assert flex.warnings == []
    assert len(flex.zones) == 11 and len(flex.services) == 22
    assert flex.date_range == (dt.date(2026, 8, 1), dt.date(2027, 7, 31))  # both Saturdays
    alone = load_flex(FLEX)  # self-contained: the feed carries every stop it names
    assert alone.zones == flex.zones
    rule = flex.booking_rules["modell-vorlauf-60"]
    assert (rule.booking_type, rule.prior_notice_min, rule.phone, rule.booking_url) == (1, 60, "", "")
    assert "modelliert" in rule.message


def test_zone_stops_are_real_taxi_stops_or_fixed_stops(flex: FlexFeed, fixed: Feed) -> None:
    src = _source()
    fixed_ids = set(fixed.stops["stop_id"].astype(str))
    taxi_ids = {f"mod:{k}" for k, r in src.items() if r["taxi"] == "True"}
    zone_stops = [s for stops in flex.zones.values() for s in stops]
    assert len(zone_stops) == len(set(zone_stops))  # every stop in one zone only
    assert all(s in taxi_ids or s in fixed_ids for s in zone_stops)
    # stop rows: real names and DHIDs; the same coordinates as the fixed feed where the id is shared
    t = _tables(FLEX)
    fixed_rows = {r["stop_id"]: r for r in _tables(FIXED)["stops.txt"]}
    for row in t["stops.txt"]:
        real = src.get(row["stop_id"].removeprefix("mod:"))
        if real is not None:
            assert (row["stop_name"], row["stop_code"]) == (real["name"], real["ifopt"])
        if row["stop_id"] in fixed_rows:
            f = fixed_rows[row["stop_id"]]
            assert (row["stop_lat"], row["stop_lon"], row["stop_name"]) == (
                f["stop_lat"],
                f["stop_lon"],
                f["stop_name"],
            )
        assert row["stop_desc"].endswith("Rufbus-Bedienung modelliert")
        assert ("Rufbus/AST" in row["stop_desc"]) == (row["stop_id"] in taxi_ids)


def test_all_taxi_stops_in_county_are_used_and_zones_follow_mk(flex: FlexFeed, fixed: Feed) -> None:
    # independent count from the raw CSV
    county = gpd.read_file(REGION / "grenzen_vg250.gpkg", layer="landkreis").geometry.iloc[0]
    mk = gpd.read_file(REGION / "grenzen_vg250.gpkg", layer="mitgliedskommunen")
    tr = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
    with SOURCE.open(encoding="utf-8", newline="") as fh:
        taxi = [r for r in csv.DictReader(fh) if r["taxi"].strip().lower() == "true"]
    assert len(taxi) == 209
    x, y = tr.transform([float(r["lon"]) for r in taxi], [float(r["lat"]) for r in taxi])
    inside = shapely.contains_xy(county, np.asarray(x), np.asarray(y))
    expected = {f"mod:{r['id']}" for r, ok in zip(taxi, inside, strict=True) if ok}
    used = {s for stops in flex.zones.values() for s in stops} & {f"mod:{r['id']}" for r in taxi}
    assert len(used) == len(expected) and used == expected
    # each zone = one MK with taxi stops: its taxi stops plus every fixed-feed stop inside it
    xy = flex.stops.set_index("stop_id")[["x", "y"]]
    fx = fixed.stops.set_index("stop_id")
    fxx, fxy = tr.transform(fx["stop_lon"].to_numpy(), fx["stop_lat"].to_numpy())
    for gid, stops in flex.zones.items():
        ars = gid.removeprefix("rufbus:")
        (geom,) = mk.loc[mk["ARS"] == ars, "geometry"]
        pts = xy.loc[list(stops)]
        assert shapely.intersects_xy(geom.buffer(1.0), pts["x"], pts["y"]).all(), gid
        assert set(stops) & expected, gid
        fixed_in = {
            s
            for s, a, b in zip(fx.index.astype(str), fxx, fxy, strict=True)
            if shapely.contains_xy(geom.buffer(-1.0), a, b)
        }
        assert fixed_in <= set(stops), gid
    mk_with_taxi = {
        a
        for a, g in zip(mk["ARS"], mk.geometry, strict=True)
        if shapely.intersects_xy(g, np.asarray(x), np.asarray(y)).any()
    }
    assert {g.removeprefix("rufbus:") for g in flex.zones} == mk_with_taxi


def test_connections_by_day(flex: FlexFeed, fixed: Feed) -> None:
    counts = {}
    for day in (WEEKDAY, SATURDAY, SUNDAY, HOLIDAY):
        fc = flex.connections(day, stop_ids=fixed.stop_ids)
        counts[day] = len(fc)
        if len(fc):
            assert set(fc.voranmeldung_min.tolist()) == {60.0} and fc.bedarf.all()
            merged = merge_connections(fixed.connections(day), fc)
            assert int(merged.bedarf.sum()) == len(fc)
            t = fc.connections
            start, end = (6, 21) if day.weekday() < 5 else (8, 18)
            assert t.board.any() and t.alight.any()
            assert t.dep_time[t.board].min() >= start * 3600 and t.dep_time[t.board].max() <= end * 3600
            assert t.arr_time[t.alight].min() >= start * 3600 and t.arr_time[t.alight].max() <= end * 3600
    assert counts[WEEKDAY] > counts[SATURDAY] > 0
    assert counts[SUNDAY] == counts[HOLIDAY] == 0


def test_labels_say_modelliert() -> None:
    t = _tables(FLEX)
    (agency,) = t["agency.txt"]
    assert agency["agency_name"] == "Modell-Rufbus, keine reale Bedienung (modelliert)"
    (info,) = t["feed_info.txt"]
    assert "(modelliert)" in info["feed_publisher_name"]
    assert (info["feed_start_date"], info["feed_end_date"]) == ("20260801", "20270731")
    assert all("(modelliert)" in r["route_long_name"] for r in t["routes.txt"])
    assert all("(modelliert)" in r["location_group_name"] for r in t["location_groups.txt"])
    cfg = tomllib.loads((REGION / "region.toml").read_text(encoding="utf-8"))
    assert cfg["netz"]["rufbus_flex"] == "rufbus_modell.zip"
    (src,) = [d for d in cfg["datenquellen"] if d["datei"] == "rufbus_modell.zip"]
    assert src["art"] == "modelliert" and "keine reale Bedienung" in src["quelle"]
    text = (REGION / "QUELLEN.md").read_text(encoding="utf-8")
    assert "## `rufbus_modell.zip` – Rufbus (Haltestellen REAL, Bedienung MODELLIERT)" in text
    assert "209 der 892 Haltestellen" in text


def test_region_file_points_to_the_feed() -> None:
    cfg = load_config(REGION / "region.toml")
    assert cfg.rufbus.flex == FLEX.resolve()


def test_holidays_from_fixed_feed() -> None:
    flex_exc = {(r["service_id"], r["date"]) for r in _tables(FLEX)["calendar_dates.txt"]}
    fixed_exc = {(r["service_id"], r["date"]) for r in _tables(FIXED)["calendar_dates.txt"]}
    assert flex_exc == {e for e in fixed_exc if e[0] in {"werktag", "samstag"}}
    assert ("werktag", HOLIDAY.strftime("%Y%m%d")) in flex_exc


def _builder() -> ModuleType:
    name = "build_rotenburg"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "data" / "build_rotenburg.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_rufbus_step_rebuilds_byte_identical(tmp_path: Path) -> None:
    b = _builder()
    raw = b.resolve_raw(REGION / "quellen", tmp_path)
    ctx = b.load_context(raw[b.BKG_NAME], raw[b.GEONAMES_NAME], raw[b.VG250_NAME])
    ctx.raw = raw
    shutil.copy(FIXED, tmp_path / "gtfs_modell.zip")
    b.build_rufbus(ctx, tmp_path)
    assert (tmp_path / "rufbus_modell.zip").read_bytes() == FLEX.read_bytes()
    assert ctx.stats["rufbus_zonen"] == 11 and ctx.stats["rufbus_haltestellen_taxi"] == 209
