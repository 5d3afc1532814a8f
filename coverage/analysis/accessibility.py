"""Enhanced two-step floating catchment area (E2SFCA) index of course seats.

For demand ``D_i`` at origins, supply ``S_j`` at sites and travel times ``t_ij``,
with a step weight ``W(t)`` (weight of the first band whose upper bound is
``≥ t``, 0 beyond the last band)::

    R_j = S_j / Σ_i W(t_ij) · D_i          (seats per weighted person at site j)
    A_i = Σ_j W(t_ij) · R_j                 (index at origin i)

This is exactly what PySAL ``access`` computes with
``two_stage_fca(weight_fn=weights.step_fn(bands))`` (no normalisation). A site
whose weighted demand is 0 has ``R_j = 0`` (PySAL gives ``inf``/NaN there).

In Kursatlas a *site* is one course with a location (online courses are left out:
they have no catchment). Its supply at a level is its seats (by default the free
seats) divided equally among the levels it offers – a course ``A1, A2`` with 10
free seats counts 5 at A1 and 5 at A2. The cost is the best one-way time
``max(hin, rueck)`` over the modes of the group ``allgemein``. Schedules and
childcare are not part of the index; they are handled by :mod:`coverage.analysis.reach`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from coverage._compat import import_numba
from coverage.analysis.assignment import course_capacity
from coverage.analysis.reach import allowed_modes, course_arrays
from coverage.errors import InputDataError
from coverage.inputs.config import Parameters
from coverage.inputs.schema import LEVELS
from coverage.traveltime import CourseTravelTimes

__all__ = ["band_weights", "e2sfca", "e2sfca_by_level", "travel_weights"]

logger = logging.getLogger(__name__)

_numba = import_numba()


@_numba.njit(cache=True, nogil=True)
def _travel_weights_kernel(hin, rueck, modes, cols, bounds, values):  # pragma: no cover - numba
    n_o = hin.shape[1]
    n_s = cols.shape[0]
    w = np.zeros((n_o, n_s))
    for o in range(n_o):
        for j in range(n_s):
            c = cols[j]
            best = np.inf
            bad = False
            for m in modes:
                h = np.float64(hin[m, o, c])
                r = np.float64(rueck[m, o, c])
                if np.isnan(h) or np.isnan(r):
                    bad = True
                b = h if h >= r else r
                if b < best:
                    best = b
            if bad or not np.isfinite(best):
                continue
            for k in range(bounds.shape[0]):
                if best <= bounds[k]:
                    w[o, j] = values[k]
                    break
    return w


def travel_weights(
    hin: np.ndarray,
    rueck: np.ndarray,
    *,
    modes: np.ndarray,
    cols: np.ndarray,
    bands: Sequence[tuple[float, float]],
) -> np.ndarray:
    """Step weights of the best one-way time ``min over modes of max(hin, rueck)``.

    Equal to ``band_weights(cost, bands)`` for that cost, computed in one pass.

    Parameters
    ----------
    hin, rueck
        ``(n_m, n_o, n_t)`` minutes.
    modes
        Indices of the modes to use (first axis).
    cols
        Columns (last axis) of the sites.
    bands
        ``(upper bound, weight)`` pairs.

    Returns
    -------
    numpy.ndarray
        ``(n_o, len(cols))`` weights.
    """
    ordered = sorted((float(u), float(w)) for u, w in bands)
    if any(w < 0 for _, w in ordered):
        raise InputDataError("E2SFCA-Gewichte müssen ≥ 0 sein.")
    bounds = np.array([u for u, _ in ordered], float)
    values = np.array([w for _, w in ordered], float)
    return _travel_weights_kernel(hin, rueck, np.asarray(modes, np.int64), np.asarray(cols, np.int64), bounds, values)


def band_weights(cost: np.ndarray, bands: Sequence[tuple[float, float]]) -> np.ndarray:
    """Step weight of every travel time.

    Parameters
    ----------
    cost
        Travel times in minutes (any shape; ``inf`` allowed).
    bands
        ``(upper bound, weight)`` pairs; sorted by the bound internally.

    Returns
    -------
    numpy.ndarray
        Same shape as ``cost``: the weight of the first band with ``cost ≤ bound``,
        0 beyond the last band or for non-finite costs.
    """
    cost = np.asarray(cost, float)
    ordered = sorted((float(u), float(w)) for u, w in bands)
    if any(w < 0 for _, w in ordered):
        raise InputDataError("E2SFCA-Gewichte müssen ≥ 0 sein.")
    out = np.zeros(cost.shape)
    done = ~np.isfinite(cost)
    for upper, weight in ordered:
        hit = ~done & (cost <= upper)
        out[hit] = weight
        done |= hit
    return out


def e2sfca(
    demand_per_origin: np.ndarray,
    supply_per_site: np.ndarray,
    cost: np.ndarray,
    *,
    bands: Sequence[tuple[float, float]],
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """E2SFCA index per origin (array core).

    Parameters
    ----------
    demand_per_origin
        ``(n_o,)`` persons (≥ 0).
    supply_per_site
        ``(n_s,)`` seats (≥ 0).
    cost
        ``(n_o, n_s)`` minutes; ``inf`` = not reachable.
    bands
        ``(upper bound in minutes, weight)`` pairs, e.g. ``params.e2sfca_baender``.
    weights
        ``band_weights(cost, bands)`` if already computed (for several demand and
        supply vectors over the same costs).

    Returns
    -------
    numpy.ndarray
        ``(n_o,)`` seats per person in the weighted catchment.
    """
    d = np.asarray(demand_per_origin, float)
    s = np.asarray(supply_per_site, float)
    cost = np.asarray(cost, float)
    if cost.shape != (len(d), len(s)):
        raise InputDataError(f"Reisezeitmatrix hat die Form {cost.shape}, erwartet ({len(d)}, {len(s)}).")
    w = band_weights(cost, bands) if weights is None else weights
    weighted_demand = d @ w
    ratio = np.divide(s, weighted_demand, out=np.zeros_like(s), where=weighted_demand > 0)
    return w @ ratio


def e2sfca_by_level(
    demand: pd.DataFrame,
    courses: pd.DataFrame,
    travel: CourseTravelTimes,
    *,
    params: Parameters,
    kapazitaet: Literal["freie_plaetze", "plaetze"] = "freie_plaetze",
    group: str = "allgemein",
) -> pd.DataFrame:
    """E2SFCA index per origin and level.

    Parameters
    ----------
    demand
        Demand segments (``herkunft_id``, ``niveau``, ``personen``); all groups
        are summed per origin and level.
    courses
        Courses (``kurs_id``, ``niveaus``, ``kursart``, capacity column, …).
    travel
        Travel times, matched by ``herkunft_id`` and ``kurs_id``.
    params
        Parameters: ``e2sfca_baender`` and the modes of ``group``.
    kapazitaet
        Seats counted: ``freie_plaetze`` (default) or ``plaetze``.
    group
        Group whose modes define the cost (default ``allgemein``).

    Returns
    -------
    pandas.DataFrame
        Columns ``herkunft_id``, ``niveau``, ``personen`` (demand at the level),
        ``e2sfca`` (seats per person); one row per travel-time origin × level.
    """
    if group not in params.gruppen:
        raise InputDataError(f"Zielgruppe '{group}' hat keine Regeln.")
    ca = course_arrays(courses)
    cap = course_capacity(courses, kapazitaet=kapazitaet)
    index = travel.course_index
    missing = [c for c in ca["kurs_id"] if c not in index]
    if missing:
        raise InputDataError(f"Für {len(missing)} Kurse fehlen Reisezeiten, z. B. '{missing[0]}'.")
    sites = np.nonzero(~ca["online"])[0]
    cols = np.array([index[c] for c in ca["kurs_id"][sites]], np.int64)
    allowed = allowed_modes(params.gruppen[group], rufbus=params.rufbus_erreichbar)
    modes = [i for i, m in enumerate(travel.modes) if m in allowed]
    n_o = len(travel.origin_ids)
    w = travel_weights(travel.hin, travel.rueck, modes=np.array(modes, np.int64), cols=cols,
                       bands=params.e2sfca_baender)
    origin_ids = np.asarray(travel.origin_ids).astype(str)
    origin = pd.Index(origin_ids).get_indexer(demand["herkunft_id"].astype(str))
    if (origin < 0).any():
        raise InputDataError("Herkunftsort ohne Reisezeiten.", column="herkunft_id",
                             value=str(demand["herkunft_id"].iloc[int(np.nonzero(origin < 0)[0][0])]))
    level = pd.Index(list(LEVELS)).get_indexer(demand["niveau"].astype(str))
    persons = demand["personen"].to_numpy(float)
    n_levels = ca["level_ok"][:, sites].sum(axis=0)
    frames = []
    for li, lv in enumerate(LEVELS):
        mine = level == li
        d = np.bincount(origin[mine], weights=persons[mine], minlength=n_o)
        offers = ca["level_ok"][li, sites]
        supply = np.where(offers, cap[sites] / np.maximum(n_levels, 1), 0.0)
        frames.append(pd.DataFrame({
            "herkunft_id": origin_ids,
            "niveau": lv,
            "personen": d,
            "e2sfca": e2sfca(d, supply, w, bands=params.e2sfca_baender, weights=w),
        }))
    return pd.concat(frames, ignore_index=True)
