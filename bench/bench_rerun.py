"""Benchmark: rerun after one new course registration (incremental, cached) vs. a full run.

1. Model region (``data/rotenburg``, copied to a temp folder): a cold full run, a warm
   rerun without changes, and a rerun after one new course (``kurse neu``), each with
   ``run(config, proposals=False)`` (the quick rerun analysts use between funding
   rounds; ``kursatlas run --nur-versorgung``). Printed per stage. Then the same as a
   new process (``kursatlas run --nur-versorgung``: imports and compiled kernels are
   loaded again) and with the long-running ``kursatlas beobachten`` (from saving the
   registry to the results written, detection included).
2. County scale (the scenario of ``bench_traveltime.py``: 160,000 street nodes,
   1,000 stops, 5,000 trips, 20,000 origins, 250 courses): travel times with a cold
   cache vs. after adding one course (warm cache), and the coverage stage.

Run: ``python bench/bench_rerun.py [--ohne-landkreis | --nur-landkreis]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from coverage.cache.kinds import keep_limits  # noqa: E402
from coverage.cache.store import Cache  # noqa: E402
from coverage.inputs.config import Parameters, load_config  # noqa: E402
from coverage.traveltime import course_travel_times, networks_key  # noqa: E402
from coverage.workflow.pipeline import run  # noqa: E402
from coverage.workflow.registry import add_course  # noqa: E402

NEW_COURSE = {
    "kurs_id": "K900", "traeger": "Beispielträger Bench", "kursname": "A1 vormittags (Beispiel)",
    "kursort": "Zeven", "adresse": "Ortsmitte Zeven (Beispiel)", "lat": "53.2957", "lon": "9.2756",
    "niveaus": "A1", "kursart": "landkreis", "wochentage": "Mo, Di, Mi, Do, Fr", "beginn": "08:30",
    "ende": "11:45", "erster_tag": "2027-02-01", "letzter_tag": "2027-06-30", "plaetze": "20",
    "freie_plaetze": "20", "kinderbetreuung": "nein",
}


def _fmt(timings: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in timings.items())


def model_region() -> None:
    """Full, warm and incremental runs on a copy of the model region."""
    tmp = Path(tempfile.mkdtemp(prefix="kursatlas-rerun-"))
    shutil.copytree(ROOT / "data" / "rotenburg", tmp / "region", ignore=shutil.ignore_patterns(".kursatlas-cache"))
    toml = tmp / "region" / "region.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace('karten = "../../maps"', f'karten = "{(tmp / "karten").as_posix()}"')
    text = text.replace('ergebnisse = "../../results"',
                        f'ergebnisse = "{(tmp / "ergebnisse").as_posix()}"\ncache = "{(tmp / "cache").as_posix()}"')
    toml.write_text(text, encoding="utf-8")
    config = load_config(toml)
    t = time.perf_counter()
    full = run(config, proposals=False)  # each run has a fresh session: only the disk cache is kept
    t_full = time.perf_counter() - t
    t = time.perf_counter()
    warm = run(config, proposals=False)
    t_warm = time.perf_counter() - t
    add_course(config, NEW_COURSE)
    t = time.perf_counter()
    new = run(config, proposals=False)
    t_new = time.perf_counter() - t
    compute = {k: v for k, v in new.timings.items() if k != "ausgabe"}
    around = sum(new.timings.get(k, 0.0) for k in ("laden", "netze", "bedarf", "ausgabe"))
    n_maps = sum(1 for p in new.files if p.suffix == ".html" and p.parent == config.karten)
    n_kept = sum(1 for p in new.kept if p.suffix == ".html")
    print("Modellregion (Sekunden je Stufe):")
    print(f"  voller Lauf, kalter Cache:     {t_full:6.2f} s  ({_fmt(full.timings)})")
    print(f"  Neulauf ohne Änderung:         {t_warm:6.2f} s  ({_fmt(warm.timings)})")
    print(f"  Neulauf nach einem neuen Kurs: {t_new:6.2f} s  ({_fmt(new.timings)})")
    print(f"    davon Rechnen ohne Schreiben der Karten/Tabellen: {sum(compute.values()):.2f} s; "
          f"Reisezeiten {new.timings['reisezeiten']:.2f} s statt {full.timings['reisezeiten']:.2f} s")
    print(f"    davon Laden + Netze + Bedarf + Ausgabe: {around:.2f} s; "
          f"Karten: {n_maps - n_kept} neu geschrieben, {n_kept} unverändert übernommen "
          f"(ohne Änderung: {len(warm.kept)} übernommen)")
    print(f"  Verhältnis Neulauf / voller Lauf: {t_new / t_full:.0%}")
    # what an analyst sees: one more course, then the command in a new process (imports, numba cache loads)
    add_course(config, {**NEW_COURSE, "kurs_id": "K901", "niveaus": "A2"})
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from coverage.cli import main; sys.exit(main())", "run", "--config",
         str(tmp / "region" / "region.toml"), "--nur-versorgung"],
        capture_output=True, text=True, check=False,
    )
    t_proc = time.perf_counter() - t
    total = re.search(r"Gesamtzeit: ([0-9.]+) s", proc.stderr)
    stages = re.findall(r"fertig \(([0-9.]+) s\)", proc.stderr)
    print(f"  Neulauf nach einem weiteren Kurs in neuem Prozess (kursatlas run --nur-versorgung): "
          f"{total.group(1) if total else '?'} s laut Befehl (Stufen: {', '.join(stages)}), "
          f"{t_proc:.2f} s mit Python-Start (Rückgabewert {proc.returncode})")
    # the long-running command (kursatlas beobachten): from saving the registry to the results written
    import queue
    import threading

    from coverage.workflow.watch import watch

    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(toml,), kwargs={"on_event": events.put, "stop": stop},
                              daemon=True)
    thread.start()
    events.get(timeout=600)  # the first run when the command starts
    waits = []
    for i, level in enumerate(("B1", "A1", "A2")):
        time.sleep(1.0)
        add_course(config, {**NEW_COURSE, "kurs_id": f"K91{i}", "niveaus": level})
        t = time.perf_counter()  # the registry is saved (atomic rename) when add_course returns
        ev = events.get(timeout=600)
        waits.append((time.perf_counter() - t, ev.seconds))
    stop.set()
    thread.join()
    print("  kursatlas beobachten (Prüfabstand 0,25 s), je ein neuer Kurs gespeichert: "
          + "; ".join(f"{w:.2f} s vom Speichern bis zu den Ergebnissen (Neulauf {s:.2f} s)" for w, s in waits))
    shutil.rmtree(tmp, ignore_errors=True)


def county_scale() -> None:
    """Travel times and coverage at county scale: cold vs. one new course."""
    from bench_traveltime import scenario

    from coverage.analysis import gaps
    from coverage.traveltime import Networks
    from coverage.workflow.pipeline import _demand as pipeline_demand

    params = Parameters()
    nets, origins, courses, _ = scenario(n_origins=20000, n_sites=250)
    nets = Networks(walk=nets.walk, bike=nets.bike, feed=nets.feed, key=networks_key(nets.walk, nets.bike, None))
    rng = np.random.default_rng(1)
    origins = origins.assign(einwohner=rng.uniform(0.5, 6.0, len(origins)))
    courses = courses.assign(niveaus=[("A1", "A2", "B1")[i % 3:i % 3 + 1] for i in range(len(courses))],
                             kursart="integrationskurs", kinderbetreuung=False, plaetze=20, freie_plaetze=20)
    x0, y0 = 500000.0, 5900000.0
    mk = gpd.GeoDataFrame({"mk_ars": [f"0399900{i:02d}" for i in range(16)], "mk_name": [f"MK {i}" for i in range(16)],
                           "mk_art": "Samtgemeinde"},
                          geometry=[box(x0 + 10000 * (i % 4), y0 + 10000 * (i // 4), x0 + 10000 * (i % 4 + 1),
                                        y0 + 10000 * (i // 4 + 1)) for i in range(16)], crs="EPSG:25832")
    joined = gpd.sjoin(origins, mk[["mk_ars", "geometry"]], how="left").drop(columns="index_right")
    origins = joined.assign(gemeinde_ars=joined["mk_ars"].fillna("039990000") + "001",
                            mk_ars=joined["mk_ars"].fillna("039990000"))
    course_travel_times(origins.iloc[:10], courses.iloc[:2], networks=nets, params=params)  # JIT warm-up
    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache(Path(tmp), keep=keep_limits({"reisezeiten_kurs": 100000}))
        t = time.perf_counter()
        tt = course_travel_times(origins, courses, networks=nets, params=params, cache=cache)
        t_full = time.perf_counter() - t
        extra = courses.iloc[[0]].assign(kurs_id="k_neu", beginn=17 * 60, ende=20 * 60)
        more = courses._append(extra, ignore_index=True) if hasattr(courses, "_append") else None
        if more is None:
            import pandas as pd

            more = gpd.GeoDataFrame(pd.concat([courses, extra], ignore_index=True), crs=courses.crs)
        t = time.perf_counter()
        tt2 = course_travel_times(origins, more, networks=nets, params=params, cache=cache)
        t_inc = time.perf_counter() - t
        print("Landkreis-Maßstab (20.000 Herkunftsorte, 250 Kurse):")
        print(f"  Reisezeiten kalt: {t_full:.2f} s; nach einem neuen Kurs: {t_inc:.2f} s ({t_inc / t_full:.1%})",
              flush=True)
        # every run starts like a new process (no session): only the disk cache is kept between them; the
        # demand segments are computed (cold) or read from the disk cache (rerun) as in a pipeline run
        t = time.perf_counter()
        dem = pipeline_demand(origins, params, cache)
        t_dem = time.perf_counter() - t
        t = time.perf_counter()
        gaps.assess(dem, courses, tt, params=params, mitgliedskommunen=mk, cache=cache)
        t_cov = time.perf_counter() - t
        t = time.perf_counter()
        dem = pipeline_demand(origins, params, cache)
        t_dem2 = time.perf_counter() - t
        t = time.perf_counter()
        gaps.assess(dem, more, tt2, params=params, mitgliedskommunen=mk, cache=cache)
        t_cov2 = time.perf_counter() - t
    print(f"  Bedarf: {t_dem:.2f} s; nach dem neuen Kurs (aus dem Cache): {t_dem2:.2f} s")
    print(f"  Versorgung/Lücken: {t_cov:.2f} s; nach dem neuen Kurs: {t_cov2:.2f} s")
    print(f"  Neulauf / voller Lauf (Reisezeiten + Versorgung): {(t_inc + t_cov2) / (t_full + t_cov):.1%}; "
          f"mit Bedarf: {(t_inc + t_dem2 + t_cov2) / (t_full + t_dem + t_cov):.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ohne-landkreis", action="store_true", help="nur die Modellregion messen")
    ap.add_argument("--nur-landkreis", action="store_true", help="nur den Landkreis-Maßstab messen")
    args = ap.parse_args()
    if not args.nur_landkreis:
        model_region()
    if not args.ohne_landkreis:
        county_scale()


if __name__ == "__main__":
    main()
