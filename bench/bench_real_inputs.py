"""Benchmark: the model region run with inputs of the size a real county downloads.

A county sets Kursatlas up with what exists: the Germany-wide GTFS feed, the
Geofabrik extract of its Land and the Germany-wide Zensus grid. This script

1. generates, in the published formats and seeded, (or reuses from ``--dir``)

   * a Germany-scale GTFS zip (``bench/_gen_gtfs.py``: ≥ 30 million stop_times,
     ≥ 90,000 DHID stops with parent stations, a year of ``calendar.txt`` with
     ``calendar_dates.txt`` exceptions) with the model region's feed embedded,
   * a Land-scale ``.osm.pbf`` (``bench/_gen_pbf.py``: ≥ 20 million nodes with
     sparse ids up to 12 billion) with the model region's street network embedded,
   * a Germany-wide Zensus 100 m grid CSV (``bench/_gen_zensus.py``: 3 million
     cells) with the model region's residents embedded;

2. copies the model region and points its ``region.toml`` at the three files;
3. runs ``kursatlas run`` on it **cold** (empty cache) and **warm** (cache from the
   cold run), each in a fresh process, and as the baseline the model region with its
   own small inputs, cold and warm;
4. prints per pipeline step the wall time and the peak RSS of that step (the
   high-water mark is reset at every step through ``/proc/self/clear_refs``), and
   the ratios to the baseline run.

Targets (issue #13, 2-core machine): the national GTFS clipped in ≤ 60 s with peak
RSS ≤ 2 GB; the Land PBF, extrapolated to 100 million nodes, in ≤ 3 min with peak RSS
≤ 3 GB (the extrapolation is ``bench/bench_osm_land.py``'s job: it reads two sizes);
a warm rerun reads both from the cache in ≤ 2 s.

Run: ``python bench/bench_real_inputs.py [--dir /tmp/kursatlas_real] [--quick] [--nodes 100000000]``
(``--quick``: 1 million stop_times, 2 million nodes, 300,000 cells). Generated files are reused
from ``--dir`` (named by their size).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "data" / "rotenburg"


def _peak_kb() -> int:
    """High-water mark of this process's RSS (kB) since the last reset."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    """Reset the RSS high-water mark (Linux ≥ 4.0), so that the next reading belongs to one step."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _generate(kind: str, target: Path, size: int) -> dict[str, Any]:
    """Generate one input in this process (called in a subprocess); returns its description."""
    sys.path.insert(0, str(ROOT / "bench"))
    t0 = time.perf_counter()
    if kind == "gtfs":
        from _gen_gtfs import write_national_gtfs

        info = write_national_gtfs(target, base_feed=MODEL / "gtfs_modell.zip", n_stop_times=size)
    elif kind == "osm":
        from _gen_pbf import write_land_pbf

        info = write_land_pbf(target, base_osm=MODEL / "strassennetz.osm.bz2", n_nodes=size)
    else:
        from _gen_zensus import write_national_zensus

        info = write_national_zensus(target, n_rows=size, base_csv=MODEL / "einwohner_gitter100m.csv")
    return {"info": {k: v for k, v in info.items() if isinstance(v, (int, float, str))},
            "seconds": time.perf_counter() - t0, "peak_mb": _peak_kb() / 1024}


def _run_region(toml: Path) -> dict[str, Any]:
    """One ``run`` of the region (called in a subprocess): seconds and peak RSS per step."""
    from coverage.inputs.config import load_config
    from coverage.workflow.pipeline import STAGES, run

    steps: list[dict[str, Any]] = []
    t_last = [time.perf_counter()]

    def progress(step: int, total: int, text: str) -> None:
        now = time.perf_counter()
        if steps:
            steps[-1].update(seconds=now - t_last[0], peak_mb=_peak_kb() / 1024)
        _reset_peak()
        t_last[0] = now
        steps.append({"step": text})

    t0 = time.perf_counter()
    result = run(load_config(toml), proposals=False, progress=progress)
    now = time.perf_counter()
    steps[-1].update(seconds=now - t_last[0], peak_mb=_peak_kb() / 1024)
    return {"steps": steps, "total": now - t0, "stages": list(STAGES),
            "persons": float(result.inputs.residents["einwohner"].sum()),
            "served": float(result.coverage.gaps["versorgt"].sum())}


def _subprocess(args: list[str]) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh Python and return its JSON answer."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"Teilprozess {args} fehlgeschlagen:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _region(folder: Path, *, gtfs: Path | None, osm: Path | None, zensus: Path | None) -> Path:
    """A copy of the model region whose region file points at the given inputs."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(MODEL, folder, ignore=shutil.ignore_patterns(".kursatlas-cache"))
    toml = folder / "region.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace('karten = "../../maps"', 'karten = "../karten"').replace(
        'ergebnisse = "../../results"', 'ergebnisse = "../ergebnisse"')
    if gtfs is not None:
        text = text.replace('gtfs = "gtfs_modell.zip"', f'gtfs = "{gtfs}"')
    if osm is not None:
        text = text.replace('osm = "strassennetz.osm.bz2"', f'osm = "{osm}"')
    if zensus is not None:
        text = text.replace('datei = "einwohner_gitter100m.csv"', f'datei = "{zensus}"')
    toml.write_text(text, encoding="utf-8")
    return toml


def _table(name: str, run: dict[str, Any], base: dict[str, Any] | None) -> None:
    print(f"\n{name}: {run['total']:.1f} s gesamt" + (f" ({run['total'] / base['total']:.1f}× Basislauf)" if base
                                                       else ""))
    for i, s in enumerate(run["steps"]):
        ratio = ""
        if base is not None and i < len(base["steps"]) and base["steps"][i].get("seconds"):
            ratio = f"  {s['seconds'] / base['steps'][i]['seconds']:6.1f}×"
        print(f"  {s['step']:<42} {s['seconds']:7.2f} s  Spitze {s['peak_mb']:7.0f} MB{ratio}")


def main() -> None:
    """Generate the inputs, run the region cold and warm, print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=Path("/tmp/kursatlas_real"))
    p.add_argument("--quick", action="store_true", help="kleine Größen zum Ausprobieren")
    p.add_argument("--stop-times", type=int, help="Fahrtabschnitte des Deutschland-Fahrplans (30 Mio.)")
    p.add_argument("--nodes", type=int, help="Knoten des Landes-Auszugs (20 Mio.; 100 Mio. wie Niedersachsen)")
    p.add_argument("--cells", type=int, help="Zellen des Zensus-Gitters (3 Mio.)")
    p.add_argument("--_generate", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--_run", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a._generate:
        print(json.dumps(_generate(a._generate[0], Path(a._generate[1]), int(a._generate[2]))))
        return
    if a._run:
        print(json.dumps(_run_region(a._run)))
        return
    sizes = {"gtfs": 1_000_000, "osm": 2_000_000, "zensus": 300_000} if a.quick else \
        {"gtfs": 30_000_000, "osm": 20_000_000, "zensus": 3_000_000}
    for kind, value in (("gtfs", a.stop_times), ("osm", a.nodes), ("zensus", a.cells)):
        if value:
            sizes[kind] = value
    a.dir.mkdir(parents=True, exist_ok=True)
    names = {"gtfs": "deutschland_gtfs.zip", "osm": "land.osm.pbf", "zensus": "zensus_deutschland_100m.csv"}
    files: dict[str, Path] = {}
    print(f"Eingaben in {a.dir} ({'klein' if a.quick else 'volle Größe'}):")
    for kind, name in names.items():
        target = a.dir / f"{sizes[kind]}_{name}"
        files[kind] = target
        if target.is_file():
            print(f"  {kind:<7} vorhanden: {target.name} ({target.stat().st_size / 1e6:.0f} MB)")
            continue
        g = _subprocess(["--_generate", kind, str(target), str(sizes[kind])])
        print(f"  {kind:<7} erzeugt in {g['seconds']:.1f} s, Spitze {g['peak_mb']:.0f} MB, "
              f"{target.stat().st_size / 1e6:.0f} MB: {g['info']}")
    base_toml = _region(a.dir / "basis" / "region", gtfs=None, osm=None, zensus=None)
    real_toml = _region(a.dir / "real" / "region", gtfs=files["gtfs"], osm=files["osm"], zensus=files["zensus"])
    base_cold = _subprocess(["--_run", str(base_toml)])
    base_warm = _subprocess(["--_run", str(base_toml)])
    cold = _subprocess(["--_run", str(real_toml)])
    warm = _subprocess(["--_run", str(real_toml)])
    _table("Basislauf (Modellregion, eigene kleine Eingaben), kalt", base_cold, None)
    _table("Basislauf, warm", base_warm, base_cold)
    _table("Deutschland-Fahrplan + Landes-OSM + bundesweites Zensus-Gitter, kalt", cold, base_cold)
    _table("dieselben Eingaben, warm (alles aus dem Cache)", warm, base_warm)
    net = [s for s in warm["steps"] if s["step"].startswith("Netze")]
    inp = [s for s in warm["steps"] if s["step"].startswith("Eingaben")]
    if net:
        print(f"\nWarm: Straßennetze und Fahrplan aus dem Cache in {net[0]['seconds']:.2f} s (Ziel ≤ 2 s); "
              f"Eingaben (inkl. bundesweitem Zensus-Gitter) in {inp[0]['seconds']:.2f} s.")
    same = abs(cold["persons"] - base_cold["persons"]) < 1e-6
    print(f"Einwohner im Landkreis: {cold['persons']:.0f} (Basislauf {base_cold['persons']:.0f}, "
          f"{'gleich' if same else 'VERSCHIEDEN'}); versorgt {cold['served']:.1f} "
          f"(Basislauf {base_cold['served']:.1f}).")


if __name__ == "__main__":
    main()
