"""Door-to-door course trips on a hand-computable line: bus there by the start, home after the end."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import mmap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from coverage.cache.store import Cache
from coverage.errors import GTFSError
from coverage.inputs.config import Parameters
from coverage.network.streets import street_times
from coverage.transit.gtfs import load_gtfs
from coverage.traveltime import Networks, course_days, course_travel_times, networks_key
from coverage.traveltime import engine as traveltime
from coverage.traveltime import store as traveltime_store
from tests._synthetic import grid_network

X0, Y0 = 500000.0, 5900000.0
LENGTH = 5000.0  # a 5 km street; walking it at 1.25 m/s takes 4000 s


def _lonlat(x: float, y: float) -> tuple[float, float]:
    p = gpd.GeoSeries([Point(x, y)], crs="EPSG:25832").to_crs("EPSG:4326").iloc[0]
    return p.y, p.x


NIGHT_BUS = {
    # Saturday's night bus N1 B 00:20 → A 00:25 (service day Saturday, written as 00:20)
    "next_day": (
        "R,N,N1\n",
        "N1,00:20:00,00:20:00,B,1\nN1,00:25:00,00:25:00,A,2\n",
        "N,0,0,0,0,0,1,0,20270101,20271231\n",
    ),
    # the same bus written as Friday's trip at 24:20
    "past_24h": (
        "R,N,N1\n",
        "N1,24:20:00,24:20:00,B,1\nN1,24:25:00,24:25:00,A,2\n",
        "N,0,0,0,0,1,0,0,20270101,20271231\n",
    ),
}


def _feed(tmp: Path, *, holiday: str | None = None, night: str | None = None, removed: str | None = None) -> Path:
    """Stops A (x=0) and B (x=5 km); bus A→B 08:00→08:05 and 07:00→07:05, B→A 12:00→12:05.

    ``night`` adds the night bus of :data:`NIGHT_BUS`; ``removed`` (YYYYMMDD) takes its
    service off that day in ``calendar_dates.txt``.
    """
    d = tmp / "gtfs"
    d.mkdir()
    la, lo = _lonlat(X0, Y0)
    lb, lob = _lonlat(X0 + LENGTH, Y0)
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nA,Test,https://example.org,Europe/Berlin\n",
        "stops.txt": f"stop_id,stop_name,stop_lat,stop_lon\nA,A,{la:.7f},{lo:.7f}\nB,B,{lb:.7f},{lob:.7f}\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_type\nR,A,1,3\n",
        "trips.txt": "route_id,service_id,trip_id\nR,S,T1\nR,S,T2\nR,S,T3\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,08:00:00,08:00:00,A,1\nT1,08:05:00,08:05:00,B,2\n"
        "T2,07:00:00,07:00:00,A,1\nT2,07:05:00,07:05:00,B,2\n"
        "T3,12:00:00,12:00:00,B,1\nT3,12:05:00,12:05:00,A,2\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "S,1,1,1,1,1,0,0,20270101,20271231\n",
    }
    if night:
        trips, stop_times, calendar = NIGHT_BUS[night]
        files["trips.txt"] += trips
        files["stop_times.txt"] += stop_times
        files["calendar.txt"] += calendar
    exceptions = [f"S,{holiday},2\n"] if holiday else []
    exceptions += [f"N,{removed},2\n"] if removed else []
    if exceptions:
        files["calendar_dates.txt"] = "service_id,date,exception_type\n" + "".join(exceptions)
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def _setup(tmp_path: Path, *, holiday: str | None = None, first: str = "2027-02-01", last: str = "2027-02-05"):
    walk = grid_network(int(LENGTH / 100) + 1, 1, spacing_m=100.0, origin=(X0, Y0), mode="fuss")
    bike = grid_network(int(LENGTH / 100) + 1, 1, spacing_m=100.0, origin=(X0, Y0), mode="rad")
    feed = load_gtfs(_feed(tmp_path, holiday=holiday))
    origins = gpd.GeoDataFrame(
        {"herkunft_id": ["o_at_A", "o_mid"]}, geometry=[Point(X0, Y0), Point(X0 + 2500, Y0)], crs="EPSG:25832"
    )
    courses = pd.DataFrame(
        {
            "kurs_id": ["K", "ONLINE"],
            "beginn": [8 * 60 + 30, 18 * 60],
            "ende": [11 * 60 + 45, 20 * 60],
            "wochentage": [(0, 1, 2, 3, 4), (1,)],
            "erster_tag": [dt.date.fromisoformat(first)] * 2,
            "letzter_tag": [dt.date.fromisoformat(last)] * 2,
            "online": [False, True],
        }
    )
    courses = gpd.GeoDataFrame(courses, geometry=[Point(X0 + LENGTH, Y0), None], crs="EPSG:25832")
    return Networks(walk=walk, bike=bike, feed=feed), origins, courses


def test_bus_there_by_the_start_and_home_after_the_end(tmp_path: Path) -> None:
    nets, origins, courses = _setup(tmp_path)
    p = Parameters()
    tt = course_travel_times(origins, courses, networks=nets, params=p)
    hin, rueck = tt.mode("oepnv")
    # From A: leave 08:00 (bus), arrive 08:05, wait until 08:30 → 30 min; home: 12:00 bus → 12:05 → 20 min.
    assert hin[0, 0] == pytest.approx(30.0, abs=1e-3)
    assert rueck[0, 0] == pytest.approx(20.0, abs=1e-3)
    # Walking the whole way: 5 km / 1.25 m/s = 66.7 min, in both directions.
    w_hin, w_rueck = tt.mode("fuss")
    assert w_hin[0, 0] == pytest.approx(LENGTH / p.geh_m_s / 60, abs=1e-3)
    assert w_rueck[0, 0] == pytest.approx(LENGTH / p.geh_m_s / 60, abs=1e-3)
    # The midpoint is 2.5 km from A: 33.3 min to the stop is over the 20 min access limit → walks all the way.
    assert hin[1, 0] == pytest.approx(2500 / p.geh_m_s / 60, abs=1e-3)
    # Bike equals the network's own shortest path at cycling speed.
    ref = street_times(nets.bike, [len(nets.bike.x) - 1], speed_m_s=p.rad_m_s)[0, 0] / 60
    assert tt.mode("rad")[0][0, 0] == pytest.approx(ref, abs=1e-3)
    # Online needs no travel.
    assert (tt.hin[:, :, 1] == 0).all() and (tt.rueck[:, :, 1] == 0).all()


def test_a_course_day_without_service_counts(tmp_path: Path) -> None:
    # No bus on Wednesday 2027-02-03: on that course day only walking is left (worst day counts).
    nets, origins, courses = _setup(tmp_path, holiday="20270203")
    tt = course_travel_times(origins, courses, networks=nets, params=Parameters())
    hin, rueck = tt.mode("oepnv")
    walk = LENGTH / Parameters().geh_m_s / 60
    assert hin[0, 0] == pytest.approx(walk, abs=1e-3) and rueck[0, 0] == pytest.approx(walk, abs=1e-3)
    # A course that skips Wednesdays is reachable by bus again.
    courses.at[0, "wochentage"] = (0, 1, 3, 4)
    tt = course_travel_times(origins, courses, networks=nets, params=Parameters())
    assert tt.mode("oepnv")[0][0, 0] == pytest.approx(30.0, abs=1e-3)


def _evening(tmp_path: Path, night: str | None, removed: str | None = None):
    """The line with the night bus ``night`` and courses at B ending 23:30: Thursday, Friday, Mon–Fri."""
    walk = grid_network(int(LENGTH / 100) + 1, 1, spacing_m=100.0, origin=(X0, Y0), mode="fuss")
    bike = grid_network(int(LENGTH / 100) + 1, 1, spacing_m=100.0, origin=(X0, Y0), mode="rad")
    tmp_path.mkdir(parents=True, exist_ok=True)
    feed = load_gtfs(_feed(tmp_path, night=night, removed=removed))
    nets = Networks(walk=walk, bike=bike, feed=feed, key=networks_key(walk, bike, None) + str(tmp_path))
    origins = gpd.GeoDataFrame({"herkunft_id": ["o_at_A"]}, geometry=[Point(X0, Y0)], crs="EPSG:25832")
    courses = gpd.GeoDataFrame(
        {
            "kurs_id": ["DO", "FR", "MO-FR"],
            "beginn": [19 * 60] * 3,
            "ende": [23 * 60 + 30] * 3,
            "wochentage": [(3,), (4,), (0, 1, 2, 3, 4)],
            "erster_tag": [dt.date(2027, 2, 1)] * 3,
            "letzter_tag": [dt.date(2027, 2, 5)] * 3,
            "online": [False] * 3,
        },
        geometry=[Point(X0 + LENGTH, Y0)] * 3,
        crs="EPSG:25832",
    )
    return nets, origins, courses


@pytest.mark.parametrize("night", ["next_day", "past_24h"])
def test_way_home_after_an_evening_course_by_night_bus(tmp_path: Path, night: str) -> None:
    """Course at B ends Friday 23:30; the night bus B 00:20 → A 00:25 brings o_at_A home in 55 min."""
    walk = LENGTH / Parameters().geh_m_s / 60  # 66.7 min
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    nets, origins, courses = _evening(tmp_path / "feed", night)
    plain = course_travel_times(origins, courses, networks=nets, params=p)
    _, rueck = plain.mode("oepnv")
    # Friday: the night bus; Thursday: Friday has no night bus; Mon–Fri: the worst day is without it
    assert rueck[0].tolist() == pytest.approx([walk, 55.0, walk], abs=1e-3)
    # through the cache: Friday's timetable (with the night bus) is never served for Thursday
    for _ in range(2):
        _same(course_travel_times(origins, courses, networks=nets, params=p, cache=cache), plain)
    assert len(cache.entries("verbindungen")) == 2  # Mon–Thu share one, Friday has its own


def test_morning_courses_do_not_split_days_by_the_next_days_night_trips(tmp_path: Path) -> None:
    # Searches ending before midnight never see Saturday's night bus: Mon–Fri share one timetable.
    nets, origins, courses = _evening(tmp_path, "next_day")
    courses = courses.iloc[[2]]  # Mon–Fri
    cache = Cache(tmp_path / "cache")
    morning = courses.assign(beginn=8 * 60 + 30, ende=11 * 60 + 45)
    tt = course_travel_times(origins, morning, networks=nets, params=Parameters(), cache=cache)
    assert len(cache.entries("verbindungen")) == 1
    assert tt.mode("oepnv")[0][0].tolist() == pytest.approx([30.0], abs=1e-3)
    # ending 23:30, Friday (with the night bus) is a day of its own
    course_travel_times(origins, courses, networks=nets, params=Parameters(), cache=cache)
    assert len(cache.entries("verbindungen")) == 2


def test_night_bus_of_the_next_day_removed_by_calendar_dates(tmp_path: Path) -> None:
    # No night bus on Saturday 2027-02-06: Friday's way home is on foot.
    walk = LENGTH / Parameters().geh_m_s / 60
    nets, origins, courses = _evening(tmp_path, "next_day", removed="20270206")
    _, rueck = course_travel_times(origins, courses, networks=nets, params=Parameters()).mode("oepnv")
    assert rueck[0].tolist() == pytest.approx([walk, walk, walk], abs=1e-3)
    # without any night bus likewise
    nets, origins, courses = _evening(tmp_path / "ohne", None)
    _, rueck = course_travel_times(origins, courses, networks=nets, params=Parameters()).mode("oepnv")
    assert rueck[0].tolist() == pytest.approx([walk, walk, walk], abs=1e-3)


def test_next_day_cut_off_covers_every_search() -> None:
    assert traveltime._next_day_s(6300.0, 24 * 3600.0) == 6300
    assert traveltime._next_day_s(6300.5, 20 * 3600.0) == 6301
    assert traveltime._next_day_s(3600.0, 25 * 3600.0) == 7200  # a course ending past 24:00


def test_course_wholly_outside_the_feed_dates_raises(tmp_path: Path) -> None:
    # The feed runs in 2027; a course in 2030 used to be checked on substitute days of January 2027.
    nets, origins, courses = _setup(tmp_path, first="2030-02-04", last="2030-02-08")
    with pytest.raises(
        GTFSError, match=r"gilt vom 01\.01\.2027 bis 31\.12\.2027; Kurs K \(04\.02\.2030–08\.02\.2030\)"
    ):
        course_travel_times(origins, courses, networks=nets, params=Parameters())


def test_public_holidays_are_no_course_days() -> None:
    days = course_days(dt.date(2027, 5, 3), dt.date(2027, 5, 7), (0, 1, 2, 3, 4), holiday_region="NI")
    assert dt.date(2027, 5, 6) not in days  # Christi Himmelfahrt
    assert len(days) == 4
    assert len(course_days(dt.date(2027, 5, 3), dt.date(2027, 5, 7), (0, 1, 2, 3, 4), holiday_region=None)) == 5


def test_long_format(tmp_path: Path) -> None:
    nets, origins, courses = _setup(tmp_path)
    long = course_travel_times(origins, courses, networks=nets, params=Parameters()).to_long()
    assert set(long.columns) == {"herkunft_id", "kurs_id", "modus", "hin_min", "rueck_min"}
    assert len(long) == 2 * 2 * 3
    assert np.isfinite(long["hin_min"]).all()


def test_per_course_cache_is_exact_and_never_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nets, origins, courses = _setup(tmp_path)
    nets = Networks(walk=nets.walk, bike=nets.bike, feed=nets.feed, key=networks_key(nets.walk, nets.bike, None))
    cache = Cache(tmp_path / "cache")
    p = Parameters()
    plain = course_travel_times(origins, courses, networks=nets, params=p)
    first = course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    assert cache.misses >= 2
    np.testing.assert_array_equal(plain.hin, first.hin)
    np.testing.assert_array_equal(plain.rueck, first.rueck)
    hits = cache.hits
    second = course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    assert cache.hits >= hits + 2
    np.testing.assert_array_equal(second.hin, first.hin)
    # A changed course (later start) is recomputed, the other one comes from the cache.
    changed = courses.copy()
    changed.at[0, "beginn"] = 9 * 60
    with _computed(monkeypatch) as computed:
        third = course_travel_times(origins, changed, networks=nets, params=p, cache=cache)
    assert computed == ["K"]
    # leave 08:00, arrive 08:05, wait until 09:00 → 60 min
    assert third.mode("oepnv")[0][0, 0] == pytest.approx(60.0, abs=1e-3)
    # A changed network key (other feed content) never reuses old entries.
    other = Networks(walk=nets.walk, bike=nets.bike, feed=nets.feed, key=nets.key + "x")
    misses = cache.misses
    course_travel_times(origins, courses, networks=other, params=p, cache=cache)
    assert cache.misses > misses


# --------------------------------------------------------------------------- cache blocks


@contextlib.contextmanager
def _computed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Collect the ids of the courses that are actually routed (not served from the cache)."""
    seen: list[str] = []
    real = traveltime.compute_travel_times

    def spy(origins, courses, **kw):
        seen.extend(courses["kurs_id"].astype(str))
        return real(origins, courses, **kw)

    with monkeypatch.context() as m:
        m.setattr(traveltime, "compute_travel_times", spy)
        yield seen


def _many(tmp_path: Path, n: int = 10):
    """The line of :func:`_setup` with ``n`` courses along it (every 500 m, various times) and one online."""
    nets, origins, _ = _setup(tmp_path)
    nets = Networks(walk=nets.walk, bike=nets.bike, feed=nets.feed, key=networks_key(nets.walk, nets.bike, None))
    xs = [X0 + LENGTH - 500.0 * (i % 10) for i in range(n)]
    courses = gpd.GeoDataFrame(
        {
            "kurs_id": [f"K{i}" for i in range(n)] + ["ONLINE"],
            "beginn": [8 * 60 + 30 + 15 * (i % 3) for i in range(n)] + [18 * 60],
            "ende": [11 * 60 + 45] * n + [20 * 60],
            "wochentage": [(0, 1, 2, 3, 4)] * n + [(1,)],
            "erster_tag": [dt.date(2027, 2, 1)] * (n + 1),
            "letzter_tag": [dt.date(2027, 2, 5)] * (n + 1),
            "online": [False] * n + [True],
        },
        geometry=[Point(x, Y0) for x in xs] + [None],
        crs="EPSG:25832",
    )
    return nets, origins, courses


def _same(a, b) -> None:
    """Bit-identical travel times (dtype, shape and every value including inf)."""
    assert a.hin.dtype == b.hin.dtype == np.float32
    np.testing.assert_array_equal(a.hin, b.hin)
    np.testing.assert_array_equal(a.rueck, b.rueck)
    assert list(a.course_ids) == list(b.course_ids)


def _one_more(courses: gpd.GeoDataFrame, kurs_id: str, **changes) -> gpd.GeoDataFrame:
    extra = courses.iloc[[0]].assign(kurs_id=kurs_id, **changes)
    return gpd.GeoDataFrame(pd.concat([courses, extra], ignore_index=True), crs=courses.crs)


def test_block_cache_serves_a_rerun_after_one_new_course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nets, origins, courses = _many(tmp_path)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    with _computed(monkeypatch) as computed:
        first = course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    assert len(computed) == len(courses)
    _same(first, course_travel_times(origins, courses, networks=nets, params=p))
    # the first run stores one block (and its index), no single entries
    assert len(cache.entries("reisezeiten_block")) == 1
    assert len(cache.entries("reisezeiten_index")) == 1
    assert cache.entries("reisezeiten_kurs") == []
    more = _one_more(courses, "NEU", beginn=17 * 60, ende=20 * 60)
    with _computed(monkeypatch) as computed:
        second = course_travel_times(origins, more, networks=nets, params=p, cache=cache)
    assert computed == ["NEU"]
    _same(second, course_travel_times(origins, more, networks=nets, params=p))
    assert len(cache.entries("reisezeiten_kurs")) == 1  # the new course alone
    with _computed(monkeypatch) as computed:
        third = course_travel_times(origins, more, networks=nets, params=p, cache=cache)
    assert computed == []
    _same(third, second)
    # a removed course needs nothing new either, and the order of the courses does not matter
    fewer = more.iloc[[10, 3, 0, 11, 7]].reset_index(drop=True)
    with _computed(monkeypatch) as computed:
        fourth = course_travel_times(origins, fewer, networks=nets, params=p, cache=cache)
    assert computed == []
    _same(fourth, course_travel_times(origins, fewer, networks=nets, params=p))


def test_changed_course_in_a_block_is_recomputed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nets, origins, courses = _many(tmp_path)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    for column, value in (("beginn", 9 * 60), ("ende", 12 * 60), ("letzter_tag", dt.date(2027, 2, 3))):
        changed = courses.copy()
        changed.at[0, column] = value
        with _computed(monkeypatch) as computed:
            got = course_travel_times(origins, changed, networks=nets, params=p, cache=cache)
        assert computed == ["K0"], column
        _same(got, course_travel_times(origins, changed, networks=nets, params=p))
    # K0 sits at stop B: a 09:00 start means leaving 08:00 and waiting an hour
    changed = courses.copy()
    changed.at[0, "beginn"] = 9 * 60
    got = course_travel_times(origins, changed, networks=nets, params=p, cache=cache)
    assert got.mode("oepnv")[0][0, 0] == pytest.approx(60.0, abs=1e-3)
    moved = courses.copy()
    moved.loc[0, "geometry"] = Point(X0 + LENGTH - 100.0, Y0)
    with _computed(monkeypatch) as computed:
        got = course_travel_times(origins, moved, networks=nets, params=p, cache=cache)
    assert computed == ["K0"]
    _same(got, course_travel_times(origins, moved, networks=nets, params=p))


def test_changed_origins_or_parameters_reuse_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nets, origins, courses = _many(tmp_path)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    moved = origins.copy()
    moved.loc[1, "geometry"] = Point(X0 + 2501.0, Y0)
    renamed = origins.assign(herkunft_id=["o_at_A", "o_mitte"])
    for o, params in ((moved, p), (renamed, p), (origins, replace(p, rad_m_s=p.rad_m_s * 1.1))):
        with _computed(monkeypatch) as computed:
            got = course_travel_times(o, courses, networks=nets, params=params, cache=cache)
        assert len(computed) == len(courses)
        _same(got, course_travel_times(o, courses, networks=nets, params=params))


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_corrupted_block_is_detected_and_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    nets, origins, courses = _many(tmp_path)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    plain = course_travel_times(origins, courses, networks=nets, params=p)
    course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    (block,) = cache.entries("reisezeiten_block")
    raw = bytearray(block.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0x01  # inside the travel times
        block.write_bytes(bytes(raw))
    elif damage == "truncate":
        block.write_bytes(bytes(raw[: len(raw) - 100]))
    else:
        block.write_bytes(b"kaputt")
    with caplog.at_level(logging.WARNING, logger="coverage.cache.store"), _computed(monkeypatch) as computed:
        got = course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    assert "beschädigt" in caplog.text
    assert len(computed) == len(courses)
    _same(got, plain)
    # rebuilt: the next run reads everything again
    with _computed(monkeypatch) as computed:
        _same(course_travel_times(origins, courses, networks=nets, params=p, cache=cache), plain)
    assert computed == []


def test_corrupted_single_entry_and_index_are_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    nets, origins, courses = _many(tmp_path)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    more = _one_more(courses, "NEU", beginn=17 * 60, ende=20 * 60)
    plain = course_travel_times(origins, more, networks=nets, params=p)
    course_travel_times(origins, more, networks=nets, params=p, cache=cache)
    (single,) = cache.entries("reisezeiten_kurs")
    raw = bytearray(single.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    single.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="coverage.cache.store"), _computed(monkeypatch) as computed:
        _same(course_travel_times(origins, more, networks=nets, params=p, cache=cache), plain)
    assert computed == ["NEU"] and "beschädigt" in caplog.text
    # a damaged index only costs the use of the blocks: those courses are routed again, correctly
    (index,) = cache.entries("reisezeiten_index")
    index.write_bytes(b"")
    with _computed(monkeypatch) as computed:
        _same(course_travel_times(origins, more, networks=nets, params=p, cache=cache), plain)
    assert sorted(computed) == sorted(courses["kurs_id"])  # NEU still comes from its single entry
    with _computed(monkeypatch) as computed:
        _same(course_travel_times(origins, more, networks=nets, params=p, cache=cache), plain)
    assert computed == []


def test_missing_block_listed_in_index_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nets, origins, courses = _many(tmp_path)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    plain = course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    for f in cache.entries("reisezeiten_block"):
        f.unlink()
    with _computed(monkeypatch) as computed:
        _same(course_travel_times(origins, courses, networks=nets, params=p, cache=cache), plain)
    assert len(computed) == len(courses)


def test_many_new_courses_consolidate_into_one_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nets, origins, courses = _many(tmp_path)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    (old,) = cache.entries("reisezeiten_block")
    extra = courses.iloc[:10].assign(kurs_id=[f"N{i}" for i in range(10)], beginn=[16 * 60 + i for i in range(10)])
    both = gpd.GeoDataFrame(pd.concat([courses, extra], ignore_index=True), crs=courses.crs)
    with _computed(monkeypatch) as computed:
        got = course_travel_times(origins, both, networks=nets, params=p, cache=cache)
    assert sorted(computed) == sorted(f"N{i}" for i in range(10))
    _same(got, course_travel_times(origins, both, networks=nets, params=p))
    (new,) = cache.entries("reisezeiten_block")  # the old block is contained in the new one and dropped
    assert new != old and cache.entries("reisezeiten_kurs") == []
    with _computed(monkeypatch) as computed:
        _same(course_travel_times(origins, both, networks=nets, params=p, cache=cache), got)
    assert computed == []


def test_courses_with_the_same_site_and_schedule_share_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nets, origins, courses = _many(tmp_path)
    twins = _one_more(courses, "ZWILLING")  # same site and times as K0, other id (e.g. another level)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    with _computed(monkeypatch) as computed:
        got = course_travel_times(origins, twins, networks=nets, params=p, cache=cache)
    assert "ZWILLING" not in computed
    _same(got, course_travel_times(origins, twins, networks=nets, params=p))
    np.testing.assert_array_equal(got.hin[:, :, 0], got.hin[:, :, -1])
    _same(course_travel_times(origins, twins, networks=nets, params=p, cache=cache), got)


# --------------------------------------------------------------------------- connections of a day


_CONNECTION_FIELDS = (
    "dep_stop", "arr_stop", "dep_time", "arr_time", "trip", "board", "alight", "rev_order", "run_trip",
    "run_day_offset", "stop_ids", "min_transfer",
)  # fmt: skip


def _same_connections(a, b) -> None:
    for name in _CONNECTION_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert (a.n_stops, a.n_trips, a.date) == (b.n_stops, b.n_trips, b.date)


def test_connections_of_a_day_are_cached_on_disk_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nets, origins, courses = _many(tmp_path)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    assert len(cache.entries("verbindungen")) == 1  # Mon-Fri share one timetable
    # a rerun that routes one new course reads the day's connections instead of building them
    more = _one_more(courses, "NEU", beginn=17 * 60, ende=20 * 60)
    plain = course_travel_times(origins, more, networks=nets, params=p)

    def no_build(self, date):
        raise AssertionError("Verbindungen neu gebaut")

    with monkeypatch.context() as m:
        m.setattr(type(nets.feed), "connections", no_build)
        _same(course_travel_times(origins, more, networks=nets, params=p, cache=cache), plain)
    # a hit equals the built connections, for another date with the same timetable too
    feed = nets.feed
    for day in (dt.date(2027, 2, 1), dt.date(2027, 2, 3)):
        sig = feed.service_signature(day)
        _same_connections(traveltime_store._day_connections(feed, day, sig, nets.key, cache), feed.connections(day))


def test_connections_entry_that_does_not_fit_is_rebuilt(tmp_path: Path) -> None:
    nets, _, _ = _setup(tmp_path)
    feed, key = nets.feed, "netze"
    cache = Cache(tmp_path / "cache")
    day = dt.date(2027, 2, 2)
    sig = feed.service_signature(day)
    fresh = feed.connections(day)
    _same_connections(traveltime_store._day_connections(feed, day, sig, key, cache), fresh)
    (entry,) = cache.entries("verbindungen")
    name = entry.stem
    good = cache.get("verbindungen", name)
    for bad in (
        {**good, "trip": good["trip"].astype(np.int64)},  # wrong type
        {**good, "dep_stop": good["dep_stop"] + feed.n_stops},  # stops the feed does not have
        {k: v for k, v in good.items() if k != "rev_order"},  # incomplete
    ):
        cache.put("verbindungen", name, bad)
        _same_connections(traveltime_store._day_connections(feed, day, sig, key, cache), fresh)
        np.testing.assert_array_equal(cache.get("verbindungen", name)["dep_stop"], fresh.dep_stop)  # stored again
    # without a cache, or without a network key, nothing is stored
    other = Cache(tmp_path / "ohne")
    _same_connections(traveltime_store._day_connections(feed, day, sig, "", other), fresh)
    assert other.entries() == []


def test_connections_from_cache_of_a_feed_with_trips_past_midnight(tmp_path: Path) -> None:
    feed = load_gtfs(Path(__file__).parent / "data" / "cairns_gtfs_2014.zip")
    cache = Cache(tmp_path / "cache")
    for day in (dt.date(2014, 6, 2), dt.date(2014, 6, 7), dt.date(2014, 6, 8)):
        sig = feed.service_signature(day)
        built = traveltime_store._day_connections(feed, day, sig, "cairns", cache)
        read = traveltime_store._day_connections(feed, day, sig, "cairns", cache)
        _same_connections(built, feed.connections(day))
        _same_connections(read, built)
    assert cache.hits == 3


@pytest.mark.parametrize("parallel", [False, True])
def test_copy_pair_equals_fancy_indexing(monkeypatch: pytest.MonkeyPatch, parallel: bool) -> None:
    monkeypatch.setattr(traveltime_store, "_PARALLEL_BYTES", 0 if parallel else 1 << 60)
    rng = np.random.default_rng(5)
    src = (rng.random((3, 40, 9), dtype=np.float32), rng.random((3, 40, 9), dtype=np.float32))
    dst_cols = np.array([4, 0, 1, 2, 7, 6], dtype=np.int64)
    src_cols = np.array([8, 0, 1, 2, 3, 3], dtype=np.int64)
    dst = (np.zeros((3, 40, 8), np.float32), np.zeros((3, 40, 8), np.float32))
    traveltime_store._copy_pair(dst, dst_cols, src, src_cols)
    for d, s in zip(dst, src, strict=True):
        want = np.zeros_like(d)
        want[:, :, dst_cols] = s[:, :, src_cols]
        np.testing.assert_array_equal(d, want)
    with pytest.raises(ValueError):  # a failing copy is reported after both have ended
        traveltime_store._copy_pair(dst, dst_cols, (src[0], src[1][:, :5]), src_cols)


def test_results_served_from_the_cache_are_writable_copies(tmp_path: Path) -> None:
    """Columns read from a (memory-mapped) block never alias the cache: callers may write to them."""
    nets, origins, courses = _many(tmp_path)
    p = Parameters()
    cache = Cache(tmp_path / "cache")
    first = course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    more = _one_more(courses, "NEU", beginn=17 * 60, ende=20 * 60)
    for _ in range(2):  # block + computed column, then block + single entry
        got = course_travel_times(origins, more, networks=nets, params=p, cache=cache)
        assert got.hin.flags.writeable and got.rueck.flags.writeable
        for arr in (got.hin, got.rueck):
            while isinstance(arr.base, np.ndarray):
                arr = arr.base
            assert not isinstance(arr.base, mmap.mmap)
        got.hin[...] = -1.0
        got.rueck[...] = -1.0
    _same(course_travel_times(origins, courses, networks=nets, params=p, cache=cache), first)


# --------------------------------------------------------------------------- Rufbus (#17)

VILLAGE_Y = 2900.0  # village V 2.9 km north of A: 38.7 min on foot to A, beyond the 20 min access limit


def _rufbus_flex(tmp: Path, *, window: tuple[str, str] = ("06:00:00", "21:00:00")) -> Path:
    """A Rufbus zone {V, A}, weekdays of 2027, 60 min prior notice; V exists only in the flex feed."""
    d = tmp / "flex"
    d.mkdir()
    lat, lon = _lonlat(X0, Y0 + VILLAGE_Y)
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nA,Test,https://example.org,Europe/Berlin\n",
        "stops.txt": f"stop_id,stop_name,stop_lat,stop_lon\nV,Dorf V,{lat:.10f},{lon:.10f}\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_type\nRB,A,RB 1,715\n",
        "trips.txt": "route_id,service_id,trip_id\nRB,W,F1\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "W,1,1,1,1,1,0,0,20270101,20271231\n",
        "booking_rules.txt": "booking_rule_id,booking_type,prior_notice_duration_min\nH,1,60\n",
        "location_groups.txt": "location_group_id,location_group_name\nZ,Zone Z\n",
        "location_group_stops.txt": "location_group_id,stop_id\nZ,V\nZ,A\n",
        "stop_times.txt": "trip_id,stop_sequence,location_group_id,start_pickup_drop_off_window,"
        "end_pickup_drop_off_window,pickup_type,drop_off_type,pickup_booking_rule_id,drop_off_booking_rule_id\n"
        f"F1,1,Z,{window[0]},{window[1]},2,2,H,H\n",
    }
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def _rufbus_setup(tmp_path: Path, **kw):
    from coverage.transit.flex import load_flex

    n = int(LENGTH / 100) + 1
    walk = grid_network(n, 31, spacing_m=100.0, origin=(X0, Y0), mode="fuss")
    bike = grid_network(n, 31, spacing_m=100.0, origin=(X0, Y0), mode="rad")
    feed = load_gtfs(_feed(tmp_path))
    flex = load_flex(_rufbus_flex(tmp_path, **kw), stops=feed.stops)
    origins = gpd.GeoDataFrame(
        {"herkunft_id": ["o_at_A", "o_village"]},
        geometry=[Point(X0, Y0), Point(X0, Y0 + VILLAGE_Y)],
        crs="EPSG:25832",
    )
    (tmp_path / "plain").mkdir(exist_ok=True)
    _, _, courses = _setup(tmp_path / "plain")
    return Networks(walk=walk, bike=bike, feed=feed, flex=flex), origins, courses


def test_village_reachable_only_by_rufbus(tmp_path: Path) -> None:
    """Hand-computed: V → (Rufbus) → A → (bus 08:00) → B, home the same way.

    Hub of zone {V, A} at the midpoint, 1450 m from each: τ = ceil(1450 · 1.3 / (30/3.6)) = 227 s.
    Vehicle at the hub every 10 min from 06:00. To A by 08:00: hub 07:50 (28200), pickup at V
    28200 − 227 = 27973 → hin = 30600 − 27973 = 2627 s. Home: bus 12:00 → A 12:05 (43500);
    first pickup at A at or after it: hub 43800, pickup 43573, at V 44027 → rueck = 44027 − 42300 = 1727 s.
    """
    nets, origins, courses = _rufbus_setup(tmp_path)
    assert nets.has_on_demand and nets.modes == ("fuss", "rad", "oepnv", "rufbus")
    assert nets.vorlauf_max_min == 60.0
    p = Parameters()
    tt = course_travel_times(origins, courses, networks=nets, params=p)
    assert tt.modes == nets.modes
    hin, rueck = tt.mode("rufbus")
    assert hin[1, 0] == pytest.approx(2627 / 60, abs=1e-3)
    assert rueck[1, 0] == pytest.approx(1727 / 60, abs=1e-3)
    # without the Rufbus the village walks 2.9 km + 5 km on the grid (105 min, beyond every search: inf)
    o_hin, o_rueck = tt.mode("oepnv")
    walk_min = (VILLAGE_Y + LENGTH) / p.geh_m_s / 60
    assert o_hin[1, 0] >= walk_min - 1e-3 and o_rueck[1, 0] >= walk_min - 1e-3
    np.testing.assert_array_equal(tt.mode("oepnv")[0][1], tt.mode("fuss")[0][1])
    # at A both modes take the 08:00 bus (30 min) and the 12:00 bus home (20 min)
    for m in ("oepnv", "rufbus"):
        assert tt.mode(m)[0][0, 0] == pytest.approx(30.0, abs=1e-3)
        assert tt.mode(m)[1][0, 0] == pytest.approx(20.0, abs=1e-3)
    # rufbus is never worse than oepnv
    assert (tt.mode("rufbus")[0] <= tt.mode("oepnv")[0] + 1e-4).all()
    # outside the Rufbus window nothing changes: a window 09:00–10:00 serves neither leg
    (tmp_path / "late").mkdir()
    nets2, _, _ = _rufbus_setup(tmp_path / "late", window=("09:00:00", "10:00:00"))
    tt2 = course_travel_times(origins, courses, networks=nets2, params=p)
    np.testing.assert_array_equal(tt2.mode("rufbus")[0], tt2.mode("oepnv")[0])


def test_rufbus_model_settings_from_the_region(tmp_path: Path) -> None:
    """The same village with ``rufbus_takt_min = 5``, ``rufbus_umweg_faktor = 1``, ``rufbus_geschwindigkeit_kmh = 25``.

    τ = ceil(1450 · 1.0 / (25/3.6)) = ceil(208.8) = 209 s. To A by 08:00: hub 07:55 (28500, A at 28709),
    pickup at V 28291 → hin = 30600 − 28291 = 2309 s (with the 10-min default the 07:50 vehicle was
    needed). Home: bus at A 43500; hub 43800 (pickup at A 43591), at V 44009 → rueck = 1709 s.
    """
    from dataclasses import replace

    nets, origins, courses = _rufbus_setup(tmp_path)
    nets = replace(nets, rufbus_modell=(5.0, 1.0, 25.0))
    hin, rueck = course_travel_times(origins, courses, networks=nets, params=Parameters()).mode("rufbus")
    assert hin[1, 0] == pytest.approx(2309 / 60, abs=1e-3)
    assert rueck[1, 0] == pytest.approx(1709 / 60, abs=1e-3)


def test_rufbus_columns_and_connections_cached_exactly(tmp_path: Path) -> None:
    nets, origins, courses = _rufbus_setup(tmp_path)
    nets = replace(nets, key="rufbus-test")
    p = Parameters()
    ref = course_travel_times(origins, courses, networks=nets, params=p)
    cache = Cache(tmp_path / "cache")
    first = course_travel_times(origins, courses, networks=nets, params=p, cache=cache)
    assert list((tmp_path / "cache" / "rufbus_verbindungen").iterdir())
    # a new course computes again and reads the day's merged connections from disk
    calls = []
    orig = traveltime_store.rufbus.merged_connections

    def counting(*a, **k):
        calls.append(1)
        return orig(*a, **k)

    more = courses.copy()
    more.loc[0, "beginn"] = 8 * 60 + 20
    more.loc[0, "kurs_id"] = "K2"
    import coverage.traveltime.rufbus as rufbus_mod

    rufbus_mod.merged_connections = counting
    try:
        second = course_travel_times(origins, more, networks=nets, params=p, cache=cache)
    finally:
        rufbus_mod.merged_connections = orig
    assert not calls
    for tt in (first,):
        np.testing.assert_array_equal(tt.hin, ref.hin)
        np.testing.assert_array_equal(tt.rueck, ref.rueck)
    uncached = course_travel_times(origins, more, networks=nets, params=p)
    np.testing.assert_array_equal(second.hin, uncached.hin)
    np.testing.assert_array_equal(second.rueck, uncached.rueck)


def test_region_without_on_demand_keeps_three_modes(tmp_path: Path) -> None:
    nets, origins, courses = _setup(tmp_path)
    assert not nets.has_on_demand and nets.modes == ("fuss", "rad", "oepnv")
    tt = course_travel_times(origins, courses, networks=nets, params=Parameters())
    assert tt.modes == ("fuss", "rad", "oepnv") and tt.hin.shape[0] == 3
    # a mask without any marked trip is no on-demand service
    nets2 = replace(nets, on_demand=np.zeros(len(nets.feed.trips), bool))
    assert nets2.modes == ("fuss", "rad", "oepnv")


@pytest.mark.parametrize(
    "window", [("06:00:00", "21:00:00"), ("07:03:00", "08:11:00"), ("11:50:00", "12:40:00")], ids=str
)
def test_rufbus_engine_against_brute_force_on_the_merged_timetable(tmp_path: Path, window: tuple[str, str]) -> None:
    """The engine's ``rufbus`` times equal a brute-force search over the fixed trips plus every flex ride a → b."""
    from coverage.transit.feed import Connections
    from coverage.traveltime import rufbus as rufbus_mod
    from tests.test_flex import _flex_rides
    from tests.test_transit import Timetable, _timetable, brute_earliest_arrival, brute_latest_departure

    nets, _, courses = _rufbus_setup(tmp_path, window=window)
    day = dt.date(2027, 2, 1)
    courses = courses.iloc[:1].assign(erster_tag=[day], letzter_tag=[day], wochentage=[(0,)])
    pts = [(0, 0), (0, 2900), (0, 2000), (300, 2700), (1000, 2900), (0, 1200)]
    origins = gpd.GeoDataFrame({"herkunft_id": [f"o{i}" for i in range(len(pts))]},
                               geometry=[Point(X0 + dx, Y0 + dy) for dx, dy in pts], crs="EPSG:25832")
    p = Parameters()
    tt = course_travel_times(origins, courses, networks=nets, params=p)
    xy = np.column_stack([origins.geometry.x, origins.geometry.y])
    prep = traveltime._prepare(xy, nets, p)
    site = traveltime.snap(nets.walk, np.array([X0 + LENGTH]), np.array([Y0]), max_distance_m=p.max_fangdistanz_m)
    egress = traveltime._node_columns(prep.stop_tree, site.node).T.tocsr()
    egress = traveltime._add_snaps(egress, site.distance_m / p.geh_m_s, prep.stop_snap_s, p.max_zugang_min * 60)
    horizon = traveltime._horizon_s(p)
    nd = traveltime._next_day_s(horizon, 11 * 3600 + 45 * 60)
    fixed = nets.feed.connections(day, next_day_s=nd)
    params = {"takt_min": rufbus_mod.TAKT_MIN, "umweg_faktor": rufbus_mod.UMWEG_FAKTOR,
              "geschwindigkeit_kmh": rufbus_mod.GESCHWINDIGKEIT_KMH}
    fc = nets.flex.connections(day, stop_ids=nets.feed.stop_ids, next_day_s=nd, **params)
    timetable = Timetable(fc.n_stops, _timetable(fixed).trips + _flex_rides(nets.flex, day, fc, params))
    assert isinstance(fixed, Connections) and len(timetable.trips) > fixed.n_trips  # flex rides on the day
    ct = np.zeros(fc.n_stops)
    start, end = 8.5 * 3600, 11.75 * 3600
    e = egress.getrow(0)
    ld = brute_latest_departure(timetable, dict(zip(e.indices.tolist(), (start - e.data).tolist(), strict=True)),
                                prep.footpaths, ct, since=start - horizon)
    ea = brute_earliest_arrival(timetable, dict(zip(e.indices.tolist(), (end + e.data).tolist(), strict=True)),
                                prep.footpaths, ct, until=end + horizon)
    acc = prep.access
    leave = traveltime._row_reduce(acc, np.asarray(ld, dtype=np.float64), how="max")
    arrive = traveltime._row_reduce(acc, np.asarray(ea, dtype=np.float64), how="min")
    walk_h, walk_r = tt.mode("fuss")
    want_h = np.minimum(walk_h[:, 0], ((start - leave) / 60).astype(np.float32))
    want_r = np.minimum(walk_r[:, 0], ((arrive - end) / 60).astype(np.float32))
    got_h, got_r = tt.mode("rufbus")
    np.testing.assert_array_equal(got_h[:, 0], want_h)
    np.testing.assert_array_equal(got_r[:, 0], want_r)
