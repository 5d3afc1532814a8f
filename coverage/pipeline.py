"""The whole analysis of one region: load → networks → travel times → demand → gaps → proposals → outputs.

:func:`run` validates every input before anything is written. Outputs are first
written into a staging folder and only moved into place when the run has
finished, so a run with bad input or an interrupted run leaves earlier results
intact.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .config import Config
from .load import Inputs, load_inputs

__all__ = ["RunResult", "Progress", "run", "STAGES"]

logger = logging.getLogger(__name__)

STAGES: tuple[str, ...] = (
    "Eingaben laden und prüfen",
    "Netze laden (Straßen, Fahrplan)",
    "Reisezeiten zu den Kursen berechnen",
    "Bedarf schätzen",
    "Versorgung und Lücken bestimmen",
    "Vorschläge für neue Kurse berechnen",
    "Karten, Tabellen und Bericht schreiben",
)

Progress = Callable[[int, int, str], None]
"""Callback ``(step, total, text)`` called when a stage starts."""


@dataclass
class RunResult:
    """What a run produced (in memory) and where it wrote it."""

    inputs: Inputs
    travel: object | None = None
    demand: pd.DataFrame | None = None
    coverage: object | None = None
    placement: object | None = None
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _noop(step: int, total: int, text: str) -> None:
    logger.info("[%d/%d] %s", step, total, text)


def _promote(staging: Path, target: Path) -> list[Path]:
    """Move every file from ``staging`` into ``target`` (each an atomic rename)."""
    moved = []
    for src in sorted(p for p in staging.rglob("*") if p.is_file()):
        dst = target / src.relative_to(staging)
        dst.parent.mkdir(parents=True, exist_ok=True)
        src.replace(dst)
        moved.append(dst)
    return moved


def write_layers(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Write several layers into one GeoPackage (the caller passes a staging path)."""
    for i, (name, gdf) in enumerate(layers.items()):
        out = gdf.copy()
        for col in out.columns:
            if col != out.geometry.name and out[col].map(lambda v: isinstance(v, tuple)).any():
                out[col] = out[col].map(lambda v: ", ".join(map(str, v)) if isinstance(v, tuple) else v)
        out.to_file(path, layer=name, driver="GPKG", mode="w" if i == 0 else "a")


def run(config: Config, *, progress: Progress | None = None) -> RunResult:
    """Run the whole analysis for the region in ``config``.

    Parameters
    ----------
    config
        A validated region configuration.
    progress
        Called with ``(step, total, text)`` at the start of each stage.

    Returns
    -------
    RunResult
        The in-memory results and the list of files written.
    """
    from . import demand as demand_mod
    from . import gaps, maps, placement, report, traveltime
    from .networks import load_networks

    progress = progress or _noop
    total = len(STAGES)
    timings: dict[str, float] = {}

    def stage(i: int) -> float:
        progress(i + 1, total, STAGES[i])
        return time.perf_counter()

    t = stage(0)
    inputs = load_inputs(config)
    timings["laden"] = time.perf_counter() - t
    result = RunResult(inputs=inputs, timings=timings)

    t = stage(1)
    nets = load_networks(config, inputs.region)
    timings["netze"] = time.perf_counter() - t

    t = stage(2)
    params = config.parameter
    candidate_courses = placement.candidate_courses(inputs.candidates, params=params)
    all_courses = pd.concat([inputs.courses, candidate_courses], ignore_index=True)
    travel_all = traveltime.course_travel_times(inputs.residents, all_courses, networks=nets, params=params)
    n_existing = len(inputs.courses)
    travel = travel_all.subset(slice(0, n_existing))
    travel_cand = travel_all.subset(slice(n_existing, None))
    result.travel = travel
    timings["reisezeiten"] = time.perf_counter() - t

    t = stage(3)
    demand = demand_mod.demand_segments(inputs.residents, params=params)
    result.demand = demand
    timings["bedarf"] = time.perf_counter() - t

    t = stage(4)
    cov = gaps.assess(demand, inputs.courses, travel, params=params,
                      mitgliedskommunen=inputs.region.mitgliedskommunen)
    result.coverage = cov
    timings["luecken"] = time.perf_counter() - t

    t = stage(5)
    from .reach import reach as reach_fn

    def cover_fn(cands: pd.DataFrame):
        idx = [travel_cand.course_index[c] for c in cands["kurs_id"]]
        sub = travel_cand.subset(idx)
        r = reach_fn(cov.segments_for_placement, cands, sub, params=params)
        return r.ok, r.minutes

    prop = placement.propose_courses(
        cov.segments_for_placement, inputs.candidates, cover_fn, params=params,
        names={**inputs.region.mk_names(), **inputs.region.gemeinde_names()},
    )
    result.placement = prop
    timings["vorschlaege"] = time.perf_counter() - t

    t = stage(6)
    config.ergebnisse.mkdir(parents=True, exist_ok=True)
    config.karten.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".kursatlas-", dir=config.ergebnisse) as tmp_res, \
            tempfile.TemporaryDirectory(prefix=".kursatlas-", dir=config.karten) as tmp_maps:
        res_dir, map_dir = Path(tmp_res), Path(tmp_maps)
        gaps.write_gap_tables(cov, directory=res_dir, crs_geometries=inputs.region.mitgliedskommunen)
        placement.write_proposals(prop, directory=res_dir)
        write_layers(res_dir / "kursatlas.gpkg", _layers(inputs, cov, prop))
        maps.write_maps(config=config, inputs=inputs, coverage=cov, placement=prop, travel=travel,
                        directory=map_dir)
        report.write_report(config=config, inputs=inputs, coverage=cov, placement=prop,
                            demand_assumptions=demand_mod.demand_assumptions_table(params), directory=res_dir)
        files = _promote(res_dir, config.ergebnisse) + _promote(map_dir, config.karten)
    shutil.rmtree(config.ergebnisse / ".staging", ignore_errors=True)
    result.files = files
    timings["ausgabe"] = time.perf_counter() - t
    return result


def _layers(inputs: Inputs, cov: object, prop: object) -> dict[str, gpd.GeoDataFrame]:
    courses = inputs.courses.copy()
    courses = courses[courses.geometry.notna()]
    layers = {
        "landkreis": inputs.region.landkreis,
        "mitgliedskommunen": inputs.region.mitgliedskommunen,
        "gemeinden": inputs.region.gemeinden,
        "kurse": courses,
        "standorte": inputs.candidates,
    }
    layers.update(getattr(cov, "layers", lambda: {})())
    layers.update(getattr(prop, "layers", lambda: {})())
    return layers
