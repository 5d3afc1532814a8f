"""The coverage computation in independent blocks, with content-keyed reuse (private).

A *block* is a set of levels that no course connects to another level, with its
segments and its courses (usually one level; a course ``A1, A2`` joins A1 and A2).
Reach, the seat assignment at the three thresholds (analysis, ``−`` and ``+``
``params.sensitivitaet_min``) and the E2SFCA index of one block depend only on the
block's own inputs, so a block is computed as a whole and its result is stored
under a key that is a SHA-256 fingerprint of *every* array the computation reads:
the segments' codes and persons, the courses' attributes and seats, the travel
times of the block's courses, the group rules, thresholds and E2SFCA bands, and the
source code of the modules involved. Course ids are not part of the key; a changed
input always gives a new key, so a stored result can never be stale – only
missing.

Results are kept in the caller's :class:`~coverage.cache.session.Session`
(``session.blocks``, bounded by bytes) and, if a :class:`coverage.cache.store.Cache`
is given, on disk (kind :data:`KIND`). After one course was added, removed or
changed, only the blocks of its levels are computed again. Inside such a block, the
per-course pieces that do not depend on the other courses – the candidate reach
pairs of a course and its E2SFCA weights – are taken from the session
(``session.parts``) when a course with the same content was seen with the same
segments and rules (SHA-256 keys over those inputs); the candidate pairs are also
kept on disk (kind :data:`PARTS_KIND`), so a new process reuses them too. Without a
session nothing is kept in memory; without a cache nothing on disk. Everything else
is computed from scratch, in particular the assignment (no warm start that could
pick another of several equally good assignments), so the result is the same as in
a run without any stored results.

Both kinds are read in batches rather than through :func:`coverage.cache.kinds.memoize`:
:func:`compute_blocks` starts the blocks that have no stored result in a worker
thread while it reads the others (and checks their shapes against the block), and
:func:`_candidates_reused` reads the *previous* candidate matrix of a set of
segments to take its columns, not a finished value.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import xxhash

from coverage._compat import import_numba
from coverage.analysis import _netsimplex, _transport, accessibility
from coverage.analysis import _reachcore as _rc
from coverage.analysis import reach as _reach
from coverage.analysis._transport import assign_csr
from coverage.analysis.accessibility import e2sfca, travel_weights
from coverage.cache.kinds import ArrayCodec, CacheKind

if TYPE_CHECKING:
    from coverage.analysis.reach import _Prepared
    from coverage.cache.session import Session
    from coverage.cache.store import Cache

_numba = import_numba()
njit = _numba.njit

__all__ = ["KIND", "PARTS_KIND", "Problem", "assemble", "compute_blocks", "level_blocks"]

logger = logging.getLogger(__name__)

_CODE = (sys.modules[__name__], _rc, _transport, _netsimplex, accessibility, _reach)
"""Modules whose source enters the keys of both kinds."""
BLOCK_ARRAYS: tuple[str, ...] = (
    "ok_ptr", "ok_idx", "ok_min", "stage", "stage_off", "flow_ptr", "flow_idx", "flow_val", "served",
    "served_minus", "served_plus", "e2sfca", "total_minutes", "n_variables", "reach_persons", "sums",
    "sums_shift", "median",
)
"""Named arrays of a block result (:func:`solve_block`)."""
PARTS_ARRAYS: tuple[str, ...] = ("keys", "ptr", "idx", "t_hin", "t_both")
"""Named arrays of a stored candidate matrix (:func:`_candidates_reused`)."""

KIND: CacheKind[dict] = CacheKind(name="versorgung_block", code=_CODE, keep=60, codec=ArrayCodec(BLOCK_ARRAYS),
                                  label="Versorgungsblock")
"""Cache kind of the block results (key: :func:`block_key`)."""
PARTS_KIND: CacheKind[dict] = CacheKind(name="versorgung_kandidaten", code=_CODE, keep=12,
                                        codec=ArrayCodec(PARTS_ARRAYS), label="Kandidatenpaare")
"""Cache kind of the candidate pairs of a block's segments, one column per course (reused by column)."""

ROUND_MINUTES = 1.0
"""Minutes are rounded to this step for the tie-break of the assignment (merges segments)."""

_WORKERS = 2 if (os.cpu_count() or 1) > 1 else 1
"""Worker threads for the independent parts of one block (assignments at the shifted thresholds, E2SFCA)."""


@dataclass(frozen=True)
class Problem:
    """Everything the block computations read, as plain arrays.

    Attributes
    ----------
    prep
        Codes and course/group arrays from :func:`coverage.analysis.reach._prepare`.
    persons
        ``(n_s,)`` persons per segment.
    capacity
        ``(n_c,)`` seats per course.
    limits
        ``(3, n_g)`` threshold per group: analysis, shifted by ``−m`` and by ``+m``.
    hin, rueck
        Travel times ``(n_m, n_o, n_t)``.
    modes
        Mode names of the first axis of ``hin``.
    e2sfca_modes
        ``(n_m,)`` bool: modes of the E2SFCA cost.
    bands
        E2SFCA bands.
    seg_mk
        ``(n_s,)`` row of every segment's Mitgliedskommune (-1 if unknown).
    n_mk
        Number of Mitgliedskommunen.
    origin_mk
        ``(n_o,)`` Mitgliedskommune of every origin (that of its first segment, -1 if none).
    column_keys
        ``(n_t,)`` content keys of the travel columns
        (:attr:`coverage.traveltime.engine.CourseTravelTimes.column_keys`), or None: then the
        columns are identified by :func:`column_digests` of their values.
    """

    prep: _Prepared
    persons: np.ndarray
    capacity: np.ndarray
    limits: np.ndarray
    hin: np.ndarray
    rueck: np.ndarray
    modes: tuple[str, ...]
    e2sfca_modes: np.ndarray
    bands: tuple[tuple[float, float], ...]
    seg_mk: np.ndarray
    n_mk: int
    origin_mk: np.ndarray
    column_keys: np.ndarray | None = None


UNSERVED_TOL = 1e-6
"""Persons below this count as served (for the reason ``kurs_voll``)."""

SUM_COLUMNS: tuple[str, ...] = (
    "personen", "erreichbar", "versorgt", "unversorgt", "kein_kurs", "kein_rueckweg", "termin", "kinderbetreuung",
    "kurs_voll", "nur_online",
)
"""Columns of the block sums per Mitgliedskommune × level (see :func:`segment_sums`)."""


def level_blocks(level_ok: np.ndarray, seg_level: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Independent blocks: ``(levels, segment rows, course columns)`` each, sorted.

    Levels are joined when a course offers both; a block exists for every group of
    levels with a segment or a course. Courses without any level belong to no block.
    """
    n_l = level_ok.shape[0]
    root = list(range(n_l))

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    for c in range(level_ok.shape[1]):
        lv = np.nonzero(level_ok[:, c])[0]
        for b in lv[1:]:
            ra, rb = find(int(lv[0])), find(int(b))
            if ra != rb:
                root[max(ra, rb)] = min(ra, rb)
    label = np.array([find(a) for a in range(n_l)], np.int64)
    seg_block = label[seg_level] if len(seg_level) else np.zeros(0, np.int64)
    out = []
    for r in sorted(set(label.tolist())):
        levels = np.nonzero(label == r)[0]
        segs = np.nonzero(seg_block == r)[0]
        crs = np.nonzero(level_ok[levels].any(axis=0))[0]
        if len(segs) or len(crs):
            out.append((levels, segs, crs))
    return out


# --------------------------------------------------------------------------- one block


def _site_weights(problem: Problem, sites: np.ndarray, digests: np.ndarray | None, session: Session | None
                  ) -> np.ndarray:
    """``(n_o, len(sites))`` E2SFCA weights; columns of courses with known content are reused from ``session``."""
    p = problem.prep
    modes = np.nonzero(problem.e2sfca_modes)[0]
    cols = p.travel_cols[sites]
    if digests is None or session is None:
        return travel_weights(problem.hin, problem.rueck, modes=modes, cols=cols, bands=problem.bands)
    head = repr(("e2sfca-gewichte", problem.hin.shape[:2], str(problem.hin.dtype), str(problem.rueck.dtype),
                 modes.tolist(), [tuple(map(float, b)) for b in problem.bands])).encode()
    keys = [hashlib.sha256(head + digests[c].tobytes()).hexdigest() for c in cols]
    w = np.empty((problem.hin.shape[1], len(sites)))
    missing = []
    for j, k in enumerate(keys):
        hit = session.parts.get(k)
        if hit is None:
            missing.append(j)
        else:
            w[:, j] = hit["w"]
    if missing:
        new = travel_weights(problem.hin, problem.rueck, modes=modes, cols=cols[missing], bands=problem.bands)
        for i, j in enumerate(missing):
            w[:, j] = new[:, i]
            session.parts.put(keys[j], {"w": new[:, i].copy()})
    return w


def _e2sfca_block(problem: Problem, levels: np.ndarray, segs: np.ndarray, crs: np.ndarray,
                  digests: np.ndarray | None = None, session: Session | None = None) -> np.ndarray:
    """``(len(levels), n_o)`` E2SFCA index of the block's levels (online courses are no sites)."""
    p = problem.prep
    n_o = problem.hin.shape[1]
    sites = crs[~p.courses["online"][crs]]
    out = np.zeros((len(levels), n_o))
    if not len(sites):
        return out
    w = _site_weights(problem, sites, digests, session)
    level_ok = p.courses["level_ok"]
    n_levels = np.maximum(level_ok[:, sites].sum(axis=0), 1)
    seg_level = p.seg_level[segs]
    for i, lv in enumerate(levels):
        mine = seg_level == lv
        d = np.bincount(p.seg_origin[segs][mine], weights=problem.persons[segs][mine], minlength=n_o)
        supply = np.where(level_ok[lv, sites], problem.capacity[sites] / n_levels, 0.0)
        out[i] = e2sfca(d, supply, w, bands=problem.bands, weights=w)
    return out


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Weighted median (lower); the plain median if all weights are 0; NaN for no values."""
    if len(values) == 0:
        return float("nan")
    if weights.sum() <= 0:
        return float(np.median(values))
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def median_table(mk_code: np.ndarray, lv_code: np.ndarray, values: np.ndarray, weights: np.ndarray, n_mk: int,
                 n_l: int) -> np.ndarray:
    """``(n_mk · n_l,)`` weighted median of ``values`` per MK × level (NaN where no value)."""
    med = np.full(n_mk * n_l, np.nan)
    known = (mk_code >= 0) & (lv_code >= 0)
    key = mk_code[known] * n_l + lv_code[known]
    order = np.argsort(key, kind="stable")
    key_s, val_s, w_s = key[order], values[known][order], weights[known][order]
    bounds = np.flatnonzero(np.diff(key_s)) + 1
    starts = np.concatenate([[0], bounds]) if len(key_s) else np.zeros(0, np.int64)
    ends = np.concatenate([bounds, [len(key_s)]]) if len(key_s) else np.zeros(0, np.int64)
    for a, b in zip(starts, ends, strict=True):
        med[key_s[a]] = weighted_median(val_s[a:b], w_s[a:b])
    return med


def segment_sums(seg_mk: np.ndarray, seg_level: np.ndarray, n_mk: int, n_l: int, columns: list[np.ndarray]
                 ) -> np.ndarray:
    """``(n_mk · n_l, len(columns))`` sums per MK × level over the segments of a known MK."""
    n = n_mk * n_l
    key = np.where(seg_mk >= 0, seg_mk * n_l + seg_level, n)
    return np.stack([np.bincount(key, weights=c, minlength=n + 1)[:n] for c in columns], axis=1)


def reason_columns(persons: np.ndarray, stage: np.ndarray, stage_off: np.ndarray, served: np.ndarray,
                   online_flow: np.ndarray) -> list[np.ndarray]:
    """The per-segment columns of :data:`SUM_COLUMNS` (each unserved person counted under one reason)."""
    reachable = stage == 4
    unserved = persons - served
    reason = _rc.stage_reason(stage)
    voll = reachable & (unserved > UNSERVED_TOL)
    cols = [persons, np.where(reachable, persons, 0.0), served, unserved]
    cols += [np.where((reason == k) & ~voll, unserved, 0.0) for k in (1, 2, 3, 4)]
    cols.append(np.where(voll, unserved, 0.0))
    cols.append(np.where(reachable & (stage_off != 4), online_flow, 0.0))
    return cols


def _candidates(problem: Problem, segs: np.ndarray, crs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Candidate pairs (:func:`coverage.analysis._reachcore.candidates`) of the block's segments and courses ``crs``."""
    p = problem.prep
    return _rc.candidates(
        p.seg_origin[segs], p.seg_group[segs], p.seg_level[segs], accept=p.accept[:, :, crs],
        mode_allowed=p.groups["mode_allowed"], limit=problem.limits.max(axis=0), hin=problem.hin,
        rueck=problem.rueck, online=p.courses["online"][crs], col_map=p.travel_cols[crs],
    )


def _valid_parts(value: object, n_seg: int, dtype: np.dtype) -> bool:
    """A stored candidate matrix (:func:`_candidates_reused`) is complete and consistent."""
    if not isinstance(value, dict) or PARTS_KIND.codec.decode(value) is None:
        return False
    keys, ptr, idx = value["keys"], value["ptr"], value["idx"]
    if (keys.dtype != np.dtype("S32") or keys.ndim != 1 or ptr.dtype != np.int64 or ptr.shape != (n_seg + 1,)
            or idx.dtype != np.int32 or idx.ndim != 1 or value["t_hin"].dtype != dtype
            or value["t_both"].dtype != dtype):
        return False
    n = len(idx)
    return (int(ptr[0]) == 0 and int(ptr[-1]) == n and bool(np.all(np.diff(ptr) >= 0))
            and value["t_hin"].shape == (n,) and value["t_both"].shape == (n,)
            and (n == 0 or (int(idx.min()) >= 0 and int(idx.max()) < len(keys))))


def _candidates_reused(problem: Problem, segs: np.ndarray, crs: np.ndarray, digests: np.ndarray | None, *,
                       cache: Cache | None = None, session: Session | None = None,
                       defer: Callable[..., object] | None = None) -> tuple[np.ndarray, ...]:
    """:func:`_candidates`, reusing the columns of courses whose content was seen with the same segments.

    The last candidate matrix of a set of segments is kept (in ``session.parts``)
    with a key per column: a SHA-256 of the segments' codes, the group rules and the
    largest thresholds, and the course's reach attributes and travel digest. Columns
    whose key recurs are merged with the columns computed for the other courses.
    With a ``cache`` the matrix is also stored on disk (kind :data:`PARTS_KIND`, key
    over the segment key), so a new process reuses the columns as well; the
    per-column keys decide which columns are taken, exactly as in memory. ``defer``
    (e.g. ``executor.submit``) runs the disk write elsewhere; the caller waits for it.
    Without ``session`` and ``cache`` the candidates are simply computed.
    """
    if digests is None or not len(crs) or (session is None and cache is None):
        return _candidates(problem, segs, crs)
    p = problem.prep
    seg_key = hashlib.sha256()
    for a in (p.seg_origin[segs].astype(np.int32), p.seg_group[segs].astype(np.int16),
              p.seg_level[segs].astype(np.int8), p.groups["mode_allowed"], problem.limits.max(axis=0)):
        seg_key.update(repr((a.dtype.str, a.shape)).encode() + xxhash.xxh3_128_digest(np.ascontiguousarray(a)))
    seg_key.update(repr(("kandidaten", problem.hin.shape[:2], str(problem.hin.dtype),
                         str(problem.rueck.dtype))).encode())
    head = seg_key.digest()
    online = p.courses["online"]
    keys = [hashlib.sha256(head + digests[p.travel_cols[c]].tobytes() + np.ascontiguousarray(p.accept[:, :, c])
                           .tobytes() + bytes([bool(online[c])])).digest() for c in crs]
    store_key = "kandidaten-" + seg_key.hexdigest()
    prev = session.parts.get(store_key) if session is not None else None
    disk_key = None
    if cache is not None:
        disk_key = PARTS_KIND.key(store_key)
        if prev is None:
            got = cache.get(PARTS_KIND.name, disk_key)
            dtype = np.result_type(problem.hin.dtype, problem.rueck.dtype, np.float32)
            if _valid_parts(got, len(segs), dtype):
                prev = dict(got)
    out = None
    if prev is not None:
        old_keys = [bytes(k) for k in prev["keys"]]
        where: dict[bytes, list[int]] = {}
        for i, k in enumerate(old_keys):
            where.setdefault(k, []).append(i)
        new_of_old = np.full(len(old_keys), -1, np.int64)
        missing = []
        for j, k in enumerate(keys):
            free = where.get(k)
            if free:  # courses with equal keys have equal columns: each old column is taken once, in order
                new_of_old[free.pop(0)] = j
            else:
                missing.append(j)
        kept = new_of_old[new_of_old >= 0]
        if len(kept) and np.all(np.diff(kept) > 0):  # the order of the reused courses is unchanged
            missing_arr = np.array(missing, np.int64)
            fresh = _candidates(problem, segs, crs[missing_arr]) if missing else (
                np.zeros(len(segs) + 1, np.int64), np.zeros(0, np.int32), prev["t_hin"][:0], prev["t_both"][:0])
            old = (prev["ptr"], prev["idx"], prev["t_hin"], prev["t_both"])
            out = _rc.merge_columns(old, new_of_old, fresh, missing_arr)
            logger.debug("Erreichbarkeit: %d von %d Kursspalten übernommen", len(kept), len(crs))
    if out is None:
        out = _candidates(problem, segs, crs)
    value = {"keys": np.array(keys, dtype="S32"), "ptr": out[0], "idx": out[1], "t_hin": out[2], "t_both": out[3]}
    if session is not None:
        session.parts.put(store_key, value)
    if disk_key is not None:
        (defer or (lambda f, *a: f(*a)))(cache.put, PARTS_KIND.name, disk_key, value)
    return out


def solve_block(problem: Problem, levels: np.ndarray, segs: np.ndarray, crs: np.ndarray, *,
                digests: np.ndarray | None = None, cache: Cache | None = None, session: Session | None = None
                ) -> dict[str, np.ndarray]:
    """Reach, assignment (three thresholds) and E2SFCA of one block; local course indices.

    With the travel ``digests`` (:func:`column_digests`), per-course pieces (candidate
    pairs, E2SFCA weights) of courses seen before with the same content are reused
    from ``session``; with a ``cache`` the candidate pairs also across processes.
    """
    p = problem.prep
    ga = p.groups
    online = p.courses["online"][crs]
    seg_group = p.seg_group[segs]
    rules = {"seg_group": seg_group, "schedule_ok": ga["schedule_ok"][:, crs],
             "childcare_ok": ga["childcare_ok"][:, crs], "online": online}
    persons = problem.persons[segs]
    cap = problem.capacity[crs]

    def shifted(limit: np.ndarray, cand: tuple[np.ndarray, ...]) -> np.ndarray:
        sp_, si, sm, _ = _rc.derive(*cand, limit=limit, include_online=True, **rules)
        return assign_csr(persons, cap, sp_, si, sm, round_minutes=ROUND_MINUTES)["served"]

    # independent parts run side by side (the numba kernels release the GIL); each part
    # computes exactly what it would compute alone, so the result does not depend on it
    with ThreadPoolExecutor(max_workers=_WORKERS + 1) as pool:
        e2 = pool.submit(_e2sfca_block, problem, levels, segs, crs, digests, session)
        later: list[tuple] = []  # the disk write of the candidates, started after the assignments
        cand = _candidates_reused(problem, segs, crs, digests, cache=cache, session=session,
                                  defer=lambda f, *a: later.append((f, *a)))
        minus = pool.submit(shifted, problem.limits[1], cand)
        plus = pool.submit(shifted, problem.limits[2], cand)
        writes = [pool.submit(*job) for job in later]
        ptr, idx, mins, stage = _rc.derive(*cand, limit=problem.limits[0], include_online=True, **rules)
        stage_off = (_rc.derive(*cand, limit=problem.limits[0], include_online=False, **rules)[3] if online.any()
                     else stage)
        a = assign_csr(persons, cap, ptr, idx, mins, round_minutes=ROUND_MINUTES)
        reach_persons = np.bincount(idx, weights=np.repeat(persons, np.diff(ptr)), minlength=len(crs))
        out = {
            "ok_ptr": ptr, "ok_idx": idx, "ok_min": mins, "stage": stage, "stage_off": stage_off,
            "flow_ptr": a["indptr"], "flow_idx": a["indices"], "flow_val": a["data"], "served": a["served"],
            "total_minutes": np.array(a["total_minutes"]), "n_variables": np.array(a["n_variables"], np.int64),
            "reach_persons": reach_persons,
        }
        out["served_minus"] = minus.result()
        out["served_plus"] = plus.result()
        out["e2sfca"] = e2.result()
        for w in writes:
            w.result()
    # sums per Mitgliedskommune × level (analysis and shifted thresholds) and the index medians
    n_l = p.courses["level_ok"].shape[0]
    seg_mk, seg_level = problem.seg_mk[segs], p.seg_level[segs]
    rows = np.repeat(np.arange(len(segs)), np.diff(a["indptr"]))
    on = online[a["indices"]]
    online_flow = np.bincount(rows[on], weights=a["data"][on], minlength=len(segs))
    out["sums"] = segment_sums(seg_mk, seg_level, problem.n_mk, n_l,
                               reason_columns(persons, stage, stage_off, a["served"], online_flow))
    out["sums_shift"] = segment_sums(seg_mk, seg_level, problem.n_mk, n_l, [out["served_minus"], out["served_plus"]])
    n_o = problem.hin.shape[1]
    d = np.zeros((len(levels), n_o))
    for i, lv in enumerate(levels):
        mine = seg_level == lv
        d[i] = np.bincount(p.seg_origin[segs][mine], weights=persons[mine], minlength=n_o)
    med = median_table(np.tile(problem.origin_mk, len(levels)), np.repeat(np.arange(len(levels)), n_o),
                       out["e2sfca"].ravel(), d.ravel(), problem.n_mk, len(levels))
    out["median"] = med.reshape(problem.n_mk, len(levels)).T.copy()
    return out


def block_key(problem: Problem, levels: np.ndarray, segs: np.ndarray, crs: np.ndarray, digests: np.ndarray) -> str:
    """Fingerprint of every input of :func:`solve_block` for this block (:data:`KIND`, with its code).

    ``digests`` are the :func:`column_digests` of ``hin`` and ``rueck`` (one row per
    travel column): the travel times enter the key through them.
    """
    p = problem.prep
    ga = p.groups
    cols = p.travel_cols[crs]
    return KIND.key(
        ROUND_MINUTES, levels,
        p.seg_origin[segs].astype(np.int32), p.seg_level[segs].astype(np.int8), p.seg_group[segs].astype(np.int16),
        problem.persons[segs],
        tuple(p.group_names), problem.limits, ga["mode_allowed"], p.accept[:, :, crs], ga["schedule_ok"][:, crs],
        ga["childcare_ok"][:, crs], p.courses["online"][crs], p.courses["level_ok"][:, crs], problem.capacity[crs],
        problem.modes, problem.hin.shape[:2], str(problem.hin.dtype), str(problem.rueck.dtype),
        digests[cols], problem.e2sfca_modes, tuple(tuple(float(v) for v in b) for b in problem.bands),
        problem.seg_mk[segs].astype(np.int32), problem.n_mk, problem.origin_mk.astype(np.int32), UNSERVED_TOL,
    )


# --------------------------------------------------------------------------- stored results


def _valid(value: object, n_seg: int, n_crs: int, n_levels: int) -> bool:
    """A stored result has all arrays and consistent shapes (else it is computed again)."""
    if not isinstance(value, dict) or KIND.codec.decode(value) is None:
        return False
    v = value
    return (len(v["ok_ptr"]) == n_seg + 1 and len(v["flow_ptr"]) == n_seg + 1 and len(v["stage"]) == n_seg
            and len(v["served"]) == n_seg and v["e2sfca"].shape[0] == n_levels
            and (len(v["ok_idx"]) == 0 or int(v["ok_idx"].max()) < n_crs)
            and (len(v["flow_idx"]) == 0 or int(v["flow_idx"].max()) < n_crs))


def compute_blocks(problem: Problem, *, cache: Cache | None = None, session: Session | None = None
                   ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, dict]]:
    """Results of all blocks, reused from ``session`` (``session.blocks``) or ``cache`` where the key matches.

    Blocks without any stored result are computed in a worker thread while the
    stored results of the other blocks are read; every block is computed exactly as
    it would be alone. Without ``session`` and ``cache`` every block is computed.
    """
    memo = session.blocks if session is not None else None
    digests = travel_digests(problem)
    blocks = level_blocks(problem.prep.courses["level_ok"], problem.prep.seg_level)
    values: list[dict | None] = [None] * len(blocks)
    keys: list[str] = []
    n_new = 0

    def solve(i: int) -> dict[str, np.ndarray]:
        levels, segs, crs = blocks[i]
        value = solve_block(problem, levels, segs, crs, digests=digests, cache=cache, session=session)
        if memo is not None:
            memo.put(keys[i], value)
        if cache is not None:
            cache.put(KIND.name, keys[i], value)
        return value

    with ThreadPoolExecutor(max_workers=1) as pool:
        running = {}
        for i, (levels, segs, crs) in enumerate(blocks):
            keys.append(block_key(problem, levels, segs, crs, digests))
            value = memo.get(keys[i]) if memo is not None else None
            if value is not None and _valid(value, len(segs), len(crs), len(levels)):
                values[i] = value
            elif cache is None or not cache.path(KIND.name, keys[i]).is_file():
                running[i] = pool.submit(solve, i)
        for i, (levels, segs, crs) in enumerate(blocks):
            if values[i] is not None or i in running:
                continue
            got = cache.get(KIND.name, keys[i]) if cache is not None else None
            if _valid(got, len(segs), len(crs), len(levels)):
                values[i] = dict(got)
                if memo is not None:
                    memo.put(keys[i], values[i])
            else:
                running[i] = pool.submit(solve, i)
        for i, future in running.items():
            values[i] = future.result()
            n_new += 1
    logger.debug("Versorgung: %d von %d Blöcken neu berechnet", n_new, len(blocks))
    return [(levels, segs, crs, value) for (levels, segs, crs), value in zip(blocks, values, strict=True)]


# --------------------------------------------------------------------------- assembly


@njit(cache=True, nogil=True)
def _scatter_rows(ptr, rows, b_ptr, b_idx, b_val, crs, out_idx, out_val):  # pragma: no cover - numba
    """Write the rows of one block (local columns ``b_idx`` → ``crs``) into a global CSR at rows ``rows``."""
    for i in range(rows.shape[0]):
        w = ptr[rows[i]]
        for q in range(b_ptr[i], b_ptr[i + 1]):
            out_idx[w] = crs[b_idx[q]]
            out_val[w] = b_val[q]
            w += 1


def _concat_csr(blocks: list, n_rows: int, ptr_name: str, idx_name: str, val_name: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global CSR (rows = segments, columns = courses) from the blocks' local CSR arrays."""
    counts = np.zeros(n_rows, np.int64)
    for _, segs, _, v in blocks:
        counts[segs] = np.diff(v[ptr_name])
    ptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    out_idx = np.empty(int(ptr[-1]), np.int32)
    out_val = np.empty(int(ptr[-1]), np.float64)
    for _, segs, crs, v in blocks:
        if len(v[idx_name]):
            _scatter_rows(ptr, segs.astype(np.int64), v[ptr_name].astype(np.int64), v[idx_name], v[val_name],
                          crs.astype(np.int32), out_idx, out_val)
    return ptr, out_idx, out_val


def assemble(blocks: list, n_s: int, n_c: int, n_l: int, n_o: int) -> dict[str, np.ndarray | float]:
    """Global arrays from the block results (segment rows, course columns of the whole analysis)."""
    out: dict[str, np.ndarray | float] = {}
    for name, dtype in (("stage", np.int8), ("stage_off", np.int8), ("served", float), ("served_minus", float),
                        ("served_plus", float)):
        a = np.zeros(n_s, dtype)
        for _, segs, _, v in blocks:
            a[segs] = v[name]
        out[name] = a
    with ThreadPoolExecutor(max_workers=1) as pool:  # the scatter kernels release the GIL: both CSRs at once
        ok = pool.submit(_concat_csr, blocks, n_s, "ok_ptr", "ok_idx", "ok_min")
        out["flow_ptr"], out["flow_idx"], out["flow_val"] = _concat_csr(blocks, n_s, "flow_ptr", "flow_idx",
                                                                        "flow_val")
        out["ok_ptr"], out["ok_idx"], out["ok_min"] = ok.result()
    reach_persons = np.zeros(n_c)
    for _, _, crs, v in blocks:
        reach_persons[crs] += v["reach_persons"]
    out["reach_persons"] = reach_persons
    e2 = np.zeros((n_l, n_o))
    for levels, _, _, v in blocks:
        e2[levels] = v["e2sfca"]
    out["e2sfca"] = e2
    out["sums"] = sum(v["sums"] for *_, v in blocks)
    out["sums_shift"] = sum(v["sums_shift"] for *_, v in blocks)
    n_mk = blocks[0][3]["median"].shape[1] if blocks else 0
    med = np.full((n_l, n_mk), np.nan)
    covered = np.zeros(n_l, bool)
    for levels, _, _, v in blocks:
        med[levels] = v["median"]
        covered[levels] = True
    out["median"] = med
    out["levels_covered"] = covered
    out["total_minutes"] = float(sum(float(v["total_minutes"]) for *_, v in blocks))
    out["n_variables"] = int(sum(int(v["n_variables"]) for *_, v in blocks))
    return out


# --------------------------------------------------------------------------- travel digests


@njit(cache=True, nogil=True)
def _digest_kernel(words, seed):  # pragma: no cover - numba
    """Four 32-bit multiply–xorshift lanes per column of a ``(rows, cols)`` uint32 array, rows in order."""
    n_c = words.shape[1]
    primes = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F], np.uint32)
    h = np.empty((4, n_c), np.uint32)
    for lane in range(4):
        h[lane, :] = np.uint32((seed + 0x165667B1 * (lane + 1)) & 0xFFFFFFFF)
    for r in range(words.shape[0]):
        row = words[r]
        for lane in range(4):
            hl = h[lane]
            p = primes[lane]
            shift = np.uint32(13 + 2 * lane)
            for c in range(n_c):
                x = (hl[c] ^ row[c]) * p
                hl[c] = x ^ (x >> shift)
    # final avalanche per lane
    for lane in range(4):
        for c in range(n_c):
            x = h[lane, c]
            x ^= x >> np.uint32(16)
            x *= np.uint32(0x7FEB352D)
            x ^= x >> np.uint32(15)
            x *= np.uint32(0x846CA68B)
            x ^= x >> np.uint32(16)
            h[lane, c] = x
    return h.T.copy()


def travel_digests(problem: Problem) -> np.ndarray:
    """One row of ``uint32`` per travel column that identifies its content (inside block and part keys).

    The travel-time cache keys when the problem has them (equal keys mean equal
    columns; 8 words of the SHA-256 plus a marker word), else :func:`column_digests`
    of ``hin`` and ``rueck`` (a different row width, so the two never coincide).
    """
    keys = problem.column_keys
    if keys is None or len(keys) != problem.hin.shape[2]:
        return column_digests(problem.hin, problem.rueck)
    raw = np.frombuffer(bytes.fromhex("".join(str(k) for k in keys)), np.uint32).reshape(len(keys), 8)
    return np.hstack([raw, np.full((len(keys), 1), 0x4B455953, np.uint32)])


def column_digests(*arrays: np.ndarray) -> np.ndarray:
    """``(n_c, ·)`` uint32 digest of every column (last axis) of each array, side by side.

    Four independent 32-bit lanes (multiply–xorshift rounds with different
    constants over the bit patterns, in memory order) per 32-bit word of a column:
    128 bits per column and array, computed in one vectorised pass. The digests
    identify the travel times of a course inside keys that are hashed with
    SHA-256; hashing every course's (strided) column with SHA-256 instead would
    gather the arrays once per block.
    """
    def one(i: int, a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        n_c = a.shape[-1]
        if a.dtype.itemsize % 4 or a.size == 0:
            d = np.zeros((n_c, 4), np.uint32)
            for c in range(n_c):
                d[c] = np.frombuffer(hashlib.sha256(np.ascontiguousarray(a[..., c]).tobytes()).digest()[:16],
                                     np.uint32)
            return d
        k = a.dtype.itemsize // 4
        words = a.reshape(-1, n_c).view(np.uint32)  # (rows, n_c · k), the k words of a value side by side
        return _digest_kernel(words, np.uint64(0x2545F491 * (i + 1))).reshape(n_c, 4 * k)

    if len(arrays) > 1 and _WORKERS > 1:  # one thread per array (the kernel releases the GIL)
        with ThreadPoolExecutor(max_workers=min(_WORKERS, len(arrays))) as pool:
            parts = list(pool.map(one, range(len(arrays)), arrays))
    else:
        parts = [one(i, a) for i, a in enumerate(arrays)]
    return np.concatenate(parts, axis=1)
