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
and rendered text is never evaluated as a template again (see :class:`coverage.outputs.maps.render._Literal`).

Offline: every map file embeds the JavaScript and CSS libraries it needs (Leaflet,
jQuery, leaflet-search, leaflet.fullscreen; shipped in ``coverage/outputs/_mapassets``, see
:mod:`coverage.outputs._assets`), so it opens without internet, e.g. as an e-mail attachment.
Only the OpenStreetMap background tiles come from the network; when they fail, the map
shows :data:`TILE_NOTICE`.

Speed: the geometries and texts shared by the 15 maps are prepared once; each map
has a content key (:class:`MapJob`), so the pipeline rewrites only maps whose
content changed. The same content always gives the same bytes.

Modules, in data-flow order: :mod:`~coverage.outputs.maps.spec` (what a map shows:
layers, colours, labels, the spec of one map, the gap table per level),
:mod:`~coverage.outputs.maps._grid` (privacy grid, reach areas),
:mod:`~coverage.outputs.maps._popups` (popup, tooltip, legend and box HTML),
:mod:`~coverage.outputs.maps._prepared` (shared layers computed once, one map's spec),
:mod:`~coverage.outputs.maps.render` (page rendering, branca/folium runtime patches),
:mod:`~coverage.outputs.maps.build` (spec → folium map),
:mod:`~coverage.outputs.maps.jobs` (map files, content keys, writing).
"""


from coverage.outputs.maps._grid import aggregate_residents, course_reach
from coverage.outputs.maps._popups import TILE_NOTICE
from coverage.outputs.maps.build import municipality_map, overview_map, proposals_map
from coverage.outputs.maps.jobs import MAX_MAP_BYTES, MapJob, map_jobs, write_map, write_maps
from coverage.outputs.maps.render import render_html
from coverage.outputs.maps.spec import CHANGE_LAYER_NAME, COURSE_TYPE_COLORS, QUOTE_BINS, MapData

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
