"""Run manifests: what went into a run and what came out, under ``<ergebnisse>/laeufe/<Zeitstempel>/``.

Every run gets a folder named by its start time in UTC (``2027-03-01T08-15-30Z``,
sortable, no daylight-saving ambiguity) with

* ``manifest.json``: input files with SHA-256, parameters, versions of Kursatlas,
  Python and the main packages, start/end time, duration per stage, output files
  with SHA-256 (and, for maps, the content key ``schluessel``, so that the next run
  can keep a map whose content did not change);
* ``luecken.csv`` and ``kurse.csv``: the gap table and the normalised course list of
  the run, so the next run can report what changed (:mod:`coverage.workflow.changes`).

``manifest.json`` is written last and atomically: a folder without it is an
incomplete run and is ignored by :func:`latest_run` and :func:`previous_run`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from coverage._io import write_csv, write_text
from coverage.cache.store import file_xxh128, tree_sha256

if TYPE_CHECKING:
    from coverage.inputs.config import Config, Parameters

__all__ = [
    "MANIFEST_NAME",
    "PACKAGES",
    "RUNS_FOLDER",
    "config_input_files",
    "hash_inputs",
    "latest_run",
    "package_versions",
    "previous_run",
    "read_manifest",
    "run_folder_name",
    "write_manifest",
]

logger = logging.getLogger(__name__)

RUNS_FOLDER = "laeufe"
MANIFEST_NAME = "manifest.json"
PACKAGES: tuple[str, ...] = ("numpy", "pandas", "scipy", "geopandas", "shapely", "osmnx", "folium", "highspy")
_STAMP = "%Y-%m-%dT%H-%M-%SZ"


def package_versions(packages: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None if not installed)."""
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def config_input_files(config: Config) -> dict[str, Path]:
    """The input files of a :class:`~coverage.inputs.config.Config` by role (only those that exist)."""
    roles: dict[str, Any] = {
        "konfiguration": config.path,
        "grenzen": config.grenzen,
        "einwohner": config.einwohner,
        "kurse": config.kurse,
        "nachbarkurse": getattr(config, "nachbarkurse", None),
        "standorte": config.standorte,
        "osm": config.osm if not isinstance(config.osm, str) else None,
        "gtfs": config.gtfs,
    }
    return {k: Path(v) for k, v in roles.items() if v is not None and Path(v).exists()}


def run_folder_name(started: dt.datetime) -> str:
    """Folder name of a run started at ``started`` (UTC, sortable)."""
    if started.tzinfo is None:
        started = started.astimezone()
    return started.astimezone(dt.UTC).strftime(_STAMP)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dt.date | dt.datetime):
        return obj.isoformat()
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return obj.item()
    return obj


LARGE_FILE_BYTES = 64 * 1024 * 1024
"""Inputs larger than this are recorded with an XXH3-128 checksum (``xxh3_128``) instead of SHA-256."""


def _file_entry(path: Path, base: Path | None = None, *, hashed: bool = True) -> dict[str, Any]:
    p = Path(path)
    shown = str(p.relative_to(base)) if base is not None and p.is_relative_to(base) else str(p)
    if not hashed:
        return {"pfad": shown}
    size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    if p.is_file() and size > LARGE_FILE_BYTES:
        # a Land extract or the Germany-wide timetable: SHA-256 would cost ~1 s per GB on every run
        return {"pfad": shown, "xxh3_128": file_xxh128(p), "bytes": size}
    return {"pfad": shown, "sha256": tree_sha256(p), "bytes": size}


def _output_entry(path: Path, base: Path, keys: Mapping[str, str], source: Path | None = None) -> dict[str, Any]:
    entry = _file_entry(path, base, hashed=source is None)
    if source is not None:  # still in the staging folder: hash the bytes there, record the final path
        entry.update({k: v for k, v in _file_entry(source).items() if k != "pfad"})
    key = keys.get(os.path.abspath(path))
    if key is not None:
        entry["schluessel"] = key
    return entry


def hash_inputs(input_files: Mapping[str, str | Path]) -> dict[str, dict[str, Any]]:
    """Role → ``{"pfad", "sha256", "bytes"}`` of each input, taken now (``xxh3_128`` for files over 64 MB).

    Call this at the start of a run and pass the result to :func:`write_manifest`,
    so that the manifest records the inputs as they were read, even if a file is
    edited while the run is going on.
    """
    return {role: _file_entry(Path(p)) for role, p in input_files.items()}


def write_manifest(
    results_dir: str | Path,
    *,
    input_files: Mapping[str, str | Path | Mapping[str, Any]],
    parameters: Parameters | Mapping[str, Any],
    started: dt.datetime,
    finished: dt.datetime,
    stage_seconds: Mapping[str, float],
    output_files: Iterable[str | Path] = (),
    output_keys: Mapping[str | Path, str] | None = None,
    gap_table: pd.DataFrame | None = None,
    courses: pd.DataFrame | None = None,
    extra: Mapping[str, Any] | None = None,
    staged: Mapping[str | Path, str | Path] | None = None,
    into: str | Path | None = None,
) -> Path:
    """Record one run under ``results_dir/laeufe/<Zeitstempel>/`` and return that folder.

    Parameters
    ----------
    results_dir
        The results folder of the region (``config.ergebnisse``).
    input_files
        Role → input file or folder (see :func:`config_input_files`), hashed now, or
        role → entry already hashed by :func:`hash_inputs` at the start of the run.
    parameters
        The run's :class:`~coverage.inputs.config.Parameters` (or a dict); stored as a dict.
    started, finished
        Start and end of the run (timezone-aware or local).
    stage_seconds
        Duration per stage in seconds (``RunResult.timings``).
    output_files
        Files the run wrote (after promotion) or kept unchanged; each is hashed.
    output_keys
        Output file → content key (e.g. :attr:`coverage.outputs.maps.MapJob.key`), recorded
        as ``schluessel``; the next run keeps a file whose key and SHA-256 still match.
    gap_table
        The gap table of this run; copied as ``luecken.csv``.
    courses
        The course table of this run (loaded registry or
        :func:`coverage.workflow.changes.course_records`); copied as ``kurse.csv``.
    extra
        More JSON-serialisable facts (e.g. cache hits).
    staged
        Output file (final path) → where its bytes are now (a staging folder of
        :class:`coverage.workflow._outputs.Staging`); the manifest records the final path
        with the hash of the staged bytes.
    into
        Write the run folder ``laeufe/<Zeitstempel>/`` below this folder (the
        staging folder of the results) instead of below ``results_dir``; its name
        is still chosen so that it is new in ``results_dir``.

    Returns
    -------
    pathlib.Path
        The run folder.
    """
    from coverage import __version__
    from coverage.workflow.changes import course_records

    results_dir = Path(results_dir)
    keys = {os.path.abspath(k): str(v) for k, v in (output_keys or {}).items()}
    sources = {os.path.abspath(k): Path(v) for k, v in (staged or {}).items()}
    runs = results_dir / RUNS_FOLDER
    name = run_folder_name(started)
    folder = runs / name
    n = 1
    while (folder / MANIFEST_NAME).exists() or (into is not None and folder.exists()):
        n += 1
        folder = runs / f"{name}_{n}"
    if into is not None:
        folder = Path(into) / RUNS_FOLDER / folder.name
    folder.mkdir(parents=True, exist_ok=True)
    copies: list[Path] = []
    if gap_table is not None:
        write_csv(folder / "luecken.csv", gap_table)
        copies.append(folder / "luecken.csv")
    if courses is not None:
        write_csv(folder / "kurse.csv", course_records(courses))
        copies.append(folder / "kurse.csv")
    start_local = started if started.tzinfo else started.astimezone()
    end_local = finished if finished.tzinfo else finished.astimezone()
    manifest = {
        "lauf": folder.name,
        "kursatlas": __version__,
        "python": sys.version.split()[0],
        "plattform": platform.platform(),
        "pakete": package_versions(),
        "beginn": start_local.isoformat(timespec="seconds"),
        "ende": end_local.isoformat(timespec="seconds"),
        "dauer_s": round((end_local - start_local).total_seconds(), 3),
        "dauer_je_schritt_s": {k: round(float(v), 3) for k, v in stage_seconds.items()},
        "eingaben": {
            role: dict(p) if isinstance(p, Mapping) else _file_entry(Path(p)) for role, p in input_files.items()
        },
        "parameter": _jsonable(parameters),
        "ausgaben": [
            _output_entry(Path(p), results_dir, keys, sources.get(os.path.abspath(p)))
            for p in output_files
            if sources.get(os.path.abspath(p), Path(p)).exists()
        ],
        "kopien": [_file_entry(p, folder) for p in copies],
        **({"weitere": _jsonable(extra)} if extra else {}),
    }
    write_text(folder / MANIFEST_NAME, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    logger.info("Lauf protokolliert: %s", folder)
    return folder


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a run folder."""
    return json.loads((Path(run_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))


def _complete_runs(results_dir: str | Path) -> list[Path]:
    runs = Path(results_dir) / RUNS_FOLDER
    if not runs.is_dir():
        return []
    return sorted((d for d in runs.iterdir() if d.is_dir() and (d / MANIFEST_NAME).is_file()), key=_sort_key)


def _sort_key(d: Path) -> tuple[str, int]:
    stamp, _, n = d.name.partition("_")
    return stamp, int(n) if n.isdigit() else 1


def latest_run(results_dir: str | Path) -> Path | None:
    """The newest complete run folder, or None if there is none."""
    runs = _complete_runs(results_dir)
    return runs[-1] if runs else None


def previous_run(results_dir: str | Path, *, before: str | Path | dt.datetime) -> Path | None:
    """The newest complete run strictly before ``before`` (a run folder, its name or a time)."""
    key = (run_folder_name(before), 0) if isinstance(before, dt.datetime) else _sort_key(Path(before))
    earlier = [d for d in _complete_runs(results_dir) if _sort_key(d) < key]
    return earlier[-1] if earlier else None
