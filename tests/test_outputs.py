"""Output folders: the lock, the all-or-nothing swap and the clean-up after killed runs.

The model-region tests run ``kursatlas run`` in real subprocesses and kill them
with SIGKILL at several points of the write step (hooks installed by a small
wrapper script, see ``_KILLER``), then check that the output folders hold exactly
the previous complete set or exactly the new complete set of outputs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from coverage.cli import DEMO_CONFIG
from coverage.errors import OutputError
from coverage.inputs.config import load_config
from coverage.workflow import _outputs
from coverage.workflow._outputs import JOURNAL_NAME, LOCK_NAME, OutputLock, Staging, recover
from coverage.workflow.manifest import latest_run, read_manifest

ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- helpers


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot(*folders: Path) -> dict[str, str]:
    """Absolute path → SHA-256 of every output (the cache and Kursatlas' hidden files excluded)."""
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).parts
            if p.is_file() and rel[0] != ".cache" and not rel[0].startswith(".kursatlas"):
                out[os.path.abspath(p)] = _sha(p)
    return out


def _leftovers(*folders: Path) -> list[str]:
    return sorted(p.name for f in folders for p in f.iterdir() if p.name.startswith(".kursatlas"))


def _new_set(before: dict[str, str], res: Path, run_before: Path | None) -> dict[str, str] | None:
    """What the folders must hold if the latest run's outputs are completely in place (None: no new run)."""
    latest = latest_run(res)
    if latest is None or latest == run_before:
        return None
    expected = dict(before)
    for entry in read_manifest(latest)["ausgaben"]:
        p = Path(entry["pfad"])
        expected[os.path.abspath(p if p.is_absolute() else res / p)] = entry["sha256"]
    for p in latest.iterdir():
        expected[os.path.abspath(p)] = _sha(p)
    return expected


# --------------------------------------------------------------------------- lock


def test_lock_names_the_holder_and_waits(tmp_path: Path) -> None:
    folder = tmp_path / "ergebnisse"
    first = OutputLock([folder, tmp_path / "karten"], command="kursatlas run").acquire()
    try:
        holder = json.loads((folder / LOCK_NAME).read_text(encoding="utf-8"))
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(OutputError) as exc:
            OutputLock([folder], wait_s=0).acquire()
        msg = str(exc.value)
        assert str(folder) in msg and f"Prozess {os.getpid()}" in msg and socket.gethostname() in msg
        assert "kursatlas run" in msg and "gestartet" in msg
        # a second run waits and gets the lock once the first lets it go
        threading.Timer(0.5, first.release).start()
        t = time.monotonic()
        with OutputLock([folder], wait_s=20) as second:
            assert second.held and time.monotonic() - t >= 0.4
        assert not (folder / LOCK_NAME).exists()
    finally:
        first.release()


def test_lock_of_a_dead_process_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({
        "pid": proc.pid, "host": socket.gethostname(), "beginn": "2027-01-01T08:00:00+01:00",
        "befehl": "kursatlas run", "token": "tot"}), encoding="utf-8")
    with caplog.at_level(logging.WARNING), OutputLock([tmp_path]) as lock:
        assert lock.held
        assert json.loads((tmp_path / LOCK_NAME).read_text(encoding="utf-8"))["pid"] == os.getpid()
    assert "Verwaiste Sperre" in caplog.text


def test_lock_of_another_host_counts_until_it_is_stale(tmp_path: Path) -> None:
    record = {"pid": 1, "host": "anderer-rechner", "beginn": "2027-01-01T08:00:00+01:00",
              "befehl": "kursatlas beobachten", "token": "fremd"}
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(OutputError, match="anderer-rechner"):
        OutputLock([tmp_path], stale_after_s=60).acquire()
    old = time.time() - 3600
    os.utime(path, (old, old))  # no heartbeat for an hour: the holder is gone
    lock = OutputLock([tmp_path], stale_after_s=60).acquire()
    try:
        assert lock.held
        # a run whose lock was taken over must not write
        path.write_text(json.dumps(record), encoding="utf-8")
        with pytest.raises(OutputError, match="gehört nicht mehr"):
            lock.check()
    finally:
        lock.release()
    assert path.exists(), "a lock that is no longer ours is not removed"


def test_heartbeat_keeps_the_lock_fresh(tmp_path: Path) -> None:
    with OutputLock([tmp_path], heartbeat_s=0.1):
        path = tmp_path / LOCK_NAME
        old = time.time() - 3600
        os.utime(path, (old, old))
        time.sleep(0.5)
        assert time.time() - path.stat().st_mtime < 60


# --------------------------------------------------------------------------- swap


def _two_folders(tmp_path: Path) -> tuple[dict[str, Path], dict[str, str]]:
    folders = {"ergebnisse": tmp_path / "ergebnisse", "karten": tmp_path / "karten"}
    for role, folder in folders.items():
        folder.mkdir()
        for i in range(4):
            (folder / f"{role}_{i}.txt").write_text(f"alt {role} {i}", encoding="utf-8")
    return folders, _snapshot(*folders.values())


def _stage_new(folders: dict[str, Path]) -> Staging:
    staging = Staging(folders)
    for role in folders:
        for i in range(5):  # one file more than before
            (staging.new(role) / f"{role}_{i}.txt").write_text(f"neu {role} {i}", encoding="utf-8")
    record = staging.new("ergebnisse") / "laeufe" / "2027-01-01T08-00-00Z"
    record.mkdir(parents=True)
    (record / "manifest.json").write_text("{}", encoding="utf-8")
    return staging


def test_swap_replaces_everything_and_cleans_up(tmp_path: Path) -> None:
    folders, _ = _two_folders(tmp_path)
    staging = _stage_new(folders)
    with OutputLock(folders.values()) as lock:
        files = staging.commit(lock=lock, record="laeufe/2027-01-01T08-00-00Z")
    assert len(files) == 10
    for role, folder in folders.items():
        assert [(folder / f"{role}_{i}.txt").read_text(encoding="utf-8") for i in range(5)] == [
            f"neu {role} {i}" for i in range(5)]
        assert _leftovers(folder) == []
    assert (folders["ergebnisse"] / "laeufe" / "2027-01-01T08-00-00Z" / "manifest.json").is_file()


def test_failed_rename_rolls_every_file_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folders, before = _two_folders(tmp_path)
    staging = _stage_new(folders)
    calls = []
    real = _outputs._rename

    def locked_file(src: Path, dst: Path) -> None:  # like a file open in Excel on Windows
        calls.append(dst)
        if len(calls) == 7:
            raise PermissionError(13, "Zugriff verweigert", str(dst))
        real(src, dst)

    monkeypatch.setattr(_outputs, "_rename", locked_file)
    with pytest.raises(OutputError, match="geöffnet"):
        staging.commit(record="laeufe/2027-01-01T08-00-00Z")
    assert _snapshot(*folders.values()) == before
    assert _leftovers(*folders.values()) == []


@pytest.mark.parametrize("kill_at", [1, 3, 6, 10, 11])
def test_swap_killed_between_renames_is_completed_by_recover(tmp_path: Path, kill_at: int) -> None:
    """A process killed (SIGKILL) before rename ``kill_at``: ``recover`` completes the swap."""
    folders, before = _two_folders(tmp_path)
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from coverage.workflow import _outputs
n = [0]
real = _outputs._rename
def rename(src, dst):
    n[0] += 1
    if n[0] == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
_outputs._rename = rename
folders = {{"ergebnisse": Path({str(folders["ergebnisse"])!r}), "karten": Path({str(folders["karten"])!r})}}
staging = _outputs.Staging(folders)
for role in folders:
    for i in range(5):
        (staging.new(role) / f"{{role}}_{{i}}.txt").write_text(f"neu {{role}} {{i}}", encoding="utf-8")
rec = staging.new("ergebnisse") / "laeufe" / "x"
rec.mkdir(parents=True)
(rec / "manifest.json").write_text("{{}}", encoding="utf-8")
with _outputs.OutputLock(folders.values()) as lock:
    staging.commit(lock=lock, record="laeufe/x")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (folders["ergebnisse"] / JOURNAL_NAME).is_file()
    with OutputLock(folders.values()) as lock:  # the dead holder's lock is taken over
        assert recover(folders, lock=lock)
    after = _snapshot(*folders.values())
    assert len(after) == 11 and all(
        Path(p).read_text(encoding="utf-8").startswith("neu") for p in after if p.endswith(".txt"))
    assert _leftovers(*folders.values()) == []
    assert set(before) < set(after)


def test_recover_removes_staging_of_dead_runs_only(tmp_path: Path) -> None:
    folder = tmp_path / "ergebnisse"
    folder.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    try:
        alive_dir = folder / f".kursatlas-lauf-{host}-{sleeper.pid}-abcd1234"
        dead_dir = folder / f".kursatlas-lauf-{host}-{dead.pid}-abcd1234"
        old_style = folder / ".kursatlas-x1y2z3"  # tempfile staging of earlier versions
        for d in (alive_dir, dead_dir, old_style):
            (d / "neu").mkdir(parents=True)
            (d / "neu" / "luecken.csv").write_text("x", encoding="utf-8")
        (folder / "luecken.csv").write_text("bleibt", encoding="utf-8")
        with OutputLock([folder]) as lock:
            assert not recover({"ergebnisse": folder}, lock=lock)
        assert alive_dir.is_dir() and not dead_dir.exists() and not old_style.exists()
        assert (folder / "luecken.csv").read_text(encoding="utf-8") == "bleibt"
    finally:
        sleeper.kill()
        sleeper.wait()


# --------------------------------------------------------------------------- model region, killed for real

_KILLER = """
import os, signal, sys, time
from pathlib import Path
mode, n, config, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
count = [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

from coverage.workflow import _outputs

from coverage.outputs import maps
if mode == "map":  # while the maps are rendered into the staging folder
    real_map = maps.write_map
    def write_map(job, directory, **kw):
        count[0] += 1
        if count[0] == n:
            die()
        return real_map(job, directory, **kw)
    maps.write_map = write_map
elif mode == "journal":  # right after the journal is written, before the first rename
    real_text = _outputs.write_text
    def write_text(target, text):
        real_text(target, text)
        if Path(target).name == _outputs.JOURNAL_NAME:
            die()
    _outputs.write_text = write_text
elif mode == "rename":  # before the n-th rename into place (files first, the run record last)
    real_rename = _outputs._rename
    def rename(src, dst):
        count[0] += 1
        if count[0] == n or (n < 0 and Path(src).is_dir()):
            die()
        real_rename(src, dst)
    _outputs._rename = rename
elif mode == "cleanup":  # after the swap and the journal's removal, before the staging folders are removed
    def discard(self):
        if self.committed:
            die()
    _outputs.Staging.discard = discard
elif mode == "hold":  # hold the lock before the swap until the test says "weiter" (at most n seconds)
    real_commit = _outputs.Staging.commit
    def commit(self, **kw):
        Path(config).with_name("angekommen").write_text("x")
        t = time.monotonic()
        while not Path(config).with_name("weiter").exists() and time.monotonic() - t < n:
            time.sleep(0.05)
        return real_commit(self, **kw)
    _outputs.Staging.commit = commit

from coverage.cli import main
verbose = ["-v"] if os.environ.get("KURSATLAS_TEST_VERBOSE") else []
sys.exit(main([*verbose, "run", "--config", config, "--nur-versorgung", "--warten", wait]))
"""


def _spawn(tmp: Path, toml: Path, mode: str, n: int = 0, wait: float = 0,
           verbose: bool = False) -> subprocess.Popen[str]:
    script = tmp / "killer.py"
    script.write_text(_KILLER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), **({"KURSATLAS_TEST_VERBOSE": "1"} if verbose else {})}
    return subprocess.Popen([sys.executable, str(script), mode, str(n), str(toml), str(wait)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _bump_capacity(toml: Path, seats: int) -> None:
    """Change the seats of the first course, so that the next run writes new outputs."""
    path = toml.parent / "kurse.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8")), delimiter=";"))
    col = rows[0].index("plaetze")
    rows[1][col] = str(seats)
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the model region with outputs in the temp folder, run once (coverage only)."""
    from coverage.workflow.pipeline import run

    base = tmp_path_factory.mktemp("modell_ausgaben")
    shutil.copytree(DEMO_CONFIG.parent, base / "region", ignore=shutil.ignore_patterns(".kursatlas-cache"))
    toml = base / "region" / "region.toml"
    text = toml.read_text(encoding="utf-8").replace('karten = "../../maps"', 'karten = "../karten"')
    toml.write_text(text.replace('ergebnisse = "../../results"', 'ergebnisse = "../ergebnisse"'), encoding="utf-8")
    run(load_config(toml), proposals=False)
    return toml


KILL_POINTS = [("map", 2), ("journal", 0), ("rename", 1), ("rename", 2), ("rename", 6), ("rename", -1),
               ("cleanup", 0), ("poll", 0)]


def test_killed_runs_leave_the_old_or_the_new_set(model: Path, tmp_path: Path) -> None:
    cfg = load_config(model)
    res, karten = cfg.ergebnisse, cfg.karten
    outcomes: list[tuple[str, int, str]] = []
    for i, (mode, n) in enumerate(KILL_POINTS):
        before = _snapshot(res, karten)
        run_before = latest_run(res)
        _bump_capacity(model, 30 + i)
        if mode == "poll":  # no hook: kill as soon as the staging folder is there (plus a short delay)
            proc = _spawn(tmp_path, model, "none")
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                if any(p.name.startswith(".kursatlas-lauf-") for p in karten.iterdir()):
                    time.sleep(0.05)
                    proc.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.01)
        else:
            proc = _spawn(tmp_path, model, mode, n)
        _, err = proc.communicate(timeout=600)
        if mode != "poll":
            assert proc.returncode == -signal.SIGKILL, err
        after = _snapshot(res, karten)
        journal = (res / JOURNAL_NAME).is_file()
        if journal:  # killed during the swap: the next run's first step completes it
            with OutputLock([res, karten]) as lock:
                assert recover({"ergebnisse": res, "karten": karten}, lock=lock)
            after = _snapshot(res, karten)
        new = _new_set(before, res, run_before)
        if after == before:
            outcome = "alt"
        else:
            assert new is not None and after == new, f"{mode} {n}: weder der alte noch der neue Stand"
            outcome = "neu (nach Vollenden)" if journal else "neu"
        outcomes.append((mode, n, outcome))
    print("Abbruchpunkte:", outcomes)
    assert {o for _, _, o in outcomes} >= {"alt", "neu (nach Vollenden)"}
    # a following run succeeds and removes what the killed runs left behind
    before = _snapshot(res, karten)
    run_before = latest_run(res)
    _bump_capacity(model, 25)
    proc = _spawn(tmp_path, model, "none")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert _leftovers(res, karten) == []
    assert _snapshot(res, karten) == _new_set(before, res, run_before)


def test_two_runs_into_one_folder_never_mix(model: Path, tmp_path: Path) -> None:
    cfg = load_config(model)
    res, karten = cfg.ergebnisse, cfg.karten
    arrived, go_on = model.with_name("angekommen"), model.with_name("weiter")
    arrived.unlink(missing_ok=True)
    go_on.unlink(missing_ok=True)
    _bump_capacity(model, 41)
    first = _spawn(tmp_path, model, "hold", 600)
    third = None
    try:
        deadline = time.monotonic() + 300
        while not arrived.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert arrived.exists(), first.stderr.read() if first.stderr else ""
        before = _snapshot(res, karten)
        # a second run that does not wait stops with a message naming the folder and the other process
        second = subprocess.run(
            [sys.executable, "-m", "coverage.cli", "run", "--config", str(model), "--nur-versorgung", "--warten", "0"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert second.returncode == 1
        assert "Fehler:" in second.stderr and "Traceback" not in second.stderr
        assert f"Prozess {first.pid}" in second.stderr and socket.gethostname() in second.stderr
        assert str(res) in second.stderr or str(karten) in second.stderr
        assert _snapshot(res, karten) == before
        # a third one waits for the first and then runs
        third = _spawn(tmp_path, model, "none", wait=600, verbose=True)
        time.sleep(15)  # time to start and reach the lock, also on a busy machine
        assert third.poll() is None, "the third run must wait"
        go_on.write_text("x", encoding="utf-8")
        _, err1 = first.communicate(timeout=600)
        assert first.returncode == 0, err1
        _, err3 = third.communicate(timeout=600)
        assert third.returncode == 0, err3
        assert "gesperrt" in err3 and f"{first.pid}" in err3
    finally:
        go_on.write_text("x", encoding="utf-8")
        for p in (first, third):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
    runs = sorted((res / "laeufe").iterdir())
    assert len(runs) >= 2
    latest = latest_run(res)
    for entry in read_manifest(latest)["ausgaben"]:
        p = Path(entry["pfad"])
        assert _sha(p if p.is_absolute() else res / p) == entry["sha256"], entry["pfad"]
    assert _leftovers(res, karten) == []


def test_results_and_maps_in_one_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ausgabe"
    folder.mkdir()
    (folder / "alt.txt").write_text("alt", encoding="utf-8")
    folders = {"ergebnisse": folder, "karten": folder}
    staging = Staging(folders)
    (staging.new("ergebnisse") / "luecken.csv").write_text("neu", encoding="utf-8")
    (staging.new("karten") / "uebersicht.html").write_text("neu", encoding="utf-8")
    assert staging.source(folder / "uebersicht.html") == staging.new("karten") / "uebersicht.html"
    with OutputLock(folders.values()) as lock:
        files = staging.commit(lock=lock)
    assert sorted(p.name for p in files) == ["luecken.csv", "uebersicht.html"]
    assert sorted(p.name for p in folder.iterdir()) == ["alt.txt", "luecken.csv", "uebersicht.html"]


def test_beobachten_holds_the_lock_while_it_runs(tiny_region: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coverage.workflow import pipeline
    from coverage.workflow.watch import watch

    cfg = load_config(tiny_region)
    ran = threading.Event()

    def fake_run(config: object, *, progress: object = None, proposals: bool = True, lock: object = None,
                 session: object = None) -> str:
        assert isinstance(lock, OutputLock) and lock.held
        ran.set()
        return "ok"

    monkeypatch.setattr(pipeline, "run", fake_run)
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(tiny_region,), kwargs={"stop": stop, "interval": 0.05})
    thread.start()
    try:
        assert ran.wait(60)
        with pytest.raises(OutputError, match="kursatlas beobachten"):
            OutputLock([cfg.ergebnisse, cfg.karten]).acquire()
    finally:
        stop.set()
        thread.join(60)
    assert not (cfg.ergebnisse / LOCK_NAME).exists()
    with OutputLock([cfg.ergebnisse, cfg.karten]) as lock:
        assert lock.held
