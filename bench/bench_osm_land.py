"""Benchmark: both street networks from a Land-sized OSM extract, cold and from the cache.

A synthetic Land extract (``bench/_gen_pbf.py``: nodes spread over a box the size
of Lower Saxony, sparse ids up to ~12 billion, street ways and building outlines)
with the model region's network embedded unchanged is generated at two sizes
(default 10 and 20 million nodes) or given with ``--pbf``. For each file:

* **cold**: a fresh Python process loads both networks with
  :func:`coverage.network.load.load_street_networks`, clipped to the model region's
  analysis area (county polygon of ``vg5000_rotenburg_wuemme.gpkg``, layer
  ``landkreis``, EPSG:25832, buffered by 15 km; clip buffer 2 km), into an empty
  cache; wall time and peak RSS of that process (``VmHWM``; ``ru_maxrss`` is
  printed too, but Linux carries the parent's peak over into it at fork/exec,
  so it is at least the generator's peak);
* **warm**: another fresh process loads both networks again, from the cache;
* the networks from the big file are compared with those read from
  ``strassennetz.osm.bz2`` directly (must be identical).

Time and peak RSS are extrapolated *linearly* in the number of nodes (a line
through the two sizes) to 100 million nodes, the size of the Lower Saxony extract.
``--area synthetic`` clips instead to a county-sized box in the synthetic part
(about 10 % of the Land's streets are kept: the cost of many kept ways).

Usage::

    python bench/bench_osm_land.py                       # 10 M and 20 M nodes
    python bench/bench_osm_land.py --sizes 2 4           # quick
    python bench/bench_osm_land.py --pbf a.osm.pbf b.osm.pbf
    python bench/bench_osm_land.py --index sparse_mem_array --sizes 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODEL_OSM = ROOT / "data" / "rotenburg" / "strassennetz.osm.bz2"
COUNTY = ROOT / "data" / "rotenburg" / "quellen" / "vg5000_rotenburg_wuemme.gpkg"
TARGET_NODES = 100_000_000
FIELDS = ("node_ids", "x", "y", "indptr", "indices", "length_m")


def _area(kind: str) -> Any:
    """The analysis area in EPSG:25832 (county + 15 km, or a box of that size in the synthetic part)."""
    import geopandas as gpd
    from pyproj import Transformer
    from shapely.affinity import translate

    county = gpd.read_file(COUNTY, layer="landkreis").to_crs("EPSG:25832").geometry.union_all().buffer(15_000.0)
    if kind == "model":
        return county
    cx, cy = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True).transform(7.4, 52.4)
    c = county.centroid
    return translate(county, cx - c.x, cy - c.y)


def _worker(pbf: Path, cache: Path, area: str, index: str | None) -> dict[str, Any]:
    """Load both networks in this (fresh) process and report times, counts and peak RSS."""
    import resource

    t_import = time.perf_counter()
    import coverage.network._osm as osm_module
    from coverage.network import load_street_networks

    if index:
        osm_module.NODE_INDEX = index
    boundary = _area(area)
    t_ready = time.perf_counter()
    counts: dict[str, Any] = {}
    real = osm_module.read_ways

    def counting(path: Path, **kwargs: Any) -> Any:
        ways = real(path, **kwargs)
        counts.update(street_ways_read=ways.n_read, ways_kept=ways.n_ways, nodes_kept=len(set(ways.refs.tolist())))
        return ways

    osm_module.read_ways = counting
    rss_before = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    walk, bike = load_street_networks(pbf, boundary=boundary, buffer_m=2000.0, cache_dir=cache)
    wall = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    # ru_maxrss is carried over from the parent across fork/exec (Linux keeps the larger of both);
    # VmHWM is the peak of this process's own address space since exec
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    hwm = _status_kib("VmHWM") * 1024
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "setup_s": t_ready - t_import,
        "peak_rss_bytes": hwm or rss,
        "ru_maxrss_bytes": rss,
        "rss_before_bytes": rss_before,
        "from_file": bool(counts),
        **counts,
        "walk_nodes": walk.n_nodes,
        "walk_edges": walk.n_edges,
        "bike_nodes": bike.n_nodes,
        "bike_edges": bike.n_edges,
    }


def _status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (0 where not available)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _run_worker(pbf: Path, cache: Path, area: str, index: str | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", "--pbf", str(pbf), "--cache", str(cache), "--area", area]
    if index:
        cmd += ["--index", index]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - t0
    return result


def _same_as_model(pbf: Path) -> bool:
    """Networks of the model area from the big file equal those from the model file itself."""
    import numpy as np

    from coverage.network import load_street_networks

    with tempfile.TemporaryDirectory() as tmp:
        big = load_street_networks(pbf, boundary=_area("model"), buffer_m=2000.0, cache_dir=Path(tmp))
    direct = load_street_networks(MODEL_OSM, boundary=_area("model"), buffer_m=2000.0)
    return all(
        a.mode == b.mode and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)
        for a, b in zip(big, direct, strict=True)
    )


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[10, 20], help="Millionen Knoten (synthetisch)")
    parser.add_argument("--pbf", type=Path, nargs="+", help="vorhandene Dateien statt zu erzeugen")
    parser.add_argument("--nodes", type=int, nargs="+", help="Knotenzahl der --pbf-Dateien (für die Hochrechnung)")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "kursatlas_osm_land")
    parser.add_argument("--area", choices=["model", "synthetic"], default="model")
    parser.add_argument("--index", help="pyosmium-Knotenindex statt coverage.network._osm.NODE_INDEX")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(_worker(args.pbf[0], args.cache, args.area, args.index)))
        return 0

    sys.path.insert(0, str(Path(__file__).parent))
    from _gen_pbf import write_land_pbf

    args.dir.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    if args.pbf:
        files = [(p, n, None) for p, n in zip(args.pbf, args.nodes or [0] * len(args.pbf), strict=True)]
    else:
        files = []
        for size in args.sizes:
            n = int(size * 1_000_000)
            out = args.dir / f"land_{size:g}m_seed{args.seed}.osm.pbf"
            gen = None
            if not out.is_file():
                gen = write_land_pbf(out, base_osm=MODEL_OSM, n_nodes=n, seed=args.seed)
                print(
                    f"erzeugt: {out} – {gen['nodes']:,} Knoten, {gen['ways']:,} Wege "
                    f"({gen['street_ways']:,} Straßen), {_mb(gen['bytes'])}, {gen['seconds']:.1f} s",
                    flush=True,
                )
            files.append((out, n, gen))
    for pbf, n_nodes, gen in files:
        with tempfile.TemporaryDirectory(dir=args.dir) as cache:
            cold = _run_worker(pbf, Path(cache), args.area, args.index)
            warm = _run_worker(pbf, Path(cache), args.area, args.index)
            warm2 = _run_worker(pbf, Path(cache), args.area, args.index)
        if warm["from_file"] or warm2["from_file"]:
            raise SystemExit("Der zweite Lauf hat die Datei gelesen statt den Cache")
        run = {
            "file": str(pbf),
            "nodes": n_nodes,
            "bytes": pbf.stat().st_size,
            "gen": gen,
            "cold": cold,
            "warm": warm,
            "warm2": warm2,
        }
        if args.area == "model":
            run["same_as_model"] = _same_as_model(pbf)
        runs.append(run)
        print(
            f"{pbf.name}: {n_nodes / 1e6:g} Mio. Knoten, {_mb(run['bytes'])}\n"
            f"  kalt: {cold['wall_s']:.1f} s (CPU {cold['cpu_s']:.1f} s, alle Threads), "
            f"Spitze RSS {_mb(cold['peak_rss_bytes'])} "
            f"(davon {_mb(cold['rss_before_bytes'])} vor dem Lesen: Python und Bibliotheken); "
            f"{cold.get('street_ways_read', 0):,} Straßen gelesen, {cold.get('ways_kept', 0):,} behalten "
            f"({cold.get('nodes_kept', 0):,} Knoten); Netze: Fuß {cold['walk_nodes']:,} Knoten, "
            f"Rad {cold['bike_nodes']:,} Knoten\n"
            f"  warm (Cache), 1. Lauf nach dem kalten: {warm['wall_s']:.3f} s (libosmium nimmt gelesene Seiten aus "
            f"dem Seiten-Cache, der Inhaltsschlüssel liest die Datei also von der Platte); 2. Lauf: "
            f"{warm2['wall_s']:.3f} s; Prozess mit Start und Importen {warm2['process_s']:.1f} s, "
            f"Spitze RSS {_mb(warm['peak_rss_bytes'])} (ru_maxrss kalt/warm {_mb(cold['ru_maxrss_bytes'])}/"
            f"{_mb(warm['ru_maxrss_bytes'])})"
            + (f"\n  gleich wie strassennetz.osm.bz2 direkt: {run['same_as_model']}" if "same_as_model" in run else ""),
            flush=True,
        )
    if len(runs) >= 2 and all(r["nodes"] for r in runs):
        a, b = runs[0], runs[-1]
        dn = b["nodes"] - a["nodes"]
        print(f"Lineare Hochrechnung auf {TARGET_NODES / 1e6:g} Mio. Knoten (Gerade durch beide Größen):")
        for label, key, fmt in (
            ("kalt, Zeit", "wall_s", lambda v: f"{v:.0f} s"),
            ("kalt, CPU-Zeit", "cpu_s", lambda v: f"{v:.0f} s"),
            ("kalt, Spitze RSS", "peak_rss_bytes", _mb),
        ):
            slope = (b["cold"][key] - a["cold"][key]) / dn
            value = b["cold"][key] + slope * (TARGET_NODES - b["nodes"])
            print(f"  {label}: {fmt(value)} ({fmt(slope * 1e6)} je Mio. Knoten)")
        slope_b = (b["bytes"] - a["bytes"]) / dn
        print(f"  Dateigröße: {_mb(b['bytes'] + slope_b * (TARGET_NODES - b['nodes']))}")
    print(f"Last des Rechners (1/5/15 min): {os.getloadavg()}, {os.cpu_count()} Kerne")
    (args.dir / "bench_osm_land.json").write_text(json.dumps(runs, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
