"""Interactive maps (folium/Leaflet) for planners: overview, one per Mitgliedskommune, proposals.

:func:`write_maps` writes

* ``uebersicht.html`` – the whole county: served share per Mitgliedskommune with one
  layer per level (radio buttons), existing courses, proposals, residents of the
  target group on a coarse grid, the areas from which each course can be reached by
  bus and train, the changes since the previous run (layer "Änderungen seit dem
  letzten Lauf", only when there was one), legend, scale bar, full-screen button and
  place search;
* ``mk_<ARS>.html`` – the same for one Mitgliedskommune (zoomed, only its data);
* ``vorschlaege.html`` – the proposed county-funded courses with their reasons.

Privacy: residents are never drawn as points. :func:`aggregate_residents` sums them
to grid squares (default ``parameter.raster_m`` = 1 km) and suppresses small counts
(primary and secondary suppression, see there). Reach areas are unions of those grid
squares, never individual origins.

Security: every text from an input file is escaped with :func:`coverage.outputs._html.esc`
before it reaches HTML, GeoJSON properties or folium's JavaScript template literals,
and rendered text is never evaluated as a template again (see :class:`_Literal`).

Offline: every map file embeds the JavaScript and CSS libraries it needs (Leaflet,
jQuery, leaflet-search, leaflet.fullscreen; shipped in ``coverage/_mapassets``, see
:mod:`coverage.outputs._assets`), so it opens without internet, e.g. as an e-mail attachment.
Only the OpenStreetMap background tiles come from the network; when they fail, the map
shows :data:`TILE_NOTICE`.

Speed: the geometries and texts shared by the 15 maps are prepared once; each map
has a content key (:class:`MapJob`), so the pipeline rewrites only maps whose
content changed. The same content always gives the same bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import json
import logging
import math
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import branca
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xyzservices
from branca.element import MacroElement
from folium import plugins
from folium.template import Template

from coverage import ANALYSIS_CRS
from coverage._io import write_text
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.inputs.config import Config
from coverage.inputs.schema import COURSE_TYPE_LABELS, COURSE_TYPES, LEVELS, WEEKDAYS
from coverage.outputs._assets import asset_digest, inline_assets, render_page, vendored_assets
from coverage.outputs._html import esc, esc_props, fmt_count, fmt_euro, fmt_int, fmt_percent, fmt_time, info_table
from coverage.traveltime.engine import CourseTravelTimes

__all__ = [
    "CHANGE_LAYER_NAME",
    "COURSE_TYPE_COLORS",
    "MAX_MAP_BYTES",
    "QUOTE_BINS",
    "TILE_NOTICE",
    "MapData",
    "MapJob",
    "aggregate_residents",
    "course_reach",
    "map_jobs",
    "municipality_map",
    "overview_map",
    "proposals_map",
    "render_html",
    "write_map",
    "write_maps",
]

logger = logging.getLogger(__name__)

MAX_MAP_BYTES = 5 * 1024 * 1024
"""Size budget of one map file (planners forward maps by e-mail)."""

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


# --------------------------------------------------------------------------- inputs


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


# --------------------------------------------------------------------------- privacy


def aggregate_residents(
    residents: gpd.GeoDataFrame,
    *,
    cell_m: float = 1000.0,
    min_count: int = 5,
    areas: gpd.GeoDataFrame | None = None,
    area_column: str = "mk_ars",
) -> gpd.GeoDataFrame:
    """Sum residents to grid squares and suppress small counts.

    Rules (publishable text: see the project README, section *Datenschutz*):

    1. **Aggregation.** Every resident point is assigned to the square of a regular
       grid of ``cell_m`` metres in EPSG:25832 (aligned to multiples of ``cell_m``,
       like the INSPIRE/Zensus grid). Squares without residents are not shown.
    2. **Primary suppression.** A square with more than 0 but fewer than
       ``min_count`` persons is shown as "< min_count"; its count is not written
       anywhere in the map.
    3. **Secondary suppression.** Squares are grouped by the Mitgliedskommune that
       contains their centre (``areas``; without ``areas``: the whole region is one
       group). If exactly one square of a group is suppressed, the square with the
       next-smallest count in the same group is suppressed as well, so that the
       group total minus the visible squares does not reveal the suppressed count.
       If the suppressed square is the only one of its group, the group is flagged
       (``gruppe_geschuetzt``) and its total must not be published.
    4. **Rounding.** Visible square counts, totals published next to the map
       (per Mitgliedskommune, county) and reach counts per course are rounded to
       multiples of ``2 × min_count`` (10 by default), as every published count
       (:class:`coverage.outputs.disclosure.DisclosurePolicy`).

    Parameters
    ----------
    residents
        Points with a column ``einwohner`` (float).
    cell_m
        Edge length of the grid squares in metres.
    min_count
        Smallest count that is shown.
    areas
        Polygons for the secondary suppression (e.g. Mitgliedskommunen).
    area_column
        Id column of ``areas``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per inhabited square (EPSG:25832): ``zelle_id``, ``ix``, ``iy``,
        ``einwohner`` (rounded count, NaN when suppressed), ``unterdrueckt`` (bool),
        ``grund`` (``""``, ``"primär"``, ``"sekundär"``), ``anzeige`` (text shown),
        ``gruppe`` (area id or ``""``), ``gruppe_geschuetzt`` (bool) and the square.
    """
    if cell_m <= 0:
        raise ValueError(f"Rastergröße {cell_m} m ist ungültig; erwartet > 0.")
    pts = residents if residents.crs is None else residents.to_crs(ANALYSIS_CRS)
    cols = ["zelle_id", "ix", "iy", "einwohner", "unterdrueckt", "grund", "anzeige", "gruppe", "gruppe_geschuetzt"]
    if len(pts) == 0:
        return gpd.GeoDataFrame(columns=[*cols, "geometry"], geometry="geometry", crs=ANALYSIS_CRS)
    x = shapely.get_x(pts.geometry.values)
    y = shapely.get_y(pts.geometry.values)
    ix = np.floor(x / cell_m).astype(np.int64)
    iy = np.floor(y / cell_m).astype(np.int64)
    w = pd.to_numeric(pts["einwohner"], errors="coerce").fillna(0.0).to_numpy(float)
    df = pd.DataFrame({"ix": ix, "iy": iy, "w": w}).groupby(["ix", "iy"], as_index=False)["w"].sum()
    df = df[df["w"] > 0].reset_index(drop=True)
    cix, ciy, cw = df["ix"].to_numpy(), df["iy"].to_numpy(), df["w"].to_numpy(float)
    n = len(df)
    boxes = shapely.box(cix * cell_m, ciy * cell_m, (cix + 1) * cell_m, (ciy + 1) * cell_m)
    size = f"{cell_m / 1000:g}km" if cell_m >= 1000 else f"{cell_m:g}m"
    zelle_id = [f"{size}N{int(a * cell_m)}E{int(b * cell_m)}" for a, b in zip(ciy.tolist(), cix.tolist(), strict=True)]
    gruppe = pd.Series([""] * n, dtype=object)
    if areas is not None and len(areas) and n:
        a = areas.to_crs(ANALYSIS_CRS)
        # the area containing each square's centre (the first one if areas overlap)
        src, dst = shapely.STRtree(a.geometry.values).query(shapely.centroid(boxes), predicate="within")
        order = np.lexsort((dst, src))
        src, dst = src[order], dst[order]
        first = np.r_[True, src[1:] != src[:-1]] if len(src) else np.zeros(0, bool)
        ids = a[area_column].reset_index(drop=True)
        gruppe = pd.Series(ids.iloc[dst[first]].to_numpy(), index=src[first]).reindex(range(n))
    gruppe = gruppe.fillna("").astype(str).to_numpy()
    primary = (cw > 0) & (cw < min_count)
    grund = np.where(primary, "primär", "").astype(object)
    protected = np.zeros(n, dtype=bool)
    codes, _ = pd.factorize(gruppe, sort=True)
    for g in range(int(codes.max()) + 1 if n else 0):
        idx = np.flatnonzero(codes == g)
        sup = primary[idx]
        if int(sup.sum()) != 1:
            continue
        others = idx[~sup]
        if len(others):
            grund[others[np.argmin(cw[others])]] = "sekundär"
        else:
            protected[idx] = True
    suppressed = grund != ""
    # visible squares are published like every count (rounded to 2 × min_count, see coverage.outputs.disclosure)
    policy = DisclosurePolicy(max(int(min_count), 3))
    einwohner = np.where(suppressed, np.nan, policy.counts(cw))
    cells = gpd.GeoDataFrame(
        {
            "zelle_id": zelle_id,
            "ix": cix,
            "iy": ciy,
            "einwohner": einwohner,
            "unterdrueckt": suppressed,
            "grund": grund.astype(str),
            "anzeige": [
                f"< {min_count}" if s else fmt_int(v)
                for s, v in zip(suppressed.tolist(), einwohner.tolist(), strict=True)
            ],
            "gruppe": gruppe,
            "gruppe_geschuetzt": protected,
        },
        geometry=boxes,
        crs=ANALYSIS_CRS,
    )
    n1 = int((grund == "primär").sum())
    n2 = int((grund == "sekundär").sum())
    logger.info("Einwohnerraster %s: %d Zellen, %d primär und %d sekundär geschützt", size, len(cells), n1, n2)
    return cells[[*cols, "geometry"]]


def _thresholds(
    course_ids: Sequence[Any], reach_minutes: Mapping[str, float] | float | None, default: float
) -> np.ndarray:
    if reach_minutes is None:
        return np.full(len(course_ids), float(default))
    if isinstance(reach_minutes, (int, float)):
        return np.full(len(course_ids), float(reach_minutes))
    return np.array([float(reach_minutes.get(str(c), reach_minutes.get(c, default))) for c in course_ids])


def course_reach(
    travel_times: CourseTravelTimes,
    residents: gpd.GeoDataFrame,
    *,
    minutes: Mapping[str, float] | float,
    cell_m: float = 1000.0,
    min_count: int = 5,
    mode: str = "oepnv",
) -> gpd.GeoDataFrame:
    """Areas from which each course can be reached in time, as unions of grid squares.

    A grid square (edge ``cell_m``) belongs to a course's area when at least one
    origin in it arrives by the course start within the course's threshold
    (``hin`` ≤ threshold, worst course day). Individual origins are never drawn.

    Parameters
    ----------
    travel_times
        Travel times; origins match ``residents`` by ``herkunft_id`` or by order.
    residents
        Origins with ``einwohner`` and Point geometry (EPSG:25832).
    minutes
        Threshold per ``kurs_id`` or one value.
    cell_m
        Grid size of the drawn areas.
    min_count
        Reach counts below this are shown as "< min_count".
    mode
        Travel mode (default: bus and train).

    Returns
    -------
    geopandas.GeoDataFrame
        ``kurs_id``, ``minuten``, ``erreichbar`` (count of the target population,
        rounded to 10), ``anzeige`` (text) and the area (EPSG:25832; empty if none).
    """
    cols = ["kurs_id", "minuten", "erreichbar", "anzeige"]
    policy = DisclosurePolicy(max(int(min_count), 3))
    if mode not in travel_times.modes:
        logger.warning("Reisezeiten enthalten keinen Modus '%s'; keine Erreichbarkeitsflächen.", mode)
        return gpd.GeoDataFrame(columns=[*cols, "geometry"], geometry="geometry", crs=ANALYSIS_CRS)
    hin, _ = travel_times.mode(mode)
    pts = residents.to_crs(ANALYSIS_CRS) if residents.crs is not None else residents
    if "herkunft_id" in pts.columns:
        pos = pd.Index(pd.Series(travel_times.origin_ids).astype(str)).get_indexer(pts["herkunft_id"].astype(str))
    else:
        pos = np.arange(len(pts))
    if len(pos) != len(pts) or (pos < 0).any():
        raise ValueError("Reisezeiten und Einwohner passen nicht zusammen (herkunft_id fehlt in den Reisezeiten).")
    hin = hin[pos]
    w = pd.to_numeric(pts["einwohner"], errors="coerce").fillna(0.0).to_numpy(float)
    x = shapely.get_x(pts.geometry.values)
    y = shapely.get_y(pts.geometry.values)
    ix = np.floor(x / cell_m).astype(np.int64)
    iy = np.floor(y / cell_m).astype(np.int64)
    course_ids = [str(c) for c in travel_times.course_ids]
    limits = _thresholds(course_ids, minutes, 60.0)
    # one integer per grid square (x major, as a row-wise sort of (ix, iy) would order them)
    x0, y0 = (int(ix.min()), int(iy.min())) if len(ix) else (0, 0)
    span = int(iy.max()) - y0 + 1 if len(iy) else 1
    square = (ix - x0) * span + (iy - y0)
    rows = []
    for j, cid in enumerate(course_ids):
        ok = hin[:, j] <= limits[j]
        total = float(w[ok].sum())
        uniq = np.unique(square[ok])
        keys = np.column_stack([uniq // span + x0, uniq % span + y0]).astype(np.int64)
        if len(keys):
            boxes = shapely.box(
                keys[:, 0] * cell_m, keys[:, 1] * cell_m, (keys[:, 0] + 1) * cell_m, (keys[:, 1] + 1) * cell_m
            )
            # the squares form a polygonal coverage (no overlaps): its union is much faster than union_all
            area = shapely.normalize(shapely.coverage_union_all(boxes))
        else:
            area = shapely.Polygon()
        shown = policy.count(total)
        text = policy.text(total)
        rows.append(
            {"kurs_id": cid, "minuten": float(limits[j]), "erreichbar": shown, "anzeige": text, "geometry": area}
        )
    return gpd.GeoDataFrame(rows, columns=[*cols, "geometry"], geometry="geometry", crs=ANALYSIS_CRS)


# --------------------------------------------------------------------------- preparation
#
# Everything that is shared by the maps of one run (WGS84 geometries, escaped
# properties, popups) is computed once in ``_prepare``. ``_spec`` then selects the
# parts of one map into a ``_MapSpec`` of plain values, and ``_build`` turns a spec
# into folium elements using nothing but the spec and the constants of this module.
# The content key of a map file is a hash of its spec (see ``MapJob``).


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
    published counts (:mod:`coverage.outputs.disclosure`); the totals over all levels are
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
        r["rg"] = str(int(rank)) if rank is not None and pd.notna(rank) else "–"
        r["n"] = policy.text(r[_CANDIDATE]) if _CANDIDATE in r else "–"
        if str(r["Versorgungslücke"]) == "ja":
            gap_levels.setdefault(r["ARS"], []).append((order.get(str(r["Niveau"]), len(LEVELS)), str(r["Niveau"]),
                                                        None if r["rg"] == "–" else int(r["rg"])))
    joined = {a: ", ".join(lv if rk is None else f"{lv} (Rang {rk})" for _, lv, rk in sorted(v, key=lambda t: t[0]))
              for a, v in gap_levels.items()}
    best = {a: min((rk for *_, rk in v if rk is not None), default=None) for a, v in gap_levels.items()}
    agg["Versorgungslücke"] = np.where(agg.index.isin(list(joined)), "ja", "nein")
    agg["Begründung"] = ["Lücke bei: " + joined[a] if a in joined else "" for a in agg.index]
    agg["rg"] = [str(best[a]) if best.get(a) is not None else "–" for a in agg.index]
    agg["n"] = "–"
    all_levels = agg.to_dict("index")
    for rows in ([all_levels[a] for a in all_levels], records):
        for r in rows:
            b, v = policy.count(r["Bedarf"]), policy.count(r["versorgt"])
            r["Versorgungsquote"] = float(policy.share(np.nan if v is None else v, np.nan if b is None else b))
            r["b"], r["v"], r["u"] = (policy.text(r[c]) for c in ("Bedarf", "versorgt", "unversorgt"))
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
    "außerhalb des Kreises versorgt", "durch neuen Kurs versorgbar",
)
_CANDIDATE = "durch neuen Kurs versorgbar"
"""Gap-table column :data:`coverage.analysis.gaps.CANDIDATE_COLUMN` (published as ``n``)."""
"""Person columns of the gap table (see :data:`coverage.analysis.gaps.GAP_COLUMNS`)."""


def _prepare(
    config: Config,
    data: MapData,
    *,
    cell_m: float | None,
    min_count: int | None,
) -> _Prepared:
    cell = float(cell_m if cell_m is not None else config.parameter.raster_m)
    mincount = int(min_count if min_count is not None else config.parameter.mindestanzahl)
    mk = data.mitgliedskommunen.to_crs(ANALYSIS_CRS).copy()
    mk["mk_ars"] = mk["mk_ars"].astype(str)
    courses = online = None
    if data.courses is not None and len(data.courses):
        c = data.courses.copy()
        c["kurs_id"] = c["kurs_id"].astype(str)
        has_geom = c.geometry.notna() & ~c.geometry.is_empty
        online = pd.DataFrame(c.loc[~has_geom].drop(columns="geometry"))
        courses = _as_gdf(c.loc[has_geom])
    cells = reach = None
    if data.residents is not None and len(data.residents):
        if data.grid is not None:
            cells = data.grid.to_crs(ANALYSIS_CRS) if data.grid.crs is not None else data.grid
        else:
            cells = aggregate_residents(data.residents, cell_m=cell, min_count=mincount, areas=mk)
        if data.travel_times is not None:
            default = (
                config.parameter.gruppen["allgemein"].max_minuten if "allgemein" in config.parameter.gruppen else 60.0
            )
            minutes = data.reach_minutes if data.reach_minutes is not None else default
            reach = course_reach(data.travel_times, data.residents, minutes=minutes, cell_m=cell, min_count=mincount)
    landkreis = data.landkreis.to_crs(ANALYSIS_CRS) if data.landkreis is not None else None
    prep = _Prepared(
        config=config,
        mk=mk,
        landkreis=landkreis,
        gaps=_gap_layers(data.gaps, DisclosurePolicy(mincount)),
        courses=courses,
        online=online,
        cells=cells,
        reach=reach,
        proposals=_as_gdf(data.proposals),
        cell_m=cell,
        min_count=mincount,
        n_outside=0 if courses is None else sum(not _in_county(r) for _, r in courses.iterrows()),
    )
    _share(prep)
    if data.changes is not None and getattr(data.changes, "has_previous", False):
        prep.changes = _change_spec(prep, data.changes)
    return prep


def _share(prep: _Prepared) -> None:
    """Compute the GeoJSON geometries, properties and markers that several maps use."""
    mk = prep.mk
    prep.mk_ars = np.asarray(mk["mk_ars"].astype(str), dtype=object)
    prep.mk_shapes = mk.geometry.to_numpy()
    prep.mk_geo = _geo_dicts(mk.geometry, simplify_m=SIMPLIFY_M)
    prep.mk_bounds = [
        tuple(round(float(v), COORD_DECIMALS) for v in b)  # type: ignore[misc]
        for b in shapely.bounds(mk.geometry.to_crs("EPSG:4326").values)
    ]
    prep.quote_props = _quote_props(prep)
    prep.boundary_names = list(mk["mk_name"])
    if prep.landkreis is not None and len(prep.landkreis):
        lk = _geo_dicts(prep.landkreis.geometry, simplify_m=SIMPLIFY_M)
        prep.landkreis_fc = _fc(lk, [{} for _ in lk], prefix="lk")
    if prep.cells is not None and len(prep.cells):
        cells = prep.cells
        prep.cell_groups = np.asarray(cells["gruppe"].astype(str), dtype=object)
        prep.cell_geo = _geo_dicts(cells.geometry, simplify_m=None)
        prep.cell_props = [
            esc_props({"a": a, "_c": _grid_color(n), "_s": bool(s)})
            for a, n, s in zip(cells["anzeige"], cells["einwohner"], cells["unterdrueckt"], strict=True)
        ]
    if prep.courses is not None and len(prep.courses):
        prep.course_ids = np.asarray(prep.courses["kurs_id"], dtype=object)
        prep.course_shapes = prep.courses.geometry.to_numpy()
        names = dict(zip(prep.courses["kurs_id"], prep.courses["kursname"], strict=True))
        if prep.reach is not None and len(prep.reach):
            prep.reach_ids = np.asarray(prep.reach["kurs_id"], dtype=object)
            prep.reach_geo = _geo_dicts(prep.reach.geometry, simplify_m=SIMPLIFY_M)
            prep.reach_props = [
                esc_props({"k": names.get(k, k), "min": f"{mn:g} Min.", "n": a})
                for k, mn, a in zip(prep.reach["kurs_id"], prep.reach["minuten"], prep.reach["anzeige"], strict=True)
            ]
        prep.course_markers = _course_markers(prep, prep.courses)
    if prep.proposals is not None and len(prep.proposals):
        prep.proposal_shapes = prep.proposals.geometry.to_numpy()
        prep.proposal_markers = _proposal_markers(prep.proposals)
    lk_geo = [f["geometry"] for f in prep.landkreis_fc["features"]] if prep.landkreis_fc else []
    for geo in (*prep.mk_geo, *lk_geo, *prep.cell_geo, *prep.reach_geo):
        if geo is not None and id(geo) not in prep.geo_digest:
            text = json.dumps(geo, separators=(",", ":"))
            prep.geo_digest[id(geo)] = hashlib.sha256(text.encode()).hexdigest()


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


# --------------------------------------------------------------------------- layer content


def _quote_props(prep: _Prepared) -> dict[str, list[dict[str, object]]]:
    """Escaped properties of the served-share layers: level → one entry per Mitgliedskommune row."""
    layers = prep.gaps or {"": {}}
    out: dict[str, list[dict[str, object]]] = {}
    arts = prep.mk["mk_art"] if "mk_art" in prep.mk.columns else pd.Series([""] * len(prep.mk))
    for level, records in layers.items():
        props = []
        for ars, name, art in zip(prep.mk["mk_ars"], prep.mk["mk_name"], arts, strict=True):
            r = records.get(ars)
            q = float(r["Versorgungsquote"]) if r is not None and pd.notna(r["Versorgungsquote"]) else float("nan")
            props.append(
                esc_props(
                    {
                        "Mitgliedskommune": name,
                        "art": art,
                        "niv": level or "–",
                        "b": r["b"] if r is not None else "–",
                        "v": r["v"] if r is not None else "–",
                        "u": r["u"] if r is not None else "–",
                        "q": fmt_percent(q),
                        "l": str(r["Versorgungslücke"]) if r is not None else "–",
                        "rg": str(r.get("rg", "–")) if r is not None else "–",
                        "n": str(r.get("n", "–")) if r is not None else "–",
                        "g": str(r["Begründung"]) if r is not None and pd.notna(r["Begründung"]) else "",
                        "_c": _quote_color(q),
                        "_gap": bool(r is not None and str(r["Versorgungslücke"]) == "ja"),
                    }
                )
            )
        out[level] = props
    return out


def _levels_label(levels: object) -> str:
    lv = [x for x in LEVELS if x in tuple(levels or ())] if not isinstance(levels, str) else [levels]
    if not lv:
        return "?"
    return lv[0] if len(lv) == 1 else f"{lv[0]}–{lv[-1]}"


def _fmt_date(d: object) -> str:
    if isinstance(d, (date, pd.Timestamp)):
        return d.strftime("%d.%m.%Y")
    return str(d) if d is not None and not (isinstance(d, float) and math.isnan(d)) else "–"


def _days(days: object) -> str:
    try:
        return ", ".join(WEEKDAYS[int(d)] for d in days)  # type: ignore[union-attr]
    except (TypeError, ValueError, IndexError):
        return str(days)


def _course_popup(row: pd.Series, reach_text: str | None) -> str:
    rows: list[tuple[str, object]] = [
        ("Träger", row.get("traeger")),
        ("Kursart", COURSE_TYPE_LABELS.get(str(row.get("kursart")), row.get("kursart"))),
        ("Niveaus", ", ".join(x for x in LEVELS if x in tuple(row.get("niveaus") or ()))),
        ("Kursort", row.get("kursort")),
        ("Adresse", row.get("adresse")),
        ("Zeiten", f"{fmt_time(row.get('beginn'))}–{fmt_time(row.get('ende'))} Uhr"),
        ("Wochentage", _days(row.get("wochentage"))),
        ("Zeitraum", f"{_fmt_date(row.get('erster_tag'))} bis {_fmt_date(row.get('letzter_tag'))}"),
        ("Plätze", f"{row.get('plaetze')} (frei: {row.get('freie_plaetze')})"),
        ("Kinderbetreuung", "ja" if bool(row.get("kinderbetreuung")) else "nein"),
    ]
    if not _in_county(row):
        rows.append(("Lage", "außerhalb des Landkreises (im Analysegebiet)"))
    if reach_text is not None:
        rows.append(("Mit Bus und Bahn erreichbar für", reach_text))
    return info_table(str(row.get("kursname")), rows)


def _in_county(row: pd.Series) -> bool:
    """False for a course marked as outside the county (``im_kreis`` False)."""
    value = row.get("im_kreis", True)
    return True if value is None or (isinstance(value, float) and math.isnan(value)) else bool(value)


def _course_markers(prep: _Prepared, courses: gpd.GeoDataFrame) -> list[_Marker]:
    reach_text: dict[str, str] = {}
    if prep.reach is not None:
        for k, a, mn in zip(prep.reach["kurs_id"], prep.reach["anzeige"], prep.reach["minuten"], strict=True):
            reach_text[k] = f"{a} Personen der Zielgruppe (≤ {mn:g} Min.)"
    out = []
    for (_, row), latlon in zip(courses.iterrows(), _latlons(courses.geometry), strict=True):
        color = COURSE_TYPE_COLORS.get(str(row["kursart"]), "#333333")
        label = esc(_levels_label(row["niveaus"]))
        inside = _in_county(row)
        css = "ka-kurs" if inside else "ka-kurs ka-aussen"
        tooltip = esc(row["kursname"]) if inside else f"{esc(row['kursname'])} (außerhalb des Kreises)"
        out.append(
            _Marker(
                latlon=latlon,
                icon=f'<div class="{css}" style="background:{color}">{label}</div>',
                icon_size=(44, 18),
                icon_anchor=(22, 9),
                popup=_course_popup(row, reach_text.get(row["kurs_id"])),
                popup_width=360,
                tooltip=tooltip,
            )
        )
    return out


def _proposal_popup(row: pd.Series) -> str:
    def num(key: str) -> str:
        v = row.get(key)
        return fmt_int(v) if isinstance(v, (int, float, np.number)) and pd.notna(v) else esc(v)

    rows: list[tuple[str, object]] = [
        ("Rang", row.get("Rang")),
        ("Kurs-ID", row.get("Kurs-ID")),
        ("Gemeinde", row.get("Gemeinde")),
        ("Mitgliedskommune", row.get("Mitgliedskommune")),
        ("Niveau", row.get("Niveau")),
        ("Zeitfenster", row.get("Zeitfenster")),
        ("erwartete Teilnehmende", num("erwartete Teilnehmende")),
        ("neu versorgt", num("neu versorgt")),
        ("Kosten", fmt_euro(row.get("Kosten (€)")) if pd.notna(row.get("Kosten (€)")) else "–"),
        ("Begründung", row.get("Begründung")),
    ]
    return info_table(f"Vorschlag {row.get('Rang')}: {row.get('Standort')}", rows)


def _proposal_markers(proposals: gpd.GeoDataFrame) -> list[_Marker | None]:
    """One marker per proposal row (None where the site has no geometry)."""
    has_geom = (proposals.geometry.notna() & ~proposals.geometry.is_empty).to_numpy()
    latlons = iter(_latlons(proposals.geometry[has_geom]))
    out: list[_Marker | None] = []
    for ok, (_, row) in zip(has_geom, proposals.iterrows(), strict=True):
        if not ok:
            out.append(None)
            continue
        out.append(
            _Marker(
                latlon=next(latlons),
                icon=f'<div class="ka-vorschlag">&#9733; {esc(row.get("Rang"))}</div>',
                icon_size=(40, 20),
                icon_anchor=(20, 10),
                popup=_proposal_popup(row),
                popup_width=380,
                tooltip=esc(f"Vorschlag {row.get('Rang')}: {row.get('Standort')} ({row.get('Niveau')})"),
            )
        )
    return out


# --------------------------------------------------------------------------- change layer

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


def _num(v: object) -> float:
    """``v`` as a float, NaN when it is not a number."""
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return x


def _change_line(r: Mapping[str, object], min_count: int) -> str:
    """``A1: 13 % → 65 % (versorgt < 5 → 5), Lücke geschlossen`` (not yet escaped)."""
    qb, qa = _num(r["Versorgungsquote vorher"]), _num(r["Versorgungsquote nachher"])
    def count(v: object) -> str:  # published counts: a rounded number or the text "< 5"
        return v if isinstance(v, str) and v.startswith("<") else fmt_count(_num(v), min_count=min_count)

    text = f"{r['Niveau']}: {fmt_percent(qb)} → {fmt_percent(qa)}"
    text += f" (versorgt {count(r['versorgt vorher'])} → {count(r['versorgt nachher'])})"
    status = str(r["Status"])
    if status == "neu geöffnet":
        text += ", Lücke neu geöffnet"
    elif status == "geschlossen":
        text += ", Lücke geschlossen"
    return text


def _change_class(rows: Sequence[Mapping[str, Any]]) -> str:
    """Key of :data:`_CHANGE_CLASSES` for the changed rows of one Mitgliedskommune."""
    status = {str(r["Status"]) for r in rows}
    if "neu geöffnet" in status:
        return "geoeffnet"
    if "geschlossen" in status:
        return "geschlossen"
    deltas = [_num(r["Änderung"]) for r in rows]
    up = any(d > _CHANGE_EPS for d in deltas)
    down = any(d < -_CHANGE_EPS for d in deltas)
    if up and down:
        return "gemischt"
    return "gestiegen" if up else "gesunken"


def _is_changed(r: Mapping[str, Any]) -> bool:
    """Served share changed, gap flag opened or closed, or the row exists on one side only."""
    qb, qa = _num(r["Versorgungsquote vorher"]), _num(r["Versorgungsquote nachher"])
    if math.isnan(qb) != math.isnan(qa):
        return True
    if str(r["Status"]) in ("neu geöffnet", "geschlossen"):
        return True
    return not math.isnan(qb) and abs(qa - qb) > _CHANGE_EPS


def _run_label(name: str) -> str:
    """``Lauf vom 01.03.2027, 09:15 Uhr`` (local time) for a run folder ``2027-03-01T08-15-30Z``."""
    import datetime as dt

    try:
        stamp = dt.datetime.strptime(name[:20], "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return f"Lauf {name}"
    return f"Lauf vom {stamp.astimezone():%d.%m.%Y, %H:%M} Uhr"


def _change_spec(prep: _Prepared, report: Any) -> _ChangeSpec:
    """Areas and markers of the change layer from a :class:`coverage.workflow.changes.ChangeReport`."""
    mc = prep.min_count
    by_ars: dict[str, list[dict[str, Any]]] = {}
    for r in report.table.to_dict("records"):
        if _is_changed(r):
            by_ars.setdefault(str(r["ARS"]), []).append(r)
    classes = {key: (color, text) for key, color, text in _CHANGE_CLASSES}
    geoms: list[dict[str, Any] | None] = []
    props: list[dict[str, object]] = []
    pos = {ars: i for i, ars in enumerate(prep.mk_ars.tolist())}
    order = {lv: i for i, lv in enumerate(LEVELS)}
    for ars in sorted(by_ars):
        i = pos.get(ars)
        if i is None:
            continue
        rows = sorted(by_ars[ars], key=lambda r: order.get(r["Niveau"], len(LEVELS)))
        color, text = classes[_change_class(rows)]
        lines = "<br>".join(esc(_change_line(r, mc)) for r in rows)
        geoms.append(prep.mk_geo[i])
        props.append(
            {
                "Mitgliedskommune": esc(prep.boundary_names[i]),
                "art": esc(text),
                "d": lines,  # built from escaped lines; <br> is the only markup
                "_c": color,
            }
        )
    markers: list[_Marker] = []
    courses = report.courses
    locations = getattr(report, "locations", None)
    where: dict[str, tuple[float, float]] = {}
    if locations is not None and len(locations):
        for kid, lat, lon in zip(locations["Kurs-ID"], locations["lat"], locations["lon"], strict=True):
            if math.isfinite(_num(lat)) and math.isfinite(_num(lon)):
                where[str(kid)] = (round(_num(lat), COORD_DECIMALS), round(_num(lon), COORD_DECIMALS))
    unplaced = 0
    for r in courses.to_dict("records"):
        kind = str(r["Änderung"])
        css, symbol, label = _CHANGE_MARKERS.get(kind, ("ka-geaendert", "?", kind))
        latlon = where.get(str(r["Kurs-ID"]))
        if latlon is None:
            unplaced += 1
            continue
        place = ", ".join(str(x) for x in (r["Niveaus"], r["Kursort"]) if x)
        rows_: list[tuple[str, object]] = [
            ("Änderung", label),
            ("Niveaus", r["Niveaus"]),
            ("Kursort", r["Kursort"]),
        ]
        details = r.get("Details")
        if isinstance(details, str) and details:
            rows_.append(("Details", details))
        markers.append(
            _Marker(
                latlon=latlon,
                icon=f'<div class="ka-aenderung {css}">{symbol} {esc(r["Kurs-ID"])}</div>',
                icon_size=(64, 18),
                icon_anchor=(32, 29),  # above the course marker at the same place
                popup=info_table(f"{label}: Kurs {r['Kurs-ID']}", rows_),
                popup_width=360,
                tooltip=esc(f"{label}: Kurs {r['Kurs-ID']}" + (f" ({place})" if place else "")),
            )
        )
    return _ChangeSpec(
        previous=_run_label(str(getattr(report.previous, "name", report.previous))),
        areas=_fc(geoms, props, prefix="d"),
        markers=tuple(markers),
        n_courses=len(courses),
        n_unplaced=unplaced,
    )


# --------------------------------------------------------------------------- boxes

_CSS = (
    """
<style>
*, ::before, ::after { box-sizing: border-box; }
.ka-icon { background: none; border: none; }
.ka-kurs { color: #fff; font: bold 11px/18px sans-serif; text-align: center; border-radius: 9px;
  border: 1px solid #fff; box-shadow: 0 0 2px #000; white-space: nowrap; }
.ka-aussen { outline: 2px dashed #000; outline-offset: 1px; }
.ka-vorschlag { color: #fff; background: """
    + PROPOSAL_COLOR
    + """; font: bold 12px/20px sans-serif;
  text-align: center; border-radius: 4px; border: 2px solid #fff; box-shadow: 0 0 3px #000; white-space: nowrap; }
.ka-popup h4 { font-size: 14px; line-height: 1.2; margin: 0 0 4px 0; }
.ka-popup table { font-size: 12px; border-collapse: collapse; }
.ka-popup th { text-align: left; padding: 1px 8px 1px 0; vertical-align: top; font-weight: 600; }
.ka-popup td { padding: 1px 0; }
.ka-box { background: rgba(255,255,255,0.92); border: 1px solid #999;
  border-radius: 4px; padding: 6px 8px; font: 12px/1.35 sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,.3); }
.ka-fixed { position: fixed; z-index: 1000; }
.ka-top { top: 10px; left: 56px; max-width: calc(100% - 400px); display: flex; flex-direction: column; gap: 6px; }
.ka-title { font-size: 15px; font-weight: bold; }
.ka-modell { background: #fff3cd; border-color: #d39e00; font-weight: bold; }
.ka-kacheln { background: #e8f0fb; border-color: #5b7fb5; }
.ka-kacheln[hidden] { display: none; }
.ka-legend { bottom: 28px; right: 10px; max-width: 270px; max-height: calc(100% - 330px); overflow-y: auto; }
.ka-legend summary { font-weight: bold; cursor: pointer; }
.ka-legend i { display: inline-block; width: 14px; height: 12px; margin-right: 5px; vertical-align: middle;
  border: 1px solid #777; }
.ka-legend h5 { font-size: 12px; line-height: 1.2; font-weight: bold; margin: 5px 0 2px 0; }
.ka-footer { bottom: 24px; left: 10px; max-width: calc(100% - 320px); font-size: 11px; }
.leaflet-control-layers { font: 12px/1.4 sans-serif; }
.leaflet-control-layers label { margin-bottom: 0; }
.leaflet-control-scale-line:not(:first-child) { display: none; }
@media print { .leaflet-control-container .leaflet-control-layers, .leaflet-control-search { display: none; } }
</style>
"""
)

_CHANGE_CSS = """
<style>
.ka-aenderung { color: #fff; font: bold 11px/18px sans-serif; text-align: center; border-radius: 3px;
  border: 1px solid #fff; box-shadow: 0 0 2px #000; white-space: nowrap; }
.ka-neu { background: #1a7a1a; }
.ka-entfernt { background: #b30000; text-decoration: line-through; }
.ka-geaendert { background: #6a51a3; }
.ka-legend .ka-aenderung { display: inline-block; padding: 0 4px; line-height: 14px; font-size: 10px; }
</style>
"""


class _Box(MacroElement):
    """A fixed HTML box on the map (legend, title, footer); ``html`` must be escaped already."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}{{ this.css }}{% endmacro %}
        {% macro html(this, kwargs) %}{{ this.html }}{% endmacro %}
        """
    )

    def __init__(self, html: str, *, css: str = "") -> None:
        super().__init__()
        self._name = "KaBox"
        self.html = html
        self.css = css


def _legend_html(
    prep: _Prepared, *, courses: bool, proposals: bool, grid: bool, reach: bool, changes: _ChangeSpec | None = None
) -> str:
    ziel = fmt_percent(prep.config.parameter.ziel_quote)
    parts = ['<details open class="ka-box ka-fixed ka-legend" id="ka-legende"><summary>Legende</summary>']
    if prep.gaps:
        parts.append("<h5>Versorgungsquote (Niveau oben rechts wählen)</h5>")
        for _, color, text in QUOTE_BINS:
            parts.append(f'<div><i style="background:{color}"></i>{esc(text)}</div>')
        parts.append(f'<div><i style="background:{NO_DEMAND_COLOR}"></i>kein Bedarf / keine Angabe</div>')
        parts.append(
            '<div><i style="border:2px dashed #b30000;background:none"></i>'
            f"Versorgungslücke (unter Ziel {esc(ziel)})</div>"
        )
    if courses:
        parts.append("<h5>Bestehende Kurse (Beschriftung = Niveaus)</h5>")
        for key in COURSE_TYPES:
            if key == "online":
                continue
            parts.append(
                f'<div><i style="background:{COURSE_TYPE_COLORS[key]}"></i>{esc(COURSE_TYPE_LABELS[key])}</div>'
            )
        if prep.online is not None and len(prep.online):
            parts.append(f"<div>{len(prep.online)} Online-Kurs(e) ohne Kursort, nicht in der Karte</div>")
        if prep.n_outside:
            parts.append(
                '<div><i style="background:#888;outline:2px dashed #000;outline-offset:-2px"></i>'
                f"gestrichelt: Kurs außerhalb des Kreises ({prep.n_outside})</div>"
            )
    if proposals:
        parts.append(
            f'<h5>Vorschläge</h5><div><i style="background:{PROPOSAL_COLOR}"></i>'
            "&#9733; Rang des vorgeschlagenen Kurses</div>"
        )
    if grid:
        size = f"{prep.cell_m / 1000:g} km" if prep.cell_m >= 1000 else f"{prep.cell_m:g} m"
        parts.append(f"<h5>Zielgruppe je {esc(size)}-Quadrat (Personen)</h5>")
        for _, color, text in _GRID_CLASSES:
            parts.append(f'<div><i style="background:{color}"></i>{esc(text)}</div>')
        parts.append(
            f'<div><i style="background:{_SUPPRESSED_COLOR};border-style:dashed"></i>'
            f"unter {prep.min_count} oder zum Schutz ausgeblendet</div>"
        )
    if reach:
        parts.append(
            f'<h5>Erreichbarkeit</h5><div><i style="background:{REACH_COLOR};opacity:.4"></i>'
            "von hier mit Bus und Bahn pünktlich zum Kursbeginn</div>"
        )
    if changes is not None:
        parts.append(_change_legend_html(changes))
    parts.append("</details>")
    return "".join(parts)


def _change_legend_html(changes: _ChangeSpec) -> str:
    parts = [
        f'<h5 id="ka-legende-aenderungen">{esc(CHANGE_LAYER_NAME)}</h5>'
        f"<div>Vergleich mit dem {esc(changes.previous)}; Ebene oben rechts einschalten</div>"
    ]
    if not changes.areas["features"] and not changes.n_courses:
        parts.append("<div>keine Änderungen bei Kursen und Versorgung</div>")
        return "".join(parts)
    used = {f["properties"]["_c"] for f in changes.areas["features"]}
    for _, color, text in _CHANGE_CLASSES:
        if color in used:
            parts.append(f'<div><i style="background:{color};opacity:.7"></i>{esc(text)}</div>')
    if changes.n_courses:
        parts.append(
            '<div><span class="ka-aenderung ka-neu">+</span> neuer Kurs, '
            '<span class="ka-aenderung ka-entfernt">&minus;</span> entfernt, '
            '<span class="ka-aenderung ka-geaendert">&#8776;</span> geändert</div>'
        )
    if changes.n_unplaced:
        parts.append(f"<div>{changes.n_unplaced} geänderte(r) Kurs(e) ohne Kursort (online), nicht in der Karte</div>")
    return "".join(parts)


def _footer_html(attributions: Sequence[str]) -> str:
    lines = ["Kartengrundlage: &copy; OpenStreetMap-Mitwirkende (ODbL)"]
    lines += [esc(a) for a in attributions]
    return (
        '<div class="ka-box ka-fixed ka-footer" id="ka-quellen"><b>Quellen:</b> ' + " &middot; ".join(lines) + "</div>"
    )


def _model_notice_html() -> str:
    return (
        '<div class="ka-box ka-modell" id="ka-modelldaten" role="note">'
        "Modelldaten: Diese Karte beruht ganz oder teilweise auf "
        "modellierten Daten – keine realen Angaben über Personen oder Kurse.</div>"
    )


TILE_NOTICE = (
    "Hintergrundkarte nicht geladen (keine Internetverbindung?). Alle Daten der Karte sind vollständig."
)
"""Shown on the map while background tiles fail to load (everything else is embedded in the file)."""


def _tile_notice_html() -> str:
    # hidden until a tile fails (see _TileNotice); fixed text, no user input
    return f'<div class="ka-box ka-kacheln" id="ka-kacheln" role="status" hidden>{esc(TILE_NOTICE)}</div>'


class _TileNotice(MacroElement):
    """Shows ``#ka-kacheln`` when tiles of ``layer`` fail to load; hides it when a later batch loads fully."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (layer) {
            var failed = 0;
            function box() { return document.getElementById("ka-kacheln"); }
            layer.on("loading", function () { failed = 0; });
            layer.on("tileerror", function () {
                failed += 1;
                var el = box();
                if (el) { el.hidden = false; }
            });
            layer.on("load", function () {
                var el = box();
                if (el && failed === 0) { el.hidden = true; }
            });
        })({{ this.layer.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, layer: folium.TileLayer) -> None:
        super().__init__()
        self._name = "KaTileNotice"
        self.layer = layer


def _osm_tiles() -> xyzservices.TileProvider:
    # a TileProvider (instead of the URL) spares folium a search through all xyzservices providers
    return xyzservices.TileProvider(name="OpenStreetMap", url=_OSM_URL, attribution="OpenStreetMap")


class _SearchOptions(MacroElement):
    """German texts and substring matching for folium's place search (leaflet-search)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (c) {
            c.options.initial = false;
            c.options.textErr = "Nicht gefunden";
            c.options.textCancel = "Abbrechen";
            c.options.casesensitive = false;
        })({{ this.layer.get_name() }}searchControl);
        {% endmacro %}
        """
    )

    def __init__(self, layer: folium.GeoJson) -> None:
        super().__init__()
        self._name = "KaSearchOptions"
        self.layer = layer


def _wgs_bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = gdf.to_crs("EPSG:4326").total_bounds
    return tuple(round(float(v), COORD_DECIMALS) for v in (minx, miny, maxx, maxy))  # type: ignore[return-value]


# --------------------------------------------------------------------------- spec → map


def _spec(prep: _Prepared, *, title: str, focus: str | None, layers: set[str]) -> _MapSpec:
    """Select what one map shows (``focus``: one Mitgliedskommune or None for the whole county)."""
    rows = np.arange(len(prep.mk_ars)) if focus is None else np.flatnonzero(prep.mk_ars == focus)
    if len(rows) == 0:
        raise ValueError(f"Mitgliedskommune mit ARS {focus!r} nicht gefunden.")
    if focus is None:
        bounds = _wgs_bounds(prep.mk)
    else:
        b = np.array([prep.mk_bounds[i] for i in rows])
        bounds = (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))
    area = shapely.union_all(prep.mk_shapes[rows]) if focus is not None else None
    mk_geo = [prep.mk_geo[i] for i in rows]
    quote_layers = tuple(
        (
            f"Versorgungsquote {level}" if level else "Mitgliedskommunen",
            _fc(mk_geo, [props[i] for i in rows], prefix="q"),
        )
        for level, props in prep.quote_props.items()
    )
    boundaries = _fc(mk_geo, [esc_props({"Mitgliedskommune": prep.boundary_names[i]}) for i in rows], prefix="b")
    for f in boundaries["features"]:
        # keep "style" as an object: leaflet-search restores it after a search
        f["properties"]["style"] = dict(_BOUNDARY_STYLE)
    courses_idx = None
    if prep.courses is not None:
        courses_idx = np.arange(len(prep.course_ids))
        if area is not None:
            # courses within 5 km of the Mitgliedskommune (buffer as GeoSeries.buffer: 16 segments)
            near = shapely.buffer(area, 5000, quad_segs=16)
            courses_idx = np.flatnonzero(shapely.within(prep.course_shapes, near))
    grid = reach = courses = proposals = None
    if "grid" in layers and prep.cells is not None and len(prep.cells):
        cell_rows = np.arange(len(prep.cell_groups)) if focus is None else np.flatnonzero(prep.cell_groups == focus)
        if len(cell_rows):
            size = f"{prep.cell_m / 1000:g} km" if prep.cell_m >= 1000 else f"{prep.cell_m:g} m"
            grid = (
                f"Zielgruppe (Raster {size})",
                _fc([prep.cell_geo[i] for i in cell_rows], [prep.cell_props[i] for i in cell_rows], prefix="z"),
            )
    if "reach" in layers and prep.reach is not None and courses_idx is not None and len(courses_idx):
        shown = set(prep.course_ids[courses_idx].tolist())
        reach_rows = [i for i, k in enumerate(prep.reach_ids.tolist()) if k in shown]
        reach = _fc([prep.reach_geo[i] for i in reach_rows], [prep.reach_props[i] for i in reach_rows], prefix="r")
    if "courses" in layers and courses_idx is not None and len(courses_idx):
        courses = tuple(prep.course_markers[i] for i in courses_idx)
    if "proposals" in layers and prep.proposals is not None and len(prep.proposals):
        prop_idx = np.arange(len(prep.proposal_shapes))
        if area is not None:
            prop_idx = np.flatnonzero(shapely.within(prep.proposal_shapes, area))
        if len(prop_idx):
            proposals = tuple(m for m in (prep.proposal_markers[i] for i in prop_idx) if m is not None)
    changes = prep.changes if "changes" in layers else None
    legend = _legend_html(
        prep,
        courses=courses is not None,
        proposals=proposals is not None,
        grid=grid is not None,
        reach=reach is not None,
        changes=changes,
    )
    return _MapSpec(
        title=title,
        bounds=bounds,
        attributions=tuple(str(a) for a in prep.config.attributions),
        modelled=bool(prep.config.has_modelled_data),
        quote_layers=quote_layers,
        boundaries=boundaries,
        landkreis=prep.landkreis_fc,
        grid=grid,
        reach=reach,
        courses=courses,
        proposals=proposals,
        changes=changes,
        legend=legend,
    )


_BOUNDARY_STYLE: Mapping[str, object] = {"color": "#222222", "weight": 1.5, "fill": False}
_TOOLTIP_ALIASES = (
    ("Mitgliedskommune", "Mitgliedskommune"),
    ("niv", "Niveau"),
    ("b", "Bedarf (Personen)"),
    ("v", "versorgt"),
    ("u", "unversorgt"),
    ("q", "Versorgungsquote"),
    ("l", "Versorgungslücke"),
    ("rg", "Rang der Lücke"),
    ("n", "durch neuen Kurs versorgbar"),
    ("g", "Begründung"),
)


def _quote_style(feature: dict[str, Any]) -> dict[str, Any]:
    p = feature["properties"]
    gap = p["_gap"]
    return {
        "fillColor": p["_c"],
        "fillOpacity": 0.55,
        "color": "#b30000" if gap else "#555555",
        "weight": 3 if gap else 1,
        "dashArray": "6 4" if gap else None,
    }


def _grid_style(feature: dict[str, Any]) -> dict[str, Any]:
    p = feature["properties"]
    return {
        "fillColor": p["_c"],
        "fillOpacity": 0.6,
        "color": "#999999" if p["_s"] else "#ffffff",
        "weight": 0.5,
        "dashArray": "2 2" if p["_s"] else None,
    }


def _change_style(feature: dict[str, Any]) -> dict[str, Any]:
    c = feature["properties"]["_c"]
    return {"fillColor": c, "fillOpacity": 0.5, "color": c, "weight": 3}


def _add_markers(fg: folium.FeatureGroup, markers: Sequence[_Marker]) -> None:
    for mk in markers:
        icon = folium.DivIcon(html=mk.icon, icon_size=mk.icon_size, icon_anchor=mk.icon_anchor, class_name="ka-icon")
        folium.Marker(
            mk.latlon,
            icon=icon,
            popup=folium.Popup(mk.popup, max_width=mk.popup_width),
            tooltip=folium.Tooltip(mk.tooltip),
        ).add_to(fg)


def _build(spec: _MapSpec) -> folium.Map:
    """The folium map of ``spec``."""
    fig = _Page(title=esc(spec.title))
    m = folium.Map(location=None, tiles=None, control_scale=True, prefer_canvas=False, zoom_control=True)
    m.add_to(fig)
    attribution = " | ".join([_OSM_ATTR, *(esc(a) for a in spec.attributions)])
    tiles = folium.TileLayer(tiles=_osm_tiles(), attr=attribution, name="OpenStreetMap", control=False, max_zoom=19)
    tiles.add_to(m)
    _TileNotice(tiles).add_to(m)
    minx, miny, maxx, maxy = spec.bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    plugins.Fullscreen(title="Vollbild", title_cancel="Vollbild beenden", position="topleft").add_to(m)
    top = f'<div class="ka-box ka-title" id="ka-titel">{esc(spec.title)}</div>'
    if spec.modelled:
        top += _model_notice_html()
    top += _tile_notice_html()
    css = _CSS + (_CHANGE_CSS if spec.changes is not None else "")
    _Box(f'<div class="ka-fixed ka-top">{top}</div>', css=css).add_to(m)
    _Box(_footer_html(spec.attributions)).add_to(m)
    # served share: one base layer (radio button) per level
    for n, (name, fc) in enumerate(spec.quote_layers):
        fg = folium.FeatureGroup(name=esc(name), overlay=False, show=n == 0)
        folium.GeoJson(
            fc,
            name=esc(name),
            style_function=_quote_style,
            highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.75},
            tooltip=folium.GeoJsonTooltip(
                fields=[k for k, _ in _TOOLTIP_ALIASES],
                aliases=[a for _, a in _TOOLTIP_ALIASES],
                sticky=True,
                class_name="ka-tip",
            ),
        ).add_to(fg)
        fg.add_to(m)
    # boundaries and county outline
    fg = folium.FeatureGroup(name="Grenzen der Mitgliedskommunen", show=True)
    search = folium.GeoJson(
        spec.boundaries,
        name="Grenzen der Mitgliedskommunen",
        style_function=lambda f: dict(_BOUNDARY_STYLE),
        interactive=False,
    )
    search.add_to(fg)
    if spec.landkreis is not None:
        folium.GeoJson(
            spec.landkreis,
            style_function=lambda f: {"color": "#000000", "weight": 3, "fill": False},
            interactive=False,
        ).add_to(fg)
    fg.add_to(m)
    if spec.grid is not None:
        name, fc = spec.grid
        fg = folium.FeatureGroup(name=esc(name), show=False)
        folium.GeoJson(
            fc,
            style_function=_grid_style,
            tooltip=folium.GeoJsonTooltip(fields=["a"], aliases=["Personen der Zielgruppe"], class_name="ka-tip"),
        ).add_to(fg)
        fg.add_to(m)
    if spec.reach is not None:
        fg = folium.FeatureGroup(name="Erreichbar mit Bus und Bahn (je Kurs)", show=False)
        folium.GeoJson(
            spec.reach,
            style_function=lambda f: {"color": REACH_COLOR, "weight": 1, "fillColor": REACH_COLOR, "fillOpacity": 0.06},
            highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.25},
            tooltip=folium.GeoJsonTooltip(
                fields=["k", "min", "n"],
                aliases=["Kurs", "höchstens", "Personen der Zielgruppe (gerundet)"],
                class_name="ka-tip",
            ),
        ).add_to(fg)
        fg.add_to(m)
    if spec.courses is not None:
        fg = folium.FeatureGroup(name="Bestehende Kurse", show=True)
        _add_markers(fg, spec.courses)
        fg.add_to(m)
    if spec.proposals is not None:
        fg = folium.FeatureGroup(name="Vorschläge (landkreisgefördert)", show=True)
        _add_markers(fg, spec.proposals)
        fg.add_to(m)
    if spec.changes is not None:
        _add_changes(m, spec.changes)
    _Box(spec.legend).add_to(m)
    if search.data.get("features"):
        plugins.Search(
            layer=search,
            search_label="Mitgliedskommune",
            geom_type="Polygon",
            placeholder="Mitgliedskommune suchen …",
            collapsed=True,
            position="topleft",
        ).add_to(m)
        _SearchOptions(search).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


def _add_changes(m: folium.Map, changes: _ChangeSpec) -> None:
    """The toggleable layer "Änderungen seit dem letzten Lauf" (hidden at first)."""
    fg = folium.FeatureGroup(name=esc(CHANGE_LAYER_NAME), show=False)
    if changes.areas["features"]:
        fields, aliases = ["Mitgliedskommune", "art", "d"], ["Mitgliedskommune", "Änderung", "je Niveau"]
        folium.GeoJson(
            changes.areas,
            style_function=_change_style,
            highlight_function=lambda f: {"weight": 5, "fillOpacity": 0.7},
            tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, sticky=True, class_name="ka-tip"),
            popup=folium.GeoJsonPopup(fields=fields, aliases=aliases, class_name="ka-tip"),
        ).add_to(fg)
    _add_markers(fg, changes.markers)
    fg.add_to(m)


# --------------------------------------------------------------------------- rendering


_NEWLINES = re.compile(r"\r\n|\r|\n")
_RENDER_LOCK = threading.Lock()
_TEMPLATE_MEMO: dict[str, Any] = {}


class _Literal:
    """Stands in for ``jinja2.Template`` for text that branca wraps in an element *after* rendering it.

    branca's ``MacroElement.render`` puts every rendered macro (GeoJSON data,
    popups, scripts) into ``Element(text)``, which compiles ``text`` as a Jinja
    template and renders it again. That second pass costs most of the rendering
    time and would evaluate ``{{ … }}`` in user-supplied text. This class keeps the
    text as it is and only does what Jinja does to plain text: normalise line
    breaks and drop one trailing line break.
    """

    def __init__(self, source: str, *args: object, **kwargs: object) -> None:
        lines = _NEWLINES.split(source)
        if lines and lines[-1] == "":
            lines.pop()
        self._text = "\n".join(lines)

    def render(self, *args: object, **kwargs: object) -> str:
        """Return the text."""
        return self._text


def _memo_template(source: str, *args: object, **kwargs: object) -> Any:
    """folium's ``Template(source)``, compiled once per source text (folium builds some per call)."""
    from folium.template import Template as FoliumTemplate

    if args or kwargs:
        return FoliumTemplate(source, *args, **kwargs)
    t = _TEMPLATE_MEMO.get(source)
    if t is None:
        t = _TEMPLATE_MEMO[source] = FoliumTemplate(source)
    return t


@functools.lru_cache(maxsize=512)
def _camelify(name: str) -> str:
    """branca's ``_camelify`` (called for every ``get_name()``), computed once per element class name."""
    from branca.utilities import _camelify as camelify

    return camelify(name)


@contextlib.contextmanager
def _fast_templates() -> Iterator[None]:
    """Render without re-compiling rendered text (see :class:`_Literal`); restores everything afterwards.

    Also memoises branca's element-name conversion, which otherwise takes a third of
    the rendering time. Both stand-ins give the same output as the originals.
    """
    import branca.element as be
    import folium.features as ff

    if not all(hasattr(mod, name) for mod, name in ((be, "Template"), (ff, "Template"), (be, "_camelify"))):
        logger.debug("Andere branca/folium-Version: Karten werden ohne Beschleunigung geschrieben.")
        yield
        return
    with _RENDER_LOCK:
        saved = (be.Template, ff.Template, be._camelify)
        be.Template, ff.Template, be._camelify = _Literal, _memo_template, _camelify
        try:
            yield
        finally:
            be.Template, ff.Template, be._camelify = saved


def _stable_ids(root: branca.element.Element) -> None:
    """Number all elements in tree order, so that the same map gives the same HTML (folium uses random ids)."""
    counter = itertools.count(1)
    seen: set[int] = set()

    def walk(el: branca.element.Element) -> None:
        if id(el) in seen:
            return
        seen.add(id(el))
        el._id = f"{next(counter):032x}"
        for key, value in list(vars(el).items()):
            if key != "_parent" and isinstance(value, branca.element.Element):
                walk(value)
        items = list(el._children.items())
        el._children.clear()
        for key, child in items:
            old = child.get_name()
            walk(child)
            el._children[child.get_name() if key == old else key] = child

    walk(root)


class _Page(branca.element.Figure):
    """The page of a Kursatlas map; every way of rendering it embeds the libraries.

    :func:`render_html`, folium's ``save`` and the display in Jupyter all call
    ``render``, so none of them gives a page that needs a CDN.
    """

    def render(self, **kwargs: Any) -> str:
        """The complete HTML page with the vendored libraries embedded."""
        with vendored_assets(self):
            return inline_assets(super().render(**kwargs))


def render_html(m: folium.Map) -> str:
    """Render a map to a complete HTML page (``lang="de"``, UTF-8, same map → same bytes).

    The page embeds the JavaScript and CSS libraries that Kursatlas ships
    (:mod:`coverage.outputs._assets`), so it opens without internet; only the background
    tiles are loaded from the network.
    """
    root = m.get_root()
    with _fast_templates():
        _stable_ids(root)
        text = root.render() if isinstance(root, _Page) else render_page(root)
    return text.replace("<html>", '<html lang="de">', 1)


# --------------------------------------------------------------------------- public


def overview_map(
    config: Config,
    data: MapData,
    *,
    cell_m: float | None = None,
    min_count: int | None = None,
) -> folium.Map:
    """Build the county overview map.

    Parameters
    ----------
    config
        Region configuration (name, attributions, model-data flag, parameters).
    data
        The layers to show.
    cell_m
        Grid size for residents and reach areas; default ``parameter.raster_m``.
    min_count
        Smallest count shown; default ``parameter.mindestanzahl``.

    Returns
    -------
    folium.Map
        The map; save it with :func:`write_maps` (atomic, size-checked).
    """
    prep = _prepare(config, data, cell_m=cell_m, min_count=min_count)
    return _build(_overview_spec(prep))


def _overview_spec(prep: _Prepared) -> _MapSpec:
    title = f"Kursatlas {prep.config.name}: Übersicht Deutschkurse"
    return _spec(prep, title=title, focus=None, layers={"grid", "reach", "courses", "proposals", "changes"})


def municipality_map(
    config: Config,
    data: MapData,
    ars: str,
    *,
    cell_m: float | None = None,
    min_count: int | None = None,
) -> folium.Map:
    """Build the map of one Mitgliedskommune (its data only, courses within 5 km).

    Parameters
    ----------
    config, data, cell_m, min_count
        As for :func:`overview_map`.
    ars
        ``mk_ars`` of the Mitgliedskommune.
    """
    prep = _prepare(config, data, cell_m=cell_m, min_count=min_count)
    return _build(_municipality_spec(prep, str(ars)))


def _municipality_spec(prep: _Prepared, ars: str) -> _MapSpec:
    rows = np.flatnonzero(prep.mk_ars == ars)
    title = f"Kursatlas {prep.config.name}: {prep.boundary_names[rows[0]] if len(rows) else ars}"
    return _spec(prep, title=title, focus=ars, layers={"grid", "reach", "courses", "proposals"})


def proposals_map(
    config: Config,
    data: MapData,
    *,
    min_count: int | None = None,
) -> folium.Map:
    """Build the map of the proposed county-funded courses with their reasons.

    Parameters
    ----------
    config, data, min_count
        As for :func:`overview_map`.
    """
    prep = _prepare(config, data, cell_m=None, min_count=min_count)
    return _build(_proposals_spec(prep))


def _proposals_spec(prep: _Prepared) -> _MapSpec:
    title = f"Kursatlas {prep.config.name}: Vorschläge für landkreisgeförderte Kurse"
    return _spec(prep, title=title, focus=None, layers={"courses", "proposals"})


@functools.cache
def _render_salt() -> str:
    """Hash of the code and package versions that turn a spec into HTML (part of every map key)."""
    from importlib import metadata

    from coverage.cache.store import code_salt

    versions = []
    for pkg in ("folium", "branca", "jinja2", "xyzservices"):
        try:
            versions.append(f"{pkg}={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg}=?")
    salt = code_salt(["coverage.outputs.maps", "coverage.outputs._html", "coverage.outputs._assets"])
    return salt + "|" + "|".join(versions) + "|bibliotheken=" + asset_digest()


@dataclass(frozen=True)
class MapJob:
    """One map file: its name, the key of its content and how to render it.

    Attributes
    ----------
    name
        File name (``uebersicht.html``, ``mk_<ARS>.html``, ``vorschlaege.html``).
    key
        SHA-256 over everything the map shows (its spec: geometries, escaped texts,
        numbers, legend, title, attributions) and the code and package versions that
        render it. Equal keys give byte-identical files, so a caller may keep an
        existing file whose recorded key equals this one instead of rendering again.
    """

    name: str
    key: str
    spec: _MapSpec = field(repr=False)

    def render(self) -> str:
        """The complete HTML page."""
        return render_html(_build(self.spec))


def _key_view(obj: object, digests: Mapping[int, str]) -> object:
    """``obj`` as plain JSON values, with every shared geometry replaced by the digest of its JSON."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, dict):
        digest = digests.get(id(obj))
        if digest is not None:
            return {"geometrie-sha256": digest}
        return {str(k): _key_view(v, digests) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_key_view(v, digests) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _key_view(getattr(obj, f.name), digests) for f in dataclasses.fields(obj)}
    raise TypeError(f"Kartenangaben: Typ {type(obj).__name__} ist nicht vorgesehen")


def _job(name: str, spec: _MapSpec, digests: Mapping[int, str]) -> MapJob:
    view = _key_view(spec, digests)
    payload = json.dumps(view, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(_render_salt().encode())
    digest.update(b"\0" + payload.encode("utf-8", "surrogatepass"))
    return MapJob(name=name, key=digest.hexdigest(), spec=spec)


def map_jobs(
    config: Config,
    data: MapData,
    *,
    cell_m: float | None = None,
    min_count: int | None = None,
    per_municipality: bool = True,
) -> list[MapJob]:
    """The map files of a region with their content keys, not yet rendered.

    Parameters
    ----------
    config, data, cell_m, min_count, per_municipality
        As for :func:`write_maps`.

    Returns
    -------
    list of MapJob
        Overview first, then one per Mitgliedskommune, then the proposals map (only
        with proposals).
    """
    prep = _prepare(config, data, cell_m=cell_m, min_count=min_count)
    digests = prep.geo_digest
    jobs = [_job("uebersicht.html", _overview_spec(prep), digests)]
    if per_municipality:
        for ars in prep.mk["mk_ars"]:
            safe = "".join(ch for ch in str(ars) if ch.isalnum())
            jobs.append(_job(f"mk_{safe}.html", _municipality_spec(prep, str(ars)), digests))
    if prep.proposals is not None and len(prep.proposals):
        jobs.append(_job("vorschlaege.html", _proposals_spec(prep), digests))
    return jobs


def write_map(job: MapJob, directory: str | Path) -> Path:
    """Render ``job`` and write it atomically into ``directory``; warn above :data:`MAX_MAP_BYTES`."""
    text = job.render()
    size = len(text.encode("utf-8"))
    if size > MAX_MAP_BYTES:
        logger.warning("Karte %s ist %.1f MB groß (Ziel höchstens %.0f MB).", job.name, size / 1e6, MAX_MAP_BYTES / 1e6)
    path = Path(directory) / job.name
    write_text(path, text)
    logger.info("Karte %s geschrieben (%.2f MB)", path, size / 1e6)
    return path


def write_maps(
    config: Config,
    data: MapData,
    directory: str | Path,
    *,
    cell_m: float | None = None,
    min_count: int | None = None,
    per_municipality: bool = True,
) -> list[Path]:
    """Write ``uebersicht.html``, ``mk_<ARS>.html`` per Mitgliedskommune and ``vorschlaege.html``.

    Files are written atomically. A map larger than :data:`MAX_MAP_BYTES` is written
    but logged as a warning. To skip maps whose content did not change, use
    :func:`map_jobs` and :func:`write_map` (as :func:`coverage.workflow.pipeline.run` does).

    Parameters
    ----------
    config, data, cell_m, min_count
        As for :func:`overview_map`.
    directory
        Output folder (created if needed).
    per_municipality
        Also write one map per Mitgliedskommune.

    Returns
    -------
    list of pathlib.Path
        The written files, overview first.
    """
    jobs = map_jobs(config, data, cell_m=cell_m, min_count=min_count, per_municipality=per_municipality)
    return [write_map(job, directory) for job in jobs]
