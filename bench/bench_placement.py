"""Benchmark of the course placement model on a county-size synthetic instance.

Run::

    python bench/bench_placement.py [--seed 0] [--origins 1000] [--sites 60] [--budget 8]

The instance imitates Landkreis Rotenburg (Wümme): ~55 × 45 km, a dozen towns with
most residents and all bus stops, scattered villages. Demand points are origin ×
level × target group with expected unserved persons (small floats); candidate
courses are site × level × available slot. A segment may attend a course of its
level if its group's schedule and childcare need fit the slot and the fastest
allowed mode (walk, bike with detour, bus with access and waiting time; evening
buses often do not return) stays within the group's threshold both ways.

Prints: instance size, merged point count, solve time, peak memory, gap, and the
ratio of a naive greedy baseline (no LP, no solver) to the MILP value.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coverage.inputs.config import Parameters
from coverage.inputs.schema import GROUPS, LEVELS, SLOTS
from coverage.placement import _milp, marginal_curve, solve_placement

logger = logging.getLogger(__name__)


def synthetic_county(
    *,
    seed: int = 0,
    n_origins: int = 1000,
    n_sites: int = 60,
    demand_scale: float = 1.0,
    params: Parameters | None = None,
) -> dict[str, np.ndarray | sp.csr_matrix]:
    """Generate a county-size placement instance.

    Returns
    -------
    dict
        ``weights`` (n_d,), ``cover`` (csr n_d × n_k), ``capacity``, ``min_size``,
        ``cost``, ``conflict_groups`` (n_k,), ``seg_level``, ``course_level``.
    """
    params = params or Parameters()
    rng = np.random.default_rng(seed)
    width, height = 55.0, 45.0
    n_towns = 12
    towns = np.column_stack([rng.uniform(5, width - 5, n_towns), rng.uniform(5, height - 5, n_towns)])
    town_size = rng.pareto(1.5, n_towns) + 1.0
    town_p = town_size / town_size.sum()
    # origins: 65 % around towns, 35 % scattered villages
    n_town_o = int(0.65 * n_origins)
    which = rng.choice(n_towns, n_town_o, p=town_p)
    o_town = towns[which] + rng.normal(0, 1.5, (n_town_o, 2))
    o_rural = np.column_stack(
        [rng.uniform(0, width, n_origins - n_town_o), rng.uniform(0, height, n_origins - n_town_o)]
    )
    origins = np.vstack([o_town, o_rural])
    urban = np.r_[np.ones(n_town_o, bool), np.zeros(n_origins - n_town_o, bool)]
    bus_access = urban | (rng.random(n_origins) < 0.45)
    # candidate sites in towns (schools, community centres)
    s_town = rng.choice(n_towns, n_sites, p=0.5 * town_p + 0.5 / n_towns)
    sites = towns[s_town] + rng.normal(0, 0.8, (n_sites, 2))
    avail = np.column_stack(
        [
            np.ones(n_sites, bool),
            rng.random(n_sites) < 0.7,
            rng.random(n_sites) < 0.4,
        ]
    )  # vormittag, abend, vormittag_kinderbetreuung

    dist = np.sqrt(((origins[:, None, :] - sites[None, :, :]) ** 2).sum(-1)) * 1.35  # km on roads
    walk = dist / (params.geh_m_s * 3.6) * 60
    bike = dist / (params.rad_m_s * 3.6) * 60
    bus_base = rng.uniform(4, 20, (n_origins, 1)) + dist / 28.0 * 60 + rng.uniform(0, 25, (n_origins, n_sites))
    bus_day = np.where(bus_access[:, None], bus_base, np.inf)
    evening_ok = urban[:, None] | (rng.random((n_origins, n_sites)) < 0.35)
    bus_eve = np.where(evening_ok, bus_day + rng.uniform(0, 15, (n_origins, n_sites)), np.inf)

    # courses: site × level × slot
    c_site, c_level, c_slot = [], [], []
    for s in range(n_sites):
        for li in range(len(LEVELS)):
            for si in range(len(SLOTS)):
                if avail[s, si]:
                    c_site.append(s)
                    c_level.append(li)
                    c_slot.append(si)
    c_site_a, c_level_a, c_slot_a = np.array(c_site), np.array(c_level), np.array(c_slot)
    n_k = len(c_site_a)

    # demand: origin × level × group, expected unserved persons
    level_share = np.array([0.09, 0.2, 0.2, 0.27, 0.16, 0.08])
    group_share = np.array([params.bedarf.gruppen_anteile[g] for g in GROUPS])
    origin_pop = rng.gamma(0.8, 1.6, n_origins) * np.where(urban, 1.6, 0.6)
    rows, cols = [], []
    weights = []
    seg_level = []
    d = 0
    for gi, g in enumerate(GROUPS):
        rule = params.gruppen[g]
        slot_ok = np.zeros(len(SLOTS), bool)
        for si, slot in enumerate(SLOTS):
            beginn, ende, _ = params.slot_zeiten[slot]
            childcare = slot == "vormittag_kinderbetreuung"
            slot_ok[si] = (
                beginn >= rule.fruehester_beginn
                and ende <= rule.spaetestes_ende
                and (childcare or not rule.kinderbetreuung)
            )
        modes = []
        if "fuss" in rule.modi:
            modes.append((walk, walk))
        if "rad" in rule.modi:
            modes.append((bike, bike))
        t_day = np.min([m[0] for m in modes] + ([bus_day] if "oepnv" in rule.modi else []), axis=0)
        t_eve = np.min([m[0] for m in modes] + ([bus_eve] if "oepnv" in rule.modi else []), axis=0)
        reach_day = t_day <= rule.max_minuten
        reach_eve = t_eve <= rule.max_minuten
        for li in range(len(LEVELS)):
            w = origin_pop * level_share[li] * group_share[gi] * rng.gamma(2.0, 0.5, n_origins)
            w = np.where(rng.random(n_origins) < 0.15, 0.0, w)  # some segments fully served
            ks = np.nonzero((c_level_a == li) & slot_ok[c_slot_a])[0]
            eve = c_slot_a[ks] == 1
            for o in range(n_origins):
                if w[o] <= 0:
                    continue
                r = np.where(eve, reach_eve[o, c_site_a[ks]], reach_day[o, c_site_a[ks]])
                hit = ks[r]
                rows.append(np.full(len(hit), d))
                cols.append(hit)
                weights.append(w[o])
                seg_level.append(li)
                d += 1
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    cover = sp.csr_matrix((np.ones(len(r), bool), (r, c)), shape=(d, n_k))
    return {
        "weights": np.asarray(weights) * demand_scale,
        "cover": cover,
        "capacity": np.full(n_k, float(params.max_gruppe["landkreis"])),
        "min_size": np.full(n_k, float(params.min_gruppe["landkreis"])),
        "cost": np.array([params.kosten[SLOTS[s]] for s in c_slot_a]),
        "conflict_groups": np.arange(n_k),
        "seg_level": np.asarray(seg_level),
        "course_level": c_level_a,
    }


def naive_greedy(inst: dict, *, budget: int) -> float:
    """Solver-free baseline: repeatedly open the course reaching most unassigned persons."""
    merged = _milp.merge_demand(inst["weights"], np.ones(len(inst["weights"])), inst["cover"])
    sel = _milp.greedy(
        merged,
        capacity=inst["capacity"],
        min_size=inst["min_size"],
        cost=inst["cost"],
        budget_count=budget,
        budget_euro=None,
        conflict_groups=None,
    )
    # value of the greedy flow itself (no LP): replay the greedy assignment
    cover_csc = merged.cover.tocsc()
    residual = merged.weights.copy()
    options = np.diff(merged.cover.indptr).astype(float)
    total = 0.0
    for k in np.nonzero(sel)[0]:
        rows = cover_csc.indices[cover_csc.indptr[k] : cover_csc.indptr[k + 1]]
        order = rows[np.argsort(options[rows], kind="stable")]
        take = _milp._fill(residual[order], inst["capacity"][k])
        residual[order] -= take
        total += take.sum()
    return float(total)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--origins", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=60)
    ap.add_argument("--budget", type=int, default=8)
    ap.add_argument("--scale", type=float, default=1.0, help="factor on the unserved persons (1 ≈ 1,400 persons)")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="Python-Speicher mit tracemalloc messen (verlangsamt den Lauf, Zeit dann nicht vergleichbar)")
    ap.add_argument("--curve", type=int, default=0, help="also time the marginal curve up to this many courses")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    inst = synthetic_county(seed=args.seed, n_origins=args.origins, n_sites=args.sites, demand_scale=args.scale)
    t_gen = time.perf_counter() - t0
    cover = inst["cover"]
    n_d, n_k = cover.shape
    print(
        f"Instanz: {n_d} Nachfragepunkte, {n_k} Kandidatenkurse, {cover.nnz} Kanten "
        f"({cover.nnz / n_d:.1f} je Punkt), {inst['weights'].sum():.0f} Personen unversorgt; erzeugt in {t_gen:.1f} s"
    )

    if args.tracemalloc:
        tracemalloc.start()
    t0 = time.perf_counter()
    sol = solve_placement(
        inst["weights"],
        cover,
        capacity=inst["capacity"],
        min_size=inst["min_size"],
        cost=inst["cost"],
        budget_count=args.budget,
        conflict_groups=inst["conflict_groups"],
        time_limit_s=60.0,
        mip_rel_gap=0.01,
    )
    wall = time.perf_counter() - t0
    py_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else 0
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"MILP: {wall:.2f} s, Status {sol.status}, Methode {sol.method}, Lücke {100 * sol.gap:.3f} %, "
        f"Wert {sol.objective:.2f}, Schranke {sol.bound:.2f}, {int(sol.selected.sum())} Kurse"
    )
    print(
        f"Zusammengefasst: {sol.n_points} → {sol.n_points_merged} Punkte; tragfähige Kandidaten "
        f"{sol.n_candidates_viable}/{n_k}"
    )
    traced = f"Python-Spitze (tracemalloc) {py_peak / 2**20:.0f} MB, " if args.tracemalloc else ""
    print(f"Speicher: {traced}Prozess-Spitze (ru_maxrss) {rss_mb:.0f} MB")

    t0 = time.perf_counter()
    naive = naive_greedy(inst, budget=args.budget)
    print(
        f"Naiver Greedy (ohne LP/Solver): {naive:.2f} in {time.perf_counter() - t0:.2f} s; "
        f"Verhältnis zum MILP {naive / sol.objective:.3f}"
    )

    small = synthetic_county(seed=args.seed + 1, n_origins=150, n_sites=12, demand_scale=args.scale)
    s_sol = solve_placement(
        small["weights"],
        small["cover"],
        capacity=small["capacity"],
        min_size=small["min_size"],
        budget_count=4,
        mip_rel_gap=1e-9,
    )
    s_naive = naive_greedy(small, budget=4)
    print(
        f"Kleine Instanz ({small['cover'].shape[0]} × {small['cover'].shape[1]}): MILP optimal "
        f"{s_sol.objective:.2f}, naiver Greedy {s_naive:.2f}, Verhältnis {s_naive / s_sol.objective:.3f}"
    )

    if args.curve:
        t0 = time.perf_counter()
        curve = marginal_curve(
            inst["weights"],
            cover,
            max_courses=args.curve,
            capacity=inst["capacity"],
            min_size=inst["min_size"],
            cost=inst["cost"],
            conflict_groups=inst["conflict_groups"],
        )
        print(f"Grenznutzenkurve 1…{args.curve}: {time.perf_counter() - t0:.1f} s")
        print(curve.to_string(index=False))


if __name__ == "__main__":
    main()
