"""Which demand segment reaches which candidate course: travel times and reach of the candidate courses.

The gap flag (:func:`coverage.analysis.gaps.assess`, rule (a) and ``Rang``) asks whether
unserved persons could reach a course at one of the candidate sites. :func:`candidate_cover`
answers that for every segment × candidate course at the analysis thresholds and with
every threshold shifted by ``±params.sensitivitaet_min``. The answer depends on the
demand, the candidate courses, the networks and the parameters, not on the existing
courses: it is cached (kind :data:`CANDIDATE_REACH`), so a quick rerun after new course
registrations reads it instead of routing to every candidate site.

The candidate courses themselves (one per site × level × slot) are built by
:func:`coverage.placement.model.candidate_courses`; the caller passes them in.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.analysis import _reachcore, reach
from coverage.analysis import demand as demand_mod
from coverage.cache.kinds import CacheKind, FunctionCodec, memoize
from coverage.inputs import schema
from coverage.inputs.config import Parameters
from coverage.traveltime import CourseTravelTimes, engine, store

if TYPE_CHECKING:
    from coverage.cache.store import Cache
    from coverage.inputs.load import Inputs
    from coverage.traveltime import Networks

__all__ = ["CANDIDATE_REACH", "CandidateCover", "candidate_cover", "candidate_travel_times", "planning_period"]

CandidateCover = tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]
"""Boolean segments × candidate courses: at the analysis thresholds, shifted by ``−`` and by ``+``."""


@dataclass(frozen=True)
class _Union:
    """The three reach matrices as one CSR pattern with a bit per threshold run (1: analysis, 2: −, 4: +)."""

    ptr: np.ndarray
    idx: np.ndarray
    mask: np.ndarray
    n_segments: int
    n_courses: int


def _encode(value: _Union) -> dict[str, np.ndarray] | None:
    if value.n_courses == 0:  # no candidate site: nothing worth keeping
        return None
    return {"form": np.array([value.n_segments, value.n_courses], np.int64), "ptr": value.ptr, "idx": value.idx,
            "mask": value.mask}


def _decode(stored: np.ndarray | Mapping[str, np.ndarray]) -> _Union | None:
    if not isinstance(stored, Mapping) or any(k not in stored for k in ("form", "ptr", "idx", "mask")):
        return None
    n_s, n_c = (int(x) for x in stored["form"])
    if len(stored["ptr"]) != n_s + 1 or len(stored["idx"]) != len(stored["mask"]):
        return None
    return _Union(stored["ptr"], stored["idx"], stored["mask"], n_s, n_c)


CANDIDATE_REACH: CacheKind[_Union] = CacheKind(
    name="kandidaten_erreichbar",
    code=(sys.modules[__name__], reach, _reachcore, engine, store, demand_mod, schema),
    keep=10,
    codec=FunctionCodec(_encode, _decode),
    label="Erreichbarkeit der Kandidatenkurse",
)
"""Segments × candidate courses reach at the three thresholds (one bit each), by demand size, candidate
courses, residents, parameters, networks and planning period."""


def planning_period(courses: pd.DataFrame) -> tuple[dt.date, dt.date]:
    """Dates used for candidate courses: the span of the registered courses."""
    return min(courses["erster_tag"]), max(courses["letzter_tag"])


def candidate_travel_times(
    candidate_courses: pd.DataFrame,
    residents: gpd.GeoDataFrame,
    *,
    networks: Networks,
    params: Parameters,
    period: tuple[dt.date, dt.date],
    cache: Cache | None = None,
) -> CourseTravelTimes:
    """Travel times of every candidate course; computed once per site × schedule, shared by all levels."""
    keyed = candidate_courses.assign(
        _key=candidate_courses["standort_id"].astype(str) + "|" + candidate_courses["slot"].astype(str)
    )
    unique = keyed.drop_duplicates("_key").reset_index(drop=True)
    unique = unique.assign(kurs_id=unique["_key"], erster_tag=period[0], letzter_tag=period[1], online=False)
    tt = store.course_travel_times(residents, unique, networks=networks, params=params, cache=cache)
    pos = {k: i for i, k in enumerate(unique["_key"])}
    idx = np.array([pos[k] for k in keyed["_key"]], dtype=np.int64)
    return CourseTravelTimes(
        origin_ids=tt.origin_ids,
        course_ids=candidate_courses["kurs_id"].astype(str).to_numpy(),
        modes=tt.modes,
        hin=tt.hin[:, :, idx],
        rueck=tt.rueck[:, :, idx],
    )


def candidate_cover(
    demand: pd.DataFrame,
    inputs: Inputs,
    *,
    courses: pd.DataFrame,
    networks: Networks,
    params: Parameters,
    cache: Cache | None = None,
    travel: CourseTravelTimes | None = None,
) -> CandidateCover:
    """Which demand segment may attend which candidate course, for the gap flag (:func:`coverage.analysis.gaps.assess`).

    Three boolean matrices ``(len(demand), len(courses))``: at the analysis
    thresholds and with every threshold shifted by ``−`` and
    ``+params.sensitivitaet_min``. Kept in ``cache`` (kind :data:`CANDIDATE_REACH`)
    when the networks have a content key.

    Parameters
    ----------
    demand
        Demand segments (rows of the result).
    inputs
        The loaded inputs (residents; courses for the planning period).
    courses
        The candidate courses (:func:`coverage.placement.model.candidate_courses`).
    networks
        Loaded networks (their ``key`` is part of the cache key).
    params
        Analysis parameters.
    cache
        Optional disk cache.
    travel
        Travel times of ``courses`` when the caller has them already (proposal
        runs); otherwise computed here on a cache miss.

    Returns
    -------
    tuple of scipy.sparse.csr_matrix
        Analysis, ``−`` shift, ``+`` shift.
    """
    period = planning_period(inputs.courses)

    def compute() -> _Union:
        if len(courses) == 0:  # no candidate site: nobody reaches a place where a course could run
            return _Union(np.zeros(len(demand) + 1, np.int64), np.zeros(0, np.int16), np.zeros(0, np.uint8),
                          len(demand), 0)
        tt = travel if travel is not None else candidate_travel_times(
            courses, inputs.residents, networks=networks, params=params, period=period, cache=cache)
        m = params.sensitivitaet_min
        runs = (params, params.shifted(-m), params.shifted(m))
        mats = [sp.csr_matrix(reach.reach(demand, courses, tt, params=p).ok, dtype=np.uint8) for p in runs]
        union = (mats[0] + 2 * mats[1] + 4 * mats[2]).tocsr()  # one entry per pair, a bit per run
        union.sum_duplicates()
        union.sort_indices()
        idx_type = np.int16 if union.shape[1] < 2**15 else np.int32
        return _Union(union.indptr.astype(np.int64), union.indices.astype(idx_type), union.data.astype(np.uint8),
                      *union.shape)

    keyed = cache if getattr(networks, "key", "") else None  # networks without a content key: not cached
    key = ""
    if keyed is not None:
        # the demand is a function of residents and parameters (coverage.analysis.demand): its size suffices
        key = CANDIDATE_REACH.key(len(demand), courses, inputs.residents, params, networks.key, period)
    value = memoize(keyed, CANDIDATE_REACH, key, compute)
    if value.n_courses == 0:
        empty = sp.csr_matrix((len(demand), 0), dtype=bool)
        return empty, empty.copy(), empty.copy()
    return _split(value)


def _split(union: _Union) -> CandidateCover:
    """The three boolean matrices of :func:`candidate_cover` from the union with one bit per run."""
    n_s, n_c = union.n_segments, union.n_courses
    rows = np.repeat(np.arange(n_s), np.diff(union.ptr))
    out = []
    for bit in (1, 2, 4):
        keep = (union.mask & bit) != 0
        indptr = np.zeros(n_s + 1, np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=n_s), out=indptr[1:])
        out.append(sp.csr_matrix((np.ones(int(indptr[-1]), bool), union.idx[keep].astype(np.int32), indptr),
                                 shape=(n_s, n_c)))
    return out[0], out[1], out[2]
