"""Folium building: a :class:`~coverage.outputs.maps.spec._MapSpec` → ``folium.Map``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
import xyzservices
from branca.element import MacroElement
from folium import plugins
from folium.template import Template

from coverage.inputs.config import Config
from coverage.outputs._html import esc
from coverage.outputs.maps._popups import (
    _CHANGE_CSS,
    _CSS,
    _TOOLTIP_ALIASES,
    _footer_html,
    _model_notice_html,
    _tile_notice_html,
)
from coverage.outputs.maps._prepared import _municipality_spec, _overview_spec, _prepare, _proposals_spec
from coverage.outputs.maps.render import _Page
from coverage.outputs.maps.spec import (
    _BOUNDARY_STYLE,
    _OSM_ATTR,
    _OSM_URL,
    CHANGE_LAYER_NAME,
    REACH_COLOR,
    MapData,
    _ChangeSpec,
    _MapSpec,
    _Marker,
)

__all__ = ["municipality_map", "overview_map", "proposals_map"]


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


_RUFBUS_STYLE = {"color": "#8e44ad", "weight": 2, "dashArray": "6 4", "fillColor": "#8e44ad", "fillOpacity": 0.08}
"""On-demand zones: violet, dashed outline (distinct from the served-share colours)."""


def _tooltip_fields(fc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Tooltip fields of a served-share layer; ``rb`` (nur mit Rufbus erreichbar) only where the features have it."""
    feats = fc.get("features") or []
    if feats and all("rb" in f["properties"] for f in feats):
        return (*_TOOLTIP_ALIASES[:5], ("rb", "nur mit Rufbus erreichbar"), *_TOOLTIP_ALIASES[5:])
    return _TOOLTIP_ALIASES


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
                fields=[k for k, _ in _tooltip_fields(fc)],
                aliases=[a for _, a in _tooltip_fields(fc)],
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
    if spec.rufbus is not None:
        fg = folium.FeatureGroup(name="Rufbus-Zonen", show=False)
        folium.GeoJson(
            spec.rufbus,
            style_function=lambda f: dict(_RUFBUS_STYLE),
            highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.2},
            tooltip=folium.GeoJsonTooltip(
                fields=["z", "l", "b"], aliases=["", "Linie", "Buchung"], sticky=True, class_name="ka-tip"
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
