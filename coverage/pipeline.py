"""The whole analysis of one region: load → networks → travel times → demand → gaps → proposals → outputs.

:func:`run` validates every input before anything is written. Outputs are first
written into staging folders and only moved into place when the run has finished,
so a run with bad input or an interrupted run leaves earlier results intact. Each
finished run records a manifest under ``<ergebnisse>/laeufe/<Zeitstempel>/`` and a
change report against the previous run.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .config import Config, Parameters
from .load import Inputs, load_inputs
from .traveltime import CourseTravelTimes

__all__ = ["STAGES", "Progress", "RunResult", "candidate_travel_times", "run"]

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
    travel: CourseTravelTimes | None = None
    demand: pd.DataFrame | None = None
    coverage: Any = None
    placement: Any = None
    changes: Any = None
    run_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _log_progress(step: int, total: int, text: str) -> None:
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
    """Write several layers into one GeoPackage (tuples become text; the caller passes a staging path)."""
    from ._io import safe_frame

    for i, (name, gdf) in enumerate(layers.items()):
        geom = gdf.geometry
        out = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        for col in out.columns:
            if out[col].map(lambda v: isinstance(v, (tuple, list))).any():
                out[col] = out[col].map(lambda v: ", ".join(map(str, v)) if isinstance(v, (tuple, list)) else v)
            elif out[col].map(lambda v: isinstance(v, dt.date)).any():
                out[col] = out[col].astype(str)
        out = safe_frame(out)
        g = gpd.GeoDataFrame(out, geometry=geom.values, crs=gdf.crs)
        g.to_file(path, layer=name, driver="GPKG", mode="w" if i == 0 else "a")


def _planning_period(courses: pd.DataFrame) -> tuple[dt.date, dt.date]:
    """Dates used for candidate courses: the span of the registered courses."""
    return min(courses["erster_tag"]), max(courses["letzter_tag"])


def candidate_travel_times(
    candidate_courses: pd.DataFrame,
    residents: gpd.GeoDataFrame,
    *,
    networks: Any,
    params: Parameters,
    period: tuple[dt.date, dt.date],
    cache: Any = None,
) -> CourseTravelTimes:
    """Travel times of every candidate course; computed once per site × schedule, shared by all levels."""
    from .traveltime import course_travel_times

    keyed = candidate_courses.assign(
        _key=candidate_courses["standort_id"].astype(str) + "|" + candidate_courses["slot"].astype(str)
    )
    unique = keyed.drop_duplicates("_key").reset_index(drop=True)
    unique = unique.assign(kurs_id=unique["_key"], erster_tag=period[0], letzter_tag=period[1], online=False)
    tt = course_travel_times(residents, unique, networks=networks, params=params, cache=cache)
    pos = {k: i for i, k in enumerate(unique["_key"])}
    idx = np.array([pos[k] for k in keyed["_key"]], dtype=np.int64)
    return CourseTravelTimes(
        origin_ids=tt.origin_ids,
        course_ids=candidate_courses["kurs_id"].astype(str).to_numpy(),
        modes=tt.modes,
        hin=tt.hin[:, :, idx],
        rueck=tt.rueck[:, :, idx],
    )


def run(config: Config, *, progress: Progress | None = None, proposals: bool = True) -> RunResult:
    """Run the whole analysis for the region in ``config``.

    Parameters
    ----------
    config
        A validated region configuration.
    progress
        Called with ``(step, total, text)`` at the start of each stage.
    proposals
        Compute proposals for new courses (the slowest stage); False for a quick
        rerun of coverage and gaps after new course registrations.

    Returns
    -------
    RunResult
        The in-memory results and the list of files written.
    """
    from . import changes as changes_mod
    from . import demand as demand_mod
    from . import gaps, manifest, maps, placement, report
    from .cache import Cache
    from .traveltime import course_travel_times, load_networks

    progress = progress or _log_progress
    total = len(STAGES)
    timings: dict[str, float] = {}
    started = dt.datetime.now(dt.UTC)
    t_stage = [time.perf_counter()]

    def stage(i: int, name: str | None = None) -> None:
        now = time.perf_counter()
        if name is not None:
            timings[name] = now - t_stage[0]
        t_stage[0] = now
        progress(i + 1, total, STAGES[i])

    stage(0)
    previous = manifest.latest_run(config.ergebnisse)
    input_hashes = manifest.hash_inputs(manifest.config_input_files(config))
    inputs = load_inputs(config)
    params = config.parameter
    result = RunResult(inputs=inputs, timings=timings)
    cache = Cache(config.cache / "berechnung", keep={"reisezeiten_kurs": 20000, "zugang": 5}, default_keep=10)

    stage(1, "laden")
    nets = load_networks(config, inputs.region)

    stage(2, "netze")
    travel = course_travel_times(inputs.residents, inputs.courses, networks=nets, params=params, cache=cache)
    result.travel = travel
    cand_courses = placement.candidate_courses(inputs.candidates, params=params) if proposals else None
    travel_cand = (
        candidate_travel_times(
            cand_courses,
            inputs.residents,
            networks=nets,
            params=params,
            period=_planning_period(inputs.courses),
            cache=cache,
        )
        if proposals
        else None
    )

    stage(3, "reisezeiten")
    demand = demand_mod.demand_segments(inputs.residents, params=params)
    result.demand = demand

    stage(4, "bedarf")
    cov = gaps.assess(
        demand,
        inputs.courses,
        travel,
        params=params,
        mitgliedskommunen=inputs.region.mitgliedskommunen,
        kapazitaet=params.kapazitaet,
    )
    result.coverage = cov

    stage(5, "luecken")
    prop = None
    if proposals:
        from .reach import reach as reach_fn

        segments = cov.segments_for_placement

        def cover_fn(cands: pd.DataFrame) -> tuple[sp.csr_matrix, sp.csr_matrix]:
            idx = [travel_cand.course_index[c] for c in cands["kurs_id"]]
            r = reach_fn(segments, cands, travel_cand.subset(idx), params=params)
            return r.ok, r.minutes

        prop = placement.propose_courses(
            segments,
            inputs.candidates,
            cover_fn,
            params=params,
            names={**inputs.region.mk_names(), **inputs.region.gemeinde_names()},
            time_limit_s=params.zeitlimit_s,
        )
        result.placement = prop

    stage(6, "vorschlaege")
    report_changes = changes_mod.compare_runs(previous, cov.gaps, inputs.courses)
    result.changes = report_changes
    config.ergebnisse.mkdir(parents=True, exist_ok=True)
    config.karten.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".kursatlas-", dir=config.ergebnisse) as tmp_res, \
            tempfile.TemporaryDirectory(prefix=".kursatlas-", dir=config.karten) as tmp_maps:  # fmt: skip
        res_dir, map_dir = Path(tmp_res), Path(tmp_maps)
        gaps.write_gap_tables(cov, directory=res_dir, crs_geometries=inputs.region.mitgliedskommunen)
        changes_mod.write_changes(report_changes, res_dir)
        proposals_geo = None
        if prop is not None:
            placement.write_proposals(prop, directory=res_dir)
            proposals_geo = _proposal_points(prop, inputs.candidates)
        layers = _layers(inputs, cov, proposals_geo, params)
        layers["aenderungen"] = changes_mod.change_layer(report_changes, inputs.region.mitgliedskommunen)
        write_layers(res_dir / "kursatlas.gpkg", layers)
        data = maps.MapData(
            mitgliedskommunen=inputs.region.mitgliedskommunen,
            courses=inputs.courses,
            gaps=cov.gaps,
            residents=inputs.residents,
            proposals=proposals_geo,
            travel_times=travel,
            reach_minutes=params.gruppen["allgemein"].max_minuten,
            landkreis=inputs.region.landkreis,
        )
        maps.write_maps(config, data, map_dir)
        report.write_report(
            config,
            directory=res_dir,
            gaps=cov.gaps,
            proposals=None if prop is None else prop.proposals,
            marginal=None if prop is None else prop.curve,
            assumptions=demand_mod.demand_assumptions_table(params),
            courses=inputs.courses,
        )
        files = _promote(res_dir, config.ergebnisse) + _promote(map_dir, config.karten)
    result.files = files
    timings["ausgabe"] = time.perf_counter() - t_stage[0]
    result.run_dir = manifest.write_manifest(
        config.ergebnisse,
        input_files=input_hashes,
        parameters=params,
        started=started,
        finished=dt.datetime.now(dt.UTC),
        stage_seconds=timings,
        output_files=files,
        gap_table=cov.gaps,
        courses=inputs.courses,
        extra={"cache": {"treffer": cache.hits, "fehlend": cache.misses}, "vorschlaege": proposals},
    )
    cache.prune()
    return result


def _proposal_points(prop: Any, candidates: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Proposals table with the site geometry (for maps and the GeoPackage)."""
    table = prop.proposals.copy()
    chosen = prop.courses.set_index("kurs_id")
    site_ids = [chosen.loc[k, "standort_id"] for k in table["Kurs-ID"]] if len(table) else []
    geom = candidates.set_index("standort_id").geometry
    return gpd.GeoDataFrame(table, geometry=[geom.loc[s] for s in site_ids], crs=candidates.crs)


def _layers(
    inputs: Inputs, cov: Any, proposals_geo: gpd.GeoDataFrame | None, params: Parameters
) -> dict[str, gpd.GeoDataFrame]:
    from .maps import aggregate_residents

    courses = inputs.courses[inputs.courses.geometry.notna()]
    layers: dict[str, gpd.GeoDataFrame] = {
        "landkreis": inputs.region.landkreis,
        "mitgliedskommunen": inputs.region.mitgliedskommunen,
        "gemeinden": inputs.region.gemeinden,
        "kurse": courses,
        "standorte": inputs.candidates,
    }
    gap_layer = inputs.region.mitgliedskommunen.merge(cov.gaps, left_on="mk_ars", right_on="ARS", how="left")
    layers["luecken"] = gap_layer
    layers["zielgruppe_raster"] = aggregate_residents(
        inputs.residents,
        cell_m=params.raster_m,
        min_count=params.mindestanzahl,
        areas=inputs.region.mitgliedskommunen,
    )
    if proposals_geo is not None:
        layers["vorschlaege"] = proposals_geo
    return layers
