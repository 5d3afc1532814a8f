"""What a map shows: layers, colours, German labels, the spec of one map and the gap table per level.

Everything that is shared by the maps of one run (WGS84 geometries, escaped
properties, popups) is computed once (:mod:`coverage.outputs.maps._prepared`) into a
:class:`_Prepared`; one map's part of it is selected into a :class:`_MapSpec` of plain
values, which :mod:`coverage.outputs.maps.build` turns into folium elements and whose
hash is the content key of the map file (:mod:`coverage.outputs.maps.jobs`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage import ANALYSIS_CRS
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.inputs.config import Config
from coverage.inputs.schema import LEVELS
from coverage.outputs.text import MISSING, fmt_percent
from coverage.traveltime import CourseTravelTimes

__all__ = ["CHANGE_LAYER_NAME", "COURSE_TYPE_COLORS", "QUOTE_BINS", "MapData"]

SIMPLIFY_M = 20.0
"""Douglas-Peucker tolerance for boundaries in metres (invisible at county zoom)."""

COORD_DECIMALS = 5
"""Decimals of WGS84 coordinates in the maps: 1e-5° ≈ 1.1 m north–south, 0.7 m east–west."""

QUOTE_BINS: tuple[tuple[float, str, str], ...] = (
    (0.5, "#d7191c", "unter 50 %"),
    (0.7, "#fdae61", "50 bis unter 70 %"),
    (0.8, "#ffffbf", "70 bis unter 80 %"),
    (0.9, "#a6d96a", "80 bis unter 90 %"),
    (math.inf, "#1a9641", "90 % und mehr"),
)
"""Upper bound (exclusive), colour and legend text of the served-share classes."""
NO_DEMAND_COLOR = "#cccccc"

COURSE_TYPE_COLORS: dict[str, str] = {
    "integrationskurs": "#1f5fa8",
    "alphabetisierung": "#7b3fa0",
    "eltern_frauen": "#c2388f",
    "jugend": "#d9700f",
    "beruf": "#7a4a2a",
    "landkreis": "#2a8a2a",
    "online": "#666666",
}
PROPOSAL_COLOR = "#b30000"
REACH_COLOR = "#3060c0"
_GRID_CLASSES: tuple[tuple[float, str, str], ...] = (
    (20, "#fee5d9", "unter 20"),
    (50, "#fcae91", "20 bis unter 50"),
    (100, "#fb6a4a", "50 bis unter 100"),
    (math.inf, "#cb181d", "100 und mehr"),
)
_SUPPRESSED_COLOR = "#bdbdbd"
_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>-Mitwirkende'


@dataclass(frozen=True)
class MapData:
    """Everything the maps show; all layers except the Mitgliedskommunen are optional.

    Attributes
    ----------
    mitgliedskommunen
        Polygons with ``mk_ars``, ``mk_name``, ``mk_art`` (EPSG:25832).
    courses
        Course registry (``kurs_id``, ``traeger``, ``kursname``, ``kursort``,
        ``adresse``, ``niveaus``, ``kursart``, ``wochentage``, ``beginn``, ``ende``,
        ``erster_tag``, ``letzter_tag``, ``plaetze``, ``freie_plaetze``,
        ``kinderbetreuung``; geometry Point or None for online courses).
    gaps
        Gap table per Mitgliedskommune × level (``ARS``, ``Niveau``, ``Bedarf``,
        ``versorgt``, ``unversorgt``, ``Versorgungsquote``, ``Versorgungslücke``,
        ``Begründung``, …).
    residents
        Target population: ``herkunft_id``, ``einwohner``, Point geometry.
        Personal data: only shown aggregated by :func:`aggregate_residents`.
    proposals
        Proposed courses (``Rang``, ``Kurs-ID``, ``Standort``, ``Gemeinde``,
        ``Mitgliedskommune``, ``Niveau``, ``Zeitfenster``, ``erwartete Teilnehmende``,
        ``neu versorgt``, ``Kosten (€)``, ``Begründung``) with site geometry.
    travel_times
        Travel times residents × courses; origins in the order of ``residents``
        (or matched by ``herkunft_id``).
    reach_minutes
        Threshold in minutes for the bus reach area, per ``kurs_id`` or one value
        for all courses; default: the threshold of the group ``allgemein``.
    landkreis
        County outline (optional, drawn as a thin line).
    grid
        The residents already aggregated with :func:`aggregate_residents` (same
        ``residents``, ``cell_m``, ``min_count`` and the Mitgliedskommunen as
        ``areas``), to avoid computing it twice; computed here when None.
    changes
        A :class:`coverage.workflow.changes.ChangeReport`; when it compares with a previous
        run, the overview gets the layer "Änderungen seit dem letzten Lauf".
    rufbus_zones
        On-demand zones (:func:`coverage.traveltime.rufbus.zone_areas`: ``zone_id``,
        ``linie``, ``buchung``, polygons in EPSG:25832); the overview gets the layer
        "Rufbus-Zonen".
    rufbus_modelliert
        The on-demand service is modelled (labels read "Rufbus-Zone (modelliert)").
    """

    mitgliedskommunen: gpd.GeoDataFrame
    courses: gpd.GeoDataFrame | None = None
    gaps: pd.DataFrame | None = None
    residents: gpd.GeoDataFrame | None = None
    proposals: gpd.GeoDataFrame | pd.DataFrame | None = None
    travel_times: CourseTravelTimes | None = None
    reach_minutes: Mapping[str, float] | float | None = None
    landkreis: gpd.GeoDataFrame | None = None
    grid: gpd.GeoDataFrame | None = None
    changes: Any = None
    rufbus_zones: gpd.GeoDataFrame | None = None
    rufbus_modelliert: bool = False


# --------------------------------------------------------------------------- spec
#
# Everything that is shared by the maps of one run (WGS84 geometries, escaped
# properties, popups) is computed once in ``_prepared._prepare``. ``_prepared._spec``
# then selects the parts of one map into a ``_MapSpec`` of plain values, and
# ``build._build`` turns a spec into folium elements using nothing but the spec and
# constants. The content key of a map file is a hash of its spec (see ``jobs.MapJob``).


@dataclass(frozen=True)
class _Marker:
    """One marker: position (lat, lon), DivIcon HTML, popup HTML and tooltip text (all escaped)."""

    latlon: tuple[float, float]
    icon: str
    icon_size: tuple[int, int]
    icon_anchor: tuple[int, int]
    popup: str
    popup_width: int
    tooltip: str


@dataclass(frozen=True)
class _ChangeSpec:
    """The layer "Änderungen seit dem letzten Lauf" (overview map only)."""

    previous: str
    areas: dict[str, Any]
    markers: tuple[_Marker, ...]
    n_courses: int
    n_unplaced: int


@dataclass(frozen=True)
class _MapSpec:
    """Exactly what one map shows, as plain values; ``_build`` reads nothing else."""

    title: str
    bounds: tuple[float, float, float, float]
    attributions: tuple[str, ...]
    modelled: bool
    quote_layers: tuple[tuple[str, dict[str, Any]], ...]
    boundaries: dict[str, Any]
    landkreis: dict[str, Any] | None
    grid: tuple[str, dict[str, Any]] | None
    reach: dict[str, Any] | None
    courses: tuple[_Marker, ...] | None
    proposals: tuple[_Marker, ...] | None
    changes: _ChangeSpec | None
    legend: str
    rufbus: dict[str, Any] | None = None
    """On-demand zones (overview only): FeatureCollection with escaped ``z`` (label), ``l`` (lines), ``b`` (booking)."""


@dataclass
class _Prepared:
    config: Config
    mk: gpd.GeoDataFrame
    landkreis: gpd.GeoDataFrame | None
    gaps: dict[str, dict[str, dict[str, Any]]]
    courses: gpd.GeoDataFrame | None
    online: pd.DataFrame | None
    cells: gpd.GeoDataFrame | None
    reach: gpd.GeoDataFrame | None
    proposals: gpd.GeoDataFrame | None
    cell_m: float
    min_count: int
    n_outside: int = 0
    """Courses with a place outside the county (drawn with a dashed outline)."""
    # shared, computed once: WGS84 geometries (GeoJSON dicts) and escaped properties
    mk_geo: list[dict[str, Any] | None] = field(default_factory=list)
    mk_bounds: list[tuple[float, float, float, float]] = field(default_factory=list)
    quote_props: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    boundary_names: list[object] = field(default_factory=list)
    landkreis_fc: dict[str, Any] | None = None
    cell_geo: list[dict[str, Any] | None] = field(default_factory=list)
    cell_props: list[dict[str, object]] = field(default_factory=list)
    reach_geo: list[dict[str, Any] | None] = field(default_factory=list)
    reach_props: list[dict[str, object]] = field(default_factory=list)
    course_markers: list[_Marker] = field(default_factory=list)
    proposal_markers: list[_Marker | None] = field(default_factory=list)
    changes: _ChangeSpec | None = None
    rufbus_fc: dict[str, Any] | None = None
    # plain arrays for selecting the rows of one map quickly
    mk_ars: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    mk_shapes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    course_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    course_shapes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    cell_groups: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    reach_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    proposal_shapes: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    # id of each shared GeoJSON geometry → SHA-256 of its JSON (the map keys hash each geometry once)
    geo_digest: dict[int, str] = field(default_factory=dict)


def _as_gdf(df: pd.DataFrame | gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if df is None:
        return None
    if isinstance(df, gpd.GeoDataFrame):
        g = df
    elif "geometry" in df.columns:
        g = gpd.GeoDataFrame(df, geometry="geometry", crs=ANALYSIS_CRS)
    else:
        raise ValueError("Tabelle ohne Geometrie: erwartet eine Spalte 'geometry' mit den Standorten.")
    if g.crs is None:
        g = g.set_crs(ANALYSIS_CRS)
    return g.to_crs(ANALYSIS_CRS)


def _gap_layers(gaps: pd.DataFrame | None, policy: DisclosurePolicy) -> dict[str, dict[str, dict[str, Any]]]:
    """The gap table per level plus an ``alle Niveaus`` aggregate: level → ARS → row.

    Counts leave this function only as published text (``b``, ``v``, ``u``:
    rounded, or ``"< 5"``) and the Versorgungsquote only as computed from the
    published counts (:mod:`coverage.analysis.disclosure`); the totals over all levels are
    summed from the unrounded values and then published the same way.
    """
    if gaps is None or len(gaps) == 0:
        return {}
    g = gaps.copy()
    g["ARS"] = g["ARS"].astype(str)
    for c in ("Bedarf", "versorgt", "unversorgt"):
        g[c] = pd.to_numeric(g[c], errors="coerce")
    agg = g.groupby("ARS").agg(Bedarf=("Bedarf", "sum"), versorgt=("versorgt", "sum"), unversorgt=("unversorgt", "sum"))
    records = g.to_dict("records")
    order = {lv: i for i, lv in enumerate(LEVELS)}
    gap_levels: dict[str, list[tuple[int, str, int | None]]] = {}
    for r in records:
        rank = r.get("Rang")
        r["rg"] = str(int(rank)) if rank is not None and pd.notna(rank) else MISSING
        r["n"] = policy.text(r[_CANDIDATE]) if _CANDIDATE in r else MISSING
        if str(r["Versorgungslücke"]) == "ja":
            gap_levels.setdefault(r["ARS"], []).append((order.get(str(r["Niveau"]), len(LEVELS)), str(r["Niveau"]),
                                                        None if r["rg"] == MISSING else int(r["rg"])))
    joined = {a: ", ".join(lv if rk is None else f"{lv} (Rang {rk})" for _, lv, rk in sorted(v, key=lambda t: t[0]))
              for a, v in gap_levels.items()}
    best = {a: min((rk for *_, rk in v if rk is not None), default=None) for a, v in gap_levels.items()}
    agg["Versorgungslücke"] = np.where(agg.index.isin(list(joined)), "ja", "nein")
    agg["Begründung"] = ["Lücke bei: " + joined[a] if a in joined else "" for a in agg.index]
    agg["rg"] = [str(best[a]) if best.get(a) is not None else MISSING for a in agg.index]
    agg["n"] = MISSING
    rufbus = _RUFBUS in g.columns
    if rufbus:
        g[_RUFBUS] = pd.to_numeric(g[_RUFBUS], errors="coerce")
        agg[_RUFBUS] = g.groupby("ARS")[_RUFBUS].sum()
    all_levels = agg.to_dict("index")
    for rows in ([all_levels[a] for a in all_levels], records):
        for r in rows:
            b, v = policy.count(r["Bedarf"]), policy.count(r["versorgt"])
            r["Versorgungsquote"] = float(policy.share(np.nan if v is None else v, np.nan if b is None else b))
            r["b"], r["v"], r["u"] = (policy.text(r[c]) for c in ("Bedarf", "versorgt", "unversorgt"))
            if rufbus:  # published count and its share of the published Bedarf
                o = policy.count(r[_RUFBUS])
                share = float(policy.share(np.nan if o is None else o, np.nan if b is None else b))
                r["rb"] = policy.text(r[_RUFBUS]) + (f" ({fmt_percent(share)})" if np.isfinite(share) else "")
            for c in _PERSON_KEYS:  # no unpublished number travels further
                r.pop(c, None)
    out: dict[str, dict[str, dict[str, Any]]] = {"alle Niveaus": all_levels}
    per_level: dict[str, dict[str, dict[str, Any]]] = {}
    for r in records:
        per_level.setdefault(str(r["Niveau"]), {}).setdefault(r["ARS"], r)
    for level in LEVELS:
        if level in per_level:
            out[level] = per_level[level]
    return out


_PERSON_KEYS: tuple[str, ...] = (
    "Bedarf", "erreichbar", "versorgt", "unversorgt", "davon: kein Kurs erreichbar", "davon: kein Rückweg",
    "davon: Termin passt nicht", "davon: keine Kinderbetreuung", "davon: Kurs voll", "zusätzlich online versorgbar",
    "außerhalb des Kreises versorgt", "durch neuen Kurs versorgbar", "nur mit Rufbus erreichbar",
)
_RUFBUS = "nur mit Rufbus erreichbar"
"""Gap-table column :data:`coverage.analysis.gaps.RUFBUS_COLUMN` (published as ``rb``, regions with on-demand only)."""
_CANDIDATE = "durch neuen Kurs versorgbar"
"""Gap-table column :data:`coverage.analysis.gaps.CANDIDATE_COLUMN` (published as ``n``)."""


def _in_county(row: pd.Series) -> bool:
    """False for a course marked as outside the county (``im_kreis`` False)."""
    value = row.get("im_kreis", True)
    return True if value is None or (isinstance(value, float) and math.isnan(value)) else bool(value)


# --------------------------------------------------------------------------- GeoJSON


def _geoms_wgs84(geoms: gpd.GeoSeries, *, simplify_m: float | None) -> np.ndarray:
    g = geoms
    if simplify_m:
        g = g.simplify(simplify_m, preserve_topology=True)
    g = g.to_crs("EPSG:4326")
    return shapely.transform(g.values, lambda c: np.round(c, COORD_DECIMALS))


def _rings(poly: shapely.Polygon) -> list[list[list[float]]]:
    rings = [poly.exterior, *poly.interiors]
    return [shapely.get_coordinates(r).tolist() for r in rings]


def _geo_dict(geom: shapely.Geometry) -> dict[str, Any]:
    """GeoJSON geometry (as ``shapely.geometry.mapping``, lists instead of tuples; faster for polygons)."""
    kind = geom.geom_type
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": _rings(geom)}
    if kind == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [_rings(p) for p in geom.geoms]}
    return shapely.geometry.mapping(geom)


def _geo_dicts(geoms: gpd.GeoSeries, *, simplify_m: float | None) -> list[dict[str, Any] | None]:
    """GeoJSON geometry of each row (simplified, WGS84, rounded); None for a missing or empty one."""
    return [
        None if geom is None or geom.is_empty else _geo_dict(geom)
        for geom in _geoms_wgs84(geoms, simplify_m=simplify_m)
    ]


def _fc(
    geoms: Sequence[dict[str, Any] | None], props: Sequence[Mapping[str, object]], *, prefix: str
) -> dict[str, Any]:
    """FeatureCollection of prepared geometries and (already escaped) properties; ids count all rows."""
    feats = [
        {"type": "Feature", "id": f"{prefix}{i}", "properties": dict(p), "geometry": g}
        for i, (g, p) in enumerate(zip(geoms, props, strict=True))
        if g is not None
    ]
    return {"type": "FeatureCollection", "features": feats}


def _latlons(points: gpd.GeoSeries) -> list[tuple[float, float]]:
    """(lat, lon) of points in WGS84, rounded to :data:`COORD_DECIMALS`."""
    if len(points) == 0:
        return []
    p = points.to_crs("EPSG:4326").values
    return [
        (round(y, COORD_DECIMALS), round(x, COORD_DECIMALS))
        for x, y in zip(shapely.get_x(p).tolist(), shapely.get_y(p).tolist(), strict=True)
    ]


def _quote_color(q: float) -> str:
    if q is None or not np.isfinite(q):
        return NO_DEMAND_COLOR
    for upper, color, _ in QUOTE_BINS:
        if q < upper:
            return color
    return QUOTE_BINS[-1][1]


def _grid_color(n: float) -> str:
    if n is None or not np.isfinite(n):
        return _SUPPRESSED_COLOR
    for upper, color, _ in _GRID_CLASSES:
        if n < upper:
            return color
    return _GRID_CLASSES[-1][1]


_CHANGE_CLASSES: tuple[tuple[str, str, str], ...] = (
    ("geoeffnet", "#d7191c", "Lücke neu geöffnet"),
    ("geschlossen", "#1a9641", "Lücke geschlossen"),
    ("gestiegen", "#a6d96a", "Versorgungsquote gestiegen"),
    ("gesunken", "#fdae61", "Versorgungsquote gesunken"),
    ("gemischt", "#9e9ac8", "je Niveau gestiegen und gesunken"),
)
"""Key, colour and legend text of a Mitgliedskommune in the change layer, by priority."""
_CHANGE_MARKERS: dict[str, tuple[str, str, str]] = {
    "neu": ("ka-neu", "+", "Neu"),
    "entfernt": ("ka-entfernt", "&minus;", "Entfernt"),
    "geändert": ("ka-geaendert", "&#8776;", "Geändert"),
}
"""Kind of course change → CSS class, symbol (HTML entity) and German label."""
_CHANGE_EPS = 1e-9
CHANGE_LAYER_NAME = "Änderungen seit dem letzten Lauf"


def _wgs_bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = gdf.to_crs("EPSG:4326").total_bounds
    return tuple(round(float(v), COORD_DECIMALS) for v in (minx, miny, maxx, maxy))  # type: ignore[return-value]


_BOUNDARY_STYLE: Mapping[str, object] = {"color": "#222222", "weight": 1.5, "fill": False}
