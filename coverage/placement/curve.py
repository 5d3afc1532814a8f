"""The marginal-value curve: newly served persons for 1, 2, … new courses."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.placement.model import PlacementSolution, as_vector, prepare
from coverage.placement.solve import Decomposition, solve_decomposed, solve_placement

__all__ = ["CURVE_COLUMNS", "curve_table", "marginal_curve"]

logger = logging.getLogger(__name__)

CURVE_COLUMNS: tuple[str, ...] = (
    "Anzahl Kurse",
    "neu versorgte Personen",
    "Zuwachs",
    "Kosten (€)",
    "Optimalitätslücke (%)",
    "Methode",
)



def marginal_curve(
    weights: np.ndarray,
    cover: sp.spmatrix | np.ndarray,
    *,
    max_courses: int,
    capacity: np.ndarray | float,
    min_size: np.ndarray | float,
    cost: np.ndarray | float | None = None,
    budget_euro: float | None = None,
    conflict_groups: np.ndarray | None = None,
    value_weights: np.ndarray | float | None = None,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 0.01,
) -> pd.DataFrame:
    """Newly served persons with 1 … ``max_courses`` new courses.

    Without a euro budget the model is split into independent blocks (see
    :func:`solve_placement`); every block is solved once for 0 … ``max_courses``
    courses and each point of the curve is a knapsack DP over the blocks (the whole
    curve within ``time_limit_s``). With a euro budget every k is a joint solve
    (``time_limit_s`` each). The curve is non-decreasing.

    Returns
    -------
    DataFrame
        Columns ``Anzahl Kurse``, ``neu versorgte Personen``, ``Zuwachs``,
        ``Kosten (€)``, ``Optimalitätslücke (%)``, ``Methode``.
    """
    if max_courses < 0:
        raise ValueError("'max_courses' darf nicht negativ sein.")
    cost_arr = as_vector("cost", cost, sp.csr_matrix(cover).shape[1], default=0.0)
    if budget_euro is None:
        t0 = time.perf_counter()
        prep = prepare(weights, cover, capacity=capacity, min_size=min_size, cost=cost_arr, budget_euro=None,
                       conflict_groups=conflict_groups, value_weights=value_weights, relax=False)
        parts = solve_decomposed(prep, max_courses, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, t0=t0)
        return curve_table(parts, max_courses)
    rows: list[dict[str, object]] = []
    previous = 0.0
    for k in range(1, max_courses + 1):
        sol = solve_placement(
            weights, cover, capacity=capacity, min_size=min_size, cost=cost_arr, budget_count=k,
            budget_euro=budget_euro, conflict_groups=conflict_groups, value_weights=value_weights,
            time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap,
        )
        rows.append(_curve_row(k, sol, previous, cost_arr))
        previous = float(rows[-1]["neu versorgte Personen"])  # type: ignore[arg-type]
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def _curve_row(k: int, sol: PlacementSolution, previous: float, cost_arr: np.ndarray) -> dict[str, object]:
    persons = max(sol.served_new, previous)  # k courses can always do what k − 1 did
    gap = sol.gap if np.isfinite(sol.gap) else 0.0
    return dict(zip(CURVE_COLUMNS, (
        k, persons, persons - previous, float(cost_arr[sol.selected].sum()), round(100.0 * max(gap, 0.0), 3),
        sol.method,
    ), strict=True))


def curve_table(parts: Decomposition, max_courses: int) -> pd.DataFrame:
    """The curve for 1 … ``max_courses`` (≤ ``parts.kmax``) courses from solved blocks (a knapsack DP per point)."""
    prep = parts.prep
    cost_full = np.zeros(prep.cover.shape[1])
    cost_full[prep.eligible] = prep.cost
    rows: list[dict[str, object]] = []
    previous = 0.0
    for k in range(1, max_courses + 1):
        rows.append(_curve_row(k, parts.solution(k), previous, cost_full))
        previous = float(rows[-1]["neu versorgte Personen"])  # type: ignore[arg-type]
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
