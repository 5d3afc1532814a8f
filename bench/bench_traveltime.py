"""Benchmark: county-scale travel times for one course schedule, all modes, round trip.

Scenario (seeded, generated here): a 400 × 400 street grid (160,000 nodes, 100 m
spacing, some streets removed), 1,000 stops on 50 bus lines with 5,000 weekday
trips written as a real GTFS zip and read by the same loader as real feeds,
20,000 origins and 250 course sites (one schedule: Mo–Fr 08:30–11:45).

Printed: wall time and peak memory of ``course_travel_times`` and, in the same run,
the ratio to a naive per-origin baseline (networkx Dijkstra per origin for walking
and cycling, there and back, plus one forward and one reverse transit search per
origin) measured on a sample and extrapolated; and, if pandana is installed, its
time for the walking leg.

Run: ``python bench/bench_traveltime.py [--origins 20000 --sites 250 --sample 40]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import resource
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests._synthetic

from coverage.inputs.config import Parameters
from coverage.network.streets import snap
from coverage.transit.gtfs import load_gtfs
from coverage.traveltime import Networks, course_travel_times
from coverage.traveltime.engine import _prepare
from tests._synthetic import grid_network

X0, Y0 = 500000.0, 5900000.0


def make_feed(walk, *, n_stops: int, n_routes: int, trips_per_route: int, rng: np.random.Generator) -> bytes:
    """GTFS zip: ``n_routes`` lines of 20 stops along random straight-ish corridors."""
    to_ll = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    stop_nodes = rng.choice(walk.n_nodes, size=n_stops, replace=False)
    sx, sy = walk.x[stop_nodes], walk.y[stop_nodes]
    lon, lat = to_ll.transform(sx, sy)
    stops = pd.DataFrame(
        {
            "stop_id": [f"s{i}" for i in range(n_stops)],
            "stop_name": [f"Halt {i}" for i in range(n_stops)],
            "stop_lat": np.round(lat, 7),
            "stop_lon": np.round(lon, 7),
        }
    )
    rows_trips, rows_st = [], []
    per_route = 20
    for r in range(n_routes):
        # a corridor: pick a start stop, then walk to the nearest unused stops in a drifting direction
        seq = list(rng.choice(n_stops, size=per_route, replace=False))
        seq.sort(key=lambda i: sx[i] * np.cos(r) + sy[i] * np.sin(r))
        hop = np.hypot(np.diff(sx[seq]), np.diff(sy[seq]))
        hop_s = np.maximum(60, np.round(hop * 1.3 / (40 / 3.6) / 60) * 60) + 60
        offsets = np.concatenate([[0], np.cumsum(hop_s)])
        for k in range(trips_per_route):
            start = 5 * 3600 + int(k * (17 * 3600) / trips_per_route) + int(rng.integers(0, 300))
            direction = seq if k % 2 == 0 else seq[::-1]
            tid = f"r{r}t{k}"
            rows_trips.append((f"r{r}", "wk", tid))
            for j, st in enumerate(direction):
                t = start + int(offsets[j])
                hh = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
                rows_st.append((tid, hh, hh, f"s{st}", j + 1))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "agency.txt",
            "agency_id,agency_name,agency_url,agency_timezone\nA,Bench,https://example.org,Europe/Berlin\n",
        )
        z.writestr("stops.txt", stops.to_csv(index=False))
        z.writestr(
            "routes.txt",
            "route_id,agency_id,route_short_name,route_type\n" + "".join(f"r{r},A,{r},3\n" for r in range(n_routes)),
        )
        z.writestr(
            "trips.txt", pd.DataFrame(rows_trips, columns=["route_id", "service_id", "trip_id"]).to_csv(index=False)
        )
        z.writestr(
            "stop_times.txt",
            pd.DataFrame(
                rows_st, columns=["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"]
            ).to_csv(index=False),
        )
        z.writestr(
            "calendar.txt",
            "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,"
            "end_date\nwk,1,1,1,1,1,0,0,20270101,20271231\n",
        )
    return buf.getvalue()


def scenario(*, n_origins: int, n_sites: int, seed: int = 7):
    """Build networks, feed, origins and courses."""
    rng = np.random.default_rng(seed)
    walk = grid_network(400, 400, spacing_m=100.0, origin=(X0, Y0), mode="fuss", seed=seed, drop_fraction=0.05)
    bike = grid_network(400, 400, spacing_m=100.0, origin=(X0, Y0), mode="rad", seed=seed, drop_fraction=0.05)
    tmp = Path(tempfile.mkdtemp(prefix="kursatlas-bench-"))
    (tmp / "feed.zip").write_bytes(make_feed(walk, n_stops=1000, n_routes=50, trips_per_route=100, rng=rng))
    t = time.perf_counter()
    feed = load_gtfs(tmp / "feed.zip")
    t_feed = time.perf_counter() - t
    ox = rng.uniform(X0, X0 + 39900, n_origins)
    oy = rng.uniform(Y0, Y0 + 39900, n_origins)
    origins = gpd.GeoDataFrame(
        {"herkunft_id": [f"o{i}" for i in range(n_origins)]}, geometry=gpd.points_from_xy(ox, oy), crs="EPSG:25832"
    )
    site_nodes = rng.choice(walk.n_nodes, size=n_sites, replace=False)
    courses = gpd.GeoDataFrame(
        {
            "kurs_id": [f"k{i}" for i in range(n_sites)],
            "beginn": 8 * 60 + 30,
            "ende": 11 * 60 + 45,
            "wochentage": [(0, 1, 2, 3, 4)] * n_sites,
            "erster_tag": dt.date(2027, 2, 1),
            "letzter_tag": dt.date(2027, 2, 5),
            "online": False,
        },
        geometry=gpd.points_from_xy(walk.x[site_nodes], walk.y[site_nodes]),
        crs="EPSG:25832",
    )
    return Networks(walk=walk, bike=bike, feed=feed), origins, courses, t_feed


def naive_baseline(nets: Networks, origins, courses, params: Parameters, sample: int) -> float:
    """Seconds per origin of a per-origin approach (networkx + per-origin transit search)."""
    from coverage.transit.routing import earliest_arrival, latest_departure

    def to_nx(net, speed):
        g = nx.DiGraph()
        src = np.repeat(np.arange(net.n_nodes), np.diff(net.indptr))
        g.add_weighted_edges_from(zip(src.tolist(), net.indices.tolist(), (net.length_m / speed).tolist(), strict=True))
        return g

    gw, gb = to_nx(nets.walk, params.geh_m_s), to_nx(nets.bike, params.rad_m_s)
    gb_rev = gb.reverse(copy=True)
    sub = origins.iloc[:sample]
    xy = np.column_stack([sub.geometry.x, sub.geometry.y])
    prep = _prepare(xy, nets, params)
    site_nodes = snap(nets.walk, courses.geometry.x.to_numpy(), courses.geometry.y.to_numpy(), max_distance_m=1000).node
    conns = nets.feed.connections(dt.date(2027, 2, 1))
    limit = 75 * 60.0
    t = time.perf_counter()
    for i in range(sample):
        o = int(prep.walk_node[i])
        dw = nx.single_source_dijkstra_path_length(gw, o, cutoff=limit)
        db = nx.single_source_dijkstra_path_length(gb, o, cutoff=limit)
        db_back = nx.single_source_dijkstra_path_length(gb_rev, o, cutoff=limit)
        _ = (
            [dw.get(int(s)) for s in site_nodes],
            [db.get(int(s)) for s in site_nodes],
            [db_back.get(int(s)) for s in site_nodes],
        )
        row = prep.access.getrow(i)
        if row.nnz:
            # forward from home at the latest useful time and reverse to home after the course
            earliest_arrival(conns, sources=(row.indices, 8 * 3600 - limit + row.data), footpaths=prep.footpaths)
            latest_departure(conns, targets=(row.indices, 11.75 * 3600 + limit - row.data), footpaths=prep.footpaths)
    return (time.perf_counter() - t) / sample


def pandana_walk(nets: Networks, courses, params: Parameters) -> float | None:
    """Seconds for the walking leg with pandana (None if not installed)."""
    try:
        import pandana
    except ImportError:
        return None
    w = nets.walk
    src = np.repeat(np.arange(w.n_nodes), np.diff(w.indptr))
    nodes = pd.DataFrame({"x": w.x, "y": w.y})
    edges = pd.DataFrame({"from": src, "to": w.indices, "t": w.length_m / params.geh_m_s})
    t = time.perf_counter()
    net = pandana.Network(nodes["x"], nodes["y"], edges["from"], edges["to"], edges[["t"]], twoway=False)
    net.set_pois("sites", 75 * 60, len(courses), courses.geometry.x, courses.geometry.y)
    net.nearest_pois(75 * 60, "sites", num_pois=len(courses))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--origins", type=int, default=20000)
    ap.add_argument("--sites", type=int, default=250)
    ap.add_argument("--sample", type=int, default=40)
    args = ap.parse_args()
    params = Parameters()
    t = time.perf_counter()
    nets, origins, courses, t_feed = scenario(n_origins=args.origins, n_sites=args.sites)
    print(
        f"Szenario: {nets.walk.n_nodes} Straßenknoten, {nets.feed.n_stops} Haltestellen, "
        f"{len(nets.feed.trips)} Fahrten/Werktag, {len(origins)} Herkunftsorte, {len(courses)} Kursorte "
        f"(Aufbau {time.perf_counter() - t:.1f} s, davon GTFS laden {t_feed:.1f} s)"
    )
    course_travel_times(origins.iloc[:10], courses.iloc[:2], networks=nets, params=params)  # JIT warm-up
    tracemalloc.start()
    t = time.perf_counter()
    tt = course_travel_times(origins, courses, networks=nets, params=params)
    wall = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reach = np.isfinite(tt.hin).mean()
    print(
        f"Kursatlas: {wall:.1f} s Wandzeit, Spitze {peak / 2**20:.0f} MB (tracemalloc), "
        f"max RSS des Prozesses {rss:.0f} MB; {reach:.1%} der Paare erreichbar"
    )
    per_origin = naive_baseline(nets, origins, courses, params, args.sample)
    naive_total = per_origin * len(origins)
    print(
        f"Naive Basis (networkx je Herkunftsort, Stichprobe {args.sample}): {per_origin * 1000:.0f} ms je Ort, "
        f"hochgerechnet {naive_total:.0f} s für {len(origins)} Orte"
    )
    print(f"Verhältnis naive Basis / Kursatlas: {naive_total / wall:.0f}×")
    pw = pandana_walk(nets, courses, params)
    if pw is None:
        print("pandana nicht installiert: Vergleich des Fußwegs übersprungen")
    else:
        print(f"pandana (nur Fußweg, alle Orte): {pw:.1f} s")


if __name__ == "__main__":
    main()
