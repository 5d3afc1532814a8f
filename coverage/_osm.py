"""Private readers that turn OpenStreetMap data into directed edge lists.

Three sources feed the same :class:`EdgeList`:

* ``.osm.pbf`` files, read with pyosmium (:func:`read_pbf`);
* ``.osm`` / ``.osm.bz2`` files, read with :func:`osmnx.graph_from_xml`
  (:func:`read_xml`), which does *not* filter by network type;
* graphs downloaded by osmnx (:func:`graph_to_edges`).

All three use the same tag rules (:func:`way_allowed`, :func:`way_directions`),
so a network does not depend on the file format it came from.  The one-way
rules mirror osmnx (``oneway`` in ``yes/true/1/F`` forward, ``-1/reverse/T``
backward, ``junction=roundabout`` forward) so that the osmnx-based readers and
the pyosmium reader agree edge for edge.

Edge lengths are great-circle distances in metres between consecutive way
nodes (earth radius 6 371 009 m, as osmnx uses), not distances in the
projected analysis CRS.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from coverage.errors import NetworkError

__all__ = [
    "EARTH_RADIUS_M",
    "EXTRA_WAY_TAGS",
    "EdgeList",
    "graph_to_edges",
    "great_circle_m",
    "osmnx_settings",
    "read_pbf",
    "read_xml",
    "way_allowed",
    "way_directions",
]

logger = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_009.0
"""Mean earth radius used by osmnx for edge lengths."""

EXTRA_WAY_TAGS: tuple[str, ...] = (
    "highway",
    "access",
    "area",
    "foot",
    "bicycle",
    "service",
    "motorroad",
    "oneway",
    "junction",
    "oneway:bicycle",
    "cycleway",
    "cycleway:left",
    "cycleway:right",
    "cycleway:both",
)
"""Way tags the filters read; osmnx must retain them as edge attributes."""

# highway values never usable by either mode (construction, motorways, ...)
_HIGHWAY_EXCLUDED_ALL = frozenset(
    {
        "abandoned",
        "bus_guideway",
        "busway",
        "construction",
        "disused",
        "emergency_bay",
        "escape",
        "motorway",
        "motorway_link",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
        "rest_area",
        "services",
        "trunk",
        "trunk_link",
    }
)
# excluded unless the mode is explicitly allowed (foot=yes, bicycle=designated, ...)
_HIGHWAY_EXCLUDED_MODE: dict[str, frozenset[str]] = {
    "fuss": frozenset({"cycleway"}),
    "rad": frozenset({"footway", "steps", "corridor", "elevator", "escalator", "bridleway"}),
}
_MODE_TAG = {"fuss": "foot", "rad": "bicycle"}
_ALLOW_VALUES = frozenset({"yes", "designated", "permissive", "official"})
_DENY_VALUES = frozenset({"no", "use_sidepath"})
_ACCESS_DENY = frozenset({"private", "no"})

# one-way values exactly as osmnx interprets them (graph._add_paths)
_ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})
_ONEWAY_REVERSED = frozenset({"-1", "reverse", "T"})
_ONEWAY_BICYCLE_YES = frozenset({"yes", "true", "1"})


def _values(tags: Mapping[str, Any], key: str) -> list[str]:
    """Return a tag's values as a list of strings (osmnx may merge into lists)."""
    value = tags.get(key)
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [str(value)]


def way_allowed(tags: Mapping[str, Any], mode: str) -> bool:
    """Whether a way with these tags can be used by ``mode`` at all.

    Parameters
    ----------
    tags
        OSM tags of the way; values may be strings or lists of strings
        (merged osmnx edges: the way is allowed only if every value is).
    mode
        ``"fuss"`` or ``"rad"``.

    Returns
    -------
    bool
        False for motorways and trunks, construction, areas, private access
        and ways where the mode is forbidden.
    """
    highways = _values(tags, "highway")
    if not highways:
        return False
    mode_values = _values(tags, _MODE_TAG[mode])
    explicitly_allowed = bool(mode_values) and all(v in _ALLOW_VALUES for v in mode_values)
    if any(v in _DENY_VALUES for v in mode_values):
        return False
    if any(v == "yes" for v in _values(tags, "area")):
        return False
    if any(v == "yes" for v in _values(tags, "motorroad")):
        return False
    if any(v == "private" for v in _values(tags, "service")) and not explicitly_allowed:
        return False
    if any(v in _ACCESS_DENY for v in _values(tags, "access")) and not explicitly_allowed:
        return False
    for highway in highways:
        if highway in _HIGHWAY_EXCLUDED_ALL and not explicitly_allowed:
            return False
        if highway in _HIGHWAY_EXCLUDED_MODE[mode] and not explicitly_allowed:
            return False
    return True


def _contraflow_bicycle(tags: Mapping[str, Any]) -> bool:
    """Whether bicycles may ride against a one-way street."""
    if any(v == "no" for v in _values(tags, "oneway:bicycle")):
        return True
    for key in ("cycleway", "cycleway:left", "cycleway:right", "cycleway:both"):
        if any(v.startswith("opposite") for v in _values(tags, key)):
            return True
    return False


def _osmnx_oneway(tags: Mapping[str, Any]) -> tuple[bool, bool]:
    """(is one-way, reversed) exactly as osmnx decides for a raw way."""
    oneway = tags.get("oneway")
    if oneway is not None and oneway in _ONEWAY_VALUES:
        return True, oneway in _ONEWAY_REVERSED
    if tags.get("junction") == "roundabout":
        return True, False
    return False, False


def way_directions(tags: Mapping[str, str], mode: str) -> tuple[bool, bool]:
    """Directions of travel allowed on a raw OSM way.

    Parameters
    ----------
    tags
        Raw OSM tags of the way (string values).
    mode
        ``"fuss"`` (always both directions) or ``"rad"`` (respects ``oneway``
        and ``junction=roundabout`` unless ``oneway:bicycle=no`` or
        ``cycleway*=opposite*``; ``oneway:bicycle=yes`` makes a two-way
        street one-way for bicycles).

    Returns
    -------
    tuple of bool
        ``(forward, backward)`` relative to the way's node order.
    """
    if mode == "fuss":
        return True, True
    oneway, reverse = _osmnx_oneway(tags)
    if oneway:
        if _contraflow_bicycle(tags):
            return True, True
        return (not reverse), reverse
    if tags.get("oneway:bicycle") in _ONEWAY_BICYCLE_YES:
        return True, False
    return True, True


@dataclass(frozen=True, eq=False)
class EdgeList:
    """Directed edges between OSM nodes before cleaning.

    Attributes
    ----------
    node_ids
        OSM ids of the nodes, int64, unique.
    lon, lat
        WGS84 coordinates of the nodes.
    u, v
        Directed edges as indices into ``node_ids``.
    length_m
        Great-circle length of each edge in metres.
    way
        OSM way id of each edge (for clipping whole ways).
    """

    node_ids: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    u: npt.NDArray[np.int64]
    v: npt.NDArray[np.int64]
    length_m: npt.NDArray[np.float64]
    way: npt.NDArray[np.int64]


def great_circle_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in metres (haversine, as osmnx computes it)."""
    y1 = np.deg2rad(np.asarray(lat1, dtype=np.float64))
    y2 = np.deg2rad(np.asarray(lat2, dtype=np.float64))
    x1 = np.deg2rad(np.asarray(lon1, dtype=np.float64))
    x2 = np.deg2rad(np.asarray(lon2, dtype=np.float64))
    h = np.sin((y2 - y1) / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin((x2 - x1) / 2) ** 2
    h = np.minimum(1.0, h)
    return np.asarray(2.0 * np.arcsin(np.sqrt(h)) * EARTH_RADIUS_M, dtype=np.float64)


def _edge_list_from_raw(
    osm_u: npt.NDArray[np.int64],
    osm_v: npt.NDArray[np.int64],
    way: npt.NDArray[np.int64],
    coords: dict[int, tuple[float, float]],
    length_m: npt.NDArray[np.float64] | None = None,
) -> EdgeList:
    """Index OSM node ids and compute lengths where not given."""
    node_ids, inverse = np.unique(np.concatenate([osm_u, osm_v]), return_inverse=True)
    node_ids = node_ids.astype(np.int64)
    n_edges = osm_u.size
    u = inverse[:n_edges].astype(np.int64)
    v = inverse[n_edges:].astype(np.int64)
    lonlat = np.array([coords[int(i)] for i in node_ids], dtype=np.float64).reshape(-1, 2)
    lon, lat = lonlat[:, 0].copy(), lonlat[:, 1].copy()
    if length_m is None:
        length_m = great_circle_m(lon[u], lat[u], lon[v], lat[v])
    return EdgeList(
        node_ids=node_ids,
        lon=lon,
        lat=lat,
        u=u,
        v=v,
        length_m=np.asarray(length_m, dtype=np.float64),
        way=way.astype(np.int64),
    )


def _touches(nodes: Any, bbox: tuple[float, float, float, float]) -> bool:
    """Whether any located node lies in the lon/lat box."""
    min_lon, min_lat, max_lon, max_lat = bbox
    for node in nodes:
        location = node.location
        if location.valid() and min_lon <= location.lon <= max_lon and min_lat <= location.lat <= max_lat:
            return True
    return False


def read_pbf(path: Path, *, mode: str, bbox_lonlat: tuple[float, float, float, float] | None = None) -> EdgeList:
    """Read the usable ways of an ``.osm.pbf`` file with pyosmium.

    Parameters
    ----------
    path
        The PBF file (must exist).
    mode
        ``"fuss"`` or ``"rad"``.
    bbox_lonlat
        ``(min_lon, min_lat, max_lon, max_lat)``: skip ways without any node
        in this box early, so that a large file (a whole state) needs memory
        only for the area of interest.  ``None`` keeps all ways.

    Returns
    -------
    EdgeList
        Directed edges of all usable ways (not yet clipped or cleaned).

    Raises
    ------
    NetworkError
        If the file cannot be read.
    """
    import osmium

    us: list[int] = []
    vs: list[int] = []
    ways: list[int] = []
    coords: dict[int, tuple[float, float]] = {}
    n_ways = 0
    n_missing = 0
    try:
        processor = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in processor:
            tags = {tag.k: tag.v for tag in way.tags}
            if not way_allowed(tags, mode):
                continue
            if bbox_lonlat is not None and not _touches(way.nodes, bbox_lonlat):
                continue
            forward, backward = way_directions(tags, mode)
            # consecutive node pairs with known locations; a missing location
            # (way leaving the extract) splits the way instead of bridging it
            pairs: list[tuple[int, int]] = []
            previous: int | None = None
            for node in way.nodes:
                location = node.location
                if not location.valid():
                    n_missing += 1
                    previous = None
                    continue
                coords[node.ref] = (location.lon, location.lat)
                if previous is not None:
                    pairs.append((previous, node.ref))
                previous = node.ref
            if not pairs:
                continue
            n_ways += 1
            if forward:
                us.extend(a for a, _ in pairs)
                vs.extend(b for _, b in pairs)
                ways.extend([way.id] * len(pairs))
            if backward:
                us.extend(b for _, b in pairs)
                vs.extend(a for a, _ in pairs)
                ways.extend([way.id] * len(pairs))
    except (RuntimeError, ValueError, OSError) as exc:
        raise NetworkError(f"Die OSM-Datei {path} konnte nicht gelesen werden: {exc}") from exc
    if n_missing:
        logger.info(
            "%d Wegknoten ohne Koordinaten in %s übersprungen (Ausschnitt unvollständig?)",
            n_missing,
            path,
        )
    logger.debug("%d nutzbare Wege in %s", n_ways, path)
    return _edge_list_from_raw(
        np.asarray(us, dtype=np.int64),
        np.asarray(vs, dtype=np.int64),
        np.asarray(ways, dtype=np.int64),
        coords,
    )


@contextlib.contextmanager
def osmnx_settings(**overrides: Any) -> Iterator[None]:
    """Temporarily override ``osmnx.settings`` attributes, restoring them after."""
    import osmnx as ox

    saved = {name: getattr(ox.settings, name) for name in overrides}
    try:
        for name, value in overrides.items():
            setattr(ox.settings, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)


def useful_tags_way() -> list[str]:
    """osmnx's ``useful_tags_way`` extended by the tags the filters need."""
    import osmnx as ox

    tags = list(ox.settings.useful_tags_way)
    tags.extend(t for t in EXTRA_WAY_TAGS if t not in tags)
    return tags


def graph_to_edges(graph: Any, *, mode: str) -> EdgeList:
    """Filter an osmnx MultiDiGraph (unprojected) into a directed edge list.

    The graph must have been built with ``bidirectional=False`` for bicycles
    (osmnx then adds only the allowed direction of one-way streets) and with
    :data:`EXTRA_WAY_TAGS` retained.  Reverse edges are added here for walking
    and for bicycle contraflow; ``oneway:bicycle=yes`` removes osmnx's
    reverse edge of a two-way street.

    Parameters
    ----------
    graph
        ``networkx.MultiDiGraph`` from osmnx with ``x``/``y`` (lon/lat) node
        attributes and ``length`` edge attributes.
    mode
        ``"fuss"`` or ``"rad"``.

    Returns
    -------
    EdgeList
    """
    us: list[int] = []
    vs: list[int] = []
    ways: list[int] = []
    lengths: list[float] = []
    for a, b, data in graph.edges(data=True):
        if a == b or not way_allowed(data, mode):
            continue
        length = float(data.get("length", np.nan))
        osmid = data.get("osmid", -1)
        way_id = int(osmid[0] if isinstance(osmid, list) else osmid)
        if mode == "rad" and not data.get("oneway", False):
            is_reverse = any(str(r) == "True" for r in _values(data, "reversed"))
            if is_reverse and any(v in _ONEWAY_BICYCLE_YES for v in _values(data, "oneway:bicycle")):
                continue
        us.append(int(a))
        vs.append(int(b))
        ways.append(way_id)
        lengths.append(length)
        add_reverse = mode == "fuss" or (data.get("oneway", False) and _contraflow_bicycle(data))
        if add_reverse:
            us.append(int(b))
            vs.append(int(a))
            ways.append(way_id)
            lengths.append(length)
    coords = {int(n): (float(d["x"]), float(d["y"])) for n, d in graph.nodes(data=True)}
    length_arr = np.asarray(lengths, dtype=np.float64)
    edges = _edge_list_from_raw(
        np.asarray(us, dtype=np.int64),
        np.asarray(vs, dtype=np.int64),
        np.asarray(ways, dtype=np.int64),
        coords,
        length_m=length_arr,
    )
    missing = ~np.isfinite(edges.length_m)
    if missing.any():
        fill = great_circle_m(
            edges.lon[edges.u[missing]],
            edges.lat[edges.u[missing]],
            edges.lon[edges.v[missing]],
            edges.lat[edges.v[missing]],
        )
        length_arr = edges.length_m.copy()
        length_arr[missing] = fill
        edges = EdgeList(
            node_ids=edges.node_ids,
            lon=edges.lon,
            lat=edges.lat,
            u=edges.u,
            v=edges.v,
            length_m=length_arr,
            way=edges.way,
        )
    return edges


def read_xml(path: Path, *, mode: str) -> EdgeList:
    """Read an ``.osm`` or ``.osm.bz2`` file with :func:`osmnx.graph_from_xml`.

    Parameters
    ----------
    path
        The XML file (must exist).
    mode
        ``"fuss"`` or ``"rad"``.

    Returns
    -------
    EdgeList
        Directed edges of all usable ways (not yet clipped or cleaned).

    Raises
    ------
    NetworkError
        If the file cannot be parsed or holds no ways.
    """
    import osmnx as ox

    try:
        with osmnx_settings(useful_tags_way=useful_tags_way()):
            graph = ox.graph_from_xml(path, bidirectional=(mode == "fuss"), simplify=False, retain_all=True)
    except Exception as exc:  # osmnx raises many types (ParseError, ValueError, ...)
        raise NetworkError(f"Die OSM-Datei {path} konnte nicht gelesen werden: {exc}") from exc
    return graph_to_edges(graph, mode=mode)
