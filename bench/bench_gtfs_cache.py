"""Benchmark: reading a GTFS feed from scratch vs. from the disk cache (``load_gtfs(..., cache=...)``).

Feeds: the real Cairns feed of the tests, the model feed of the Rotenburg region and a
seeded synthetic county-scale feed (the generator of ``bench_traveltime.py``: 1,000
stops, 50 lines; ``--trips-per-route`` sets its size). For each feed, in one process
after a warm-up (one parse and one cache fill): ``--repeat`` parses and ``--repeat``
cached loads; printed are the median times, the ratio and the file and cache sizes.

Run: ``python bench/bench_gtfs_cache.py [--repeat 5 --trips-per-route 200]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests._synthetic

from coverage.cache.store import Cache  # noqa: E402
from coverage.transit.gtfs import load_gtfs  # noqa: E402
from tests._synthetic import grid_network  # noqa: E402


def _times(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench(name: str, path: Path, cache: Cache, *, repeat: int) -> None:
    """Print parse and cached-load times of the feed at ``path``."""
    load_gtfs(path)  # warm-up: imports, first-call costs
    load_gtfs(path, cache=cache)  # fills the cache
    hits = cache.hits
    parse = _times(lambda: load_gtfs(path), repeat)
    cached = _times(lambda: load_gtfs(path, cache=cache), repeat)
    if cache.hits != hits + repeat:
        raise RuntimeError(f"{name}: {cache.hits - hits} von {repeat} Ladevorgängen aus dem Cache")
    entry = max(cache.entries("fahrplan"), key=lambda p: p.stat().st_mtime)
    feed = load_gtfs(path, cache=cache)
    p, c = statistics.median(parse), statistics.median(cached)
    print(
        f"{name:<22} {path.stat().st_size / 1e3:8.0f} kB  {int(feed.st_stop.shape[0]):>7d} Fahrtabschnitte  "
        f"einlesen {p * 1e3:7.1f} ms  Cache {c * 1e3:6.1f} ms  ({entry.stat().st_size / 1e3:.0f} kB)  "
        f"Faktor {p / c:5.1f}   [min {min(parse) * 1e3:.1f} / {min(cached) * 1e3:.1f} ms]"
    )


def main() -> None:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--trips-per-route", type=int, default=200)
    args = ap.parse_args()

    from bench_traveltime import X0, Y0, make_feed

    with tempfile.TemporaryDirectory(prefix="kursatlas-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        cache = Cache(tmp / "cache")
        walk = grid_network(200, 200, spacing_m=200.0, origin=(X0, Y0), mode="fuss", seed=7)
        synthetic = tmp / "synthetisch.zip"
        rng = np.random.default_rng(7)
        synthetic.write_bytes(
            make_feed(walk, n_stops=1000, n_routes=50, trips_per_route=args.trips_per_route, rng=rng)
        )
        print(f"GTFS-Feed einlesen vs. aus dem Cache, Median aus {args.repeat} Läufen nach dem Aufwärmen")
        bench("Cairns (Tests)", ROOT / "tests" / "data" / "cairns_gtfs_2014.zip", cache, repeat=args.repeat)
        bench("Rotenburg (Modell)", ROOT / "data" / "rotenburg" / "gtfs_modell.zip", cache, repeat=args.repeat)
        bench("synthetisch", synthetic, cache, repeat=args.repeat)


if __name__ == "__main__":
    main()
