"""Watch the input files of a region and rerun when one of them changes.

``kursatlas beobachten --config region.toml`` keeps one process alive: the imports,
the compiled kernels, the parsed inputs and the coverage blocks of unchanged levels
stay in memory (one :class:`~coverage.cache.session.Session` for the whole loop), so
a rerun after a new course registration (saved in a spreadsheet program, or added
with ``kursatlas kurse neu`` in another terminal) costs only what depends on the
change.

How a change is detected
------------------------
The input files of the configuration (:func:`coverage.workflow.manifest.config_input_files`:
region file, boundaries, residents, course registry, sites, OSM extract, GTFS feed)
are polled by size and modification time every ``interval`` seconds; polling also
works on network drives, where file system notifications often do not. A file that
changed is read only once its size and time have been stable for ``settle``
seconds (spreadsheet programs save in several steps). A rerun starts only when the
*content* (XXH3-128) of an input changed: saving without a change does nothing.

An invalid input (say, a registry row with a bad time) is reported with the message
of the validation (file, row, column, value, what is allowed) and the previous
results stay as they were; the next save is checked again.

The output folders stay locked (:class:`coverage.workflow._outputs.OutputLock`) for as long
as the watch runs, so a ``kursatlas run`` or a second ``kursatlas beobachten`` on the
same folders stops with a message naming this process instead of mixing outputs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from coverage.errors import KursatlasError

if TYPE_CHECKING:
    from coverage.inputs.config import Config
    from coverage.workflow.pipeline import RunResult

__all__ = ["WatchEvent", "snapshot", "watch"]

logger = logging.getLogger(__name__)

Stamp = tuple[tuple[str, int, int], ...]
"""Sorted ``(path, size, mtime_ns)`` of every file of one input (one entry for a file)."""


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    """One run of :func:`watch`.

    Attributes
    ----------
    config
        The region configuration the run used (read again before every run).
    changed
        The input roles whose content changed (``("kurse",)``); empty for the first run.
    result
        The :class:`~coverage.workflow.pipeline.RunResult`, or None if the run failed.
    error
        The error that stopped the run (invalid input), else None.
    seconds
        From noticing the change (after the files were stable) to the end of the run.
    """

    config: Config
    changed: tuple[str, ...]
    result: RunResult | None
    error: KursatlasError | None
    seconds: float


def _stamp(path: Path) -> Stamp:
    """Size and modification time of a file, or of every file below a folder."""
    try:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        out = []
        for f in files:
            st = f.stat()
            out.append((str(f), st.st_size, st.st_mtime_ns))
        return tuple(out)
    except OSError:  # deleted or replaced while we looked: a change, the next poll sees the new state
        return ((str(path), -1, -1),)


def snapshot(files: Mapping[str, Path]) -> dict[str, Stamp]:
    """Role → stamp (sizes and modification times) of the input files ``files``."""
    return {role: _stamp(Path(p)) for role, p in files.items()}


def _content(files: Mapping[str, Path]) -> dict[str, str]:
    """Role → XXH3-128 of the content (folders: of all files in them); missing files → empty.

    A fast content hash: a saved Land extract or national timetable is hashed in a fraction of a second.
    """
    from coverage.cache.store import tree_xxh128

    out = {}
    for role, p in files.items():
        try:
            out[role] = tree_xxh128(p)
        except OSError:
            out[role] = ""
    return out


def watch(
    config_path: str | os.PathLike[str],
    *,
    interval: float = 0.25,
    settle: float = 0.2,
    proposals: bool = False,
    first_run: bool = True,
    on_event: Callable[[WatchEvent], None] | None = None,
    on_start: Callable[[tuple[str, ...]], None] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    stop: threading.Event | None = None,
    max_runs: int | None = None,
    lock_wait_s: float = 0.0,
) -> int:
    """Run the analysis for a region, then again each time one of its inputs changes.

    Parameters
    ----------
    config_path
        The region file (TOML). It is read again before every run, so a changed
        parameter or a new input file takes effect too.
    interval
        Seconds between two looks at the files.
    settle
        Seconds a changed file must stay unchanged before it is read.
    proposals
        Also compute proposals for new courses (slow); default: coverage, gaps,
        maps and tables only, as ``kursatlas run --nur-versorgung``.
    first_run
        Run once at the start (else only after the first change).
    on_event
        Called after every run with a :class:`WatchEvent`.
    on_start
        Called with the changed roles when a run starts.
    progress
        Passed to :func:`coverage.workflow.pipeline.run`.
    stop
        Set it to end the loop (checked while waiting); Ctrl-C ends it too.
    max_runs
        End after this many runs (failed ones count too); None: until stopped.
    lock_wait_s
        Seconds to wait when another run holds the output folders.

    Returns
    -------
    int
        The number of runs.

    Raises
    ------
    KursatlasError
        If the region file cannot be read at the start, or another run holds the
        output folders (:class:`~coverage.errors.OutputError`).
    """
    from coverage.cache.session import Session
    from coverage.inputs.config import load_config
    from coverage.workflow import pipeline
    from coverage.workflow._outputs import OutputLock
    from coverage.workflow.manifest import config_input_files

    path = Path(config_path)
    session = Session()  # what stays in memory between the runs of this loop
    stop = stop or threading.Event()
    config = load_config(path)
    files = {"konfiguration": path, **config_input_files(config)}
    stamps = snapshot(files)
    content = _content(files)
    runs = 0
    session = Session()  # one for the whole loop: unchanged blocks and codes are reused from run to run

    def folders(cfg: Config) -> tuple[Path, Path]:
        return (cfg.ergebnisse, cfg.karten)

    def new_lock(cfg: Config) -> OutputLock:
        return OutputLock(folders(cfg), wait_s=lock_wait_s, command="kursatlas beobachten")

    lock = new_lock(config).acquire()

    def one(changed: tuple[str, ...]) -> None:
        nonlocal config, files, runs, lock
        if on_start is not None:
            on_start(changed)
        t = time.perf_counter()
        result, error = None, None
        try:
            config = load_config(path)
            files = {"konfiguration": path, **config_input_files(config)}
            if not lock.covers(folders(config)):  # the region file now names other output folders
                lock.release()
                lock = new_lock(config)
                lock.acquire()
            result = pipeline.run(config, progress=progress, proposals=proposals, lock=lock, session=session)
        except KursatlasError as exc:
            error = exc
            logger.warning("Lauf nach Änderung an %s nicht möglich: %s", ", ".join(changed) or "-", exc)
        runs += 1
        if on_event is not None:
            seconds = time.perf_counter() - t
            on_event(WatchEvent(config=config, changed=changed, result=result, error=error, seconds=seconds))

    try:
        if first_run:
            one(())
        logger.info("Beobachte %d Eingaben alle %.1f s", len(files), interval)
        while (max_runs is None or runs < max_runs) and not stop.wait(interval):
            now = snapshot(files)
            if now == stamps:
                continue
            while not stop.wait(settle):  # wait until the files stay as they are
                again = snapshot(files)
                if again == now:
                    break
                now = again
            if stop.is_set():
                break
            stamps = now
            new_content = _content(files)
            changed = tuple(role for role in new_content if new_content[role] != content.get(role))
            if not changed:
                logger.debug("Dateien gespeichert, aber inhaltlich unverändert")
                continue
            content = new_content
            before = dict(files)
            one(changed)
            # an edit during the run shows at the next look (stamps and content are those from before it);
            # inputs added, moved or dropped by a changed region file are compared from now on
            moved = {r: p for r, p in files.items() if before.get(r) != p}
            stamps = {**{r: s for r, s in stamps.items() if r in files and r not in moved}, **snapshot(moved)}
            content = {**{r: h for r, h in content.items() if r in files and r not in moved}, **_content(moved)}
        return runs
    finally:
        lock.release()
