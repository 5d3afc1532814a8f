"""Output folders: one run at a time (a lock) and all-or-nothing replacement of a run's outputs.

Lock
----
A run holds :class:`OutputLock` on its results and map folders. The lock is a file
``.kursatlas-sperre`` created with ``O_CREAT | O_EXCL`` (atomic on local disks, SMB
and NFS, on Linux and Windows) that names the holder: process id, host, start time
and command. While it is held a background thread touches the file every
``heartbeat_s`` seconds. Another run waits up to ``wait_s`` seconds and then stops
with an :class:`~coverage.errors.OutputError` naming the folder and the holder. A
lock is taken over when its holder is gone: same host and the process no longer
exists, or no heartbeat for ``stale_after_s`` seconds (a crashed machine, a process
on another host). Taking over is itself guarded by a second exclusive file, so two
waiting runs cannot both take over the same stale lock.

Replacement (:class:`Staging`)
------------------------------
A run writes every new output into hidden staging folders
(``.kursatlas-lauf-<host>-<pid>-<token>/neu``) inside the results and the map
folder, on the same file system as the outputs. When everything is written the
swap starts:

1. a journal ``.kursatlas-wechsel.json`` listing every staged file is written
   atomically into the results folder; from this instant the new set is decided;
2. each file is moved into place with one atomic rename; the file it replaces is
   kept in the staging folder (``alt``) until the end (hard link where the file
   system has them, else a rename), so that a failing rename (on Windows: a file
   open in Excel) rolls every file back to the old set;
3. the run's record ``laeufe/<Zeitstempel>/`` is moved in last, then the journal
   and the staging folders are removed.

If the process dies (kill, power cut) before step 1, the outputs are the complete
old set and only a staging folder is left. If it dies between 1 and 3, old and new
files stand side by side until the next ``kursatlas run`` or ``kursatlas
beobachten`` on the folder: :func:`recover`, which a run calls first (holding the
lock), finds the journal and completes the swap (roll forward; the staged files
are complete). It also removes the staging folders of killed runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from coverage._io import write_text
from coverage.errors import OutputError

__all__ = [
    "HEARTBEAT_S",
    "JOURNAL_NAME",
    "LOCK_NAME",
    "STAGING_PREFIX",
    "STALE_AFTER_S",
    "LockHolder",
    "OutputLock",
    "Staging",
    "recover",
]

logger = logging.getLogger(__name__)

LOCK_NAME = ".kursatlas-sperre"
JOURNAL_NAME = ".kursatlas-wechsel.json"
STAGING_PREFIX = ".kursatlas-"
"""Prefix of staging folders (and of the lock and journal files)."""
_RUN_PREFIX = ".kursatlas-lauf-"
_BREAKER_SUFFIX = ".uebernahme"
HEARTBEAT_S = 15.0
"""Seconds between two touches of a held lock file."""
STALE_AFTER_S = 300.0
"""A lock whose file was not touched for this long is taken over (its holder is gone)."""
_BREAKER_STALE_S = 30.0
_POLL_S = 0.2
_NEW, _OLD = "neu", "alt"


def _host() -> str:
    return socket.gethostname() or "unbekannt"


def _pid_alive(pid: int) -> bool:
    """True when a process with id ``pid`` exists on this machine (zombies count as gone)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
            return False
    return True


@dataclasses.dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a lock: process id, host, start time (ISO, local), command, token."""

    pid: int
    host: str
    started: str
    command: str
    token: str

    def describe(self) -> str:
        """German description: ``Prozess 4711 auf Rechner pc-12, gestartet 2027-03-01 08:15:30 (kursatlas run)``."""
        when = self.started.replace("T", " ")[:19]
        return f"Prozess {self.pid} auf Rechner {self.host}, gestartet {when} ({self.command})"

    def alive_here(self) -> bool:
        """True when the holder runs on this host and its process still exists."""
        return self.host == _host() and _pid_alive(self.pid)

    @classmethod
    def parse(cls, text: str) -> LockHolder | None:
        """The holder recorded in a lock file, or None when the text is not a complete record."""
        try:
            data = json.loads(text)
            return cls(pid=int(data["pid"]), host=str(data["host"]), started=str(data["beginn"]),
                       command=str(data["befehl"]), token=str(data["token"]))
        except (ValueError, KeyError, TypeError):
            return None

    def dump(self) -> str:
        """The JSON text written into the lock file."""
        return json.dumps({"pid": self.pid, "host": self.host, "beginn": self.started, "befehl": self.command,
                           "token": self.token}, ensure_ascii=False)


def _read_lock(path: Path) -> tuple[LockHolder | None, float] | None:
    """Holder and modification time of a lock file, or None when there is none."""
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return None, time.time()
    return LockHolder.parse(text), st.st_mtime


def _key(folder: Path) -> str:
    return os.path.normcase(os.path.abspath(folder))


class OutputLock:
    """Exclusive lock of one process on output folders (see the module docstring).

    Use as a context manager, or call :meth:`acquire` and :meth:`release`.

    Parameters
    ----------
    folders
        The folders to lock (created if missing); duplicates are locked once.
    wait_s
        Seconds to wait for a lock held by another run before giving up.
    stale_after_s
        A lock not touched for this many seconds is taken over.
    heartbeat_s
        Seconds between two touches of the held lock files.
    command
        Shown to a run that finds the lock (``kursatlas run``).
    """

    def __init__(
        self,
        folders: Iterable[str | os.PathLike[str]],
        *,
        wait_s: float = 0.0,
        stale_after_s: float = STALE_AFTER_S,
        heartbeat_s: float = HEARTBEAT_S,
        command: str = "kursatlas",
    ) -> None:
        unique = {_key(Path(f)): Path(os.path.abspath(f)) for f in folders}
        self.folders: tuple[Path, ...] = tuple(unique[k] for k in sorted(unique))
        self.wait_s = max(0.0, float(wait_s))
        self.stale_after_s = float(stale_after_s)
        self.heartbeat_s = float(heartbeat_s)
        self.holder = LockHolder(
            pid=os.getpid(), host=_host(), started=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            command=command, token=secrets.token_hex(8),
        )
        self._held: list[Path] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public

    @property
    def held(self) -> bool:
        """True while the lock is held."""
        return bool(self._held)

    def covers(self, folders: Iterable[str | os.PathLike[str]]) -> bool:
        """True when this lock is held and includes every folder of ``folders``."""
        mine = {_key(f) for f in self.folders}
        return self.held and all(_key(Path(f)) in mine for f in folders)

    def acquire(self) -> OutputLock:
        """Take the lock on every folder (in a fixed order, so that two runs cannot deadlock).

        Raises
        ------
        OutputError
            If another live run holds a folder longer than ``wait_s``, or a
            folder cannot be written.
        """
        if self.held:
            return self
        deadline = time.monotonic() + self.wait_s
        try:
            for folder in self.folders:
                self._acquire_one(folder, deadline)
                self._held.append(folder)
        except BaseException:
            self.release()
            raise
        if self.heartbeat_s > 0:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name="kursatlas-sperre", daemon=True)
            self._thread.start()
        logger.debug("Sperre gehalten: %s", ", ".join(map(str, self.folders)))
        return self

    def release(self) -> None:
        """Give the lock up (only lock files that are still ours are removed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for folder in reversed(self._held):
            path = folder / LOCK_NAME
            found = _read_lock(path)
            if found is not None and found[0] is not None and found[0].token == self.holder.token:
                with contextlib.suppress(OSError):
                    path.unlink()
        self._held.clear()

    def check(self) -> None:
        """Raise :class:`OutputError` unless every lock file still names this process.

        Called right before the outputs are replaced: a run whose lock was taken
        over (it was considered dead) must not write.
        """
        for folder in self._held:
            found = _read_lock(folder / LOCK_NAME)
            holder = None if found is None else found[0]
            if holder is None or holder.token != self.holder.token:
                other = f" Jetzt: {holder.describe()}." if holder is not None else ""
                raise OutputError(
                    f"Die Sperre des Ordners {folder} gehört nicht mehr diesem Lauf (sie wurde als verwaist "
                    f"übernommen).{other} Die Ergebnisse dieses Laufs werden verworfen; bitte erneut starten."
                )

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    # -- internals

    def _acquire_one(self, folder: Path, deadline: float) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Ausgabeordner {folder} kann nicht angelegt werden ({exc.strerror or exc}).") from exc
        path = folder / LOCK_NAME
        waited = False
        while True:
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                pass
            except OSError as exc:
                raise OutputError(
                    f"Ausgabeordner {folder} ist nicht beschreibbar ({exc.strerror or exc}); bitte Schreibrechte "
                    "prüfen."
                ) from exc
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(self.holder.dump())
                if waited:
                    logger.info("Sperre für %s erhalten", folder)
                return
            found = _read_lock(path)
            if found is None:
                continue  # released in the meantime
            holder, mtime = found
            if self._is_stale(holder, mtime):
                self._take_over(path, holder, mtime)
                continue
            if time.monotonic() >= deadline:
                raise OutputError(self._busy_message(folder, holder))
            if not waited:
                logger.info("Ordner %s ist gesperrt (%s); warte bis zu %.0f s", folder,
                            holder.describe() if holder else "unbekannter Prozess", self.wait_s)
                waited = True
            time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())) or _POLL_S / 4)

    def _is_stale(self, holder: LockHolder | None, mtime: float) -> bool:
        if time.time() - mtime > self.stale_after_s:
            return True
        if holder is not None and holder.host == _host() and holder.token != self.holder.token:
            return not _pid_alive(holder.pid)
        return False

    def _take_over(self, path: Path, holder: LockHolder | None, mtime: float) -> None:
        """Remove the stale lock ``path`` if it is still the one judged stale (guarded by a second file)."""
        breaker = path.with_name(path.name + _BREAKER_SUFFIX)
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            with contextlib.suppress(OSError):
                if time.time() - breaker.stat().st_mtime > _BREAKER_STALE_S:
                    breaker.unlink()
            time.sleep(_POLL_S / 4)
            return
        os.close(fd)
        try:
            again = _read_lock(path)
            same = again is not None and (
                (again[0].token == holder.token) if (again[0] is not None and holder is not None)
                else again[1] == mtime
            )
            if same:
                path.unlink(missing_ok=True)
                who = holder.describe() if holder is not None else "unbekannter Prozess"
                logger.warning("Verwaiste Sperre %s übernommen (%s lebt nicht mehr)", path, who)
        finally:
            with contextlib.suppress(OSError):
                breaker.unlink()

    def _busy_message(self, folder: Path, holder: LockHolder | None) -> str:
        who = holder.describe() if holder is not None else "ein anderer Prozess"
        waited = f" (nach {self.wait_s:g} s Warten)" if self.wait_s else ""
        return (
            f"Der Ordner {folder} wird gerade von einem anderen Kursatlas-Lauf benutzt: {who}{waited}. "
            "Bitte warten, bis dieser Lauf fertig ist, und dann erneut starten (oder mit --warten SEKUNDEN "
            f"länger warten). Ist der Prozess abgestürzt, wird seine Sperre {folder / LOCK_NAME} übernommen, "
            f"sobald der Prozess nicht mehr existiert oder die Sperre {self.stale_after_s / 60:g} Minuten lang "
            "kein Lebenszeichen zeigt."
        )

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            for folder in list(self._held):
                path = folder / LOCK_NAME
                found = _read_lock(path)
                if found is None or found[0] is None or found[0].token != self.holder.token:
                    logger.error("Die Sperre %s gehört nicht mehr diesem Lauf", path)
                    continue
                with contextlib.suppress(OSError):
                    os.utime(path)


# --------------------------------------------------------------------------- replacement


def _rename(src: Path, dst: Path) -> None:
    """One atomic rename (a separate function so that tests can interrupt the swap between two renames)."""
    os.replace(src, dst)


def _files_below(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


class Staging:
    """The staging folders of one run and the all-or-nothing swap of its outputs (module docstring).

    Parameters
    ----------
    folders
        Role → output folder, e.g. ``{"ergebnisse": …, "karten": …}``; the journal
        is written into the first folder.
    """

    def __init__(self, folders: Mapping[str, Path]) -> None:
        if not folders:
            raise ValueError("Staging braucht mindestens einen Ausgabeordner")
        self.folders = {role: Path(os.path.abspath(p)) for role, p in folders.items()}
        host = re.sub(r"[^A-Za-z0-9_.]+", "_", _host())[:40]
        self.name = f"{_RUN_PREFIX}{host}-{os.getpid()}-{secrets.token_hex(4)}"
        self.roots = {role: folder / self.name for role, folder in self.folders.items()}
        self.committed = False
        for root in self.roots.values():
            (root / _NEW).mkdir(parents=True, exist_ok=True)  # mode from the umask; roles may share a folder

    @property
    def journal(self) -> Path:
        """The journal file of the swap (in the first output folder)."""
        return next(iter(self.folders.values())) / JOURNAL_NAME

    def new(self, role: str) -> Path:
        """Folder into which the run writes its new outputs for ``role``."""
        return self.roots[role] / _NEW

    def final(self, staged: Path) -> Path:
        """Where a file written below :meth:`new` will be after the swap."""
        staged = Path(staged)
        for role, root in self.roots.items():
            with contextlib.suppress(ValueError):
                return self.folders[role] / staged.relative_to(root / _NEW)
        raise ValueError(f"{staged} liegt nicht in einem Zwischenordner dieses Laufs")

    def source(self, final: Path) -> Path:
        """Where the output ``final`` lies in the staging folders before the swap (inverse of :meth:`final`)."""
        final = Path(os.path.abspath(final))
        best = max((r for r, f in self.folders.items() if final.is_relative_to(f)),
                   key=lambda r: len(self.folders[r].parts), default=None)
        if best is None:
            raise ValueError(f"{final} liegt in keinem Ausgabeordner dieses Laufs")
        return self.new(best) / final.relative_to(self.folders[best])

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if not self.committed:
            self.discard()

    def discard(self) -> None:
        """Remove the staging folders (the outputs stay as they were)."""
        for root in self.roots.values():
            shutil.rmtree(root, ignore_errors=True)

    def commit(self, *, lock: OutputLock | None = None, record: str | None = None) -> list[Path]:
        """Swap the staged outputs into place; all or nothing (see the module docstring).

        Parameters
        ----------
        lock
            The run's lock; checked right before the swap.
        record
            A folder below the first role's staging folder (``laeufe/<Zeitstempel>``),
            moved into place as a whole, after all files.

        Returns
        -------
        list of Path
            The files now in place (the record folder not included).

        Raises
        ------
        OutputError
            If a file cannot be replaced (e.g. open in another program on Windows);
            every file is then rolled back to the previous set.
        """
        if lock is not None:
            lock.check()
        first = next(iter(self.folders))
        entries: list[list[str]] = []
        seen: set[str] = set()
        for role, root in self.roots.items():
            for rel in _files_below(root / _NEW):
                in_record = record is not None and (rel + "/").startswith(record.rstrip("/") + "/")
                key = _key(root / _NEW / rel)
                if (in_record and root == self.roots[first]) or key in seen:
                    continue
                seen.add(key)
                entries.append([role, rel])
        journal = {
            "version": 1,
            "zwischenordner": self.name,
            "ordner": {role: str(p) for role, p in self.folders.items()},
            "dateien": entries,
            "protokoll": record,
        }
        t0 = time.perf_counter()
        write_text(self.journal, json.dumps(journal, ensure_ascii=False, indent=1) + "\n")
        try:
            _apply(journal)
        except OSError as exc:
            try:
                _roll_back(journal)
            except OSError:
                logger.exception("Zurücksetzen fehlgeschlagen; der nächste Lauf vollendet den Austausch")
                error = OutputError(
                    f"Die Ergebnisse konnten nicht vollständig ersetzt werden ({exc}). Der nächste Lauf vollendet "
                    "den Austausch, bevor er etwas anderes tut; bis dahin stehen alte und neue Ergebnisse "
                    "nebeneinander."
                )
                error.outputs_intact = False  # type: ignore[attr-defined]
                raise error from exc
            self.journal.unlink(missing_ok=True)
            self.discard()
            name = getattr(exc, "filename", None) or ""
            raise OutputError(
                f"Die Datei {name} konnte nicht ersetzt werden ({exc.strerror or exc}); ist sie in einem anderen "
                "Programm geöffnet (z. B. Excel)? Alle Ergebnisse sind auf dem Stand des vorherigen Laufs; bitte "
                "die Datei schließen und erneut starten."
            ) from exc
        except BaseException:
            # Ctrl-C during the swap: the new set is complete in staging, finish it rather than leave a mix
            with contextlib.suppress(OSError):
                _apply(journal)
                self.journal.unlink(missing_ok=True)
                self.discard()
            raise
        self.journal.unlink(missing_ok=True)
        logger.debug("Austausch: %d Dateien in %.1f ms", len(entries), 1000 * (time.perf_counter() - t0))
        self.committed = True
        self.discard()
        return [self.folders[role] / rel for role, rel in entries]


def _paths(journal: Mapping[str, Any], role: str, rel: str) -> tuple[Path, Path, Path]:
    folder = Path(journal["ordner"][role])
    root = folder / journal["zwischenordner"]
    return root / _NEW / rel, folder / rel, root / _OLD / rel


def _apply(journal: Mapping[str, Any]) -> None:
    """Move every staged file of ``journal`` into place (idempotent: done files are skipped)."""
    for role, rel in journal["dateien"]:
        new, target, old = _paths(journal, role, rel)
        if not new.exists():
            continue  # moved already
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and not old.exists():
            old.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(target, old)  # backup without a moment in which the target is missing
            except OSError:
                _rename(target, old)
        _rename(new, target)
    record = journal.get("protokoll")
    if record:
        role = next(iter(journal["ordner"]))
        new, target, _ = _paths(journal, role, record)
        if new.is_dir() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            _rename(new, target)


def _roll_back(journal: Mapping[str, Any]) -> None:
    """Undo :func:`_apply` after a failed rename: every target gets its old file back."""
    record = journal.get("protokoll")
    if record:
        role = next(iter(journal["ordner"]))
        new, target, _ = _paths(journal, role, record)
        if target.is_dir() and not new.exists():
            _rename(target, new)
    for role, rel in reversed(journal["dateien"]):
        new, target, old = _paths(journal, role, rel)
        if new.exists():
            if old.exists() and not target.exists():  # moved aside, the new one not moved in
                _rename(old, target)
            continue
        if old.exists():
            _rename(old, target)
        else:
            target.unlink(missing_ok=True)  # the run added this file


def _staging_owner_alive(name: str) -> bool:
    """True when the staging folder ``name`` belongs to a live process on this host (other than this one)."""
    m = re.fullmatch(re.escape(_RUN_PREFIX) + r"(.*)-(\d+)-[0-9a-f]+", name)
    if m is None:
        return False
    host = re.sub(r"[^A-Za-z0-9_.]+", "_", _host())[:40]
    pid = int(m.group(2))
    return m.group(1) == host and pid != os.getpid() and _pid_alive(pid)


def recover(folders: Mapping[str, Path], *, lock: OutputLock | None = None) -> bool:
    """Finish an interrupted swap and remove staging folders of killed runs; call holding the lock.

    Parameters
    ----------
    folders
        Role → output folder, as given to :class:`Staging` (the first holds the journal).
    lock
        The caller's lock (only checked to be held, if given).

    Returns
    -------
    bool
        True when an interrupted swap was completed.

    Raises
    ------
    OutputError
        If the interrupted swap cannot be completed (a file open in another program).
    """
    if lock is not None and not lock.held:
        raise ValueError("recover() braucht die gehaltene Sperre")
    folders = {role: Path(os.path.abspath(p)) for role, p in folders.items()}
    journal_path = next(iter(folders.values())) / JOURNAL_NAME
    completed = False
    pending: str | None = None
    if journal_path.is_file():
        try:
            journal = json.loads(journal_path.read_text(encoding="utf-8"))
            ok = isinstance(journal, dict) and isinstance(journal.get("dateien"), list) and isinstance(
                journal.get("ordner"), dict) and isinstance(journal.get("zwischenordner"), str)
        except (OSError, ValueError):
            ok = False
        if not ok:
            logger.warning("Unlesbares Austauschprotokoll %s entfernt", journal_path)
            journal_path.unlink(missing_ok=True)
        else:
            pending = journal["zwischenordner"]
            try:
                _apply(journal)
            except OSError as exc:
                error = OutputError(
                    f"Ein abgebrochener Lauf hat seine Ergebnisse nur teilweise eingesetzt; das Vollenden "
                    f"scheitert an {getattr(exc, 'filename', '') or exc} ({exc.strerror or exc}). Ist die Datei in "
                    "einem anderen Programm geöffnet? Bitte schließen und erneut starten; bis dahin stehen alte "
                    "und neue Ergebnisse nebeneinander."
                )
                error.outputs_intact = False  # type: ignore[attr-defined]
                raise error from exc
            journal_path.unlink(missing_ok=True)
            completed = True
            logger.warning("Der Austausch der Ergebnisse eines abgebrochenen Laufs wurde vollendet (%s)",
                           ", ".join(journal["ordner"].values()))
    for folder in {_key(f): f for f in [*folders.values()]}.values():
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if not entry.name.startswith(STAGING_PREFIX) or entry.name in (LOCK_NAME, JOURNAL_NAME):
                continue
            if entry.name.startswith(LOCK_NAME):
                continue  # the takeover guard of the lock
            if entry.is_dir():
                if _staging_owner_alive(entry.name) and entry.name != pending:
                    continue
                shutil.rmtree(entry, ignore_errors=True)
                logger.info("Zwischenordner eines abgebrochenen Laufs entfernt: %s", entry)
            elif entry.name.startswith((".kursatlas-probe-", "." + JOURNAL_NAME)):
                with contextlib.suppress(OSError):
                    entry.unlink()
    return completed
