"""Generator of a synthetic, Land-sized ``.osm.pbf`` for the OSM benchmark.

:func:`write_land_pbf` writes tens of millions of nodes spread over a box the size
of Lower Saxony, street ways (``highway=residential/tertiary/track/footway/...``
with one-way tags, about ten nodes each, chained into long streets) and building
outlines (the bulk of a real extract, dropped by the street reader in C++), with
sparse node ids like real OSM (random increasing ids up to about 12 billion).
The file is sorted as PBF requires (all nodes by id, then all ways by id).

When ``base_osm`` is given (the model region's ``strassennetz.osm.bz2``), its
nodes and ways are copied unchanged; the synthetic ids start above the largest
base id so that nothing collides, and no synthetic node lies in a box around the
base network, so that the area of the model region holds exactly its network.

Nothing is held in memory beyond one chunk: the data are generated chunk by
chunk from ``numpy.random.default_rng([seed, chunk])``; nodes are written in a
first pass, the ways of the same chunks are generated again in a second pass.
Objects reach libosmium as OPL text built with numpy (fixed-width records), which
is several times faster than handing Python objects to the writer.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["LAND_BOX", "write_land_pbf"]

LAND_BOX: tuple[float, float, float, float] = (6.6, 51.3, 11.6, 53.9)
"""Lon/lat box of the synthetic Land (about Lower Saxony)."""

_HIGHWAY_SHARE = 0.13
"""Share of ways that are streets (the rest are building outlines)."""
_HIGHWAYS: tuple[tuple[str, float], ...] = (
    ("residential", 0.33),
    ("track", 0.2),
    ("footway", 0.12),
    ("service", 0.1),
    ("unclassified", 0.08),
    ("tertiary", 0.07),
    ("cycleway", 0.04),
    ("secondary", 0.03),
    ("primary", 0.03),
)
_EXTRA_TAGS: tuple[tuple[str, float], ...] = (
    ("", 0.86),
    (",oneway=yes", 0.07),
    (",oneway=-1", 0.01),
    (",oneway=yes,oneway:bicycle=no", 0.02),
    (",junction=roundabout", 0.01),
    (",access=private", 0.02),
    (",foot=no", 0.01),
)
_STEP_M = (20.0, 120.0)
_M_PER_DEG_LAT = 111_195.0


@dataclass(frozen=True)
class _Chunk:
    """Nodes and ways of one chunk (ids absolute)."""

    ids: npt.NDArray[np.int64]
    lon_e7: npt.NDArray[np.int64]
    lat_e7: npt.NDArray[np.int64]
    way_ids: npt.NDArray[np.int64]
    way_ptr: npt.NDArray[np.int64]
    way_refs: npt.NDArray[np.int64]
    way_tags: list[str]


def _digits(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    """ASCII digits of non-negative integers, zero-padded to ``width`` (n × width)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (48 + (values[:, None] // powers) % 10).astype(np.uint8)


def _fixed(parts: list[bytes | npt.NDArray[np.uint8]], n: int) -> bytes:
    """Concatenate constant byte strings and per-row digit blocks into n records."""
    cols = [
        np.broadcast_to(np.frombuffer(p, dtype=np.uint8), (n, len(p))) if isinstance(p, bytes) else p for p in parts
    ]
    return np.concatenate(cols, axis=1).tobytes()


def _node_opl(chunk: _Chunk) -> bytes:
    n = chunk.ids.size
    if n == 0:
        return b""
    return _fixed(
        [
            b"n",
            _digits(chunk.ids, 11),
            b" v1 x",
            _digits(chunk.lon_e7 // 10**7, 3),
            b".",
            _digits(chunk.lon_e7 % 10**7, 7),
            b" y",
            _digits(chunk.lat_e7 // 10**7, 3),
            b".",
            _digits(chunk.lat_e7 % 10**7, 7),
            b"\n",
        ],
        n,
    )


def _way_opl(chunk: _Chunk) -> bytes:
    n_refs = chunk.way_refs.size
    if n_refs == 0:
        return b""
    refs = _fixed([b"n", _digits(chunk.way_refs, 11), b","], n_refs)
    width = 13
    out = []
    ptr = chunk.way_ptr.tolist()
    for i, (wid, tags) in enumerate(zip(chunk.way_ids.tolist(), chunk.way_tags, strict=True)):
        out.append(b"w%d v1 T%s N%s\n" % (wid, tags.encode(), refs[ptr[i] * width : ptr[i + 1] * width - 1]))
    return b"".join(out)


def _choose(rng: np.random.Generator, table: tuple[tuple[str, float], ...], size: int) -> list[str]:
    values = [v for v, _ in table]
    p = np.array([w for _, w in table], dtype=np.float64)
    idx = rng.choice(len(values), size=size, p=p / p.sum())
    return [values[i] for i in idx.tolist()]


def _chunk(
    seed: int,
    index: int,
    n_nodes: int,
    *,
    node_base: int,
    mean_gap: float,
    way_base: int,
    box: tuple[float, float, float, float],
    exclude: tuple[float, float, float, float] | None,
) -> _Chunk:
    """Generate chunk ``index`` (deterministic in seed, index and bases)."""
    rng = np.random.default_rng([seed, index])
    # features in id order: streets (chained) and buildings (4 nodes, closed ring)
    n_feat = int(n_nodes / 4.0) + 16
    street = rng.random(n_feat) < _HIGHWAY_SHARE
    length = rng.integers(4, 17, size=n_feat)  # nodes of a street way
    chain_start = rng.random(n_feat) < 0.25
    street_idx = np.flatnonzero(street)
    if street_idx.size:
        chain_start[street_idx[0]] = True
    new_nodes = np.where(street, np.where(chain_start, length, length - 1), 4)
    cum = np.cumsum(new_nodes)
    n_feat = int(np.searchsorted(cum, n_nodes, side="left")) + 1
    n_feat = min(n_feat, cum.size)
    street, length, chain_start, new_nodes = street[:n_feat], length[:n_feat], chain_start[:n_feat], new_nodes[:n_feat]
    first_new = np.concatenate([[0], np.cumsum(new_nodes)[:-1]])
    total = int(new_nodes.sum())
    min_lon, min_lat, max_lon, max_lat = box
    lon = np.empty(total)
    lat = np.empty(total)
    # buildings: 4 corners of a 10-25 m square around a uniform anchor
    b = np.flatnonzero(~street)
    a_lon = rng.uniform(min_lon, max_lon, size=b.size)
    a_lat = rng.uniform(min_lat, max_lat, size=b.size)
    side = rng.uniform(10.0, 25.0, size=b.size) / _M_PER_DEG_LAT
    side_lon = side / np.cos(np.deg2rad(a_lat))
    for k, (dx, dy) in enumerate(((0, 0), (1, 0), (1, 1), (0, 1))):
        lon[first_new[b] + k] = a_lon + dx * side_lon
        lat[first_new[b] + k] = a_lat + dy * side
    # streets: random walks, restarted at a uniform anchor at every chain start
    s = np.flatnonzero(street)
    if s.size:
        node_of = np.flatnonzero(np.repeat(street, new_nodes))
        start = np.zeros(node_of.size, dtype=bool)
        start[np.concatenate([[0], np.cumsum(new_nodes[s])[:-1]])[chain_start[s]]] = True
        heading = np.cumsum(rng.normal(0.0, 0.35, size=node_of.size))
        step = rng.uniform(*_STEP_M, size=node_of.size)
        dlat = step * np.sin(heading) / _M_PER_DEG_LAT
        dlon = step * np.cos(heading) / (_M_PER_DEG_LAT * math.cos(math.radians((min_lat + max_lat) / 2)))
        dlat[start] = 0.0
        dlon[start] = 0.0
        chain = np.cumsum(start) - 1
        starts = np.flatnonzero(start)
        anchor_lon = rng.uniform(min_lon, max_lon, size=starts.size)
        anchor_lat = rng.uniform(min_lat, max_lat, size=starts.size)
        c_lon, c_lat = np.cumsum(dlon), np.cumsum(dlat)
        lon[node_of] = anchor_lon[chain] + c_lon - c_lon[starts][chain]
        lat[node_of] = anchor_lat[chain] + c_lat - c_lat[starts][chain]
    if exclude is not None:  # move nodes out of the base region's box (east of it)
        e0, f0, e1, f1 = exclude
        inside = (lon >= e0) & (lon <= e1) & (lat >= f0) & (lat <= f1)
        lon[inside] += (e1 - e0) + 0.01
    gaps = rng.integers(1, max(2, int(2 * mean_gap)), size=total)
    ids = node_base + np.cumsum(gaps)
    # ways: node index lists (a continued street starts at the last node of the previous street)
    count = np.where(street, length, 5)
    ptr = np.concatenate([[0], np.cumsum(count)])
    feat = np.repeat(np.arange(n_feat), count)
    j = np.arange(ptr[-1]) - ptr[feat]
    last = first_new + new_nodes - 1
    prev_last = np.full(n_feat, -1, dtype=np.int64)
    prev_last[s[1:]] = last[s[:-1]]
    ring = np.array([0, 1, 2, 3, 0])
    continued = street & ~chain_start
    local = np.where(street[feat], np.where(continued[feat], j - 1, j), ring[np.minimum(j, 4)])
    ref_idx = np.where(continued[feat] & (j == 0), prev_last[feat], first_new[feat] + local)
    way_refs = ids[ref_idx]
    kinds = _choose(rng, _HIGHWAYS, n_feat)
    extras = _choose(rng, _EXTRA_TAGS, n_feat)
    tags = [
        f"highway={k}{e}" if st else "building=yes" for st, k, e in zip(street.tolist(), kinds, extras, strict=True)
    ]
    way_ids = way_base + np.cumsum(rng.integers(1, 40, size=n_feat))
    return _Chunk(
        ids=ids.astype(np.int64),
        lon_e7=np.round(lon * 1e7).astype(np.int64),
        lat_e7=np.round(lat * 1e7).astype(np.int64),
        way_ids=way_ids.astype(np.int64),
        way_ptr=np.asarray(ptr, dtype=np.int64),
        way_refs=way_refs.astype(np.int64),
        way_tags=tags,
    )


def _base_extent(base_osm: Path) -> dict[str, Any]:
    """Largest ids, counts and lon/lat bounds of the base file."""
    import osmium

    max_node = max_way = max_rel = 0
    n_nodes = n_ways = 0
    lon0 = lat0 = math.inf
    lon1 = lat1 = -math.inf
    for obj in osmium.FileProcessor(str(base_osm)):
        if obj.is_node():
            n_nodes += 1
            max_node = max(max_node, obj.id)
            loc = obj.location
            lon0, lon1 = min(lon0, loc.lon), max(lon1, loc.lon)
            lat0, lat1 = min(lat0, loc.lat), max(lat1, loc.lat)
        elif obj.is_way():
            n_ways += 1
            max_way = max(max_way, obj.id)
        else:
            max_rel = max(max_rel, obj.id)
    return {
        "max_node": max_node,
        "max_way": max_way,
        "n_nodes": n_nodes,
        "n_ways": n_ways,
        "bounds": (lon0, lat0, lon1, lat1),
    }


def write_land_pbf(
    out: Path,
    *,
    base_osm: Path | None = None,
    n_nodes: int = 20_000_000,
    seed: int = 0,
    max_node_id: int = 12_000_000_000,
    chunk_nodes: int = 1_000_000,
    exclude_margin_deg: float = 0.45,
) -> dict[str, Any]:
    """Write a synthetic Land-sized ``.osm.pbf`` (atomically) and describe it.

    Parameters
    ----------
    out
        Target file (``.osm.pbf``); replaced atomically when complete.
    base_osm
        An OSM file whose nodes and ways are embedded unchanged (the model region).
    n_nodes
        Synthetic nodes (approximately; whole ways per chunk), besides the base.
    seed
        Seed of all randomness (same seed, same file content).
    max_node_id
        Synthetic node ids are spread up to about this id.
    chunk_nodes
        Nodes generated at a time (bounds the memory).
    exclude_margin_deg
        No synthetic node lies within the base's bounds widened by this many degrees.

    Returns
    -------
    dict
        ``nodes``, ``ways``, ``street_ways``, ``base_nodes``, ``base_ways``,
        ``max_node_id``, ``bytes``, ``seconds`` and ``exclude`` (lon/lat box).
    """
    import osmium

    t0 = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    base = _base_extent(base_osm) if base_osm is not None else None
    exclude = None
    node_base = way_base = 0
    if base is not None:
        lon0, lat0, lon1, lat1 = base["bounds"]
        m = float(exclude_margin_deg)
        exclude = (lon0 - m, lat0 - m, lon1 + m, lat1 + m)
        node_base = int(base["max_node"]) + 1000
        way_base = int(base["max_way"]) + 1000
    n_chunks = max(1, math.ceil(n_nodes / chunk_nodes))
    sizes = [chunk_nodes] * (n_chunks - 1) + [n_nodes - chunk_nodes * (n_chunks - 1)]
    mean_gap = max(1.0, (max_node_id - node_base) / max(n_nodes, 1))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    header = osmium.io.Header()
    header.set("generator", "kursatlas bench/_gen_pbf.py (synthetisch)")
    header.set("sorting", "Type_then_ID")
    header.add_box(
        osmium.osm.Box(osmium.osm.Location(LAND_BOX[0], LAND_BOX[1]), osmium.osm.Location(LAND_BOX[2], LAND_BOX[3]))
    )
    n_written = n_ways = n_streets = 0
    last_node_id = node_base
    bases: list[tuple[int, int]] = []
    try:
        with osmium.SimpleWriter(osmium.io.File(str(tmp), "pbf"), header=header, overwrite=True) as writer:
            if base_osm is not None:
                osmium.apply(osmium.io.Reader(str(base_osm), osmium.osm.NODE), writer)
            nb, wb = node_base, way_base
            for c, size in enumerate(sizes):
                bases.append((nb, wb))
                chunk = _chunk(
                    seed, c, size, node_base=nb, mean_gap=mean_gap, way_base=wb, box=LAND_BOX, exclude=exclude
                )
                osmium.apply(osmium.io.FileBuffer(_node_opl(chunk), "opl"), writer)
                n_written += chunk.ids.size
                nb, wb = int(chunk.ids[-1]), int(chunk.way_ids[-1])
                last_node_id = nb
            if base_osm is not None:
                osmium.apply(osmium.io.Reader(str(base_osm), osmium.osm.WAY), writer)
            for c, size in enumerate(sizes):
                nb, wb = bases[c]
                chunk = _chunk(
                    seed, c, size, node_base=nb, mean_gap=mean_gap, way_base=wb, box=LAND_BOX, exclude=exclude
                )
                osmium.apply(osmium.io.FileBuffer(_way_opl(chunk), "opl"), writer)
                n_ways += chunk.way_ids.size
                n_streets += sum(t.startswith("highway=") for t in chunk.way_tags)
            if base_osm is not None:
                osmium.apply(osmium.io.Reader(str(base_osm), osmium.osm.RELATION), writer)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {
        "nodes": n_written + (base["n_nodes"] if base else 0),
        "ways": n_ways + (base["n_ways"] if base else 0),
        "street_ways": n_streets,
        "base_nodes": base["n_nodes"] if base else 0,
        "base_ways": base["n_ways"] if base else 0,
        "max_node_id": last_node_id,
        "bytes": out.stat().st_size,
        "seconds": time.perf_counter() - t0,
        "exclude": exclude,
    }
