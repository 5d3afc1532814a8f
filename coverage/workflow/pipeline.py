"""The whole analysis of one region: load → networks → travel times → demand → gaps → proposals → outputs.

:func:`run` validates every input before anything is written. It holds a lock on
the results and map folders for the whole run (:class:`coverage.workflow._outputs.OutputLock`;
another run waits ``lock_wait_s`` seconds, then stops with a message naming this
one) and first completes a swap that a killed run left unfinished and removes the
staging folders of killed runs (:func:`coverage.workflow._outputs.recover`). Outputs are
written into staging folders and replaced as one set when the run has finished
(:class:`coverage.workflow._outputs.Staging`), so a run with bad input or an interrupted run
leaves the complete earlier set. Each finished run records a manifest under
``<ergebnisse>/laeufe/<Zeitstempel>/`` (moved into place last, with the outputs) and
a change report against the previous run.

Outputs are incremental where that is safe: a map whose content key
(:class:`coverage.outputs.maps.MapJob`) equals the key recorded for that file in the
previous run's manifest, and whose bytes still have the SHA-256 recorded there, is
neither rendered nor rewritten. Any other output is written anew in every run.

:func:`run` reads as its stages: each is a small function below it with typed inputs
and outputs (:class:`_Candidates`, :class:`Published`, :class:`_Written`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import scipy.sparse as sp

from coverage.analysis.disclosure import DisclosurePolicy
from coverage.cache.session import Session
from coverage.inputs.config import Config, Parameters
from coverage.inputs.load import Inputs, load_inputs
from coverage.traveltime import CourseTravelTimes
from coverage.workflow._gpkg import STATIC_LAYERS, staging_gdal_options, write_layers
from coverage.workflow._outputs import OutputLock, Staging, recover

if TYPE_CHECKING:
    from coverage.analysis.gaps import CoverageResult
    from coverage.cache.store import Cache
    from coverage.outputs.maps import MapData
    from coverage.outputs.proposals import ProposalTables
    from coverage.traveltime import Networks
    from coverage.workflow.changes import ChangeReport

__all__ = ["STAGES", "STATIC_LAYERS", "Progress", "Published", "RunResult", "run", "write_layers"]

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
    """What a run produced (in memory) and where it wrote it.

    Attributes
    ----------
    inputs
        The loaded and validated inputs.
    session
        The in-process memory of the run (the caller's, or a fresh one).
    travel
        Travel times residents × registered courses.
    demand
        Demand segments (:func:`coverage.analysis.demand.demand_segments`).
    coverage
        Coverage and gaps of the registered courses.
    placement
        Proposals for new courses, or None for a run without proposals.
    changes
        What changed since the previous run.
    run_dir
        The run's record folder ``<ergebnisse>/laeufe/<Zeitstempel>/``.
    files
        Every output of the run (written or kept), after promotion.
    kept
        The outputs of ``files`` that were left as they were because their content
        key and bytes matched the previous run (see the module docstring).
    timings
        Seconds per stage.
    """

    inputs: Inputs
    session: Session
    travel: CourseTravelTimes | None = None
    demand: pd.DataFrame | None = None
    coverage: CoverageResult | None = None
    placement: ProposalTables | None = None
    changes: ChangeReport | None = None
    run_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    """What of the coverage and the proposals leaves the process: built once, at the edge.

    Every count in here went through the disclosure policy (rounded, small counts
    suppressed); the writers of tables, maps, report, change report and manifest get
    these fields instead of the whole in-memory result.

    Attributes
    ----------
    gaps
        Gap table with published numbers (GeoPackage layer ``luecken``).
    gap_text
        The same with ``"< 5"`` for suppressed counts (manifest copy, change report).
    courses
        Normalised course records (:func:`coverage.workflow.changes.course_records`).
    grid
        Target population per grid cell (suppressed below ``mindestanzahl``).
    proposal_points
        Proposals with the site geometry, or None without proposals.
    marginal
        Published marginal-value curve, or None without proposals.
    """

    gaps: pd.DataFrame
    gap_text: pd.DataFrame
    courses: pd.DataFrame
    grid: gpd.GeoDataFrame
    proposal_points: gpd.GeoDataFrame | None = None
    marginal: pd.DataFrame | None = None


@dataclass(frozen=True)
class _History:
    """What a run records about its start: the previous run, the input files as read, the start time."""

    previous: Path | None
    inputs: dict[str, dict[str, Any]]
    started: dt.datetime


@dataclass(frozen=True)
class _Candidates:
    """Candidate courses of a proposal run and their travel times (None when there is no candidate course)."""

    courses: pd.DataFrame
    travel: CourseTravelTimes | None


@dataclass(frozen=True)
class _Written:
    """What the output stage left: every output (after promotion), the maps kept, the run's record folder."""

    files: list[Path]
    kept: list[Path]
    run_dir: Path


class _Clock:
    """Announces each stage to ``progress`` and times the stage before it (``timings[name]``)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def start(self, i: int, *, done: str | None = None) -> None:
        """Stage ``i`` starts; the one that ended now is timed as ``done``."""
        if done is not None:
            self.stop(done)
        else:
            self._t = time.perf_counter()
        self.progress(i + 1, len(STAGES), STAGES[i])

    def stop(self, name: str) -> None:
        """Record the seconds since the last stage started as ``name``."""
        now = time.perf_counter()
        self.timings[name] = now - self._t
        self._t = now


def _log_progress(step: int, total: int, text: str) -> None:
    logger.info("[%d/%d] %s", step, total, text)


def _output_folders(config: Config) -> dict[str, Path]:
    """Role → output folder of a run (the results folder first: it holds the swap journal)."""
    return {"ergebnisse": Path(config.ergebnisse), "karten": Path(config.karten)}


@contextlib.contextmanager
def _locked_outputs(config: Config, *, lock: OutputLock | None, wait_s: float) -> Iterator[OutputLock]:
    """The lock on the run's output folders: ``lock`` when it already covers them, else a new one held here."""
    folders = list(_output_folders(config).values())
    if lock is not None and lock.covers(folders):
        yield lock
        return
    with OutputLock(folders, wait_s=wait_s, command="kursatlas run") as own:
        yield own


def run(
    config: Config,
    *,
    progress: Progress | None = None,
    proposals: bool = True,
    lock_wait_s: float = 0.0,
    lock: OutputLock | None = None,
    session: Session | None = None,
) -> RunResult:
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
    lock_wait_s
        Seconds to wait when another run holds the output folders.
    lock
        A lock the caller already holds on the output folders (``kursatlas
        beobachten`` holds one for its whole life); else the run takes its own.
    session
        The caller's in-process memory (:class:`~coverage.cache.session.Session`; the
        ``kursatlas beobachten`` loop keeps one); None: a fresh one for this run.

    Returns
    -------
    RunResult
        The in-memory results and the list of files written.

    Raises
    ------
    OutputError
        If another run holds the output folders (after ``lock_wait_s``), or the
        outputs cannot be replaced; the previous outputs are then complete.
    """
    from coverage.traveltime import course_travel_times, load_networks
    from coverage.workflow import changes as changes_mod
    from coverage.workflow.summary import check_outputs

    session = session if session is not None else Session()
    started = dt.datetime.now(dt.UTC)
    clock = _Clock(progress or _log_progress)
    clock.start(0)
    check_outputs(config)  # fail before computing, not after
    with _locked_outputs(config, lock=lock, wait_s=lock_wait_s) as held:
        recover(_output_folders(config), lock=held)  # finish a swap a killed run left, remove its staging
        history = _history(config, started)
        cache = _open_cache(config)
        inputs = load_inputs(config, cache=cache)
        params = config.parameter

        clock.start(1, done="laden")
        nets = load_networks(config, inputs.region, cache=cache)

        clock.start(2, done="netze")
        travel = course_travel_times(inputs.residents, inputs.courses, networks=nets, params=params, cache=cache)
        candidates = _candidate_travel(inputs, nets, params, cache) if proposals else None

        clock.start(3, done="reisezeiten")
        demand = _demand(inputs.residents, params, cache, session=session)

        clock.start(4, done="bedarf")
        cov = _coverage(demand, inputs, travel, candidates, nets, params, cache, session=session)

        clock.start(5, done="luecken")
        prop = _proposals(cov, inputs, candidates, params) if candidates is not None else None

        clock.start(6, done="vorschlaege")
        published = _published(cov, prop, inputs, params)
        report_changes = changes_mod.compare_runs(history.previous, published.gap_text, published.courses)
        written = _write_outputs(config, inputs=inputs, travel=travel, cov=cov, prop=prop, published=published,
                                 changes=report_changes, history=history, cache=cache, clock=clock, lock=held,
                                 proposals=proposals, session=session, rufbus_zones=_rufbus_zones(config, nets))
        cache.prune()
        return RunResult(inputs=inputs, session=session, travel=travel, demand=demand, coverage=cov,
                         placement=prop, changes=report_changes, run_dir=written.run_dir,
                         files=written.files, kept=written.kept, timings=clock.timings)


def _rufbus_zones(config: Config, nets: Networks) -> tuple[Any, bool] | None:
    """The on-demand zones for the overview map and whether the flex feed is declared modelled ([[datenquellen]])."""
    from coverage.traveltime import rufbus

    zones = rufbus.zone_areas(nets) if nets.has_on_demand else None
    if zones is None:
        return None
    flex = config.rufbus.flex
    base = config.path.parent
    modelled = any(
        s.art == "modelliert" and flex is not None and (base / s.datei).resolve() == flex.resolve()
        for s in config.datenquellen
    )
    return zones, modelled


def _history(config: Config, started: dt.datetime) -> _History:
    """The previous run and the input files as read now (recorded in this run's manifest)."""
    from coverage.workflow import manifest

    previous = manifest.latest_run(config.ergebnisse)
    return _History(previous=previous, inputs=manifest.hash_inputs(manifest.config_input_files(config)),
                    started=started)


def _open_cache(config: Config) -> Cache:
    """The region's disk cache for computed values (entries kept per kind: as declared, see ``keep_limits``)."""
    from coverage.cache.kinds import keep_limits
    from coverage.cache.store import Cache

    return Cache(config.cache / "berechnung", keep=keep_limits(), default_keep=10)


def _candidate_courses(inputs: Inputs, params: Parameters) -> pd.DataFrame:
    """One hypothetical county-funded course per candidate site × level × slot."""
    from coverage import placement  # only here: a run without proposals needs no optimisation

    return placement.candidate_courses(inputs.candidates, params=params)


def _candidate_travel(inputs: Inputs, nets: Networks, params: Parameters, cache: Cache) -> _Candidates:
    """Candidate courses and their travel times (for proposals and the gap flag)."""
    from coverage.analysis.candidates import candidate_travel_times, planning_period

    courses = _candidate_courses(inputs, params)
    if not len(courses):
        return _Candidates(courses=courses, travel=None)
    travel = candidate_travel_times(courses, inputs.residents, networks=nets, params=params,
                                    period=planning_period(inputs.courses), cache=cache)
    return _Candidates(courses=courses, travel=travel)


def _demand(residents: gpd.GeoDataFrame, params: Parameters, cache: Cache, *, session: Session | None = None
            ) -> pd.DataFrame:
    """Demand segments, from the cache when residents and parameters are unchanged (codes kept in ``session``)."""
    from coverage.analysis import demand as demand_mod
    from coverage.inputs.load import cached_frames

    frames = cached_frames(cache, demand_mod.DEMAND_TABLE, (residents, params),
                           lambda: {"bedarf": demand_mod.demand_segments(residents, params=params)}, session=session)
    return frames["bedarf"]


def _coverage(
    demand: pd.DataFrame,
    inputs: Inputs,
    travel: CourseTravelTimes,
    candidates: _Candidates | None,
    nets: Networks,
    params: Parameters,
    cache: Cache,
    *,
    session: Session | None = None,
) -> CoverageResult:
    """Coverage and gaps of the registered courses (the gap flag asks what the candidate courses would reach)."""
    from coverage.analysis import gaps
    from coverage.analysis.candidates import candidate_cover

    if candidates is None:
        candidates = _Candidates(courses=_candidate_courses(inputs, params), travel=None)
    cover = candidate_cover(demand, inputs, courses=candidates.courses, networks=nets, params=params, cache=cache,
                            travel=candidates.travel)
    return gaps.assess(
        demand,
        inputs.courses,
        travel,
        params=params,
        mitgliedskommunen=inputs.region.mitgliedskommunen,
        kapazitaet=params.kapazitaet,
        cache=cache,
        candidate_cover=cover,
        rufbus_vorlauf_min=nets.vorlauf_max_min if nets.has_on_demand else None,
        session=session,
    )


def _proposals(cov: CoverageResult, inputs: Inputs, candidates: _Candidates, params: Parameters) -> ProposalTables:
    """Proposals for new county-funded courses for the unserved demand."""
    from coverage import placement
    from coverage.analysis.reach import reach
    from coverage.outputs.proposals import proposal_tables

    segments = cov.segments_for_placement
    travel = candidates.travel

    def cover_fn(cands: pd.DataFrame) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        if travel is None:  # pragma: no cover - no candidate course: nothing to cover
            raise ValueError("Keine Kandidatenkurse")
        idx = [travel.course_index[c] for c in cands["kurs_id"]]
        r = reach(segments, cands, travel.subset(idx), params=params)
        return r.ok, r.minutes

    result = placement.propose_courses(
        segments, inputs.candidates, cover_fn, params=params, time_limit_s=params.zeitlimit_s
    )
    return proposal_tables(result, params=params, names={**inputs.region.mk_names(), **inputs.region.gemeinde_names()})


def _published(cov: CoverageResult, prop: ProposalTables | None, inputs: Inputs, params: Parameters) -> Published:
    """What may leave the process, every count through the disclosure policy."""
    from coverage.outputs import maps
    from coverage.workflow.changes import course_records

    points = marginal = None
    if prop is not None:
        from coverage.outputs.proposals import published_curve

        points = _proposal_points(prop, inputs.candidates)
        marginal = published_curve(prop.curve, DisclosurePolicy(params.mindestanzahl))
    grid = maps.aggregate_residents(
        inputs.residents,
        cell_m=params.raster_m,
        min_count=params.mindestanzahl,
        areas=inputs.region.mitgliedskommunen,
    )
    from coverage.outputs.tables import published_gaps

    policy = DisclosurePolicy(params.mindestanzahl)
    return Published(gaps=published_gaps(cov.gaps, policy), gap_text=published_gaps(cov.gaps, policy, text=True),
                     courses=course_records(inputs.courses), grid=grid, proposal_points=points, marginal=marginal)


def _write_outputs(
    config: Config,
    *,
    inputs: Inputs,
    travel: CourseTravelTimes,
    cov: CoverageResult,
    prop: ProposalTables | None,
    published: Published,
    changes: ChangeReport,
    history: _History,
    cache: Cache,
    clock: _Clock,
    lock: OutputLock,
    proposals: bool,
    session: Session | None = None,
    rufbus_zones: tuple[Any, bool] | None = None,
) -> _Written:
    """Write tables, GeoPackage, maps, report and the run's manifest into staging folders, then swap them in."""
    from coverage.analysis.demand import demand_assumptions_table
    from coverage.outputs import maps, report
    from coverage.outputs.tables import write_gap_tables
    from coverage.workflow import changes as changes_mod
    from coverage.workflow import manifest

    params = config.parameter
    config.ergebnisse.mkdir(parents=True, exist_ok=True)
    config.karten.mkdir(parents=True, exist_ok=True)
    with Staging(_output_folders(config)) as staging, staging_gdal_options():
        res_dir, map_dir = staging.new("ergebnisse"), staging.new("karten")
        write_gap_tables(cov, directory=res_dir, crs_geometries=inputs.region.mitgliedskommunen)
        changes_mod.write_changes(changes, res_dir)
        if prop is not None:
            from coverage.outputs.proposals import write_proposals

            write_proposals(prop, directory=res_dir, policy=DisclosurePolicy(params.mindestanzahl))
        layers = _layers(inputs, published)
        layers["aenderungen"] = changes_mod.change_layer(changes, inputs.region.mitgliedskommunen)
        write_layers(res_dir / "kursatlas.gpkg", layers, cache=cache, static=STATIC_LAYERS)
        data = maps.MapData(
            mitgliedskommunen=inputs.region.mitgliedskommunen,
            courses=inputs.courses,
            gaps=cov.gaps,
            residents=inputs.residents,
            proposals=published.proposal_points,
            travel_times=travel,
            reach_minutes=params.gruppen["allgemein"].max_minuten,
            landkreis=inputs.region.landkreis,
            grid=published.grid,
            changes=changes,
            rufbus_zones=None if rufbus_zones is None else rufbus_zones[0],
            rufbus_modelliert=rufbus_zones is not None and rufbus_zones[1],
        )
        reusable = _recorded_outputs(history.previous, config.ergebnisse)
        output_keys, kept = _write_maps(config, data, map_dir, reusable, session=session)
        report.write_report(
            config,
            directory=res_dir,
            gaps=cov.gaps,
            proposals=None if prop is None else prop.proposals,
            marginal=published.marginal,
            assumptions=demand_assumptions_table(params),
            courses=inputs.courses,
        )
        clock.stop("ausgabe")
        written = [staging.final(f) for root in (res_dir, map_dir) for f in sorted(root.rglob("*")) if f.is_file()]
        staged_record = manifest.write_manifest(
            config.ergebnisse,
            input_files=history.inputs,
            parameters=params,
            started=history.started,
            finished=dt.datetime.now(dt.UTC),
            stage_seconds=clock.timings,
            output_files=written + kept,
            output_keys=output_keys,
            gap_table=published.gap_text,
            courses=published.courses,
            extra={"cache": {"treffer": cache.hits, "fehlend": cache.misses}, "vorschlaege": proposals},
            staged={f: staging.source(f) for f in written},
            into=res_dir,
        )
        record = staged_record.relative_to(res_dir).as_posix()
        files = staging.commit(lock=lock, record=record)
    return _Written(files=files + kept, kept=kept, run_dir=config.ergebnisse / record)


def _write_maps(config: Config, data: MapData, map_dir: Path, reusable: Mapping[str, Mapping[str, Any]], *,
                session: Session | None = None) -> tuple[dict[Path, str], list[Path]]:
    """Render the maps into ``map_dir``, except those still valid from the previous run (returned as kept)."""
    from coverage.outputs import maps

    output_keys: dict[Path, str] = {}
    kept: list[Path] = []
    for job in maps.map_jobs(config, data):
        target = config.karten / job.name
        output_keys[target] = job.key
        if _still_valid(reusable, target, job.key):
            kept.append(target)
        else:
            maps.write_map(job, map_dir, session=session)
    if kept:
        logger.info("%d unveränderte Karte(n) nicht neu geschrieben", len(kept))
    return output_keys, kept


def _recorded_outputs(previous: Path | None, results_dir: Path) -> dict[str, Mapping[str, Any]]:
    """Output files recorded in the previous run's manifest: absolute path → entry (``sha256``, ``schluessel``)."""
    from coverage.workflow.manifest import read_manifest

    if previous is None:
        return {}
    try:
        entries = read_manifest(previous).get("ausgaben", [])
    except (OSError, ValueError) as exc:
        logger.warning("Manifest des früheren Laufs %s nicht lesbar (%s); alle Ausgaben neu", previous, exc)
        return {}
    out: dict[str, Mapping[str, Any]] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and isinstance(entry.get("pfad"), str):
            p = Path(entry["pfad"])
            out[os.path.abspath(p if p.is_absolute() else results_dir / p)] = entry
    return out


def _still_valid(recorded: Mapping[str, Mapping[str, Any]], target: Path, key: str) -> bool:
    """True when ``target`` was written with content key ``key`` and its bytes are unchanged since then."""
    from coverage.cache.store import file_sha256

    entry = recorded.get(os.path.abspath(target))
    if entry is None or entry.get("schluessel") != key or not target.is_file():
        return False
    try:
        return file_sha256(target) == entry.get("sha256")
    except OSError:
        return False


def _proposal_points(prop: ProposalTables, candidates: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Proposals table with the site geometry (for maps and the GeoPackage)."""
    table = prop.proposals.copy()
    chosen = prop.courses.set_index("kurs_id")
    site_ids = [chosen.loc[k, "standort_id"] for k in table["Kurs-ID"]] if len(table) else []
    geom = candidates.set_index("standort_id").geometry
    return gpd.GeoDataFrame(table, geometry=[geom.loc[s] for s in site_ids], crs=candidates.crs)


def _layers(inputs: Inputs, published: Published) -> dict[str, gpd.GeoDataFrame]:
    """Layers of ``kursatlas.gpkg`` (without the change layer), in the order they are written."""
    courses = inputs.courses[inputs.courses.geometry.notna()]
    layers: dict[str, gpd.GeoDataFrame] = {
        "landkreis": inputs.region.landkreis,
        "mitgliedskommunen": inputs.region.mitgliedskommunen,
        "gemeinden": inputs.region.gemeinden,
        "kurse": courses,
        "standorte": inputs.candidates,
    }
    gap_layer = inputs.region.mitgliedskommunen.merge(published.gaps, left_on="mk_ars", right_on="ARS", how="left")
    layers["luecken"] = gap_layer
    layers["zielgruppe_raster"] = published.grid
    if published.proposal_points is not None:
        layers["vorschlaege"] = published.proposal_points
    return layers
