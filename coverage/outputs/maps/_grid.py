"""Privacy grid of the residents and reach areas of the courses (unions of grid squares)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage import ANALYSIS_CRS
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.outputs.text import fmt_int
from coverage.traveltime import CourseTravelTimes

__all__ = ["aggregate_residents", "course_reach"]

logger = logging.getLogger(__name__)


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
       (:class:`coverage.analysis.disclosure.DisclosurePolicy`).

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
    # visible squares are published like every count (rounded to 2 × min_count, see coverage.analysis.disclosure)
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
