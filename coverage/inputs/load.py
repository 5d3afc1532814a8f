"""Load and validate the inputs of a region: boundaries, residents, courses, candidate sites.

Every loader reprojects to EPSG:25832 and raises :class:`~coverage.errors.InputDataError`
(or a subclass) naming the file, the line, the column, the bad value and what is
allowed. Nothing is written here.
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import shapely.prepared
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from coverage import ANALYSIS_CRS
from coverage.cache import _frames
from coverage.cache.kinds import CacheKind
from coverage.errors import InputDataError
from coverage.inputs import _validate, _zensus, schema
from coverage.inputs._cached import FRAMES, cached_frames
from coverage.inputs._validate import (
    line_of,
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    parse_list,
    parse_time,
    parse_weekdays,
    points_from_table,
    read_table,
    require_columns,
    to_analysis_crs,
)
from coverage.inputs._zensus import GRID_CRS, read_zensus_grid
from coverage.inputs.config import Config
from coverage.inputs.schema import COURSE_COLUMNS, COURSE_TYPE_LABELS, COURSE_TYPES, GROUPS, LEVELS, SLOTS

if TYPE_CHECKING:
    from coverage.cache.store import Cache

__all__ = [
    "CANDIDATE_TABLE",
    "REGION_TABLES",
    "REGION_TOLERANCE_M",
    "RESIDENT_TABLE",
    "Inputs",
    "Region",
    "cached_frames",
    "load_candidates",
    "load_courses",
    "load_inputs",
    "load_region",
    "load_residents",
]

logger = logging.getLogger(__name__)

REGION_TOLERANCE_M = 1000.0
"""Points may lie this far outside the county polygon (VG5000 borders are generalised).

Courses and candidate sites farther out are an error. Residents given as points or
polygons (``punkte``, ``flaechen``) within this band are counted (nearest Gemeinde),
farther out they are the neighbours' residents and are not counted. Zensus grid
cells count only when their centre lies in the polygon itself (a national grid
holds the neighbours' cells right behind the border).
"""

GERMANY_3035 = (4_031_000.0, 2_684_000.0, 4_673_000.0, 3_552_000.0)
"""Extent of the Zensus grid of Germany in EPSG:3035 (west, south, east, north)."""

GERMANY_MARGIN_M = 30_000.0
"""Residents this far beyond :data:`GERMANY_3035` are a coordinate error, not neighbours."""


@dataclass(frozen=True)
class Region:
    """The county and its subdivisions, all in EPSG:25832.

    Attributes
    ----------
    landkreis
        One row: ``ars``, ``name``, geometry.
    mitgliedskommunen
        ``mk_ars``, ``mk_name``, ``mk_art`` (Einheitsgemeinde / Samtgemeinde), geometry.
    gemeinden
        ``gemeinde_ars``, ``gemeinde_name``, ``mk_ars``, geometry.
    """

    landkreis: gpd.GeoDataFrame
    mitgliedskommunen: gpd.GeoDataFrame
    gemeinden: gpd.GeoDataFrame
    puffer_m: float = 0.0
    """Buffer around the county that forms the analysis area (``[region] puffer_km``)."""

    @functools.cached_property
    def boundary(self) -> BaseGeometry:
        """Union of the county polygon(s) (computed once)."""
        return self.landkreis.geometry.union_all()

    @functools.cached_property
    def area(self) -> BaseGeometry:
        """The analysis area: the county buffered by :attr:`puffer_m` (at least :data:`REGION_TOLERANCE_M`).

        Courses, candidate sites, stops, trips and streets are used inside this
        area; residents are counted only inside the county.
        """
        return self.boundary.buffer(max(self.puffer_m, REGION_TOLERANCE_M))

    def in_county(self, geometry: gpd.GeoSeries) -> np.ndarray:
        """True for points inside the county (within :data:`REGION_TOLERANCE_M` of its generalised border).

        Empty geometries (online courses) count as inside.
        """
        near = self.boundary.buffer(REGION_TOLERANCE_M)
        geoms = geometry.to_numpy()
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        return missing | shapely.contains(near, geoms)

    def mk_names(self) -> dict[str, str]:
        """Mitgliedskommune ARS → name."""
        return dict(zip(self.mitgliedskommunen["mk_ars"], self.mitgliedskommunen["mk_name"], strict=True))

    def gemeinde_names(self) -> dict[str, str]:
        """Gemeinde ARS → name."""
        return dict(zip(self.gemeinden["gemeinde_ars"], self.gemeinden["gemeinde_name"], strict=True))

    def locate(self, geometry: gpd.GeoSeries) -> pd.DataFrame:
        """Gemeinde and Mitgliedskommune ARS of points (nearest Gemeinde for points just outside).

        Returns
        -------
        pandas.DataFrame
            Columns ``gemeinde_ars``, ``mk_ars`` aligned with ``geometry``; empty
            geometries (online courses) get empty strings.
        """
        out = pd.DataFrame({"gemeinde_ars": "", "mk_ars": ""}, index=geometry.index)
        valid = geometry.notna() & ~geometry.is_empty if len(geometry) else geometry.notna()
        if not valid.any():
            return out
        pos = np.flatnonzero(valid.to_numpy())
        src, dst = self._gemeinde_tree.query_nearest(geometry.to_numpy()[pos], all_matches=True)
        # equally near Gemeinden (a border, overlapping generalised polygons): the first one found
        order = np.argsort(src, kind="stable")
        src, dst = src[order], dst[order]
        first = np.r_[True, src[1:] != src[:-1]]
        gem = self.gemeinden["gemeinde_ars"].to_numpy()[dst[first]]
        mk = self.gemeinden["mk_ars"].to_numpy()[dst[first]]
        rows = pos[src[first]]
        out.iloc[rows, 0] = gem
        out.iloc[rows, 1] = mk
        return out

    @functools.cached_property
    def _gemeinde_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.gemeinden.geometry.to_numpy())


@dataclass(frozen=True)
class Inputs:
    """All validated inputs of one run."""

    region: Region
    residents: gpd.GeoDataFrame
    courses: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame


# --------------------------------------------------------------------------- region


def _read_layer(path: Path, layer: str, *, what: str) -> gpd.GeoDataFrame:
    if not path.is_file():
        raise InputDataError(f"{what}: Datei nicht gefunden.", file=str(path))
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as exc:
        raise InputDataError(f"{what}: Datei ist keine lesbare Geodatei ({exc}).", file=str(path)) from exc
    if layer not in layers:
        raise InputDataError(
            f"{what}: Ebene {layer!r} fehlt; vorhandene Ebenen: {', '.join(layers)}.", file=str(path), column=layer
        )
    gdf = gpd.read_file(path, layer=layer)
    return to_analysis_crs(gdf, path=path, what=f"{what}, Ebene {layer!r}")


def load_region(config: Config) -> Region:
    """Load the county, its Mitgliedskommunen and Gemeinden (VG5000 layout: ``ARS``, ``GEN``, ``BEZ``).

    The Mitgliedskommune of a Gemeinde is the one whose ARS is the first nine
    digits of the Gemeinde ARS (Gemeindeverband key).
    """
    path = config.grenzen
    what = "Verwaltungsgrenzen"
    lk = _read_layer(path, config.ebene_landkreis, what=what)
    mk = _read_layer(path, config.ebene_mitgliedskommunen, what=what)
    gem = _read_layer(path, config.ebene_gemeinden, what=what)
    for layer, gdf, cols in (
        (config.ebene_landkreis, lk, ("ARS", "GEN")),
        (config.ebene_mitgliedskommunen, mk, ("ARS", "GEN", "BEZ")),
        (config.ebene_gemeinden, gem, ("ARS", "GEN")),
    ):
        for c in cols:
            if c not in gdf.columns:
                raise InputDataError(f"{what}, Ebene {layer!r}: Pflichtspalte fehlt.", file=str(path), column=c)
    if len(lk) == 0 or len(mk) == 0 or len(gem) == 0:
        raise InputDataError(f"{what}: eine Ebene ist leer.", file=str(path))
    landkreis = gpd.GeoDataFrame(
        {"ars": lk["ARS"].astype(str), "name": lk["GEN"].astype(str)}, geometry=lk.geometry.values, crs=ANALYSIS_CRS
    )
    mitglied = gpd.GeoDataFrame(
        {"mk_ars": mk["ARS"].astype(str), "mk_name": mk["GEN"].astype(str), "mk_art": mk["BEZ"].astype(str)},
        geometry=mk.geometry.values,
        crs=ANALYSIS_CRS,
    )
    gem_ars = gem["ARS"].astype(str)
    mk_of = gem_ars.str[:9]
    known = set(mitglied["mk_ars"])
    for i, (g, m) in enumerate(zip(gem_ars, mk_of, strict=True)):
        if m not in known:
            raise InputDataError(
                f"{what}, Ebene {config.ebene_gemeinden!r}: Gemeinde gehört zu keiner Mitgliedskommune "
                f"(erste 9 Stellen des ARS {m!r} nicht in Ebene {config.ebene_mitgliedskommunen!r}).",
                file=str(path),
                row=i + 1,
                column="ARS",
                value=g,
            )
    gemeinden = gpd.GeoDataFrame(
        {"gemeinde_ars": gem_ars, "gemeinde_name": gem["GEN"].astype(str), "mk_ars": mk_of},
        geometry=gem.geometry.values,
        crs=ANALYSIS_CRS,
    )
    logger.info("Region %s: %d Mitgliedskommunen, %d Gemeinden", config.name, len(mitglied), len(gemeinden))
    return Region(landkreis=landkreis, mitgliedskommunen=mitglied, gemeinden=gemeinden, puffer_m=config.puffer_m)


def _check_in_area(region: Region, geometry: gpd.GeoSeries, *, path: Path, what: str, columns: str) -> None:
    """Points must lie in the analysis area (county plus ``puffer_km``); else an error naming the row."""
    area = shapely.prepared.prep(region.area)
    geoms = geometry.to_numpy()
    for i, pt in enumerate(geoms):
        if pt is None or pt.is_empty or area.contains(pt):
            continue
        dist_km = region.boundary.distance(pt) / 1000.0
        raise InputDataError(
            f"{what}: Koordinaten liegen außerhalb des Analysegebiets ({dist_km:.1f} km vom Landkreis entfernt; "
            f"erlaubt sind Orte im Landkreis und bis {region.puffer_m / 1000:g} km um ihn herum, "
            f"[region] puffer_km; Punkt {pt.x:.0f}/{pt.y:.0f} in EPSG:25832). Sind Breite und Länge vertauscht?",
            file=str(path),
            row=line_of(i),
            column=columns,
        )


def _locate_in_county(region: Region, geometry: gpd.GeoSeries) -> pd.DataFrame:
    """``gemeinde_ars``, ``mk_ars`` and ``im_kreis`` of points; points outside the county get empty ARS."""
    loc = region.locate(geometry)
    inside = region.in_county(geometry)
    loc.loc[~inside, ["gemeinde_ars", "mk_ars"]] = ""
    loc["im_kreis"] = inside
    return loc


# --------------------------------------------------------------------------- residents


def _read_zensus(config: Config, region: Region) -> gpd.GeoDataFrame:
    """Cells of a Zensus grid CSV (up to Germany-wide) whose centre lies in the county."""
    path = config.einwohner
    cells = read_zensus_grid(path, column=config.einwohner_spalte, area=region.boundary)
    if cells.rows == 0:
        raise InputDataError("Einwohner: Datei enthält keine Datenzeilen.", file=str(path))
    kept = float(cells.values.sum())
    logger.info(
        "%s: %d Zeilen gelesen, %d Zellen im Landkreis (%.0f Personen), %d geheimgehaltene Werte in der Datei",
        path.name,
        cells.rows,
        len(cells.ids),
        kept,
        cells.suppressed,
    )
    if cells.outside_cells:
        logger.info(
            "%s: %d Zellen außerhalb des Landkreises nicht gezählt (%.0f Personen)",
            path.name,
            cells.outside_cells,
            cells.outside_persons,
        )
    if cells.suppressed_kept:
        logger.warning(
            "%s: %d geheimgehaltene Werte ('–') im Landkreis als 0 gezählt", path.name, cells.suppressed_kept
        )
    if len(cells.ids) == 0:
        raise InputDataError(
            f"Einwohner: keine Gitterzelle der Datei liegt im Landkreis ({cells.rows} Zeilen gelesen). "
            "Gehört die Datei zu dieser Region, und stimmen die Grenzen?",
            file=str(path),
        )
    return gpd.GeoDataFrame(
        {"herkunft_id": cells.ids.astype(str), "einwohner": cells.values},
        geometry=gpd.points_from_xy(cells.x, cells.y),
        crs=ANALYSIS_CRS,
    )


def _read_residents_vector(config: Config) -> gpd.GeoDataFrame:
    path = config.einwohner
    what = "Einwohner"
    if path.suffix.lower() == ".csv":
        df = read_table(path, what=what)
        geom = points_from_table(df, path=path, what=what, crs=config.einwohner_crs)
        gdf = gpd.GeoDataFrame(df, geometry=geom.values, crs=ANALYSIS_CRS)
    else:
        if not path.is_file():
            raise InputDataError(f"{what}: Datei nicht gefunden.", file=str(path))
        gdf = to_analysis_crs(gpd.read_file(path), path=path, what=what)
        if config.einwohner_format == "flaechen" or not (gdf.geom_type == "Point").all():
            gdf = gdf.set_geometry(gdf.geometry.representative_point())
        gdf = gdf.astype({c: str for c in gdf.columns if c != "geometry"})
    require_columns(gdf, [config.einwohner_spalte], path=path, what=what)
    ids = (
        gdf["herkunft_id"]
        if "herkunft_id" in gdf.columns
        else pd.Series([f"E{i + 1:06d}" for i in range(len(gdf))], index=gdf.index)
    )
    out = gpd.GeoDataFrame({"herkunft_id": ids.astype(str).to_numpy()}, geometry=gdf.geometry.values, crs=ANALYSIS_CRS)
    out["einwohner"] = [
        parse_float(str(v), path=path, row=line_of(i), column=config.einwohner_spalte, minimum=0.0)
        for i, v in enumerate(gdf[config.einwohner_spalte])
    ]
    optional = [f"niveau_{lv}" for lv in LEVELS] + [f"gruppe_{g}" for g in GROUPS]
    for col in optional:
        if col in gdf.columns:
            out[col] = [
                parse_float(str(v), path=path, row=line_of(i), column=col, minimum=0.0) for i, v in enumerate(gdf[col])
            ]
    return out


def _keep_inside(region: Region, gdf: gpd.GeoDataFrame, *, path: Path) -> gpd.GeoDataFrame:
    """Residents (points or polygon points) of the county; the neighbours' residents are dropped.

    A point counts when it lies in the county polygon or at most
    :data:`REGION_TOLERANCE_M` outside it (generalised borders; it is then assigned
    to the nearest Gemeinde). Points farther out are the neighbours' residents: they
    are dropped with a warning. A point outside Germany cannot be anybody's resident
    (swapped latitude/longitude, wrong CRS): that is an error, as is a file without
    any resident in the county.
    """
    geom = gdf.geometry
    valid = (geom.notna() & ~geom.is_empty).to_numpy()
    xy = shapely.get_coordinates(geom.to_numpy()[valid])
    to_grid = Transformer.from_crs(ANALYSIS_CRS, GRID_CRS, always_xy=True)
    gx, gy = (np.asarray(a) for a in to_grid.transform(xy[:, 0], xy[:, 1]))
    x0, y0, x1, y1 = GERMANY_3035
    m = GERMANY_MARGIN_M
    far = ~((gx >= x0 - m) & (gx <= x1 + m) & (gy >= y0 - m) & (gy <= y1 + m))
    if far.any():
        k = int(np.flatnonzero(far)[0])
        row = int(np.flatnonzero(valid)[k])
        n_far = int(far.sum())
        raise InputDataError(
            f"Einwohner: Koordinaten liegen weit außerhalb Deutschlands ({n_far} von {len(gdf)} Zeilen; erste: "
            f"Punkt {xy[k, 0]:.0f}/{xy[k, 1]:.0f} in EPSG:25832). Sind Breite und Länge vertauscht, oder ist das "
            "Koordinatenbezugssystem falsch?",
            file=str(path),
            row=line_of(row),
            column="Koordinaten",
        )
    area = region.boundary.buffer(REGION_TOLERANCE_M)
    inside = np.zeros(len(gdf), dtype=bool)
    inside[valid] = shapely.contains_xy(area, xy[:, 0], xy[:, 1]) if len(xy) else False
    if not inside.any():
        raise InputDataError(
            f"Einwohner: keine einzige Zeile liegt im Landkreis ({len(gdf)} Zeilen, alle weiter als "
            f"{REGION_TOLERANCE_M:.0f} m außerhalb). Gehört die Datei zu dieser Region? Sind Breite und Länge "
            "vertauscht?",
            file=str(path),
            column="Koordinaten",
        )
    outside = ~inside
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        logger.warning(
            "Einwohner: %d Zeilen (%.0f Personen) liegen außerhalb des Landkreises (mehr als %.0f m) und werden "
            "nicht gezählt (erste: Zeile %d in %s)",
            int(outside.sum()),
            float(gdf["einwohner"].to_numpy()[outside].sum()),
            REGION_TOLERANCE_M,
            line_of(first),
            path.name,
        )
    return gdf[inside]


def load_residents(config: Config, region: Region) -> gpd.GeoDataFrame:
    """Load the target population of the county as points (grid cell centres, points or polygon points).

    Only residents of the county are counted: Zensus cells whose centre lies in
    the county polygon (the rest of a national grid is skipped while reading), and
    points within :data:`REGION_TOLERANCE_M` of the county (see
    :func:`_keep_inside`); the neighbours' residents are dropped and logged.

    Returns
    -------
    geopandas.GeoDataFrame
        ``herkunft_id``, ``einwohner`` (float), optional ``niveau_<L>`` / ``gruppe_<G>``
        counts, ``gemeinde_ars``, ``mk_ars``; only rows with ``einwohner > 0``.
    """
    path = config.einwohner
    if config.einwohner_format == "zensus":
        gdf = _read_zensus(config, region)
    else:
        gdf = _read_residents_vector(config)
        if len(gdf) == 0:
            raise InputDataError("Einwohner: Datei enthält keine Datenzeilen.", file=str(path))
        dup = gdf["herkunft_id"].duplicated()
        if dup.any():
            i = int(np.nonzero(dup.to_numpy())[0][0])
            raise InputDataError(
                "Kennung doppelt; jede Zeile braucht eine eindeutige Kennung.",
                file=str(path),
                row=line_of(i),
                column="herkunft_id",
                value=gdf["herkunft_id"].iat[i],
            )
        gdf = _keep_inside(region, gdf, path=path)
    gdf = gdf[gdf["einwohner"] > 0].reset_index(drop=True)
    loc = region.locate(gdf.geometry)
    gdf["gemeinde_ars"] = loc["gemeinde_ars"].to_numpy()
    gdf["mk_ars"] = loc["mk_ars"].to_numpy()
    logger.info("Einwohner: %d Herkunftsorte, %.0f Personen aus %s", len(gdf), gdf["einwohner"].sum(), path.name)
    return gdf


# --------------------------------------------------------------------------- courses

_COURSE_OPTIONAL = ("kursname", "adresse", "lat", "lon")
_COURSE_REQUIRED = tuple(c for c in COURSE_COLUMNS if c not in _COURSE_OPTIONAL)
"""Registry columns that must exist (coordinates may also come as ``x``/``y``)."""


def load_courses(path: Path, region: Region, *, crs: str | None = None) -> gpd.GeoDataFrame:
    """Load and validate the course registry (CSV, ``;`` or ``,``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per course with parsed values (see the README for the columns);
        ``beginn``/``ende`` in minutes after midnight, ``wochentage`` as weekday numbers,
        ``online`` True for online courses (empty geometry).
    """
    what = "Kursregister"
    df = read_table(path, what=what)
    require_columns(df, _COURSE_REQUIRED, path=path, what=what)
    if len(df) == 0:
        raise InputDataError(
            f"{what}: keine Kurse eingetragen. Das Register braucht mindestens einen Kurs "
            "(eine Zeile unter der Kopfzeile).",
            file=str(path),
        )
    for col in ("kursname", "adresse"):
        if col not in df.columns:
            df[col] = ""
    seen: dict[str, int] = {}
    rows = []
    for i in range(len(df)):
        r = df.iloc[i]
        line = line_of(i)
        kid = r["kurs_id"]
        if not kid:
            raise InputDataError(
                "Kurs-ID fehlt; jede Zeile braucht eine eindeutige Kurs-ID.",
                file=str(path),
                row=line,
                column="kurs_id",
                value=kid,
            )
        if kid in seen:
            raise InputDataError(
                f"Kurs-ID doppelt (schon in Zeile {seen[kid]}); Kurs-IDs müssen eindeutig sein.",
                file=str(path),
                row=line,
                column="kurs_id",
                value=kid,
            )
        seen[kid] = line
        kursart = r["kursart"].strip().lower()
        if kursart not in COURSE_TYPES:
            allowed = "; ".join(f"{k} ({v})" for k, v in COURSE_TYPE_LABELS.items())
            raise InputDataError(
                f"unbekannte Kursart; erlaubt sind: {allowed}.",
                file=str(path),
                row=line,
                column="kursart",
                value=r["kursart"],
            )
        niveaus = parse_list(r["niveaus"], allowed=LEVELS, path=path, row=line, column="niveaus")
        beginn = parse_time(r["beginn"], path=path, row=line, column="beginn")
        ende = parse_time(r["ende"], path=path, row=line, column="ende")
        if ende <= beginn:
            raise InputDataError(
                f"Kursende liegt nicht nach dem Beginn ({r['beginn']}); das Ende muss später sein.",
                file=str(path),
                row=line,
                column="ende",
                value=r["ende"],
            )
        erster = parse_date(r["erster_tag"], path=path, row=line, column="erster_tag")
        letzter = parse_date(r["letzter_tag"], path=path, row=line, column="letzter_tag")
        if letzter < erster:
            raise InputDataError(
                f"letzter Kurstag liegt vor dem ersten ({r['erster_tag']}).",
                file=str(path),
                row=line,
                column="letzter_tag",
                value=r["letzter_tag"],
            )
        plaetze = parse_int(r["plaetze"], path=path, row=line, column="plaetze", minimum=1, maximum=100)
        frei = parse_int(r["freie_plaetze"], path=path, row=line, column="freie_plaetze", minimum=0, maximum=plaetze)
        rows.append(
            {
                "kurs_id": kid,
                "traeger": r["traeger"],
                "kursname": r["kursname"],
                "kursort": r["kursort"],
                "adresse": r["adresse"],
                "niveaus": niveaus,
                "kursart": kursart,
                "wochentage": parse_weekdays(r["wochentage"], path=path, row=line, column="wochentage"),
                "beginn": beginn,
                "ende": ende,
                "erster_tag": erster,
                "letzter_tag": letzter,
                "plaetze": plaetze,
                "freie_plaetze": frei,
                "kinderbetreuung": parse_bool(r["kinderbetreuung"], path=path, row=line, column="kinderbetreuung"),
                "online": kursart == "online",
            }
        )
    geom = points_from_table(df, path=path, what=what, crs=crs, allow_empty=True)
    out = gpd.GeoDataFrame(rows, geometry=geom.values, crs=ANALYSIS_CRS)
    missing = out.geometry.isna() & ~out["online"]
    if missing.any():
        i = int(np.nonzero(missing.to_numpy())[0][0])
        raise InputDataError(
            "Koordinaten fehlen; nur Online-Kurse dürfen ohne Ort sein.",
            file=str(path),
            row=line_of(i),
            column="lat/lon",
            value="",
        )
    out.loc[out["online"], "geometry"] = None
    _check_in_area(region, out.geometry, path=path, what=what, columns="lat/lon")
    loc = _locate_in_county(region, out.geometry)
    out["gemeinde_ars"] = loc["gemeinde_ars"].to_numpy()
    out["mk_ars"] = loc["mk_ars"].to_numpy()
    out["im_kreis"] = loc["im_kreis"].to_numpy()
    outside = int((~out["im_kreis"]).sum())
    logger.info(
        "Kursregister: %d Kurse (%d online, %d außerhalb des Landkreises) aus %s",
        len(out),
        int(out["online"].sum()),
        outside,
        path.name,
    )
    return out


# --------------------------------------------------------------------------- candidate sites


def load_candidates(config: Config, region: Region) -> gpd.GeoDataFrame:
    """Load candidate sites, or generate one per Gemeinde when none are configured.

    Returns
    -------
    geopandas.GeoDataFrame
        ``standort_id``, ``name``, ``art``, ``verfuegbar`` (tuple of slot keys),
        ``gemeinde_ars``, ``mk_ars``, Point geometry.
    """
    what = "Standorte"
    if config.standorte is None:
        pts = region.gemeinden.geometry.representative_point()
        out = gpd.GeoDataFrame(
            {
                "standort_id": [f"G{a}" for a in region.gemeinden["gemeinde_ars"]],
                "name": [f"{n} (Gemeindemitte)" for n in region.gemeinden["gemeinde_name"]],
                "art": "gemeindemitte",
                "verfuegbar": [SLOTS] * len(pts),
            },
            geometry=pts.values,
            crs=ANALYSIS_CRS,
        )
        logger.info("Standorte: %d aus den Gemeindemitten erzeugt", len(out))
    else:
        path = config.standorte
        df = read_table(path, what=what)
        require_columns(df, ("standort_id", "name"), path=path, what=what)
        if len(df) == 0:
            raise InputDataError(f"{what}: keine Standorte eingetragen.", file=str(path))
        dup = df["standort_id"].duplicated()
        if dup.any():
            i = int(np.nonzero(dup.to_numpy())[0][0])
            raise InputDataError(
                "Standort-ID doppelt; IDs müssen eindeutig sein.",
                file=str(path),
                row=line_of(i),
                column="standort_id",
                value=df["standort_id"].iat[i],
            )
        avail = [
            parse_list(v, allowed=SLOTS, path=path, row=line_of(i), column="verfuegbar") if v else SLOTS
            for i, v in enumerate(df["verfuegbar"] if "verfuegbar" in df.columns else [""] * len(df))
        ]
        geom = points_from_table(df, path=path, what=what, crs=config.einwohner_crs)
        out = gpd.GeoDataFrame(
            {
                "standort_id": df["standort_id"].to_numpy(),
                "name": df["name"].to_numpy(),
                "art": df["art"].to_numpy() if "art" in df.columns else "sonstiges",
                "verfuegbar": avail,
            },
            geometry=geom.values,
            crs=ANALYSIS_CRS,
        )
        _check_in_area(region, out.geometry, path=path, what=what, columns="lat/lon")
        logger.info("Standorte: %d aus %s", len(out), path.name)
    loc = _locate_in_county(region, out.geometry)
    out["gemeinde_ars"] = loc["gemeinde_ars"].to_numpy()
    out["mk_ars"] = loc["mk_ars"].to_numpy()
    return out


def load_inputs(config: Config, *, cache: Cache | None = None) -> Inputs:
    """Load and validate every input of the region described by ``config``.

    Parameters
    ----------
    config
        The region configuration.
    cache
        Optional disk cache. The boundaries, the residents and the candidate sites
        are then kept as parsed tables, keyed by the *content* of their files, the
        settings that read them and the source code of the loaders (see
        :func:`cached_frames`); a changed file is read and checked again. The
        course registry is always read.
    """
    region = _cached_region(config, cache)
    residents = _cached_residents(config, region, cache)
    courses = load_courses(config.kurse, region, crs=config.einwohner_crs)
    if config.nachbarkurse is not None:
        courses = _with_neighbour_courses(courses, config.nachbarkurse, config, region)
    candidates = _cached_candidates(config, region, cache)
    return Inputs(region=region, residents=residents, courses=courses, candidates=candidates)


def _with_neighbour_courses(
    courses: gpd.GeoDataFrame, path: Path, config: Config, region: Region
) -> gpd.GeoDataFrame:
    """The registry plus the courses of ``[kurse] nachbarkurse`` (same columns; IDs unique across both files)."""
    other = load_courses(path, region, crs=config.einwohner_crs)
    seen = set(courses["kurs_id"])
    for i, kid in enumerate(other["kurs_id"]):
        if kid in seen:
            raise InputDataError(
                f"Kurs-ID kommt auch im Kursregister {config.kurse.name} vor; Kurs-IDs müssen über beide "
                "Dateien eindeutig sein.",
                file=str(path),
                row=line_of(i),
                column="kurs_id",
                value=kid,
            )
    out = pd.concat([courses, other], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=ANALYSIS_CRS)


# --------------------------------------------------------------------------- cached tables

_LOADER_CODE = (sys.modules[__name__], _frames, _validate, _zensus, schema)
"""Modules whose source enters the keys of the cached input tables."""

REGION_TABLES: CacheKind[dict[str, pd.DataFrame]] = CacheKind(
    name="grenzen", code=_LOADER_CODE, keep=10, codec=FRAMES, label="Gebietsgrenzen"
)
"""The three boundary layers of :class:`Region` (keyed by the boundary file and its layer names)."""

RESIDENT_TABLE: CacheKind[dict[str, pd.DataFrame]] = CacheKind(
    name="einwohner", code=_LOADER_CODE, keep=10, codec=FRAMES, label="Einwohner"
)
"""The residents table of :func:`load_residents`."""

CANDIDATE_TABLE: CacheKind[dict[str, pd.DataFrame]] = CacheKind(
    name="standorte", code=_LOADER_CODE, keep=10, codec=FRAMES, label="Standorte"
)
"""The candidate sites of :func:`load_candidates`."""


def _region_key(config: Config) -> tuple[object, ...]:
    return (config.grenzen, config.ebene_landkreis, config.ebene_mitgliedskommunen, config.ebene_gemeinden)


def _cached_region(config: Config, cache: Cache | None) -> Region:
    if cache is None or not config.grenzen.is_file():
        return load_region(config)

    def compute() -> dict[str, pd.DataFrame]:
        r = load_region(config)
        return {"lk": r.landkreis, "mk": r.mitgliedskommunen, "gem": r.gemeinden}

    frames = cached_frames(cache, REGION_TABLES, _region_key(config), compute)
    return Region(
        landkreis=frames["lk"], mitgliedskommunen=frames["mk"], gemeinden=frames["gem"], puffer_m=config.puffer_m
    )


def _cached_residents(config: Config, region: Region, cache: Cache | None) -> gpd.GeoDataFrame:
    if cache is None or not config.einwohner.is_file() or not config.grenzen.is_file():
        return load_residents(config, region)
    parts = (
        config.einwohner,
        config.einwohner_format,
        config.einwohner_spalte,
        config.einwohner_crs or "",
        *_region_key(config),
    )
    frames = cached_frames(cache, RESIDENT_TABLE, parts, lambda: {"e": load_residents(config, region)})
    return frames["e"]


def _cached_candidates(config: Config, region: Region, cache: Cache | None) -> gpd.GeoDataFrame:
    files = [p for p in (config.standorte, config.grenzen) if p is not None]
    if cache is None or not all(p.is_file() for p in files):
        return load_candidates(config, region)
    parts = (config.standorte or "", config.einwohner_crs or "", config.puffer_km, *_region_key(config))
    frames = cached_frames(cache, CANDIDATE_TABLE, parts, lambda: {"s": load_candidates(config, region)})
    return frames["s"]
