"""Outputs are readable by others: every file and folder Kursatlas writes gets its mode from the umask."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from coverage.cli import DEMO_CONFIG
from coverage.inputs.config import load_config
from coverage.workflow.registry import add_course

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = """
import os, sys
os.umask(int(sys.argv[1], 8))
from coverage.cli import main
assert main(["run", "--config", sys.argv[2]]) == 0
assert main(["run", "--config", sys.argv[2], "--nur-versorgung"]) == 0  # a rerun replaces files
assert main(["init", sys.argv[3], "--name", "Testkreis"]) == 0
"""


def _modes(*folders: Path) -> dict[str, int]:
    out = {}
    for folder in folders:
        for p in [folder, *folder.rglob("*")]:
            out[str(p)] = stat.S_IMODE(p.lstat().st_mode)
    return out


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_full_run_and_init_respect_the_umask(tmp_path: Path, umask: int) -> None:
    shutil.copytree(DEMO_CONFIG.parent, tmp_path / "region", ignore=shutil.ignore_patterns(".kursatlas-cache"))
    toml = tmp_path / "region" / "region.toml"
    text = toml.read_text(encoding="utf-8").replace('karten = "../../maps"', 'karten = "../karten"')
    toml.write_text(text.replace('ergebnisse = "../../results"', 'ergebnisse = "../ergebnisse"'), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, oct(umask)[2:], str(toml), str(tmp_path / "neu")],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    cache = tmp_path / "region" / ".kursatlas-cache"  # next to the region file, not in the results
    modes = _modes(tmp_path / "ergebnisse", tmp_path / "karten", tmp_path / "neu", cache)
    files = {p: m for p, m in modes.items() if Path(p).is_file()}
    dirs = {p: m for p, m in modes.items() if Path(p).is_dir()}
    assert len(files) > 50 and any("/.kursatlas-cache/" in p for p in files)  # tables, maps, manifests, cache
    assert {p for p, m in files.items() if m != 0o666 & ~umask} == set()
    assert {p for p, m in dirs.items() if m != 0o777 & ~umask} == set()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("mode", [0o600, 0o664])
def test_kurse_neu_keeps_the_registers_mode(tiny_region: Path, mode: int) -> None:
    registry = tiny_region.parent / "kurse.csv"
    registry.chmod(mode)
    add_course(load_config(tiny_region), {
        "kurs_id": "K9", "traeger": "Test", "kursname": "A2", "kursort": "Aheim", "adresse": "", "lat": "",
        "lon": "", "niveaus": "A2", "kursart": "online", "wochentage": "Mo", "beginn": "18:00", "ende": "20:00",
        "erster_tag": "2027-01-11", "letzter_tag": "2027-06-30", "plaetze": "20", "freie_plaetze": "20",
        "kinderbetreuung": "nein",
    })
    assert "K9" in registry.read_text(encoding="utf-8")
    assert stat.S_IMODE(registry.stat().st_mode) == mode
