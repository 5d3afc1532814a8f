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
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage.analysis.disclosure import DisclosurePolicy
from coverage.cache.session import Session
from coverage.inputs.config import Config, Parameters
from coverage.inputs.load import Inputs, load_inputs
from coverage.traveltime.engine import CourseTravelTimes
from coverage.workflow._outputs import OutputLock, Staging, recover

if TYPE_CHECKING:
    from coverage.cache.store import Cache

__all__ = ["STAGES", "STATIC_LAYERS", "Progress", "RunResult", "candidate_cover", "candidate_travel_times", "run",
           "write_layers"]

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
    files
        Every output of the run (written or kept), after promotion.
    kept
        The outputs of ``files`` that were left as they were because their content
        key and bytes matched the previous run (see the module docstring).
    timings
        Seconds per stage.
    """

    inputs: Inputs
    travel: CourseTravelTimes | None = None
    demand: pd.DataFrame | None = None
    coverage: Any = None
    placement: Any = None
    changes: Any = None
    run_dir: Path | None = None
    files: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


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


@contextlib.contextmanager
def staging_gdal_options() -> Iterator[None]:
    """GDAL settings for writing GeoPackages into a staging folder; the previous values are restored.

    SQLite's ``synchronous`` mode makes every layer of a GeoPackage wait for the
    disk. The files written here are only moved into place after the whole run has
    finished (and an interrupted run leaves the staging folder behind, never a
    half-written result), so that wait protects nothing.
    """
    import pyogrio

    wanted = {"OGR_SQLITE_SYNCHRONOUS": "OFF"}
    saved = {k: pyogrio.get_gdal_config_option(k) for k in wanted}
    pyogrio.set_gdal_config_options(wanted)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(saved)


def _text_cells(values: pd.Series) -> pd.Series | None:
    """Tuples/lists as ``"a, b"`` and dates as ISO text, or None when the column has neither."""
    if values.dtype != object:
        return None
    kinds = {type(v) for v in values}
    if any(issubclass(k, (tuple, list)) for k in kinds):
        return values.map(lambda v: ", ".join(map(str, v)) if isinstance(v, (tuple, list)) else v)
    if any(issubclass(k, dt.date) for k in kinds):
        return values.astype(str)
    return None


def _spreadsheet_safe(values: pd.Series) -> pd.Series | None:
    """``values`` with :func:`coverage._io.safe_cell` applied, or None when no cell needs it."""
    from coverage._io import safe_cell

    if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return None
    if all(safe_cell(v) is v for v in pd.unique(values)):
        return None
    return values.map(safe_cell)


def _layer_for_gpkg(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with tuples and dates as text and every text cell spreadsheet-safe (as :func:`_io.safe_frame`)."""
    from coverage._io import safe_cell

    geo = gdf.geometry.name
    changed: dict[str, pd.Series] = {}
    for col in gdf.columns:
        if col == geo:
            continue
        values = gdf[col]
        text = _text_cells(values)
        values = text if text is not None else values
        safe = _spreadsheet_safe(values)
        values = safe if safe is not None else values
        if values is not gdf[col]:
            changed[col] = values
    names = {c: safe_cell(str(c)) for c in gdf.columns if c != geo}
    if not changed and all(str(c) == n for c, n in names.items()):
        return gdf
    out = gdf.copy()
    for col, values in changed.items():
        out[col] = values
    return out.rename(columns=names)


SPATIAL_INDEX_MIN_FEATURES = 5000
"""Layers of the result GeoPackage get a spatial index from this many features on
(building one costs more than it saves for the few hundred features of a county)."""


STATIC_LAYERS: tuple[str, ...] = ("landkreis", "mitgliedskommunen", "gemeinden", "standorte", "zielgruppe_raster")
"""Layers of ``kursatlas.gpkg`` that only change with the input files (see :func:`write_layers`)."""


def _write_layer(path: Path, name: str, gdf: gpd.GeoDataFrame) -> None:
    import pyogrio

    index = "YES" if len(gdf) >= SPATIAL_INDEX_MIN_FEATURES else "NO"
    # a new layer name adds a layer to an existing file
    pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG", layer_options={"SPATIAL_INDEX": index})


def write_layers(
    path: Path,
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    cache: Cache | None = None,
    static: Sequence[str] = (),
) -> None:
    """Write several layers into one GeoPackage (tuples become text; the caller passes a staging path).

    Parameters
    ----------
    path
        The GeoPackage (replaced).
    layers
        Layer name → table.
    cache
        Optional disk cache for the layers named in ``static``: they are written
        once into a template GeoPackage kept in the cache under the hash of their
        content (and of this code and the GDAL version); a run with the same static
        layers copies the template and adds only the other layers.
    static
        Names of layers that rarely change; written first.
    """
    import pyogrio

    from coverage.cache.store import fingerprint

    path.unlink(missing_ok=True)
    fixed = [n for n in layers if n in static]
    rest = [n for n in layers if n not in static]
    with staging_gdal_options():
        if cache is not None and fixed:
            parts = [x for n in fixed for x in (n, layers[n])]
            gdal = f"pyogrio={pyogrio.__version__}|gdal={pyogrio.__gdal_version_string__}"
            key = fingerprint(*parts, gdal, code=("coverage.workflow.pipeline", "coverage._io"))
            template = cache.get("gpkg_vorlage", key)
            if isinstance(template, np.ndarray) and template.dtype == np.uint8:
                path.write_bytes(template.tobytes())
            else:
                for name in fixed:
                    _write_layer(path, name, _layer_for_gpkg(layers[name]))
                cache.put("gpkg_vorlage", key, np.frombuffer(path.read_bytes(), dtype=np.uint8))
        else:
            rest = list(layers)
        for name in rest:
            _write_layer(path, name, _layer_for_gpkg(layers[name]))


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
    from coverage.traveltime.engine import course_travel_times

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


def candidate_cover(
    demand: pd.DataFrame,
    inputs: Inputs,
    *,
    networks: Any,
    params: Parameters,
    cache: Cache | None = None,
    courses: pd.DataFrame | None = None,
    travel: CourseTravelTimes | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """Which demand segment may attend which candidate course, for the gap flag (:func:`coverage.analysis.gaps.assess`).

    Three boolean matrices ``(len(demand), n_candidate_courses)``: at the analysis
    thresholds and with every threshold shifted by ``−`` and
    ``+params.sensitivitaet_min``. They depend on the demand, the candidate sites,
    the networks and the parameters, not on the existing courses: they are kept in
    ``cache`` (kind ``kandidaten_erreichbar``), so a quick rerun after new course
    registrations reads them instead of routing to every candidate site.

    Parameters
    ----------
    demand
        Demand segments (rows of the result).
    inputs
        The loaded inputs (candidate sites, residents, courses for the planning period).
    networks
        Loaded networks (their ``key`` is part of the cache key).
    params
        Analysis parameters.
    cache
        Optional disk cache.
    courses, travel
        Candidate courses and their travel times when the caller has them already
        (proposal runs); otherwise computed here on a cache miss.

    Returns
    -------
    tuple of scipy.sparse.csr_matrix
        Analysis, ``−`` shift, ``+`` shift.
    """
    from coverage.analysis.reach import reach as reach_fn
    from coverage.cache.store import fingerprint

    m = params.sensitivitaet_min
    runs = (params, params.shifted(-m), params.shifted(m))
    period = _planning_period(inputs.courses)
    key = None
    if cache is not None and getattr(networks, "key", ""):
        # the demand is a function of residents and parameters (coverage.analysis.demand): hashing it is not needed
        key = fingerprint(inputs.candidates, inputs.residents, params, networks.key, period,
                          code=("coverage.workflow.pipeline", "coverage.placement.model", "coverage.analysis.reach",
                                "coverage.analysis._reachcore",
                                "coverage.traveltime.engine", "coverage.analysis.demand", "coverage.inputs.schema"))
        hit = cache.get("kandidaten_erreichbar", key)
        if isinstance(hit, dict) and all(k in hit for k in ("form", "ptr", "idx", "mask")):
            n_s, n_c = (int(x) for x in hit["form"])
            if n_s == len(demand) and len(hit["ptr"]) == n_s + 1 and len(hit["idx"]) == len(hit["mask"]):
                return _split_cover(hit["ptr"], hit["idx"], hit["mask"], n_s, n_c)
    if courses is None:
        from coverage.placement import model as placement

        courses = placement.candidate_courses(inputs.candidates, params=params)
    if len(courses) == 0:  # no candidate site: nobody reaches a place where a course could run
        empty = sp.csr_matrix((len(demand), 0), dtype=bool)
        return empty, empty.copy(), empty.copy()
    if travel is None:
        travel = candidate_travel_times(courses, inputs.residents, networks=networks, params=params, period=period,
                                        cache=cache)
    mats = [sp.csr_matrix(reach_fn(demand, courses, travel, params=p).ok, dtype=np.uint8) for p in runs]
    union = (mats[0] + 2 * mats[1] + 4 * mats[2]).tocsr()  # one entry per pair, a bit per run
    union.sum_duplicates()
    union.sort_indices()
    idx_type = np.int16 if union.shape[1] < 2**15 else np.int32
    ptr, idx, mask = union.indptr.astype(np.int64), union.indices.astype(idx_type), union.data.astype(np.uint8)
    if key is not None and cache is not None:
        cache.put("kandidaten_erreichbar", key, {"form": np.array(union.shape, np.int64), "ptr": ptr, "idx": idx,
                                                 "mask": mask})
    return _split_cover(ptr, idx, mask, *union.shape)


def _split_cover(ptr: np.ndarray, idx: np.ndarray, mask: np.ndarray, n_s: int, n_c: int
                 ) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """The three boolean matrices of :func:`candidate_cover` from the union with one bit per run."""
    rows = np.repeat(np.arange(n_s), np.diff(ptr))
    out = []
    for bit in (1, 2, 4):
        keep = (mask & bit) != 0
        indptr = np.zeros(n_s + 1, np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=n_s), out=indptr[1:])
        out.append(sp.csr_matrix((np.ones(int(indptr[-1]), bool), idx[keep].astype(np.int32), indptr),
                                 shape=(n_s, n_c)))
    return out[0], out[1], out[2]


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
        In-process memory kept between runs by the caller (``kursatlas beobachten``, a
        notebook); default: a fresh :class:`~coverage.cache.session.Session` for this run.

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
    from coverage.analysis import demand as demand_mod
    from coverage.analysis import gaps
    from coverage.cache.store import Cache
    from coverage.outputs import maps, report
    from coverage.outputs.tables import published_gaps, write_gap_tables
    from coverage.traveltime.engine import course_travel_times, load_networks
    from coverage.workflow import changes as changes_mod
    from coverage.workflow import manifest
    from coverage.workflow.summary import check_outputs

    progress = progress or _log_progress
    session = session if session is not None else Session()
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
    check_outputs(config)  # fail before computing, not after
    with _locked_outputs(config, lock=lock, wait_s=lock_wait_s) as held:
        recover(_output_folders(config), lock=held)  # finish a swap a killed run left, remove its staging
        previous = manifest.latest_run(config.ergebnisse)
        input_hashes = manifest.hash_inputs(manifest.config_input_files(config))
        cache = Cache(config.cache / "berechnung", keep={"reisezeiten_kurs": 20000, "zugang": 5, "versorgung_block": 60,
                                                            "versorgung_kandidaten": 12, "verbindungen": 30},
                      default_keep=10)
        inputs = load_inputs(config, cache=cache)
        params = config.parameter
        result = RunResult(inputs=inputs, timings=timings)

        stage(1, "laden")
        nets = load_networks(config, inputs.region, cache=cache)

        stage(2, "netze")
        travel = course_travel_times(inputs.residents, inputs.courses, networks=nets, params=params, cache=cache)
        result.travel = travel
        if proposals:
            from coverage.placement import model as placement  # only here: a quick rerun needs no optimisation

            cand_courses = placement.candidate_courses(inputs.candidates, params=params)
        else:
            cand_courses = None
        travel_cand = (
            candidate_travel_times(
                cand_courses,
                inputs.residents,
                networks=nets,
                params=params,
                period=_planning_period(inputs.courses),
                cache=cache,
            )
            if proposals and len(cand_courses)
            else None
        )

        stage(3, "reisezeiten")
        demand = _demand(inputs.residents, params, cache, session=session)
        result.demand = demand

        stage(4, "bedarf")
        cover = candidate_cover(demand, inputs, networks=nets, params=params, cache=cache,
                                courses=cand_courses, travel=travel_cand)
        cov = gaps.assess(
            demand,
            inputs.courses,
            travel,
            params=params,
            mitgliedskommunen=inputs.region.mitgliedskommunen,
            kapazitaet=params.kapazitaet,
            cache=cache,
            candidate_cover=cover,
            session=session,
        )
        result.coverage = cov

        stage(5, "luecken")
        prop = None
        if proposals:
            from coverage.analysis.reach import reach as reach_fn

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
        records = changes_mod.course_records(inputs.courses)
        policy = DisclosurePolicy(params.mindestanzahl)
        published = published_gaps(cov.gaps, policy, text=True)  # what may leave the process: rounded, "< 5"
        report_changes = changes_mod.compare_runs(previous, published, records)
        result.changes = report_changes
        config.ergebnisse.mkdir(parents=True, exist_ok=True)
        config.karten.mkdir(parents=True, exist_ok=True)
        reusable = _recorded_outputs(previous, config.ergebnisse)
        output_keys: dict[Path, str] = {}
        kept: list[Path] = []
        with Staging(_output_folders(config)) as staging, staging_gdal_options():
            res_dir, map_dir = staging.new("ergebnisse"), staging.new("karten")
            write_gap_tables(cov, directory=res_dir, crs_geometries=inputs.region.mitgliedskommunen)
            changes_mod.write_changes(report_changes, res_dir)
            proposals_geo = None
            if prop is not None:
                placement.write_proposals(prop, directory=res_dir, policy=policy)
                proposals_geo = _proposal_points(prop, inputs.candidates)
            grid = maps.aggregate_residents(
                inputs.residents,
                cell_m=params.raster_m,
                min_count=params.mindestanzahl,
                areas=inputs.region.mitgliedskommunen,
            )
            layers = _layers(inputs, cov, proposals_geo, grid)
            layers["aenderungen"] = changes_mod.change_layer(report_changes, inputs.region.mitgliedskommunen)
            write_layers(res_dir / "kursatlas.gpkg", layers, cache=cache, static=STATIC_LAYERS)
            data = maps.MapData(
                mitgliedskommunen=inputs.region.mitgliedskommunen,
                courses=inputs.courses,
                gaps=cov.gaps,
                residents=inputs.residents,
                proposals=proposals_geo,
                travel_times=travel,
                reach_minutes=params.gruppen["allgemein"].max_minuten,
                landkreis=inputs.region.landkreis,
                grid=grid,
                changes=report_changes,
            )
            for job in maps.map_jobs(config, data):
                target = config.karten / job.name
                output_keys[target] = job.key
                if _still_valid(reusable, target, job.key):
                    kept.append(target)
                else:
                    maps.write_map(job, map_dir)
            if kept:
                logger.info("%d unveränderte Karte(n) nicht neu geschrieben", len(kept))
            report.write_report(
                config,
                directory=res_dir,
                gaps=cov.gaps,
                proposals=None if prop is None else prop.proposals,
                marginal=None if prop is None else placement.published_curve(prop.curve, policy),
                assumptions=demand_mod.demand_assumptions_table(params),
                courses=inputs.courses,
            )
            timings["ausgabe"] = time.perf_counter() - t_stage[0]
            written = [staging.final(f) for root in (res_dir, map_dir) for f in sorted(root.rglob("*")) if f.is_file()]
            staged_record = manifest.write_manifest(
                config.ergebnisse,
                input_files=input_hashes,
                parameters=params,
                started=started,
                finished=dt.datetime.now(dt.UTC),
                stage_seconds=timings,
                output_files=written + kept,
                output_keys=output_keys,
                gap_table=published,
                courses=records,
                extra={"cache": {"treffer": cache.hits, "fehlend": cache.misses}, "vorschlaege": proposals},
                staged={f: staging.source(f) for f in written},
                into=res_dir,
            )
            record = staged_record.relative_to(res_dir).as_posix()
            files = staging.commit(lock=held, record=record)
        result.files = files + kept
        result.kept = kept
        result.run_dir = config.ergebnisse / record
        cache.prune()
        return result


def _demand(residents: gpd.GeoDataFrame, params: Parameters, cache: Cache, *, session: Session | None = None
            ) -> pd.DataFrame:
    """Demand segments, from the cache when residents and parameters are unchanged (codes kept in ``session``)."""
    from coverage.analysis import demand as demand_mod
    from coverage.inputs.load import cached_frames

    frames = cached_frames(
        cache,
        "bedarf",
        (residents, params),
        lambda: {"bedarf": demand_mod.demand_segments(residents, params=params)},
        code=("coverage.analysis.demand", "coverage.inputs.schema", "coverage.inputs.config"),
        session=session,
    )
    return frames["bedarf"]


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


def _proposal_points(prop: Any, candidates: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Proposals table with the site geometry (for maps and the GeoPackage)."""
    table = prop.proposals.copy()
    chosen = prop.courses.set_index("kurs_id")
    site_ids = [chosen.loc[k, "standort_id"] for k in table["Kurs-ID"]] if len(table) else []
    geom = candidates.set_index("standort_id").geometry
    return gpd.GeoDataFrame(table, geometry=[geom.loc[s] for s in site_ids], crs=candidates.crs)


def _layers(
    inputs: Inputs, cov: Any, proposals_geo: gpd.GeoDataFrame | None, grid: gpd.GeoDataFrame
) -> dict[str, gpd.GeoDataFrame]:
    courses = inputs.courses[inputs.courses.geometry.notna()]
    layers: dict[str, gpd.GeoDataFrame] = {
        "landkreis": inputs.region.landkreis,
        "mitgliedskommunen": inputs.region.mitgliedskommunen,
        "gemeinden": inputs.region.gemeinden,
        "kurse": courses,
        "standorte": inputs.candidates,
    }
    from coverage.outputs.tables import published_gaps

    published = published_gaps(cov.gaps, DisclosurePolicy(cov.params.mindestanzahl))
    gap_layer = inputs.region.mitgliedskommunen.merge(published, left_on="mk_ars", right_on="ARS", how="left")
    layers["luecken"] = gap_layer
    layers["zielgruppe_raster"] = grid
    if proposals_geo is not None:
        layers["vorschlaege"] = proposals_geo
    return layers
