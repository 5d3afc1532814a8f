"""Private cross-check of the placement model against spopt's MCLP.

With capacity and minimum group relaxed, :func:`coverage.placement.solve_placement`
(``relax=True``) is a maximal covering location problem; on the same instance it
must reach the same covered weight as ``spopt.locate.MCLP.from_cost_matrix``. The
second part reports how many of spopt's picks would fail the real constraints.

spopt (and numba, which it imports) are test dependencies only; they are imported
lazily.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage._compat import import_numba
from coverage.placement import evaluate_selection, solve_placement

__all__ = ["SpoptComparison", "compare_with_spopt", "spopt_mclp", "spopt_viability"]

logger = logging.getLogger(__name__)


def _import_spopt_locate() -> ModuleType:
    """Import ``spopt.locate`` (numba first, shielded from this package's name)."""
    import_numba()
    return importlib.import_module("spopt.locate")


def spopt_mclp(weights: np.ndarray, cover: sp.spmatrix | np.ndarray, *, p: int) -> tuple[np.ndarray, float]:
    """Solve the MCLP with spopt (PuLP + HiGHS, CBC if HiGHS is missing).

    Parameters
    ----------
    weights
        ``(n_d,)`` persons per demand point.
    cover
        ``(n_d, n_k)`` boolean coverage.
    p
        Number of facilities (spopt requires exactly ``p``; capped at ``n_k``).

    Returns
    -------
    selected, covered
        Bool ``(n_k,)`` picks and the covered weight (each point counted once).
    """
    import pulp

    locate = _import_spopt_locate()
    dense = sp.csr_matrix(cover, dtype=bool).toarray()
    cost = np.where(dense, 0.0, 1.0)
    w = np.asarray(weights, dtype=float)
    p = min(int(p), dense.shape[1])
    model = locate.MCLP.from_cost_matrix(cost, w, service_radius=0.5, p_facilities=p)
    available = pulp.listSolvers(onlyAvailable=True)
    solver = pulp.HiGHS(msg=False) if "HiGHS" in available else pulp.PULP_CBC_CMD(msg=False)
    model = model.solve(solver, results=False)
    selected = np.array([v.value() > 0.5 for v in model.fac_vars], dtype=bool)
    covered = float(w[dense[:, selected].any(axis=1)].sum())
    return selected, covered


def spopt_viability(
    weights: np.ndarray,
    cover: sp.spmatrix | np.ndarray,
    selected: np.ndarray,
    *,
    capacity: np.ndarray | float,
    min_size: np.ndarray | float,
) -> pd.DataFrame:
    """Check each pick of a pure covering solution against the real constraints.

    Returns
    -------
    DataFrame
        One row per pick: ``kandidat`` (column index), ``erreichbar`` (unserved
        persons who can reach it), ``exklusiv`` (of those, reachable by no other
        pick), ``unter_mindestgruppe`` (``erreichbar`` < minimum group),
        ``ueber_kapazitaet`` (``erreichbar`` > capacity: it is credited with more
        persons than it can hold), ``nicht_tragfaehig`` (either).
    """
    c = sp.csr_matrix(cover, dtype=bool)
    n_k = c.shape[1]
    w = np.asarray(weights, dtype=float)
    cap = np.broadcast_to(np.asarray(capacity, dtype=float), (n_k,))
    mins = np.broadcast_to(np.asarray(min_size, dtype=float), (n_k,))
    picks = np.nonzero(np.asarray(selected, dtype=bool))[0]
    sub = c[:, picks].tocsc().astype(np.int64)
    n_cov = np.asarray(sub.sum(axis=1)).ravel()
    reach = np.asarray(sub.T @ w).ravel()
    excl = np.asarray(sub.T @ (w * (n_cov == 1))).ravel()
    below = reach < mins[picks] - 1e-9
    over = reach > cap[picks] + 1e-9
    return pd.DataFrame({
        "kandidat": picks,
        "erreichbar": reach,
        "exklusiv": excl,
        "unter_mindestgruppe": below,
        "ueber_kapazitaet": over,
        "nicht_tragfaehig": below | over,
    })


@dataclass(frozen=True)
class SpoptComparison:
    """Result of :func:`compare_with_spopt`.

    Attributes
    ----------
    p
        Number of courses.
    covered_ours, covered_spopt
        Covered weight of the relaxed model (``relax=True``) and of spopt's MCLP.
    selected_ours, selected_spopt
        Their picks.
    picks
        :func:`spopt_viability` table of spopt's picks.
    n_not_viable
        spopt picks under the minimum group or over capacity.
    served_spopt_real
        Persons spopt's picks really serve with capacity and minimum group (picks
        that cannot all be viable are dropped, least reachable first).
    served_ours_real
        Persons served by :func:`solve_placement` with the real constraints.
    """

    p: int
    covered_ours: float
    covered_spopt: float
    selected_ours: np.ndarray
    selected_spopt: np.ndarray
    picks: pd.DataFrame
    n_not_viable: int
    served_spopt_real: float
    served_ours_real: float


def compare_with_spopt(
    weights: np.ndarray,
    cover: sp.spmatrix | np.ndarray,
    *,
    p: int,
    capacity: np.ndarray | float,
    min_size: np.ndarray | float,
    time_limit_s: float = 60.0,
) -> SpoptComparison:
    """Compare the placement model with spopt's MCLP on one instance."""
    c = sp.csr_matrix(cover, dtype=bool)
    n_k = c.shape[1]
    w = np.asarray(weights, dtype=float)
    ours = solve_placement(w, c, budget_count=p, relax=True, time_limit_s=time_limit_s, mip_rel_gap=1e-9)
    covered_ours = float(w[c[:, ours.selected].toarray().any(axis=1)].sum()) if ours.selected.any() else 0.0
    sel_spopt, covered_spopt = spopt_mclp(w, c, p=p)
    picks = spopt_viability(w, c, sel_spopt, capacity=capacity, min_size=min_size)
    cap = np.broadcast_to(np.asarray(capacity, dtype=float), (n_k,))
    mins = np.broadcast_to(np.asarray(min_size, dtype=float), (n_k,))
    keep = sel_spopt.copy()
    keep[picks.loc[picks["unter_mindestgruppe"], "kandidat"].to_numpy()] = False
    served_spopt = 0.0
    while keep.any():
        ev = evaluate_selection(w, c, keep, capacity=cap, min_size=mins)
        if ev is not None:
            served_spopt = float(ev[1].sum())
            break
        idx = np.nonzero(keep)[0]
        reach = np.asarray(c[:, idx].T.astype(float) @ w).ravel()
        keep[idx[np.argmin(reach)]] = False
    real = solve_placement(w, c, capacity=cap, min_size=mins, budget_count=p, time_limit_s=time_limit_s,
                           mip_rel_gap=1e-9)
    logger.info("MCLP-Vergleich: eigenes Modell %.3f, spopt %.3f abgedeckt; %d spopt-Kurse nicht tragfähig.",
                covered_ours, covered_spopt, int(picks["nicht_tragfaehig"].sum()))
    return SpoptComparison(
        p, covered_ours, covered_spopt, ours.selected, sel_spopt, picks, int(picks["nicht_tragfaehig"].sum()),
        served_spopt, real.served_new,
    )
