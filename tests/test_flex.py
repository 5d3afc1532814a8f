"""Tests of GTFS-Flex (coverage.transit.flex), declared on-demand trips and the [netz] rufbus_* keys."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import logging
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from coverage.errors import ConfigError, GTFSError
from coverage.inputs.config import OnDemandRules, load_config
from coverage.transit.flex import (
    FlexFeed,
    FlexService,
    extend_footpaths,
    load_flex,
    merge_connections,
)
from coverage.transit.gtfs import Connections, load_gtfs
from coverage.transit.ondemand import on_demand_trips
from coverage.transit.routing import Footpaths, earliest_arrival, latest_departure
from tests.conftest import write_tiny_region
from tests.test_transit import Timetable, _timetable, brute_earliest_arrival, brute_latest_departure

DATA = Path(__file__).parent / "data"
UCKERMARK = DATA / "uckermark_rufbus_flex_gtfs.zip"
CAIRNS = DATA / "cairns_gtfs_2014.zip"
INF = np.inf

# ---------------------------------------------------------------------------
# a tiny hand-computable flex feed
# ---------------------------------------------------------------------------

CX, CY = 600000.0, 5900000.0
# A, B at 3 km west/east of the centre, C, D at 4 km north/south: centroid = centre.
OFFSETS = {"A": (-3000.0, 0.0), "B": (3000.0, 0.0), "C": (0.0, 4000.0), "D": (0.0, -4000.0)}
_TO_WGS = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)


def _lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = _TO_WGS.transform(x, y)
    return float(lon), float(lat)


def _csv(rows: list[list[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def tiny_files() -> dict[str, str]:
    """Files of the hand-made feed: zone Z = {A, B, C, D}, 08:00–09:00 on weekdays of January 2024."""
    stops = [["stop_id", "stop_name", "stop_lat", "stop_lon"]]
    for sid, (dx, dy) in OFFSETS.items():
        lon, lat = _lonlat(CX + dx, CY + dy)
        stops.append([sid, f"Halt {sid}", f"{lat:.10f}", f"{lon:.10f}"])
    lon, lat = _lonlat(CX + 50000, CY)
    stops.append(["E", "Halt E (außerhalb)", f"{lat:.10f}", f"{lon:.10f}"])
    return {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n1,Test,https://example.org,Europe/Berlin\n",
        "stops.txt": _csv(stops),
        "routes.txt": "route_id,agency_id,route_short_name,route_type\nR1,1,RB 1,715\n",
        "trips.txt": "route_id,service_id,trip_id\nR1,WD,T1\n",
        "calendar.txt": (
            "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
            "WD,1,1,1,1,1,0,0,20240101,20240131\n"
        ),
        "calendar_dates.txt": "service_id,date,exception_type\nWD,20240103,2\nWD,20240106,1\n",
        "booking_rules.txt": (
            "booking_rule_id,booking_type,prior_notice_duration_min,prior_notice_last_day,prior_notice_last_time,"
            "message,phone_number\n"
            "H1,1,60,,,Bitte eine Stunde vorher anrufen,+49 1\n"
            "V1,2,,1,18:00:00,Bis 18 Uhr am Vortag,+49 2\n"
        ),
        "location_groups.txt": "location_group_id,location_group_name\nZ,Zone Z\n",
        "location_group_stops.txt": "location_group_id,stop_id\nZ,A\nZ,B\nZ,C\nZ,D\n",
        "stop_times.txt": (
            "trip_id,stop_sequence,location_group_id,start_pickup_drop_off_window,end_pickup_drop_off_window,"
            "pickup_type,drop_off_type,pickup_booking_rule_id,drop_off_booking_rule_id\n"
            "T1,1,Z,08:00:00,09:00:00,2,2,H1,H1\n"
        ),
    }


def write_feed(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def tiny(tmp_path) -> FlexFeed:
    return load_flex(write_feed(tmp_path / "tiny", tiny_files()))


# window 08:00–09:00, takt 10 min: hub times 28800 + 600 k; umweg 1.2 at 36 km/h = 10 m/s:
# τ(A) = τ(B) = 3000 * 1.2 / 10 = 360 s, τ(C) = τ(D) = 480 s
PARAMS = {"takt_min": 10.0, "umweg_faktor": 1.2, "geschwindigkeit_kmh": 36.0}
MONDAY = dt.date(2024, 1, 8)


def _idx(fc, sid: str) -> int:
    return int(np.flatnonzero(fc.stop_ids == sid)[0])


def test_tiny_model(tiny):
    (svc,) = tiny.services
    assert svc.route_short_name == "RB 1" and svc.route_type == 715 and svc.zone_ids == ("Z",)
    assert sorted(svc.stop_ids) == ["A", "B", "C", "D"]
    assert svc.window_s == (8 * 3600, 9 * 3600)
    hx, hy = svc.hub_xy
    assert hx == pytest.approx(CX, abs=1e-3) and hy == pytest.approx(CY, abs=1e-3)
    rule = tiny.booking_rules["H1"]
    assert (rule.booking_type, rule.prior_notice_min, rule.phone) == (1, 60, "+49 1")
    assert tiny.zones == {"Z": ("A", "B", "C", "D")}


def test_tiny_service_days_and_exceptions(tiny):
    assert tiny.services_on(dt.date(2024, 1, 2)) == [0]  # Tuesday
    assert tiny.services_on(dt.date(2024, 1, 3)) == []  # Wednesday removed by calendar_dates
    assert tiny.services_on(dt.date(2024, 1, 6)) == [0]  # Saturday added
    assert tiny.services_on(dt.date(2024, 1, 7)) == []  # Sunday
    assert tiny.services_on(dt.date(2024, 2, 1)) == []  # after end_date
    assert len(tiny.connections(dt.date(2024, 1, 3), **PARAMS)) == 0
    assert tiny.date_range == (dt.date(2024, 1, 1), dt.date(2024, 1, 31))


def test_tiny_window_edges_by_hand(tiny):
    fc = tiny.connections(MONDAY, **PARAMS)
    a, b, c = _idx(fc, "A"), _idx(fc, "B"), _idx(fc, "C")

    def ea(t0: float) -> np.ndarray:
        return earliest_arrival(fc.connections, sources={a: t0})

    # leaving A at 8:00: the first vehicle passes the hub at 8:10 (A departs 8:04, 28800 + 600 - 360)
    assert ea(28800)[b] == 29400 + 360
    assert ea(28800)[c] == 29400 + 480
    # exactly at a departure, and one second later (next vehicle, 10 min later)
    assert ea(29040)[b] == 29760
    assert ea(29041)[b] == 29760 + 600
    # the last ride to B reaches it by 09:00: hub 8:50 (31800), B at 31800 + 360 = 32160; to C 32280
    assert ea(31440)[b] == 32160
    assert ea(31440)[c] == 32280
    # later: the vehicle at 9:00 could not drop anybody before 09:00
    assert ea(31441)[b] == INF
    # no ride starts before the window: before 8:00 the first one is still the one at 8:04
    assert ea(20000)[b] == 29760
    # every pickup departs and every drop-off arrives inside the window
    conn = fc.connections
    assert conn.dep_time[conn.board].min() >= 28800 and conn.dep_time[conn.board].max() <= 32400
    assert conn.arr_time[conn.alight].min() >= 28800 and conn.arr_time[conn.alight].max() <= 32400
    # hubs: nobody boards or alights there
    hub = int(fc.hub_stop[0])
    assert not conn.alight[conn.arr_stop == hub].any() and not conn.board[conn.dep_stop == hub].any()
    assert fc.bedarf.all() and (fc.voranmeldung_min == 60).all()


def test_tiny_booking_type_2_lead_time(tmp_path):
    files = tiny_files()
    files["stop_times.txt"] = files["stop_times.txt"].replace(",H1,H1", ",V1,V1")
    fc = load_flex(write_feed(tmp_path / "v", files)).connections(MONDAY, **PARAMS)
    conn = fc.connections
    pick = conn.board
    # booking until 18:00 the day before: minutes from then to the departure
    expect = (conn.dep_time[pick] + 86400 - 18 * 3600) / 60.0
    np.testing.assert_allclose(fc.voranmeldung_min[pick], expect)
    # earliest pickup: C or D at 8:10 - 480 s = 28920
    assert fc.voranmeldung_min[pick].min() == pytest.approx((28920 + 86400 - 64800) / 60)


def test_tiny_feed_duration_formula(tmp_path):
    files = tiny_files()
    files["stop_times.txt"] = (
        "trip_id,stop_sequence,location_group_id,start_pickup_drop_off_window,end_pickup_drop_off_window,"
        "pickup_type,drop_off_type,mean_duration_factor,mean_duration_offset\n"
        "T1,1,Z,08:00:00,09:00:00,2,2,2.0,4\n"
    )
    fc = load_flex(write_feed(tmp_path / "m", files)).connections(MONDAY, **PARAMS)
    # τ(A) = 2 * 3000 / 10 + 4 min / 2 = 720 s; hub times 28800 + 600 k; first with departure ≥ 8:00: k = 2
    a, b = _idx(fc, "A"), _idx(fc, "B")
    arr = earliest_arrival(fc.connections, sources={a: 28800})
    assert arr[b] == 30000 + 720


def test_polygon_zone_and_empty_polygon_warning(tmp_path, caplog):
    files = tiny_files()
    ring = [_lonlat(CX + dx, CY + dy) for dx, dy in [(-3500, -500), (3500, -500), (3500, 500), (-3500, 500)]]
    empty = [_lonlat(CX + dx, CY + dy) for dx, dy in [(-100, 9000), (100, 9000), (100, 9200), (-100, 9200)]]
    gj = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": fid, "properties": {}, "geometry": {"type": "Polygon", "coordinates": [r]}}
            for fid, r in (("P", ring), ("LEER", empty))
        ],
    }
    files["locations.geojson"] = json.dumps(gj)
    files["stop_times.txt"] = (
        "trip_id,stop_sequence,location_id,start_pickup_drop_off_window,end_pickup_drop_off_window,"
        "pickup_type,drop_off_type\n"
        "T1,1,P,08:00:00,09:00:00,2,2\n"
        "T1,2,LEER,08:00:00,09:00:00,2,2\n"
    )
    with caplog.at_level(logging.WARNING, logger="coverage.transit.flex"):
        feed = load_flex(write_feed(tmp_path / "p", files))
    assert feed.zones == {"P": ("A", "B")}
    assert any("LEER" in w and "keine Haltestelle" in w for w in feed.warnings)
    assert any("LEER" in r.getMessage() for r in caplog.records)


def test_draft_column_names_equal_adopted(tmp_path, tiny):
    files = tiny_files()
    files["stop_times.txt"] = (
        "trip_id,stop_sequence,stop_id,start_pickup_dropoff_window,end_pickup_dropoff_window,pickup_type,drop_off_type\n"
        "T1,1,Z,08:00:00,09:00:00,2,2\n"
    )
    del files["location_group_stops.txt"]
    files["location_groups.txt"] = "location_group_id,location_id,location_group_name\nZ,A,Zone\nZ,B,\nZ,C,\nZ,D,\n"
    draft = load_flex(write_feed(tmp_path / "d", files)).connections(MONDAY, **PARAMS)
    new = tiny.connections(MONDAY, **PARAMS)
    for k in ("dep_stop", "arr_stop", "dep_time", "arr_time", "trip", "board", "alight"):
        np.testing.assert_array_equal(getattr(draft.connections, k), getattr(new.connections, k))


def test_zip_and_nested_folder(tmp_path, tiny):
    z = tmp_path / "f.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name, text in tiny_files().items():
            zf.writestr(f"feed/{name}", text)
    feed = load_flex(z)
    assert len(feed.connections(MONDAY, **PARAMS)) == len(tiny.connections(MONDAY, **PARAMS))


# ---------------------------------------------------------------------------
# validation messages
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "old", "new", "row", "column", "value", "text"),
    [
        ("booking_rules.txt", "H1,1,60", "H1,5,60", 2, "booking_type", "5", "0, 1, 2"),
        ("booking_rules.txt", "H1,1,60", "H1,1,", 2, "prior_notice_duration_min", None, "booking_type 1"),
        ("booking_rules.txt", "V1,2,,1,18:00:00", "V1,2,,1,", 3, "prior_notice_last_time", None, "booking_type 2"),
        (
            "stop_times.txt",
            "08:00:00,09:00:00",
            "08:00:00,8:61:00",
            2,
            "end_pickup_drop_off_window",
            "8:61:00",
            "HH:MM:SS",
        ),
        (
            "stop_times.txt",
            "08:00:00,09:00:00",
            "09:00:00,08:00:00",
            2,
            "end_pickup_drop_off_window",
            "08:00:00",
            "endet vor seinem Beginn",
        ),
        ("stop_times.txt", "08:00:00,09:00:00", "08:00:00,", 2, "end_pickup_drop_off_window", None, "gemeinsam"),
        ("stop_times.txt", ",2,2,H1,H1", ",0,2,H1,H1", 2, "pickup_type", "0", "1, 2 oder 3"),
        ("stop_times.txt", ",2,2,H1,H1", ",2,7,H1,H1", 2, "drop_off_type", "7", "0, 1, 2, 3"),
        ("stop_times.txt", ",2,2,H1,H1", ",2,2,H9,H1", 2, "pickup_booking_rule_id", "H9", "booking_rules.txt"),
        ("stop_times.txt", "T1,1,Z,", "T1,1,Y,", 2, "location_group_id", "Y", "location_groups.txt"),
        ("stop_times.txt", "T1,1,Z,", "T9,1,Z,", 2, "trip_id", "T9", "trips.txt"),
        ("location_group_stops.txt", "Z,C", "Z,X", 4, "stop_id", "X", "stops.txt"),
        ("calendar_dates.txt", "WD,20240106,1", "WD,20240106,3", 3, "exception_type", "3", "1, 2"),
        ("calendar.txt", "20240101,20240131", "20240101,20241331", 2, "end_date", "20241331", "JJJJMMTT"),
        ("trips.txt", "R1,WD,T1", "R1,XX,T1", 2, "service_id", "XX", "calendar.txt"),
    ],
)
def test_validation_messages(tmp_path, file, old, new, row, column, value, text):
    files = tiny_files()
    assert old in files[file]
    files[file] = files[file].replace(old, new)
    with pytest.raises(GTFSError) as info:
        load_flex(write_feed(tmp_path / "bad", files))
    err = info.value
    assert (err.file, err.row, err.column) == (file, row, column)
    if value is not None:
        assert err.value == value
    assert text in str(err)
    assert f"Datei {file}" in str(err) and f"Zeile {row}" in str(err)


def test_validation_geojson_and_missing_files(tmp_path):
    files = tiny_files()
    files["locations.geojson"] = json.dumps(
        {"type": "FeatureCollection", "features": [{"type": "Feature", "id": "P", "geometry": {"type": "Point"}}]}
    )
    with pytest.raises(GTFSError, match="Polygon und MultiPolygon") as info:
        load_flex(write_feed(tmp_path / "g", files))
    assert (info.value.file, info.value.row) == ("locations.geojson", 1)
    files = tiny_files()
    del files["trips.txt"]
    with pytest.raises(GTFSError, match="Pflichtdatei"):
        load_flex(write_feed(tmp_path / "m", files))
    with pytest.raises(GTFSError, match="nicht gefunden"):
        load_flex(tmp_path / "gibt-es-nicht.zip")


# ---------------------------------------------------------------------------
# the real Uckermark feed
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uckermark() -> FlexFeed:
    return load_flex(UCKERMARK)


def _raw(name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(UCKERMARK) as zf:
        return list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8-sig"))))


def test_uckermark_loads_with_expected_zones(uckermark):
    expected: dict[str, set[str]] = {}
    for r in _raw("location_groups.txt"):
        expected.setdefault(r["location_group_id"], set()).add(r["location_id"])
    assert {k: len(v) for k, v in uckermark.zones.items()} == {k: len(v) for k, v in expected.items()}
    assert {k: set(v) for k, v in uckermark.zones.items()} == expected
    trips = {r["trip_id"]: r for r in _raw("stop_times.txt")}
    assert {s.trip_id for s in uckermark.services} == set(trips)
    for s in uckermark.services:
        r = trips[s.trip_id]
        h0, m0, _ = map(int, r["start_pickup_dropoff_window"].split(":"))
        h1, m1, _ = map(int, r["end_pickup_dropoff_window"].split(":"))
        assert s.window_s == (h0 * 3600 + m0 * 60, h1 * 3600 + m1 * 60)
        assert s.route_type == 715
        rule = uckermark.booking_rules[s.pickup_rule_id[0]]
        assert rule.booking_type == 1 and rule.prior_notice_min == 60 and rule.phone.startswith("+49")
    assert np.isfinite(uckermark.stops["x"]).all()


def test_uckermark_service_days(uckermark):
    by_trip = {s.trip_id: s for s in uckermark.services}
    assert by_trip["flex-476-weekdays"].runs_on(dt.date(2023, 6, 5))  # Monday
    assert not by_trip["flex-476-weekdays"].runs_on(dt.date(2023, 4, 10))  # Easter Monday
    assert by_trip["flex-476-weekends"].runs_on(dt.date(2023, 4, 10))
    assert by_trip["flex-487-weekends"].runs_on(dt.date(2023, 6, 3))
    assert not by_trip["flex-487-weekends"].runs_on(dt.date(2023, 6, 5))


def _single_ride_oracle(feed: FlexFeed, date: dt.date, src: str, t0: int, params: dict) -> dict[str, float]:
    """Earliest arrival with exactly one flex ride (closed form per service, no CSA)."""
    best: dict[str, float] = {src: float(t0)}
    takt = round(params["takt_min"] * 60)
    v = params["geschwindigkeit_kmh"] / 3.6
    for s in feed.services:
        if date not in s.service_days or src not in set(s.stop_ids):
            continue
        _, first = np.unique(s.stop_ids.astype(str), return_index=True)
        hx, hy = s.x[first].mean(), s.y[first].mean()
        tau = {
            sid: math.ceil(math.hypot(x - hx, y - hy) * params["umweg_faktor"] / v - 1e-6)
            for sid, x, y in zip(s.stop_ids, s.x, s.y, strict=True)
        }
        w0, w1 = int(s.window_start_s.min()), int(s.window_end_s.max())
        # earliest hub time with a departure from src at or after t0 and inside the window
        k = max(0, math.ceil((max(t0, w0) + tau[src] - w0) / takt))
        t = w0 + k * takt
        if t - tau[src] > w1:
            continue
        for sid in s.stop_ids:
            # the first vehicle that can still drop at sid within the window
            if t + tau[sid] <= w1:
                best[sid] = min(best.get(sid, INF), t + tau[sid])
    return best


@pytest.mark.parametrize("date", [dt.date(2023, 6, 3), dt.date(2023, 6, 5), dt.date(2023, 4, 10)])
def test_uckermark_single_ride_against_closed_form(uckermark, date):
    params = {"takt_min": 15.0, "umweg_faktor": 1.3, "geschwindigkeit_kmh": 30.0}
    fc = uckermark.connections(date, **params)
    assert len(fc) > 0
    rng = np.random.default_rng(date.toordinal())
    stop_ids = list(fc.stop_ids[: fc.hub_stop.min()])
    for src in rng.choice(stop_ids, size=8, replace=False):
        t0 = int(rng.integers(7 * 3600, 22 * 3600))
        # min_transfer inf: no change between rides, so exactly one ride
        arr = earliest_arrival(fc.connections, sources={_idx(fc, src): t0}, min_transfer=INF)
        expect = _single_ride_oracle(uckermark, date, src, t0, params)
        got = {fc.stop_ids[i]: float(arr[i]) for i in np.flatnonzero(np.isfinite(arr))}
        assert got == expect


def test_uckermark_multi_ride_against_brute_force(uckermark):
    date = dt.date(2023, 6, 5)  # weekday: 17:30–22:00 only
    params = {"takt_min": 30.0, "umweg_faktor": 1.3, "geschwindigkeit_kmh": 30.0}
    fc = uckermark.connections(date, **params)
    tt = Timetable(fc.n_stops, _flex_rides(uckermark, date, fc, params))
    ct = np.zeros(fc.n_stops)
    rng = np.random.default_rng(5)
    for src in rng.choice(int(fc.hub_stop.min()), size=3, replace=False):
        t0 = float(rng.integers(17 * 3600, 20 * 3600))
        got = earliest_arrival(fc.connections, sources={int(src): t0}, min_transfer=ct)
        want = brute_earliest_arrival(tt, {int(src): t0}, None, ct)
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------
# flex + fixed timetable against the brute force of tests/test_transit.py
# ---------------------------------------------------------------------------


def _flex_rides(feed: FlexFeed, date: dt.date, fc, params: dict) -> list[list[tuple]]:
    """Every flex ride a → b as a one-hop trip of the brute force (independent of the hub encoding)."""
    takt = round(params["takt_min"] * 60)
    v = params["geschwindigkeit_kmh"] / 3.6
    pos = {s: i for i, s in enumerate(fc.stop_ids)}
    rides = []
    for s in feed.services:
        if date not in s.service_days:
            continue
        _, first = np.unique(s.stop_ids.astype(str), return_index=True)
        hx, hy = s.x[first].mean(), s.y[first].mean()
        if s.mean_duration_factor is None and s.mean_duration_offset_min is None:
            secs = np.hypot(s.x - hx, s.y - hy) * params["umweg_faktor"] / v
        else:
            f = s.mean_duration_factor or 1.0
            secs = f * np.hypot(s.x - hx, s.y - hy) / v + (s.mean_duration_offset_min or 0.0) * 30
        tau = np.ceil(secs - 1e-6)
        w0, w1 = int(s.window_start_s.min()), int(s.window_end_s.max())
        for t in range(w0, w1 + 1, takt):
            for i in range(len(s.stop_ids)):
                dep = t - tau[i]
                if not (s.pickup[i] and s.window_start_s[i] <= dep <= s.window_end_s[i]):
                    continue
                for j in range(len(s.stop_ids)):
                    arr = t + tau[j]
                    if s.drop_off[j] and s.window_start_s[j] <= arr <= s.window_end_s[j]:
                        rides.append([(pos[s.stop_ids[i]], pos[s.stop_ids[j]], float(dep), float(arr), True, True)])
    return rides


@st.composite
def flex_cases(draw):
    """Random fixed trips over stops A..D, E plus the tiny flex zone with random windows and parameters."""
    n_fixed_trips = draw(st.integers(0, 5))
    trips = []
    for _ in range(n_fixed_trips):
        length = draw(st.integers(2, 4))
        stops = draw(st.lists(st.integers(0, 4), min_size=length, max_size=length))
        t = draw(st.integers(27000, 33000))
        hops = []
        for a, b in itertools.pairwise(stops):
            d = draw(st.integers(0, 900))
            hops.append((a, b, t, t + d))
            t += d + draw(st.integers(0, 120))
        trips.append(hops)
    start = draw(st.integers(27000, 31000))
    end = start + draw(st.integers(0, 4000))
    params = {
        "takt_min": draw(st.sampled_from([5.0, 7.5, 10.0, 20.0])),
        "umweg_faktor": draw(st.sampled_from([1.0, 1.3, 1.7])),
        "geschwindigkeit_kmh": draw(st.sampled_from([20.0, 30.0, 50.0])),
    }
    pickup_only = draw(st.sampled_from(["", "A", "C"]))
    src = draw(st.integers(0, 4))
    t0 = draw(st.integers(26000, 34000))
    ct = draw(st.sampled_from([0.0, 60.0, 300.0]))
    return trips, start, end, params, pickup_only, src, t0, ct


def _hms(s: int) -> str:
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


_BASE = np.array(["A", "B", "C", "D", "E"], dtype=object)


@settings(max_examples=60, deadline=None)
@given(flex_cases())
def test_flex_plus_fixed_against_brute_force(tmp_path_factory, case):
    trips, start, end, params, pickup_only, src, t0, ct = case
    files = tiny_files()
    rows = [
        "trip_id,stop_sequence,location_group_id,start_pickup_drop_off_window,end_pickup_drop_off_window,"
        "pickup_type,drop_off_type,pickup_booking_rule_id"
    ]
    rows.append(f"T1,1,Z,{_hms(start)},{_hms(end)},2,{'1' if pickup_only else '2'},H1")
    if pickup_only:  # zone Z only for pickups, drop-offs in a second zone Z2 = {pickup_only, D}
        files["location_groups.txt"] += "Z2,Zone 2\n"
        files["location_group_stops.txt"] += f"Z2,{pickup_only}\nZ2,D\n"
        rows.append(f"T1,2,Z2,{_hms(start)},{_hms(end + 600)},1,2,")
    files["stop_times.txt"] = "\n".join(rows) + "\n"
    feed = load_flex(write_feed(tmp_path_factory.mktemp("f"), files))
    dep = [h for tr in trips for h in tr]
    fixed = Connections.from_arrays(
        [h[0] for h in dep], [h[1] for h in dep], [h[2] for h in dep], [h[3] for h in dep],
        [i for i, tr in enumerate(trips) for _ in tr], n_stops=5, stop_ids=_BASE,
    )  # fmt: skip
    fc = feed.connections(MONDAY, stop_ids=fixed.stop_ids, **params)
    merged = merge_connections(fixed, fc)
    n = merged.n_stops
    cts = np.full(n, ct)
    fp = extend_footpaths(Footpaths.from_pairs(5, np.array([3]), np.array([4]), np.array([90.0])), n)
    got = earliest_arrival(merged.connections, sources={src: float(t0)}, footpaths=fp, min_transfer=cts)
    tt = Timetable(n, _timetable(fixed).trips + _flex_rides(feed, MONDAY, fc, params))
    want = brute_earliest_arrival(tt, {src: float(t0)}, fp, cts)
    np.testing.assert_array_equal(got, want)
    # the reverse scan on the same timetable (deadline at a random stop)
    tgt = (src + 1) % 5
    got_ld = latest_departure(merged.connections, targets={tgt: float(t0)}, footpaths=fp, min_transfer=cts)
    want_ld = brute_latest_departure(tt, {tgt: float(t0)}, fp, cts)
    np.testing.assert_array_equal(got_ld, want_ld)
    # bedarf marks exactly the flex connections; the fixed ones need no booking
    is_flex = merged.connections.trip >= fixed.n_trips
    np.testing.assert_array_equal(merged.bedarf, is_flex)
    assert (merged.voranmeldung_min[~is_flex] == 0).all()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-8000, 8000), st.floats(-8000, 8000)), min_size=1, max_size=6),
    st.integers(0, 80000),
    st.integers(0, 20000),
    st.sampled_from([1.0, 3.0, 10.0, 30.0]),
    st.floats(1.0, 2.0),
    st.floats(10.0, 80.0),
)
def test_property_rides_stay_in_window_and_take_the_estimate(points, start, length, takt, umweg, kmh):
    n = len(points)
    x = np.array([CX + p[0] for p in points])
    y = np.array([CY + p[1] for p in points])
    svc = FlexService(
        trip_id="T", route_id="R", route_short_name="1", route_type=715, service_id="S", zone_ids=("Z",),
        stop_ids=np.array([f"s{i}" for i in range(n)], dtype=object), x=x, y=y,
        pickup=np.ones(n, bool), drop_off=np.ones(n, bool),
        window_start_s=np.full(n, start, np.int32), window_end_s=np.full(n, start + length, np.int32),
        pickup_rule_id=np.full(n, "", object), drop_off_rule_id=np.full(n, "", object),
        service_days=frozenset({MONDAY}),
    )  # fmt: skip
    feed = FlexFeed("mem", (svc,), {}, {"Z": tuple(svc.stop_ids)}, None)
    fc = feed.connections(MONDAY, takt_min=takt, umweg_faktor=umweg, geschwindigkeit_kmh=kmh)
    c = fc.connections
    assert np.isnan(fc.voranmeldung_min).all()  # no booking rule: unknown, not hidden as 0
    v = kmh / 3.6
    for r in range(c.n_trips):
        ks = np.flatnonzero(c.trip == r)
        pick = ks[c.board[ks]]
        drop = ks[c.alight[ks]]
        assert pick.size and drop.size
        hub_t = set(c.arr_time[pick]) | set(c.dep_time[drop])
        assert len(hub_t) == 1  # one model vehicle per run, at the hub once
        for i in pick:
            for j in drop:
                dep, arr = int(c.dep_time[i]), int(c.arr_time[j])
                assert start <= dep and arr <= start + length  # never outside the window
                a, b = int(c.dep_stop[i]), int(c.arr_stop[j])
                direct = math.hypot(x[a] - x[b], y[a] - y[b]) * umweg / v
                assert arr - dep >= direct - 1e-6  # never faster than the direct estimate


def test_previous_and_next_day(tmp_path):
    files = tiny_files()
    files["stop_times.txt"] = files["stop_times.txt"].replace("08:00:00,09:00:00", "23:30:00,24:30:00")
    feed = load_flex(write_feed(tmp_path / "n", files))
    # Tuesday 2024-01-09: Monday's window runs to 00:30 (times - 86400); Tuesday's own starts at 23:30
    fc = feed.connections(dt.date(2024, 1, 9), **PARAMS)
    conn = fc.connections
    assert (conn.arr_time >= 0).all()
    assert conn.dep_time.min() < 1800 and set(np.unique(conn.run_day_offset)) == {-1, 0}
    # with next_day_s the next service day's runs join, departing at most next_day_s after midnight
    fc2 = feed.connections(dt.date(2024, 1, 9), next_day_s=600, **PARAMS)
    nxt = fc2.connections.run_day_offset[fc2.connections.trip] == 1
    assert not nxt.any()  # Wednesday 2024-01-10 runs, but its window starts at 23:30 (> 600 s after midnight)
    fc3 = feed.connections(dt.date(2024, 1, 9), next_day_s=86400, **PARAMS)
    nxt = fc3.connections.run_day_offset[fc3.connections.trip] == 1
    assert nxt.any() and fc3.connections.dep_time[nxt].min() >= 86400 + 23 * 3600 + 30 * 60 - 480


# ---------------------------------------------------------------------------
# declared on-demand trips and the region file
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cairns():
    return load_gtfs(CAIRNS)


def test_on_demand_trips_rules(cairns):
    trips = cairns.trips
    routes = cairns.routes
    assert not on_demand_trips(cairns, OnDemandRules()).any()  # no route_type 715 in Cairns
    r0 = routes["route_id"].iloc[0]
    np.testing.assert_array_equal(on_demand_trips(cairns, OnDemandRules(linien=(r0,))), trips["route_id"] == r0)
    night = set(routes.loc[routes["route_short_name"].str.endswith("N"), "route_id"])
    np.testing.assert_array_equal(on_demand_trips(cairns, OnDemandRules(muster=r"\d+N")), trips["route_id"].isin(night))
    # route type list: Cairns buses are type 3
    assert on_demand_trips(cairns, OnDemandRules(routentyp=(3,))).all()
    # stop list: a trip counts only when ALL its stops are listed (checked trip by trip)
    t = 17
    own = {cairns.stop_ids[s] for s in cairns.st_stop[cairns.st_ptr[t] : cairns.st_ptr[t + 1]]}
    mask = on_demand_trips(cairns, OnDemandRules(haltestellen=tuple(own)))
    assert mask[t]
    for i in np.flatnonzero(mask):
        served = {cairns.stop_ids[s] for s in cairns.st_stop[cairns.st_ptr[i] : cairns.st_ptr[i + 1]]}
        assert served <= own
    fewer = tuple(sorted(own)[1:])
    assert not on_demand_trips(cairns, OnDemandRules(haltestellen=fewer))[t]


def test_merge_marks_declared_on_demand_trips(cairns):
    date = dt.date(2014, 6, 2)
    fixed = cairns.connections(date)
    mask = on_demand_trips(cairns, OnDemandRules(muster=r"\d+N|11\d"))
    merged = merge_connections(fixed, None, on_demand=mask, vorlauf_min=45)
    want = mask[fixed.run_trip[fixed.trip]]
    np.testing.assert_array_equal(merged.bedarf, want)
    assert (merged.voranmeldung_min[want] == 45).all() and (merged.voranmeldung_min[~want] == 0).all()
    assert merged.connections is fixed


def _region(tmp_path: Path, netz: str = "", parameter: str = "") -> Path:
    toml = write_tiny_region(tmp_path / "r")
    text = toml.read_text(encoding="utf-8").replace("[netz]\n", f"[netz]\n{netz}\n", 1)
    if parameter:
        text += f"\n[parameter]\n{parameter}\n"
    toml.write_text(text, encoding="utf-8")
    return toml


def test_config_defaults_and_values(tmp_path):
    cfg = load_config(_region(tmp_path))
    assert cfg.rufbus == OnDemandRules() and cfg.rufbus.routentyp == (715,) and cfg.rufbus.vorlauf_min == 60
    assert cfg.parameter.rufbus_erreichbar is True
    cfg = load_config(
        _region(
            tmp_path / "b",
            'rufbus_linien = ["L1", "L2"]\nrufbus_muster = "RB ?\\\\d+"\nrufbus_routentyp = [715, 3]\n'
            'rufbus_haltestellen = ["de:1"]\nrufbus_vorlauf_min = 30\nrufbus_flex = "flex.zip"\n'
            "rufbus_takt_min = 5\nrufbus_umweg_faktor = 1.5\nrufbus_geschwindigkeit_kmh = 40",
            "rufbus_erreichbar = false",
        )
    )
    r = cfg.rufbus
    assert (r.linien, r.muster, r.routentyp, r.haltestellen, r.vorlauf_min) == (
        ("L1", "L2"), r"RB ?\d+", (715, 3), ("de:1",), 30.0,
    )  # fmt: skip
    assert r.flex == cfg.path.parent / "flex.zip"
    assert r.modell == (5.0, 1.5, 40.0) and OnDemandRules().modell == (10.0, 1.3, 30.0)
    assert cfg.parameter.rufbus_erreichbar is False


@pytest.mark.parametrize(
    ("netz", "parameter", "text"),
    [
        ('rufbus_linien = "L1"', "", "'rufbus_linien' im Abschnitt [netz]"),
        ('rufbus_muster = "RB ("', "", "gültiger regulärer Ausdruck"),
        ('rufbus_routentyp = ["715"]', "", "'rufbus_routentyp'"),
        ("rufbus_vorlauf_min = -5", "", "zwischen 0 und 10080"),
        ("rufbus_flex = 3", "", "GTFS-Flex-Feeds"),
        ("rufbus_takt_min = 0", "", "Minuten zwischen 1 und 120"),
        ("rufbus_umweg_faktor = 0.8", "", "ein Faktor zwischen 1 und 5"),
        ('rufbus_geschwindigkeit_kmh = "30"', "", "km/h zwischen 5 und 120"),
        ("rufbus_linie = []", "", "Meinten Sie 'rufbus_linien'"),
        ("", 'rufbus_erreichbar = "ja"', "true oder false"),
    ],
)
def test_config_errors(tmp_path, netz, parameter, text):
    with pytest.raises(ConfigError) as info:
        load_config(_region(tmp_path, netz, parameter))
    msg = str(info.value)
    assert text in msg and "region.toml" in msg
