"""The tables of a GTFS feed: one loader per file, frequency expansion and the assembled :class:`Feed`.

Each loader validates the raw strings of its file (see :mod:`coverage.transit._gtfsvalidate`)
and returns the cleaned table; :func:`_assemble` builds the :class:`~coverage.transit.feed.Feed`
from them (stop times in CSR form, trips of ``frequencies.txt`` expanded).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coverage import ANALYSIS_CRS
from coverage.errors import GTFSError
from coverage.transit._gtfsfiles import _empty
from coverage.transit._gtfsvalidate import (
    _REQUIRED_COLUMNS,
    _check_duplicates,
    _check_duplicates_masked,
    _check_foreign_key,
    _check_required_values,
    _Checker,
    _float_value,
    _parse_date_column,
    _parse_int_column,
    _parse_time_column,
    _parse_unique,
    _report_bad,
)
from coverage.transit.feed import _WEEKDAY_COLUMNS, Feed

logger = logging.getLogger(__name__)


def _load_agency(df: pd.DataFrame | None, chk: _Checker) -> pd.DataFrame:
    if df is None:
        return _empty(_REQUIRED_COLUMNS["agency.txt"])
    keep = _check_required_values(df, "agency.txt", chk)
    if "agency_id" in df.columns:
        keep &= _check_duplicates(df, ["agency_id"], "agency.txt", chk)
    return df[keep].reset_index(drop=True)


def _load_stops(df: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    file = "stops.txt"
    keep = _check_required_values(df, file, chk)
    keep &= _check_duplicates(df, ["stop_id"], file, chk)
    for col in ("stop_lat", "stop_lon", "location_type", "parent_station", "stop_name"):
        if col not in df.columns:
            df[col] = ""
    loc, bad = _parse_int_column(df, "location_type", file, chk, allowed=range(5), describe="0, 1, 2, 3, 4 oder leer")
    loc = np.where(np.isnan(loc), 0, loc).astype(np.int8)
    keep &= ~bad
    needs_coord = loc <= 2
    coords = {}
    for col, lim in (("stop_lat", 90.0), ("stop_lon", 180.0)):
        vals, bad = _parse_unique(df[col], _float_value)
        bad |= ~np.isnan(vals) & (np.abs(vals) > lim)
        chk.report_rows(
            "invalid_value",
            f"ungültige Koordinate; erlaubt ist eine Dezimalzahl zwischen -{lim:g} und {lim:g} (WGS84)",
            file=file,
            rows=df["_row"].to_numpy()[bad],
            column=col,
            values=df[col].to_numpy()[bad] if bad.any() else [],
        )
        missing = (df[col] == "").to_numpy() & needs_coord
        chk.report_rows(
            "missing_required_field",
            f"Pflichtfeld '{col}' ist leer; für Haltestellen, Stationen und Zugänge "
            "(location_type 0, 1, 2) sind Koordinaten erforderlich",
            file=file,
            rows=df["_row"].to_numpy()[missing],
            column=col,
            values=None,
        )
        coords[col] = np.where(bad, np.nan, vals)
    valid_ids = df.loc[keep, "stop_id"]
    keep &= _check_foreign_key(df, "parent_station", valid_ids, file, "stops.txt (stop_id)", chk, allow_empty=True)
    out = pd.DataFrame(
        {
            "stop_id": df["stop_id"],
            "stop_name": df["stop_name"],
            "stop_lat": coords["stop_lat"],
            "stop_lon": coords["stop_lon"],
            "location_type": loc,
            "parent_station": df["parent_station"],
            "_row": df["_row"],
        }
    )[keep].reset_index(drop=True)
    x = np.full(len(out), np.nan)
    y = np.full(len(out), np.nan)
    has = out["stop_lat"].notna().to_numpy() & out["stop_lon"].notna().to_numpy()
    if has.any():
        from pyproj import Transformer

        tr = Transformer.from_crs("EPSG:4326", ANALYSIS_CRS, always_xy=True)
        x[has], y[has] = tr.transform(out["stop_lon"].to_numpy()[has], out["stop_lat"].to_numpy()[has])
    out["x"] = x
    out["y"] = y
    return out


def _load_routes(df: pd.DataFrame | None, agency: pd.DataFrame, chk: _Checker) -> pd.DataFrame:
    file = "routes.txt"
    if df is None:
        return _empty(("route_id", "route_type"))
    keep = _check_required_values(df, file, chk)
    keep &= _check_duplicates(df, ["route_id"], file, chk)
    _, bad = _parse_int_column(
        df,
        "route_type",
        file,
        chk,
        allowed=[*range(8), 11, 12, *range(100, 1800)],
        describe="0–7, 11, 12 oder ein erweiterter Verkehrsmitteltyp 100–1799",
    )
    keep &= ~bad
    if "agency_id" in df.columns and "agency_id" in agency.columns:
        keep &= _check_foreign_key(
            df, "agency_id", agency["agency_id"], file, "agency.txt (agency_id)", chk, allow_empty=True
        )
    return df[keep].reset_index(drop=True)


def _load_calendar(
    cal: pd.DataFrame | None, cdates: pd.DataFrame | None, chk: _Checker
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], dict[dt.date, list[tuple[str, int]]]]:
    rules: dict[str, tuple[tuple[bool, ...], dt.date, dt.date]] = {}
    exceptions: dict[dt.date, list[tuple[str, int]]] = {}
    if cal is None:
        cal = _empty(_REQUIRED_COLUMNS["calendar.txt"])
    else:
        file = "calendar.txt"
        keep = _check_required_values(cal, file, chk)
        keep &= _check_duplicates(cal, ["service_id"], file, chk)
        flags = []
        for col in _WEEKDAY_COLUMNS:
            v, bad = _parse_int_column(cal, col, file, chk, allowed=(0, 1), describe="0 oder 1")
            keep &= ~bad
            flags.append(v == 1)
        start, bad_s = _parse_date_column(cal, "start_date", file, chk)
        end, bad_e = _parse_date_column(cal, "end_date", file, chk)
        keep &= ~bad_s & ~bad_e
        order = keep & (start > end)
        msg = "start_date liegt nach end_date; erlaubt ist start_date ≤ end_date"
        _report_bad(cal, "start_date", order, file, chk, "start_and_end_range_out_of_order", msg)
        keep &= ~order
        sids = cal["service_id"].to_numpy()
        for i in np.flatnonzero(keep):
            rules[str(sids[i])] = (
                tuple(bool(f[i]) for f in flags),
                dt.date.fromordinal(int(start[i])),
                dt.date.fromordinal(int(end[i])),
            )
        cal = cal[keep].reset_index(drop=True)
    if cdates is None:
        cdates = _empty(_REQUIRED_COLUMNS["calendar_dates.txt"])
    else:
        file = "calendar_dates.txt"
        keep = _check_required_values(cdates, file, chk)
        d, bad = _parse_date_column(cdates, "date", file, chk)
        keep &= ~bad
        typ, bad = _parse_int_column(cdates, "exception_type", file, chk, allowed=(1, 2), describe="1 oder 2")
        keep &= ~bad
        keep &= _check_duplicates(cdates, ["service_id", "date"], file, chk)
        sids = cdates["service_id"].to_numpy()
        for i in np.flatnonzero(keep):
            exceptions.setdefault(dt.date.fromordinal(int(d[i])), []).append((str(sids[i]), int(typ[i])))
        cdates = cdates[keep].reset_index(drop=True)
    return cal, cdates, rules, exceptions


def _load_trips(df: pd.DataFrame, routes: pd.DataFrame, services: set[str], chk: _Checker) -> pd.DataFrame:
    file = "trips.txt"
    keep = _check_required_values(df, file, chk)
    keep &= _check_duplicates(df, ["trip_id"], file, chk)
    keep &= _check_foreign_key(df, "route_id", routes["route_id"], file, "routes.txt (route_id)", chk)
    keep &= _check_foreign_key(
        df, "service_id", pd.Index(sorted(services)), file, "calendar.txt/calendar_dates.txt (service_id)", chk
    )
    return df[keep].reset_index(drop=True)


def _load_stop_times(
    df: pd.DataFrame, trips: pd.DataFrame, stops: pd.DataFrame, chk: _Checker
) -> dict[str, np.ndarray]:
    """Validate stop_times; return arrays sorted by (trip, stop_sequence) with interpolated times."""
    file = "stop_times.txt"
    keep = _check_required_values(df, file, chk)
    keep &= _check_foreign_key(df, "trip_id", trips["trip_id"], file, "trips.txt (trip_id)", chk)
    trip_pos = pd.Index(trips["trip_id"]).get_indexer(df["trip_id"])
    bad_trip = np.zeros(len(trips) + 1, dtype=bool)  # last slot: unknown trip
    trip_pos = np.where(trip_pos < 0, len(trips), trip_pos)

    def drop_trips(mask: np.ndarray) -> None:
        bad_trip[trip_pos[mask]] = True

    stop_pos = pd.Index(stops["stop_id"]).get_indexer(df["stop_id"])
    bad = ~_check_foreign_key(df, "stop_id", stops["stop_id"], file, "stops.txt (stop_id)", chk)
    drop_trips(bad & keep)
    seq, bad = _parse_int_column(df, "stop_sequence", file, chk, minimum=0, describe="eine ganze Zahl ≥ 0")
    drop_trips(bad & keep)
    keep &= ~np.isnan(seq)
    arr, bad_a = _parse_time_column(df, "arrival_time", file, chk)
    dep, bad_d = _parse_time_column(df, "departure_time", file, chk)
    drop_trips((bad_a | bad_d) & keep)
    pick = np.zeros(len(df))
    drop = np.zeros(len(df))
    for col in ("pickup_type", "drop_off_type"):
        if col in df.columns:
            v, bad = _parse_int_column(df, col, file, chk, allowed=range(4), describe="0, 1, 2, 3 oder leer")
            drop_trips(bad & keep)
            v = np.where(np.isnan(v), 0, v)
            if col == "pickup_type":
                pick = v
            else:
                drop = v

    dupl = ~_check_duplicates_masked(df, keep, ["trip_id", "stop_sequence"], seq, trip_pos, file, chk)
    drop_trips(dupl & keep)
    keep &= ~dupl

    # Sort by (trip, stop_sequence); stop_times may be unsorted.
    idx = np.flatnonzero(keep)
    idx = idx[np.lexsort((seq[idx], trip_pos[idx]))]
    t = trip_pos[idx]
    rows = df["_row"].to_numpy()[idx]
    a = arr[idx]
    d = dep[idx]
    n = idx.size
    first = np.ones(n, dtype=bool)
    first[1:] = t[1:] != t[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = t[1:] != t[:-1]

    # Only one of arrival/departure given.
    one = np.isnan(a) ^ np.isnan(d)
    for mask, col in ((one & np.isnan(a), "arrival_time"), (one & np.isnan(d), "departure_time")):
        chk.report_rows(
            "stop_time_with_only_arrival_or_departure_time",
            "nur eine der Zeiten arrival_time/departure_time ist angegeben; erlaubt sind beide oder keine",
            file=file,
            rows=rows[mask],
            column=col,
            values=None,
        )
    a = np.where(np.isnan(a), d, a)
    d = np.where(np.isnan(d), a, d)
    missing = np.isnan(a)
    edge = missing & (first | last)
    chk.report_rows(
        "missing_trip_edge",
        "erste und letzte Haltestelle einer Fahrt brauchen arrival_time und departure_time",
        file=file,
        rows=rows[edge],
        column="arrival_time",
        values=None,
    )
    bad_trip[t[edge]] = True

    after = ~missing & (a > d)
    chk.report_rows(
        "stop_time_arrival_after_departure",
        "arrival_time liegt nach departure_time; erlaubt ist arrival_time ≤ departure_time",
        file=file,
        rows=rows[after],
        column="arrival_time",
        values=df["arrival_time"].to_numpy()[idx[after]] if after.any() else [],
    )
    bad_trip[t[after]] = True

    timed = np.flatnonzero(~missing)
    if timed.size > 1:
        same = t[timed[1:]] == t[timed[:-1]]
        dec = same & (a[timed[1:]] < d[timed[:-1]])
        where = timed[1:][dec]
        chk.report_rows(
            "stop_time_with_arrival_before_previous_departure_time",
            "Zeiten nehmen entlang der Fahrt ab: arrival_time liegt vor der departure_time der vorigen "
            "Haltestelle; erlaubt sind nicht fallende Zeiten",
            file=file,
            rows=rows[where],
            column="arrival_time",
            values=df["arrival_time"].to_numpy()[idx[where]] if where.size else [],
        )
        bad_trip[t[where]] = True

    # Drop invalid trips (lenient mode only; strict has raised already).
    ok = ~bad_trip[t]
    idx, t, a, d, missing, first = idx[ok], t[ok], a[ok], d[ok], missing[ok], first[ok]

    # Interpolate intermediate stops without times, evenly by position.
    if missing.any():
        pos = np.arange(idx.size)
        prev_t = np.maximum.accumulate(np.where(~missing, pos, -1))
        next_t = np.minimum.accumulate(np.where(~missing, pos, idx.size)[::-1])[::-1]
        m = np.flatnonzero(missing)
        p, q = prev_t[m], next_t[m]
        frac = (m - p) / (q - p)
        vals = np.round(d[p] + (a[q] - d[p]) * frac)
        a[m] = vals
        d[m] = vals

    counts = np.bincount(t, minlength=len(trips))
    ptr = np.zeros(len(trips) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return {
        "ptr": ptr,
        "stop": stop_pos[idx].astype(np.int32),
        "arr": a.astype(np.int32),
        "dep": d.astype(np.int32),
        "pickup": pick[idx].astype(np.int8),
        "dropoff": drop[idx].astype(np.int8),
        "bad_trip": bad_trip[: len(trips)],
    }


def _load_frequencies(
    df: pd.DataFrame | None, trips: pd.DataFrame, all_trip_ids: pd.Series, chk: _Checker
) -> pd.DataFrame:
    file = "frequencies.txt"
    if df is None:
        out = _empty(_REQUIRED_COLUMNS[file])
        for c in ("start_s", "end_s", "headway_s", "exact_times_i"):
            out[c] = np.zeros(0, dtype=np.int64)
        return out
    keep = _check_required_values(df, file, chk)
    keep &= _check_foreign_key(df, "trip_id", all_trip_ids, file, "trips.txt (trip_id)", chk)
    keep &= df["trip_id"].isin(trips["trip_id"]).to_numpy()  # trips dropped earlier (lenient mode)
    start, bad = _parse_time_column(df, "start_time", file, chk)
    keep &= ~bad
    end, bad = _parse_time_column(df, "end_time", file, chk)
    keep &= ~bad
    head, bad = _parse_int_column(df, "headway_secs", file, chk, minimum=1, describe="eine ganze Zahl > 0")
    keep &= ~bad
    if "exact_times" not in df.columns:
        df["exact_times"] = ""
    exact, bad = _parse_int_column(df, "exact_times", file, chk, allowed=(0, 1), describe="0, 1 oder leer")
    keep &= ~bad
    order = keep & (start >= end)
    msg = "start_time liegt nicht vor end_time; erlaubt ist start_time < end_time"
    _report_bad(df, "start_time", order, file, chk, "start_and_end_range_out_of_order", msg)
    keep &= ~order
    keep &= _check_duplicates(df, ["trip_id", "start_time"], file, chk)
    out = df[keep].copy()
    out["start_s"] = start[keep].astype(np.int64)
    out["end_s"] = end[keep].astype(np.int64)
    out["headway_s"] = head[keep].astype(np.int64)
    out["exact_times_i"] = np.where(np.isnan(exact[keep]), 0, exact[keep]).astype(np.int64)
    out = out.sort_values(["trip_id", "start_s"], kind="stable").reset_index(drop=True)
    same = (out["trip_id"].to_numpy()[1:] == out["trip_id"].to_numpy()[:-1]) if len(out) > 1 else np.zeros(0, bool)
    overlap = np.zeros(len(out), dtype=bool)
    if len(out) > 1:
        overlap[1:] = same & (out["start_s"].to_numpy()[1:] < out["end_s"].to_numpy()[:-1])
    chk.report_rows(
        "overlapping_frequency",
        "Zeitraum überschneidet sich mit einem anderen Eintrag derselben Fahrt; erlaubt sind "
        "überschneidungsfreie Zeiträume (end_time ≤ nächste start_time)",
        file=file,
        rows=out["_row"].to_numpy()[overlap],
        column="start_time",
        values=out["start_time"].to_numpy()[overlap],
    )
    return out[~overlap].reset_index(drop=True)


def _load_transfers(
    df: pd.DataFrame | None, stops: pd.DataFrame, chk: _Checker
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    file = "transfers.txt"
    n = len(stops)
    ct = np.zeros(n, dtype=np.float64)
    pairs = pd.DataFrame(
        {
            "from_stop": np.zeros(0, np.int32),
            "to_stop": np.zeros(0, np.int32),
            "transfer_type": np.zeros(0, np.int8),
            "min_transfer_time": np.zeros(0, np.float64),
        }
    )
    if df is None:
        return _empty(_REQUIRED_COLUMNS[file]), ct, pairs
    keep = _check_required_values(df, file, chk)
    keep &= _check_foreign_key(df, "from_stop_id", stops["stop_id"], file, "stops.txt (stop_id)", chk)
    keep &= _check_foreign_key(df, "to_stop_id", stops["stop_id"], file, "stops.txt (stop_id)", chk)
    typ, bad = _parse_int_column(df, "transfer_type", file, chk, allowed=range(6), describe="0–5 oder leer")
    keep &= ~bad
    typ = np.where(np.isnan(typ), 0, typ)
    if "min_transfer_time" not in df.columns:
        df["min_transfer_time"] = ""
    mtt, bad = _parse_int_column(
        df, "min_transfer_time", file, chk, minimum=0, describe="eine ganze Zahl ≥ 0 (Sekunden) oder leer"
    )
    keep &= ~bad
    mtt = np.where(np.isnan(mtt), 0, mtt)
    key_cols = [
        c
        for c in ("from_stop_id", "to_stop_id", "from_trip_id", "to_trip_id", "from_route_id", "to_route_id")
        if c in df.columns
    ]
    keep &= _check_duplicates(df, key_cols, file, chk)
    specific = np.zeros(len(df), dtype=bool)
    for c in ("from_trip_id", "to_trip_id", "from_route_id", "to_route_id"):
        if c in df.columns:
            specific |= (df[c] != "").to_numpy()
    use = keep & ~specific & np.isin(typ, (2, 3))
    if (keep & specific).any():
        logger.info(
            "transfers.txt: %d fahrt- oder linienspezifische Regeln werden beim Routing nicht berücksichtigt",
            int((keep & specific).sum()),
        )
    # Expand stations to their child stops; stop-level rules override station-level ones.
    sidx = pd.Index(stops["stop_id"])
    children: dict[int, list[int]] = {}
    parent = stops["parent_station"].to_numpy()
    for i, p in enumerate(parent):
        if p:
            children.setdefault(int(sidx.get_loc(p)), []).append(i)
    from_i = sidx.get_indexer(df["from_stop_id"])
    to_i = sidx.get_indexer(df["to_stop_id"])
    loc = stops["location_type"].to_numpy()
    pair_rules: dict[tuple[int, int], tuple[int, float]] = {}
    for level in (1, 0):  # station rules first, then stop rules override
        for r in np.flatnonzero(use):
            f, to = int(from_i[r]), int(to_i[r])
            is_station = loc[f] == 1 or loc[to] == 1
            if (level == 1) != is_station:
                continue
            fs = children.get(f, [f]) if loc[f] == 1 else [f]
            ts = children.get(to, [to]) if loc[to] == 1 else [to]
            for a in fs:
                for b in ts:
                    pair_rules[(a, b)] = (int(typ[r]), float(mtt[r]))
    rows_f, rows_t, rows_ty, rows_m = [], [], [], []
    for (a, b), (ty, m) in pair_rules.items():
        if a == b:
            ct[a] = np.inf if ty == 3 else m
        else:
            rows_f.append(a)
            rows_t.append(b)
            rows_ty.append(ty)
            rows_m.append(m)
    if rows_f:
        pairs = pd.DataFrame(
            {
                "from_stop": np.asarray(rows_f, np.int32),
                "to_stop": np.asarray(rows_t, np.int32),
                "transfer_type": np.asarray(rows_ty, np.int8),
                "min_transfer_time": np.asarray(rows_m, np.float64),
            }
        )
    return df[keep].reset_index(drop=True), ct, pairs


def _expand_frequencies(
    trips: pd.DataFrame, st: dict[str, np.ndarray], freq: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Replace template trips of frequencies.txt by concrete trips (start every headway, start < end_time)."""
    n = len(trips)
    ptr = st["ptr"]
    start_time = np.full(n, -1, dtype=np.int64)
    nonempty = np.diff(ptr) > 0
    start_time[nonempty] = st["dep"][ptr[:-1][nonempty]]
    base = pd.DataFrame(
        {
            "trip_id": trips["trip_id"].to_numpy(),
            "route_id": trips["route_id"].to_numpy(),
            "service_id": trips["service_id"].to_numpy(),
            "gtfs_trip_id": trips["trip_id"].to_numpy(),
            "start_time": start_time.astype(np.int64),
        }
    )
    if len(freq) == 0:
        return base, st
    tpos = pd.Index(trips["trip_id"]).get_indexer(freq["trip_id"])
    templ = np.zeros(n, dtype=bool)
    templ[tpos] = True
    counts = -(-(freq["end_s"].to_numpy() - freq["start_s"].to_numpy()) // freq["headway_s"].to_numpy())
    rep_trip = np.repeat(tpos, counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    starts = np.repeat(freq["start_s"].to_numpy(), counts) + k * np.repeat(freq["headway_s"].to_numpy(), counts)
    regular = np.flatnonzero(~templ)
    new_trip_src = np.concatenate([regular, rep_trip])
    shift = np.concatenate([np.zeros(regular.size, np.int64), starts - start_time[rep_trip]])
    lens = np.diff(ptr)[new_trip_src]
    rows = np.repeat(ptr[new_trip_src], lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens))
    rshift = np.repeat(shift, lens)
    new_ptr = np.zeros(new_trip_src.size + 1, dtype=np.int64)
    np.cumsum(lens, out=new_ptr[1:])
    new_st = {
        "ptr": new_ptr,
        "stop": st["stop"][rows],
        "arr": (st["arr"][rows] + rshift).astype(np.int32),
        "dep": (st["dep"][rows] + rshift).astype(np.int32),
        "pickup": st["pickup"][rows],
        "dropoff": st["dropoff"][rows],
    }
    out = base.iloc[new_trip_src].reset_index(drop=True)
    out["start_time"] = np.concatenate([start_time[regular], starts]).astype(np.int64)
    is_freq = np.arange(out.shape[0]) >= regular.size
    out.loc[is_freq, "trip_id"] = [
        f"{tid}@{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
        for tid, s in zip(out.loc[is_freq, "gtfs_trip_id"], out.loc[is_freq, "start_time"], strict=True)
    ]
    return out, new_st


def _assemble(
    path: Path,
    frames: dict[str, pd.DataFrame | None],
    chk: _Checker,
    *,
    outside_stop_ids: np.ndarray | None = None,
) -> Feed:
    """Validate the raw tables ``frames`` (file name -> strings and ``_row``) and build the feed.

    ``outside_stop_ids`` (clipped reading only, see :mod:`coverage.transit._gtfsclip`): ids of
    stops that exist in ``stops.txt`` but lie outside the analysis area. Stop times
    at them count as valid while the trips are checked and interpolated in full;
    afterwards they are dropped, and trips left without stop times are dropped too.
    """
    agency_df, stops_df, routes_df = frames["agency.txt"], frames["stops.txt"], frames["routes.txt"]
    trips_df, st_df = frames["trips.txt"], frames["stop_times.txt"]
    if stops_df is None or trips_df is None or st_df is None:  # pragma: no cover - reported as fatal above
        raise GTFSError("Pflichtdatei fehlt", file=str(path))

    agency = _load_agency(agency_df, chk)
    stops = _load_stops(stops_df, chk)
    routes = _load_routes(routes_df, agency, chk)
    cal, cdates, rules, exceptions = _load_calendar(frames["calendar.txt"], frames["calendar_dates.txt"], chk)
    services = set(cal["service_id"]) | set(cdates["service_id"])
    if routes_df is None:
        routes = pd.DataFrame({"route_id": sorted(set(trips_df["route_id"])), "route_type": ""})
    trips = _load_trips(trips_df, routes, services, chk)
    st_stops = stops
    if outside_stop_ids is not None:
        st_stops = pd.DataFrame({"stop_id": np.concatenate([stops["stop_id"].to_numpy(object), outside_stop_ids])})
    st = _load_stop_times(st_df, trips, st_stops, chk)
    if st["bad_trip"].any():
        keep_trips = ~st["bad_trip"]
        old_ptr = st["ptr"]
        trips = trips[keep_trips].reset_index(drop=True)
        st["ptr"] = np.concatenate([[0], np.cumsum(np.diff(old_ptr)[keep_trips])]).astype(np.int64)
    freq = _load_frequencies(frames["frequencies.txt"], trips, trips_df["trip_id"], chk)
    transfers, ct, pairs = _load_transfers(frames["transfers.txt"], stops, chk)
    trips_out, st = _expand_frequencies(trips, st, freq)
    if outside_stop_ids is not None:
        trips_out, st = cut_to_stops(trips_out, st, len(stops))

    service_ids, trip_service = np.unique(trips_out["service_id"].to_numpy(dtype=object), return_inverse=True)
    if chk.problems:
        logger.warning("GTFS-Feed %s: %d Regelverstöße gefunden (siehe Feed.problems)", path, len(chk.problems))
    feed = Feed(
        path=str(path),
        agency=agency,
        stops=stops,
        routes=routes,
        trips=trips_out,
        calendar=cal,
        calendar_dates=cdates,
        frequencies=freq,
        transfers=transfers,
        min_transfer_time=ct,
        transfer_pairs=pairs,
        problems=chk.problems,
        st_ptr=st["ptr"],
        st_stop=st["stop"],
        st_arr=st["arr"],
        st_dep=st["dep"],
        st_pickup=st["pickup"],
        st_dropoff=st["dropoff"],
        service_ids=service_ids.astype(object),
        trip_service=trip_service.astype(np.int32),
        _stop_index={s: i for i, s in enumerate(stops["stop_id"].tolist())},
        _calendar_rules=rules,
        _exceptions=exceptions,
    )
    logger.info(
        "GTFS-Feed %s geladen: %d Haltestellen, %d Fahrten, %d Fahrtabschnitte",
        path,
        len(stops),
        len(trips_out),
        int(st["stop"].shape[0]),
    )
    return feed


def cut_to_stops(
    trips: pd.DataFrame, st: dict[str, np.ndarray], n_stops: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Drop stop times at stop indices ``>= n_stops`` (outside the area) and trips left without any.

    Parameters
    ----------
    trips
        One row per concrete trip, aligned with ``st["ptr"]``.
    st
        Stop times in CSR form (``ptr``, ``stop``, ``arr``, ``dep``, ``pickup``, ``dropoff``).
    n_stops
        Number of kept stops; higher indices are outside stops.

    Returns
    -------
    tuple
        The kept trips and their stop times; order and times unchanged.
    """
    ptr = st["ptr"]
    n_trips = ptr.size - 1
    inside = st["stop"] < n_stops
    row_trip = np.repeat(np.arange(n_trips, dtype=np.int64), np.diff(ptr))
    counts = np.bincount(row_trip[inside], minlength=n_trips)
    keep_trip = counts > 0
    new_ptr = np.zeros(int(keep_trip.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[keep_trip], out=new_ptr[1:])
    out = {k: st[k][inside] for k in ("stop", "arr", "dep", "pickup", "dropoff")}
    out["ptr"] = new_ptr
    return trips[keep_trip].reset_index(drop=True), out
