"""Coverage assessment: who is served, where provision has gaps and why.

:func:`assess` runs, on the existing courses,

1. :func:`coverage.analysis.reach.reach` – which segment may attend which course (and the
   reason if none), with and without online courses;
2. :func:`coverage.analysis.assignment.assign` – the persons placed in the free seats
   (most persons first, then shortest trips);
3. :func:`coverage.analysis.accessibility.e2sfca_by_level` – the E2SFCA index;
4. the robustness check: steps 1–2 again with every travel-time threshold shifted
   by ``−params.sensitivitaet_min`` and ``+params.sensitivitaet_min``.

The work is split into independent *blocks* of levels (:mod:`coverage.analysis._blocks`):
one level, or several joined by a course that offers them all. The reach pairs of
a block are computed once for the largest threshold and derived for the three
thresholds; each block's result is kept under a fingerprint of all its inputs (in
the caller's ``session`` and, with ``cache``, on disk), so a rerun after one course
was added, removed or changed computes only the blocks of that course's levels again.
The German columns, flags, ranks and sentences of the gap table are built in
:mod:`coverage.analysis._gaptable`; the published files are written by
:func:`coverage.outputs.tables.write_gap_tables`.

Every unserved person gets one reason: the reach reason of its segment
(``kein_kurs``, ``kein_rueckweg``, ``termin``, ``kinderbetreuung``) or, if
suitable courses are reachable but their seats are taken, ``kurs_voll``.

The **gap table** has one row per Mitgliedskommune × level (all of them, also
without demand). A row with ``Bedarf ≥ mindestanzahl`` is a *Versorgungslücke*
(a place where a planner can act) if

(a) a new county course could be filled there: at least
    ``params.min_gruppe["landkreis"]`` unserved persons of the row reach one and
    the same candidate course (a candidate site × schedule of the placement stage,
    see ``candidate_cover`` of :func:`assess`), or
(b) the served share is below ``params.ziel_quote`` and the demand is at least
    ``params.min_bedarf_quote`` (default: the minimum group), so the share means
    something.

The column ``durch neuen Kurs versorgbar`` holds, per row, the unserved persons
who reach the best single candidate course, capped at
``params.max_gruppe["landkreis"]``; the flagged rows are ranked by its *published*
value (``Rang``; ties by published ``unversorgt``, then ARS and level), so the rank
reveals nothing the published numbers do not. Without candidate reach (no
``candidate_cover``) the column falls back to the unserved persons (capped), i.e.
rule (a) without the reach condition. The decision uses the numbers as shown
(rounded to one decimal). ``zusätzlich online versorgbar`` counts
persons who are served by an online course and could not reach any suitable
in-person course: demand that only online courses can serve.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.analysis import _blocks
from coverage.analysis._gaptable import (
    _REASON_COLUMNS,
    CANDIDATE_COLUMN,
    FLAG_LITTLE,
    GAP_COLUMNS,
    GAP_EXPLANATIONS,
    GAP_REASONS,
    OUTSIDE_COLUMN,
    RUFBUS_COLUMN,
    RUFBUS_LEAD_COLUMN,
    _de,
    _gap_table,
    _shift_label,
    gap_columns,
    min_bedarf_quote,
)
from coverage.analysis._reachcore import stage_reason
from coverage.analysis.assignment import AssignmentResult, course_capacity
from coverage.analysis.demand import demand_assumptions_table
from coverage.analysis.reach import REASONS, Reach, _group_limits, _prepare, allowed_modes, rufbus_only
from coverage.cache._codes import factorize
from coverage.errors import InputDataError
from coverage.inputs.config import Parameters
from coverage.inputs.schema import LEVELS, RUFBUS_MODE
from coverage.traveltime import CourseTravelTimes

if TYPE_CHECKING:
    from coverage.cache.session import Session
    from coverage.cache.store import Cache

__all__ = [
    "CANDIDATE_COLUMN",
    "FLAG_LITTLE",
    "GAP_COLUMNS",
    "GAP_EXPLANATIONS",
    "OUTSIDE_COLUMN",
    "RUFBUS_COLUMN",
    "RUFBUS_LEAD_COLUMN",
    "CoverageResult",
    "assess",
    "gap_columns",
    "gap_table",
    "min_bedarf_quote",
]

logger = logging.getLogger(__name__)

_TOL = _blocks.UNSERVED_TOL


@dataclass
class CoverageResult:
    """Result of :func:`assess`.

    Attributes
    ----------
    segments
        Per segment: the demand columns plus ``erreichbar`` (bool), ``kurse``
        (number of suitable courses), ``beste_minuten``, ``versorgt``,
        ``unversorgt``, ``online_versorgt``, ``nur_online`` (bool), ``grund``
        (``''`` or a reason key) and ``grund_ohne_online``.
    courses
        Per course: ``kurs_id``, ``kursname``, ``traeger``, ``kursort``,
        ``kursart``, ``niveaus``, ``kapazitaet``, ``zugeordnet``, ``auslastung``,
        ``erreichbare_personen``.
    gaps
        The gap table (German columns, see :func:`gap_columns`; unrounded counts – what may be
        published is :func:`coverage.outputs.tables.published_gaps`).
    e2sfca
        Index per origin × level (``herkunft_id``, ``niveau``, ``personen``, ``e2sfca``).
    robustness
        Rows of the gap table whose flag changes with the threshold shift.
    reach, reach_offline
        Reach with and without online courses.
    assignment
        The seat assignment.
    assumptions
        Table of assumptions (``Annahme``, ``Wert``, ``Quelle``).
    mitgliedskommunen
        The Mitgliedskommune polygons.
    params
        Parameters used.
    kapazitaet
        Capacity column used.
    """

    segments: pd.DataFrame
    courses: pd.DataFrame
    gaps: pd.DataFrame
    e2sfca: pd.DataFrame
    robustness: pd.DataFrame
    reach: Reach
    reach_offline: Reach
    assignment: AssignmentResult
    assumptions: pd.DataFrame
    mitgliedskommunen: gpd.GeoDataFrame
    params: Parameters
    kapazitaet: str = "freie_plaetze"
    notes: list[str] = field(default_factory=list)

    @property
    def segments_for_placement(self) -> pd.DataFrame:
        """Unserved demand for :func:`coverage.placement.model.propose_courses`.

        Columns ``herkunft_id``, ``niveau``, ``gruppe``, ``unversorgt``, ``mk_ars``,
        ``gemeinde_ars``; only segments with unserved persons.
        """
        s = self.segments
        keep = s["unversorgt"] > _TOL
        cols = ["herkunft_id", "niveau", "gruppe", "unversorgt", "mk_ars", "gemeinde_ars"]
        return s.loc[keep, cols].reset_index(drop=True)


# --------------------------------------------------------------------------- helpers




_GRUND_LABELS: tuple[str, ...] = (*REASONS, "kurs_voll")
"""Labels of the reason codes of :func:`_segment_columns` (``REASONS`` plus ``kurs_voll``)."""


def _segment_columns(ok_ptr: np.ndarray, ok_min: np.ndarray, code: np.ndarray, code_off: np.ndarray,
                     served: np.ndarray, unserved: np.ndarray, online_flow: np.ndarray) -> dict[str, np.ndarray]:
    """The added columns of the segment table as arrays; ``grund``/``grund_ohne_online`` as codes."""
    n_s = len(code)
    counts = np.diff(ok_ptr)
    reachable = counts > 0
    best = np.full(n_s, np.nan)
    if len(ok_min):
        best[reachable] = np.minimum.reduceat(ok_min, ok_ptr[:-1][reachable])
    grund = code.astype(np.int8, copy=True)
    grund[reachable & (unserved > _TOL)] = len(REASONS)  # kurs_voll
    return {
        "erreichbar": reachable,
        "kurse": counts,
        "beste_minuten": best,
        "versorgt": served,
        "unversorgt": unserved,
        "online_versorgt": online_flow,
        "nur_online": reachable & (code_off != 0),
        "grund": grund,
        "grund_ohne_online": code_off,
    }


def _text(codes: np.ndarray, labels: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """String column (pandas ``str`` dtype) of ``labels[codes]`` without a Python loop."""
    import pyarrow as pa

    decoded = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, np.int32)),
                                             pa.array(list(labels), pa.large_string())).dictionary_decode()
    return pd.array(decoded, dtype=pd.StringDtype(na_value=np.nan))


def _segment_frame(demand: pd.DataFrame, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """The demand segments with the columns of :func:`_segment_columns` appended (replacing equal names)."""
    base = demand.reset_index(drop=True)
    base = base.drop(columns=[c for c in cols if c in base.columns])
    added = pd.DataFrame({name: _text(v, _GRUND_LABELS) if name in ("grund", "grund_ohne_online") else v
                          for name, v in cols.items()}, index=base.index)
    return pd.concat([base, added], axis=1)  # one step: inserting column by column costs ~3 ms per column


def _mk_frame(mitgliedskommunen: pd.DataFrame) -> pd.DataFrame:
    for c in ("mk_ars", "mk_name"):
        if c not in mitgliedskommunen.columns:
            raise InputDataError(f"Mitgliedskommunen: es fehlt die Spalte '{c}'.")
    mk = pd.DataFrame({
        "Mitgliedskommune": mitgliedskommunen["mk_name"].astype(str).to_numpy(),
        "ARS": mitgliedskommunen["mk_ars"].astype(str).to_numpy(),
    })
    if mk["ARS"].duplicated().any():
        raise InputDataError("Mitgliedskommunen: ARS ist nicht eindeutig.", column="mk_ars",
                             value=mk.loc[mk["ARS"].duplicated(), "ARS"].iloc[0])
    return mk


def _numbers(seg: pd.DataFrame, mk: pd.DataFrame) -> pd.DataFrame:
    """Person sums per MK × level (unrounded), all MK × level rows, from a per-segment table."""
    mk_code = _mk_codes(seg["mk_ars"], mk)
    lv_code = _level_codes(seg["niveau"])
    persons = seg["personen"].to_numpy(float)
    unserved = seg["unversorgt"].to_numpy(float)
    grund = seg["grund"].astype(str).to_numpy(dtype=object) if "grund" in seg.columns else np.full(len(seg), "")
    zero = np.zeros(len(seg))

    def column(name: str, default: np.ndarray) -> np.ndarray:
        return seg[name].to_numpy() if name in seg.columns else default

    cols = [persons, np.where(column("erreichbar", zero).astype(bool), persons, 0.0),
            seg["versorgt"].to_numpy(float), unserved,
            *[np.where(grund == k, unserved, 0.0) for k in GAP_REASONS],
            np.where(column("nur_online", zero).astype(bool), column("online_versorgt", zero).astype(float), 0.0)]
    seg_mk = np.where(lv_code >= 0, mk_code, -1)
    sums = _blocks.segment_sums(seg_mk, np.maximum(lv_code, 0), len(mk), len(LEVELS), cols)
    outside = _blocks.segment_sums(seg_mk, np.maximum(lv_code, 0), len(mk), len(LEVELS),
                                   [column("versorgt_ausserhalb", zero).astype(float)])[:, 0]
    return _numbers_frame(sums, mk, outside=outside)


def _mk_level_frame(mk: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"ARS": np.repeat(mk["ARS"].to_numpy(), len(LEVELS)),
            "Niveau": np.tile(np.array(LEVELS, dtype=object), len(mk))}


def _numbers_frame(sums: np.ndarray, mk: pd.DataFrame, *, outside: np.ndarray | None = None) -> pd.DataFrame:
    """The sums of :data:`coverage.analysis._blocks.SUM_COLUMNS` per MK × level as the German columns.

    ``outside`` holds the persons per MK × level served by courses outside the county (zeros if None).
    """
    col = {k: sums[:, i] for i, k in enumerate(_blocks.SUM_COLUMNS)}
    return pd.DataFrame(_mk_level_frame(mk) | {
        "Bedarf": col["personen"], "erreichbar": col["erreichbar"], "versorgt": col["versorgt"],
        "unversorgt": col["unversorgt"], **{_REASON_COLUMNS[k]: col[k] for k in GAP_REASONS},
        "zusätzlich online versorgbar": col["nur_online"],
        OUTSIDE_COLUMN: np.zeros(len(sums)) if outside is None else outside,
    })


def _mk_codes(mk_ars: pd.Series, mk: pd.DataFrame, *, session: Session | None = None) -> np.ndarray:
    """Row of every segment's Mitgliedskommune in ``mk`` (-1 if unknown)."""
    codes, uniques = factorize(mk_ars, session=session)
    lookup = pd.Index(mk["ARS"].astype(str)).get_indexer(pd.Index(uniques)).astype(np.int64)
    return lookup[codes] if len(codes) else np.zeros(0, np.int64)


def _level_codes(niveau: pd.Series) -> np.ndarray:
    codes, uniques = factorize(niveau)
    lookup = np.array([LEVELS.index(u) if u in LEVELS else -1 for u in uniques], np.int64)
    return lookup[codes] if len(codes) else np.zeros(0, np.int64)


def _candidate_sums(row: np.ndarray, unserved: np.ndarray, cover: sp.spmatrix, n_rows: int) -> np.ndarray:
    """Per gap-table row: the unserved persons who reach the best single candidate course.

    Parameters
    ----------
    row
        Row of every segment in the gap table (``mk · len(LEVELS) + level``; -1 = none).
    unserved
        Unserved persons per segment.
    cover
        ``(n_segments, n_candidates)`` boolean: segment may attend candidate course.
    n_rows
        Rows of the gap table.

    Returns
    -------
    numpy.ndarray
        ``max_c Σ_{s in row, cover[s, c]} unserved[s]`` per row (0 without candidates).
    """
    row = np.asarray(row, np.int64)
    keep = (row >= 0) & (np.asarray(unserved, float) > _TOL)
    out = np.zeros(n_rows)
    if not keep.any() or cover.shape[1] == 0:
        return out
    idx = np.nonzero(keep)[0]
    weights = sp.csr_matrix((np.asarray(unserved, float)[idx], (row[idx], idx)), shape=(n_rows, len(row)))
    per = (weights @ sp.csr_matrix(cover, dtype=float)).tocsr()
    if per.nnz:
        out = np.asarray(per.max(axis=1).todense(), float).ravel()
    return np.maximum(out, 0.0)


def _e2sfca_median(e2: pd.DataFrame, seg: pd.DataFrame, mk: pd.DataFrame) -> pd.DataFrame:
    origin_ids, origin_code = np.unique(e2["herkunft_id"].astype(str).to_numpy(), return_inverse=True)
    seg_origin = pd.Index(origin_ids).get_indexer(seg["herkunft_id"].astype(str))
    mk_of_origin = _origin_mk(seg_origin, _mk_codes(seg["mk_ars"], mk), len(origin_ids))
    med = _blocks.median_table(mk_of_origin[origin_code], _level_codes(e2["niveau"]), e2["e2sfca"].to_numpy(float),
                               e2["personen"].to_numpy(float), len(mk), len(LEVELS))
    return pd.DataFrame(_mk_level_frame(mk) | {"E2SFCA-Index (Median)": np.round(med, 4)})


def _origin_mk(seg_origin: np.ndarray, seg_mk: np.ndarray, n_o: int) -> np.ndarray:
    """MK row of every origin: that of its first segment (-1 without segments or MK)."""
    out = np.full(n_o, -1, np.int64)
    ok = seg_origin >= 0
    out[seg_origin[ok][::-1]] = seg_mk[ok][::-1]  # the first segment of an origin is written last
    return out


def gap_table(
    segments: pd.DataFrame,
    mitgliedskommunen: pd.DataFrame,
    *,
    params: Parameters,
    e2sfca: pd.DataFrame | None = None,
    shifted_segments: Sequence[pd.DataFrame] = (),
) -> pd.DataFrame:
    """Build the gap table from a per-segment table.

    Parameters
    ----------
    segments
        Per-segment table as in :attr:`CoverageResult.segments`.
    mitgliedskommunen
        Table with ``mk_ars`` and ``mk_name``; one row per Mitgliedskommune.
    params
        Parameters (flag rule, shift for the column names, ``mindestanzahl``).
    e2sfca
        Index per origin × level, optional.
    shifted_segments
        Two per-segment tables for the thresholds shifted by ``−`` and ``+``
        ``params.sensitivitaet_min`` (optional; without them the shift columns
        repeat the base flag).

    Returns
    -------
    pandas.DataFrame
        Columns :func:`gap_columns`, one row per Mitgliedskommune × level.
    """
    mk = _mk_frame(mitgliedskommunen)
    unknown = sorted(set(segments["mk_ars"].astype(str)) - set(mk["ARS"]))
    if unknown:
        lost = float(segments.loc[segments["mk_ars"].astype(str).isin(unknown), "personen"].sum())
        logger.warning("%.1f Personen liegen in unbekannten Mitgliedskommunen %s und fehlen in der Lückentabelle.",
                       lost, unknown[:5])
    shifted = [None if sh is None else _numbers(sh, mk) for sh in (shifted_segments or (None, None))]
    med = _e2sfca_median(e2sfca, segments, mk) if e2sfca is not None else None
    return _gap_table(_numbers(segments, mk), mk, params=params, shifted=shifted, e2sfca_median=med)


def _course_table(courses: pd.DataFrame, r: Reach, a: AssignmentResult, seg: pd.DataFrame,
                  cap: np.ndarray, *, reachable: np.ndarray | None = None) -> pd.DataFrame:
    def col(name: str) -> pd.Series:
        return courses[name].reset_index(drop=True) if name in courses.columns else pd.Series([""] * len(courses))

    if reachable is None:
        reachable = np.asarray(r.ok.T.astype(float) @ seg["personen"].to_numpy(float)).ravel()
    load = a.load
    return pd.DataFrame({
        "kurs_id": courses["kurs_id"].astype(str).to_numpy(),
        "kursname": col("kursname").to_numpy(),
        "traeger": col("traeger").to_numpy(),
        "kursort": col("kursort").to_numpy(),
        "kursart": courses["kursart"].astype(str).to_numpy(),
        "niveaus": [", ".join(v) if isinstance(v, (tuple, list)) else str(v) for v in courses["niveaus"]],
        "kapazitaet": cap,
        "zugeordnet": load,
        "auslastung": np.divide(load, cap, out=np.full(len(cap), np.nan), where=cap > 0),
        "erreichbare_personen": reachable,
        "im_kreis": (courses["im_kreis"].astype(bool).to_numpy() if "im_kreis" in courses.columns
                     else np.ones(len(courses), bool)),
    })


def _with_lead(table: pd.DataFrame, only_course: np.ndarray | None, lead: float | None) -> pd.DataFrame:
    """Column ``rufbus_voranmeldung_min``: ``lead`` where someone reaches the course only with the Rufbus, else NaN."""
    if only_course is None:
        return table
    value = np.nan if lead is None else float(lead)
    table["rufbus_voranmeldung_min"] = np.where(np.asarray(only_course, bool), value, np.nan)
    return table


def _outside_flow(courses: pd.DataFrame, flow_ptr: np.ndarray, flow_idx: np.ndarray, flow_val: np.ndarray,
                  n_s: int) -> np.ndarray:
    """Persons per segment placed in courses outside the county (``im_kreis`` False; zeros without the column)."""
    if "im_kreis" not in courses.columns or courses["im_kreis"].astype(bool).all():
        return np.zeros(n_s)
    outside = ~courses["im_kreis"].astype(bool).to_numpy()
    rows = np.repeat(np.arange(n_s), np.diff(flow_ptr))
    mask = outside[flow_idx]
    return np.bincount(rows[mask], weights=flow_val[mask], minlength=n_s)


def _reach_objects(g: dict, prep, n_c: int) -> tuple[Reach, Reach]:
    """Reach with and without online courses from the assembled block results."""
    n_s = len(g["stage"])
    ok = sp.csr_matrix((np.ones(len(g["ok_idx"]), bool), g["ok_idx"], g["ok_ptr"]), shape=(n_s, n_c))
    minutes = sp.csr_matrix((g["ok_min"], g["ok_idx"], g["ok_ptr"]), shape=(n_s, n_c))
    ca = prep.courses
    reasons = np.asarray(REASONS, dtype=object)
    r = Reach(ok=ok, minutes=minutes, reason=reasons[stage_reason(g["stage"])], course_ids=ca["kurs_id"],
              online=ca["online"], include_online=True)
    if ca["online"].any():
        keep = ~ca["online"][g["ok_idx"]]
        rows = np.repeat(np.arange(n_s), np.diff(g["ok_ptr"]))[keep]
        ptr = np.zeros(n_s + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=n_s), out=ptr[1:])
        ok_off = sp.csr_matrix((np.ones(int(keep.sum()), bool), g["ok_idx"][keep], ptr), shape=(n_s, n_c))
        min_off = sp.csr_matrix((g["ok_min"][keep], g["ok_idx"][keep], ptr), shape=(n_s, n_c))
    else:
        ok_off, min_off = ok, minutes
    r_off = Reach(ok=ok_off, minutes=min_off, reason=reasons[stage_reason(g["stage_off"])],
                  course_ids=ca["kurs_id"], online=ca["online"], include_online=False)
    return r, r_off


def _problem(demand: pd.DataFrame, courses: pd.DataFrame, travel: CourseTravelTimes, params: Parameters,
             cap: np.ndarray, mk: pd.DataFrame | None = None, *, session: Session | None = None) -> _blocks.Problem:
    """Check the inputs and turn them into the arrays of :class:`coverage.analysis._blocks.Problem`."""
    if "allgemein" not in params.gruppen:
        raise InputDataError("Zielgruppe 'allgemein' hat keine Regeln (nötig für den E2SFCA-Index).")
    persons = pd.to_numeric(demand["personen"], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(persons)) or (persons < 0).any():
        raise InputDataError("Bedarf je Segment muss eine endliche Zahl ≥ 0 sein.", column="personen")
    prep = _prepare(demand, courses, travel, params, session=session)
    m = params.sensitivitaet_min
    names = prep.group_names
    limits = np.vstack([_group_limits(params, names), _group_limits(params.shifted(-m), names),
                        _group_limits(params.shifted(m), names)])
    modes = tuple(travel.modes)
    e2_allowed = allowed_modes(params.gruppen["allgemein"], rufbus=params.rufbus_erreichbar)
    e2_modes = np.array([mo in e2_allowed for mo in modes], bool)
    if mk is None:
        mk = pd.DataFrame({"ARS": pd.unique(demand["mk_ars"].astype(str))})
    seg_mk = _mk_codes(demand["mk_ars"], mk, session=session)
    n_o = travel.hin.shape[1]
    return _blocks.Problem(prep=prep, persons=persons, capacity=np.asarray(cap, float), limits=limits,
                           hin=travel.hin, rueck=travel.rueck, modes=modes, e2sfca_modes=e2_modes,
                           bands=tuple((float(u), float(w)) for u, w in params.e2sfca_baender),
                           seg_mk=seg_mk, n_mk=len(mk), origin_mk=_origin_mk(prep.seg_origin, seg_mk, n_o),
                           column_keys=travel.column_keys)


def _tables_of_sums(g: dict, mk: pd.DataFrame, origin_mk: np.ndarray, *, outside: np.ndarray | None = None
                    ) -> tuple[pd.DataFrame, list[pd.DataFrame], pd.DataFrame]:
    """Person sums (analysis, shifted runs) and index medians per MK × level from the summed block results."""
    n = len(mk) * len(LEVELS)
    sums = g["sums"] if isinstance(g["sums"], np.ndarray) else np.zeros((n, len(_blocks.SUM_COLUMNS)))
    shift = g["sums_shift"] if isinstance(g["sums_shift"], np.ndarray) else np.zeros((n, 2))
    bedarf = sums[:, _blocks.SUM_COLUMNS.index("personen")]
    shifted = [pd.DataFrame(_mk_level_frame(mk) | {"Bedarf": bedarf, "versorgt": shift[:, i],
                                                    "unversorgt": bedarf - shift[:, i]}) for i in (0, 1)]
    med = g["median"]
    if med is None or med.shape != (len(LEVELS), len(mk)):
        med = np.full((len(LEVELS), len(mk)), np.nan)
    # a level without courses and segments has the index 0 at every origin: median 0 where the MK has origins
    has_origin = np.bincount(origin_mk[origin_mk >= 0], minlength=len(mk))[:len(mk)] > 0
    covered = g.get("levels_covered")
    for lv in range(len(LEVELS)):
        if covered is None or not covered[lv]:
            med[lv] = np.where(has_origin, 0.0, np.nan)
    medians = pd.DataFrame(_mk_level_frame(mk) | {"E2SFCA-Index (Median)": np.round(med.T.ravel(), 4)})
    return _numbers_frame(sums, mk, outside=outside), shifted, medians


def _e2sfca_frame(e2: np.ndarray, problem: _blocks.Problem, origin_ids: np.ndarray) -> pd.DataFrame:
    """Index per origin × level as in :func:`coverage.analysis.accessibility.e2sfca_by_level`."""
    p = problem.prep
    n_o, n_l = len(origin_ids), len(LEVELS)
    d = np.bincount(p.seg_level * n_o + p.seg_origin, weights=problem.persons, minlength=n_l * n_o)
    return pd.DataFrame({
        "herkunft_id": _text(np.tile(np.arange(n_o), n_l), np.asarray(origin_ids).astype(str).tolist()),
        "niveau": _text(np.repeat(np.arange(n_l), n_o), LEVELS),
        "personen": d,
        "e2sfca": e2.ravel(),
    })


def assess(
    demand: pd.DataFrame,
    courses: pd.DataFrame,
    travel: CourseTravelTimes,
    *,
    params: Parameters,
    mitgliedskommunen: gpd.GeoDataFrame,
    kapazitaet: Literal["freie_plaetze", "plaetze"] | None = None,
    cache: Cache | None = None,
    candidate_cover: Sequence[sp.spmatrix] | None = None,
    session: Session | None = None,
    rufbus_vorlauf_min: float | None = None,
) -> CoverageResult:
    """Assess the provision of the existing courses.

    Parameters
    ----------
    demand
        Demand segments from :func:`coverage.analysis.demand.demand_segments`.
    courses
        Course registry (in the column order of ``travel`` or matched by ``kurs_id``).
    travel
        Travel times residents × courses.
    params
        Analysis parameters.
    mitgliedskommunen
        Polygons with ``mk_ars`` and ``mk_name``.
    kapazitaet
        Seats open to the demand: ``freie_plaetze`` (the other seats are held by
        current participants) or ``plaetze``; default ``params.kapazitaet``
        (``freie_plaetze`` if the parameters have no such field).
    cache
        Optional disk cache for the results of the independent level blocks
        (reach, assignments at the three thresholds, E2SFCA; kind
        ``versorgung_block``). Keys are fingerprints of all inputs of a block, so
        after one course was added, removed or changed only the blocks of its
        levels are computed again. None: nothing is stored on disk.
    candidate_cover
        Three boolean matrices ``(len(demand), n_candidates)``: which demand
        segment may attend which candidate course (site × level × schedule of the
        placement stage), at the analysis thresholds and with all thresholds
        shifted by ``−`` and ``+params.sensitivitaet_min``. They do not depend on
        the existing courses (the pipeline keeps them in the cache, so a quick
        rerun after new course registrations reads them). Used for rule (a) of the
        gap flag and the ``Rang``; without them both use the unserved persons (see
        the module docstring).
    session
        In-process memory of the caller (a watch loop, a notebook): block results,
        their per-course pieces and the codes of the demand's text columns are kept
        there and reused by the next call with the same keys. None: nothing is kept
        in memory.
    rufbus_vorlauf_min
        Longest booking lead time of the region's on-demand service
        (:attr:`coverage.traveltime.engine.Networks.vorlauf_max_min`); stated in
        the Begründung and the course sheet. With a ``rufbus`` mode in ``travel``
        the gap table gets :data:`RUFBUS_COLUMN` (persons reaching a course only
        with on-demand service, :func:`coverage.analysis.reach.rufbus_only`).

    Returns
    -------
    CoverageResult

    Notes
    -----
    The result does not depend on what was stored before: a block is either
    computed from scratch or taken whole from a run with exactly the same inputs.
    """
    if kapazitaet is None:
        kapazitaet = getattr(params, "kapazitaet", "freie_plaetze")
    for c in ("herkunft_id", "niveau", "gruppe", "personen", "mk_ars", "gemeinde_ars"):
        if c not in demand.columns:
            raise InputDataError(f"Bedarfssegmente: es fehlt die Spalte '{c}'.")
    demand = demand.reset_index(drop=True)
    courses = courses.reset_index(drop=True)
    cap = course_capacity(courses, kapazitaet=kapazitaet)
    mk = _mk_frame(mitgliedskommunen)
    problem = _problem(demand, courses, travel, params, cap, mk, session=session)
    blocks = _blocks.compute_blocks(problem, cache=cache, session=session)
    n_s, n_c, n_o = len(demand), len(courses), travel.hin.shape[1]
    g = _blocks.assemble(blocks, n_s, n_c, len(LEVELS), n_o)
    r, r_off = _reach_objects(g, problem.prep, n_c)
    flow = sp.csr_matrix((g["flow_val"], g["flow_idx"], g["flow_ptr"]), shape=(n_s, n_c))
    persons = problem.persons
    served = g["served"]
    unserved = persons - served
    load = np.bincount(g["flow_idx"], weights=g["flow_val"], minlength=n_c)
    a = AssignmentResult(flow=flow, served=served, unserved=unserved, load=load, total_minutes=g["total_minutes"],
                         n_variables=g["n_variables"])
    online = problem.prep.courses["online"]
    if online.any():
        rows = np.repeat(np.arange(n_s), np.diff(g["flow_ptr"]))
        on = online[g["flow_idx"]]
        online_flow = np.bincount(rows[on], weights=g["flow_val"][on], minlength=n_s)
    else:
        online_flow = np.zeros(n_s)
    cols = _segment_columns(g["ok_ptr"], g["ok_min"], stage_reason(g["stage"]), stage_reason(g["stage_off"]),
                            served, unserved, online_flow)
    outside_flow = _outside_flow(courses, g["flow_ptr"], g["flow_idx"], g["flow_val"], n_s)
    cols["versorgt_ausserhalb"] = outside_flow
    seg = _segment_frame(demand, cols)
    mk_code = problem.seg_mk
    if (mk_code < 0).any():
        unknown = sorted(set(pd.unique(demand["mk_ars"].astype(str)[mk_code < 0])))
        logger.warning("%.1f Personen liegen in unbekannten Mitgliedskommunen %s und fehlen in der Lückentabelle.",
                       float(persons[mk_code < 0].sum()), unknown[:5])
    lv_code = problem.prep.seg_level
    outside = _blocks.segment_sums(mk_code, lv_code, len(mk), len(LEVELS), [outside_flow])[:, 0]
    num, shifted, med = _tables_of_sums(g, mk, problem.origin_mk, outside=outside)
    only_course = None
    if RUFBUS_MODE in travel.modes:
        only_seg, only_course = rufbus_only(demand, courses, travel, params=params)
        seg["nur_rufbus"] = only_seg
        num[RUFBUS_COLUMN] = _blocks.segment_sums(mk_code, lv_code, len(mk), len(LEVELS),
                                                  [np.where(only_seg, persons, 0.0)])[:, 0]
    if candidate_cover is not None:
        if len(candidate_cover) != 3 or any(c.shape[0] != n_s for c in candidate_cover):
            raise ValueError("candidate_cover: drei Matrizen mit einer Zeile je Bedarfssegment erwartet.")
        row = np.where((mk_code >= 0) & (lv_code >= 0), mk_code * len(LEVELS) + lv_code, -1)
        unserved_runs = [unserved, persons - g["served_minus"], persons - g["served_plus"]]
        for frame, u, cover in zip([num, *shifted], unserved_runs, candidate_cover, strict=True):
            frame[CANDIDATE_COLUMN] = _candidate_sums(row, u, cover, len(num))
    else:
        notes_fallback = ("Kandidatenstandorte nicht berechnet: „durch neuen Kurs versorgbar“ zählt alle "
                          "Unversorgten (ohne Prüfung, ob sie einen möglichen Kursort erreichen).")
        logger.warning(notes_fallback)
    e2 = _e2sfca_frame(g["e2sfca"], problem, travel.origin_ids)
    gaps = _gap_table(num, mk, params=params, shifted=shifted, e2sfca_median=med,
                      rufbus_vorlauf_min=rufbus_vorlauf_min)
    m = params.sensitivitaet_min
    changed = gaps[gaps["Flagge robust"] == "nein"]
    robustness = changed[["Mitgliedskommune", "ARS", "Niveau", "Versorgungslücke", _shift_label("−", m),
                          _shift_label("+", m)]].reset_index(drop=True)
    if len(robustness) and logger.isEnabledFor(logging.INFO):
        logger.info("%d Lücken-Einstufungen ändern sich bei ±%g min: %s", len(robustness), m,
                    "; ".join(f"{a} {b}" for a, b in zip(robustness["Mitgliedskommune"], robustness["Niveau"],
                                                         strict=True)))
    total, served = float(seg["personen"].sum()), float(seg["versorgt"].sum())
    n_flag = int((gaps["Versorgungslücke"] == "ja").sum())
    logger.info("%d von %d Zeilen sind Versorgungslücken; %d Einstufungen ändern sich bei ±%g min", n_flag,
                len(gaps), len(robustness), m)
    notes = [
        f"{_de(served)} von {_de(total)} Personen versorgt (Kapazität: {kapazitaet}), davon "
        f"{_de(float(outside_flow.sum()))} in Kursen außerhalb des Kreises.",
        f"{int((gaps['Versorgungslücke'] == 'ja').sum())} Versorgungslücken, davon {len(robustness)} nicht robust "
        f"gegenüber ±{m:g} min.",
    ]
    logger.info("Lücken: %s %s", *notes)
    return CoverageResult(
        segments=seg,
        courses=_with_lead(_course_table(courses, r, a, seg, cap, reachable=g["reach_persons"]), only_course,
                           rufbus_vorlauf_min),
        gaps=gaps,
        e2sfca=e2,
        robustness=robustness,
        reach=r,
        reach_offline=r_off,
        assignment=a,
        assumptions=demand_assumptions_table(params),
        mitgliedskommunen=mitgliedskommunen,
        params=params,
        kapazitaet=kapazitaet,
        notes=notes if candidate_cover is not None else [*notes, notes_fallback],
    )
