"""Seeded generator of a Germany-scale GTFS feed (for ``bench_gtfs_national.py``).

The county will hand Kursatlas the Germany-wide feed (DELFI: 30–40 million stop
times, ~500,000 stops). That feed is not reachable here, so this module writes one
of the same size and shape in the published format (zip, deflate):

* ``stops.txt``: ~``n_stops`` platforms with DHID ids (``de:<AGS>:<n>:<area>:<platform>``)
  under their parent stations (``location_type`` 1, ``de:<AGS>:<n>``), spread over
  Germany (lon 6–15, lat 47.3–55; 60 % clustered around towns).
* ``routes.txt``: bus (3, 700), demand-and-response bus (715), rail (2, 106, 109) and
  tram (0) lines that run along chains of nearby stations (rail: longer hops between
  the stations flagged as rail stations).
* ``trips.txt``/``stop_times.txt``: trips of these lines in both directions, times
  from the distances (some after midnight), ``pickup_type``/``drop_off_type`` at the
  ends; on demand and some bus lines the intermediate stops have no times (to be
  interpolated), as in many real feeds.
* ``calendar.txt``: a year of weekday patterns; ``calendar_dates.txt``: public holidays
  removed, school-day services removed in the school holidays (per Land), and
  services defined by ``calendar_dates.txt`` only.
* with ``base_feed`` (the model region's ``gtfs_modell.zip``): its agencies, stops,
  routes, trips, stop times and calendars appended unchanged (ids prefixed with
  ``modell:`` only if they collide with generated ids), so a small part of the feed
  lies over the model region.

Everything is streamed: ``stop_times.txt`` is built in blocks of trips (numpy) and
written with :func:`pyarrow.csv.write_csv` into the open zip member, so peak memory
stays at a few hundred MB for 30 million stop times.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = ["write_national_gtfs"]

_BLOCK_TRIPS = 100_000
_LON = (6.0, 15.0)
_LAT = (47.3, 55.0)
_ST_COLUMNS = ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence", "pickup_type", "drop_off_type"]

# (route_type, share of lines, rail?, min stops, max stops, m/s, untimed intermediate stops?)
_KINDS = (
    (700, 0.45, False, 8, 30, 7.0, False),
    (3, 0.15, False, 8, 25, 7.0, True),
    (715, 0.10, False, 5, 15, 8.0, True),
    (0, 0.05, False, 10, 30, 6.0, False),
    (2, 0.08, True, 10, 35, 22.0, False),
    (106, 0.07, True, 8, 25, 20.0, False),
    (109, 0.10, True, 8, 20, 16.0, False),
)
_TRIPS_WEIGHT = {700: 1.0, 3: 1.0, 715: 0.4, 0: 3.0, 2: 0.6, 106: 1.0, 109: 2.5}


def write_national_gtfs(
    out_zip: Path,
    *,
    base_feed: Path | None = None,
    n_stop_times: int = 30_000_000,
    n_stops: int = 100_000,
    seed: int = 0,
    start: dt.date = dt.date(2026, 8, 1),
    compresslevel: int = 1,
) -> dict[str, Any]:
    """Write a Germany-scale GTFS zip to ``out_zip`` and return what it holds.

    Parameters
    ----------
    out_zip
        Target file (overwritten).
    base_feed
        A (small) feed to embed unchanged, e.g. ``data/rotenburg/gtfs_modell.zip``.
    n_stop_times
        Generated stop times (at least this many; the embedded feed's come on top).
    n_stops
        Generated platforms (stops with ``location_type`` 0); parent stations come on top.
    seed
        Seed of all random choices: equal arguments give an identical file.
    start
        First day of the year of service.
    compresslevel
        Deflate level of the zip members (1: fast; level 6 makes the zip ~25 % smaller but
        takes five times as long to write; reading is about equally fast).

    Returns
    -------
    dict
        Counts (``stops``, ``stations``, ``routes``, ``trips``, ``stop_times``,
        ``services``, ``calendar_dates``), ``bytes`` of the zip, ``seconds`` taken,
        ``model_prefix`` (prefix given to the embedded feed's ids, usually ``""``) and
        the embedded feed's counts under ``model``.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    stations, platforms = _stations(rng, n_stops)
    routes = _routes(rng, stations, platforms)
    services = _services(rng, start)
    trips = _trips(rng, routes, services, n_stop_times)
    model = _read_feed(base_feed) if base_feed is not None else {}
    prefix = _model_prefix(model, stations, platforms, routes, trips, services)
    if model and prefix:
        model = _renamed(model, prefix)

    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with zipfile.ZipFile(out_zip, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        _write_small(zf, "agency.txt", _agency_rows(), model)
        counts["stops"] = _write_table(zf, "stops.txt", _stops_table(stations, platforms), model)
        counts["routes"] = _write_table(zf, "routes.txt", _routes_table(routes), model)
        counts["trips"] = _write_table(zf, "trips.txt", _trips_table(trips, routes, services), model)
        counts["stop_times"] = _write_stop_times(zf, trips, routes, platforms, model)
        _write_table(zf, "calendar.txt", _calendar_table(services), model)
        counts["services"] = int(services["n"])
        counts["calendar_dates"] = _write_table(zf, "calendar_dates.txt", _calendar_dates_table(services), model)
        _write_small(
            zf,
            "feed_info.txt",
            [
                ["feed_publisher_name", "feed_publisher_url", "feed_lang", "feed_start_date", "feed_end_date"],
                [
                    "Kursatlas synthetischer Deutschland-Fahrplan",
                    "https://example.org/kursatlas",
                    "de",
                    f"{start:%Y%m%d}",
                    f"{start + dt.timedelta(days=364):%Y%m%d}",
                ],
            ],
            {},
        )
    counts["stations"] = int(stations["n"])
    return {
        **counts,
        "bytes": out_zip.stat().st_size,
        "seconds": time.perf_counter() - t0,
        "model_prefix": prefix,
        "model": {name: max(len(rows) - 1, 0) for name, rows in model.items()},
        "seed": seed,
    }


# --------------------------------------------------------------------------- stops


def _stations(rng: np.random.Generator, n_stops: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stations (lon, lat, DHID, rail flag) and their platforms (1–4 each)."""
    n_st = max(int(n_stops / 2.2), 1)
    n_towns = max(n_st // 120, 1)
    town_lon = rng.uniform(*_LON, n_towns)
    town_lat = rng.uniform(*_LAT, n_towns)
    clustered = rng.random(n_st) < 0.6
    town = rng.integers(0, n_towns, n_st)
    lon = np.where(clustered, town_lon[town] + rng.normal(0, 0.06, n_st), rng.uniform(*_LON, n_st))
    lat = np.where(clustered, town_lat[town] + rng.normal(0, 0.04, n_st), rng.uniform(*_LAT, n_st))
    lon = np.clip(lon, *_LON)
    lat = np.clip(lat, *_LAT)
    ags = rng.integers(1001, 16078, n_st)
    ids = np.array([f"de:{a:05d}:{k + 1}" for k, a in enumerate(ags.tolist())], dtype=object)
    rail = rng.random(n_st) < 0.06
    n_plat = rng.integers(1, 5, n_st)
    extra = n_stops - int(n_plat.sum())  # match the platform count exactly
    if extra > 0:
        np.add.at(n_plat, rng.integers(0, n_st, extra), 1)
    elif extra < 0:
        while (over := int(n_plat.sum()) - n_stops) > 0:
            cand = np.flatnonzero(n_plat > 1)
            n_plat[rng.choice(cand, min(over, cand.size), replace=False)] -= 1
    station_of = np.repeat(np.arange(n_st), n_plat)
    first = np.concatenate([[0], np.cumsum(n_plat)[:-1]])
    k = np.arange(station_of.size) - first[station_of] + 1
    p_lon = lon[station_of] + rng.normal(0, 0.0003, station_of.size)
    p_lat = lat[station_of] + rng.normal(0, 0.0002, station_of.size)
    p_ids = np.array(
        [f"{ids[s]}:{1 + (j - 1) // 2}:{j}" for s, j in zip(station_of.tolist(), k.tolist(), strict=True)],
        dtype=object,
    )
    stations = {"n": n_st, "lon": lon, "lat": lat, "id": ids, "rail": rail, "first": first, "count": n_plat}
    platforms = {"n": station_of.size, "station": station_of, "lon": p_lon, "lat": p_lat, "id": p_ids}
    return stations, platforms


def _stops_table(stations: dict[str, Any], platforms: dict[str, Any]) -> pa.Table:
    n_s, n_p = stations["n"], platforms["n"]
    names = np.array([f"Ort {i % 9973} Halt {i}" for i in range(n_s)], dtype=object)
    return pa.table(
        {
            "stop_id": np.concatenate([stations["id"], platforms["id"]]).tolist(),
            "stop_name": np.concatenate([names, names[platforms["station"]]]).tolist(),
            "stop_lat": [f"{v:.6f}" for v in np.concatenate([stations["lat"], platforms["lat"]]).tolist()],
            "stop_lon": [f"{v:.6f}" for v in np.concatenate([stations["lon"], platforms["lon"]]).tolist()],
            "location_type": ["1"] * n_s + ["0"] * n_p,
            "parent_station": [""] * n_s + stations["id"][platforms["station"]].tolist(),
        }
    )


# --------------------------------------------------------------------------- lines


def _routes(rng: np.random.Generator, stations: dict[str, Any], platforms: dict[str, Any]) -> dict[str, Any]:
    """Lines as chains of nearby stations: CSR of platform indices and time offsets per stop."""
    from scipy.spatial import cKDTree

    n_st = stations["n"]
    coslat = np.cos(np.radians(51.0))
    xy = np.column_stack([stations["lon"] * coslat, stations["lat"]]) * 111_000.0  # metres, roughly
    all_tree = cKDTree(xy)
    rail_idx = np.flatnonzero(stations["rail"])
    rail_tree = cKDTree(xy[rail_idx]) if rail_idx.size else all_tree
    n_lines = max(n_st // 3, 1)
    share = np.array([k[1] for k in _KINDS])
    kind = rng.choice(len(_KINDS), n_lines, p=share / share.sum())
    seqs: list[np.ndarray] = []
    for ki, (_, _, rail, lo, hi, _, _) in enumerate(_KINDS):
        lines = np.flatnonzero(kind == ki)
        if lines.size == 0:
            continue
        tree, pool = (rail_tree, rail_idx) if rail and rail_idx.size else (all_tree, np.arange(n_st))
        step = 12000.0 if rail else 2500.0
        length = rng.integers(lo, hi + 1, lines.size)
        cur = rng.integers(0, pool.size, lines.size)
        prev = np.full(lines.size, -1)
        angle = rng.uniform(0, 2 * np.pi, lines.size)
        chain = [pool[cur]]
        for _ in range(int(length.max()) - 1):
            angle = angle + rng.normal(0, 0.35, lines.size)
            direction = np.column_stack([np.cos(angle), np.sin(angle)])
            target = xy[pool[cur]] + step * rng.uniform(0.6, 1.4, lines.size)[:, None] * direction
            _, cand = tree.query(target, k=4)
            fresh = (cand != cur[:, None]) & (cand != prev[:, None])
            j = cand[np.arange(lines.size), np.argmax(fresh, axis=1)]
            prev, cur = cur, j
            chain.append(pool[j])
        mat = np.column_stack(chain)
        for r in range(lines.size):
            s = mat[r, : length[r]]
            keep = np.ones(s.size, dtype=bool)
            keep[1:] = s[1:] != s[:-1]
            s = s[keep]
            if s.size >= 2:
                seqs.append(np.array([ki, *s.tolist()], dtype=np.int64))
    rng.shuffle(seqs)  # type: ignore[arg-type]
    kinds = np.array([s[0] for s in seqs], dtype=np.int64)
    lens = np.array([s.size - 1 for s in seqs], dtype=np.int64)
    ptr = np.zeros(lens.size + 1, dtype=np.int64)
    np.cumsum(lens, out=ptr[1:])
    st = np.concatenate([s[1:] for s in seqs])
    # platform: one per station and line
    plat = stations["first"][st] + (rng.integers(0, 1 << 30, st.size) % stations["count"][st])
    speed = np.array([k[5] for k in _KINDS])[np.repeat(kinds, lens)]
    hop = np.zeros(st.size)
    hop[1:] = np.hypot(*(xy[st[1:]] - xy[st[:-1]]).T) * 1.3 / speed[1:]
    first = np.zeros(st.size, dtype=bool)
    first[ptr[:-1]] = True
    hop = np.where(first, 0.0, np.maximum(np.round(hop / 60.0) * 60.0, 60.0))
    dwell = np.where(first, 0, np.where(np.repeat(np.array([k[2] for k in _KINDS])[kinds], lens), 60, 0))
    arr_off = np.zeros(st.size, dtype=np.int64)
    dep_off = np.zeros(st.size, dtype=np.int64)
    total = np.cumsum(hop + dwell)
    base = np.repeat(total[ptr[:-1]], lens)
    dep_off[:] = (total - base).astype(np.int64)
    arr_off[:] = dep_off - dwell.astype(np.int64)
    untimed_line = np.array([k[6] for k in _KINDS])[kinds] & (rng.random(kinds.size) < 0.5)
    return {
        "n": int(lens.size),
        "kind": kinds,
        "type": np.array([k[0] for k in _KINDS])[kinds],
        "ptr": ptr,
        "len": lens,
        "platform": plat,
        "arr_off": arr_off,
        "dep_off": dep_off,
        "untimed": untimed_line,
        "id": np.array([f"L{r}" for r in range(lens.size)], dtype=object),
    }


def _routes_table(routes: dict[str, Any]) -> pa.Table:
    n = routes["n"]
    agency = (np.arange(n) % 97).tolist()
    return pa.table(
        {
            "route_id": routes["id"].tolist(),
            "agency_id": [f"a{a}" for a in agency],
            "route_short_name": [
                f"{'RB' if t in (2, 106, 109) else ''}{r % 999}" for r, t in enumerate(routes["type"])
            ],
            "route_long_name": [""] * n,
            "route_type": [str(t) for t in routes["type"].tolist()],
        }
    )


def _agency_rows() -> list[list[str]]:
    rows = [["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"]]
    rows += [[f"a{a}", f"Verkehrsunternehmen {a}", "https://example.org", "Europe/Berlin", "de"] for a in range(97)]
    return rows


# --------------------------------------------------------------------------- services


def _services(rng: np.random.Generator, start: dt.date) -> dict[str, Any]:
    """Weekday patterns for a year, school-day services, calendar_dates-only services."""
    end = start + dt.timedelta(days=364)
    patterns = ("1111100", "1111100", "0000010", "0000001", "1111110", "1111111")
    n_cal = 2400
    n_only = 600
    pat = rng.integers(0, len(patterns), n_cal)
    school = (pat <= 1) & (rng.random(n_cal) < 0.5)
    land = rng.integers(0, 16, n_cal + n_only)
    days = np.array([start + dt.timedelta(days=i) for i in range(365)])
    weekday = np.array([d.weekday() for d in days])
    holidays = {
        dt.date(start.year, 10, 3),
        dt.date(start.year, 12, 25),
        dt.date(start.year, 12, 26),
        dt.date(start.year + 1, 1, 1),
        dt.date(start.year + 1, 4, 2),
        dt.date(start.year + 1, 4, 5),
        dt.date(start.year + 1, 5, 1),
        dt.date(start.year + 1, 5, 13),
        dt.date(start.year + 1, 5, 24),
    }
    hol_idx = np.array([i for i, d in enumerate(days) if d in holidays])
    # school holidays per Land: autumn 2 weeks, Christmas 2 weeks, Easter 2 weeks, summer 6 weeks (shifted per Land)
    vac: list[np.ndarray] = []
    for ld in range(16):
        shift = ld % 4 * 7
        spans = [(70 + shift, 14), (145, 16), (235 + shift // 2, 14), (330 - shift, 35)]
        vac.append(np.concatenate([np.arange(a, min(a + n, 365)) for a, n in spans]))
    ex_service: list[np.ndarray] = []
    ex_day: list[np.ndarray] = []
    ex_type: list[np.ndarray] = []
    for s in range(n_cal):
        mask = np.array([c == "1" for c in patterns[pat[s]]])
        off = hol_idx[mask[weekday[hol_idx]]]
        if school[s]:
            v = vac[land[s]]
            off = np.union1d(off, v[mask[weekday[v]]])
        ex_service.append(np.full(off.size, s))
        ex_day.append(off)
        ex_type.append(np.full(off.size, 2))
    for s in range(n_cal, n_cal + n_only):  # defined by calendar_dates.txt only
        on = np.flatnonzero(rng.random(365) < rng.uniform(0.1, 0.6))
        ex_service.append(np.full(on.size, s))
        ex_day.append(on)
        ex_type.append(np.full(on.size, 1))
    return {
        "n": n_cal + n_only,
        "n_cal": n_cal,
        "pattern": [patterns[p] for p in pat.tolist()],
        "id": np.array([f"s{s}" if s < n_cal else f"cd{s}" for s in range(n_cal + n_only)], dtype=object),
        "start": start,
        "end": end,
        "days": days,
        "ex_service": np.concatenate(ex_service),
        "ex_day": np.concatenate(ex_day),
        "ex_type": np.concatenate(ex_type),
    }


def _calendar_table(services: dict[str, Any]) -> pa.Table:
    n = services["n_cal"]
    cols: dict[str, list[str]] = {"service_id": services["id"][:n].tolist()}
    for i, day in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")):
        cols[day] = [p[i] for p in services["pattern"]]
    cols["start_date"] = [f"{services['start']:%Y%m%d}"] * n
    cols["end_date"] = [f"{services['end']:%Y%m%d}"] * n
    return pa.table(cols)


def _calendar_dates_table(services: dict[str, Any]) -> pa.Table:
    day_str = pa.array([f"{d:%Y%m%d}" for d in services["days"]])
    return pa.table(
        {
            "service_id": pa.array(services["id"].tolist()).take(pa.array(services["ex_service"])),
            "date": day_str.take(pa.array(services["ex_day"])),
            "exception_type": pc.cast(pa.array(services["ex_type"]), pa.string()),
        }
    )


# --------------------------------------------------------------------------- trips


def _trips(rng: np.random.Generator, routes: dict[str, Any], services: dict[str, Any], n_stop_times: int) -> dict:
    """Trips (route, direction, start second, service) until ``n_stop_times`` stop times are reached."""
    w = np.array([_TRIPS_WEIGHT[t] for t in routes["type"].tolist()], dtype=np.float64)
    p = w / w.sum()
    mean_len = float((p * routes["len"]).sum())
    n = int(n_stop_times / mean_len * 1.05) + 10
    route = np.sort(rng.choice(routes["n"], n, p=p))
    lens = routes["len"][route]
    cut = int(np.searchsorted(np.cumsum(lens), n_stop_times)) + 1
    route = route[:cut]
    # start times: morning and afternoon peaks, some trips run past midnight
    peak = rng.choice(3, route.size, p=[0.35, 0.35, 0.30])
    start = np.where(
        peak == 0,
        rng.normal(7.5 * 3600, 1.2 * 3600, route.size),
        np.where(
            peak == 1, rng.normal(16.5 * 3600, 1.5 * 3600, route.size), rng.uniform(4.5 * 3600, 24.5 * 3600, route.size)
        ),
    )
    start = (np.clip(start, 4 * 3600, 25 * 3600) // 60 * 60).astype(np.int64)
    return {
        "n": int(route.size),
        "route": route,
        "reverse": rng.random(route.size) < 0.5,
        "start": start,
        "service": rng.integers(0, services["n"], route.size),
    }


def _trips_table(trips: dict[str, Any], routes: dict[str, Any], services: dict[str, Any]) -> pa.Table:
    ids = pc.cast(pa.array(np.arange(1, trips["n"] + 1, dtype=np.int64)), pa.string())
    return pa.table(
        {
            "route_id": pa.array(routes["id"].tolist()).take(pa.array(trips["route"])),
            "service_id": pa.array(services["id"].tolist()).take(pa.array(trips["service"])),
            "trip_id": ids,
            "direction_id": pc.cast(pa.array(trips["reverse"].astype(np.int8)), pa.string()),
        }
    )


def _write_stop_times(
    zf: zipfile.ZipFile,
    trips: dict[str, Any],
    routes: dict[str, Any],
    platforms: dict[str, Any],
    model: dict[str, list[list[str]]],
) -> int:
    """Write ``stop_times.txt`` block by block; return the number of generated rows."""
    max_s = 30 * 3600 + 4 * 3600
    lut = pa.array([f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" for s in range(max_s)] + [""])
    empty = max_s
    stop_ids = pa.array(platforms["id"].tolist())
    header, extra = _header(_ST_COLUMNS, model.get("stop_times.txt"))
    total = 0
    with zf.open("stop_times.txt", "w", force_zip64=True) as fh:
        fh.write((",".join(header) + "\n").encode())
        for b0 in range(0, trips["n"], _BLOCK_TRIPS):
            sl = slice(b0, min(b0 + _BLOCK_TRIPS, trips["n"]))
            r = trips["route"][sl]
            lens = routes["len"][r]
            n = int(lens.sum())
            trip_of = np.repeat(np.arange(sl.start, sl.stop, dtype=np.int64), lens)
            k = np.arange(n) - np.repeat(np.cumsum(lens) - lens, lens)  # position in the trip
            rev = np.repeat(trips["reverse"][sl], lens)
            rr = np.repeat(r, lens)
            ln = np.repeat(lens, lens)
            src = routes["ptr"][rr] + np.where(rev, ln - 1 - k, k)
            last_off = routes["dep_off"][routes["ptr"][rr] + ln - 1]
            # reversed: the time to the end of the line, arrival and departure swapped
            arr = np.where(rev, last_off - routes["dep_off"][src], routes["arr_off"][src])
            dep = np.where(rev, last_off - routes["arr_off"][src], routes["dep_off"][src])
            t0 = np.repeat(trips["start"][sl], lens)
            arr = arr + t0
            dep = dep + t0
            untimed = np.repeat(routes["untimed"][r], lens) & (k > 0) & (k < ln - 1) & (k % 2 == 1)
            ai = np.where(untimed, empty, np.minimum(arr, max_s - 1))
            di = np.where(untimed, empty, np.minimum(dep, max_s - 1))
            cols = {
                "trip_id": pc.cast(pa.array(trip_of + 1), pa.string()),
                "arrival_time": lut.take(pa.array(ai)),
                "departure_time": lut.take(pa.array(di)),
                "stop_id": stop_ids.take(pa.array(routes["platform"][src])),
                "stop_sequence": pc.cast(pa.array(k + 1), pa.string()),
                "pickup_type": pc.cast(pa.array((k == ln - 1).astype(np.int8)), pa.string()),
                "drop_off_type": pc.cast(pa.array((k == 0).astype(np.int8)), pa.string()),
            }
            for c in extra:
                cols[c] = pa.nulls(n, pa.string())
            _write_csv(fh, pa.table({c: cols[c] for c in header}))
            total += n
        _append_model(fh, header, model.get("stop_times.txt"))
    return total


# --------------------------------------------------------------------------- writing


def _write_csv(fh: IO[bytes], table: pa.Table) -> None:
    buf = pa.BufferOutputStream()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    fh.write(memoryview(buf.getvalue()))


def _header(columns: list[str], model_rows: list[list[str]] | None) -> tuple[list[str], list[str]]:
    """Columns of the generated table plus those only the embedded feed has."""
    extra = [c for c in (model_rows[0] if model_rows else []) if c not in columns]
    return [*columns, *extra], extra


def _append_model(fh: IO[bytes], header: list[str], rows: list[list[str]] | None) -> int:
    if not rows:
        return 0
    pos = {c: i for i, c in enumerate(rows[0])}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for row in rows[1:]:
        w.writerow([row[pos[c]] if c in pos else "" for c in header])
    fh.write(out.getvalue().encode())
    return len(rows) - 1


def _write_table(zf: zipfile.ZipFile, name: str, table: pa.Table, model: dict[str, list[list[str]]]) -> int:
    """Write ``table`` plus the embedded feed's rows of ``name``; return the number of generated rows."""
    header, extra = _header(table.column_names, model.get(name))
    for c in extra:
        table = table.append_column(c, pa.nulls(table.num_rows, pa.string()))
    with zf.open(name, "w", force_zip64=True) as fh:
        fh.write((",".join(header) + "\n").encode())
        for off in range(0, table.num_rows, 1_000_000):
            _write_csv(fh, table.slice(off, 1_000_000).select(header))
        _append_model(fh, header, model.get(name))
    return table.num_rows


def _write_small(zf: zipfile.ZipFile, name: str, rows: list[list[str]], model: dict[str, list[list[str]]]) -> None:
    header, _ = _header(rows[0], model.get(name))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for row in rows[1:]:
        w.writerow(row + [""] * (len(header) - len(row)))
    with zf.open(name, "w") as fh:
        fh.write(out.getvalue().encode())
        _append_model(fh, header, model.get(name))


# --------------------------------------------------------------------------- embedded feed

_ID_COLUMNS = {
    "agency_id": "agency",
    "stop_id": "stop",
    "parent_station": "stop",
    "from_stop_id": "stop",
    "to_stop_id": "stop",
    "route_id": "route",
    "trip_id": "trip",
    "service_id": "service",
}


def _read_feed(path: Path) -> dict[str, list[list[str]]]:
    """All ``.txt`` files of a small feed as rows of strings (header first); ``feed_info.txt`` left out."""
    with zipfile.ZipFile(path) as zf:
        out = {}
        for name in zf.namelist():
            base = name.rsplit("/", 1)[-1]
            if base.endswith(".txt") and base != "feed_info.txt":
                text = zf.read(name).decode("utf-8-sig")
                out[base] = [[v.strip() for v in row] for row in csv.reader(io.StringIO(text)) if row]
        return out


def _model_prefix(
    model: dict[str, list[list[str]]],
    stations: dict[str, Any],
    platforms: dict[str, Any],
    routes: dict[str, Any],
    trips: dict[str, Any],
    services: dict[str, Any],
) -> str:
    """``""`` if the embedded feed's ids are all distinct from the generated ones, else ``"modell:"``."""
    if not model:
        return ""
    ids = {kind: set() for kind in ("agency", "stop", "route", "trip", "service")}
    for rows in model.values():
        for j, c in enumerate(rows[0]):
            if c in _ID_COLUMNS:
                ids[_ID_COLUMNS[c]].update(r[j] for r in rows[1:] if r[j])
    generated = {
        "agency": {f"a{a}" for a in range(97)},
        "stop": set(stations["id"].tolist()) | set(platforms["id"].tolist()),
        "route": set(routes["id"].tolist()),
        "service": set(services["id"].tolist()),
    }
    clash = any(ids[k] & generated[k] for k in generated)
    clash |= any(t.isdigit() and 1 <= int(t) <= trips["n"] for t in ids["trip"])
    return "modell:" if clash else ""


def _renamed(model: dict[str, list[list[str]]], prefix: str) -> dict[str, list[list[str]]]:
    out = {}
    for name, rows in model.items():
        cols = [j for j, c in enumerate(rows[0]) if c in _ID_COLUMNS]
        new = [rows[0]]
        for r in rows[1:]:
            r = list(r)
            for j in cols:
                if r[j]:
                    r[j] = prefix + r[j]
            new.append(r)
        out[name] = new
    return out
