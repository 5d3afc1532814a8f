"""Modelled on-demand service (Rufbus) of the model region: the GTFS-Flex v2 feed ``rufbus_modell.zip``.

Helper of ``data/build_rotenburg.py`` (loaded from there; it imports nothing from it).

What is real and what is modelled
---------------------------------
*Real* are the stops and their on-demand flag: the DB InfraGO stop file of the
county marks stops served by a Rufbus or Anruf-Sammel-Taxi (column ``taxi``).
*Modelled* is everything else: that a Rufbus runs at all in a Mitgliedskommune,
its zone, its service windows, its booking time and the operator. The feed
describes no real provider and no real timetable.

The model
---------
* One zone (``location_groups.txt`` + ``location_group_stops.txt``) per
  Mitgliedskommune (MK) with at least one real on-demand stop inside the county:
  the on-demand stops inside the MK plus the stops of the fixed model feed
  ``gtfs_modell.zip`` inside the MK (same ``mod:<DB id>`` stop ids, so a person
  can change to the modelled trains and buses).
* Per zone one route (``route_type`` 715) and two trips: Monday–Friday
  06:00–21:00 and Saturday 08:00–18:00, each as the two ``stop_times`` rows of
  a zone-internal flex trip (pickup row, drop-off row, both with
  ``start_pickup_drop_off_window``/``end_pickup_drop_off_window``).
* One booking rule: same-day booking (``booking_type`` 1) 60 minutes ahead.
* Calendar: the fixed feed's period and its exceptions of the services with the
  same names (``werktag``, ``samstag``: the public holidays).

The zip is deterministic: fixed ``ZipInfo`` date, sorted rows, no timestamps.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely
from pyproj import Transformer

__all__ = [
    "AGENCY_NAME",
    "FEED_PUBLISHER",
    "PRIOR_NOTICE_MIN",
    "ROUTE_TYPE",
    "WINDOWS",
    "FlexStop",
    "RufbusFeed",
    "RufbusZone",
    "build_rufbus_feed",
]

AGENCY_NAME = "Modell-Rufbus, keine reale Bedienung (modelliert)"
FEED_PUBLISHER = "Kursatlas Modellregion – Modell-Rufbus, keine reale Bedienung (modelliert)"
FEED_URL = "https://example.org/modellverkehr"
PRIOR_NOTICE_MIN = 60
"""Booking lead time in minutes (modelling assumption)."""
ROUTE_TYPE = 715
"""GTFS extended route type "Demand and Response Bus Service"."""
WINDOWS: dict[str, tuple[str, str, str]] = {
    "werktag": ("1111100", "06:00:00", "21:00:00"),
    "samstag": ("0000010", "08:00:00", "18:00:00"),
}
"""Service id -> (weekday mask Mo..So, window start, window end): modelling assumption."""
BOOKING_RULE_ID = "modell-vorlauf-60"
BOOKING_MESSAGE = (
    "Modellannahme (modelliert): Anmeldung bis 60 Minuten vor der Fahrt; keine reale Bedienung, keine Buchung möglich."
)
DESC_TAXI = "reale Haltestelle (DB InfraGO, laut Quelle Rufbus/AST); Rufbus-Bedienung modelliert"
DESC_FIXED = "reale Haltestelle (DB InfraGO) des Modellfahrplans, Umstieg; Rufbus-Bedienung modelliert"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class FlexStop:
    """A real stop as written to ``stops.txt`` (``lat``/``lon`` formatted, ``x``/``y`` in EPSG:25832)."""

    stop_id: str
    code: str
    name: str
    lat: str
    lon: str
    x: float
    y: float


@dataclass(frozen=True)
class RufbusZone:
    """One modelled zone (a Mitgliedskommune) and the counts of its stops."""

    ars: str
    gen: str
    bez: str
    location_group_id: str
    taxi: int
    fixed: int
    stops: int


@dataclass
class RufbusFeed:
    """The zip bytes of ``rufbus_modell.zip`` and the figures for ``QUELLEN.md``."""

    data: bytes
    zones: list[RufbusZone]
    stats: dict[str, object] = field(default_factory=dict)


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return buf.getvalue().encode("utf-8")


def _read_fixed(path: Path) -> tuple[list[dict[str, str]], dict[str, dict[str, str]], list[dict[str, str]]]:
    """``stops.txt``, ``calendar.txt`` (by service id) and ``calendar_dates.txt`` of the fixed feed."""
    with zipfile.ZipFile(path) as zf:

        def rows(name: str) -> list[dict[str, str]]:
            if name not in zf.namelist():
                return []
            return list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8"))))

        return rows("stops.txt"), {r["service_id"]: r for r in rows("calendar.txt")}, rows("calendar_dates.txt")


def _assign(stops: Sequence[FlexStop], county: shapely.Geometry, mk: gpd.GeoDataFrame) -> dict[str, list[FlexStop]]:
    """MK (``ARS``) -> stops inside the county and covered by that MK (first MK by ARS on a shared border)."""
    shapely.prepare(county)
    geoms = list(mk.geometry)
    for g in geoms:
        shapely.prepare(g)
    out: dict[str, list[FlexStop]] = {}
    for s in stops:
        pt = shapely.Point(s.x, s.y)
        if not county.contains(pt):
            continue
        hits = [a for a, g in zip(mk["ARS"], geoms, strict=True) if g.covers(pt)]
        ars = hits[0] if hits else min(zip(mk["ARS"], geoms, strict=True), key=lambda ag: ag[1].distance(pt))[0]
        out.setdefault(str(ars), []).append(s)
    return out


def build_rufbus_feed(
    *, taxi_stops: Sequence[FlexStop], fixed_zip: Path, county: shapely.Geometry, mk: gpd.GeoDataFrame
) -> RufbusFeed:
    """Build the modelled GTFS-Flex v2 feed (module docstring).

    Parameters
    ----------
    taxi_stops
        The real on-demand stops (``taxi = True``) of the county stop file, ids
        ``mod:<DB id>``, formatted like the fixed feed's stops.
    fixed_zip
        The fixed model feed ``gtfs_modell.zip`` (already written).
    county
        County polygon (EPSG:25832); stops outside it are not used.
    mk
        Mitgliedskommunen (``ARS``, ``GEN``, ``BEZ``, EPSG:25832), sorted by ``ARS``.

    Returns
    -------
    RufbusFeed

    Raises
    ------
    RuntimeError
        If the fixed feed's services ``werktag``/``samstag`` do not match the
        modelled weekday masks, or no zone results.
    """
    to_25832 = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)
    fixed_rows, calendar, cal_dates = _read_fixed(fixed_zip)
    fixed: list[FlexStop] = []
    for r in fixed_rows:
        x, y = to_25832.transform(float(r["stop_lon"]), float(r["stop_lat"]))
        fixed.append(FlexStop(r["stop_id"], r["stop_code"], r["stop_name"], r["stop_lat"], r["stop_lon"], x, y))
    fixed_by_id = {s.stop_id: s for s in fixed}
    mk = mk.sort_values("ARS").reset_index(drop=True)
    taxi_by_mk = _assign(taxi_stops, county, mk)
    fixed_by_mk = _assign(fixed, county, mk)

    stop_rows: dict[str, list[object]] = {}
    group_rows: list[list[object]] = []
    member_rows: list[list[object]] = []
    route_rows: list[list[object]] = []
    trip_rows: list[list[object]] = []
    st_rows: list[list[object]] = []
    zones: list[RufbusZone] = []
    for ars, gen, bez in zip(mk["ARS"], mk["GEN"], mk["BEZ"], strict=True):
        taxi = taxi_by_mk.get(str(ars), [])
        if not taxi:
            continue
        gid = f"rufbus:{ars}"
        taxi_ids = {s.stop_id for s in taxi}
        members: dict[str, FlexStop] = {}
        for s in taxi:  # a taxi stop of the fixed feed keeps the fixed feed's row
            members[s.stop_id] = fixed_by_id.get(s.stop_id, s)
        for s in fixed_by_mk.get(str(ars), []):
            members.setdefault(s.stop_id, s)
        for sid, s in members.items():
            desc = DESC_TAXI if sid in taxi_ids else DESC_FIXED
            stop_rows[sid] = [sid, s.code, s.name, desc, s.lat, s.lon, 0]
            member_rows.append([gid, sid])
        group_rows.append([gid, f"Modell-Rufbus-Zone {bez} {gen} (modelliert)"])
        route_id = f"RUF-{ars}"
        route_rows.append(
            [route_id, "modell-rufbus", "Modell-Rufbus", f"Modell-Rufbus {bez} {gen} (modelliert)", ROUTE_TYPE]
        )
        for svc, (_, start, end) in WINDOWS.items():
            trip_id = f"{route_id}-{svc}"
            trip_rows.append([route_id, svc, trip_id, f"Modell-Rufbus {gen} (modelliert)"])
            st_rows.append([trip_id, 1, gid, start, end, 2, 1, BOOKING_RULE_ID, ""])
            st_rows.append([trip_id, 2, gid, start, end, 1, 2, "", BOOKING_RULE_ID])
        n_fixed_only = sum(sid not in taxi_ids for sid in members)
        zones.append(RufbusZone(str(ars), str(gen), str(bez), gid, len(taxi_ids), n_fixed_only, len(members)))
    if not zones:
        raise RuntimeError("Keine Rufbus-Zone: keine Rufbus-Haltestelle im Landkreis")

    start_date = min(r["start_date"] for r in calendar.values())
    end_date = max(r["end_date"] for r in calendar.values())
    cal_rows: list[list[object]] = []
    exc_rows: list[list[object]] = []
    for svc, (mask, _, _) in WINDOWS.items():
        if svc in calendar:
            fixed_mask = "".join(calendar[svc][d] for d in _WEEKDAYS)
            if fixed_mask != mask:
                raise RuntimeError(f"Verkehrstage '{svc}' im Modellfahrplan ({fixed_mask}) ≠ Rufbus ({mask})")
            start_date, end_date = calendar[svc]["start_date"], calendar[svc]["end_date"]
            exc_rows += [[svc, r["date"], r["exception_type"]] for r in cal_dates if r["service_id"] == svc]
        cal_rows.append([svc, *mask, start_date, end_date])

    member_rows.sort(key=lambda r: (str(r[0]), str(r[1])))
    trip_rows.sort(key=lambda r: str(r[2]))
    st_rows.sort(key=lambda r: (str(r[0]), int(r[1])))  # type: ignore[call-overload]
    exc_rows.sort(key=lambda r: (str(r[0]), str(r[1])))
    cal_rows.sort(key=lambda r: str(r[0]))
    files = {
        "agency.txt": _csv(
            ["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"],
            [["modell-rufbus", AGENCY_NAME, FEED_URL, "Europe/Berlin", "de"]],
        ),
        "stops.txt": _csv(
            ["stop_id", "stop_code", "stop_name", "stop_desc", "stop_lat", "stop_lon", "location_type"],
            [stop_rows[k] for k in sorted(stop_rows)],
        ),
        "routes.txt": _csv(
            ["route_id", "agency_id", "route_short_name", "route_long_name", "route_type"], sorted(route_rows)
        ),
        "trips.txt": _csv(["route_id", "service_id", "trip_id", "trip_headsign"], trip_rows),
        "location_groups.txt": _csv(["location_group_id", "location_group_name"], sorted(group_rows)),
        "location_group_stops.txt": _csv(["location_group_id", "stop_id"], member_rows),
        "booking_rules.txt": _csv(
            ["booking_rule_id", "booking_type", "prior_notice_duration_min", "message"],
            [[BOOKING_RULE_ID, 1, PRIOR_NOTICE_MIN, BOOKING_MESSAGE]],
        ),
        "stop_times.txt": _csv(
            [
                "trip_id",
                "stop_sequence",
                "location_group_id",
                "start_pickup_drop_off_window",
                "end_pickup_drop_off_window",
                "pickup_type",
                "drop_off_type",
                "pickup_booking_rule_id",
                "drop_off_booking_rule_id",
            ],
            st_rows,
        ),
        "calendar.txt": _csv(["service_id", *_WEEKDAYS, "start_date", "end_date"], cal_rows),
        "calendar_dates.txt": _csv(["service_id", "date", "exception_type"], exc_rows),
        "feed_info.txt": _csv(
            [
                "feed_publisher_name",
                "feed_publisher_url",
                "feed_lang",
                "feed_start_date",
                "feed_end_date",
                "feed_version",
            ],
            [[FEED_PUBLISHER, FEED_URL, "de", start_date, end_date, "rufbus-modell-1"]],
        ),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data, compresslevel=9)
    taxi_in = sum(z.taxi for z in zones)
    stats: dict[str, object] = {
        "rufbus_zonen": len(zones),
        "rufbus_haltestellen": len(stop_rows),
        "rufbus_haltestellen_taxi": taxi_in,
        "rufbus_haltestellen_fahrplan": len(stop_rows) - taxi_in,
        "rufbus_taxi_ausserhalb": len(taxi_stops) - taxi_in,
        "rufbus_mk": len(mk),
        "rufbus_mk_ohne": sorted(set(mk["GEN"].astype(str)) - {z.gen for z in zones}),
        "rufbus_ausnahmen": len(exc_rows),
        "rufbus_zeitraum": (start_date, end_date),
    }
    return RufbusFeed(buf.getvalue(), zones, stats)
