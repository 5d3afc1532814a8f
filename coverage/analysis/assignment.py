"""Capacity-constrained assignment of demand to course seats (a transportation LP).

Every demand segment ``s`` has ``supply[s]`` expected persons; every course ``c``
has ``capacity[c]`` seats; ``pairs`` lists the allowed segment–course pairs with
their travel minutes. The flow ``x[s, c] ≥ 0`` is chosen lexicographically:

1. maximise the persons served ``Σ x`` subject to ``Σ_c x[s, c] ≤ supply[s]``
   and ``Σ_s x[s, c] ≤ capacity[c]``;
2. among those flows, minimise the total travel minutes ``Σ t[s, c] · x[s, c]``.

Both stages are solved as one min-cost flow whose cost per person is ``t[s, c] − M``
with ``M = (number of courses) · max(t) + 1``: an augmenting path changes the
minutes by less than ``M`` per person, so a flow that serves fewer persons is never
optimal (exact lexicographic optimum). The flow is found by an exact network
simplex (:mod:`coverage.analysis._transport`), started from the greedy assignment (every
segment to its cheapest course while seats last): where no course fills up, that
start is already optimal. Flows are sums and differences of the persons of the
segments, so no solver tolerance enters the served totals; with whole minutes
(``round_minutes=1``) the costs are integers and the optimality test is exact.

Segments with identical allowed courses and minutes are merged first (exactly:
rows are hashed and compared entry by entry); the flow of a merged segment is
split in proportion to the persons of its members.

Capacity is by default the **free** seats (``freie_plaetze``): the other seats are
held by current participants, who are not part of the demand. With
``kapazitaet="plaetze"`` the whole course is assumed to be open to the demand.

The optimum is not unique in general: which of several equally good segments gets
a seat is arbitrary; totals (served persons, minutes) are unique.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.analysis._transport import assign_csr
from coverage.errors import InputDataError

__all__ = ["AssignmentResult", "assign", "course_capacity"]

logger = logging.getLogger(__name__)

_TOL = 1e-9


@dataclass(frozen=True)
class AssignmentResult:
    """Result of :func:`assign`.

    Attributes
    ----------
    flow
        CSR ``(n_seg, n_c)``: expected persons of segment s in course c.
    served, unserved
        ``(n_seg,)`` persons served / not served; ``served + unserved = supply``.
    load
        ``(n_c,)`` persons assigned to each course (``≤ capacity``).
    total_minutes
        ``Σ t · x`` over the flow.
    n_variables
        Pairs in the min-cost flow (after merging identical segments; only
        segments with persons and courses with seats).
    """

    flow: sp.csr_matrix
    served: np.ndarray
    unserved: np.ndarray
    load: np.ndarray
    total_minutes: float
    n_variables: int


def assign(
    supply: np.ndarray,
    capacity: np.ndarray,
    pairs: sp.spmatrix,
    *,
    round_minutes: float | None = None,
) -> AssignmentResult:
    """Assign demand to seats: most persons served first, then fewest travel minutes.

    Segments with identical allowed courses and minutes are merged before solving
    (exactly); with ``round_minutes`` the minutes used for the tie-break are rounded
    first (e.g. to whole minutes), which merges far more segments and never changes
    the number of persons served.

    Parameters
    ----------
    supply
        ``(n_seg,)`` expected persons per segment (≥ 0).
    capacity
        ``(n_c,)`` seats per course (≥ 0).
    pairs
        Sparse ``(n_seg, n_c)``: the stored entries are the allowed pairs and
        their values the travel minutes (explicit zeros are allowed pairs with 0
        minutes, e.g. online courses).
    round_minutes
        Round the minutes to this step before solving (None = exact minutes).

    Returns
    -------
    AssignmentResult

    Raises
    ------
    InputDataError
        If shapes do not match or values are negative or not finite.
    OptimizationError
        If the network simplex fails (should not happen: the model is always feasible).
    """
    supply = np.asarray(supply, float).ravel()
    capacity = np.asarray(capacity, float).ravel()
    n_s, n_c = len(supply), len(capacity)
    if pairs.shape != (n_s, n_c):
        raise InputDataError(f"Paarmatrix hat die Form {pairs.shape}, erwartet ({n_s}, {n_c}).")
    if not np.all(np.isfinite(supply)) or (supply < 0).any():
        raise InputDataError("Bedarf je Segment muss eine endliche Zahl ≥ 0 sein.")
    if not np.all(np.isfinite(capacity)) or (capacity < 0).any():
        raise InputDataError("Kursplätze müssen eine endliche Zahl ≥ 0 sein.")
    csr = sp.csr_matrix(pairs, dtype=float)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    if not np.all(np.isfinite(csr.data)) or (csr.data < 0).any():
        raise InputDataError("Reisezeiten der erlaubten Paare müssen endlich und ≥ 0 sein.")
    return assignment_of(supply, capacity, csr.indptr, csr.indices, csr.data, round_minutes=round_minutes)


def assignment_of(
    supply: np.ndarray,
    capacity: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    minutes: np.ndarray,
    *,
    round_minutes: float | None = None,
) -> AssignmentResult:
    """:func:`assign` on checked CSR arrays (sorted indices, no duplicates), without validation."""
    n_s, n_c = len(supply), len(capacity)
    out = assign_csr(supply, capacity, indptr, indices, minutes, round_minutes=round_minutes, tol=_TOL)
    flow = sp.csr_matrix((out["data"], out["indices"], out["indptr"]), shape=(n_s, n_c))
    served = out["served"]
    logger.debug(
        "Zuordnung: %d Segmente in %d Gruppen, %d Paare, %d Pivotschritte, %.1f von %.1f Personen versorgt, "
        "%.0f Personenminuten", n_s, out["n_groups"], out["n_variables"], out["pivots"], float(served.sum()),
        float(supply.sum()), out["total_minutes"],
    )
    return AssignmentResult(
        flow=flow, served=served, unserved=supply - served, load=out["load"], total_minutes=out["total_minutes"],
        n_variables=int(out["n_variables"]),
    )


def _assign_exact(supply: np.ndarray, capacity: np.ndarray, pairs: sp.spmatrix) -> AssignmentResult:
    """:func:`assign` with every segment solved on its own (no merging; for tests)."""
    csr = sp.csr_matrix(pairs, dtype=float)
    csr.sort_indices()
    n_s, n_c = len(supply), len(capacity)
    # tag every row with a unique extra column so that no two rows are equal
    tagged = sp.hstack([csr, sp.csr_matrix((np.arange(n_s, dtype=float) + 1.0, (np.arange(n_s), np.zeros(n_s))),
                                           shape=(n_s, 1))]).tocsr()
    tagged.sort_indices()
    cap = np.concatenate([capacity, [0.0]])  # the tag column has no seats
    res = assignment_of(np.asarray(supply, float), cap, tagged.indptr, tagged.indices, tagged.data)
    return AssignmentResult(flow=sp.csr_matrix(res.flow[:, :n_c]), served=res.served, unserved=res.unserved,
                            load=res.load[:n_c], total_minutes=res.total_minutes, n_variables=res.n_variables)


def course_capacity(
    courses: pd.DataFrame, *, kapazitaet: Literal["freie_plaetze", "plaetze"] = "freie_plaetze"
) -> np.ndarray:
    """Seats available to the demand per course.

    Parameters
    ----------
    courses
        Courses with the column named by ``kapazitaet``.
    kapazitaet
        ``freie_plaetze`` (default: the other seats are taken by current
        participants) or ``plaetze`` (the whole course).

    Returns
    -------
    numpy.ndarray
        ``(n_c,)`` seats ≥ 0; missing values count as 0 (with a warning).

    Raises
    ------
    InputDataError
        If the column is missing or a value is negative.
    """
    if kapazitaet not in ("freie_plaetze", "plaetze"):
        raise InputDataError(f"Unbekannte Kapazität '{kapazitaet}'; erlaubt: freie_plaetze, plaetze.")
    if kapazitaet not in courses.columns:
        raise InputDataError(f"Kurse: es fehlt die Spalte '{kapazitaet}'.")
    cap = np.array(pd.to_numeric(courses[kapazitaet], errors="coerce"), dtype=float)
    nan = ~np.isfinite(cap)
    if nan.any():
        logger.warning("%d Kurse ohne Angabe in '%s': als 0 Plätze gezählt.", int(nan.sum()), kapazitaet)
        cap[nan] = 0.0
    neg = np.nonzero(cap < 0)[0]
    if len(neg):
        raise InputDataError("Platzzahl darf nicht negativ sein.", column=kapazitaet, row=int(neg[0]) + 1,
                             value=cap[neg[0]])
    return cap
