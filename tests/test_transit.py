"""Tests of coverage.transit.routing: CSA against a brute-force label-correcting search."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coverage.errors import RoutingError
from coverage.transit import Connections, load_gtfs
from coverage.transit.routing import (
    Footpaths,
    earliest_arrival,
    footpaths_from_distances,
    footpaths_with_transfers,
    latest_departure,
    stop_to_stop_earliest_arrival,
)

DATA = Path(__file__).parent / "data"
CAIRNS = DATA / "cairns_gtfs_2014.zip"
INF = np.inf


# ---------------------------------------------------------------------------
# Brute force: fixed point of the journey rules, independent of any scan order
# ---------------------------------------------------------------------------


Hop = tuple[int, int, float, float, bool, bool]
"""One connection of a trip run: dep_stop, arr_stop, dep_time, arr_time, board, alight."""


@dataclass(frozen=True)
class Timetable:
    """Trip runs as lists of hops in travel order (the brute force's own timetable)."""

    n_stops: int
    trips: list[list[Hop]]


def _timetable(c: Connections | Timetable) -> Timetable:
    """The trip runs of sorted connections (a :class:`Timetable` is returned as it is)."""
    if isinstance(c, Timetable):
        return c
    order = np.lexsort((np.arange(len(c)), c.trip))  # stable: sorted order within a trip = travel order
    trips: list[list[Hop]] = [[] for _ in range(c.n_trips)]
    ds, as_, dt_, at_ = c.dep_stop.tolist(), c.arr_stop.tolist(), c.dep_time.tolist(), c.arr_time.tolist()
    bd, al = c.board.tolist(), c.alight.tolist()
    for k in order.tolist():
        trips[int(c.trip[k])].append((ds[k], as_[k], float(dt_[k]), float(at_[k]), bd[k], al[k]))
    return Timetable(c.n_stops, trips)


def feed_timetable(feed, date: dt.date, *, next_day: bool) -> Timetable:
    """Whole trip instances of the service days around ``date``, built without :meth:`Feed.connections`.

    Every trip of every service day ``date - k`` (as far back as the feed's times reach
    past midnight), of ``date`` and, with ``next_day``, of ``date + 1`` is one run with
    its times shifted by the day offset; nothing is cut at midnight.
    """
    day = 86400
    back = int(feed.st_arr.max(initial=0)) // day
    service = feed.trips["service_id"].to_numpy()
    ptr = feed.st_ptr.tolist()
    stop, dep, arr = feed.st_stop.tolist(), feed.st_dep.tolist(), feed.st_arr.tolist()
    pick, drop = feed.st_pickup.tolist(), feed.st_dropoff.tolist()
    trips: list[list[Hop]] = []
    for off in range(-back, 2 if next_day else 1):
        active = feed.active_services(date + dt.timedelta(days=off))
        shift = off * day
        for t in np.flatnonzero(np.isin(service, list(active))).tolist():
            hops = []
            for r in range(ptr[t], ptr[t + 1] - 1):
                times = float(dep[r] + shift), float(arr[r + 1] + shift)
                hops.append((stop[r], stop[r + 1], *times, pick[r] != 1, drop[r + 1] != 1))
            trips.append(hops)
    return Timetable(feed.n_stops, [t for t in trips if t])


def _fp_lists(fp: Footpaths | None, n: int) -> list[list[tuple[int, float]]]:
    out: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    if fp is not None:
        for a, b, w in fp.to_frame().itertuples(index=False):
            out[int(a)].append((int(b), float(w)))
    return out


def brute_earliest_arrival(c, sources, fp, ct, *, until=INF):
    """Bellman-Ford-style label correcting over whole trips until nothing changes.

    ``c`` is :class:`Connections` or a :class:`Timetable`; hops departing after
    ``until`` are not used (as ``earliest_arrival(..., until=...)``).
    """
    tt = _timetable(c)
    n = tt.n_stops
    arr = [INF] * n
    ready = [INF] * n
    veh = [INF] * n
    out = _fp_lists(fp, n)
    for s, t in sources.items():
        arr[s] = min(arr[s], t)
        ready[s] = min(ready[s], t)
        veh[s] = min(veh[s], t)
        for u, w in out[s]:
            arr[u] = min(arr[u], t + w)
            ready[u] = min(ready[u], t + w)
    changed = True
    while changed:
        changed = False
        for hops in tt.trips:
            on = False
            for x, y, d, a, bd, al in hops:
                if d > until:
                    break
                if not on and bd and ready[x] <= d:
                    on = True
                if on and al and a < veh[y]:
                    veh[y] = a
                    arr[y] = min(arr[y], a)
                    ready[y] = min(ready[y], a + ct[y])
                    for u, w in out[y]:
                        arr[u] = min(arr[u], a + w)
                        ready[u] = min(ready[u], a + w)
                    changed = True
    return np.array(arr)


def brute_latest_departure(c, targets, fp, ct, *, since=-INF):
    """Reverse fixed point: latest departure from which a target is reached in time.

    ``c`` is :class:`Connections` or a :class:`Timetable`; hops arriving before
    ``since`` are not used (as ``latest_departure(..., since=...)``).
    """
    tt = _timetable(c)
    n = tt.n_stops
    ld = [-INF] * n
    alight_ok = [-INF] * n
    bveh = [-INF] * n
    inc: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for a, nbrs in enumerate(_fp_lists(fp, n)):
        for b, w in nbrs:
            inc[b].append((a, w))
    for s, t in targets.items():
        ld[s] = max(ld[s], t)
        alight_ok[s] = max(alight_ok[s], t)
        for u, w in inc[s]:
            ld[u] = max(ld[u], t - w)
            alight_ok[u] = max(alight_ok[u], t - w)
    changed = True
    while changed:
        changed = False
        for hops in tt.trips:
            ok = False
            for x, y, d, a, bd, al in reversed(hops):
                if a < since:
                    break
                if not ok and al and a <= alight_ok[y]:
                    ok = True
                if ok and bd and d > bveh[x]:
                    bveh[x] = d
                    ld[x] = max(ld[x], d)
                    alight_ok[x] = max(alight_ok[x], d - ct[x])
                    for u, w in inc[x]:
                        ld[u] = max(ld[u], d - w)
                        alight_ok[u] = max(alight_ok[u], d - w)
                    changed = True
    return np.array(ld)


# ---------------------------------------------------------------------------
# Real feed
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cairns():
    return load_gtfs(CAIRNS)


@pytest.fixture(scope="module")
def cairns_fp(cairns):
    return footpaths_from_distances(cairns.stops["x"].to_numpy(), cairns.stops["y"].to_numpy(), max_m=400)


@pytest.mark.parametrize(
    "date",
    [dt.date(2014, 6, 2), dt.date(2014, 6, 7), dt.date(2014, 6, 8), dt.date(2014, 6, 9)],
    ids=["monday", "saturday", "sunday", "holiday"],
)
def test_cairns_against_brute_force(cairns, cairns_fp, date):
    rng = np.random.default_rng(date.toordinal())
    conns = cairns.connections(date)
    n = conns.n_stops
    ct = rng.choice([0.0, 60.0, 180.0], size=n)
    assert len(cairns_fp) > 0
    for q in range(3):
        fp = cairns_fp if q != 1 else None
        k = int(rng.integers(1, 4))
        stops = rng.choice(n, size=k, replace=False)
        times = rng.integers(5 * 3600, 20 * 3600, size=k).astype(float)
        sources = dict(zip(stops.tolist(), times.tolist(), strict=True))
        got = earliest_arrival(conns, sources=sources, footpaths=fp, min_transfer=ct)
        want = brute_earliest_arrival(conns, sources, fp, ct)
        np.testing.assert_array_equal(got, want)
        assert np.isfinite(got).sum() > k  # something beyond the sources is reachable

        tstops = rng.choice(n, size=k, replace=False)
        ttimes = rng.integers(8 * 3600, 23 * 3600, size=k).astype(float)
        targets = dict(zip(tstops.tolist(), ttimes.tolist(), strict=True))
        got = latest_departure(conns, targets=targets, footpaths=fp, min_transfer=ct)
        want = brute_latest_departure(conns, targets, fp, ct)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "date",
    [dt.date(2014, 6, 3), dt.date(2014, 6, 6), dt.date(2014, 6, 8)],
    ids=["tuesday", "friday-before-saturday", "sunday-before-holiday"],
)
def test_cairns_late_evening_against_brute_force_with_next_day(cairns, cairns_fp, date):
    """From 22:00 to 06:00 on, with the next service day's early trips: CSA equals the oracle.

    The oracle runs on whole trip instances of the previous days, the day and the
    next day, built from the feed's trips and calendar without
    :meth:`Feed.connections`; both stop at the search horizon.
    """
    next_day_s = 7 * 3600  # Cairns' first trips leave at 05:34, its last arrive at 29:39
    until = 86400.0 + next_day_s
    conns = cairns.connections(date, next_day_s=next_day_s)
    assert 1 in set(conns.run_day_offset.tolist())  # the next day's trips are there
    oracle = feed_timetable(cairns, date, next_day=True)
    rng = np.random.default_rng(date.toordinal() + 17)
    n = conns.n_stops
    ct = rng.choice([0.0, 60.0, 180.0], size=n)
    # the first connection of the next day's trips, boarded one minute before it leaves
    first = int(np.flatnonzero(conns.run_day_offset[conns.trip] == 1)[0])
    for q in range(4):
        fp = cairns_fp if q != 1 else None
        k = int(rng.integers(1, 4))
        stops = rng.choice(n, size=k, replace=False)
        times = rng.integers(22 * 3600, 86400 + 6 * 3600, size=k).astype(float)
        if q == 3:
            stops, times = np.array([conns.dep_stop[first]]), np.array([conns.dep_time[first] - 60.0])
        sources = dict(zip(stops.tolist(), times.tolist(), strict=True))
        got = earliest_arrival(conns, sources=sources, footpaths=fp, min_transfer=ct, until=until)
        np.testing.assert_array_equal(got, brute_earliest_arrival(oracle, sources, fp, ct, until=until))
        got_first = float(got[conns.arr_stop[first]])

        tstops = rng.choice(n, size=k, replace=False)
        ttimes = rng.integers(22 * 3600, 86400 + next_day_s, size=k).astype(float)
        targets = dict(zip(tstops.tolist(), ttimes.tolist(), strict=True))
        got = latest_departure(conns, targets=targets, footpaths=fp, min_transfer=ct, since=0.0)
        np.testing.assert_array_equal(got, brute_latest_departure(oracle, targets, fp, ct, since=0.0))
    assert 86400 <= got_first <= conns.arr_time[first]  # the next day's trip was ridden


@pytest.mark.parametrize("date", [dt.date(2014, 6, 2), dt.date(2014, 6, 6)], ids=["monday", "friday"])
def test_cairns_next_day_trips_never_change_same_day_searches(cairns, cairns_fp, date):
    """Trips of the next day start at 24:00 or later: searches ending before midnight see no difference."""
    plain = cairns.connections(date)
    night = cairns.connections(date, next_day_s=86400)
    assert len(night) > len(plain)
    rng = np.random.default_rng(5)
    for _ in range(3):
        stops = rng.choice(plain.n_stops, size=2, replace=False)
        times = rng.integers(6 * 3600, 23 * 3600, size=2).astype(float)
        got = latest_departure(night, targets=(stops, times), footpaths=cairns_fp)
        np.testing.assert_array_equal(got, latest_departure(plain, targets=(stops, times), footpaths=cairns_fp))
        got = earliest_arrival(night, sources=(stops, times - 3600), footpaths=cairns_fp, until=86399)
        np.testing.assert_array_equal(
            got, earliest_arrival(plain, sources=(stops, times - 3600), footpaths=cairns_fp, until=86399)
        )


def test_cairns_duality(cairns, cairns_fp):
    """Leaving at the latest departure reaches the target in time; leaving later does not."""
    date = dt.date(2014, 6, 3)
    conns = cairns.connections(date)
    rng = np.random.default_rng(7)
    fp = footpaths_with_transfers(cairns, cairns_fp)
    target = int(rng.integers(conns.n_stops))
    deadline = 9 * 3600.0
    ld = latest_departure(conns, targets={target: deadline}, footpaths=fp)
    finite = np.flatnonzero(np.isfinite(ld))
    assert finite.size > 20
    for s in rng.choice(finite, size=15, replace=False).tolist():
        on_time = earliest_arrival(conns, sources={s: ld[s]}, footpaths=fp)
        late = earliest_arrival(conns, sources={s: ld[s] + 0.5}, footpaths=fp)
        assert on_time[target] <= deadline
        assert late[target] > deadline


def test_stop_to_stop_primitive(cairns):
    date = dt.date(2014, 6, 2)
    res = stop_to_stop_earliest_arrival(cairns, "750000", dt.time(7, 0), date)
    assert res.index.name == "stop_id"
    assert res["750000"] == 7 * 3600
    assert (res.dropna() >= 7 * 3600).all()
    assert res.notna().sum() > 100
    # int seconds give the same result; same as the low-level call
    res2 = stop_to_stop_earliest_arrival(cairns, "750000", 7 * 3600, date)
    assert res.equals(res2)
    raw = earliest_arrival(cairns.connections(date), sources={cairns.stop_index("750000"): 25200})
    np.testing.assert_array_equal(np.nan_to_num(res.to_numpy(), nan=np.inf), raw)
    with pytest.raises(RoutingError, match="kommt im GTFS-Feed nicht vor"):
        stop_to_stop_earliest_arrival(cairns, "nope", 0, date)
    with pytest.raises(RoutingError, match="außerhalb des Fahrplanzeitraums"):
        stop_to_stop_earliest_arrival(cairns, "750000", 0, dt.date(2020, 1, 1))


def test_cairns_overnight_trips_counted_next_day(cairns):
    sat = cairns.connections(dt.date(2014, 6, 7))
    # Friday trips running after midnight appear with negative departure times
    assert sat.dep_time.min() < 0 <= sat.arr_time.min()
    assert set(sat.run_day_offset.tolist()) == {0, -1}
    fri = cairns.connections(dt.date(2014, 6, 6))
    assert fri.arr_time.max() > 86400


def test_footpaths_from_distances():
    x = np.array([0.0, 100.0, 1000.0, np.nan])
    y = np.zeros(4)
    fp = footpaths_from_distances(x, y, max_m=400, speed_m_s=1.0, detour=1.5)
    df = fp.to_frame()
    assert sorted(zip(df.from_stop, df.to_stop, strict=True)) == [(0, 1), (1, 0)]
    assert np.allclose(df.seconds, 150.0)
    assert fp.transposed().to_frame().shape == (2, 3)
    with pytest.raises(RoutingError):
        Footpaths(np.array([0, 2]), np.array([0]), np.array([1.0]))
    with pytest.raises(RoutingError):
        Footpaths.from_pairs(2, [0], [1], [-5.0])


def test_footpath_only_one_hop_and_min_transfer():
    # 0 -(trip0)-> 1 ~walk~ 2 ~walk~ 3 ; trip1 from 1 to 4 at t=20
    c = Connections.from_arrays([0, 1], [1, 4], [0, 20], [10, 30], [0, 1], n_stops=5)
    fp = Footpaths.from_pairs(5, [1, 2], [2, 3], [5.0, 5.0])
    arr = earliest_arrival(c, sources={0: 0}, footpaths=fp)
    assert arr.tolist() == [0, 10, 15, INF, 30]
    arr = earliest_arrival(c, sources={0: 0}, footpaths=fp, min_transfer=11.0)
    assert arr[4] == INF
    arr = earliest_arrival(c, sources={0: 0}, footpaths=fp, until=15)
    assert arr[4] == INF
    ld = latest_departure(c, targets={4: 30}, footpaths=fp)
    assert ld.tolist() == [0, 20, -INF, -INF, 30]


def test_zero_duration_chain_any_order():
    # Three trips, each one zero-duration hop at t=5, listed in reverse chain order.
    c = Connections.from_arrays([2, 1, 0], [3, 2, 1], [5, 5, 5], [5, 5, 5], [0, 1, 2])
    assert earliest_arrival(c, sources={0: 0}).tolist() == [0, 5, 5, 5]
    assert latest_departure(c, targets={3: 5}).tolist() == [5, 5, 5, 5]


def test_invalid_arguments():
    c = Connections.from_arrays([0], [1], [0], [10], [0])
    with pytest.raises(RoutingError):
        earliest_arrival(c, sources={5: 0})
    with pytest.raises(RoutingError):
        earliest_arrival(c, sources=([0, 1], [0.0]))
    with pytest.raises(RoutingError):
        earliest_arrival(c, sources={0: 0}, min_transfer=-1.0)
    with pytest.raises(RoutingError):
        earliest_arrival(c, sources={0: 0}, footpaths=Footpaths.empty(3))
    with pytest.raises(RoutingError):
        Connections.from_arrays([0], [1], [10], [0], [0])


_INT32 = st.integers(-(2**31), 2**31 - 1)


@settings(max_examples=150, deadline=None)
@example(times=[(2**31 - 1, -(2**31)), (-(2**31), 2**31 - 1), (0, 0), (0, 0)])  # 65 bits: the fallback
@given(
    times=st.one_of(
        st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), max_size=40),  # many ties: packed keys
        st.lists(st.tuples(_INT32, _INT32), max_size=12),  # over 63 bits: lexsort fallback
    )
)
def test_scan_orders_equal_lexsort(times: list[tuple[int, int]]) -> None:
    """The packed-key sort gives exactly the permutations of the lexsort reference."""
    from coverage.transit.feed import _scan_orders

    dep = np.array([t[0] for t in times], dtype=np.int32)
    arr = np.array([t[1] for t in times], dtype=np.int32)
    pos = np.arange(len(times), dtype=np.int64)
    want = np.lexsort((pos, arr, dep))
    want_rev = np.lexsort((-pos[want], -dep[want].astype(np.int64), -arr[want].astype(np.int64)))
    order, rev = _scan_orders(dep, arr)
    assert order.dtype == rev.dtype == np.int64
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(rev, want_rev)


def test_scan_orders_of_a_day_equal_lexsort() -> None:
    from coverage.transit.feed import _scan_orders

    rng = np.random.default_rng(3)
    dep = rng.integers(-86400, 2 * 86400, 50_000).astype(np.int32)
    arr = (dep + rng.integers(0, 600, dep.size)).astype(np.int32)
    dep[::7] = dep[0]  # ties
    pos = np.arange(dep.size)
    want = np.lexsort((pos, arr, dep))
    order, rev = _scan_orders(dep, arr)
    np.testing.assert_array_equal(order, want)
    np.testing.assert_array_equal(rev, np.lexsort((-pos[want], -dep[want], -arr[want].astype(np.int64))))


# ---------------------------------------------------------------------------
# Random small timetables
# ---------------------------------------------------------------------------


@st.composite
def timetables(draw):
    n_stops = draw(st.integers(2, 7))
    n_trips = draw(st.integers(1, 7))
    cols: dict[str, list] = {k: [] for k in ("ds", "as", "dt", "at", "trip", "board", "alight")}
    for tr in range(n_trips):
        length = draw(st.integers(2, 5))
        stops = draw(st.lists(st.integers(0, n_stops - 1), min_size=length, max_size=length))
        t = draw(st.integers(0, 40))
        for i in range(length - 1):
            dwell = draw(st.integers(0, 3)) if i else 0
            dur = draw(st.integers(0, 8))
            cols["ds"].append(stops[i])
            cols["as"].append(stops[i + 1])
            cols["dt"].append(t + dwell)
            cols["at"].append(t + dwell + dur)
            cols["trip"].append(tr)
            cols["board"].append(draw(st.booleans()) or draw(st.booleans()))
            cols["alight"].append(draw(st.booleans()) or draw(st.booleans()))
            t = t + dwell + dur
    conns = Connections.from_arrays(
        cols["ds"], cols["as"], cols["dt"], cols["at"], cols["trip"],
        board=cols["board"], alight=cols["alight"], n_stops=n_stops,
    )  # fmt: skip
    n_fp = draw(st.integers(0, 6))
    fp = Footpaths.from_pairs(
        n_stops,
        draw(st.lists(st.integers(0, n_stops - 1), min_size=n_fp, max_size=n_fp)),
        draw(st.lists(st.integers(0, n_stops - 1), min_size=n_fp, max_size=n_fp)),
        draw(st.lists(st.integers(0, 10), min_size=n_fp, max_size=n_fp)),
    )
    ct = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 3.0, INF]), min_size=n_stops, max_size=n_stops)))
    points = draw(st.dictionaries(st.integers(0, n_stops - 1), st.integers(0, 60).map(float), min_size=1, max_size=3))
    return conns, fp, ct, points


@settings(max_examples=200, derandomize=True, deadline=None)
@given(timetables())
def test_random_timetables_against_brute_force(case):
    conns, fp, ct, points = case
    got = earliest_arrival(conns, sources=points, footpaths=fp, min_transfer=ct)
    np.testing.assert_array_equal(got, brute_earliest_arrival(conns, points, fp, ct))
    got = latest_departure(conns, targets=points, footpaths=fp, min_transfer=ct)
    np.testing.assert_array_equal(got, brute_latest_departure(conns, points, fp, ct))


@pytest.mark.parametrize("date", [dt.date(2014, 6, 2), dt.date(2014, 6, 7)], ids=["monday", "saturday"])
def test_cairns_with_declared_on_demand_routes_against_brute_force(cairns, cairns_fp, date):
    """Rufbus (#17): half of the routes declared on-demand; both timetables routed exactly.

    ``rufbus`` = all trips (merged, on-demand marked), ``oepnv`` = :func:`fixed_only`
    (the declared trips removed, stop indices unchanged). Each is checked against the
    brute force over its own trip list.
    """
    from coverage.transit.flex import merge_connections
    from coverage.traveltime.rufbus import fixed_only

    routes = sorted(cairns.routes["route_id"].astype(str))
    marked = set(routes[::2])
    mask = cairns.trips["route_id"].astype(str).isin(marked).to_numpy()
    assert 0 < mask.sum() < len(mask)
    fixed = cairns.connections(date)
    merged = merge_connections(fixed, on_demand=mask, vorlauf_min=45.0)
    np.testing.assert_array_equal(merged.bedarf, mask[fixed.run_trip[fixed.trip]])
    assert set(np.unique(merged.voranmeldung_min).tolist()) <= {0.0, 45.0}
    only = fixed_only(merged)
    assert only.n_stops == fixed.n_stops and len(only) == int((~merged.bedarf).sum())
    assert not mask[only.run_trip[only.trip]].any()
    # the brute force's timetable without the declared trips, built from the full one
    full = _timetable(fixed)
    kept = Timetable(full.n_stops, [tr for r, tr in enumerate(full.trips) if not mask[fixed.run_trip[r]]])
    rng = np.random.default_rng(date.toordinal() + 17)
    ct = rng.choice([0.0, 60.0], size=fixed.n_stops)
    for _ in range(3):
        k = int(rng.integers(1, 4))
        stops = rng.choice(fixed.n_stops, size=k, replace=False).tolist()
        times = rng.integers(6 * 3600, 20 * 3600, size=k).astype(float).tolist()
        pts = dict(zip(stops, times, strict=True))
        for conns, tt in ((merged.connections, full), (only, kept)):
            got = earliest_arrival(conns, sources=pts, footpaths=cairns_fp, min_transfer=ct)
            np.testing.assert_array_equal(got, brute_earliest_arrival(tt, pts, cairns_fp, ct))
            got = latest_departure(conns, targets=pts, footpaths=cairns_fp, min_transfer=ct)
            np.testing.assert_array_equal(got, brute_latest_departure(tt, pts, cairns_fp, ct))
