"""Loading street networks from OSM data, and their cache (kind ``strassennetz``).

Sources of a network (:func:`load_street_network` for one mode,
:func:`load_street_networks` for both from one pass over the file):

* an ``.osm.pbf`` file (read with pyosmium, optionally clipped to a boundary;
  a whole Land extract works: node locations stay in pyosmium's sparse index
  and only street ways touching the area reach Python),
* an ``.osm`` or ``.osm.bz2`` file (read with pyosmium like PBF, optionally clipped),
* ``"download"``: osmnx downloads the buffered boundary from the Overpass API.

Networks are cached in a :class:`coverage.cache.store.Cache` (``cache_dir``, kind
:data:`STREET_NETWORKS`), keyed by the file's content, the area and the reader's code,
so that reruns read neither the file nor the network; a damaged or inconsistent
entry is logged, deleted and rebuilt.

Only the largest connected component (weakly for walking, whose graph is symmetric,
strongly for cycling) is kept; see :mod:`coverage.network.streets` for the network
itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from coverage import ANALYSIS_CRS
from coverage.cache.kinds import CacheKind, keep_limits, lookup, memoize, save
from coverage.cache.store import Cache
from coverage.errors import ConfigError, CRSError, InputDataError, NetworkError
from coverage.network import _osm, streets
from coverage.network._osm import EdgeList
from coverage.network.streets import NETWORK_ARRAYS, NETWORK_MODES, StreetNetwork, _check_mode

__all__ = ["STREET_NETWORKS", "load_street_network", "load_street_networks"]

logger = logging.getLogger(__name__)

_MODE_TEXT = {"fuss": "Fußwege", "rad": "Radwege"}

_CACHE_FORMAT = 2
"""Bump when the tag filters or the cache layout change."""


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

    path = Path(source)
    if not path.is_file():
        raise InputDataError("Die OSM-Datei wurde nicht gefunden.", file=str(path))
    if not path.name.lower().endswith((".pbf", ".osm", ".osm.bz2", ".xml", ".xml.bz2")):
        raise InputDataError(
            "Unbekanntes Format des Straßennetzes; erlaubt sind .osm.pbf, .osm und .osm.bz2.",
            file=str(path),
        )
    # Both modes come from one pass over the file, so the cache is read for every mode
    # first and the missing ones are built together: lookup/save, not memoize.
    cache = None if cache_dir is None else _network_cache(cache_dir)
    keys: dict[str, str] = {}
    out: dict[str, StreetNetwork] = {}
    if cache is not None:
        from coverage.cache.store import file_xxh128

        content = f"datei:xxh128={file_xxh128(path)}"  # the file's content, never its name or mtime
        for mode in modes:
            keys[mode] = _cache_key(boundary, buffer_m, mode, extra=content)
            cached = lookup(cache, STREET_NETWORKS, keys[mode], codec=_NetworkCodec(mode))
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
        if cache is not None:
            save(cache, STREET_NETWORKS, keys[mode], out[mode])
            logger.debug("Straßennetz (%s) im Cache gespeichert (%s)", mode, keys[mode][:12])
    if cache is not None:
        _tidy(cache)
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


@dataclass(frozen=True)
class _NetworkCodec:
    """A :class:`StreetNetwork` as named arrays; decoding checks every field (and ``mode``, if given)."""

    mode: str | None = None

    def encode(self, network: StreetNetwork) -> dict[str, np.ndarray]:
        arrays = {name: getattr(network, name) for name in NETWORK_ARRAYS}
        arrays["mode"] = np.array(network.mode)
        return arrays

    def decode(self, stored: Any) -> StreetNetwork | None:
        try:
            return _network_from_arrays(stored, self.mode)
        except (KeyError, TypeError, ValueError, NetworkError) as exc:
            logger.info("Netz-Cache-Eintrag ist unbrauchbar (%s)", exc)
            return None


STREET_NETWORKS: CacheKind[StreetNetwork] = CacheKind(
    name="strassennetz",
    code=(sys.modules[__name__], streets, _osm),
    keep=16,  # both modes of eight areas or file versions
    codec=_NetworkCodec(),
    label="Straßennetz",
)
"""Street networks, one entry per mode, area and OSM file content (a cache of its own: ``cache_dir``)."""


def _cache_key(boundary: Any, buffer_m: float, mode: str, *, extra: str = "download") -> str:
    """Key of boundary, buffer, mode, osmnx version, cache format and source (the kind adds the reader's code)."""
    from importlib.metadata import version

    return STREET_NETWORKS.key(
        boundary if boundary is not None else "",
        float(buffer_m),
        mode,
        f"osmnx={version('osmnx')}",
        _CACHE_FORMAT,
        extra,
    )


def _network_cache(directory: str | os.PathLike[str]) -> Cache:
    """The network cache in ``directory`` (checksummed entries, atomic writes, damaged entries rebuilt)."""
    return Cache(directory, keep=keep_limits())


def _tidy(cache: Cache) -> None:
    """Prune old entries and delete network files of the old ``.npz`` store."""
    cache.prune()
    for old in cache.directory.glob("strassennetz-*.npz"):
        with contextlib.suppress(OSError):
            old.unlink()


def _network_from_arrays(value: Any, mode: str | None) -> StreetNetwork:
    """Rebuild a cached network; raise ValueError/NetworkError for anything inconsistent.

    ``mode=None`` accepts any network mode stored in the entry.
    """
    if not isinstance(value, dict):
        raise ValueError("kein Satz benannter Felder")
    expected = {*NETWORK_ARRAYS, "mode"}
    if set(value) != expected:
        raise ValueError(f"Felder {sorted(value)} statt {sorted(expected)}")
    stored_mode = value["mode"]
    if stored_mode.dtype.kind != "U" or stored_mode.shape != ():
        raise ValueError(f"Modus {stored_mode!r} ist kein Text")
    if (mode is not None and str(stored_mode) != mode) or str(stored_mode) not in NETWORK_MODES:
        raise ValueError(f"Modus {stored_mode!r} statt {mode!r}")
    mode = str(stored_mode)
    for name, dtype in NETWORK_ARRAYS.items():
        arr = value[name]
        if arr.dtype != np.dtype(dtype) or arr.ndim != 1:
            raise ValueError(f"Feld {name}: {arr.dtype}[{arr.ndim}D] statt {np.dtype(dtype)}[1D]")
    network = StreetNetwork(mode=mode, **{name: value[name] for name in NETWORK_ARRAYS})
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
    """The network of ``mode`` downloaded with osmnx, through the network cache (:func:`memoize`)."""
    if cache_dir is None:
        return _download(clip, mode=mode, cache_dir=None)
    cache = _network_cache(cache_dir)
    built: list[StreetNetwork] = []

    def compute() -> StreetNetwork:
        built.append(_download(clip, mode=mode, cache_dir=cache_dir))
        return built[0]

    key = _cache_key(boundary, buffer_m, mode)
    network = memoize(cache, STREET_NETWORKS, key, compute, codec=_NetworkCodec(mode))
    if built:
        _tidy(cache)
        logger.info("Straßennetz (%s) im Cache gespeichert", mode)
    else:
        _log_loaded(network, "Cache (osmnx-Download)")
    return network


def _download(clip: Any, *, mode: str, cache_dir: str | os.PathLike[str] | None) -> StreetNetwork:
    """Download the buffered area ``clip`` with osmnx and build the network of ``mode``."""
    import osmnx as ox
    from pyproj import Transformer
    from shapely.ops import transform

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
    return _assemble(edges, mode=mode, clip=None, label="osmnx-Download")

