"""Placement stage: where should new county-funded courses go?

``model`` (the array model and its solution), ``solve`` (decomposition over levels,
joint MILP), ``curve`` (marginal-value curve), ``candidates`` (candidate courses from
sites), ``proposals`` (:func:`propose_courses`, the pipeline entry). The German
tables and files are in :mod:`coverage.outputs.proposals`.
"""

from coverage.placement.candidates import KURSART, SITE_COLUMNS, candidate_courses
from coverage.placement.curve import CURVE_COLUMNS, marginal_curve
from coverage.placement.model import PlacementSolution, evaluate_selection
from coverage.placement.proposals import ASSIGNMENT_COLUMNS, SEGMENT_COLUMNS, PlacementResult, propose_courses
from coverage.placement.solve import Decomposition, solve_decomposed, solve_placement

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "CURVE_COLUMNS",
    "KURSART",
    "SEGMENT_COLUMNS",
    "SITE_COLUMNS",
    "Decomposition",
    "PlacementResult",
    "PlacementSolution",
    "candidate_courses",
    "evaluate_selection",
    "marginal_curve",
    "propose_courses",
    "solve_decomposed",
    "solve_placement",
]
