"""Which demand segment can attend which course, and why not.

A segment (origin × level × target group) *reaches* a course when all of these hold:

1. the course offers the segment's level;
2. the course type suits the group (``GroupRule.kursarten``), or the course is
   online and the group accepts online courses at that level
   (``GroupRule.online_niveaus``);
3. for one of the group's modes (``GroupRule.modi``) both legs – to the course
   start (``hin``) and home after the end (``rueck``) – take at most
   ``GroupRule.max_minuten``; online courses need no travel;
4. the course starts at or after ``fruehester_beginn`` and ends at or before
   ``spaetestes_ende`` of the group;
5. the course offers childcare if the group needs it. Online courses are taken at
   home and need no childcare on site (documented assumption).

On-demand service (issue #17): in a region with on-demand service the travel
times have a fourth mode ``rufbus`` (public transport including Rufbus/AST, see
:mod:`coverage.traveltime.rufbus`). A group that allows ``oepnv`` also allows
``rufbus`` when ``Parameters.rufbus_erreichbar`` is true (the default); when it is
false, on-demand service does not count as reachable (the gap table still shows
who would reach a course only with it, :func:`rufbus_only`).

The two legs must be made with the same mode (nobody cycles there and takes the
bus home without the bicycle). For a segment without any course the *reason* is
the first stage that removes the last candidate among the courses of the right
level and type: ``kein_kurs`` (no course can be reached in time on the way
there), ``kein_rueckweg`` (a course can be reached but no way home fits),
``termin`` (the schedule does not fit), ``kinderbetreuung`` (no childcare).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.analysis import _reachcore as _rc
from coverage.cache._codes import factorize
from coverage.errors import InputDataError
from coverage.inputs.config import GroupRule, Parameters
from coverage.inputs.schema import COURSE_TYPES, GROUPS, LEVELS, RUFBUS_MODE
from coverage.traveltime import CourseTravelTimes

if TYPE_CHECKING:
    from coverage.cache.session import Session

__all__ = ["REASONS", "REASON_LABELS", "Reach", "allowed_modes", "course_arrays", "reach", "rufbus_only"]

logger = logging.getLogger(__name__)

REASONS: tuple[str, ...] = ("", "kein_kurs", "kein_rueckweg", "termin", "kinderbetreuung")
"""Reason codes of :func:`reach` (index = integer code of :func:`_reach_core`)."""

REASON_LABELS: dict[str, str] = {
    "kein_kurs": "kein Kurs erreichbar",
    "kein_rueckweg": "kein Rückweg",
    "termin": "Termin passt nicht",
    "kinderbetreuung": "keine Kinderbetreuung",
    "kurs_voll": "Kurs voll",
}
"""German text of every reason (``kurs_voll`` is added by :mod:`coverage.analysis.gaps`)."""

_EPS = 1e-9


@dataclass(frozen=True)
class Reach:
    """Result of :func:`reach`.

    Attributes
    ----------
    ok
        CSR ``bool`` ``(n_segments, n_courses)``: segment may attend course.
    minutes
        CSR ``float`` with exactly the pattern of ``ok``: the best one-way time
        ``max(hin, rueck)`` over the group's modes. Online courses are stored
        as explicit zeros, so use the pattern (``indptr``/``indices``), not the
        non-zero values, to find allowed pairs.
    reason
        ``(n_segments,)`` str: ``''`` if some course is ok, else one of
        ``kein_kurs``, ``kein_rueckweg``, ``termin``, ``kinderbetreuung``.
    course_ids
        Course ids in column order.
    online
        ``(n_courses,)`` bool: online course.
    include_online
        Whether online courses were allowed.
    """

    ok: sp.csr_matrix
    minutes: sp.csr_matrix
    reason: np.ndarray
    course_ids: np.ndarray
    online: np.ndarray
    include_online: bool = True

    @property
    def reachable(self) -> np.ndarray:
        """``(n_segments,)`` bool: at least one course is ok."""
        return np.diff(self.ok.indptr) > 0

    @property
    def reachable_offline(self) -> np.ndarray:
        """``(n_segments,)`` bool: at least one course with a location (not online) is ok."""
        return np.asarray(self.ok[:, ~self.online].sum(axis=1)).ravel() > 0


# --------------------------------------------------------------------------- core


def _accept(level_ok: np.ndarray, type_ok: np.ndarray, online: np.ndarray, online_ok: np.ndarray) -> np.ndarray:
    """``(n_g, n_l, n_c)`` bool: the course offers the level and suits the group (in person or online)."""
    online = np.asarray(online, bool)
    in_person = type_ok[:, None, :] & ~online[None, None, :]
    on_line = online[None, None, :] & online_ok[:, :, None]
    return level_ok[None, :, :] & (in_person | on_line)


def _reach_core(
    seg_origin: np.ndarray,
    seg_level: np.ndarray,
    seg_group: np.ndarray,
    *,
    hin: np.ndarray,
    rueck: np.ndarray,
    mode_allowed: np.ndarray,
    max_minutes: np.ndarray,
    level_ok: np.ndarray,
    type_ok: np.ndarray,
    online: np.ndarray,
    online_ok: np.ndarray,
    schedule_ok: np.ndarray,
    childcare_ok: np.ndarray,
    include_online: bool = True,
) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Reach rules on plain arrays.

    Parameters
    ----------
    seg_origin, seg_level, seg_group
        ``(n_s,)`` integer indices of each segment's origin (travel-time row),
        level (into :data:`LEVELS`) and group (row of the per-group arrays).
    hin, rueck
        ``(n_m, n_o, n_c)`` minutes; ``inf`` = impossible.
    mode_allowed
        ``(n_g, n_m)`` bool: group may use mode.
    max_minutes
        ``(n_g,)`` threshold per leg.
    level_ok
        ``(n_l, n_c)`` bool: course offers level.
    type_ok
        ``(n_g, n_c)`` bool: course type suits the group (in-person courses).
    online
        ``(n_c,)`` bool: online course (no travel).
    online_ok
        ``(n_g, n_l)`` bool: group accepts an online course at this level.
    schedule_ok, childcare_ok
        ``(n_g, n_c)`` bool: schedule window fits; childcare requirement met.
    include_online
        If False, online courses are ignored.

    Returns
    -------
    ok : scipy.sparse.csr_matrix
        ``(n_s, n_c)`` bool.
    minutes : scipy.sparse.csr_matrix
        ``(n_s, n_c)`` float, same pattern as ``ok`` (explicit zeros possible).
    reason : numpy.ndarray
        ``(n_s,)`` int8 codes, index into :data:`REASONS`.
    """
    n_c = hin.shape[2]
    cand = _rc.candidates(
        np.asarray(seg_origin), np.asarray(seg_group), np.asarray(seg_level),
        accept=_accept(level_ok, type_ok, online, online_ok), mode_allowed=mode_allowed, limit=max_minutes,
        hin=hin, rueck=rueck, online=online,
    )
    return _pairs_of(cand, n_c, seg_group=seg_group, limit=max_minutes, schedule_ok=schedule_ok,
                     childcare_ok=childcare_ok, online=online, include_online=include_online)


def _pairs_of(
    cand: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_c: int,
    *,
    seg_group: np.ndarray,
    limit: np.ndarray,
    schedule_ok: np.ndarray,
    childcare_ok: np.ndarray,
    online: np.ndarray,
    include_online: bool,
) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """``ok``, ``minutes`` and reason codes for one threshold from candidate pairs."""
    indptr, indices, mins, best = _rc.derive(
        *cand, seg_group=seg_group, limit=limit, schedule_ok=schedule_ok, childcare_ok=childcare_ok,
        online=online, include_online=include_online,
    )
    n_s = len(indptr) - 1
    minutes = sp.csr_matrix((mins, indices, indptr), shape=(n_s, n_c))
    ok_m = sp.csr_matrix((np.ones(len(indices), bool), indices, indptr), shape=(n_s, n_c))
    return ok_m, minutes, _rc.stage_reason(best)


# --------------------------------------------------------------------------- wrapper


def _levels_of(value: object, row: int) -> tuple[str, ...]:
    if isinstance(value, str):
        items = tuple(s.strip() for s in value.replace(";", ",").split(",") if s.strip())
    elif isinstance(value, (list, tuple, np.ndarray, set, frozenset)):
        items = tuple(str(s) for s in value)
    else:
        raise InputDataError("Niveaus fehlen.", column="niveaus", row=row, value=value)
    bad = [s for s in items if s not in LEVELS]
    if bad:
        raise InputDataError(f"Unbekanntes Niveau; erlaubt: {', '.join(LEVELS)}.", column="niveaus", row=row,
                             value=bad[0])
    return items


def _bool_of(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("ja", "true", "1", "yes", "wahr")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    return bool(value)


def course_arrays(courses: pd.DataFrame) -> dict[str, np.ndarray]:
    """Course attributes used by the reach rules, as plain arrays.

    Parameters
    ----------
    courses
        Courses with ``kurs_id``, ``niveaus``, ``kursart``, ``beginn``, ``ende``
        and ``kinderbetreuung``.

    Returns
    -------
    dict
        ``kurs_id`` (str), ``level_ok`` ``(n_l, n_c)``, ``kursart`` (index into
        :data:`COURSE_TYPES`), ``online``, ``beginn``, ``ende``, ``kinderbetreuung``.

    Raises
    ------
    InputDataError
        If a column is missing or a value is not allowed.
    """
    missing = [c for c in ("kurs_id", "niveaus", "kursart", "beginn", "ende", "kinderbetreuung")
               if c not in courses.columns]
    if missing:
        raise InputDataError(f"Kurse: es fehlen die Spalten {missing}.")
    n_c = len(courses)
    level_ok = np.zeros((len(LEVELS), n_c), bool)
    for j, v in enumerate(courses["niveaus"].tolist()):
        for lv in _levels_of(v, j + 1):
            level_ok[LEVELS.index(lv), j] = True
    kinds = courses["kursart"].astype(str).tolist()
    for j, k in enumerate(kinds):
        if k not in COURSE_TYPES:
            raise InputDataError(f"Unbekannte Kursart; erlaubt: {', '.join(COURSE_TYPES)}.", column="kursart",
                                 row=j + 1, value=k)
    times = {}
    for c in ("beginn", "ende"):
        v = pd.to_numeric(courses[c], errors="coerce").to_numpy(dtype=float)
        bad = np.nonzero(~np.isfinite(v))[0]
        if len(bad):
            raise InputDataError("Uhrzeit fehlt oder ist ungültig (Minuten nach Mitternacht erwartet).", column=c,
                                 row=int(bad[0]) + 1, value=courses[c].iloc[bad[0]])
        times[c] = v
    kind_idx = np.array([COURSE_TYPES.index(k) for k in kinds], np.int64)
    return {
        "kurs_id": courses["kurs_id"].astype(str).to_numpy(),
        "level_ok": level_ok,
        "kursart": kind_idx,
        "online": kind_idx == COURSE_TYPES.index("online") if n_c else np.zeros(0, bool),
        "beginn": times["beginn"],
        "ende": times["ende"],
        "kinderbetreuung": np.array([_bool_of(v) for v in courses["kinderbetreuung"].tolist()], bool),
    }


def allowed_modes(rule: GroupRule, *, rufbus: bool) -> tuple[str, ...]:
    """The travel-time modes a group may use: its ``modi``, plus ``rufbus`` if ``rufbus`` and it allows ``oepnv``."""
    extra = (RUFBUS_MODE,) if rufbus and "oepnv" in rule.modi and RUFBUS_MODE not in rule.modi else ()
    return (*rule.modi, *extra)


def _group_arrays(
    groups: Mapping[str, GroupRule], names: list[str], modes: tuple[str, ...], ca: dict[str, np.ndarray], *,
    rufbus: bool = True,
) -> dict[str, np.ndarray]:
    n_g, n_c = len(names), len(ca["kurs_id"])
    mode_allowed = np.zeros((n_g, len(modes)), bool)
    max_minutes = np.zeros(n_g)
    type_ok = np.zeros((n_g, n_c), bool)
    online_ok = np.zeros((n_g, len(LEVELS)), bool)
    schedule_ok = np.zeros((n_g, n_c), bool)
    childcare_ok = np.zeros((n_g, n_c), bool)
    for i, name in enumerate(names):
        rule = groups[name]
        allowed = allowed_modes(rule, rufbus=rufbus)
        for j, m in enumerate(modes):
            mode_allowed[i, j] = m in allowed
        unknown = [m for m in rule.modi if m not in modes]
        if unknown:
            logger.debug("Gruppe %s: keine Reisezeiten für %s", name, unknown)
        max_minutes[i] = rule.max_minuten
        kinds = np.array([COURSE_TYPES.index(k) for k in rule.kursarten if k in COURSE_TYPES], np.int64)
        type_ok[i] = np.isin(ca["kursart"], kinds) & ~ca["online"]
        for lv in rule.online_niveaus:
            if lv in LEVELS:
                online_ok[i, LEVELS.index(lv)] = True
        schedule_ok[i] = (ca["beginn"] >= rule.fruehester_beginn - _EPS) & (ca["ende"] <= rule.spaetestes_ende + _EPS)
        childcare_ok[i] = ca["kinderbetreuung"] | ca["online"] | (not rule.kinderbetreuung)
    return {
        "mode_allowed": mode_allowed,
        "max_minutes": max_minutes,
        "type_ok": type_ok,
        "online_ok": online_ok,
        "schedule_ok": schedule_ok,
        "childcare_ok": childcare_ok,
    }


def _course_columns(course_ids: np.ndarray, travel: CourseTravelTimes) -> np.ndarray:
    tids = np.asarray(travel.course_ids).astype(str)
    if len(tids) == len(course_ids) and np.array_equal(tids, course_ids):
        return np.arange(len(course_ids))
    index = {c: i for i, c in enumerate(tids)}
    missing = [c for c in course_ids if c not in index]
    if missing:
        raise InputDataError(f"Für {len(missing)} Kurse fehlen Reisezeiten, z. B. '{missing[0]}'.", column="kurs_id",
                             value=missing[0])
    return np.array([index[c] for c in course_ids], np.int64)


def _codes(values: pd.Series | np.ndarray, categories: np.ndarray, *, session: Session | None = None) -> np.ndarray:
    """Position of each value (as str) in ``categories`` (-1 if absent), vectorised via pandas."""
    codes, uniques = factorize(pd.Series(values) if not isinstance(values, pd.Series) else values, session=session)
    cats = pd.Index(pd.unique(np.asarray(categories).astype(str)))
    lookup = cats.get_indexer(pd.Index(uniques)).astype(np.int64)
    return lookup[codes] if len(codes) else np.zeros(0, np.int64)


@dataclass(frozen=True)
class _Prepared:
    """Codes and attribute arrays shared by all reach computations of one analysis."""

    seg_origin: np.ndarray
    seg_level: np.ndarray
    seg_group: np.ndarray
    group_names: list[str]
    courses: dict[str, np.ndarray]
    groups: dict[str, np.ndarray]
    travel_cols: np.ndarray
    accept: np.ndarray


def _prepare(demand: pd.DataFrame, courses: pd.DataFrame, travel: CourseTravelTimes, params: Parameters, *,
             session: Session | None = None) -> _Prepared:
    """Check the inputs of :func:`reach` and turn them into integer codes and attribute arrays.

    ``session`` keeps the codes of the demand's text columns for the next call (see
    :func:`coverage.cache._codes.factorize`).
    """
    for c in ("herkunft_id", "niveau", "gruppe"):
        if c not in demand.columns:
            raise InputDataError(f"Bedarfssegmente: es fehlt die Spalte '{c}'.")
    ca = course_arrays(courses)
    seg_origin = _codes(demand["herkunft_id"], np.asarray(travel.origin_ids), session=session)
    if (seg_origin < 0).any():
        i = int(np.nonzero(seg_origin < 0)[0][0])
        raise InputDataError("Herkunftsort ohne Reisezeiten.", column="herkunft_id", row=i + 1,
                             value=str(demand["herkunft_id"].iloc[i]))
    seg_level = _codes(demand["niveau"], np.asarray(LEVELS), session=session)
    if (seg_level < 0).any():
        i = int(np.nonzero(seg_level < 0)[0][0])
        raise InputDataError(f"Unbekanntes Niveau; erlaubt: {', '.join(LEVELS)}.", column="niveau", row=i + 1,
                             value=str(demand["niveau"].iloc[i]))
    names = [g for g in GROUPS if g in params.gruppen] + sorted(g for g in params.gruppen if g not in GROUPS)
    seg_group = _codes(demand["gruppe"], np.asarray(names, dtype=object), session=session)
    if (seg_group < 0).any():
        i = int(np.nonzero(seg_group < 0)[0][0])
        raise InputDataError(f"Zielgruppe ohne Regeln; bekannt: {', '.join(names)}.", column="gruppe", row=i + 1,
                             value=str(demand["gruppe"].iloc[i]))
    cols = _course_columns(ca["kurs_id"], travel)
    ga = _group_arrays(params.gruppen, names, tuple(travel.modes), ca, rufbus=params.rufbus_erreichbar)
    return _Prepared(seg_origin=seg_origin, seg_level=seg_level, seg_group=seg_group, group_names=names, courses=ca,
                     groups=ga, travel_cols=cols,
                     accept=_accept(ca["level_ok"], ga["type_ok"], ca["online"], ga["online_ok"]))


def _group_limits(params: Parameters, names: list[str]) -> np.ndarray:
    """``(n_g,)`` threshold per group in the order of ``names``."""
    return np.array([params.gruppen[g].max_minuten for g in names], float)


def reach(
    demand: pd.DataFrame,
    courses: pd.DataFrame,
    travel: CourseTravelTimes,
    *,
    params: Parameters,
    include_online: bool = True,
    session: Session | None = None,
) -> Reach:
    """Which segment may attend which course, with travel minutes and reasons.

    Parameters
    ----------
    demand
        Demand segments with ``herkunft_id``, ``niveau``, ``gruppe`` (see
        :func:`coverage.analysis.demand.demand_segments`); other columns are ignored.
    courses
        Courses with ``kurs_id``, ``niveaus``, ``kursart``, ``beginn``, ``ende``,
        ``kinderbetreuung``; matched to ``travel`` by ``kurs_id``.
    travel
        Travel times; origins matched by ``herkunft_id``.
    params
        Analysis parameters (``params.gruppen``).
    include_online
        If False, online courses are not allowed (to show what online courses
        change).
    session
        In-process memory of the caller (codes of the demand's text columns); None:
        nothing is kept.

    Returns
    -------
    Reach
        Sparse matrices in segment × course order and the reason per segment.

    Raises
    ------
    InputDataError
        For unknown ids, levels, groups or course types.
    """
    prep = _prepare(demand, courses, travel, params, session=session)
    ca, ga = prep.courses, prep.groups
    limit = ga["max_minutes"]
    cand = _rc.candidates(
        prep.seg_origin, prep.seg_group, prep.seg_level, accept=prep.accept, mode_allowed=ga["mode_allowed"],
        limit=limit, hin=travel.hin, rueck=travel.rueck, online=ca["online"], col_map=prep.travel_cols,
    )
    ok, minutes, code = _pairs_of(
        cand, len(ca["kurs_id"]), seg_group=prep.seg_group, limit=limit, schedule_ok=ga["schedule_ok"],
        childcare_ok=ga["childcare_ok"], online=ca["online"], include_online=include_online,
    )
    return _reach_result(ok, minutes, code, ca, include_online=include_online)


def _reach_result(ok: sp.csr_matrix, minutes: sp.csr_matrix, code: np.ndarray, ca: dict[str, np.ndarray], *,
                  include_online: bool) -> Reach:
    reason = np.asarray(REASONS, dtype=object)[code]
    logger.debug(
        "Erreichbarkeit: %d Segmente × %d Kurse, %d erlaubte Paare, %d Segmente ohne Kurs%s",
        ok.shape[0], ok.shape[1], ok.nnz, int((code > 0).sum()), "" if include_online else " (ohne Online-Kurse)",
    )
    return Reach(ok=ok, minutes=minutes, reason=reason, course_ids=ca["kurs_id"], online=ca["online"],
                 include_online=include_online)


def rufbus_only(
    demand: pd.DataFrame, courses: pd.DataFrame, travel: CourseTravelTimes, *, params: Parameters
) -> tuple[np.ndarray, np.ndarray]:
    """Who reaches a course only with on-demand service, and which courses they reach so.

    Both runs of :func:`reach` use the same rules except whether ``rufbus``
    counts (``rufbus_erreichbar`` true / false), independently of the region's
    setting, so the result means "only with the Rufbus" in both cases.

    Returns
    -------
    segments : numpy.ndarray of bool, shape (len(demand),)
        Some course is reachable with on-demand service and none without.
    courses : numpy.ndarray of bool, shape (n_courses,)
        Some segment may attend the course with on-demand service but not without
        (in the column order of :func:`reach`). Both all false when the travel
        times have no ``rufbus`` mode.
    """
    n_c = len(courses)
    if RUFBUS_MODE not in travel.modes or not len(demand):
        return np.zeros(len(demand), bool), np.zeros(n_c, bool)
    from dataclasses import replace

    with_r = reach(demand, courses, travel, params=replace(params, rufbus_erreichbar=True))
    without = reach(demand, courses, travel, params=replace(params, rufbus_erreichbar=False))
    extra = (with_r.ok.astype(np.int8) - without.ok.astype(np.int8)).tocsc()
    extra.eliminate_zeros()
    return (with_r.reason == "") & (without.reason != ""), np.diff(extra.indptr) > 0
