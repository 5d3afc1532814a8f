"""Proposals of new county-funded courses for the persons without a course place.

:func:`propose_courses` builds the candidate courses (:mod:`coverage.placement.candidates`),
asks the caller for the reach matrices, solves the model with the decomposed path of
:mod:`coverage.placement.solve` (one solve for the proposal and the marginal curve) and
returns the numbers as a :class:`PlacementResult`. The German tables and files are
made from it in :mod:`coverage.outputs.proposals`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.errors import InputDataError
from coverage.inputs.config import Parameters
from coverage.placement.candidates import candidate_courses
from coverage.placement.curve import curve_table, marginal_curve
from coverage.placement.model import PlacementSolution, evaluate_selection, prepare
from coverage.placement.solve import solve_decomposed, solve_placement

__all__ = ["ASSIGNMENT_COLUMNS", "SEGMENT_COLUMNS", "PlacementResult", "propose_courses"]

logger = logging.getLogger(__name__)

SEGMENT_COLUMNS: tuple[str, ...] = ("herkunft_id", "niveau", "gruppe", "unversorgt", "mk_ars", "gemeinde_ars")
ASSIGNMENT_COLUMNS: tuple[str, ...] = ("herkunft_id", "niveau", "gruppe", "kurs_id", "personen")


@dataclass(frozen=True)
class PlacementResult:
    """Proposals for new county-funded courses (numbers; the German tables are built in ``coverage.outputs``).

    Attributes
    ----------
    curve
        Marginal-value curve (see :func:`coverage.placement.curve.marginal_curve`).
    solution
        The array-level solution (gap, time, method, merged point count).
    courses
        All candidate courses (from :func:`candidate_courses`), with ``gewaehlt``.
    assignment
        Expected persons per segment and proposed course: ``herkunft_id``,
        ``niveau``, ``gruppe``, ``kurs_id``, ``personen``.
    segments
        The unserved demand segments the model was built from (index 0 … n−1;
        rows of ``cover``, ``minutes`` and ``solution.flow``).
    cover, minutes
        Sparse ``(n_segments, n_courses)``: may segment i attend course k, and its
        travel minutes (from ``cover_fn``, other levels removed).
    weights
        ``(n_segments,)`` unserved persons per segment.
    marginal
        ``(n_courses,)`` persons who would lose their new place if only this course
        were dropped and the others re-optimised (0 for courses not selected).
    budget_count, budget_euro
        Budgets used.
    """

    curve: pd.DataFrame
    solution: PlacementSolution
    courses: pd.DataFrame
    assignment: pd.DataFrame
    segments: pd.DataFrame
    cover: sp.csr_matrix
    minutes: sp.csr_matrix
    weights: np.ndarray
    marginal: np.ndarray
    budget_count: int | None = None
    budget_euro: float | None = None


def propose_courses(
    segments: pd.DataFrame,
    candidates: pd.DataFrame,
    cover_fn: Callable[[pd.DataFrame], tuple[sp.spmatrix, sp.spmatrix]],
    *,
    params: Parameters,
    budget_count: int | None = None,
    budget_euro: float | None = None,
    curve_max: int | None = None,
    time_limit_s: float | None = None,
    mip_rel_gap: float = 0.01,
) -> PlacementResult:
    """Propose new county-funded courses for the persons without a course place.

    Parameters
    ----------
    segments
        Unserved demand: ``herkunft_id``, ``niveau``, ``gruppe``, ``unversorgt``
        (expected persons), ``mk_ars``, ``gemeinde_ars``.
    candidates
        Candidate sites (see :func:`candidate_courses`).
    cover_fn
        ``cover_fn(courses) -> (ok, minutes)``: for the candidate-course table,
        sparse ``(n_segments, n_courses)`` matrices: may segment i attend course k
        under the reach rules, and the travel minutes (shown in the table).
    params
        Analysis parameters; budgets default to ``params.budget_euro`` if set, else
        ``params.budget_kurse``.
    budget_count, budget_euro
        Override the budgets of ``params``.
    curve_max
        Largest course count in the marginal-value curve (default budget + 4).
    time_limit_s
        Solver time for the proposal and the curve together (default 60 s; with a
        euro budget the proposal and each curve point get this much each).
    mip_rel_gap
        Relative optimality gap at which the solver stops.

    Returns
    -------
    PlacementResult
    """
    missing = [c for c in SEGMENT_COLUMNS if c not in segments.columns]
    if missing:
        raise InputDataError(f"Nachfragesegmente: es fehlen die Spalten {missing}.")
    seg = segments.reset_index(drop=True)
    weights = pd.to_numeric(seg["unversorgt"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise InputDataError("Nachfragesegmente: 'unversorgt' muss eine Zahl ≥ 0 sein.", column="unversorgt")
    courses = candidate_courses(candidates, params=params)
    n_s, n_k = len(seg), len(courses)
    ok, minutes = cover_fn(courses)
    ok = sp.csr_matrix(ok, dtype=bool)
    minutes = sp.csr_matrix(minutes, dtype=float)
    if ok.shape != (n_s, n_k) or minutes.shape != (n_s, n_k):
        raise InputDataError(
            f"cover_fn lieferte Matrizen der Form {ok.shape}/{minutes.shape}, erwartet ({n_s}, {n_k})."
        )
    # safety net: a course only serves its own level
    same_level = seg["niveau"].to_numpy()[ok.nonzero()[0]] == courses["niveau"].to_numpy()[ok.nonzero()[1]]
    if not same_level.all():
        logger.warning("cover_fn erlaubt %d Paare mit anderem Niveau; sie werden entfernt.", int((~same_level).sum()))
        r, c = ok.nonzero()
        ok = sp.csr_matrix((np.ones(int(same_level.sum()), bool), (r[same_level], c[same_level])), shape=ok.shape)

    if budget_count is None and budget_euro is None:
        if params.budget_euro is not None:
            budget_euro = params.budget_euro
        else:
            budget_count = params.budget_kurse
    capacity = courses["plaetze"].to_numpy(float)
    min_size = courses["min_gruppe"].to_numpy(float)
    cost = courses["kosten"].to_numpy(float)
    groups = courses["konfliktgruppe"].to_numpy(np.int64)
    sites = courses["standort_id"].astype(str).to_numpy()
    limit = 60.0 if time_limit_s is None else float(time_limit_s)
    if curve_max is None:
        base = budget_count if budget_count is not None else int(budget_euro // max(cost.min(initial=1.0), 1.0))
        curve_max = base + 4
    if budget_euro is None:
        # one decomposed solve gives the proposal and the whole curve
        t0 = time.perf_counter()
        # merge by coverage only: far fewer demand points and a much stronger solve on county data;
        # the travel tie-break then uses each merged point's person-weighted mean minutes
        prep = prepare(weights, ok, capacity=capacity, min_size=min_size, cost=cost, budget_euro=None,
                       conflict_groups=groups, value_weights=None, relax=False, cost_minutes=minutes, sites=sites,
                       merge_minutes=None)
        kmax = max(int(curve_max), int(budget_count))
        parts = solve_decomposed(prep, kmax, time_limit_s=limit, mip_rel_gap=mip_rel_gap,
                                 targets=(int(budget_count), kmax), t0=t0)
        sol = parts.solution(int(budget_count))
        curve = curve_table(parts, int(curve_max))
    else:
        sol = solve_placement(
            weights, ok, capacity=capacity, min_size=min_size, cost=cost, budget_count=budget_count,
            budget_euro=budget_euro, conflict_groups=groups, time_limit_s=limit, mip_rel_gap=mip_rel_gap,
            cost_minutes=minutes, sites=sites,
        )
        curve = marginal_curve(
            weights, ok, max_courses=curve_max, capacity=capacity, min_size=min_size, cost=cost,
            conflict_groups=groups, time_limit_s=limit, mip_rel_gap=mip_rel_gap,
        )
    marginal = _marginal_contributions(sol, weights, ok, capacity=capacity, min_size=min_size)
    assignment = _assignment(seg, courses, sol)
    courses = courses.assign(gewaehlt=sol.selected)
    return PlacementResult(curve, sol, courses, assignment, seg, ok, minutes, weights, marginal, budget_count,
                           budget_euro)


def _marginal_contributions(
    sol: PlacementSolution, weights: np.ndarray, ok: sp.csr_matrix, *, capacity: np.ndarray, min_size: np.ndarray
) -> np.ndarray:
    """Per course: persons newly served by the proposal who lose their place if only this course is dropped.

    The other courses are re-optimised (:func:`coverage.placement.model.evaluate_selection`); 0 for
    courses not selected.
    """
    marginal = np.zeros(len(sol.selected))
    for k in np.nonzero(sol.selected)[0]:
        rest = sol.selected.copy()
        rest[k] = False
        ev = evaluate_selection(weights, ok, rest, capacity=capacity, min_size=min_size)
        rest_value = ev[0] if ev is not None else 0.0
        marginal[k] = max(sol.served_new - rest_value, 0.0)
    return marginal


def _assignment(seg: pd.DataFrame, courses: pd.DataFrame, sol: PlacementSolution) -> pd.DataFrame:
    """Expected persons per segment and selected course (in course order)."""
    flow = sol.flow.tocsc()
    parts = []
    for k in np.nonzero(sol.selected)[0]:
        lo, hi = flow.indptr[k], flow.indptr[k + 1]
        d = flow.indices[lo:hi]
        parts.append(pd.DataFrame({
            "herkunft_id": seg["herkunft_id"].to_numpy()[d],
            "niveau": seg["niveau"].to_numpy()[d],
            "gruppe": seg["gruppe"].to_numpy()[d],
            "kurs_id": courses["kurs_id"].iloc[k],
            "personen": flow.data[lo:hi],
        }))
    if not parts:
        return pd.DataFrame(columns=list(ASSIGNMENT_COLUMNS))
    return pd.concat(parts, ignore_index=True)
