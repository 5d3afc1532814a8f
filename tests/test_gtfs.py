"""Tests of coverage.transit.gtfs: loading, validation, service days and hand-made routing edge cases."""

from __future__ import annotations

import datetime as dt
import logging
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from coverage.errors import GTFSError, RoutingError
from coverage.transit.gtfs import load_gtfs
from coverage.transit.routing import stop_to_stop_earliest_arrival

DATA = Path(__file__).parent / "data"
CAIRNS = DATA / "cairns_gtfs_2014.zip"

MON = dt.date(2024, 1, 8)
TUE = dt.date(2024, 1, 9)
FRI = dt.date(2024, 1, 12)
SAT = dt.date(2024, 1, 13)
SUN = dt.date(2024, 1, 14)

BASE: dict[str, str] = {
    "agency.txt": "agency_name,agency_url,agency_timezone\nVerkehrsbetrieb,https://vb.example,Europe/Berlin\n",
    "stops.txt": (
        "stop_id,stop_name,stop_lat,stop_lon\n"
        "A,Altdorf,51.00,9.00\n"
        "B,Bahnhof,51.01,9.01\n"
        "B2,Bahnhof Bussteig,51.0101,9.0101\n"
        "C,Cdorf,51.02,9.02\n"
    ),
    "routes.txt": "route_id,route_type\nZUG,2\nBUS,3\n",
    "trips.txt": "route_id,service_id,trip_id\nZUG,WD,T1\nBUS,WD,T2\n",
    "stop_times.txt": (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,07:30:00,07:30:00,A,1\n"
        "T1,08:00:00,08:00:00,B,2\n"
        "T2,08:01:00,08:01:00,B,1\n"
        "T2,08:20:00,08:20:00,C,2\n"
    ),
    "calendar.txt": (
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "WD,1,1,1,1,1,0,0,20240101,20241231\n"
    ),
}


def write_feed(base: Path, files: dict[str, str | None], *, as_zip: bool = False, bom: bool = False) -> Path:
    """Write BASE updated with ``files`` (None = omit) as directory or zip."""
    content = {**BASE, **files}
    content = {k: v for k, v in content.items() if v is not None}
    if as_zip:
        path = base / "feed.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, text in content.items():
                zf.writestr(name, ("\ufeff" if bom else "") + text)
        return path
    path = base / "feed"
    path.mkdir(exist_ok=True)
    for name, text in content.items():
        (path / name).write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def arrival(feed, stop_from: str, when: dt.time, date: dt.date, stop_to: str) -> float:
    return float(stop_to_stop_earliest_arrival(feed, stop_from, when, date)[stop_to])


def hms(h: int, m: int, s: int = 0) -> int:
    return h * 3600 + m * 60 + s


# ---------------------------------------------------------------------------
# Real feed
# ---------------------------------------------------------------------------


def test_load_cairns():
    feed = load_gtfs(CAIRNS)
    assert feed.problems == []
    assert feed.n_stops == 416
    assert len(feed.trips) == 1339
    assert feed.date_range == (dt.date(2014, 5, 26), dt.date(2014, 12, 28))
    # EPSG:25832 coordinates exist (far outside zone 32, but finite)
    assert np.isfinite(feed.stops[["x", "y"]].to_numpy()).all()
    # Queen's Birthday 2014-06-09 is removed via calendar_dates; the weekday timetable differs
    assert feed.service_signature(dt.date(2014, 6, 9)) != feed.service_signature(dt.date(2014, 6, 10))
    assert feed.service_signature(dt.date(2014, 6, 11)) == feed.service_signature(dt.date(2014, 6, 12))
    with pytest.raises(RoutingError, match="außerhalb"):
        feed.connections(dt.date(2015, 1, 1))


# ---------------------------------------------------------------------------
# Hand-made feeds: timetable semantics
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("bus_dep", "caught"), [("07:59:00", False), ("08:00:00", True), ("08:01:00", True)])
def test_connecting_bus(tmp_path, bus_dep, caught):
    st = BASE["stop_times.txt"].replace("T2,08:01:00,08:01:00", f"T2,{bus_dep},{bus_dep}")
    feed = load_gtfs(write_feed(tmp_path, {"stop_times.txt": st}))
    got = arrival(feed, "A", dt.time(7, 0), MON, "C")
    assert (got == hms(8, 20)) if caught else math.isnan(got)


def test_overnight_trip_counts_on_next_day(tmp_path):
    st = (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,23:50:00,23:50:00,A,1\n"
        "T1,24:40:00,24:40:00,B,2\n"
        "T1,25:10:00,25:10:00,C,3\n"
    )
    feed = load_gtfs(
        write_feed(tmp_path, {"stop_times.txt": st, "trips.txt": "route_id,service_id,trip_id\nZUG,WD,T1\n"})
    )
    # Friday's trip reaches C at 01:10 on Saturday, a day without own service
    assert feed.service_signature(SAT) == ("-1|WD",)
    assert arrival(feed, "B", dt.time(0, 30), SAT, "C") == hms(1, 10)
    sat = feed.connections(SAT)
    assert sat.dep_time.min() == hms(23, 50) - 86400
    assert sorted(sat.arr_time.tolist()) == [hms(0, 40), hms(1, 10)]
    # On Monday the (Sunday) previous day has no service: only Monday's own run, ending at 25:10
    mon = feed.connections(MON)
    assert mon.arr_time.max() == hms(25, 10)
    assert mon.dep_time.min() == hms(23, 50)
    # Tuesday contains Monday's after-midnight part plus its own run
    tue = feed.connections(TUE)
    assert len(tue) == 4
    assert feed.service_signature(TUE) == ("-1|WD", "0|WD")
    assert arrival(feed, "B", 1800, TUE, "C") == hms(1, 10)
    assert arrival(feed, "A", dt.time(23, 0), MON, "C") == hms(25, 10)


def test_only_calendar_dates(tmp_path):
    files = {
        "calendar.txt": None,
        "calendar_dates.txt": "service_id,date,exception_type\nWD,20240108,1\nWD,20240110,1\n",
    }
    feed = load_gtfs(write_feed(tmp_path, files))
    assert feed.date_range == (MON, dt.date(2024, 1, 10))
    assert len(feed.connections(MON)) == 2
    assert len(feed.connections(TUE)) == 0
    assert feed.service_signature(TUE) == ()
    assert arrival(feed, "A", dt.time(7), MON, "C") == hms(8, 20)
    assert math.isnan(arrival(feed, "A", dt.time(7), TUE, "C"))


def test_holiday_removed_by_calendar_dates(tmp_path):
    feed = load_gtfs(write_feed(tmp_path, {"calendar_dates.txt": "service_id,date,exception_type\nWD,20240101,2\n"}))
    assert len(feed.connections(dt.date(2024, 1, 1))) == 0
    assert len(feed.connections(dt.date(2024, 1, 2))) == 2
    assert feed.service_signature(dt.date(2024, 1, 1)) == ()
    assert math.isnan(arrival(feed, "A", dt.time(7), dt.date(2024, 1, 1), "C"))


@pytest.mark.parametrize("exact", ["0", "1", ""])
def test_frequencies_expanded(tmp_path, exact):
    files = {
        "trips.txt": "route_id,service_id,trip_id\nBUS,WD,F\n",
        "stop_times.txt": (
            "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
            "F,00:00:00,00:00:00,A,1\n"
            "F,00:10:00,00:11:00,B,2\n"
            "F,00:25:00,00:25:00,C,3\n"
        ),
        "frequencies.txt": f"trip_id,start_time,end_time,headway_secs,exact_times\nF,06:00:00,07:00:00,1200,{exact}\n",
    }
    feed = load_gtfs(write_feed(tmp_path, files))
    assert feed.trips["trip_id"].tolist() == ["F@06:00:00", "F@06:20:00", "F@06:40:00"]
    assert set(feed.trips["gtfs_trip_id"]) == {"F"}
    assert len(feed.connections(MON)) == 6
    assert arrival(feed, "A", dt.time(6, 5), MON, "B") == hms(6, 30)
    assert arrival(feed, "A", dt.time(6, 5), MON, "C") == hms(6, 45)
    assert math.isnan(arrival(feed, "A", dt.time(6, 41), MON, "C"))


def test_transfers_txt(tmp_path):
    # change time at B: 2 min -> bus at 08:01 missed, 08:02 caught
    tr = "from_stop_id,to_stop_id,transfer_type,min_transfer_time\nB,B,2,120\n"
    (tmp_path / "a").mkdir()
    feed = load_gtfs(write_feed(tmp_path / "a", {"transfers.txt": tr}))
    assert feed.min_transfer_time[feed.stop_index("B")] == 120
    assert math.isnan(arrival(feed, "A", dt.time(7), MON, "C"))
    st = BASE["stop_times.txt"].replace("T2,08:01:00,08:01:00", "T2,08:02:00,08:02:00")
    (tmp_path / "b").mkdir()
    feed = load_gtfs(write_feed(tmp_path / "b", {"transfers.txt": tr, "stop_times.txt": st}))
    assert arrival(feed, "A", dt.time(7), MON, "C") == hms(8, 20)
    # forbidden transfer at B
    (tmp_path / "c").mkdir()
    feed = load_gtfs(write_feed(tmp_path / "c", {"transfers.txt": tr.replace("B,B,2,120", "B,B,3,")}))
    assert math.isnan(arrival(feed, "A", dt.time(7), MON, "C"))
    # stop pair B -> B2 with 5 min; the bus leaves from B2
    for dep, ok in (("08:04:00", False), ("08:05:00", True)):
        d = tmp_path / f"pair{dep[3:5]}"
        d.mkdir()
        st = BASE["stop_times.txt"].replace("T2,08:01:00,08:01:00,B,1", f"T2,{dep},{dep},B2,1")
        pair = "from_stop_id,to_stop_id,transfer_type,min_transfer_time\nB,B2,2,300\n"
        feed = load_gtfs(write_feed(d, {"transfers.txt": pair, "stop_times.txt": st}))
        got = arrival(feed, "A", dt.time(7), MON, "C")
        assert (got == hms(8, 20)) if ok else math.isnan(got)


def test_unsorted_stop_times_bom_quotes_zip(tmp_path):
    lines = BASE["stop_times.txt"].splitlines()
    shuffled = "\n".join([lines[0], lines[4], lines[2], lines[3], lines[1]]) + "\n"
    stops = BASE["stops.txt"].replace("A,Altdorf,", 'A,"Altdorf, Kirche",')
    path = write_feed(tmp_path, {"stop_times.txt": shuffled, "stops.txt": stops}, as_zip=True, bom=True)
    feed = load_gtfs(path)
    assert feed.stops.loc[0, "stop_name"] == "Altdorf, Kirche"
    assert arrival(feed, "A", dt.time(7), MON, "C") == hms(8, 20)
    c = feed.connections(MON).to_frame()
    assert c[["dep_stop_id", "arr_stop_id", "dep_time"]].values.tolist() == [
        ["A", "B", hms(7, 30)],
        ["B", "C", hms(8, 1)],
    ]


def test_zip_with_subfolder_and_missing_optional_files(tmp_path):
    path = tmp_path / "nested.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in BASE.items():
            zf.writestr(f"gtfs/{name}", text)
    feed = load_gtfs(path)
    assert len(feed.frequencies) == 0 and len(feed.transfers) == 0
    assert len(feed.connections(MON)) == 2


def test_interpolated_intermediate_times(tmp_path):
    st = (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
        "T1,07:30:00,07:30:00,A,1\n"
        "T1,,,B,2\n"
        "T1,07:50:00,07:50:00,C,3\n"
    )
    feed = load_gtfs(
        write_feed(tmp_path, {"stop_times.txt": st, "trips.txt": "route_id,service_id,trip_id\nZUG,WD,T1\n"})
    )
    assert arrival(feed, "A", dt.time(7), MON, "B") == hms(7, 40)


def test_pickup_drop_off_types(tmp_path):
    st = (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,drop_off_type\n"
        "T1,07:30:00,07:30:00,A,1,0,1\n"
        "T1,07:40:00,07:40:00,B,2,1,1\n"
        "T1,07:50:00,07:50:00,C,3,1,0\n"
    )
    feed = load_gtfs(
        write_feed(tmp_path, {"stop_times.txt": st, "trips.txt": "route_id,service_id,trip_id\nZUG,WD,T1\n"})
    )
    assert math.isnan(arrival(feed, "A", dt.time(7), MON, "B"))  # no alighting at B
    assert arrival(feed, "A", dt.time(7), MON, "C") == hms(7, 50)
    assert math.isnan(arrival(feed, "B", dt.time(7), MON, "C"))  # no boarding at B


# ---------------------------------------------------------------------------
# Validation: each ERROR rule names file, line, column
# ---------------------------------------------------------------------------

ST_HEAD = "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"

ERROR_CASES = {
    "missing_required_file": ({"stops.txt": None}, "stops.txt", None, None),
    "missing_routes_file": ({"routes.txt": None}, "routes.txt", None, None),
    "missing_calendar_files": ({"calendar.txt": None}, "calendar.txt", None, None),
    "missing_required_column": (
        {"trips.txt": "route_id,trip_id\nZUG,T1\nBUS,T2\n"},
        "trips.txt",
        None,
        "service_id",
    ),
    "missing_required_field": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("T2,08:20:00,08:20:00,C,2", "T2,08:20:00,08:20:00,,2")},
        "stop_times.txt",
        5,
        "stop_id",
    ),
    "missing_coordinates": (
        {"stops.txt": BASE["stops.txt"].replace("C,Cdorf,51.02,9.02", "C,Cdorf,,9.02")},
        "stops.txt",
        5,
        "stop_lat",
    ),
    "invalid_time": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("T1,08:00:00,08:00:00", "T1,8:0:00,08:00:00")},
        "stop_times.txt",
        3,
        "arrival_time",
    ),
    "invalid_date": (
        {"calendar.txt": BASE["calendar.txt"].replace("20240101", "20241301")},
        "calendar.txt",
        2,
        "start_date",
    ),
    "invalid_route_type": ({"routes.txt": "route_id,route_type\nZUG,2\nBUS,bus\n"}, "routes.txt", 3, "route_type"),
    "fk_stop_times_stops": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("T2,08:20:00,08:20:00,C", "T2,08:20:00,08:20:00,X")},
        "stop_times.txt",
        5,
        "stop_id",
    ),
    "fk_stop_times_trips": (
        {"stop_times.txt": BASE["stop_times.txt"] + "T9,09:00:00,09:00:00,A,1\n"},
        "stop_times.txt",
        6,
        "trip_id",
    ),
    "fk_trips_routes": (
        {"trips.txt": "route_id,service_id,trip_id\nZUG,WD,T1\nTRAM,WD,T2\n"},
        "trips.txt",
        3,
        "route_id",
    ),
    "fk_trips_services": (
        {"trips.txt": "route_id,service_id,trip_id\nZUG,WD,T1\nBUS,SA,T2\n"},
        "trips.txt",
        3,
        "service_id",
    ),
    "duplicate_stop_id": ({"stops.txt": BASE["stops.txt"] + "B,Doppelt,51.0,9.0\n"}, "stops.txt", 6, "stop_id"),
    "duplicate_trip_id": (
        {"trips.txt": "route_id,service_id,trip_id\nZUG,WD,T1\nBUS,WD,T2\nBUS,WD,T1\n"},
        "trips.txt",
        4,
        "trip_id",
    ),
    "non_increasing_stop_sequence": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("T2,08:20:00,08:20:00,C,2", "T2,08:20:00,08:20:00,C,1")},
        "stop_times.txt",
        5,
        "stop_sequence",
    ),
    "arrival_after_departure": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("T1,08:00:00,08:00:00", "T1,08:00:00,07:59:00")},
        "stop_times.txt",
        3,
        "arrival_time",
    ),
    "times_decreasing": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("T2,08:20:00,08:20:00", "T2,07:20:00,07:20:00")},
        "stop_times.txt",
        5,
        "arrival_time",
    ),
    "missing_trip_edge": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("T2,08:20:00,08:20:00", "T2,,")},
        "stop_times.txt",
        5,
        "arrival_time",
    ),
    "frequency_start_after_end": (
        {"frequencies.txt": "trip_id,start_time,end_time,headway_secs\nT2,09:00:00,08:00:00,600\n"},
        "frequencies.txt",
        2,
        "start_time",
    ),
    "invalid_headway": (
        {"frequencies.txt": "trip_id,start_time,end_time,headway_secs\nT2,08:00:00,09:00:00,0\n"},
        "frequencies.txt",
        2,
        "headway_secs",
    ),
    "fk_transfers_stops": (
        {"transfers.txt": "from_stop_id,to_stop_id,transfer_type,min_transfer_time\nB,Q,2,60\n"},
        "transfers.txt",
        2,
        "to_stop_id",
    ),
    "invalid_exception_type": (
        {"calendar_dates.txt": "service_id,date,exception_type\nWD,20240101,3\n"},
        "calendar_dates.txt",
        2,
        "exception_type",
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES), ids=list(ERROR_CASES))
def test_error_rules_raise(tmp_path, case):
    files, file, row, column = ERROR_CASES[case]
    with pytest.raises(GTFSError) as info:
        load_gtfs(write_feed(tmp_path, files))
    err = info.value
    assert err.file == file
    assert err.row == row
    assert err.column == column
    msg = str(err)
    assert file in msg
    if row is not None:
        assert f"Zeile {row}" in msg
    if column is not None:
        assert column in msg


def test_lenient_mode_collects_problems(tmp_path, caplog):
    st = (
        BASE["stop_times.txt"].replace("T2,08:20:00,08:20:00", "T2,07:20:00,07:20:00")  # T2 invalid
        + "T9,09:00:00,09:00:00,A,1\n"  # unknown trip
    )
    files = {"stop_times.txt": st, "stops.txt": BASE["stops.txt"] + "B,Doppelt,51.0,9.0\n"}
    with caplog.at_level(logging.WARNING, logger="coverage.transit.gtfs"):
        feed = load_gtfs(write_feed(tmp_path, files), strict=False)
    codes = sorted(p["code"] for p in feed.problems)
    assert codes == ["duplicate_key", "foreign_key_violation", "stop_time_with_arrival_before_previous_departure_time"]
    assert all({"file", "row", "column", "value", "message"} <= p.keys() for p in feed.problems)
    assert "3 Regelverstöße" in caplog.text
    assert feed.trips["trip_id"].tolist() == ["T1"]  # the invalid trip was dropped, not silently: see problems
    assert len(feed.connections(MON)) == 1


def test_not_a_feed(tmp_path):
    with pytest.raises(GTFSError, match="nicht gefunden"):
        load_gtfs(tmp_path / "nope.zip")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"no zip")
    with pytest.raises(GTFSError, match="ZIP"):
        load_gtfs(bad)


# ---------------------------------------------------------------------------
# Night trips of the next service day (written as 00:xx of day D+1)
# ---------------------------------------------------------------------------

THU = dt.date(2024, 1, 11)
FRI2 = dt.date(2024, 1, 19)  # the Friday before a Saturday without the night bus
NIGHT = {
    # WD: day trips Mon-Fri; SA: the night bus N1 B 00:20 -> A 00:45, written as a Saturday trip
    "trips.txt": "route_id,service_id,trip_id\nZUG,WD,T1\nBUS,WD,T2\nBUS,SA,N1\n",
    "stop_times.txt": BASE["stop_times.txt"] + "N1,00:20:00,00:20:00,B,1\nN1,00:45:00,00:45:00,A,2\n",
    "calendar.txt": BASE["calendar.txt"] + "SA,0,0,0,0,0,1,0,20240101,20241231\n",
    # no night bus on Saturday 2024-01-20
    "calendar_dates.txt": "service_id,date,exception_type\nSA,20240120,2\n",
}


def test_night_trip_of_the_next_service_day(tmp_path):
    feed = load_gtfs(write_feed(tmp_path, NIGHT))
    # by default (and for a cut-off before 00:20) a day holds only its own and the previous day's trips
    assert len(feed.connections(FRI)) == 2
    assert feed.service_signature(FRI) == ("0|WD",)
    assert feed.service_signature(FRI, next_day_s=hms(0, 19, 59)) == ("0|WD",)
    assert len(feed.connections(FRI, next_day_s=hms(0, 19, 59))) == 2
    # with the next day's night trips: N1 of Saturday, shifted by +24 h into Friday's time axis
    fri = feed.connections(FRI, next_day_s=hms(0, 20))
    assert feed.service_signature(FRI, next_day_s=hms(0, 20)) == ("0|WD", "1<1200|SA")
    assert feed.service_signature(FRI, next_day_s=3600) == ("0|WD", "1<3600|SA")
    night = fri.to_frame().query("dep_time >= 86400")
    assert night[["dep_stop_id", "arr_stop_id", "dep_time", "arr_time"]].values.tolist() == [
        ["B", "A", 86400 + hms(0, 20), 86400 + hms(0, 45)]
    ]
    assert sorted(fri.run_day_offset.tolist()) == [0, 0, 1]
    # the way home from an evening course ending 23:30 at B: only the night bus
    assert arrival_at(feed, "B", hms(23, 30), FRI, "A", next_day_s=3600) == 86400 + hms(0, 45)
    assert math.isnan(arrival_at(feed, "B", hms(23, 30), FRI, "A"))  # without the next day: missed
    # Thursday: Friday has no night bus; Friday 2024-01-19: removed by calendar_dates on Saturday
    for day in (THU, FRI2):
        assert feed.service_signature(day, next_day_s=3600) == ("0|WD",)
        assert math.isnan(arrival_at(feed, "B", hms(23, 30), day, "A", next_day_s=3600))
    # Saturday itself runs N1 at 00:20 as before
    assert feed.service_signature(SAT, next_day_s=3600) == ("0|SA",)
    assert arrival_at(feed, "B", 0, SAT, "A", next_day_s=3600) == hms(0, 45)
    with pytest.raises(RoutingError, match="next_day_s"):
        feed.connections(FRI, next_day_s=1.5)


def test_night_trip_written_past_24h_is_unchanged(tmp_path):
    # The same night bus written as Friday's trip at 24:20: seen as before, with or without next_day_s.
    files = {
        **NIGHT,
        "stop_times.txt": BASE["stop_times.txt"] + "N1,24:20:00,24:20:00,B,1\nN1,24:45:00,24:45:00,A,2\n",
        "calendar.txt": BASE["calendar.txt"] + "SA,0,0,0,0,1,0,0,20240101,20241231\n",
        "calendar_dates.txt": None,
    }
    feed = load_gtfs(write_feed(tmp_path, files))
    for next_day_s in (-1, 3600):
        assert arrival_at(feed, "B", hms(23, 30), FRI, "A", next_day_s=next_day_s) == 86400 + hms(0, 45)
        assert math.isnan(arrival_at(feed, "B", hms(23, 30), THU, "A", next_day_s=next_day_s))
    assert feed.service_signature(SAT, next_day_s=3600) == ("-1|SA",)
    assert arrival_at(feed, "B", 0, SAT, "A") == hms(0, 45)


def test_same_trip_on_two_days_gives_two_runs(tmp_path):
    # A daily trip at 00:20: Friday's own run (early morning) and Saturday's run (+24 h) are different runs.
    files = {
        **NIGHT,
        "calendar.txt": BASE["calendar.txt"] + "SA,1,1,1,1,1,1,1,20240101,20241231\n",
        "calendar_dates.txt": None,
    }
    feed = load_gtfs(write_feed(tmp_path, files))
    c = feed.connections(FRI, next_day_s=3600)
    n1 = int(np.flatnonzero(feed.trips["trip_id"].to_numpy() == "N1")[0])
    runs = np.flatnonzero(c.run_trip == n1)
    assert sorted(c.run_day_offset[runs].tolist()) == [0, 1]
    df = c.to_frame().query("dep_stop_id == 'B' and arr_stop_id == 'A'")
    assert df["dep_time"].tolist() == [hms(0, 20), 86400 + hms(0, 20)]
    assert df["trip"].nunique() == 2
    assert arrival_at(feed, "B", 0, FRI, "A", next_day_s=3600) == hms(0, 45)
    assert arrival_at(feed, "B", hms(0, 21), FRI, "A", next_day_s=3600) == 86400 + hms(0, 45)


def arrival_at(feed, stop_from: str, when: int, date: dt.date, stop_to: str, *, next_day_s: int = -1) -> float:
    res = stop_to_stop_earliest_arrival(feed, stop_from, when, date, next_day_s=next_day_s)
    return float(res[stop_to])
