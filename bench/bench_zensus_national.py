"""Benchmark: the model region's residents read from a Germany-wide Zensus 100 m grid CSV.

1. A national file in the published Zensus 2022 format (``bench/_gen_zensus.py``:
   about three million inhabited cells over Germany, a few percent ``–``) with the
   model region's own rows (``data/rotenburg/einwohner_gitter100m.csv``) embedded
   unchanged – or an existing file given with ``--csv``.
2. In a fresh process: ``load_residents`` of the model region with ``datei`` pointing
   at the national file (streaming read, bbox prefilter, point-in-polygon against the
   county). Printed: wall time of the load, of the whole process, peak RSS
   (``ru_maxrss``), rows read and cells kept.
   Then the residents disk cache: a miss and a hit (after the peak RSS was taken).
3. Check: the kept residents equal those read from the model region's own file
   (ids, persons, coordinates, Gemeinde), row by row.
4. For the ratio: the previous loader (``_read_zensus`` of ``coverage/load.py`` at
   ``--alt-ref``, a pandas read of the whole table and a per-row loop) on the same
   file in a fresh process, stopped after ``--alt-timeout`` seconds. It only reads;
   it kept no county filter (its range check rejected a national file).

Target on the 2-core machine: ≤ 20 s and ≤ 1 GB peak RSS for 3 million rows.

Run: ``python bench/bench_zensus_national.py [--rows 3000000] [--csv FILE] [--ausgabe FILE]
[--alt-timeout 300] [--ohne-alt]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REGION = ROOT / "data" / "rotenburg"
BASE = REGION / "einwohner_gitter100m.csv"
ALT_REF = "3517b0f"
"""Commit whose ``coverage/load.py`` holds the previous (per-row) Zensus reader."""


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child_new(toml: Path, out: Path) -> None:
    """Fresh process: load the residents from the national file, dump them, print figures."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from coverage.inputs.config import load_config
    from coverage.inputs.load import load_region, load_residents

    cfg = load_config(toml)
    region = load_region(cfg)
    region.boundary  # noqa: B018 - computed before the clock starts, as in a run
    rss0 = _rss_mb()
    t = time.perf_counter()
    res = load_residents(cfg, region)
    wall = time.perf_counter() - t
    np.savez(
        out,
        ids=res["herkunft_id"].to_numpy(dtype=str),
        einwohner=res["einwohner"].to_numpy(),
        x=res.geometry.x.to_numpy(),
        y=res.geometry.y.to_numpy(),
        gemeinde=res["gemeinde_ars"].to_numpy(dtype=str),
    )
    rss = _rss_mb()
    # the residents disk cache of a run: a miss (read + store), then a hit (file hash + stored table)
    from coverage.cache.store import Cache
    from coverage.inputs.load import _cached_residents

    cache = Cache(out.parent / "cache")
    t = time.perf_counter()
    _cached_residents(cfg, region, cache)
    miss = time.perf_counter() - t
    t = time.perf_counter()
    hit = _cached_residents(cfg, region, cache)
    hit_s = time.perf_counter() - t
    if cache.hits != 1 or not hit.equals(res):
        raise SystemExit("Zwischenspeicher der Einwohner liefert nicht dieselbe Tabelle")
    print(json.dumps({"wall": wall, "rss_mb": rss, "rss_before_mb": rss0, "kept": len(res),
                      "persons": float(res["einwohner"].sum()), "cache_miss": miss, "cache_hit": hit_s}))


def _child_alt(toml: Path, ref: str) -> None:
    """Fresh process: the previous ``_read_zensus`` (source from git) on the national file."""
    import types

    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:coverage/load.py"], capture_output=True,
                         text=True, check=True).stdout
    mod = types.ModuleType("coverage._load_alt")
    mod.__package__ = "coverage"
    sys.modules[mod.__name__] = mod
    exec(compile(src, f"{ref}:coverage/load.py", "exec"), mod.__dict__)  # the project's own code, from git
    from coverage.inputs.config import load_config

    cfg = load_config(toml)
    t = time.perf_counter()
    gdf = mod._read_zensus(cfg)
    wall = time.perf_counter() - t
    print(json.dumps({"wall": wall, "rss_mb": _rss_mb(), "rows": len(gdf)}))


def _child_gen(out: Path, *, rows: int, seed: int) -> None:
    """Fresh process: write the national file (with the model region's rows)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from _gen_zensus import write_national_zensus

    info = write_national_zensus(out, n_rows=rows, seed=seed, base_csv=BASE)
    print(json.dumps({k: info[k] for k in ("rows", "base_rows", "suppressed", "bytes")}))


def _run_child(args: list[str], *, timeout: float | None) -> tuple[dict | None, float, str]:
    t = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - t, "timeout"
    total = time.perf_counter() - t
    if proc.returncode != 0:
        return None, total, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), total, proc.stderr


def _reference() -> dict[str, np.ndarray]:
    from coverage.inputs.config import load_config
    from coverage.inputs.load import load_region, load_residents

    cfg = load_config(REGION / "region.toml")
    res = load_residents(cfg, load_region(cfg))
    return {
        "ids": res["herkunft_id"].to_numpy(dtype=str),
        "einwohner": res["einwohner"].to_numpy(),
        "x": res.geometry.x.to_numpy(),
        "y": res.geometry.y.to_numpy(),
        "gemeinde": res["gemeinde_ars"].to_numpy(dtype=str),
    }


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000, help="generierte Zellen (ohne die Modellregion)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, help="vorhandene bundesweite Gitter-CSV statt einer neuen")
    ap.add_argument("--ausgabe", type=Path, help="erzeugte CSV hier behalten (für --csv beim nächsten Mal)")
    ap.add_argument("--alt-timeout", type=float, default=300.0)
    ap.add_argument("--alt-ref", default=ALT_REF)
    ap.add_argument("--ohne-alt", action="store_true", help="den bisherigen Leser nicht messen")
    ap.add_argument("--kind", choices=("new", "alt", "gen"), help=argparse.SUPPRESS)
    ap.add_argument("--toml", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.kind == "new":
        _child_new(args.toml, args.out)
        return
    if args.kind == "alt":
        _child_alt(args.toml, args.alt_ref)
        return
    if args.kind == "gen":
        _child_gen(args.out, rows=args.rows, seed=args.seed)
        return

    with tempfile.TemporaryDirectory(prefix="kursatlas-zensus-") as tmp_dir:
        tmp = Path(tmp_dir)
        if args.csv is not None:
            csv_path = args.csv.resolve()
            print(f"Datei: {csv_path} ({csv_path.stat().st_size / 1e6:.0f} MB, vorhanden)")
        else:
            # generated in its own process: a child inherits the parent's peak RSS (ru_maxrss survives exec)
            csv_path = (args.ausgabe or tmp / "zensus_deutschland_100m.csv").resolve()
            info, total, log = _run_child(
                ["--kind", "gen", "--out", str(csv_path), "--rows", str(args.rows), "--seed", str(args.seed)],
                timeout=None,
            )
            if info is None:
                raise SystemExit(f"Erzeugen fehlgeschlagen:\n{log}")
            print(
                f"Datei erzeugt: {csv_path} – {info['rows']:,} Zeilen ({info['base_rows']:,} aus der Modellregion), "
                f"{info['suppressed']:,} '–', {info['bytes'] / 1e6:.0f} MB in {total:.1f} s"
            )
        region = tmp / "region"
        shutil.copytree(REGION, region, ignore=shutil.ignore_patterns("strassennetz*", "gtfs*"))
        toml = region / "region.toml"
        text = toml.read_text(encoding="utf-8")
        toml.write_text(text.replace('datei = "einwohner_gitter100m.csv"', f'datei = "{csv_path}"', 1),
                        encoding="utf-8")
        out = tmp / "kept.npz"
        new, total, log = _run_child(["--kind", "new", "--toml", str(toml), "--out", str(out)], timeout=None)
        if new is None:
            raise SystemExit(f"neuer Leser fehlgeschlagen:\n{log}")
        print(f"neu:  load_residents {new['wall']:.2f} s, Spitzen-RSS {new['rss_mb']:.0f} MB (vor dem Lesen "
              f"{new['rss_before_mb']:.0f} MB); ganzer Prozess mit Importen und Zwischenspeicher {total:.2f} s")
        for key in ("Zeilen gelesen", "außerhalb"):
            print("      " + next((ln.strip() for ln in log.splitlines() if key in ln), ""))
        print(f"      Zwischenspeicher: erster Lauf {new['cache_miss']:.2f} s, Treffer {new['cache_hit']:.2f} s "
              "(Prüfsumme der Datei + gespeicherte Tabelle)")
        if not args.ohne_alt:
            alt, total, log = _run_child(["--kind", "alt", "--toml", str(toml), "--alt-ref", args.alt_ref],
                                         timeout=args.alt_timeout)
            if alt is None and log == "timeout":
                print(f"alt:  bisheriger Leser ({args.alt_ref}) nach {total:.0f} s abgebrochen "
                      f"(Faktor mindestens {total / new['wall']:.0f})")
            elif alt is None:
                print(f"alt:  bisheriger Leser fehlgeschlagen:\n{log}")
            else:
                print(f"alt:  bisheriger Leser ({args.alt_ref}, nur Lesen, ohne Kreisfilter) {alt['wall']:.2f} s "
                      f"(Prozess {total:.2f} s), Spitzen-RSS {alt['rss_mb']:.0f} MB – Faktor "
                      f"{alt['wall'] / new['wall']:.1f}")
        ref = _reference()
        kept = dict(np.load(out))
        same = all(np.array_equal(kept[k], ref[k]) for k in ref)
        print(
            f"Prüfung: {new['kept']:,} Herkunftsorte, {new['persons']:,.0f} Personen aus der bundesweiten Datei; "
            f"aus der eigenen Datei der Modellregion {len(ref['ids']):,} Orte, {ref['einwohner'].sum():,.0f} "
            "Personen; Zeile für Zeile gleich (Kennung, Personen, Koordinaten, Gemeinde): "
            + ("ja" if same else "NEIN")
        )
        if not same:
            raise SystemExit("Einwohner aus der bundesweiten Datei weichen von der Modellregion ab")

if __name__ == "__main__":
    main()
