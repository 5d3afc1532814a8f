"""Prepare the layers shared by the maps of one run once, and select the spec of each map."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely

from coverage import ANALYSIS_CRS
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.inputs.config import Config
from coverage.inputs.schema import LEVELS
from coverage.outputs._html import esc, esc_props, info_table
from coverage.outputs.maps._grid import aggregate_residents, course_reach
from coverage.outputs.maps._popups import _change_line, _course_markers, _legend_html, _proposal_markers
from coverage.outputs.maps.spec import (
    _BOUNDARY_STYLE,
    _CHANGE_CLASSES,
    _CHANGE_EPS,
    _CHANGE_MARKERS,
    COORD_DECIMALS,
    SIMPLIFY_M,
    MapData,
    _as_gdf,
    _ChangeSpec,
    _fc,
    _gap_layers,
    _geo_dicts,
    _grid_color,
    _in_county,
    _MapSpec,
    _Marker,
    _Prepared,
    _quote_color,
    _wgs_bounds,
)
from coverage.outputs.text import MISSING, cell_size_label, fmt_percent, run_label, to_float

__all__: list[str] = []


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
    prep.rufbus_fc = _rufbus_fc(data)
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


def _rufbus_fc(data: MapData) -> dict[str, Any] | None:
    """The on-demand zones as a FeatureCollection with escaped properties (None without zones)."""
    zones = data.rufbus_zones
    if zones is None or not len(zones):
        return None
    label = "Rufbus-Zone (modelliert)" if data.rufbus_modelliert else "Rufbus-Zone"
    geo = _geo_dicts(zones.to_crs(ANALYSIS_CRS).geometry, simplify_m=SIMPLIFY_M)
    props = [
        esc_props({"z": label, "l": str(ln or MISSING), "b": str(b or MISSING)})
        for ln, b in zip(zones["linie"], zones["buchung"], strict=True)
    ]
    return _fc(geo, props, prefix="rb")


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
                        "niv": level or MISSING,
                        "b": r["b"] if r is not None else MISSING,
                        "v": r["v"] if r is not None else MISSING,
                        "u": r["u"] if r is not None else MISSING,
                        "q": fmt_percent(q),
                        "l": str(r["Versorgungslücke"]) if r is not None else MISSING,
                        "rg": str(r.get("rg", MISSING)) if r is not None else MISSING,
                        "n": str(r.get("n", MISSING)) if r is not None else MISSING,
                        "g": str(r["Begründung"]) if r is not None and pd.notna(r["Begründung"]) else "",
                        **({"rb": str(r["rb"])} if r is not None and "rb" in r else {}),
                        "_c": _quote_color(q),
                        "_gap": bool(r is not None and str(r["Versorgungslücke"]) == "ja"),
                    }
                )
            )
        out[level] = props
    return out


def _change_class(rows: Sequence[Mapping[str, Any]]) -> str:
    """Key of :data:`_CHANGE_CLASSES` for the changed rows of one Mitgliedskommune."""
    status = {str(r["Status"]) for r in rows}
    if "neu geöffnet" in status:
        return "geoeffnet"
    if "geschlossen" in status:
        return "geschlossen"
    deltas = [to_float(r["Änderung"]) for r in rows]
    up = any(d > _CHANGE_EPS for d in deltas)
    down = any(d < -_CHANGE_EPS for d in deltas)
    if up and down:
        return "gemischt"
    return "gestiegen" if up else "gesunken"


def _is_changed(r: Mapping[str, Any]) -> bool:
    """Served share changed, gap flag opened or closed, or the row exists on one side only."""
    qb, qa = to_float(r["Versorgungsquote vorher"]), to_float(r["Versorgungsquote nachher"])
    if math.isnan(qb) != math.isnan(qa):
        return True
    if str(r["Status"]) in ("neu geöffnet", "geschlossen"):
        return True
    return not math.isnan(qb) and abs(qa - qb) > _CHANGE_EPS


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
            if math.isfinite(to_float(lat)) and math.isfinite(to_float(lon)):
                where[str(kid)] = (round(to_float(lat), COORD_DECIMALS), round(to_float(lon), COORD_DECIMALS))
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
        previous=run_label(str(getattr(report.previous, "name", report.previous))),
        areas=_fc(geoms, props, prefix="d"),
        markers=tuple(markers),
        n_courses=len(courses),
        n_unplaced=unplaced,
    )


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
            grid = (
                f"Zielgruppe (Raster {cell_size_label(prep.cell_m)})",
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
    rufbus = prep.rufbus_fc if "rufbus" in layers else None
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
        rufbus=rufbus,
    )


def _overview_spec(prep: _Prepared) -> _MapSpec:
    title = f"Kursatlas {prep.config.name}: Übersicht Deutschkurse"
    return _spec(prep, title=title, focus=None, layers={"grid", "reach", "courses", "proposals", "changes", "rufbus"})


def _municipality_spec(prep: _Prepared, ars: str) -> _MapSpec:
    rows = np.flatnonzero(prep.mk_ars == ars)
    title = f"Kursatlas {prep.config.name}: {prep.boundary_names[rows[0]] if len(rows) else ars}"
    return _spec(prep, title=title, focus=ars, layers={"grid", "reach", "courses", "proposals"})


def _proposals_spec(prep: _Prepared) -> _MapSpec:
    title = f"Kursatlas {prep.config.name}: Vorschläge für landkreisgeförderte Kurse"
    return _spec(prep, title=title, focus=None, layers={"courses", "proposals"})
