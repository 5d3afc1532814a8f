"""``kursatlas beobachten``: rerun when an input's content changes, survive invalid saves."""

from __future__ import annotations

import hashlib
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coverage.cli import DEMO_CONFIG, main
from coverage.errors import InputDataError
from coverage.workflow import pipeline
from coverage.workflow.registry import add_course
from coverage.workflow.watch import WatchEvent, watch

WAIT = 600.0  # upper bound for one event (a cold model-region run on a slow CI machine); never reached normally


class _Watcher:
    """:func:`watch` in a thread; its events in a queue."""

    def __init__(self, toml: Path, **kwargs: object) -> None:
        self.events: queue.Queue[WatchEvent] = queue.Queue()
        self.stop = threading.Event()
        self.runs: list[int] = []
        self.failure: list[BaseException] = []

        def target() -> None:
            try:
                self.runs.append(watch(toml, on_event=self.events.put, stop=self.stop, **kwargs))
            except BaseException as exc:  # reported by next()
                self.failure.append(exc)
                self.events.put(None)  # type: ignore[arg-type]

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def next(self) -> WatchEvent:
        event = self.events.get(timeout=WAIT)
        if self.failure:
            raise self.failure[0]
        return event

    def close(self) -> int:
        self.stop.set()
        self.thread.join(timeout=WAIT)
        assert not self.thread.is_alive()
        return self.runs[0]


SESSIONS: list[object] = []
"""The session passed to every (fake) run."""


@pytest.fixture()
def fake_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the analysis by a recorder that reads the registry like a run (invalid → InputDataError)."""
    seen: list[str] = []
    SESSIONS.clear()

    def run(config: object, *, progress: object = None, proposals: bool = True, lock: object = None,
            session: object = None) -> str:
        SESSIONS.append(session)
        text = Path(config.kurse).read_text(encoding="utf-8")  # type: ignore[attr-defined]
        if "KAPUTT" in text:
            raise InputDataError(f"{config.kurse}, Zeile 4, Spalte 'beginn': 'KAPUTT' ist keine Uhrzeit")  # type: ignore[attr-defined]
        seen.append(text)
        return f"Lauf {len(seen)}"

    monkeypatch.setattr(pipeline, "run", run)
    return seen


def test_reruns_only_when_content_changes(tiny_region: Path, fake_run: list[str]) -> None:
    w = _Watcher(tiny_region, interval=0.02, settle=0.02)
    try:
        first = w.next()
        assert first.changed == () and first.result == "Lauf 1" and first.error is None
        registry = tiny_region.parent / "kurse.csv"
        original = registry.read_text(encoding="utf-8")
        # saved again with the same content (new modification time): no run
        registry.write_text(original, encoding="utf-8")
        st = registry.stat()
        os.utime(registry, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
        with pytest.raises(queue.Empty):
            w.events.get(timeout=0.5)
        # a new course: one run that sees it
        registry.write_text(original + original.splitlines()[1].replace("K1;", "K7;", 1) + "\n", encoding="utf-8")
        ev = w.next()
        assert ev.changed == ("kurse",) and ev.error is None and "K7;" in fake_run[-1]
        # an invalid save: reported, the loop goes on
        registry.write_text(original.replace("08:30", "KAPUTT"), encoding="utf-8")
        ev = w.next()
        assert ev.result is None and isinstance(ev.error, InputDataError) and "KAPUTT" in str(ev.error)
        # fixed again, and another input changes: each run names what changed
        registry.write_text(original, encoding="utf-8")
        assert w.next().changed == ("kurse",)
        residents = tiny_region.parent / "einwohner.csv"
        residents.write_text(residents.read_text(encoding="utf-8").replace(";40\n", ";41\n"), encoding="utf-8")
        assert w.next().changed == ("einwohner",)
    finally:
        runs = w.close()
    assert runs == 5 and len(fake_run) == 4  # the invalid save counts as a run, but produced nothing
    # one session for the whole loop: unchanged results are kept in memory from run to run
    assert len(SESSIONS) == 5 and SESSIONS[0] is not None and all(x is SESSIONS[0] for x in SESSIONS)


def test_max_runs_and_no_first_run(tiny_region: Path, fake_run: list[str]) -> None:
    registry = tiny_region.parent / "kurse.csv"
    w = _Watcher(tiny_region, interval=0.02, settle=0.02, first_run=False, max_runs=1)
    with pytest.raises(queue.Empty):
        w.events.get(timeout=0.3)
    registry.write_text(registry.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert w.next().changed == ("kurse",)
    w.thread.join(timeout=WAIT)
    assert not w.thread.is_alive() and w.runs == [1] and len(fake_run) == 1


def test_interval_must_be_a_positive_number(tiny_region: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "abc", "-1"):
        with pytest.raises(SystemExit) as exc:
            main(["beobachten", "--config", str(tiny_region), "--intervall", bad])
        assert exc.value.code == 2
        assert "Sekundenzahl" in capsys.readouterr().err


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".cache" not in p.parts and "laeufe" not in p.parts}


@pytest.fixture()
def model_region(tmp_path: Path) -> Iterator[Path]:
    shutil.copytree(DEMO_CONFIG.parent, tmp_path / "region", ignore=shutil.ignore_patterns(".kursatlas-cache"))
    toml = tmp_path / "region" / "region.toml"
    text = toml.read_text(encoding="utf-8").replace('karten = "../../maps"', 'karten = "../karten"')
    toml.write_text(text.replace('ergebnisse = "../../results"', 'ergebnisse = "../ergebnisse"'), encoding="utf-8")
    yield toml


def test_model_region_new_course_and_invalid_save(model_region: Path) -> None:
    from coverage.inputs.config import load_config

    out = model_region.parent.parent
    w = _Watcher(model_region, interval=0.05, settle=0.05)
    try:
        first = w.next()
        assert first.error is None and first.result.files
        add_course(load_config(model_region), {
            "kurs_id": "K901", "traeger": "Test", "kursname": "A2 (Test)", "kursort": "Zeven", "adresse": "",
            "lat": "53.2957", "lon": "9.2756", "niveaus": "A2", "kursart": "landkreis", "wochentage": "Mo-Fr",
            "beginn": "08:30", "ende": "11:45", "erster_tag": "2027-02-01", "letzter_tag": "2027-06-30",
            "plaetze": "20", "freie_plaetze": "20", "kinderbetreuung": "nein",
        })
        ev = w.next()
        assert ev.changed == ("kurse",) and ev.error is None
        assert any("K901" in line for line in ev.result.changes.summary_lines())
        assert "K901" in set(ev.result.inputs.courses["kurs_id"])
        before = _digest(out / "ergebnisse") | _digest(out / "karten")
        registry = model_region.parent / "kurse.csv"
        registry.write_text(registry.read_text(encoding="utf-8").replace(";08:30;11:45;", ";25:00;11:45;", 1),
                            encoding="utf-8")
        ev = w.next()
        assert isinstance(ev.error, InputDataError) and "25:00" in str(ev.error) and "beginn" in str(ev.error)
        assert _digest(out / "ergebnisse") | _digest(out / "karten") == before
    finally:
        assert w.close() == 3


def test_cli_reports_changes_errors_and_ends_on_ctrl_c(tiny_region: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import coverage.workflow.watch as watch_mod
    from coverage.inputs.config import load_config

    config = load_config(tiny_region)

    def fake_watch(path: Path, *, on_event: Callable[[WatchEvent], None], on_start: Callable[[tuple[str, ...]], None],
                   **kwargs: object) -> int:
        on_start(("kurse",))
        on_event(WatchEvent(config=config, changed=("kurse",), result=None, seconds=0.1,
                            error=InputDataError("kurse.csv, Zeile 3, Spalte 'beginn': '25:00' ist keine Uhrzeit")))
        raise KeyboardInterrupt

    monkeypatch.setattr(watch_mod, "watch", fake_watch)
    assert main(["beobachten", "--config", str(tiny_region), "--intervall", "0,25"]) == 0
    err = capsys.readouterr().err
    assert "Geändert: kurse" in err and "Zeile 3" in err and "'25:00'" in err
    assert "bisherigen Ergebnisse bleiben erhalten" in err and "alle 0.25 s" in err
    assert "Beobachtung beendet" in err
