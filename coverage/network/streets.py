"""Street networks for walking and cycling, snapping and street travel times.

A :class:`StreetNetwork` is a plain array structure: OSM node ids, node
coordinates in the analysis CRS (EPSG:25832) and the directed graph as CSR
arrays of edge lengths in metres.  Travel times are lengths divided by a
constant speed; shortest paths come from :func:`scipy.sparse.csgraph.dijkstra`.

Sources of a network (:func:`load_street_network` for one mode,
:func:`load_street_networks` for both from one pass over the file):

* an ``.osm.pbf`` file (read with pyosmium, optionally clipped to a boundary;
  a whole Land extract works: node locations stay in pyosmium's sparse index
  and only street ways touching the area reach Python),
* an ``.osm`` or ``.osm.bz2`` file (read with pyosmium like PBF, optionally clipped),
* ``"download"``: osmnx downloads the buffered boundary from the Overpass API.

Networks are cached in a :class:`coverage.cache.store.Cache` (``cache_dir``), keyed
by the file's content, the area and the reader's code, so that reruns read
neither the file nor the network; a damaged cache entry is rebuilt.

Walking networks (``mode="fuss"``) ignore one-way restrictions; cycling
networks (``mode="rad"``) respect ``oneway`` and roundabouts unless
``oneway:bicycle=no`` or ``cycleway*=opposite*`` allows contraflow.  Only the
largest connected component (weakly for walking, whose graph is symmetric,
strongly for cycling) is kept.  All OSM way nodes are kept as graph nodes (no
topological simplification) so that addresses snap close to their street.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse import csgraph

from coverage import ANALYSIS_CRS
from coverage.errors import ConfigError, CRSError, InputDataError, NetworkError
from coverage.network._osm import EdgeList

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

__all__ = [
    "NETWORK_MODES",
    "SPARSE_TIME_OFFSET_S",
    "SnapResult",
    "StreetNetwork",
    "load_street_network",
    "load_street_networks",
    "snap",
    "street_times",
    "street_times_sparse",
]

logger = logging.getLogger(__name__)

NETWORK_MODES: tuple[str, ...] = ("fuss", "rad")
"""Modes that have a street network (``"oepnv"`` uses the walking network)."""

_MODE_TEXT = {"fuss": "Fußwege", "rad": "Radwege"}

SPARSE_TIME_OFFSET_S = 1e-9
"""Offset added to every value stored by :func:`street_times_sparse`.

A source node reaches itself in 0 s; a stored 0 would be indistinguishable
from "not reachable" for many sparse operations (``eliminate_zeros``,
``toarray``).  Every stored entry is therefore ``seconds + 1e-9``; subtract
the offset for exact values (the error is far below any time resolution).
"""

_CACHE_FORMAT = 2
"""Bump when the tag filters or the cache layout change."""

_CHUNK_CELLS = 8_000_000
"""Dense cells (float64) per Dijkstra chunk in :func:`street_times_sparse` (64 MB)."""


def _check_mode(mode: str) -> None:
    if mode not in NETWORK_MODES:
        raise ConfigError(f"Unbekannter Verkehrsmodus {mode!r} für ein Straßennetz; erlaubt sind 'fuss' und 'rad'.")


def _check_speed(speed_m_s: float) -> float:
    speed = float(speed_m_s)
    if not np.isfinite(speed) or speed <= 0:
        raise ConfigError(f"Die Geschwindigkeit muss eine positive Zahl (m/s) sein, nicht {speed_m_s!r}.")
    return speed


@dataclass(frozen=True, eq=False)
class StreetNetwork:
    """A directed street network for one mode, as read-only arrays.

    Attributes
    ----------
    mode
        ``"fuss"`` (walking) or ``"rad"`` (cycling).
    node_ids
        OSM node id per node (int64); synthetic networks use 1..n.
    x, y
        Node coordinates in metres, EPSG:25832 (float64).
    indptr, indices
        CSR structure of the directed graph: the edges leaving node ``i`` go
        to ``indices[indptr[i]:indptr[i + 1]]`` (sorted, no duplicates, no
        self-loops).
    length_m
        Edge length in metres, aligned with ``indices`` (float64).

    Notes
    -----
    Build instances with :func:`load_street_network`,
    :meth:`StreetNetwork.from_edges` or :func:`tests._synthetic.grid_network`.
    The arrays are made read-only.  Equality is identity (arrays are not
    compared).
    """

    mode: str
    node_ids: npt.NDArray[np.int64]
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int32]
    length_m: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        _check_mode(self.mode)
        conversions = {
            "node_ids": np.int64,
            "x": np.float64,
            "y": np.float64,
            "indptr": np.int64,
            "indices": np.int32,
            "length_m": np.float64,
        }
        for name, dtype in conversions.items():
            arr = np.array(getattr(self, name), dtype=dtype, copy=True).ravel()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        n = self.node_ids.size
        if self.x.size != n or self.y.size != n:
            raise NetworkError("node_ids, x und y müssen gleich lang sein.")
        if self.indptr.size != n + 1 or self.indptr[0] != 0:
            raise NetworkError("indptr muss n_nodes + 1 Einträge haben und mit 0 beginnen.")
        if np.any(np.diff(self.indptr) < 0) or self.indptr[-1] != self.indices.size:
            raise NetworkError("indptr ist nicht monoton oder passt nicht zu indices.")
        if self.length_m.size != self.indices.size:
            raise NetworkError("length_m und indices müssen gleich lang sein.")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise NetworkError("indices verweist auf nicht vorhandene Knoten.")
        if np.any(~np.isfinite(self.length_m)) or np.any(self.length_m < 0):
            raise NetworkError("Kantenlängen müssen endlich und nicht negativ sein.")

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_ids.size)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.indices.size)

    def csr(self, speed_m_s: float) -> sp.csr_matrix:
        """Directed graph as a sparse matrix of travel seconds.

        Parameters
        ----------
        speed_m_s
            Constant travel speed in metres per second (> 0).

        Returns
        -------
        scipy.sparse.csr_matrix
            ``n_nodes × n_nodes``; entry ``(i, j)`` is the time from node ``i``
            to node ``j`` along one edge.  Zero-length edges are stored as
            explicit zeros, which :mod:`scipy.sparse.csgraph` treats as edges.
        """
        speed = _check_speed(speed_m_s)
        return sp.csr_matrix(
            (self.length_m / speed, self.indices, self.indptr),
            shape=(self.n_nodes, self.n_nodes),
        )

    @functools.cached_property
    def _kdtree(self) -> cKDTree:
        """KD-tree over the nodes, built once on first use."""
        from scipy.spatial import cKDTree  # imported here: scipy.spatial costs ~0.1 s at start-up

        return cKDTree(np.column_stack([self.x, self.y]))

    @classmethod
    def from_edges(
        cls,
        *,
        mode: str,
        node_ids: npt.ArrayLike,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        u: npt.ArrayLike,
        v: npt.ArrayLike,
        length_m: npt.ArrayLike,
        largest_component: bool = True,
    ) -> StreetNetwork:
        """Build a network from a directed edge list.

        Parameters
        ----------
        mode
            ``"fuss"`` or ``"rad"``.  For ``"fuss"`` every edge is added in
            both directions.
        node_ids, x, y
            Per node: id and EPSG:25832 coordinates.
        u, v, length_m
            Directed edges as node indices and their lengths in metres.
            Parallel edges keep the shortest; self-loops are dropped.
        largest_component
            Keep only the largest connected component (weakly for
            ``"fuss"``, strongly for ``"rad"``).  Nodes without edges are
            always dropped in that case.

        Returns
        -------
        StreetNetwork
        """
        _check_mode(mode)
        node_ids = np.asarray(node_ids, dtype=np.int64).ravel()
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        u = np.asarray(u, dtype=np.int64).ravel()
        v = np.asarray(v, dtype=np.int64).ravel()
        length = np.asarray(length_m, dtype=np.float64).ravel()
        n = node_ids.size
        if mode == "fuss":
            u, v = np.concatenate([u, v]), np.concatenate([v, u])
            length = np.concatenate([length, length])
        indptr, indices, length = _csr_arrays(n, u, v, length)
        if largest_component and n:
            keep = _largest_component(n, indptr, indices, strong=(mode == "rad"))
            if keep.size < n:
                sub = sp.csr_matrix((length, indices, indptr), shape=(n, n))[keep][:, keep]
                sub.sort_indices()
                indptr, indices, length = sub.indptr, sub.indices, sub.data
                node_ids, x, y = node_ids[keep], x[keep], y[keep]
        return cls(
            mode=mode,
            node_ids=node_ids,
            x=x,
            y=y,
            indptr=indptr,
            indices=indices,
            length_m=length,
        )


def _csr_arrays(
    n: int,
    u: npt.NDArray[np.int64],
    v: npt.NDArray[np.int64],
    length: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """CSR arrays of a directed edge list: no self-loops, shortest parallel edge."""
    if u.size != v.size or u.size != length.size:
        raise NetworkError("u, v und length_m müssen gleich lang sein.")
    if u.size and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n):
        raise NetworkError("Kanten verweisen auf nicht vorhandene Knoten.")
    loop = u == v
    u, v, length = u[~loop], v[~loop], length[~loop]
    order = np.lexsort((length, v, u))
    u, v, length = u[order], v[order], length[order]
    first = np.ones(u.size, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, length = u[first], v[first], length[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    return indptr, v.astype(np.int32), length


def _largest_component(
    n: int, indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int32], *, strong: bool
) -> npt.NDArray[np.int64]:
    """Sorted node indices of the largest (weak or strong) component."""
    graph = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(n, n))
    _, labels = csgraph.connected_components(graph, directed=True, connection="strong" if strong else "weak")
    sizes = np.bincount(labels)
    return np.flatnonzero(labels == int(np.argmax(sizes))).astype(np.int64)


# --------------------------------------------------------------------------- loading


def _project_lonlat(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    from pyproj import Transformer

    transformer = Transformer.from_crs("EPSG:4326", ANALYSIS_CRS, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _buffered_boundary(boundary: Any, buffer_m: float) -> Any:
    """Validate the boundary (shapely, EPSG:25832) and buffer it."""
    from shapely.geometry.base import BaseGeometry

    if not isinstance(boundary, BaseGeometry):
        raise ConfigError(
            "Die Gebietsgrenze (boundary) muss eine shapely-Geometrie in EPSG:25832 sein, "
            f"nicht {type(boundary).__name__}."
        )
    if boundary.is_empty:
        raise ConfigError("Die Gebietsgrenze (boundary) ist leer.")
    buffer = float(buffer_m)
    if not np.isfinite(buffer) or buffer < 0:
        raise ConfigError(f"Der Puffer muss eine nicht negative Zahl (m) sein, nicht {buffer_m!r}.")
    minx, miny, maxx, maxy = boundary.bounds
    if max(abs(minx), abs(maxx)) <= 180 and max(abs(miny), abs(maxy)) <= 90:
        raise CRSError(
            "Die Gebietsgrenze scheint in Grad (EPSG:4326) vorzuliegen, erwartet wird "
            f"EPSG:25832 in Metern (Ausdehnung {boundary.bounds!r}); bitte vorher umprojizieren."
        )
    return boundary.buffer(buffer) if buffer > 0 else boundary


def _assemble(
    edges: EdgeList,
    *,
    mode: str,
    clip: Any,
    label: str,
) -> StreetNetwork:
    """Project, clip (whole ways touching the clip's bbox), clean and log."""
    if edges.u.size == 0:
        raise NetworkError(f"{label} enthält keine für {_MODE_TEXT[mode]} nutzbaren Straßen.")
    x, y = _project_lonlat(edges.lon, edges.lat)
    u, v, length = edges.u, edges.v, edges.length_m
    if clip is not None:
        minx, miny, maxx, maxy = clip.bounds
        inside = (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)
        edge_in = inside[u] | inside[v]
        way_ids, way_idx = np.unique(edges.way, return_inverse=True)
        way_in = np.zeros(way_ids.size, dtype=bool)
        np.logical_or.at(way_in, way_idx, edge_in)
        keep_edge = way_in[way_idx]
        u, v, length = u[keep_edge], v[keep_edge], length[keep_edge]
        if u.size == 0:
            raise NetworkError(
                f"{label} enthält innerhalb der gepufferten Gebietsgrenze keine für "
                f"{_MODE_TEXT[mode]} nutzbaren Straßen (falscher Ausschnitt?)."
            )
    used = np.unique(np.concatenate([u, v]))
    remap = np.full(edges.node_ids.size, -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    before = used.size
    network = StreetNetwork.from_edges(
        mode=mode,
        node_ids=edges.node_ids[used],
        x=x[used],
        y=y[used],
        u=remap[u],
        v=remap[v],
        length_m=length,
    )
    dropped = before - network.n_nodes
    logger.info(
        "Größte %s Zusammenhangskomponente behalten, %d von %d Knoten verworfen",
        "starke" if mode == "rad" else "schwache",
        dropped,
        before,
    )
    _log_loaded(network, label)
    return network


def _log_loaded(network: StreetNetwork, label: str) -> None:
    logger.info(
        "Straßennetz (%s): %d Knoten, %d Kanten aus %s",
        network.mode,
        network.n_nodes,
        network.n_edges,
        label,
    )


def load_street_network(
    source: str | os.PathLike[str],
    *,
    mode: str,
    boundary: Any = None,
    buffer_m: float = 2000.0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> StreetNetwork:
    """Load a walking or cycling network from OSM data.

    Parameters
    ----------
    source
        Path to an ``.osm.pbf``, ``.osm`` or ``.osm.bz2`` file, or the string
        ``"download"`` to fetch the network with osmnx (Overpass API).
    mode
        ``"fuss"`` (walking, one-way streets usable both ways) or ``"rad"``
        (cycling, one-way streets respected unless contraflow is tagged).
    boundary
        Study area as a shapely geometry in EPSG:25832.  For files, the
        network is clipped to whole ways with at least one node in the
        bounding box of the boundary buffered by ``buffer_m``; ``None`` keeps
        the whole file.  Required for ``"download"``, which fetches the
        buffered polygon itself.
    buffer_m
        Buffer around the boundary in metres, so that routes may leave the
        area briefly and edge-of-area addresses find their streets.
    cache_dir
        Directory of the network cache (a :class:`coverage.cache.store.Cache`, kind
        ``strassennetz``), keyed by the file's content (XXH3-128), boundary,
        buffer, mode, osmnx version and the reader's code; for ``"download"``
        osmnx's own HTTP cache goes to ``cache_dir/osmnx``.  A damaged entry is
        logged, deleted and rebuilt.  ``None`` disables caching.

    Returns
    -------
    StreetNetwork
        The largest connected component (weakly connected for walking,
        strongly for cycling).

    Raises
    ------
    InputDataError
        If the file does not exist or has an unknown format.
    NetworkError
        If the data cannot be read (also a truncated or damaged file) or
        downloaded, or contains no usable street.
    ConfigError
        For an unknown mode, an invalid boundary or buffer.

    See Also
    --------
    load_street_networks : both modes from one pass over the file.
    """
    _check_mode(mode)
    return _load(source, (mode,), boundary=boundary, buffer_m=buffer_m, cache_dir=cache_dir)[mode]


def load_street_networks(
    source: str | os.PathLike[str],
    *,
    boundary: Any = None,
    buffer_m: float = 2000.0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[StreetNetwork, StreetNetwork]:
    """Load the walking and the cycling network, reading an OSM file only once.

    Same tag rules, clipping, cleaning and results as one call of
    :func:`load_street_network` per mode, but a file (e.g. the Geofabrik extract
    of a whole Land) is read in a single pass: node locations stay in
    pyosmium's sparse index, only street ways with a node in the buffered
    bounding box are kept, and both networks are built from them.  Both
    networks are cached; a warm run hashes the file (XXH3-128) and reads the
    two cache entries.

    Parameters
    ----------
    source
        Path to an ``.osm.pbf``, ``.osm`` or ``.osm.bz2`` file, or
        ``"download"`` (osmnx; one download per mode, as the walking and the
        cycling network come from different Overpass queries).
    boundary
        Study area as a shapely geometry in EPSG:25832 (see
        :func:`load_street_network`); required for ``"download"``.
    buffer_m
        Buffer around the boundary in metres.
    cache_dir
        Directory of the network cache, as in :func:`load_street_network`.

    Returns
    -------
    tuple of StreetNetwork
        ``(walk, bike)``: modes ``"fuss"`` and ``"rad"``.

    Raises
    ------
    InputDataError
        If the file does not exist or has an unknown format.
    NetworkError
        If the data cannot be read (also a truncated or damaged file) or
        downloaded, or contain no street usable by one of the modes.
    ConfigError
        For an invalid boundary or buffer.
    """
    networks = _load(source, NETWORK_MODES, boundary=boundary, buffer_m=buffer_m, cache_dir=cache_dir)
    return networks["fuss"], networks["rad"]


def _load(
    source: str | os.PathLike[str],
    modes: tuple[str, ...],
    *,
    boundary: Any,
    buffer_m: float,
    cache_dir: str | os.PathLike[str] | None,
) -> dict[str, StreetNetwork]:
    """Networks of ``modes`` from a file or a download, from the cache where present."""
    clip = None if boundary is None else _buffered_boundary(boundary, buffer_m)
    if isinstance(source, str) and source == "download":
        if clip is None:
            raise ConfigError("Für source='download' wird eine Gebietsgrenze (boundary) benötigt.")
        return {
            mode: _load_download(boundary, clip, mode=mode, buffer_m=float(buffer_m), cache_dir=cache_dir)
            for mode in modes
        }

    from coverage.network import _osm

    path = Path(source)
    if not path.is_file():
        raise InputDataError("Die OSM-Datei wurde nicht gefunden.", file=str(path))
    if not path.name.lower().endswith((".pbf", ".osm", ".osm.bz2", ".xml", ".xml.bz2")):
        raise InputDataError(
            "Unbekanntes Format des Straßennetzes; erlaubt sind .osm.pbf, .osm und .osm.bz2.",
            file=str(path),
        )
    store = None if cache_dir is None else _NetworkStore(cache_dir)
    keys: dict[str, str] = {}
    out: dict[str, StreetNetwork] = {}
    if store is not None:
        from coverage.cache.store import file_xxh128

        content = f"datei:xxh128={file_xxh128(path)}"  # the file's content, never its name or mtime
        for mode in modes:
            keys[mode] = _cache_key(boundary, buffer_m, mode, extra=content)
            cached = store.get(keys[mode], mode)
            if cached is not None:
                _log_loaded(cached, f"Cache (aus {path})")
                out[mode] = cached
    missing = [mode for mode in modes if mode not in out]
    if not missing:
        return out
    # pyosmium reads PBF and OSM XML (also bz2) with the same tag rules as the
    # osmnx reader (tests compare both) and is an order of magnitude faster.
    bbox = None if clip is None else _lonlat_bounds(clip)
    ways = _osm.read_ways(path, bbox_lonlat=bbox)
    for mode in missing:
        out[mode] = _assemble(ways.edges(mode), mode=mode, clip=clip, label=str(path))
        if store is not None:
            store.put(keys[mode], out[mode])
    if store is not None:
        store.tidy()
    return out


def _lonlat_bounds(geometry: Any) -> tuple[float, float, float, float]:
    """WGS84 box enclosing the EPSG:25832 bounding box of ``geometry`` (with margin)."""
    from pyproj import Transformer

    minx, miny, maxx, maxy = geometry.bounds
    transformer = Transformer.from_crs(ANALYSIS_CRS, "EPSG:4326", always_xy=True)
    lon0, lat0, lon1, lat1 = transformer.transform_bounds(minx, miny, maxx, maxy, densify_pts=21)
    margin = 1e-4  # about 10 m; the exact test in metres follows in _assemble
    return lon0 - margin, lat0 - margin, lon1 + margin, lat1 + margin


# --------------------------------------------------------------------------- cache


def _cache_key(boundary: Any, buffer_m: float, mode: str, *, extra: str = "download") -> str:
    """Fingerprint of boundary, buffer, mode, osmnx version, cache format, source and the reader's code."""
    from importlib.metadata import version

    from coverage.cache.store import fingerprint

    return fingerprint(
        "strassennetz",
        boundary if boundary is not None else "",
        float(buffer_m),
        mode,
        f"osmnx={version('osmnx')}",
        _CACHE_FORMAT,
        extra,
        code=("coverage.network.streets", "coverage.network._osm"),
    )


_NETWORK_FIELDS: dict[str, type] = {
    "node_ids": np.int64,
    "x": np.float64,
    "y": np.float64,
    "indptr": np.int64,
    "indices": np.int32,
    "length_m": np.float64,
}
_CACHE_KIND = "strassennetz"
_CACHE_KEEP = 16
"""Network entries kept in the cache folder (both modes of eight areas or file versions)."""


class _NetworkStore:
    """Street networks in a :class:`coverage.cache.store.Cache` (checksummed, atomic writes, self-healing)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        from coverage.cache.store import Cache

        self.directory = Path(directory)
        self.cache = Cache(self.directory, keep={_CACHE_KIND: _CACHE_KEEP})

    def get(self, key: str, mode: str) -> StreetNetwork | None:
        """The cached network, or None; a damaged or inconsistent entry is logged, deleted and None."""
        value = self.cache.get(_CACHE_KIND, key)  # checksum errors: logged, deleted, None
        if value is None:
            return None
        try:
            return _network_from_arrays(value, mode)
        except (KeyError, TypeError, ValueError, NetworkError) as exc:
            logger.warning(
                "Netz-Cache %s ist unbrauchbar (%s); der Eintrag wird gelöscht und das Netz neu berechnet.",
                self.cache.path(_CACHE_KIND, key),
                exc,
            )
            self.cache.discard(_CACHE_KIND, key)
            return None

    def put(self, key: str, network: StreetNetwork) -> None:
        arrays = {name: getattr(network, name) for name in _NETWORK_FIELDS}
        arrays["mode"] = np.array(network.mode)
        path = self.cache.put(_CACHE_KIND, key, arrays)
        logger.debug("Straßennetz (%s) im Cache gespeichert: %s", network.mode, path)

    def tidy(self) -> None:
        """Prune old entries and delete network files of the old ``.npz`` store."""
        self.cache.prune()
        for old in self.directory.glob("strassennetz-*.npz"):
            with contextlib.suppress(OSError):
                old.unlink()


def _network_from_arrays(value: Any, mode: str) -> StreetNetwork:
    """Rebuild a cached network; raise ValueError/NetworkError for anything inconsistent."""
    if not isinstance(value, dict):
        raise ValueError("kein Satz benannter Felder")
    expected = {*_NETWORK_FIELDS, "mode"}
    if set(value) != expected:
        raise ValueError(f"Felder {sorted(value)} statt {sorted(expected)}")
    stored_mode = value["mode"]
    if stored_mode.dtype.kind != "U" or stored_mode.shape != () or str(stored_mode) != mode:
        raise ValueError(f"Modus {stored_mode!r} statt {mode!r}")
    for name, dtype in _NETWORK_FIELDS.items():
        arr = value[name]
        if arr.dtype != np.dtype(dtype) or arr.ndim != 1:
            raise ValueError(f"Feld {name}: {arr.dtype}[{arr.ndim}D] statt {np.dtype(dtype)}[1D]")
    network = StreetNetwork(mode=mode, **{name: value[name] for name in _NETWORK_FIELDS})
    if network.n_nodes == 0:
        raise ValueError("leeres Netz")
    rows = np.repeat(np.arange(network.n_nodes), np.diff(network.indptr))
    if np.any(network.indices == rows):
        raise ValueError("Schleifen im Netz")
    same_row = rows[1:] == rows[:-1]
    if np.any(same_row & (np.diff(network.indices) <= 0)):
        raise ValueError("Nachbarn nicht sortiert oder doppelt")
    return network


# --------------------------------------------------------------------------- download


def _load_download(
    boundary: Any,
    clip: Any,
    *,
    mode: str,
    buffer_m: float,
    cache_dir: str | os.PathLike[str] | None,
) -> StreetNetwork:
    import osmnx as ox
    from pyproj import Transformer
    from shapely.ops import transform

    from coverage.network import _osm

    store = key = None
    if cache_dir is not None:
        store = _NetworkStore(cache_dir)
        key = _cache_key(boundary, buffer_m, mode)
        network = store.get(key, mode)
        if network is not None:
            _log_loaded(network, "Cache (osmnx-Download)")
            return network

    to_wgs84 = Transformer.from_crs(ANALYSIS_CRS, "EPSG:4326", always_xy=True).transform
    polygon = transform(to_wgs84, clip)
    if polygon.geom_type not in ("Polygon", "MultiPolygon"):
        raise ConfigError(
            "Für den Download muss die gepufferte Gebietsgrenze eine Fläche sein "
            f"(erhalten: {polygon.geom_type}); bitte buffer_m > 0 wählen."
        )
    settings: dict[str, Any] = {"useful_tags_way": _osm.useful_tags_way()}
    if cache_dir is not None:
        settings["cache_folder"] = str(Path(cache_dir) / "osmnx")
    logger.info("Lade Straßennetz (%s) mit osmnx herunter ...", mode)
    try:
        with _osm.osmnx_settings(**settings):
            graph = ox.graph_from_polygon(
                polygon,
                network_type="walk" if mode == "fuss" else "bike",
                simplify=False,
                retain_all=False,
            )
    except Exception as exc:  # requests, Overpass and osmnx errors alike
        raise NetworkError(f"Das Straßennetz ({_MODE_TEXT[mode]}) konnte nicht heruntergeladen werden: {exc}") from exc
    edges = _osm.graph_to_edges(graph, mode=mode)
    network = _assemble(edges, mode=mode, clip=None, label="osmnx-Download")
    if store is not None and key is not None:
        store.put(key, network)
        store.tidy()
        logger.info("Straßennetz (%s) im Cache gespeichert", mode)
    return network


# --------------------------------------------------------------------------- snapping


@dataclass(frozen=True, eq=False)
class SnapResult:
    """Nearest network node of each point.

    Attributes
    ----------
    node
        Index into the network's nodes (int64), always the nearest node, also
        for points flagged ``too_far``.
    distance_m
        Straight-line distance point → node in metres (float64).
    too_far
        True where ``distance_m > max_distance_m``; callers decide whether to
        report such points as unreachable.  Points are never dropped.
    """

    node: npt.NDArray[np.int64]
    distance_m: npt.NDArray[np.float64]
    too_far: npt.NDArray[np.bool_]


def snap(
    network: StreetNetwork,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    max_distance_m: float,
) -> SnapResult:
    """Snap points (EPSG:25832) to their nearest network node.

    The KD-tree over the nodes is built on first use and cached on the
    network.  The snap distance is meant to be *walked*: callers add
    ``distance_m / walking_speed`` to street times (also for cycling, where it
    is the way from the door to the street).

    Parameters
    ----------
    network
        The street network.
    x, y
        Point coordinates in metres, EPSG:25832, same length.
    max_distance_m
        Points farther from every node are flagged in ``too_far``.

    Returns
    -------
    SnapResult

    Raises
    ------
    InputDataError
        If coordinates are not finite or x and y differ in length.
    ConfigError
        If ``max_distance_m`` is negative or not a number.
    """
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    if xs.size != ys.size:
        raise InputDataError(f"x und y haben unterschiedlich viele Werte ({xs.size} und {ys.size}).")
    bad = ~(np.isfinite(xs) & np.isfinite(ys))
    if bad.any():
        raise InputDataError(
            "Koordinaten müssen endliche Zahlen in EPSG:25832 sein.",
            row=int(np.flatnonzero(bad)[0]) + 1,
        )
    limit = float(max_distance_m)
    if not limit >= 0:
        raise ConfigError(f"max_distance_m muss eine nicht negative Zahl sein, nicht {max_distance_m!r}.")
    if xs.size == 0:
        return SnapResult(
            node=np.zeros(0, dtype=np.int64),
            distance_m=np.zeros(0, dtype=np.float64),
            too_far=np.zeros(0, dtype=bool),
        )
    distance, node = network._kdtree.query(np.column_stack([xs, ys]), k=1)
    distance = np.asarray(distance, dtype=np.float64)
    too_far = distance > limit
    if too_far.any():
        logger.info(
            "%d von %d Punkten liegen mehr als %.0f m vom Straßennetz entfernt",
            int(too_far.sum()),
            xs.size,
            limit,
        )
    return SnapResult(node=np.asarray(node, dtype=np.int64), distance_m=distance, too_far=too_far)


# --------------------------------------------------------------------------- times


def _sources(network: StreetNetwork, sources: npt.ArrayLike) -> npt.NDArray[np.int64]:
    src = np.asarray(sources, dtype=np.int64).ravel()
    if src.size and (src.min() < 0 or src.max() >= network.n_nodes):
        raise ConfigError(
            f"Startknoten außerhalb des Netzes (0 … {network.n_nodes - 1}): {int(src.min())} … {int(src.max())}."
        )
    return src


def _graph(network: StreetNetwork, speed_m_s: float, *, reverse: bool) -> sp.csr_matrix:
    matrix = network.csr(speed_m_s)
    if reverse and network.mode != "fuss":  # walking graphs are symmetric
        matrix = matrix.transpose().tocsr()
    return matrix


def _check_limit(limit_s: float | None) -> float:
    if limit_s is None:
        return np.inf
    limit = float(limit_s)
    if not limit >= 0:
        raise ConfigError(f"limit_s muss eine nicht negative Zahl sein, nicht {limit_s!r}.")
    return limit


def street_times(
    network: StreetNetwork,
    sources: npt.ArrayLike,
    *,
    speed_m_s: float,
    limit_s: float | None = None,
    reverse: bool = False,
) -> npt.NDArray[np.float64]:
    """Dense shortest street travel times from (or to) source nodes.

    Parameters
    ----------
    network
        The street network.
    sources
        Node indices (not OSM ids), e.g. ``snap(...).node``.
    speed_m_s
        Constant speed in metres per second.
    limit_s
        Stop searching beyond this many seconds; farther nodes are ``inf``.
    reverse
        False: times *from* each source to every node.  True: times from
        every node *to* each source (Dijkstra on the transposed graph; only
        differs from False on cycling networks with one-way streets).

    Returns
    -------
    numpy.ndarray
        ``n_sources × n_nodes`` float64 seconds, ``inf`` where unreachable.
        Memory is ``8 · n_sources · n_nodes`` bytes; use
        :func:`street_times_sparse` for many sources.
    """
    src = _sources(network, sources)
    if src.size == 0:
        return np.zeros((0, network.n_nodes), dtype=np.float64)
    graph = _graph(network, speed_m_s, reverse=reverse)
    dist = csgraph.dijkstra(graph, directed=True, indices=src, limit=_check_limit(limit_s))
    return np.asarray(dist, dtype=np.float64).reshape(src.size, network.n_nodes)


def street_times_sparse(
    network: StreetNetwork,
    sources: npt.ArrayLike,
    *,
    speed_m_s: float,
    limit_s: float,
    reverse: bool = False,
) -> sp.csr_matrix:
    """Sparse street travel times up to a limit, computed in chunks of sources.

    Parameters
    ----------
    network
        The street network.
    sources
        Node indices (not OSM ids).
    speed_m_s
        Constant speed in metres per second.
    limit_s
        Only nodes reached within this many seconds are stored.
    reverse
        As in :func:`street_times`.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``n_sources × n_nodes`` float64.  A stored entry means "reachable
        within ``limit_s``" and holds ``seconds + SPARSE_TIME_OFFSET_S``
        (1e-9 s), so that a 0-second entry (the source itself) survives
        ``eliminate_zeros`` and ``toarray``; absent entries are unreachable.

    Notes
    -----
    Dijkstra runs on chunks of sources whose dense result stays below
    64 MB (8 million cells), so memory is bounded by the chunk plus the
    sparse output, whatever the number of sources.
    """
    src = _sources(network, sources)
    limit = _check_limit(limit_s)
    n = network.n_nodes
    if src.size == 0:
        return sp.csr_matrix((0, n), dtype=np.float64)
    graph = _graph(network, speed_m_s, reverse=reverse)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    rows: list[npt.NDArray[np.int64]] = []
    cols: list[npt.NDArray[np.int64]] = []
    vals: list[npt.NDArray[np.float64]] = []
    for start in range(0, src.size, chunk):
        part = src[start : start + chunk]
        dist = np.asarray(csgraph.dijkstra(graph, directed=True, indices=part, limit=limit)).reshape(part.size, n)
        r, c = np.nonzero(dist <= limit)
        rows.append(r.astype(np.int64) + start)
        cols.append(c.astype(np.int64))
        vals.append(dist[r, c] + SPARSE_TIME_OFFSET_S)
    result = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(src.size, n),
    )
    logger.debug("Straßenzeiten: %d Quellen, %d Einträge ≤ %.0f s", src.size, result.nnz, limit)
    return result
