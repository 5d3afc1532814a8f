"""Benchmark: a Germany-wide GTFS feed clipped to the model region (``load_gtfs(..., area=...)``).

1. Generate (or reuse, ``--dir``) a seeded national feed with ``bench/_gen_gtfs.py``:
   ≥ 30 million stop times, ≥ 90,000 DHID stops, the model region's feed
   ``data/rotenburg/gtfs_modell.zip`` embedded unchanged. Generation runs in a
   subprocess; its wall time and peak RSS are printed.
2. The analysis area: the county polygon (``data/rotenburg/quellen/vg5000_rotenburg_wuemme.gpkg``,
   layer ``landkreis``) in EPSG:25832, buffered by 15 km.
3. **Cold**: a fresh subprocess loads the feed clipped to the area with an empty disk
   cache (streams the feed, fills the cache). **Warm**: another fresh subprocess loads
   it again (cache hit: the feed is hashed, not read). For each: wall time of
   ``load_gtfs`` and peak RSS of the process (``ru_maxrss``, imports included).
4. Check: the trips of the embedded model feed in the clipped feed equal the model feed
   loaded on its own (same stops and times per trip, same connections on course days).

Printed too: the CPU time (user + system) of the load, which shows the cost when other
processes share the cores (wall time then grows, CPU time hardly).

Targets on the 2-core development machine: cold ≤ 60 s and ≤ 2 GB peak RSS; warm well under 1 s.

Run: ``python bench/bench_gtfs_national.py [--dir /tmp/gtfs_national] [--stop-times 30000000]``
(``--stop-times 1000000`` for a quick look).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_FEED = ROOT / "data" / "rotenburg" / "gtfs_modell.zip"
COUNTY = ROOT / "data" / "rotenburg" / "quellen" / "vg5000_rotenburg_wuemme.gpkg"
BUFFER_M = 15_000.0
TARGET_COLD_S = 60.0
TARGET_RSS_MB = 2048.0
COURSE_DAYS = (dt.date(2027, 1, 12), dt.date(2027, 1, 16), dt.date(2027, 3, 7))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _child(argv: list[str]) -> dict:
    """Run this script in a fresh Python process; return the JSON it prints last."""
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *argv], check=True, capture_output=True, text=True
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t
    return res


# --------------------------------------------------------------------------- child processes


def child_generate(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _gen_gtfs import write_national_gtfs

    info = write_national_gtfs(
        Path(args.feed),
        base_feed=MODEL_FEED,
        n_stop_times=args.stop_times,
        n_stops=args.stops,
        seed=args.seed,
    )
    info["peak_rss_mb"] = _rss_mb()
    print(json.dumps(info))


def child_load(args: argparse.Namespace) -> None:
    import shapely

    from coverage.cache.store import Cache
    from coverage.transit.gtfs import load_gtfs

    area = shapely.from_wkb(Path(args.area).read_bytes())
    cache = Cache(Path(args.cache))
    t, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    feed = load_gtfs(args.feed, cache=cache, area=area)
    wall = time.perf_counter() - t
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    clip = feed.clip
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mb": _rss_mb(),
                "hits": cache.hits,
                "misses": cache.misses,
                "clip": {k: (str(v) if isinstance(v, dt.date) else v) for k, v in vars(clip).items()} if clip else None,
                "trips": len(feed.trips),
                "stop_times": int(feed.st_stop.size),
            }
        )
    )


# --------------------------------------------------------------------------- parent


def analysis_area() -> object:
    """County (layer ``landkreis``) in EPSG:25832 plus 15 km."""
    import geopandas as gpd

    county = gpd.read_file(COUNTY, layer="landkreis").to_crs("EPSG:25832")
    return county.union_all().buffer(BUFFER_M)


def check_model(feed_path: Path, cache_dir: Path, area: object, prefix: str) -> dict:
    """Compare the embedded model trips of the clipped feed with the model feed read on its own."""
    import numpy as np

    from coverage.cache.store import Cache
    from coverage.transit.gtfs import load_gtfs

    model = load_gtfs(MODEL_FEED)
    clipped = load_gtfs(feed_path, cache=Cache(cache_dir), area=area)

    def trips_of(feed: object, prefix: str) -> dict:
        ids = feed.stop_ids
        out = {}
        for i, tid in enumerate(feed.trips["trip_id"].tolist()):
            if not tid.startswith(prefix):
                continue
            a, b = int(feed.st_ptr[i]), int(feed.st_ptr[i + 1])
            stops = [s[len(prefix) :] for s in ids[feed.st_stop[a:b]].tolist()]
            out[tid[len(prefix) :]] = (stops, feed.st_arr[a:b].tolist(), feed.st_dep[a:b].tolist())
        return out

    model_trips = trips_of(model, "")
    clip_trips = {t: v for t, v in trips_of(clipped, prefix).items() if t in model_trips}
    same_trips = clip_trips == model_trips
    same_days = []
    for day in COURSE_DAYS:

        def conns(feed: object, day: dt.date, prefix: str, keep: set) -> list:
            c = feed.connections(day)
            gtfs_ids = feed.trips["trip_id"].to_numpy(dtype=object)[c.run_trip[c.trip]]
            df = c.to_frame()
            df["tid"] = [t[len(prefix) :] for t in gtfs_ids]
            df = df[df["tid"].isin(keep)]
            return sorted(
                zip(
                    df["tid"],
                    [s[len(prefix) :] for s in df["dep_stop_id"]],
                    [s[len(prefix) :] for s in df["arr_stop_id"]],
                    df["dep_time"].tolist(),
                    df["arr_time"].tolist(),
                    df["board"].tolist(),
                    df["alight"].tolist(),
                    strict=True,
                )
            )

        keep = set(model_trips)
        a, b = conns(model, day, "", keep), conns(clipped, day, prefix, keep)
        same_days.append({"day": str(day), "connections": len(a), "equal": a == b})
    return {
        "model_trips": len(model_trips),
        "found_in_clip": len(clip_trips),
        "same_trips": bool(same_trips),
        "days": same_days,
        "model_stops_kept": bool(np.isin([prefix + s for s in model.stop_ids], clipped.stop_ids).all()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=None, help="folder of the generated feed (reused if present)")
    ap.add_argument("--stop-times", type=int, default=30_000_000)
    ap.add_argument("--stops", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", choices=("generate", "load"), help=argparse.SUPPRESS)
    ap.add_argument("--feed", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    ap.add_argument("--area", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "generate":
        child_generate(args)
        return
    if args.child == "load":
        child_load(args)
        return

    folder = args.dir or Path(tempfile.mkdtemp(prefix="gtfs_national_"))
    folder.mkdir(parents=True, exist_ok=True)
    feed = folder / "deutschland_gtfs.zip"
    meta = folder / "deutschland_gtfs.json"
    params = {"stop_times": args.stop_times, "stops": args.stops, "seed": args.seed}
    info = json.loads(meta.read_text()) if meta.exists() and feed.exists() else None
    if info is None or info.get("params") != params:
        print(f"Erzeuge Deutschland-Fahrplan in {feed} …", flush=True)
        base = ["--feed", str(feed), "--stop-times", str(args.stop_times), "--stops", str(args.stops)]
        info = _child(["--child", "generate", *base, "--seed", str(args.seed)])
        info["params"] = params
        meta.write_text(json.dumps(info, indent=1))
        reused = False
    else:
        reused = True
    print(
        f"Feed: {feed.stat().st_size / 1e6:.0f} MB zip; {info['stop_times']:,} stop_times, {info['stops']:,} stops "
        f"({info['stations']:,} stations), {info['trips']:,} trips, {info['routes']:,} routes, "
        f"{info['services']:,} services, {info['calendar_dates']:,} calendar_dates rows; model ids prefix "
        f"{info['model_prefix']!r}"
    )
    print(
        f"Generation{' (reused; figures of the run that wrote it)' if reused else ''}: "
        f"{info['seconds']:.1f} s, peak RSS {info['peak_rss_mb']:.0f} MB"
    )

    area = analysis_area()
    area_file = folder / "gebiet.wkb"
    area_file.write_bytes(area.wkb)
    cache_dir = Path(tempfile.mkdtemp(prefix="gtfs_cache_", dir=folder))
    load = ["--child", "load", "--feed", str(feed), "--cache", str(cache_dir), "--area", str(area_file)]
    cold = _child(load)
    warm = _child(load)
    assert cold["misses"] == 1 and warm["hits"] == 1, (cold, warm)
    c = cold["clip"]
    print(f"Area: county + {BUFFER_M / 1000:.0f} km, {area.area / 1e6:,.0f} km²")
    print(
        f"Clip: stops {c['stops_read']:,} -> {c['stops_kept']:,}; trips {c['trips_read']:,} -> {c['trips_kept']:,}; "
        f"stop_times {c['stop_times_read']:,} -> {c['stop_times_kept']:,}; services kept {c['services_kept']:,}; "
        f"feed {c['feed_start']} .. {c['feed_end']}"
    )
    print(
        f"Cold (stream + clip + validate + cache): {cold['wall_s']:.1f} s "
        f"(target ≤ {TARGET_COLD_S:.0f} s, ratio {cold['wall_s'] / TARGET_COLD_S:.2f}); "
        f"peak RSS {cold['peak_rss_mb']:.0f} MB (target ≤ {TARGET_RSS_MB:.0f} MB, "
        f"ratio {cold['peak_rss_mb'] / TARGET_RSS_MB:.2f}); CPU {cold['cpu_s']:.1f} s; "
        f"process {cold['process_s']:.1f} s"
    )
    print(
        f"Warm (from the cache): {warm['wall_s']:.3f} s (CPU {warm['cpu_s']:.3f} s), "
        f"peak RSS {warm['peak_rss_mb']:.0f} MB; "
        f"process {warm['process_s']:.1f} s; cold/warm {cold['wall_s'] / warm['wall_s']:.0f}x"
    )
    check = check_model(feed, cache_dir, area, info["model_prefix"])
    print(f"Model feed inside the clip: {json.dumps(check)}")
    ok = check["same_trips"] and check["model_stops_kept"] and all(d["equal"] for d in check["days"])
    print("Model feed clipped == model feed read alone:", "ja" if ok else "NEIN")


if __name__ == "__main__":
    main()
