"""Interactive maps (folium/Leaflet) for planners: overview, one per Mitgliedskommune, proposals.

:func:`write_maps` writes

* ``uebersicht.html`` – the whole county: served share per Mitgliedskommune with one
  layer per level (radio buttons), existing courses, proposals, residents of the
  target group on a coarse grid, the areas from which each course can be reached by
  bus and train, legend, scale bar, full-screen button and place search;
* ``mk_<ARS>.html`` – the same for one Mitgliedskommune (zoomed, only its data);
* ``vorschlaege.html`` – the proposed county-funded courses with their reasons.

Privacy: residents are never drawn as points. :func:`aggregate_residents` sums them
to grid squares (default ``parameter.raster_m`` = 1 km) and suppresses small counts
(primary and secondary suppression, see there). Reach areas are unions of those grid
squares, never individual origins.

Security: every text from an input file is escaped with :func:`coverage._html.esc`
before it reaches HTML, GeoJSON properties or folium's JavaScript template literals.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import branca
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium import plugins
from folium.template import Template

from . import ANALYSIS_CRS
from ._html import esc, esc_props, fmt_count, fmt_euro, fmt_int, fmt_percent, fmt_time, info_table
from ._io import write_text
from .config import Config
from .schema import COURSE_TYPE_LABELS, COURSE_TYPES, LEVELS, WEEKDAYS
from .traveltime import CourseTravelTimes

__all__ = [
    "COURSE_TYPE_COLORS",
    "MAX_MAP_BYTES",
    "QUOTE_BINS",
    "MapData",
    "aggregate_residents",
    "course_reach",
    "municipality_map",
    "overview_map",
    "proposals_map",
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
    """

    mitgliedskommunen: gpd.GeoDataFrame
    courses: gpd.GeoDataFrame | None = None
    gaps: pd.DataFrame | None = None
    residents: gpd.GeoDataFrame | None = None
    proposals: gpd.GeoDataFrame | pd.DataFrame | None = None
    travel_times: CourseTravelTimes | None = None
    reach_minutes: Mapping[str, float] | float | None = None
    landkreis: gpd.GeoDataFrame | None = None


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
    4. **Rounding.** Visible square counts are whole numbers; totals that are
       published next to the map (per Mitgliedskommune, county) are rounded to
       multiples of 10, and reach counts per course likewise.

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
    boxes = shapely.box(df["ix"] * cell_m, df["iy"] * cell_m, (df["ix"] + 1) * cell_m, (df["iy"] + 1) * cell_m)
    cells = gpd.GeoDataFrame(df, geometry=boxes, crs=ANALYSIS_CRS)
    size = f"{cell_m / 1000:g}km" if cell_m >= 1000 else f"{cell_m:g}m"
    cells["zelle_id"] = [
        f"{size}N{int(a * cell_m)}E{int(b * cell_m)}" for a, b in zip(cells["iy"], cells["ix"], strict=True)
    ]
    if areas is not None and len(areas):
        centres = gpd.GeoDataFrame(geometry=cells.geometry.centroid, crs=ANALYSIS_CRS)
        joined = gpd.sjoin(
            centres, areas.to_crs(ANALYSIS_CRS)[[area_column, "geometry"]], how="left", predicate="within"
        )
        joined = joined[~joined.index.duplicated(keep="first")]
        cells["gruppe"] = joined[area_column].reindex(cells.index).fillna("").astype(str).to_numpy()
    else:
        cells["gruppe"] = ""
    rounded = np.round(cells["w"].to_numpy())
    primary = (cells["w"] > 0) & (cells["w"] < min_count)
    cells["grund"] = np.where(primary, "primär", "")
    cells["gruppe_geschuetzt"] = False
    for _, idx in cells.groupby("gruppe").groups.items():
        sub = cells.loc[idx]
        n_sup = int((sub["grund"] != "").sum())
        if n_sup != 1:
            continue
        others = sub[sub["grund"] == ""]
        if len(others):
            cells.loc[others["w"].idxmin(), "grund"] = "sekundär"
        else:
            cells.loc[idx, "gruppe_geschuetzt"] = True
    cells["unterdrueckt"] = cells["grund"] != ""
    cells["einwohner"] = np.where(cells["unterdrueckt"], np.nan, rounded)
    cells["anzeige"] = [
        f"< {min_count}" if s else fmt_int(v) for s, v in zip(cells["unterdrueckt"], cells["einwohner"], strict=True)
    ]
    n1 = int((cells["grund"] == "primär").sum())
    n2 = int((cells["grund"] == "sekundär").sum())
    logger.info("Einwohnerraster %s: %d Zellen, %d primär und %d sekundär geschützt", size, len(cells), n1, n2)
    return cells[[*cols, "geometry"]].reset_index(drop=True)


def round_total(value: float, *, base: int = 10) -> int:
    """Round a published total to a multiple of ``base`` (secondary-suppression rule 4)."""
    return int(round(value / base) * base)


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
    rows = []
    for j, cid in enumerate(course_ids):
        ok = hin[:, j] <= limits[j]
        total = float(w[ok].sum())
        keys = np.unique(np.stack([ix[ok], iy[ok]], axis=1), axis=0) if ok.any() else np.empty((0, 2), np.int64)
        if len(keys):
            boxes = shapely.box(
                keys[:, 0] * cell_m, keys[:, 1] * cell_m, (keys[:, 0] + 1) * cell_m, (keys[:, 1] + 1) * cell_m
            )
            area = shapely.union_all(boxes, grid_size=1.0)
        else:
            area = shapely.Polygon()
        shown = round_total(total) if total >= min_count else None
        text = fmt_count(total, min_count=min_count, round_to=10)
        rows.append(
            {"kurs_id": cid, "minuten": float(limits[j]), "erreichbar": shown, "anzeige": text, "geometry": area}
        )
    return gpd.GeoDataFrame(rows, columns=[*cols, "geometry"], geometry="geometry", crs=ANALYSIS_CRS)


# --------------------------------------------------------------------------- preparation


@dataclass
class _Prepared:
    config: Config
    mk: gpd.GeoDataFrame
    landkreis: gpd.GeoDataFrame | None
    gaps: dict[str, pd.DataFrame]
    courses: gpd.GeoDataFrame | None
    online: pd.DataFrame | None
    cells: gpd.GeoDataFrame | None
    reach: gpd.GeoDataFrame | None
    proposals: gpd.GeoDataFrame | None
    cell_m: float
    min_count: int


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


def _gap_layers(gaps: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """Return the gap table per level plus an ``alle Niveaus`` aggregate, indexed by ARS."""
    if gaps is None or len(gaps) == 0:
        return {}
    g = gaps.copy()
    g["ARS"] = g["ARS"].astype(str)
    for c in ("Bedarf", "versorgt", "unversorgt"):
        g[c] = pd.to_numeric(g[c], errors="coerce")
    out: dict[str, pd.DataFrame] = {}
    agg = g.groupby("ARS").agg(Bedarf=("Bedarf", "sum"), versorgt=("versorgt", "sum"), unversorgt=("unversorgt", "sum"))
    agg["Versorgungsquote"] = np.where(
        agg["Bedarf"] > 0, agg["versorgt"] / agg["Bedarf"].where(agg["Bedarf"] > 0), np.nan
    )
    gap_levels = (
        g[g["Versorgungslücke"].astype(str) == "ja"]
        .assign(_o=lambda d: d["Niveau"].map({lv: i for i, lv in enumerate(LEVELS)}))
        .sort_values("_o")
        .groupby("ARS")["Niveau"]
        .agg(lambda s: ", ".join(map(str, s)))
    )
    agg["Versorgungslücke"] = np.where(agg.index.isin(gap_levels.index), "ja", "nein")
    agg["Begründung"] = ["Lücke bei: " + gap_levels[a] if a in gap_levels.index else "" for a in agg.index]
    out["alle Niveaus"] = agg
    for level in LEVELS:
        sub = g[g["Niveau"].astype(str) == level]
        if len(sub):
            out[level] = sub.drop_duplicates("ARS").set_index("ARS")
    return out


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
        cells = aggregate_residents(data.residents, cell_m=cell, min_count=mincount, areas=mk)
        if data.travel_times is not None:
            default = (
                config.parameter.gruppen["allgemein"].max_minuten if "allgemein" in config.parameter.gruppen else 60.0
            )
            minutes = data.reach_minutes if data.reach_minutes is not None else default
            reach = course_reach(data.travel_times, data.residents, minutes=minutes, cell_m=cell, min_count=mincount)
    landkreis = data.landkreis.to_crs(ANALYSIS_CRS) if data.landkreis is not None else None
    return _Prepared(
        config=config,
        mk=mk,
        landkreis=landkreis,
        gaps=_gap_layers(data.gaps),
        courses=courses,
        online=online,
        cells=cells,
        reach=reach,
        proposals=_as_gdf(data.proposals),
        cell_m=cell,
        min_count=mincount,
    )


# --------------------------------------------------------------------------- GeoJSON


def _geoms_wgs84(geoms: gpd.GeoSeries, *, simplify_m: float | None) -> np.ndarray:
    g = geoms
    if simplify_m:
        g = g.simplify(simplify_m, preserve_topology=True)
    g = g.to_crs("EPSG:4326")
    return shapely.transform(g.values, lambda c: np.round(c, COORD_DECIMALS))


def _feature_collection(
    geoms: gpd.GeoSeries,
    props: Sequence[Mapping[str, object]],
    *,
    simplify_m: float | None = SIMPLIFY_M,
    prefix: str = "f",
) -> dict[str, Any]:
    """Build a GeoJSON FeatureCollection with escaped properties and rounded coordinates."""
    feats = []
    for i, (geom, p) in enumerate(zip(_geoms_wgs84(geoms, simplify_m=simplify_m), props, strict=True)):
        if geom is None or geom.is_empty:
            continue
        feats.append(
            {
                "type": "Feature",
                "id": f"{prefix}{i}",
                "properties": esc_props(p),
                "geometry": shapely.geometry.mapping(geom),
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def _latlon(point: shapely.Point) -> tuple[float, float]:
    p = gpd.GeoSeries([point], crs=ANALYSIS_CRS).to_crs("EPSG:4326").iloc[0]
    return round(p.y, COORD_DECIMALS), round(p.x, COORD_DECIMALS)


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


# --------------------------------------------------------------------------- layers


def _add_quote_layers(m: folium.Map, prep: _Prepared, mk: gpd.GeoDataFrame) -> int:
    """Add one base layer (radio button) per level with the served share; return the count."""
    mc = prep.min_count
    layers = prep.gaps or {"": pd.DataFrame()}
    first = True
    for level, table in layers.items():
        props = []
        for _, row in mk.iterrows():
            r = table.loc[row["mk_ars"]] if len(table) and row["mk_ars"] in table.index else None
            q = float(r["Versorgungsquote"]) if r is not None and pd.notna(r["Versorgungsquote"]) else float("nan")
            props.append(
                {
                    "Mitgliedskommune": row["mk_name"],
                    "art": row.get("mk_art", ""),
                    "niv": level or "–",
                    "b": fmt_count(r["Bedarf"], min_count=mc) if r is not None else "–",
                    "v": fmt_count(r["versorgt"], min_count=mc) if r is not None else "–",
                    "u": fmt_count(r["unversorgt"], min_count=mc) if r is not None else "–",
                    "q": fmt_percent(q),
                    "l": str(r["Versorgungslücke"]) if r is not None else "–",
                    "g": str(r["Begründung"]) if r is not None and pd.notna(r["Begründung"]) else "",
                    "_c": _quote_color(q),
                    "_gap": bool(r is not None and str(r["Versorgungslücke"]) == "ja"),
                }
            )
        fc = _feature_collection(mk.geometry, props, prefix="q")
        name = f"Versorgungsquote {level}" if level else "Mitgliedskommunen"
        fg = folium.FeatureGroup(name=esc(name), overlay=False, show=first)
        first = False

        def style(feature: dict[str, Any]) -> dict[str, Any]:
            p = feature["properties"]
            gap = p["_gap"]
            return {
                "fillColor": p["_c"],
                "fillOpacity": 0.55,
                "color": "#b30000" if gap else "#555555",
                "weight": 3 if gap else 1,
                "dashArray": "6 4" if gap else None,
            }

        folium.GeoJson(
            fc,
            name=esc(name),
            style_function=style,
            highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.75},
            tooltip=folium.GeoJsonTooltip(
                fields=["Mitgliedskommune", "niv", "b", "v", "u", "q", "l", "g"],
                aliases=[
                    "Mitgliedskommune",
                    "Niveau",
                    "Bedarf (Personen)",
                    "versorgt",
                    "unversorgt",
                    "Versorgungsquote",
                    "Versorgungslücke",
                    "Begründung",
                ],
                sticky=True,
                class_name="ka-tip",
            ),
        ).add_to(fg)
        fg.add_to(m)
    return len(layers)


def _add_boundaries(m: folium.Map, prep: _Prepared, mk: gpd.GeoDataFrame) -> folium.GeoJson:
    style = {"color": "#222222", "weight": 1.5, "fill": False}
    props = [{"Mitgliedskommune": n, "style": style} for n in mk["mk_name"]]
    fc = _feature_collection(mk.geometry, props, prefix="b")
    # keep "style" as an object: leaflet-search restores it after a search
    for f in fc["features"]:
        f["properties"]["style"] = style
    fg = folium.FeatureGroup(name="Grenzen der Mitgliedskommunen", show=True)
    gj = folium.GeoJson(fc, name="Grenzen der Mitgliedskommunen", style_function=lambda f: style, interactive=False)
    gj.add_to(fg)
    if prep.landkreis is not None and len(prep.landkreis):
        lk = _feature_collection(prep.landkreis.geometry, [{} for _ in range(len(prep.landkreis))], prefix="lk")
        folium.GeoJson(
            lk, style_function=lambda f: {"color": "#000000", "weight": 3, "fill": False}, interactive=False
        ).add_to(fg)
    fg.add_to(m)
    return gj


def _add_grid(m: folium.Map, prep: _Prepared, cells: gpd.GeoDataFrame) -> None:
    size = f"{prep.cell_m / 1000:g} km" if prep.cell_m >= 1000 else f"{prep.cell_m:g} m"
    props = [
        {"a": a, "_c": _grid_color(n), "_s": bool(s)}
        for a, n, s in zip(cells["anzeige"], cells["einwohner"], cells["unterdrueckt"], strict=True)
    ]
    fc = _feature_collection(cells.geometry, props, simplify_m=None, prefix="z")
    fg = folium.FeatureGroup(name=esc(f"Zielgruppe (Raster {size})"), show=False)
    folium.GeoJson(
        fc,
        style_function=lambda f: {
            "fillColor": f["properties"]["_c"],
            "fillOpacity": 0.6,
            "color": "#999999" if f["properties"]["_s"] else "#ffffff",
            "weight": 0.5,
            "dashArray": "2 2" if f["properties"]["_s"] else None,
        },
        tooltip=folium.GeoJsonTooltip(fields=["a"], aliases=["Personen der Zielgruppe"], class_name="ka-tip"),
    ).add_to(fg)
    fg.add_to(m)


def _add_reach(m: folium.Map, prep: _Prepared, reach: gpd.GeoDataFrame, courses: gpd.GeoDataFrame) -> None:
    names = dict(zip(courses["kurs_id"], courses["kursname"], strict=True))
    reach = reach[reach["kurs_id"].isin(names)]
    props = [
        {"k": names.get(k, k), "min": f"{mn:g} Min.", "n": a}
        for k, mn, a in zip(reach["kurs_id"], reach["minuten"], reach["anzeige"], strict=True)
    ]
    fc = _feature_collection(reach.geometry, props, prefix="r")
    fg = folium.FeatureGroup(name="Erreichbar mit Bus und Bahn (je Kurs)", show=False)
    folium.GeoJson(
        fc,
        style_function=lambda f: {"color": REACH_COLOR, "weight": 1, "fillColor": REACH_COLOR, "fillOpacity": 0.06},
        highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.25},
        tooltip=folium.GeoJsonTooltip(
            fields=["k", "min", "n"],
            aliases=["Kurs", "höchstens", "Personen der Zielgruppe (gerundet)"],
            class_name="ka-tip",
        ),
    ).add_to(fg)
    fg.add_to(m)


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
    if reach_text is not None:
        rows.append(("Mit Bus und Bahn erreichbar für", reach_text))
    return info_table(str(row.get("kursname")), rows)


def _add_courses(m: folium.Map, prep: _Prepared, courses: gpd.GeoDataFrame) -> None:
    reach_text: dict[str, str] = {}
    if prep.reach is not None:
        for k, a, mn in zip(prep.reach["kurs_id"], prep.reach["anzeige"], prep.reach["minuten"], strict=True):
            reach_text[k] = f"{a} Personen der Zielgruppe (≤ {mn:g} Min.)"
    fg = folium.FeatureGroup(name="Bestehende Kurse", show=True)
    for _, row in courses.iterrows():
        color = COURSE_TYPE_COLORS.get(str(row["kursart"]), "#333333")
        label = esc(_levels_label(row["niveaus"]))
        icon = folium.DivIcon(
            html=f'<div class="ka-kurs" style="background:{color}">{label}</div>',
            icon_size=(44, 18),
            icon_anchor=(22, 9),
            class_name="ka-icon",
        )
        folium.Marker(
            _latlon(row.geometry),
            icon=icon,
            popup=folium.Popup(_course_popup(row, reach_text.get(row["kurs_id"])), max_width=360),
            tooltip=folium.Tooltip(esc(row["kursname"])),
        ).add_to(fg)
    fg.add_to(m)


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


def _add_proposals(m: folium.Map, proposals: gpd.GeoDataFrame, *, show: bool = True) -> None:
    fg = folium.FeatureGroup(name="Vorschläge (landkreisgefördert)", show=show)
    for _, row in proposals.iterrows():
        if row.geometry is None or row.geometry.is_empty:
            continue
        icon = folium.DivIcon(
            html=f'<div class="ka-vorschlag">&#9733; {esc(row.get("Rang"))}</div>',
            icon_size=(40, 20),
            icon_anchor=(20, 10),
            class_name="ka-icon",
        )
        folium.Marker(
            _latlon(row.geometry),
            icon=icon,
            popup=folium.Popup(_proposal_popup(row), max_width=380),
            tooltip=folium.Tooltip(esc(f"Vorschlag {row.get('Rang')}: {row.get('Standort')} ({row.get('Niveau')})")),
        ).add_to(fg)
    fg.add_to(m)


# --------------------------------------------------------------------------- boxes

_CSS = (
    """
<style>
.ka-icon { background: none; border: none; }
.ka-kurs { color: #fff; font: bold 11px/18px sans-serif; text-align: center; border-radius: 9px;
  border: 1px solid #fff; box-shadow: 0 0 2px #000; white-space: nowrap; }
.ka-vorschlag { color: #fff; background: """
    + PROPOSAL_COLOR
    + """; font: bold 12px/20px sans-serif;
  text-align: center; border-radius: 4px; border: 2px solid #fff; box-shadow: 0 0 3px #000; white-space: nowrap; }
.ka-popup h4 { font-size: 14px; margin: 0 0 4px 0; }
.ka-popup table { font-size: 12px; border-collapse: collapse; }
.ka-popup th { text-align: left; padding: 1px 8px 1px 0; vertical-align: top; font-weight: 600; }
.ka-popup td { padding: 1px 0; }
.ka-box { background: rgba(255,255,255,0.92); border: 1px solid #999;
  border-radius: 4px; padding: 6px 8px; font: 12px/1.35 sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,.3); }
.ka-fixed { position: fixed; z-index: 1000; }
.ka-top { top: 10px; left: 56px; max-width: calc(100% - 400px); display: flex; flex-direction: column; gap: 6px; }
.ka-title { font-size: 15px; font-weight: bold; }
.ka-modell { background: #fff3cd; border-color: #d39e00; font-weight: bold; }
.ka-legend { bottom: 28px; right: 10px; max-width: 270px; max-height: calc(100% - 330px); overflow-y: auto; }
.ka-legend summary { font-weight: bold; cursor: pointer; }
.ka-legend i { display: inline-block; width: 14px; height: 12px; margin-right: 5px; vertical-align: middle;
  border: 1px solid #777; }
.ka-legend h5 { font-size: 12px; font-weight: bold; margin: 5px 0 2px 0; }
.ka-footer { bottom: 24px; left: 10px; max-width: calc(100% - 320px); font-size: 11px; }
.leaflet-control-layers { font: 12px/1.4 sans-serif; }
.leaflet-control-layers label { margin-bottom: 0; }
.leaflet-control-scale-line:not(:first-child) { display: none; }
@media print { .leaflet-control-container .leaflet-control-layers, .leaflet-control-search { display: none; } }
</style>
"""
)


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


def _legend_html(prep: _Prepared, *, courses: bool, proposals: bool, grid: bool, reach: bool) -> str:
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
    parts.append("</details>")
    return "".join(parts)


def _footer_html(config: Config) -> str:
    lines = ["Kartengrundlage: &copy; OpenStreetMap-Mitwirkende (ODbL)"]
    lines += [esc(a) for a in config.attributions]
    return (
        '<div class="ka-box ka-fixed ka-footer" id="ka-quellen"><b>Quellen:</b> ' + " &middot; ".join(lines) + "</div>"
    )


def _model_notice_html() -> str:
    return (
        '<div class="ka-box ka-modell" id="ka-modelldaten" role="note">'
        "Modelldaten: Diese Karte beruht ganz oder teilweise auf "
        "modellierten Daten – keine realen Angaben über Personen oder Kurse.</div>"
    )


def _base_map(prep: _Prepared, title: str, bounds: tuple[float, float, float, float]) -> folium.Map:
    fig = branca.element.Figure(title=esc(title))
    m = folium.Map(location=None, tiles=None, control_scale=True, prefer_canvas=False, zoom_control=True)
    m.add_to(fig)
    attribution = " | ".join([_OSM_ATTR, *(esc(a) for a in prep.config.attributions)])
    folium.TileLayer(tiles=_OSM_URL, attr=attribution, name="OpenStreetMap", control=False, max_zoom=19).add_to(m)
    minx, miny, maxx, maxy = bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    plugins.Fullscreen(title="Vollbild", title_cancel="Vollbild beenden", position="topleft").add_to(m)
    top = f'<div class="ka-box ka-title" id="ka-titel">{esc(title)}</div>'
    if prep.config.has_modelled_data:
        top += _model_notice_html()
    _Box(f'<div class="ka-fixed ka-top">{top}</div>', css=_CSS).add_to(m)
    _Box(_footer_html(prep.config)).add_to(m)
    return m


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


def _finish(m: folium.Map, search_layer: folium.GeoJson | None) -> folium.Map:
    if search_layer is not None and search_layer.data.get("features"):
        plugins.Search(
            layer=search_layer,
            search_label="Mitgliedskommune",
            geom_type="Polygon",
            placeholder="Mitgliedskommune suchen …",
            collapsed=True,
            position="topleft",
        ).add_to(m)
        _SearchOptions(search_layer).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


def _wgs_bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = gdf.to_crs("EPSG:4326").total_bounds
    return tuple(round(float(v), COORD_DECIMALS) for v in (minx, miny, maxx, maxy))  # type: ignore[return-value]


def _map(prep: _Prepared, *, title: str, focus: str | None, layers: set[str]) -> folium.Map:
    mk_all = prep.mk
    mk = mk_all if focus is None else mk_all[mk_all["mk_ars"] == focus]
    if len(mk) == 0:
        raise ValueError(f"Mitgliedskommune mit ARS {focus!r} nicht gefunden.")
    area = mk.geometry.union_all() if focus is not None else None
    m = _base_map(prep, title, _wgs_bounds(mk))
    _add_quote_layers(m, prep, mk)
    search = _add_boundaries(m, prep, mk_all if focus is None else mk)
    courses = prep.courses
    if courses is not None and area is not None:
        courses = courses[courses.geometry.within(area.buffer(5000))]
    has_grid = has_reach = has_courses = has_props = False
    if "grid" in layers and prep.cells is not None and len(prep.cells):
        cells = prep.cells if focus is None else prep.cells[prep.cells["gruppe"] == focus]
        if len(cells):
            _add_grid(m, prep, cells)
            has_grid = True
    if "reach" in layers and prep.reach is not None and courses is not None and len(courses):
        _add_reach(m, prep, prep.reach, courses)
        has_reach = True
    if "courses" in layers and courses is not None and len(courses):
        _add_courses(m, prep, courses)
        has_courses = True
    proposals = prep.proposals
    if proposals is not None and area is not None:
        proposals = proposals[proposals.geometry.within(area)]
    if "proposals" in layers and proposals is not None and len(proposals):
        _add_proposals(m, proposals)
        has_props = True
    legend = _legend_html(prep, courses=has_courses, proposals=has_props, grid=has_grid, reach=has_reach)
    _Box(legend).add_to(m)
    return _finish(m, search)


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
    return _overview(prep)


def _overview(prep: _Prepared) -> folium.Map:
    title = f"Kursatlas {prep.config.name}: Übersicht Deutschkurse"
    return _map(prep, title=title, focus=None, layers={"grid", "reach", "courses", "proposals"})


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
    return _municipality(prep, str(ars))


def _municipality(prep: _Prepared, ars: str) -> folium.Map:
    name = prep.mk.loc[prep.mk["mk_ars"] == ars, "mk_name"]
    title = f"Kursatlas {prep.config.name}: {name.iloc[0] if len(name) else ars}"
    return _map(prep, title=title, focus=ars, layers={"grid", "reach", "courses", "proposals"})


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
    return _proposals(prep)


def _proposals(prep: _Prepared) -> folium.Map:
    title = f"Kursatlas {prep.config.name}: Vorschläge für landkreisgeförderte Kurse"
    return _map(prep, title=title, focus=None, layers={"courses", "proposals"})


def render_html(m: folium.Map) -> str:
    """Render a map to a complete HTML page (``lang="de"``, UTF-8)."""
    text = m.get_root().render()
    return text.replace("<html>", '<html lang="de">', 1)


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
    but logged as a warning.

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
    out = Path(directory)
    prep = _prepare(config, data, cell_m=cell_m, min_count=min_count)
    jobs: list[tuple[str, folium.Map]] = [("uebersicht.html", _overview(prep))]
    if per_municipality:
        for ars in prep.mk["mk_ars"]:
            safe = "".join(ch for ch in str(ars) if ch.isalnum())
            jobs.append((f"mk_{safe}.html", _municipality(prep, str(ars))))
    if prep.proposals is not None and len(prep.proposals):
        jobs.append(("vorschlaege.html", _proposals(prep)))
    paths = []
    for fname, m in jobs:
        text = render_html(m)
        size = len(text.encode("utf-8"))
        if size > MAX_MAP_BYTES:
            logger.warning(
                "Karte %s ist %.1f MB groß (Ziel höchstens %.0f MB).", fname, size / 1e6, MAX_MAP_BYTES / 1e6
            )
        path = out / fname
        write_text(path, text)
        logger.info("Karte %s geschrieben (%.2f MB)", path, size / 1e6)
        paths.append(path)
    return paths
