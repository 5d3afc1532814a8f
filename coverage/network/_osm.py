"""Private readers that turn OpenStreetMap data into directed edge lists.

Three sources feed the same :class:`EdgeList`:

* ``.osm.pbf``, ``.osm`` and ``.osm.bz2`` files, read with pyosmium in one pass
  for both modes (:func:`read_ways` → :class:`WaySet`, :meth:`WaySet.edges`);
  the node locations stay in pyosmium's sparse index (:data:`NODE_INDEX`), only
  street ways touching the area reach Python, so a whole Land extract fits;
* ``.osm`` / ``.osm.bz2`` files, read with :func:`osmnx.graph_from_xml`
  (:func:`read_xml`, used by tests as an independent reference), which does
  *not* filter by network type;
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
import os
import sys
import time
from array import array
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
    "NODE_INDEX",
    "EdgeList",
    "WaySet",
    "format_count",
    "graph_to_edges",
    "great_circle_m",
    "osmnx_settings",
    "read_pbf",
    "read_ways",
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


NODE_INDEX = "sparse_mmap_array"
"""pyosmium node-location index for :func:`read_ways`.

Measured with ``bench/bench_osm_land.py --index ...`` on a synthetic Land extract
(20 million nodes, ids spread up to 12 billion like a real Geofabrik extract):
the sparse indexes store 16 bytes per node; ``sparse_mmap_array`` grows its
anonymous mapping in place (``mremap``) and peaked at 550 MB for the whole
process, while ``sparse_mem_array`` (a ``std::vector``) briefly holds the old
and the new copy when it grows (750 MB; at 100 million nodes that would be about
2.4 GB instead of 1.9 GB) and ``flex_mem`` (750 MB) took twice as long (53 s
instead of 26-28 s on a loaded machine).  Dense indexes need 8 bytes per
*possible* id (96 GB for ids up to 12 billion) and are no option.
"""

_FALLBACK_INDEX = "sparse_mem_array"
_WKB_NATIVE = sys.byteorder == "little"
"""pyosmium writes little-endian WKB; elsewhere ways are read node by node."""
_PROGRESS_EVERY = 4096


@dataclass(frozen=True, eq=False)
class WaySet:
    """Street ways of an OSM file near the area, for both modes at once.

    One *piece* is a run of consecutive way nodes with known locations (a way
    whose nodes are all in the file is one piece; a missing location splits
    it, as the per-mode reader always did).

    Attributes
    ----------
    way
        OSM way id per piece.
    ptr
        Pieces' node runs: ``refs[ptr[i]:ptr[i + 1]]`` (at least two nodes).
    refs
        OSM node ids of all pieces, in way order.
    lon, lat
        WGS84 location of each entry of ``refs``.
    walk, bike
        Whether walking / cycling may use the piece's way at all.
    bike_forward, bike_backward
        Directions allowed for bicycles.
    n_read
        Street ways (``highway=*``) read from the file.
    """

    way: npt.NDArray[np.int64]
    ptr: npt.NDArray[np.int64]
    refs: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    walk: npt.NDArray[np.bool_]
    bike: npt.NDArray[np.bool_]
    bike_forward: npt.NDArray[np.bool_]
    bike_backward: npt.NDArray[np.bool_]
    n_read: int = 0

    @property
    def n_ways(self) -> int:
        """Distinct ways kept."""
        return int(np.unique(self.way).size)

    def edges(self, mode: str) -> EdgeList:
        """Directed edges of the pieces ``mode`` may use (as :func:`read_pbf` always built them)."""
        use = self.walk if mode == "fuss" else self.bike
        forward = use if mode == "fuss" else use & self.bike_forward
        backward = use if mode == "fuss" else use & self.bike_backward
        # pair k joins refs[k] and refs[k + 1]; no pair spans the end of a piece
        valid = np.ones(max(self.refs.size - 1, 0), dtype=bool)
        valid[self.ptr[1:-1] - 1] = False
        k = np.flatnonzero(valid)
        piece_of_pair = np.searchsorted(self.ptr, k, side="right") - 1
        fw = forward[piece_of_pair]
        bw = backward[piece_of_pair]
        a, b = self.refs[k], self.refs[k + 1]
        osm_u = np.concatenate([a[fw], b[bw]])
        osm_v = np.concatenate([b[fw], a[bw]])
        ways = np.concatenate([self.way[piece_of_pair[fw]], self.way[piece_of_pair[bw]]])
        ref_idx = np.concatenate([k[fw], k[bw], k[fw] + 1, k[bw] + 1])
        node_ids, first = np.unique(self.refs[ref_idx], return_index=True)
        lon = self.lon[ref_idx[first]]
        lat = self.lat[ref_idx[first]]
        u = np.searchsorted(node_ids, osm_u)
        v = np.searchsorted(node_ids, osm_v)
        return EdgeList(
            node_ids=node_ids.astype(np.int64),
            lon=np.ascontiguousarray(lon, dtype=np.float64),
            lat=np.ascontiguousarray(lat, dtype=np.float64),
            u=u.astype(np.int64),
            v=v.astype(np.int64),
            length_m=great_circle_m(lon[u], lat[u], lon[v], lat[v]),
            way=ways.astype(np.int64),
        )


class _WayCollector:
    """Accumulates pieces in flat arrays (no per-node Python objects kept)."""

    def __init__(self) -> None:
        self.way = array("q")
        self.ptr = array("q", [0])
        self.refs = array("q")
        self.lon = array("d")
        self.lat = array("d")
        self.flags = array("b")  # bit 0 walk, 1 bike, 2 bike forward, 3 bike backward

    def add(self, way_id: int, refs: list[int], lon: Any, lat: Any, flags: int) -> None:
        self.way.append(way_id)
        self.refs.extend(refs)
        self.lon.extend(lon)
        self.lat.extend(lat)
        self.ptr.append(len(self.refs))
        self.flags.append(flags)

    def result(self, n_read: int) -> WaySet:
        flags = np.frombuffer(self.flags, dtype=np.int8) if len(self.flags) else np.zeros(0, dtype=np.int8)

        def arr(a: array, dtype: type) -> npt.NDArray[Any]:
            return np.frombuffer(a, dtype=dtype).copy() if len(a) else np.zeros(0, dtype=dtype)

        return WaySet(
            way=arr(self.way, np.int64),
            ptr=arr(self.ptr, np.int64),
            refs=arr(self.refs, np.int64),
            lon=arr(self.lon, np.float64),
            lat=arr(self.lat, np.float64),
            walk=(flags & 1).astype(bool),
            bike=(flags & 2).astype(bool),
            bike_forward=(flags & 4).astype(bool),
            bike_backward=(flags & 8).astype(bool),
            n_read=n_read,
        )


def _way_flags(tags: Mapping[str, str]) -> int:
    """Bit flags of a way: 1 walkable, 2 cyclable, 4/8 bicycle forward/backward."""
    flags = 0
    if way_allowed(tags, "fuss"):
        flags |= 1
    if way_allowed(tags, "rad"):
        forward, backward = way_directions(tags, "rad")
        flags |= 2 | (4 if forward else 0) | (8 if backward else 0)
    return flags


def _slow_pieces(way: Any) -> list[tuple[list[int], list[float], list[float]]]:
    """Runs of nodes with known locations (node by node; only for ways with gaps)."""
    pieces: list[tuple[list[int], list[float], list[float]]] = []
    refs: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    for node in way.nodes:
        location = node.location
        if not location.valid():
            if len(refs) >= 2:
                pieces.append((refs, lons, lats))
            refs, lons, lats = [], [], []
            continue
        refs.append(node.ref)
        lons.append(location.lon)
        lats.append(location.lat)
    if len(refs) >= 2:
        pieces.append((refs, lons, lats))
    return pieces


def _in_box(lons: Any, lats: Any, bbox: tuple[float, float, float, float]) -> bool:
    """Whether any of the points lies in the box (a cheap envelope test first)."""
    min_lon, min_lat, max_lon, max_lat = bbox
    if max(lons) < min_lon or min(lons) > max_lon or max(lats) < min_lat or min(lats) > max_lat:
        return False
    return any(min_lon <= x <= max_lon and min_lat <= y <= max_lat for x, y in zip(lons, lats, strict=True))


class _FilePosition:
    """Read offset of the file descriptor a reader holds open for ``path`` (Linux ``/proc``), else None."""

    def __init__(self, path: Path) -> None:
        self._info: Path | None = None
        target = os.path.realpath(path)
        fd_dir = Path("/proc/self/fd")
        with contextlib.suppress(OSError):
            for entry in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(entry) == target:
                        self._info = Path("/proc/self/fdinfo") / entry.name
        self.available = self._info is not None and self.offset() is not None

    def offset(self) -> int | None:
        if self._info is None:
            return None
        try:
            for line in self._info.read_text().splitlines():
                if line.startswith("pos:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            return None
        return None


def format_count(n: int) -> str:
    """A count in German style: ``2,1 Mio.`` from a million on, else ``85.000``."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}".replace(".", ",") + " Mio."
    return f"{n:,}".replace(",", ".")


def read_ways(path: Path, *, bbox_lonlat: tuple[float, float, float, float] | None = None) -> WaySet:
    """Read the street ways of an OSM file (PBF or XML, also bz2) once, for both modes.

    Nodes never reach Python: pyosmium stores their locations in a sparse index
    (:data:`NODE_INDEX`, 16 bytes per node) and drops them; only ways with a
    ``highway`` tag come to Python.  Each way's locations arrive as one WKB
    string (no Python object per node); ways without a node in ``bbox_lonlat``
    are dropped before their tags are read, so memory beyond the index grows
    with the area, not with the file.

    Parameters
    ----------
    path
        The OSM file (must exist).
    bbox_lonlat
        ``(min_lon, min_lat, max_lon, max_lat)``: keep only ways with at least one
        node in this box.  ``None`` keeps all ways.

    Returns
    -------
    WaySet
        Pieces of all ways usable by walking or cycling.

    Raises
    ------
    NetworkError
        If the file cannot be read (truncated, damaged, not OSM).
    """
    import osmium
    import osmium.geom

    from coverage._progress import bar, file_size

    storage = NODE_INDEX if NODE_INDEX in osmium.index.map_types() else _FALLBACK_INDEX
    index = osmium.index.create_map(storage)
    locations = osmium.NodeLocationsForWays(index)
    locations.ignore_errors()
    only_ways = osmium.filter.EntityFilter(osmium.osm.WAY)
    streets = osmium.filter.KeyFilter("highway")
    factory = osmium.geom.WKBFactory()
    all_nodes = osmium.geom.use_nodes.ALL
    collector = _WayCollector()
    n_read = n_missing = 0
    size = file_size(path)
    t0 = time.perf_counter()
    try:
        with (
            osmium.io.Reader(str(path), osmium.osm.NODE | osmium.osm.WAY) as reader,
            bar(total=size, desc=f"OSM-Datei {path.name} lesen", unit="B", unit_scale=True) as progress,
        ):
            position = _FilePosition(path)
            done = 0
            # the filters must stay referenced while the iterator runs (pyosmium keeps no reference)
            for way in osmium.OsmFileIterator(reader, locations, only_ways, streets):
                n_read += 1
                if n_read % _PROGRESS_EVERY == 0 and position.available:
                    offset = position.offset()
                    if offset is not None and offset > done:
                        progress.update(offset - done)
                        done = offset
                try:
                    if not _WKB_NATIVE:
                        raise RuntimeError("WKB nicht in der Bytefolge dieses Rechners")
                    coords = array("d", bytes.fromhex(factory.create_linestring(way, all_nodes)[18:]))
                except (osmium.InvalidLocationError, RuntimeError):
                    # a node without location (way leaving the extract) splits the way
                    pieces = _slow_pieces(way)
                    n_missing += sum(1 for node in way.nodes if not node.location.valid())
                    if bbox_lonlat is not None:
                        pieces = pieces if any(_in_box(p[1], p[2], bbox_lonlat) for p in pieces) else []
                else:
                    lons, lats = coords[0::2], coords[1::2]
                    if bbox_lonlat is not None and not _in_box(lons, lats, bbox_lonlat):
                        continue
                    pieces = [([node.ref for node in way.nodes], lons, lats)]
                if not pieces:
                    continue
                flags = _way_flags({tag.k: tag.v for tag in way.tags})
                if not flags & 3:
                    continue
                for refs, lons, lats in pieces:
                    collector.add(way.id, refs, lons, lats, flags)
            if size is not None and done < size:
                progress.update(size - done)
    except (RuntimeError, ValueError, OSError) as exc:
        raise NetworkError(
            f"Die OSM-Datei {path} konnte nicht gelesen werden: Sie scheint abgeschnitten oder beschädigt zu sein "
            f"({exc}). Bitte die Datei neu herunterladen oder prüfen (z. B. mit 'osmium fileinfo')."
        ) from exc
    ways = collector.result(n_read)
    if n_missing:
        logger.info(
            "%d Wegknoten ohne Koordinaten in %s übersprungen (Ausschnitt unvollständig?)",
            n_missing,
            path,
        )
    logger.info(
        "OSM-Datei %s: %s Straßen gelesen, %s im Gebiet mit %s Knoten behalten; Knotenindex %s MB (%s), %.1f s",
        path,
        format_count(n_read),
        format_count(ways.n_ways),
        format_count(int(np.unique(ways.refs).size)),
        format_count(int(index.used_memory() // 2**20)),
        storage,
        time.perf_counter() - t0,
    )
    del index
    return ways


def read_pbf(path: Path, *, mode: str, bbox_lonlat: tuple[float, float, float, float] | None = None) -> EdgeList:
    """Read the usable ways of one mode from an OSM file (see :func:`read_ways`).

    Parameters
    ----------
    path
        The PBF or OSM XML file (must exist).
    mode
        ``"fuss"`` or ``"rad"``.
    bbox_lonlat
        ``(min_lon, min_lat, max_lon, max_lat)`` or ``None``, as in :func:`read_ways`.

    Returns
    -------
    EdgeList
        Directed edges of all usable ways (not yet clipped or cleaned).

    Raises
    ------
    NetworkError
        If the file cannot be read.
    """
    return read_ways(path, bbox_lonlat=bbox_lonlat).edges(mode)


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
