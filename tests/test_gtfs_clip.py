"""Clipping a GTFS feed to an analysis area while streaming it (``load_gtfs(..., area=...)``).

The clip is checked against a brute-force filter written here (plain Python loops
over the CSV rows: stops in the area by a point-in-polygon test per stop, trips with
a row at such a stop, their rows sorted by ``stop_sequence``, missing times
interpolated over the whole trip, then cut to the stops in the area) on random
feeds (hypothesis, derandomized) and on the real Cairns feed.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Point, Polygon, box

from coverage.cache.store import Cache, file_xxh128, tree_xxh128
from coverage.errors import GTFSError
from coverage.transit import ClipSummary, Feed, _gtfsclip, gtfs, load_gtfs
from coverage.traveltime import engine as traveltime

from .test_gtfs import CAIRNS
from .test_gtfs_cache import assert_same_feed

TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
WORLD = box(-1e9, -1e9, 1e9, 1e9)

CAL = (
    "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
    "WD,1,1,1,1,1,0,0,20270101,20271231\n"
)
AGENCY = "agency_id,agency_name,agency_url,agency_timezone\nA,Verkehr,https://example.org,Europe/Berlin\n"


def lonlat_box(lon0: float, lat0: float, lon1: float, lat1: float) -> Polygon:
    """The lon/lat box as a polygon in EPSG:25832 (corners and edge points projected)."""
    t = np.linspace(0.0, 1.0, 11)
    lon = np.concatenate([lon0 + (lon1 - lon0) * t, np.full(11, lon1), lon1 - (lon1 - lon0) * t, np.full(11, lon0)])
    lat = np.concatenate([np.full(11, lat0), lat0 + (lat1 - lat0) * t, np.full(11, lat1), lat1 - (lat1 - lat0) * t])
    x, y = TO_UTM.transform(lon, lat)
    return Polygon(zip(x, y, strict=True))


def write_zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


# --------------------------------------------------------------------------- brute-force reference


def read_tables(path: Path) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(path) as zf:
        return {
            n: list(csv.DictReader(io.StringIO(zf.read(n).decode("utf-8-sig"))))
            for n in zf.namelist()
            if n.endswith(".txt")
        }


def seconds(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    h, m, s = (int(p) for p in text.split(":"))
    return h * 3600 + m * 60 + s


def brute_force(path: Path, area: Polygon | MultiPolygon) -> tuple[set[str], dict[str, list[tuple[str, int, int]]]]:
    """Kept stop ids and, per kept trip, its (stop_id, arrival s, departure s) in the area."""
    tables = read_tables(path)
    stops = tables["stops.txt"]
    kept: set[str] = set()
    for s in stops:
        try:
            lon, lat = float(s["stop_lon"]), float(s["stop_lat"])
        except (KeyError, ValueError):
            continue
        if area.intersects(Point(*TO_UTM.transform(lon, lat))):
            kept.add(s["stop_id"])
    parent = {s["stop_id"]: s.get("parent_station", "") for s in stops}
    todo = list(kept)
    while todo:
        p = parent.get(todo.pop(), "")
        if p and p not in kept:
            kept.add(p)
            todo.append(p)
    rows_of: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in tables["stop_times.txt"]:
        rows_of[r["trip_id"]].append(r)
    out: dict[str, list[tuple[str, int, int]]] = {}
    for trip_id, rows in rows_of.items():
        if not any(r["stop_id"] in kept for r in rows):
            continue
        rows = sorted(rows, key=lambda r: int(r["stop_sequence"]))
        arr = [seconds(r["arrival_time"]) for r in rows]
        dep = [seconds(r["departure_time"]) for r in rows]
        timed = [i for i, a in enumerate(arr) if a is not None]
        for i in range(len(rows)):
            if arr[i] is None:
                p = max(j for j in timed if j < i)
                q = min(j for j in timed if j > i)
                arr[i] = dep[i] = round(dep[p] + (arr[q] - dep[p]) * ((i - p) / (q - p)))
        out[trip_id] = [(r["stop_id"], a, d) for r, a, d in zip(rows, arr, dep, strict=True) if r["stop_id"] in kept]
    return kept, out


def clipped_trips(feed: Feed) -> dict[str, list[tuple[str, int, int]]]:
    ids = feed.stop_ids
    out = {}
    for i, tid in enumerate(feed.trips["gtfs_trip_id"].tolist()):
        a, b = int(feed.st_ptr[i]), int(feed.st_ptr[i + 1])
        out[tid] = list(
            zip(ids[feed.st_stop[a:b]].tolist(), feed.st_arr[a:b].tolist(), feed.st_dep[a:b].tolist(), strict=True)
        )
    return out


def assert_clip_matches_brute_force(path: Path, area: Polygon | MultiPolygon) -> Feed:
    feed = load_gtfs(path, area=area)
    kept, expected = brute_force(path, area)
    assert set(feed.stop_ids.tolist()) == kept
    assert clipped_trips(feed) == expected
    # parent_station references stay valid
    parents = {p for p in feed.stops["parent_station"].tolist() if p}
    assert parents <= kept
    # the same times as the whole feed at the same stops
    full = load_gtfs(path)
    full_trips = clipped_trips(full)
    for tid, rows in expected.items():
        assert [r for r in full_trips[tid] if r[0] in kept] == rows
    assert feed.clip is not None
    assert feed.clip.trips_kept == len(expected)
    assert feed.clip.stop_times_kept == sum(len(v) for v in expected.values())
    assert feed.clip.stops_kept == len(kept)
    assert feed.clip.stop_times_read == len(read_tables(path)["stop_times.txt"])
    return feed


# --------------------------------------------------------------------------- random feeds

N_LINE = 10
"""Stops S0..S9 on a line from 9.00 E to 9.09 E at 53.0 N; the area covers S3..S6."""
AREA = lonlat_box(9.025, 52.99, 9.065, 53.01)


@st.composite
def random_feeds(draw: st.DrawFn) -> dict[str, str]:
    stops = ["stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station"]
    for k in range(N_LINE):
        # every other stop belongs to a station placed 20 km north (outside the area)
        parent = f"P{k}" if k % 2 == 0 else ""
        stops.append(f"S{k},Halt {k},53.000000,{9.0 + 0.01 * k:.6f},0,{parent}")
        if parent:
            stops.append(f"P{k},Station {k},53.200000,{9.0 + 0.01 * k:.6f},1,")
    n_trips = draw(st.integers(1, 8))
    trips = ["route_id,service_id,trip_id"]
    rows: list[str] = []
    for t in range(n_trips):
        path = draw(st.lists(st.integers(0, N_LINE - 1), min_size=2, max_size=9))
        gaps = draw(st.lists(st.integers(1, 3), min_size=len(path), max_size=len(path)))
        steps = draw(st.lists(st.integers(0, 400), min_size=len(path), max_size=len(path)))
        dwell = draw(st.lists(st.integers(0, 60), min_size=len(path), max_size=len(path)))
        untimed = draw(st.lists(st.booleans(), min_size=len(path), max_size=len(path)))
        trips.append(f"R,WD,T{t}")
        time = 6 * 3600 + draw(st.integers(0, 20 * 3600))
        seq = 0
        for i, s in enumerate(path):
            seq += gaps[i]
            time += steps[i]
            arr, time = time, time + dwell[i]
            if untimed[i] and 0 < i < len(path) - 1:
                a = d = ""
            else:
                a, d = _hms(arr), _hms(time)
            rows.append(f"T{t},{a},{d},S{s},{seq}")
    # mostly trip by trip (as published feeds are; read in one pass), sometimes shuffled (second pass)
    order = draw(st.permutations(range(len(rows)))) if draw(st.booleans()) else range(len(rows))
    st_text = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + "".join(rows[i] + "\n" for i in order)
    return {
        "agency.txt": AGENCY,
        "stops.txt": "\n".join(stops) + "\n",
        "routes.txt": "route_id,agency_id,route_type\nR,A,700\n",
        "trips.txt": "\n".join(trips) + "\n",
        "stop_times.txt": st_text,
        "calendar.txt": CAL,
    }


def _hms(s: int) -> str:
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(files=random_feeds(), block=st.sampled_from([1 << 24, 200, 97]))
def test_random_feeds_clip_like_brute_force(files: dict[str, str], block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # small blocks: trips span block boundaries (the one-pass reader holds their rows back)
    monkeypatch.setattr(_gtfsclip, "_BLOCK", block)
    with tempfile.TemporaryDirectory() as d:
        path = write_zip(Path(d) / "feed.zip", files)
        feed = assert_clip_matches_brute_force(path, AREA)
        if feed.trips.empty:
            return
        # connections of a course day: exactly the in-area hops of each kept trip
        day = dt.date(2027, 3, 1)
        conns = feed.connections(day).to_frame()
        expected = sum(max(len(v) - 1, 0) for v in clipped_trips(feed).values())
        assert len(conns) == expected


@pytest.mark.parametrize("block", [1 << 24, 150, 60])
def test_one_pass_and_second_pass_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog, block: int) -> None:
    """Trips listed one after the other are read in one pass, also across block boundaries; mixed ones in two."""
    monkeypatch.setattr(_gtfsclip, "_BLOCK", block)
    rows = []
    for t, path in enumerate([[0, 1, 2], [3, 4], [8, 9, 4, 5, 9], [9, 8, 7, 6], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]):
        rows += [
            f"T{t},{_hms(3600 * 6 + 300 * i)},{_hms(3600 * 6 + 300 * i)},S{s},{i + 1}\n" for i, s in enumerate(path)
        ]
    files = {
        "agency.txt": AGENCY,
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"S{k},Halt {k},53.0,{9.0 + 0.01 * k:.2f}\n" for k in range(N_LINE)),
        "routes.txt": "route_id,agency_id,route_type\nR,A,3\n",
        "trips.txt": "route_id,service_id,trip_id\n" + "".join(f"R,WD,T{t}\n" for t in range(5)),
        "calendar.txt": CAL,
    }
    header = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    for name, order in (("sorted", rows), ("mixed", rows[1:] + rows[:1])):
        path = write_zip(tmp_path / f"{name}.zip", {**files, "stop_times.txt": header + "".join(order)})
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="coverage.transit._gtfsclip"):
            feed = assert_clip_matches_brute_force(path, AREA)
        assert ("zweiter Durchgang" in caplog.text) == (name == "mixed")
        assert sorted(feed.trips["trip_id"]) == ["T1", "T2", "T3", "T4"]


def test_trip_leaving_and_reentering_keeps_exact_times(tmp_path: Path) -> None:
    files = {
        "agency.txt": AGENCY,
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"S{k},Halt {k},53.0,{9.0 + 0.01 * k:.2f}\n" for k in range(N_LINE)),
        "routes.txt": "route_id,agency_id,route_type\nR,A,3\n",
        "trips.txt": "route_id,service_id,trip_id\nR,WD,IN_OUT_IN\nR,WD,FAR\n",
        # S4 (in) -> S8 (out) -> S9 (out, no times) -> S5 (in, interpolation over the outside stops) -> S6 (in)
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "FAR,08:00:00,08:00:00,S0,1\n"
        "IN_OUT_IN,07:00:00,07:01:00,S4,1\n"
        "IN_OUT_IN,07:10:00,07:10:00,S8,2\n"
        "IN_OUT_IN,,,S9,3\n"
        "IN_OUT_IN,,,S5,4\n"
        "IN_OUT_IN,07:40:00,07:40:00,S6,5\n"
        "FAR,08:05:00,08:05:00,S9,2\n",
        "calendar.txt": CAL,
    }
    path = write_zip(tmp_path / "feed.zip", files)
    feed = assert_clip_matches_brute_force(path, AREA)
    # interpolated over the whole trip: S9 at 07:20, S5 at 07:30
    assert clipped_trips(feed) == {"IN_OUT_IN": [("S4", 25200, 25260), ("S5", 27000, 27000), ("S6", 27600, 27600)]}
    conns = feed.connections(dt.date(2027, 3, 1)).to_frame()
    assert conns[["dep_stop_id", "arr_stop_id", "dep_time", "arr_time"]].values.tolist() == [
        ["S4", "S5", 25260, 27000],
        ["S5", "S6", 27000, 27600],
    ]


def test_cairns_cut_to_a_box_matches_brute_force() -> None:
    full = load_gtfs(CAIRNS)
    x0, y0 = np.nanmedian(full.stops["x"]), np.nanmedian(full.stops["y"])
    area = box(x0 - 3000, y0 - 4000, x0 + 2500, y0 + 3000)
    feed = assert_clip_matches_brute_force(CAIRNS, area)
    c = feed.clip
    assert c.stops_read == 416 and 0 < c.stops_kept < 416
    assert c.trips_read == 1339 and 0 < c.trips_kept < 1339
    assert c.stop_times_read == full.st_stop.size
    assert (c.feed_start, c.feed_end) == (full.date_range[0], dt.date(2014, 12, 28))
    # some trips cross the border: cut, not dropped
    lens_full = dict(zip(full.trips["trip_id"], np.diff(full.st_ptr), strict=True))
    lens_clip = dict(zip(feed.trips["trip_id"], np.diff(feed.st_ptr), strict=True))
    assert any(lens_clip[t] < lens_full[t] for t in lens_clip)


@pytest.mark.parametrize("strict", [True, False])
def test_area_covering_everything_gives_the_unclipped_feed(strict: bool) -> None:
    full = load_gtfs(CAIRNS, strict=strict)
    feed = load_gtfs(CAIRNS, strict=strict, area=WORLD)
    assert feed.clip == ClipSummary(
        stops_read=416,
        stops_kept=416,
        trips_read=1339,
        trips_kept=1339,
        stop_times_read=37790,
        stop_times_kept=37790,
        services_kept=len(full.service_ids),
        feed_start=dt.date(2014, 5, 26),
        feed_end=dt.date(2014, 12, 28),
    )
    assert_same_feed(full, dataclasses.replace(feed, clip=None))


def test_clip_streams_and_never_reads_a_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def whole(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a whole file was read into memory")

    monkeypatch.setattr(gtfs._Source, "read", whole)
    assert load_gtfs(CAIRNS, area=WORLD).clip.trips_kept == 1339


def test_frequency_trip_starting_outside_keeps_its_times(tmp_path: Path) -> None:
    files = {
        "agency.txt": AGENCY,
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nS0,a,53.0,9.00\nS4,b,53.0,9.04\nS5,c,53.0,9.05\n",
        "routes.txt": "route_id,agency_id,route_type\nR,A,3\n",
        "trips.txt": "route_id,service_id,trip_id\nR,WD,F\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "F,06:00:00,06:00:00,S0,1\nF,06:10:00,06:10:00,S4,2\nF,06:15:00,06:15:00,S5,3\n",
        "frequencies.txt": "trip_id,start_time,end_time,headway_secs\nF,07:00:00,08:00:00,1800\n",
        "calendar.txt": CAL,
    }
    path = write_zip(tmp_path / "feed.zip", files)
    full = load_gtfs(path)
    feed = load_gtfs(path, area=AREA)
    assert feed.trips["trip_id"].tolist() == full.trips["trip_id"].tolist() == ["F@07:00:00", "F@07:30:00"]
    assert feed.trips["start_time"].tolist() == [7 * 3600, 7 * 3600 + 1800]
    assert feed.st_dep.tolist() == [7 * 3600 + 600, 7 * 3600 + 900, 7 * 3600 + 2400, 7 * 3600 + 2700]
    assert feed.clip.trips_kept == 1 and feed.clip.stop_times_kept == 2


def test_other_files_keep_only_what_the_kept_trips_need(tmp_path: Path) -> None:
    files = {
        "agency.txt": AGENCY + "B,Fern,https://fern.example,Europe/Berlin\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nS0,a,53.0,9.00\nS4,b,53.0,9.04\nS5,c,53.0,9.05\n",
        "routes.txt": "route_id,agency_id,route_type\nR,A,3\nFERN,B,2\n",
        "trips.txt": "route_id,service_id,trip_id\nR,WD,T1\nFERN,SO,T2\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,06:00:00,06:00:00,S4,1\nT1,06:10:00,06:10:00,S5,2\n"
        "T2,06:00:00,06:00:00,S0,1\nT2,06:10:00,06:10:00,S0,2\n",
        "calendar.txt": CAL + "SO,0,0,0,0,0,0,1,20270101,20271231\n",
        "calendar_dates.txt": "service_id,date,exception_type\nWD,20270301,2\nSO,20270302,1\n",
        "transfers.txt": "from_stop_id,to_stop_id,transfer_type,min_transfer_time\nS4,S5,2,120\nS0,S4,2,60\n",
    }
    path = write_zip(tmp_path / "feed.zip", files)
    feed = load_gtfs(path, area=AREA)
    assert feed.routes["route_id"].tolist() == ["R"]
    assert feed.agency["agency_id"].tolist() == ["A"]
    assert feed.calendar["service_id"].tolist() == ["WD"]
    assert feed.calendar_dates["service_id"].tolist() == ["WD"]
    assert feed.calendar_dates["_row"].tolist() == [2]
    assert feed.transfers["from_stop_id"].tolist() == ["S4"]
    assert feed.transfers["_row"].tolist() == [2]
    assert feed.clip.services_kept == 1
    assert feed.clip.trips_read == 2 and feed.clip.trips_kept == 1


# --------------------------------------------------------------------------- errors and line numbers


def _error_feed(bad_outside: str, bad_inside: str) -> dict[str, str]:
    return {
        "agency.txt": AGENCY,
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,location_type\n"
        "S0,a,53.0,9.00,9\n"  # invalid location_type, but outside the area
        "S4,b,53.0,9.04,0\n"
        "S5,c,53.0,9.05,0\n",
        "routes.txt": "route_id,agency_id,route_type\nR,A,3\n",
        "trips.txt": "route_id,service_id,trip_id\nR,WD,OUT\nR,WD,IN\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        f"OUT,{bad_outside},06:00:00,S0,1\n"  # line 2: outside trip
        "OUT,06:10:00,06:10:00,S0,2\n"
        "IN,06:00:00,06:00:00,S4,1\n"
        f"IN,{bad_inside},06:10:00,S5,2\n",  # line 5
        "calendar.txt": CAL,
    }


def test_errors_outside_the_area_are_not_reported(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "feed.zip", _error_feed("6 Uhr", "06:10:00"))
    with pytest.raises(GTFSError):
        load_gtfs(path)
    feed = load_gtfs(path, area=AREA)
    assert feed.problems == []
    assert feed.trips["trip_id"].tolist() == ["IN"]


def test_errors_inside_the_area_name_the_original_line(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "feed.zip", _error_feed("6 Uhr", "xx:10:00"))
    with pytest.raises(GTFSError) as err:
        load_gtfs(path, area=AREA)
    e = err.value
    assert (e.file, e.row, e.column, e.value) == ("stop_times.txt", 5, "arrival_time", "xx:10:00")
    assert "ungültige Uhrzeit" in str(e)
    lenient = load_gtfs(path, strict=False, area=AREA)
    full = load_gtfs(path, strict=False)
    rows = [(p["file"], p["row"], p["column"], p["value"]) for p in lenient.problems]
    assert rows[0] == ("stop_times.txt", 5, "arrival_time", "xx:10:00")
    assert {r[:2] for r in rows} == {("stop_times.txt", 5)}
    # the same problems as the whole feed, minus those of the rows outside the area (line 2, stops line 2)
    assert [p for p in full.problems if p["row"] == 5 and p["file"] == "stop_times.txt"] == lenient.problems
    assert len(full.problems) > len(lenient.problems)
    assert lenient.trips.empty


def test_stop_error_inside_the_area_names_the_original_line(tmp_path: Path) -> None:
    files = _error_feed("06:00:00", "06:10:00")
    files["stops.txt"] = files["stops.txt"].replace("S5,c,53.0,9.05,0", "S5,c,53.0,9.05,7")
    path = write_zip(tmp_path / "feed.zip", files)
    with pytest.raises(GTFSError) as err:
        load_gtfs(path, area=AREA)
    assert (err.value.file, err.value.row, err.value.column, err.value.value) == ("stops.txt", 4, "location_type", "7")


# --------------------------------------------------------------------------- German feeds

DHID_FEED = {
    "agency.txt": AGENCY,
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
    # the station's point lies outside the area, its platforms inside
    "de:03357:12345,Rotenburg Bahnhof,53.3,9.045,1,\n"
    "de:03357:12345:1:1,Rotenburg Bahnhof Gleis 1,53.0,9.045,0,de:03357:12345\n"
    "de:03357:12345:1:2,Rotenburg Bahnhof Gleis 2,53.0,9.046,0,de:03357:12345\n"
    "de:03357:22222:0:1,Scheeßel Kirche,53.0,9.055,0,\n"
    "de:03358:99999:0:1,Fernort,53.0,9.0,0,\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_type\n"
    "RB,A,RB76,109\nBUS,A,860,700\nRUF,A,Rufbus 1,715\nRE,A,RE4,2\n",
    "trips.txt": "route_id,service_id,trip_id\nRB,schule,t1\nBUS,schule,t2\nRUF,ferien,t3\nRE,schule,t4\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
    "t1,07:00:00,07:00:00,de:03358:99999:0:1,1\nt1,07:20:00,07:21:00,de:03357:12345:1:1,2\n"
    "t2,07:30:00,07:30:00,de:03357:12345:1:2,1\nt2,07:40:00,07:40:00,de:03357:22222:0:1,2\n"
    "t3,09:00:00,09:00:00,de:03357:22222:0:1,1\nt3,09:15:00,09:15:00,de:03357:12345:1:2,2\n"
    "t4,10:00:00,10:00:00,de:03358:99999:0:1,1\nt4,10:20:00,10:20:00,de:03358:99999:0:1,2\n",
    # only calendar_dates.txt, as in nearly all German feeds
    "calendar_dates.txt": "service_id,date,exception_type\n"
    "schule,20270301,1\nschule,20270302,1\nferien,20270405,1\nschule,20270405,2\n",
}


def test_dhid_parent_stations_route_types_and_calendar_dates_only(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "feed.zip", DHID_FEED)
    feed = assert_clip_matches_brute_force(path, AREA)
    ids = feed.stop_ids.tolist()
    assert "de:03357:12345" in ids  # parent of kept platforms, although outside
    assert "de:03358:99999:0:1" not in ids
    assert feed.stops.set_index("stop_id").loc["de:03357:12345", "location_type"] == 1
    assert sorted(feed.routes["route_type"]) == ["109", "700", "715"]
    assert feed.trips["trip_id"].tolist() == ["t1", "t2", "t3"]
    assert feed.calendar.empty
    assert (feed.clip.feed_start, feed.clip.feed_end) == (dt.date(2027, 3, 1), dt.date(2027, 4, 5))
    assert feed.active_services(dt.date(2027, 4, 5)) == frozenset({"ferien"})
    # the regional train from outside arrives at platform 1 at 07:20 (exact time of the full trip)
    conns = feed.connections(dt.date(2027, 3, 1)).to_frame()
    assert set(conns["dep_stop_id"]) <= set(ids)
    assert clipped_trips(feed)["t1"] == [("de:03357:12345:1:1", 7 * 3600 + 1200, 7 * 3600 + 1260)]


def test_unknown_route_type_is_reported_in_the_clip(tmp_path: Path) -> None:
    files = {**DHID_FEED, "routes.txt": DHID_FEED["routes.txt"].replace("RUF,A,Rufbus 1,715", "RUF,A,Rufbus 1,1800")}
    path = write_zip(tmp_path / "feed.zip", files)
    with pytest.raises(GTFSError) as err:
        load_gtfs(path, area=AREA)
    assert (err.value.file, err.value.row, err.value.column, err.value.value) == ("routes.txt", 4, "route_type", "1800")


# --------------------------------------------------------------------------- cache


def test_cache_key_follows_feed_content_and_area(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "feed.zip", DHID_FEED)
    key = gtfs._feed_key(path, strict=True, area=AREA)
    assert key == gtfs._feed_key(path, strict=True, area=lonlat_box(9.025, 52.99, 9.065, 53.01))
    assert key != gtfs._feed_key(path, strict=True, area=None)
    assert key != gtfs._feed_key(path, strict=True, area=AREA.buffer(1.0))
    assert key != gtfs._feed_key(path, strict=False, area=AREA)
    write_zip(path, {**DHID_FEED, "calendar_dates.txt": DHID_FEED["calendar_dates.txt"] + "ferien,20270406,1\n"})
    assert gtfs._feed_key(path, strict=True, area=AREA) != key


def test_warm_load_reads_the_clip_from_the_cache_without_the_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(tmp_path / "cache")
    with caplog.at_level(logging.INFO, logger="coverage.transit._gtfsclip"):
        first = load_gtfs(CAIRNS, cache=cache, area=box(5.50e6, -1.749e7, 5.52e6, -1.747e7))
    assert "Haltestellen gelesen" in caplog.text and "Fahrtabschnitte gelesen" in caplog.text
    assert (cache.hits, cache.misses) == (0, 1)

    def fail(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the feed was read again although its clip is cached")

    monkeypatch.setattr(_gtfsclip, "parse_clipped", fail)
    monkeypatch.setattr(gtfs._Source, "open", fail)
    second = load_gtfs(CAIRNS, cache=cache, area=box(5.50e6, -1.749e7, 5.52e6, -1.747e7))
    assert (cache.hits, cache.misses) == (1, 1)
    assert isinstance(second.clip, ClipSummary) and second.clip == first.clip
    assert_same_feed(first, second)
    # another area is another entry
    with pytest.raises(AssertionError, match="read again"):
        load_gtfs(CAIRNS, cache=cache, area=box(5.50e6, -1.749e7, 5.51e6, -1.747e7))


def test_unclipped_feed_in_cache_has_no_clip(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    load_gtfs(CAIRNS, cache=cache)
    feed = load_gtfs(CAIRNS, cache=cache)
    assert cache.hits == 1 and feed.clip is None


def test_xxh128_of_file_and_folder(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(b"x" * 100)
    h = file_xxh128(f)
    assert len(h) == 32 and tree_xxh128(f) == h
    f.write_bytes(b"x" * 99 + b"y")
    assert file_xxh128(f) != h
    d = tmp_path / "d"
    d.mkdir()
    (d / "stops.txt").write_text("a")
    k = tree_xxh128(d)
    (d / "trips.txt").write_text("")
    assert tree_xxh128(d) != k
    with pytest.raises(FileNotFoundError):
        tree_xxh128(tmp_path / "fehlt.zip")


def test_area_must_be_a_polygon() -> None:
    with pytest.raises(TypeError, match="Polygon"):
        load_gtfs(CAIRNS, area=Point(0, 0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="leer"):
        load_gtfs(CAIRNS, area=Polygon())


# --------------------------------------------------------------------------- feed dates vs. course dates


def test_course_outside_the_feed_dates_is_an_error(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "feed.zip", DHID_FEED)
    feed = load_gtfs(path)
    days = [dt.date(2028, 1, 10), dt.date(2028, 6, 30)]
    with pytest.raises(GTFSError) as err:
        traveltime._days_in_feed(days, feed, course_id="K001")
    msg = str(err.value)
    assert "gilt vom 01.03.2027 bis 05.04.2027" in msg
    assert "Kurs K001 (10.01.2028–30.06.2028) liegt ganz außerhalb" in msg
    assert err.value.file == str(path)


def test_course_partly_outside_the_feed_dates_checks_the_days_inside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    feed = load_gtfs(write_zip(tmp_path / "feed.zip", DHID_FEED))
    days = [dt.date(2027, 3, 1), dt.date(2027, 3, 2), dt.date(2027, 5, 3)]
    with caplog.at_level(logging.WARNING, logger="coverage.traveltime.engine"):
        assert traveltime._days_in_feed(days, feed, course_id="K7") == days[:2]
    assert "Kurs K7: 1 von 3 Kurstagen liegen außerhalb" in caplog.text
