"""Zones and flex trips of a GTFS-Flex feed (private helper of :mod:`coverage.transit.flex`).

Resolves ``location_groups.txt`` (+ ``location_group_stops.txt``), the polygons of
``locations.geojson`` and the windowed rows of ``stop_times.txt`` into one
:class:`~coverage.transit.flex.FlexService` per trip.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from coverage.errors import GTFSError
from coverage.transit import _flexread as rd

__all__ = ["build_services"]

WINDOW_COLUMNS = (
    ("start_pickup_drop_off_window", "end_pickup_drop_off_window"),
    ("start_pickup_dropoff_window", "end_pickup_dropoff_window"),  # older draft (e.g. the Uckermark feed)
)


def _location_groups(files: rd.FlexFiles, known: set[str]) -> dict[str, list[str]]:
    """Location group id -> member stop ids (in file order, without repeats)."""
    groups: dict[str, list[str]] = {}
    file = "location_groups.txt"
    rows = files.rows(file, required=("location_group_id",))
    draft = bool(rows) and "location_id" in rows[0].values
    for r in rows:
        gid = rd.require(file, r, "location_group_id")
        members = groups.setdefault(gid, [])
        if draft:  # older draft: one row per member stop in column location_id
            sid = rd.require(file, r, "location_id")
            if sid not in known:
                raise GTFSError(
                    "unbekannte Haltestelle; erlaubt ist eine stop_id aus stops.txt.",
                    file=file,
                    row=r.line,
                    column="location_id",
                    value=sid,
                )
            if sid not in members:
                members.append(sid)
    if not draft:
        rd.check_unique(file, rows, "location_group_id")
    file = "location_group_stops.txt"
    for r in files.rows(file, required=("location_group_id", "stop_id")):
        gid = rd.require(file, r, "location_group_id")
        sid = rd.require(file, r, "stop_id")
        if gid not in groups:
            raise GTFSError(
                "unbekannte Gebietsgruppe; erlaubt ist eine location_group_id aus location_groups.txt.",
                file=file,
                row=r.line,
                column="location_group_id",
                value=gid,
            )
        if sid not in known:
            raise GTFSError(
                "unbekannte Haltestelle; erlaubt ist eine stop_id aus stops.txt.",
                file=file,
                row=r.line,
                column="stop_id",
                value=sid,
            )
        if sid not in groups[gid]:
            groups[gid].append(sid)
    return groups


def _polygon_zones(
    files: rd.FlexFiles, coords: pd.DataFrame, warnings: list[str]
) -> tuple[dict[str, list[str]], set[str]]:
    """Location id of ``locations.geojson`` -> stops inside its polygon (empty zones skipped), and all ids."""
    import shapely

    polys = rd.parse_locations(files)
    out: dict[str, list[str]] = {}
    lon = coords["stop_lon"].to_numpy(np.float64)
    lat = coords["stop_lat"].to_numpy(np.float64)
    ok = np.isfinite(lon) & np.isfinite(lat)
    ids = coords["stop_id"].to_numpy(dtype=object)
    for lid, geom in polys.items():
        inside = np.zeros(lon.shape, dtype=bool)
        if ok.any():
            inside[ok] = shapely.contains_xy(geom, lon[ok], lat[ok]) | shapely.intersects_xy(
                geom.boundary, lon[ok], lat[ok]
            )
        if not inside.any():
            warnings.append(
                f"GTFS-Flex: Die Zone '{lid}' in locations.geojson enthält keine Haltestelle und wird übersprungen "
                "(Kursatlas bildet Bedarfsverkehr über Haltestellen ab)."
            )
            continue
        out[lid] = [str(s) for s in ids[inside]]
    return out, set(polys)


def _window(file: str, r: rd.Row) -> tuple[int | None, int | None, str | None]:
    """Window start/end of a stop_times row (adopted or draft column names) and the start column used."""
    for start_col, end_col in WINDOW_COLUMNS:
        if r.get(start_col) or r.get(end_col):
            start = rd.parse_time(file, r, start_col)
            end = rd.parse_time(file, r, end_col)
            if start is None or end is None:
                missing = end_col if end is None else start_col
                raise GTFSError(
                    f"Pflichtwert fehlt: {start_col} und {end_col} sind nur gemeinsam erlaubt; {rd.TIME_ALLOWED}.",
                    file=file,
                    row=r.line,
                    column=missing,
                )
            if start > end:
                raise GTFSError(
                    f"Das Zeitfenster endet vor seinem Beginn; erlaubt ist {start_col} ≤ {end_col} "
                    f"(hier {r.get(start_col)} > {r.get(end_col)}).",
                    file=file,
                    row=r.line,
                    column=end_col,
                    value=r.get(end_col),
                )
            return start, end, start_col
    return None, None, None


def build_services(
    files: rd.FlexFiles,
    coords: pd.DataFrame,
    rules: dict[str, Any],
    days: dict[str, frozenset[dt.date]],
    warnings: list[str],
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, ...]]]:
    """The fields of one :class:`~coverage.transit.flex.FlexService` per trip with windowed stop times.

    Returns the keyword arguments of the services and the zones actually used (zone id -> stop ids).
    """
    known = set(coords["stop_id"].astype(str))
    groups = _location_groups(files, known)
    polygons, all_polygons = _polygon_zones(files, coords, warnings)
    pos = {s: i for i, s in enumerate(coords["stop_id"].astype(str))}
    xs, ys = coords["x"].to_numpy(np.float64), coords["y"].to_numpy(np.float64)

    routes: dict[str, tuple[str, int | None]] = {}
    file = "routes.txt"
    route_rows = files.rows(file, required=("route_id",))
    rd.check_unique(file, route_rows, "route_id")
    for r in route_rows:
        routes[rd.require(file, r, "route_id")] = (r.get("route_short_name"), rd.parse_int(file, r, "route_type"))

    trips: dict[str, tuple[str, str]] = {}
    file = "trips.txt"
    trip_rows = files.rows(file, required=("route_id", "service_id", "trip_id"))
    rd.check_unique(file, trip_rows, "trip_id")
    for r in trip_rows:
        tid, rid, sid = (rd.require(file, r, c) for c in ("trip_id", "route_id", "service_id"))
        if route_rows and rid not in routes:
            raise GTFSError(
                "unbekannte Linie; erlaubt ist eine route_id aus routes.txt.",
                file=file,
                row=r.line,
                column="route_id",
                value=rid,
            )
        if sid not in days:
            raise GTFSError(
                "unbekannter Verkehrstag-Schlüssel; erlaubt ist eine service_id aus calendar.txt oder "
                "calendar_dates.txt.",
                file=file,
                row=r.line,
                column="service_id",
                value=sid,
            )
        trips[tid] = (rid, sid)

    file = "stop_times.txt"
    entries: dict[str, list[tuple[Any, ...]]] = {}
    zones: dict[str, tuple[str, ...]] = {}
    factors: dict[str, tuple[float | None, float | None]] = {}
    unwindowed = 0
    for r in files.rows(file, required=("trip_id",)):
        tid = rd.require(file, r, "trip_id")
        if tid not in trips:
            raise GTFSError(
                "unbekannte Fahrt; erlaubt ist eine trip_id aus trips.txt.",
                file=file,
                row=r.line,
                column="trip_id",
                value=tid,
            )
        start, end, start_col = _window(file, r)
        if start is None:
            unwindowed += 1
            continue
        for col in ("arrival_time", "departure_time"):
            if r.get(col):
                raise GTFSError(
                    f"{col} ist neben einem Zeitfenster ({start_col}) verboten; erlaubt ist ein leerer Wert.",
                    file=file,
                    row=r.line,
                    column=col,
                    value=r.get(col),
                )
        ptype = rd.parse_int(file, r, "pickup_type", allowed=(0, 1, 2, 3))
        dtype_ = rd.parse_int(file, r, "drop_off_type", allowed=(0, 1, 2, 3))
        for col, v in (("pickup_type", ptype), ("drop_off_type", dtype_)):
            if v == 0:
                raise GTFSError(
                    "regelmäßiger Halt (0) ist neben einem Zeitfenster verboten; erlaubt sind 1, 2 oder 3.",
                    file=file,
                    row=r.line,
                    column=col,
                    value=r.get(col),
                )
        rule_ids = []
        for col in ("pickup_booking_rule_id", "drop_off_booking_rule_id"):
            rid = r.get(col)
            if rid and rid not in rules:
                raise GTFSError(
                    "unbekannte Buchungsregel; erlaubt ist eine booking_rule_id aus booking_rules.txt.",
                    file=file,
                    row=r.line,
                    column=col,
                    value=rid,
                )
            rule_ids.append(rid)
        ref_col, ref = next(
            ((c, r.get(c)) for c in ("location_group_id", "location_id", "stop_id") if r.get(c)), (None, "")
        )
        if ref_col is None:
            raise GTFSError(
                "Pflichtwert fehlt: eine der Spalten location_group_id, location_id oder stop_id muss gefüllt sein.",
                file=file,
                row=r.line,
                column="stop_id",
            )
        if ref in groups:
            members = groups[ref]
        elif ref in polygons:
            members = polygons[ref]
        elif ref in known and ref_col == "stop_id":
            members = [ref]
        elif ref in all_polygons:
            continue  # polygon without stops: skipped with a warning already
        else:
            raise GTFSError(
                "unbekannter Ort; erlaubt ist eine Kennung aus location_groups.txt, locations.geojson oder stops.txt.",
                file=file,
                row=r.line,
                column=ref_col,
                value=ref,
            )
        usable = [s for s in members if np.isfinite(xs[pos[s]]) and np.isfinite(ys[pos[s]])]
        if len(usable) < len(members):
            warnings.append(
                f"GTFS-Flex: {len(members) - len(usable)} Haltestellen der Zone '{ref}' haben keine Koordinaten "
                "und werden nicht bedient."
            )
        if not usable:
            warnings.append(f"GTFS-Flex: Die Zone '{ref}' hat keine Haltestelle mit Koordinaten; übersprungen.")
            continue
        zones[ref] = tuple(usable)
        f = rd.parse_float(file, r, "mean_duration_factor", minimum=0.0, maximum=100.0)
        o = rd.parse_float(file, r, "mean_duration_offset", minimum=0.0, maximum=1440.0)
        if (f is not None or o is not None) and tid not in factors:
            factors[tid] = (f, o)
        for s in usable:
            entries.setdefault(tid, []).append((s, ref, ptype != 1, dtype_ != 1, start, end, *rule_ids))
    if unwindowed:
        warnings.append(
            f"GTFS-Flex: {unwindowed} Zeilen von stop_times.txt ohne Zeitfenster (feste Halte) werden hier nicht "
            "gelesen; sie gehören in den Fahrplan-Feed."
        )
    services = []
    for tid, ent in entries.items():
        rid, sid = trips[tid]
        short, rtype = routes.get(rid, ("", None))
        col = list(zip(*ent, strict=True))
        idx = np.array([pos[s] for s in col[0]], dtype=np.int64)
        f, o = factors.get(tid, (None, None))
        services.append(
            {
                "trip_id": tid,
                "route_id": rid,
                "route_short_name": short,
                "route_type": rtype,
                "service_id": sid,
                "zone_ids": tuple(dict.fromkeys(col[1])),
                "stop_ids": np.array(col[0], dtype=object),
                "x": xs[idx],
                "y": ys[idx],
                "pickup": np.array(col[2], dtype=bool),
                "drop_off": np.array(col[3], dtype=bool),
                "window_start_s": np.array(col[4], dtype=np.int32),
                "window_end_s": np.array(col[5], dtype=np.int32),
                "pickup_rule_id": np.array(col[6], dtype=object),
                "drop_off_rule_id": np.array(col[7], dtype=object),
                "service_days": days.get(sid, frozenset()),
                "mean_duration_factor": f,
                "mean_duration_offset_min": o,
            }
        )
    return services, zones
