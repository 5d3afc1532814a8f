"""The disk cache of the travel-time stage: course columns, access matrices, day connections.

Kinds (each declared once here, keys built by :meth:`CacheKind.key
<coverage.cache.kinds.CacheKind.key>`, so the source of this module and of
:data:`~coverage.traveltime.engine.TRAVEL_CODE` enters every key):

* ``zugang`` (:data:`ACCESS`): snaps of the origins, walking access origins × stops,
  stops × walk nodes and the footpaths between stops, per origins, networks and
  access parameters (:func:`~coverage.cache.kinds.memoize`).
* ``reisezeiten_kurs`` (:data:`COURSE_COLUMNS`), ``reisezeiten_block`` (:data:`BLOCKS`)
  and ``reisezeiten_index`` (:data:`BLOCK_INDEX`): the columns of every course, alone
  or in blocks of many courses (see :func:`_cached_columns`).
* ``verbindungen`` (:data:`CONNECTIONS`): the connections of a service day.
* ``rufbus_verbindungen`` (:data:`RUFBUS_CONNECTIONS`): in regions with on-demand
  service, the connections of a service day with the on-demand ones merged in
  (:func:`coverage.traveltime.rufbus.merged_connections`), keyed like
  ``verbindungen`` (the networks' key covers the flex feed and the ``rufbus_*`` rules).

:func:`course_travel_times` is the stage's entry point, with and without a cache; the
computation itself is :func:`coverage.traveltime.engine.compute_travel_times`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import sys
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.cache.kinds import ArrayCodec, CacheKind, FunctionCodec, lookup, memoize, save
from coverage.transit import gtfs, routing
from coverage.traveltime import engine, rufbus
from coverage.traveltime.engine import TRAVEL_CODE, CourseTravelTimes, Networks, _horizon_s, _online, _Prepared

if TYPE_CHECKING:
    import geopandas as gpd

    from coverage.cache.store import Cache
    from coverage.inputs.config import Parameters
    from coverage.transit import Connections, Feed
    from coverage.transit.flex import FlexConnections

__all__ = [
    "ACCESS",
    "BLOCKS",
    "BLOCK_INDEX",
    "CONNECTIONS",
    "COURSE_COLUMNS",
    "RUFBUS_CONNECTIONS",
    "course_travel_times",
]

logger = logging.getLogger(__name__)

_CODE = (sys.modules[__name__], *TRAVEL_CODE)


def course_travel_times(
    origins: gpd.GeoDataFrame,
    courses: gpd.GeoDataFrame | pd.DataFrame,
    *,
    networks: Networks,
    params: Parameters,
    cache: Cache | None = None,
) -> CourseTravelTimes:
    """Door-to-door minutes for every origin, course and mode (worst course day).

    Parameters
    ----------
    origins
        Points (EPSG:25832) with ``herkunft_id``.
    courses
        Course table with geometry (None for online), ``beginn``, ``ende`` (minutes),
        ``wochentage``, ``erster_tag``, ``letzter_tag``, ``online``; candidate courses
        with identical site and schedule share one computation.
    networks
        Street networks and feed.
    params
        Speeds, access limits, thresholds (the largest group threshold bounds the searches).
    cache
        Optional disk cache. Each course's columns are addressed by a key made of the
        content of networks, feed and origins, the travel parameters, the course's
        location and schedule and the code version, so adding, removing or changing
        one course recomputes only that course, and a changed input never yields a
        stale result. Columns are stored in blocks of many courses (one file,
        memory-mapped on reading) plus single entries for courses added since the
        last block. The connections of each timetable day are stored too (kind
        ``verbindungen``, keyed by the networks' key, which covers the feed, and the
        day's service signature including the next day's night services), so routing
        a new course does not rebuild them. The way home after a course ending late
        sees the night trips of the next service day (departing up to the search
        horizon after midnight).

    Returns
    -------
    CourseTravelTimes
    """
    if cache is None or not networks.key:
        return engine.compute_travel_times(origins, courses, networks=networks, params=params)
    return _cached_columns(origins, courses, networks=networks, params=params, cache=cache)


def _compute_cached(
    origins: gpd.GeoDataFrame,
    courses: gpd.GeoDataFrame | pd.DataFrame,
    *,
    networks: Networks,
    params: Parameters,
    cache: Cache,
) -> CourseTravelTimes:
    """:func:`~coverage.traveltime.engine.compute_travel_times` with access matrices and connections from ``cache``."""

    def connections(feed: Feed, date: dt.date, signature: tuple[str, ...], next_day_s: int) -> Connections:
        return _day_connections(feed, date, signature, networks.key, cache, next_day_s=next_day_s)

    def merged(nets: Networks, date: dt.date, signature: tuple[str, ...], next_day_s: int) -> FlexConnections:
        return _rufbus_connections(nets, date, signature, cache, next_day_s=next_day_s)

    return engine.compute_travel_times(
        origins,
        courses,
        networks=networks,
        params=params,
        prepare=functools.partial(_prepare_cached, cache=cache),
        connections=connections,
        rufbus_connections=merged,
    )


# --------------------------------------------------------------------------- zugang


@dataclass(frozen=True)
class _AccessCodec:
    """A :class:`~coverage.traveltime.engine._Prepared` as named arrays (sparse matrices as CSR/CSC parts)."""

    def encode(self, prep: _Prepared) -> dict[str, np.ndarray]:
        arrays = {
            "walk_node": prep.walk_node,
            "walk_snap_s": prep.walk_snap_s,
            "bike_node": prep.bike_node,
            "bike_snap_s": prep.bike_snap_s,
        }
        if prep.access is not None:
            arrays.update(
                shape=np.array([prep.access.shape[0], prep.access.shape[1], prep.stop_tree.shape[1]]),
                access_data=prep.access.data,
                access_indices=prep.access.indices,
                access_indptr=prep.access.indptr,
                tree_data=prep.stop_tree.data,
                tree_indices=prep.stop_tree.indices,
                tree_indptr=prep.stop_tree.indptr,
                stop_snap_s=prep.stop_snap_s,
                fp_indptr=prep.footpaths.indptr,
                fp_indices=prep.footpaths.indices,
                fp_seconds=prep.footpaths.seconds,
            )
        return arrays

    def decode(self, hit: Any) -> _Prepared | None:
        if not isinstance(hit, dict) or not {"walk_node", "walk_snap_s", "bike_node", "bike_snap_s"} <= set(hit):
            return None
        prep = _Prepared(
            hit["walk_node"], hit["walk_snap_s"], hit["bike_node"], hit["bike_snap_s"], None, None, None, None
        )
        if "access_data" in hit:
            try:
                n_o, n_s, n_n = (int(v) for v in hit["shape"])
                prep.access = sp.csr_matrix(
                    (hit["access_data"], hit["access_indices"], hit["access_indptr"]), shape=(n_o, n_s)
                )
                prep.stop_tree = sp.csc_matrix(
                    (hit["tree_data"], hit["tree_indices"], hit["tree_indptr"]), shape=(n_s, n_n)
                )
                prep.stop_snap_s = hit["stop_snap_s"]
                prep.footpaths = routing.Footpaths(hit["fp_indptr"], hit["fp_indices"], hit["fp_seconds"])
            except (KeyError, TypeError, ValueError):  # incomplete or inconsistent: computed again
                return None
        return prep


ACCESS: CacheKind[_Prepared] = CacheKind(
    name="zugang", code=_CODE, keep=5, codec=_AccessCodec(), label="Zugangswege"
)
"""Snaps and walking access of the origins (per origins, networks and access parameters)."""


def _prepare_cached(xy: np.ndarray, nets: Networks, params: Parameters, cache: Cache | None) -> _Prepared:
    """:func:`~coverage.traveltime.engine._prepare`, from ``cache`` if origins, networks and access are unchanged."""
    if cache is None or not nets.key:
        return engine._prepare(xy, nets, params)
    key = ACCESS.key(
        xy, nets.key, (params.geh_m_s, params.max_fangdistanz_m, params.max_zugang_min, params.max_umstieg_m)
    )
    return memoize(cache, ACCESS, key, lambda: engine._prepare(xy, nets, params))


# --------------------------------------------------------------------------- course columns


@dataclass(frozen=True)
class _ColumnCodec:
    """The columns ``(hin, rueck)`` of one course, each ``(n_modes, n_origins)`` float32 (shape checked if given)."""

    shape: tuple[int, int] | None = None

    def encode(self, value: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
        return {"hin": value[0], "rueck": value[1]}

    def decode(self, hit: Any) -> tuple[np.ndarray, np.ndarray] | None:
        if not isinstance(hit, dict) or not all(
            k in hit
            and hit[k].ndim == 2
            and (self.shape is None or hit[k].shape == self.shape)
            and hit[k].dtype == np.float32
            for k in ("hin", "rueck")
        ):
            return None
        return hit["hin"], hit["rueck"]


COURSE_COLUMNS: CacheKind[tuple[np.ndarray, np.ndarray]] = CacheKind(
    name="reisezeiten_kurs", code=_CODE, keep=20000, codec=_ColumnCodec(), label="Reisezeiten eines Kurses"
)
"""The columns of one course (keyed by its course key, see :func:`_course_keys`)."""

BLOCKS: CacheKind[dict[str, np.ndarray]] = CacheKind(
    name="reisezeiten_block",
    code=_CODE,
    keep=10,
    codec=ArrayCodec(("kurse", "hin", "rueck")),
    label="Reisezeiten vieler Kurse",
)
"""The columns of many courses in one entry; read memory-mapped (see :func:`_from_blocks`)."""


def _index_arrays(entries: list[tuple[str, list[str]]]) -> dict[str, np.ndarray]:
    return {
        "bloecke": np.array([b for b, _ in entries], dtype="S64"),
        "laengen": np.array([len(ks) for _, ks in entries], dtype=np.int64),
        "kurse": np.array([k for _, ks in entries for k in ks], dtype="S64"),
    }


def _index_blocks(index: object) -> list[tuple[str, list[str]]] | None:
    """``(block key, course keys)`` pairs of an index entry, newest first (None for an odd entry)."""
    if not isinstance(index, dict) or not {"bloecke", "laengen", "kurse"} <= set(index):
        return None
    try:
        names = _key_list(index["bloecke"])
        lengths = [int(v) for v in index["laengen"].tolist()]
        course_keys = _key_list(index["kurse"])
    except (TypeError, ValueError):
        return None
    if len(names) != len(lengths) or sum(lengths) != len(course_keys) or min(lengths, default=0) < 0:
        return None
    ends = np.cumsum(lengths, dtype=np.int64).tolist()
    return [(n, course_keys[e - ln : e]) for n, ln, e in zip(names, lengths, ends, strict=True)]


BLOCK_INDEX: CacheKind[list[tuple[str, list[str]]]] = CacheKind(
    name="reisezeiten_index",
    code=_CODE,
    keep=10,
    codec=FunctionCodec(_index_arrays, _index_blocks),
    label="Verzeichnis der Reisezeit-Blöcke",
)
"""Which blocks exist for one base key (origins, networks, parameters) and which course keys they hold."""

_BLOCK_MIN = 8
"""A new block is written when at least this many courses (and an eighth of the table) came from elsewhere."""
_INDEX_LEN = 8
"""Blocks listed per origins/networks/parameters key."""


@functools.cache
def _holidays_version() -> str:
    """Installed version of the ``holidays`` package (read once per process: the lookup costs ~10 ms)."""
    import importlib.metadata

    return importlib.metadata.version("holidays")


def _base_key(origins: gpd.GeoDataFrame, xy: np.ndarray, networks: Networks, params: Parameters) -> str:
    """Fingerprint of everything all courses' columns depend on (origins, networks, parameters, code)."""
    return COURSE_COLUMNS.key(
        origins["herkunft_id"].to_numpy(),
        xy,
        networks.key,
        (
            params.geh_m_s,
            params.rad_m_s,
            params.max_fangdistanz_m,
            params.max_zugang_min,
            params.max_umstieg_m,
            params.feiertage_land,
            _horizon_s(params),
        ),
        _holidays_version(),
    )


def _date_text(value: object) -> str:
    """Type-tagged text of a course date for the course key."""
    if isinstance(value, dt.date):  # also datetime and pandas Timestamp
        return f"{type(value).__name__}:{value.isoformat()}"
    return f"{type(value).__name__}:{value!r}"


def _course_keys(courses: gpd.GeoDataFrame | pd.DataFrame, base: str) -> list[str]:
    """One content key per course: ``base`` plus exactly the course fields the engine reads.

    The site enters rounded to 0.1 m as in :func:`~coverage.traveltime.engine.compute_travel_times`
    (which routes from the rounded coordinates), so equal keys always mean equal columns.
    ``base`` is a :data:`COURSE_COLUMNS` key (it holds the code); the per-course keys are
    derived from it with one SHA-256 each over the course fields (a rerun keys 20,000
    courses, a :meth:`~coverage.cache.kinds.CacheKind.key` call each would cost more
    than the lookups).
    """
    n = len(courses)
    online = _online(courses)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    located = np.nonzero(~online)[0]
    if located.size:
        geo = courses.geometry.iloc[located]
        site_xy = np.round(np.column_stack([geo.x.to_numpy(), geo.y.to_numpy()]), 1)
        x[located], y[located] = site_xy[:, 0], site_xy[:, 1]
    beginn = [int(v) for v in courses["beginn"].tolist()]
    ende = [int(v) for v in courses["ende"].tolist()]
    days = [[int(d) for d in v] for v in courses["wochentage"].tolist()]
    first = [_date_text(v) for v in courses["erster_tag"].tolist()]
    last = [_date_text(v) for v in courses["letzter_tag"].tolist()]
    prefix = b"kurs\0" + base.encode() + b"\0"
    keys = []
    for i in range(n):
        where = None if online[i] else [float(x[i]).hex(), float(y[i]).hex()]
        payload = json.dumps([bool(online[i]), where, beginn[i], ende[i], days[i], first[i], last[i]])
        keys.append(hashlib.sha256(prefix + payload.encode()).hexdigest())
    return keys




def _copy_columns(dst: np.ndarray, dst_cols: np.ndarray, src: np.ndarray, src_cols: np.ndarray) -> None:
    """``dst[:, :, dst_cols] = src[:, :, src_cols]`` as slice copies over runs of consecutive columns.

    Fancy indexing on the last axis is several times slower than copying slices; the
    columns to copy usually form one or a few runs.
    """
    if len(dst_cols) == 0:
        return
    order = np.argsort(dst_cols, kind="stable")
    d = np.asarray(dst_cols)[order]
    s = np.asarray(src_cols)[order]
    cut = np.nonzero((np.diff(d) != 1) | (np.diff(s) != 1))[0] + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [len(d)]])
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        dst[:, :, d[a] : d[b - 1] + 1] = src[:, :, s[a] : s[b - 1] + 1]


_PARALLEL_BYTES = 1 << 23
"""Copies of ``hin`` and ``rueck`` larger than this (each) run side by side in two threads."""


def _copy_pair(
    dst: tuple[np.ndarray, np.ndarray],
    dst_cols: np.ndarray,
    src: tuple[np.ndarray, np.ndarray],
    src_cols: np.ndarray,
) -> None:
    """:func:`_copy_columns` for ``hin`` and ``rueck`` (``dst[i][:, :, dst_cols] = src[i][:, :, src_cols]``).

    Large copies run in two threads, one per array: numpy releases the GIL while
    copying, so on two cores the copies, and the page faults of freshly allocated
    result arrays, overlap (a rerun copies the columns of all unchanged courses from
    a block, 2 × 60 MB at county scale). Both copies have finished when this returns,
    also when one fails, so no view of a memory-mapped source outlives the call.
    """
    n_bytes = len(dst_cols) * src[0].shape[0] * src[0].shape[1] * src[0].itemsize
    if n_bytes < _PARALLEL_BYTES:
        _copy_columns(dst[0], dst_cols, src[0], src_cols)
        _copy_columns(dst[1], dst_cols, src[1], src_cols)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kursatlas-kopie") as pool:
        first = pool.submit(_copy_columns, dst[0], dst_cols, src[0], src_cols)
        _copy_columns(dst[1], dst_cols, src[1], src_cols)
        first.result()


def _cached_columns(
    origins: gpd.GeoDataFrame,
    courses: gpd.GeoDataFrame | pd.DataFrame,
    *,
    networks: Networks,
    params: Parameters,
    cache: Cache,
) -> CourseTravelTimes:
    """:func:`course_travel_times` with the per-course disk cache.

    Storage (all content-addressed, so no entry can be stale):

    * ``reisezeiten_block/<key>`` (:data:`BLOCKS`): the columns of many courses,
      ``kurse`` (their course keys), ``hin`` and ``rueck`` ``(n_modes, n_o, n_courses)``;
      the block key is a :meth:`~coverage.cache.kinds.CacheKind.key` over the index
      key and the course keys.
    * ``reisezeiten_kurs/<course key>`` (:data:`COURSE_COLUMNS`): the columns
      ``(n_modes, n_o)`` of one course.
    * ``reisezeiten_index/<index key>`` (:data:`BLOCK_INDEX`): which blocks exist for
      these origins, networks and parameters and which course keys they hold. Only a
      hint: a block is used for a course only if the block itself lists the course's key.

    Courses are served from blocks first, then from single entries, the rest is
    computed. A run that served most courses from blocks writes single entries for
    the computed courses; otherwise (first run, or many courses changed since the
    last block) it writes one new block of all its courses and drops older blocks
    that the new one contains.

    Why not :func:`~coverage.cache.kinds.memoize`: the columns of thousands of courses
    are looked up at once and the missing ones computed together in one routing pass
    (:func:`~coverage.cache.kinds.lookup` / :func:`~coverage.cache.kinds.save` per
    course); blocks are read memory-mapped (:meth:`Cache.mapped
    <coverage.cache.store.Cache.mapped>`) and copied straight into the result, and the
    index is rewritten whenever a block is.
    """
    xy = np.column_stack([origins.geometry.x.to_numpy(), origins.geometry.y.to_numpy()])
    base = _base_key(origins, xy, networks, params)
    keys = _course_keys(courses, base)
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(k, len(first)) for k in keys), dtype=np.int64, count=len(keys))
    ukeys = list(first)
    first_row = np.unique(inverse, return_index=True)[1]  # the first course of every key
    modes = networks.modes
    n_m, n_o, n_u = len(modes), len(origins), len(ukeys)
    filled = np.zeros(n_u, dtype=bool)
    index_key = BLOCK_INDEX.key(base)
    blocks = lookup(cache, BLOCK_INDEX, index_key) or []
    u_hin, u_rueck, n_block = _from_blocks(cache, blocks, ukeys, filled, n_m=n_m, n_o=n_o)
    n_single = 0
    column = _ColumnCodec((n_m, n_o))
    for j in np.nonzero(~filled)[0].tolist():
        hit = lookup(cache, COURSE_COLUMNS, ukeys[j], codec=column)
        if hit is not None:
            u_hin[:, :, j], u_rueck[:, :, j] = hit
            filled[j] = True
            n_single += 1
    missed = np.nonzero(~filled)[0]
    if missed.size:
        sub = _compute_cached(origins, courses.iloc[first_row[missed]], networks=networks, params=params, cache=cache)
        if missed.size == n_u:
            u_hin, u_rueck = sub.hin, sub.rueck
        else:
            _copy_pair((u_hin, u_rueck), missed, (sub.hin, sub.rueck), np.arange(missed.size))
    loose = n_u - n_block
    if loose >= _BLOCK_MIN and 8 * loose >= n_u:
        _write_block(cache, index_key, blocks, ukeys, u_hin, u_rueck)
    else:
        for j, i in enumerate(missed.tolist()):
            save(cache, COURSE_COLUMNS, ukeys[i], (sub.hin[:, :, j], sub.rueck[:, :, j]))
    logger.info(
        "Reisezeiten: %d von %d Kursen aus dem Cache (%d aus Sammeleinträgen, %d einzeln), %d neu berechnet",
        n_block + n_single,
        n_u,
        n_block,
        n_single,
        missed.size,
    )
    if n_u == len(keys):  # no two courses share a key: the unique columns are the table
        hin, rueck = u_hin, u_rueck
    else:
        hin = np.empty((n_m, n_o, len(keys)), dtype=np.float32)
        rueck = np.empty_like(hin)
        _copy_pair((hin, rueck), np.arange(len(keys)), (u_hin, u_rueck), inverse)
    return CourseTravelTimes(
        origin_ids=origins["herkunft_id"].to_numpy(),
        course_ids=courses["kurs_id"].astype(str).to_numpy(),
        modes=modes,
        hin=hin,
        rueck=rueck,
        column_keys=np.array(keys, dtype="U64"),
    )




def _key_list(arr: np.ndarray) -> list[str]:
    """Hex keys stored as a 1-D bytes array."""
    if arr.ndim != 1 or arr.dtype.kind != "S":
        raise ValueError("Schlüsselliste hat die falsche Form")
    return [k.decode("ascii") for k in arr.tolist()]


def _from_blocks(
    cache: Cache,
    blocks: list[tuple[str, list[str]]],
    ukeys: list[str],
    filled: np.ndarray,
    *,
    n_m: int,
    n_o: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """New ``(hin, rueck)`` arrays for ``ukeys``, filled from block entries, and the number of columns filled.

    A block is used for the courses its own (checksummed) key list holds; the
    index only says which blocks to open. Blocks are memory-mapped and copied
    straight into the result.
    """
    pos = {k: j for j, k in enumerate(ukeys)}
    hin = np.empty((n_m, n_o, len(ukeys)), dtype=np.float32)
    rueck = np.empty_like(hin)
    n = 0
    for name, listed in blocks:
        if filled.all():
            break
        if not any(k in pos and not filled[pos[k]] for k in listed):
            continue
        with cache.mapped(BLOCKS.name, name) as hit:
            if not isinstance(hit, dict) or not {"kurse", "hin", "rueck"} <= set(hit):
                continue
            try:
                held = _key_list(hit["kurse"])
            except ValueError:
                held = []
            shape = (n_m, n_o, len(held))
            if not held or any(hit[a].shape != shape or hit[a].dtype != np.float32 for a in ("hin", "rueck")):
                logger.warning("Cache-Sammeleintrag %s passt nicht zu den Herkunftsorten, wird übergangen", name)
                continue
            dst, src = [], []
            for s, k in enumerate(held):
                j = pos.get(k)
                if j is not None and not filled[j]:
                    filled[j] = True
                    dst.append(j)
                    src.append(s)
            dst_cols, src_cols = np.array(dst, dtype=np.int64), np.array(src, dtype=np.int64)
            _copy_pair((hin, rueck), dst_cols, (hit["hin"], hit["rueck"]), src_cols)
            n += len(dst)
            del hit  # no view may outlive the mapping
    return hin, rueck, n


def _write_block(
    cache: Cache,
    index_key: str,
    blocks: list[tuple[str, list[str]]],
    ukeys: list[str],
    hin: np.ndarray,
    rueck: np.ndarray,
) -> None:
    """Store all columns as one block, list it first in the index and drop the blocks it contains."""
    listed_keys = np.array(ukeys, dtype="S64")
    name = BLOCKS.key(index_key, listed_keys)
    cache.put(BLOCKS.name, name, {"kurse": listed_keys, "hin": hin, "rueck": rueck})
    mine = set(ukeys)
    kept = []
    for other, listed in blocks:
        if other == name:
            continue
        if set(listed) <= mine:
            cache.discard(BLOCKS.name, other)
        else:
            kept.append((other, listed))
    save(cache, BLOCK_INDEX, index_key, [(name, ukeys), *kept][:_INDEX_LEN])


# --------------------------------------------------------------------------- verbindungen

_CONNECTION_ARRAYS: dict[str, type] = {
    "dep_stop": np.int32,
    "arr_stop": np.int32,
    "dep_time": np.int32,
    "arr_time": np.int32,
    "trip": np.int32,
    "board": np.bool_,
    "alight": np.bool_,
    "rev_order": np.int64,
}
_RUN_ARRAYS: dict[str, type] = {"run_trip": np.int32, "run_day_offset": np.int32}

CONNECTIONS: CacheKind[Any] = CacheKind(
    name="verbindungen",
    code=_CODE,
    keep=30,
    codec=ArrayCodec((*_CONNECTION_ARRAYS, *_RUN_ARRAYS)),
    label="Verbindungen eines Fahrplantags",
)
"""The connections of one service day (decoded against the feed by :class:`_ConnectionsCodec`)."""


@dataclass(frozen=True)
class _ConnectionsCodec:
    """:class:`~coverage.transit.gtfs.Connections` of ``date`` as arrays; decoding checks them against ``feed``."""

    feed: Feed
    date: dt.date

    def encode(self, conns: Connections) -> dict[str, np.ndarray]:
        return {name: getattr(conns, name) for name in (*_CONNECTION_ARRAYS, *_RUN_ARRAYS)}

    def decode(self, hit: Any) -> Connections | None:
        return _connections_from(hit, self.feed, self.date)


def _day_connections(
    feed: Feed,
    date: dt.date,
    signature: tuple[str, ...],
    nets_key: str,
    cache: Cache | None,
    *,
    next_day_s: int = -1,
) -> Connections:
    """``feed.connections(date, next_day_s=next_day_s)``, through the disk cache (kind ``verbindungen``).

    Building a day's connections costs more than reading them: a rerun that computes
    one new course would build them again for its course days. The entry is keyed by
    ``nets_key`` (:attr:`Networks.key`, which covers the feed's content), the
    timetable signature of the day (:meth:`Feed.service_signature`: days with equal
    signatures have identical connections, so one entry serves all of them) and
    the code. ``signature`` must be ``feed.service_signature(date, next_day_s=next_day_s)``:
    it names the next day's night services and the cut-off, and ``next_day_s`` enters
    the key as well. A hit gives the same arrays as building them; an entry that does
    not fit the feed is logged, deleted and built again.

    Not :func:`~coverage.cache.kinds.memoize`: a failed write (disk full) only costs
    the next run the building, so it is logged and the run goes on.
    """
    if cache is None or not nets_key:
        return feed.connections(date, next_day_s=next_day_s)
    key = CONNECTIONS.key(nets_key, signature, int(next_day_s), feed.n_stops)
    codec = _ConnectionsCodec(feed, date)
    conns = lookup(cache, CONNECTIONS, key, codec=codec)
    if conns is not None:
        return conns
    conns = feed.connections(date, next_day_s=next_day_s)
    try:
        save(cache, CONNECTIONS, key, conns, codec=codec)
    except OSError as exc:
        logger.warning("Verbindungen des %s nicht im Cache gespeichert (%s)", date.isoformat(), exc)
    return conns


def _connections_from(hit: object, feed: Feed, date: dt.date, *, n_stops: int | None = None) -> Connections | None:
    """The :class:`~coverage.transit.gtfs.Connections` of ``date`` from a cache entry (None: not fitting ``feed``).

    ``n_stops`` (default ``feed.n_stops``): stop indices of the entry, the feed's
    first (more for the Rufbus stops; their change time is 0).
    """
    n_all = feed.n_stops if n_stops is None else int(n_stops)
    names = {**_CONNECTION_ARRAYS, **_RUN_ARRAYS}
    if not isinstance(hit, dict) or set(hit) != set(names):
        return None
    if any(hit[n].ndim != 1 or hit[n].dtype != np.dtype(t) for n, t in names.items()):
        return None
    m = hit["dep_stop"].shape[0]
    n_trips = hit["run_trip"].shape[0]
    if any(hit[n].shape[0] != m for n in _CONNECTION_ARRAYS) or hit["run_day_offset"].shape[0] != n_trips:
        return None
    if m and not (
        min(int(hit["dep_stop"].min()), int(hit["arr_stop"].min())) >= 0
        and max(int(hit["dep_stop"].max()), int(hit["arr_stop"].max())) < n_all
        and 0 <= int(hit["trip"].min()) <= int(hit["trip"].max()) < n_trips
        and 0 <= int(hit["rev_order"].min()) <= int(hit["rev_order"].max()) < m
    ):
        return None
    mt = np.asarray(feed.min_transfer_time, dtype=np.float64)
    return gtfs.Connections(
        **{n: hit[n] for n in _CONNECTION_ARRAYS},
        n_stops=n_all,
        n_trips=n_trips,
        run_trip=hit["run_trip"],
        run_day_offset=hit["run_day_offset"],
        stop_ids=feed.stop_ids,
        min_transfer=mt if n_all == feed.n_stops else np.concatenate([mt, np.zeros(n_all - feed.n_stops)]),
        date=date,
    )


# --------------------------------------------------------------------------- rufbus_verbindungen

_FLEX_ARRAYS: dict[str, type] = {
    "bedarf": np.bool_,
    "voranmeldung_min": np.float64,
    "run_service": np.int32,
    "hub_stop": np.int32,
    "hub_x": np.float64,
    "hub_y": np.float64,
}

RUFBUS_CONNECTIONS: CacheKind[Any] = CacheKind(
    name="rufbus_verbindungen",
    code=_CODE,
    keep=30,
    codec=ArrayCodec((*_CONNECTION_ARRAYS, *_RUN_ARRAYS, *_FLEX_ARRAYS)),
    label="Verbindungen eines Fahrplantags mit Rufbus",
)
"""The connections of one service day with the on-demand ones (decoded by :class:`_RufbusCodec`)."""


@dataclass(frozen=True)
class _RufbusCodec:
    """:class:`~coverage.transit.flex.FlexConnections` of ``date`` as arrays; decoding checks them."""

    networks: Networks
    date: dt.date

    def encode(self, fc: FlexConnections) -> dict[str, np.ndarray]:
        c = fc.connections
        out = {name: getattr(c, name) for name in (*_CONNECTION_ARRAYS, *_RUN_ARRAYS)}
        out.update({name: np.asarray(getattr(fc, name), dtype=t) for name, t in _FLEX_ARRAYS.items()})
        return out

    def decode(self, hit: Any) -> FlexConnections | None:
        from coverage.transit.flex import FlexConnections

        if not isinstance(hit, dict) or set(hit) != {*_CONNECTION_ARRAYS, *_RUN_ARRAYS, *_FLEX_ARRAYS}:
            return None
        feed = self.networks.feed
        x, _ = self.networks.stop_xy()
        n_stops = len(x)
        plain = {k: hit[k] for k in (*_CONNECTION_ARRAYS, *_RUN_ARRAYS)}
        conns = _connections_from(plain, feed, self.date, n_stops=n_stops)
        m, n_trips = len(hit["dep_stop"]), len(hit["run_trip"])
        if conns is None or any(hit[n].ndim != 1 or hit[n].dtype != np.dtype(t) for n, t in _FLEX_ARRAYS.items()):
            return None
        sizes = (hit["bedarf"].shape[0], hit["voranmeldung_min"].shape[0], hit["run_service"].shape[0])
        if sizes != (m, m, n_trips):
            return None
        if self.networks.flex is not None:
            ids = self.networks.flex.stop_layout(feed.stop_ids)[0]
        else:
            ids = np.asarray(feed.stop_ids, dtype=object)
        conns = replace(conns, stop_ids=ids)
        return FlexConnections(
            conns,
            hit["bedarf"],
            hit["voranmeldung_min"],
            ids,
            feed.n_stops,
            hit["hub_stop"],
            hit["hub_x"],
            hit["hub_y"],
            hit["run_service"],
        )


def _rufbus_connections(
    networks: Networks,
    date: dt.date,
    signature: tuple[str, ...],
    cache: Cache | None,
    *,
    next_day_s: int = -1,
) -> FlexConnections:
    """:func:`coverage.traveltime.rufbus.merged_connections`, through the disk cache (``rufbus_verbindungen``).

    Keyed like :func:`_day_connections`: :attr:`Networks.key` (which, in a region
    with on-demand service, covers the flex feed's content, the on-demand mask, the
    lead time and the model parameters), the day's
    :func:`~coverage.traveltime.rufbus.day_signature`, ``next_day_s`` and the
    number of stops. A failed write is logged.
    """
    if cache is None or not networks.key:
        return rufbus.merged_connections(networks, date, signature, next_day_s)
    n_stops = len(networks.stop_xy()[0])
    key = RUFBUS_CONNECTIONS.key(networks.key, signature, int(next_day_s), n_stops)
    codec = _RufbusCodec(networks, date)
    hit = lookup(cache, RUFBUS_CONNECTIONS, key, codec=codec)
    if hit is not None:
        return hit
    fc = rufbus.merged_connections(networks, date, signature, next_day_s)
    try:
        save(cache, RUFBUS_CONNECTIONS, key, fc, codec=codec)
    except OSError as exc:
        logger.warning("Rufbus-Verbindungen des %s nicht im Cache gespeichert (%s)", date.isoformat(), exc)
    return fc
