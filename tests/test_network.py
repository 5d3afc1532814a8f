"""Tests of coverage.network.streets: loading, snapping and street travel times."""

from __future__ import annotations

import bz2
import itertools
import logging
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import box

import coverage.network.load as network_load
import coverage.network.streets as network_module
from coverage.errors import (
    ConfigError,
    CRSError,
    InputDataError,
    KursatlasError,
    NetworkError,
)
from coverage.network import load_street_network
from coverage.network.streets import (
    SPARSE_TIME_OFFSET_S,
    StreetNetwork,
    snap,
    street_times,
    street_times_sparse,
)
from tests._synthetic import grid_network

DATA = Path(__file__).parent / "data"
HELSINKI_PBF = DATA / "helsinki_test.osm.pbf"
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)

# ------------------------------------------------------------------ helpers


def edge_set(net: StreetNetwork) -> set[tuple[int, int]]:
    """Directed edges as pairs of OSM node ids."""
    rows = np.repeat(np.arange(net.n_nodes), np.diff(net.indptr))
    return set(zip(net.node_ids[rows].tolist(), net.node_ids[net.indices].tolist(), strict=True))


def to_networkx(net: StreetNetwork, speed: float) -> nx.DiGraph:
    """networkx graph of a StreetNetwork, keyed by node index."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(net.n_nodes))
    for i in range(net.n_nodes):
        for k in range(net.indptr[i], net.indptr[i + 1]):
            graph.add_edge(i, int(net.indices[k]), weight=net.length_m[k] / speed)
    return graph


def nx_times(graph: nx.DiGraph, sources: list[int], n: int) -> np.ndarray:
    out = np.full((len(sources), n), np.inf)
    for row, s in enumerate(sources):
        for node, t in nx.single_source_dijkstra_path_length(graph, s, weight="weight").items():
            out[row, node] = t
    return out


def node_index(net: StreetNetwork, osm_id: int) -> int:
    hits = np.flatnonzero(net.node_ids == osm_id)
    assert hits.size == 1, osm_id
    return int(hits[0])


def xml_to_pbf(src: Path, dst: Path) -> Path:
    with osmium.SimpleWriter(str(dst), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(src)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
    return dst


# ------------------------------------------------------------------ hand-made OSM XML

# A (1) -> B (2) one-way; B-C-D-A two-way square; B -> E one-way with
# oneway:bicycle=no; E-F oneway=-1 (only F -> E); F-C two-way; E-H footway
# (walking only); F-H cycleway (cycling only); A-G motorway, D-I private
# service road and a building outline that must all be ignored.
NODES = {
    1: (9.000, 51.000),
    2: (9.002, 51.000),
    3: (9.002, 51.001),
    4: (9.000, 51.001),
    5: (9.004, 51.000),
    6: (9.004, 51.001),
    7: (8.998, 51.000),
    8: (9.006, 51.0005),
    9: (8.999, 51.002),
}
WAYS = [
    (10, [1, 2], {"highway": "residential", "oneway": "yes"}),
    (11, [2, 3], {"highway": "residential"}),
    (12, [3, 4], {"highway": "residential"}),
    (13, [4, 1], {"highway": "residential"}),
    (14, [2, 5], {"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}),
    (15, [5, 6], {"highway": "residential", "oneway": "-1"}),
    (16, [6, 3], {"highway": "residential"}),
    (17, [1, 7], {"highway": "motorway"}),
    (18, [5, 8], {"highway": "footway"}),
    (19, [6, 8], {"highway": "cycleway"}),
    (20, [4, 9], {"highway": "service", "access": "private"}),
    (21, [1, 3, 4, 1], {"building": "yes"}),
]


def osm_xml(
    ways: list[tuple[int, list[int], dict[str, str]]] = WAYS, nodes: dict[int, tuple[float, float]] = NODES
) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for nid, (lon, lat) in nodes.items():
        lines.append(f'  <node id="{nid}" version="1" lat="{lat}" lon="{lon}"/>')
    for wid, refs, tags in ways:
        lines.append(f'  <way id="{wid}" version="1">')
        lines.extend(f'    <nd ref="{r}"/>' for r in refs)
        lines.extend(f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items())
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def handmade(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("handmade")
    osm = folder / "strassen.osm"
    osm.write_text(osm_xml(), encoding="utf-8")
    osm_bz2 = folder / "strassen.osm.bz2"
    osm_bz2.write_bytes(bz2.compress(osm.read_bytes()))
    pbf = xml_to_pbf(osm, folder / "strassen.osm.pbf")
    return {"osm": osm, "bz2": osm_bz2, "pbf": pbf}


def test_walk_ignores_oneway(handmade: dict[str, Path]) -> None:
    net = load_street_network(handmade["osm"], mode="fuss")
    assert set(net.node_ids.tolist()) == {1, 2, 3, 4, 5, 6, 8}  # no motorway, private
    edges = edge_set(net)
    assert {(1, 2), (2, 1), (2, 5), (5, 2), (5, 6), (6, 5), (5, 8), (8, 5)} <= edges
    assert (6, 8) not in edges and (8, 6) not in edges  # cycleway is not walkable
    # symmetric graph
    assert all((b, a) in edges for a, b in edges)
    t = street_times(net, [node_index(net, 2)], speed_m_s=1.0)[0]
    ab = net.length_m[np.flatnonzero(edges_from(net, 2) == node_index(net, 1))][0]
    assert t[node_index(net, 1)] == pytest.approx(ab)


def edges_from(net: StreetNetwork, osm_id: int) -> np.ndarray:
    i = node_index(net, osm_id)
    return net.indices[net.indptr[i] : net.indptr[i + 1]]


def test_bike_respects_oneway(handmade: dict[str, Path]) -> None:
    net = load_street_network(handmade["osm"], mode="rad")
    assert set(net.node_ids.tolist()) == {1, 2, 3, 4, 5, 6, 8}
    edges = edge_set(net)
    assert (1, 2) in edges and (2, 1) not in edges  # oneway=yes
    assert (2, 5) in edges and (5, 2) in edges  # oneway:bicycle=no
    assert (6, 5) in edges and (5, 6) not in edges  # oneway=-1
    assert (6, 8) in edges and (8, 6) in edges  # cycleway
    assert (5, 8) not in edges  # footway is not for bikes
    b, a = node_index(net, 2), node_index(net, 1)
    t = street_times(net, [b], speed_m_s=1.0)[0]
    lengths = {
        (int(net.node_ids[i]), int(net.node_ids[j])): net.length_m[k]
        for i in range(net.n_nodes)
        for k, j in zip(
            range(net.indptr[i], net.indptr[i + 1]),
            net.indices[net.indptr[i] : net.indptr[i + 1]],
            strict=True,
        )
    }
    detour = lengths[(2, 3)] + lengths[(3, 4)] + lengths[(4, 1)]
    assert t[a] == pytest.approx(detour)
    assert t[a] > lengths[(1, 2)] * 1.5
    # reverse: times from every node TO B; A reaches B directly
    back = street_times(net, [b], speed_m_s=1.0, reverse=True)[0]
    assert back[a] == pytest.approx(lengths[(1, 2)])


@pytest.mark.parametrize("mode", ["fuss", "rad"])
def test_bz2_and_pbf_match_plain_xml(handmade: dict[str, Path], mode: str) -> None:
    plain = load_street_network(handmade["osm"], mode=mode)
    for other in (handmade["bz2"], handmade["pbf"]):
        net = load_street_network(other, mode=mode)
        assert np.array_equal(net.node_ids, plain.node_ids)
        assert np.array_equal(net.indptr, plain.indptr)
        assert np.array_equal(net.indices, plain.indices)
        np.testing.assert_allclose(net.length_m, plain.length_m, rtol=1e-12)
        np.testing.assert_allclose(net.x, plain.x, rtol=1e-12)


def test_coordinates_are_utm32(handmade: dict[str, Path]) -> None:
    net = load_street_network(handmade["pbf"], mode="fuss")
    x, y = TO_UTM.transform(*NODES[1])
    i = node_index(net, 1)
    assert net.x[i] == pytest.approx(x, abs=1e-6)
    assert net.y[i] == pytest.approx(y, abs=1e-6)
    # great-circle length of A-D (0.001° latitude ≈ 111.2 m)
    d = node_index(net, 4)
    k = net.indptr[i] + int(np.flatnonzero(net.indices[net.indptr[i] : net.indptr[i + 1]] == d)[0])
    assert net.length_m[k] == pytest.approx(111.2, abs=0.2)


def test_largest_component_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ways = [*WAYS, (30, [7, 9], {"highway": "residential"})]  # isolated street
    path = tmp_path / "insel.osm"
    path.write_text(osm_xml(ways), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="coverage.network.load"):
        net = load_street_network(path, mode="fuss")
    assert 7 not in net.node_ids and 9 not in net.node_ids
    text = caplog.text
    assert "2 von 9 Knoten verworfen" in text
    assert "Straßennetz (fuss): 7 Knoten" in text


def test_empty_network_raises(tmp_path: Path) -> None:
    path = tmp_path / "leer.osm"
    path.write_text(osm_xml([(17, [1, 7], {"highway": "motorway"})]), encoding="utf-8")
    with pytest.raises(NetworkError, match="keine für Fußwege nutzbaren"):
        load_street_network(path, mode="fuss")
    broken = tmp_path / "kaputt.osm.pbf"
    broken.write_bytes(b"das ist kein pbf")
    with pytest.raises(NetworkError, match="konnte nicht gelesen werden"):
        load_street_network(broken, mode="fuss")


def test_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    missing = tmp_path / "fehlt.osm.pbf"
    with pytest.raises(InputDataError, match="nicht gefunden") as info:
        load_street_network(missing, mode="fuss")
    assert info.value.file == str(missing)
    assert isinstance(info.value, KursatlasError)
    other = tmp_path / "netz.shp"
    other.write_text("x")
    with pytest.raises(InputDataError, match="Unbekanntes Format"):
        load_street_network(other, mode="fuss")
    with pytest.raises(ConfigError, match="Verkehrsmodus"):
        load_street_network(HELSINKI_PBF, mode="auto")
    with pytest.raises(CRSError, match="EPSG:25832"):
        load_street_network(HELSINKI_PBF, mode="fuss", boundary=box(24.9, 60.1, 25.0, 60.2))
    with pytest.raises(ConfigError, match="boundary"):
        load_street_network("download", mode="fuss")


# ------------------------------------------------------------------ real PBF


def helsinki_boundary() -> tuple[object, tuple[float, float, float, float]]:
    cx, cy = TO_UTM.transform(24.944, 60.171)
    area = box(cx - 250, cy - 250, cx + 250, cy + 250)
    return area, area.buffer(150).bounds


@pytest.fixture(scope="module")
def helsinki() -> dict[str, StreetNetwork]:
    area, _ = helsinki_boundary()
    out = {}
    for mode in ("fuss", "rad"):
        out[mode] = load_street_network(HELSINKI_PBF, mode=mode)
        out[mode + "_clip"] = load_street_network(HELSINKI_PBF, mode=mode, boundary=area, buffer_m=150.0)
    return out


@pytest.mark.parametrize("mode", ["fuss", "rad"])
def test_helsinki_pbf_clip(helsinki: dict[str, StreetNetwork], mode: str) -> None:
    full, clip = helsinki[mode], helsinki[mode + "_clip"]
    assert full.mode == clip.mode == mode
    assert full.n_nodes > 2000
    assert 50 < clip.n_nodes < full.n_nodes
    assert set(clip.node_ids.tolist()) <= set(full.node_ids.tolist())
    assert clip.node_ids.dtype == np.int64 and clip.x.dtype == np.float64
    # nodes belong to ways touching the buffered box: most lie inside it
    _, (minx, miny, maxx, maxy) = helsinki_boundary()
    inside = (clip.x >= minx) & (clip.x <= maxx) & (clip.y >= miny) & (clip.y <= maxy)
    assert inside.mean() > 0.5
    # connected: every node reachable from node 0 (strongly for bikes)
    t = street_times(clip, [0], speed_m_s=1.0)
    back = street_times(clip, [0], speed_m_s=1.0, reverse=True)
    assert np.isfinite(t).all() and np.isfinite(back).all()


@pytest.mark.parametrize("mode", ["fuss", "rad"])
def test_helsinki_times_equal_networkx(helsinki: dict[str, StreetNetwork], mode: str) -> None:
    net = helsinki[mode]
    speed = 1.4 if mode == "fuss" else 4.2
    graph = to_networkx(net, speed)
    rng = np.random.default_rng(7)
    sources = rng.choice(net.n_nodes, size=4, replace=False).tolist()
    expected = nx_times(graph, sources, net.n_nodes)
    np.testing.assert_allclose(street_times(net, sources, speed_m_s=speed), expected, rtol=1e-12, atol=1e-9)
    expected_rev = nx_times(graph.reverse(copy=True), sources, net.n_nodes)
    got_rev = street_times(net, sources, speed_m_s=speed, reverse=True)
    np.testing.assert_allclose(got_rev, expected_rev, rtol=1e-12, atol=1e-9)
    if mode == "rad":
        assert not np.allclose(got_rev, expected)  # one-way streets matter


def test_helsinki_oneway_streets(helsinki: dict[str, StreetNetwork]) -> None:
    """Consecutive nodes of plain one-way streets: one direction for bikes, two on foot."""
    pairs: dict[tuple[int, int], int] = {}
    oneway_pairs: list[tuple[int, int]] = []
    for way in osmium.FileProcessor(str(HELSINKI_PBF), osmium.osm.WAY).with_filter(osmium.filter.KeyFilter("highway")):
        refs = [n.ref for n in way.nodes]
        tags = {t.k: t.v for t in way.tags}
        for a, b in itertools.pairwise(refs):
            key = (min(a, b), max(a, b))
            pairs[key] = pairs.get(key, 0) + 1
            if (
                tags.get("oneway") == "yes"
                and tags["highway"] in {"residential", "tertiary", "secondary", "primary"}
                and not any(k.startswith(("cycleway", "oneway:", "bicycle", "access")) for k in tags)
            ):
                oneway_pairs.append((a, b))
    bike, walk = edge_set(helsinki["rad"]), edge_set(helsinki["fuss"])
    bike_nodes, walk_nodes = set(helsinki["rad"].node_ids), set(helsinki["fuss"].node_ids)
    checked = 0
    for a, b in oneway_pairs:
        if pairs[(min(a, b), max(a, b))] != 1:
            continue
        if a in bike_nodes and b in bike_nodes:
            assert (a, b) in bike and (b, a) not in bike
            checked += 1
        if a in walk_nodes and b in walk_nodes:
            assert (a, b) in walk and (b, a) in walk
    assert checked > 50


def test_helsinki_xml_reader_matches_pbf_reader(tmp_path: Path) -> None:
    """osmnx (XML) and pyosmium (PBF) readers give identical networks."""
    area, _ = helsinki_boundary()
    minx, miny, maxx, maxy = area.bounds
    to_wgs = Transformer.from_crs("EPSG:25832", "EPSG:4326", always_xy=True)
    lon0, lat0 = to_wgs.transform(minx, miny)
    lon1, lat1 = to_wgs.transform(maxx, maxy)
    nodes: dict[int, tuple[float, float]] = {}
    ways = []
    processor = (
        osmium.FileProcessor(str(HELSINKI_PBF), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for way in processor:
        locs = [(n.ref, n.location) for n in way.nodes]
        if not all(loc.valid() for _, loc in locs):
            continue
        if not any(lon0 <= loc.lon <= lon1 and lat0 <= loc.lat <= lat1 for _, loc in locs):
            continue
        nodes.update((ref, (loc.lon, loc.lat)) for ref, loc in locs)
        tags = {t.k: t.v for t in way.tags}
        ways.append(osmium.osm.mutable.Way(id=way.id, nodes=[r for r, _ in locs], tags=tags))
    xml = tmp_path / "ausschnitt.osm.bz2"
    with osmium.SimpleWriter(str(xml)) as writer:
        for ref in sorted(nodes):
            writer.add_node(osmium.osm.mutable.Node(id=ref, location=nodes[ref]))
        for way in ways:
            writer.add_way(way)
    pbf = xml_to_pbf(xml, tmp_path / "ausschnitt.osm.pbf")
    for mode in ("fuss", "rad"):
        a = load_street_network(xml, mode=mode)
        b = load_street_network(pbf, mode=mode)
        assert a.n_nodes > 150
        assert np.array_equal(a.node_ids, b.node_ids)
        assert np.array_equal(a.indptr, b.indptr)
        assert np.array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.length_m, b.length_m, rtol=1e-12)


# ------------------------------------------------------------------ random graphs


@st.composite
def random_graphs(draw: st.DrawFn) -> tuple[str, int, list[tuple[int, int, float]]]:
    n = draw(st.integers(1, 12))
    edge = st.tuples(
        st.integers(0, n - 1),
        st.integers(0, n - 1),
        st.one_of(st.just(0.0), st.integers(1, 50).map(float), st.floats(0.0, 500.0)),
    )
    edges = draw(st.lists(edge, max_size=40))
    mode = draw(st.sampled_from(["fuss", "rad"]))
    return mode, n, edges


@settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=random_graphs(), speed=st.sampled_from([1.0, 1.25, 4.0]))
def test_random_graphs_equal_networkx(case: tuple[str, int, list[tuple[int, int, float]]], speed: float) -> None:
    mode, n, edges = case
    u = [e[0] for e in edges]
    v = [e[1] for e in edges]
    lengths = [e[2] for e in edges]
    net = StreetNetwork.from_edges(
        mode=mode,
        node_ids=np.arange(100, 100 + n),
        x=np.arange(n, dtype=float),
        y=np.zeros(n),
        u=u,
        v=v,
        length_m=lengths,
        largest_component=False,
    )
    # independent networkx graph: shortest parallel edge, no self-loops
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    for a, b, length in edges:
        if a == b:
            continue
        for p, q in [(a, b), (b, a)] if mode == "fuss" else [(a, b)]:
            w = length / speed
            if not graph.has_edge(p, q) or graph[p][q]["weight"] > w:
                graph.add_edge(p, q, weight=w)
    assert net.n_edges == graph.number_of_edges()
    sources = list(range(n))
    expected = nx_times(graph, sources, n)
    np.testing.assert_allclose(street_times(net, sources, speed_m_s=speed), expected, rtol=1e-12, atol=1e-9)
    expected_rev = nx_times(graph.reverse(copy=True), sources, n)
    np.testing.assert_allclose(
        street_times(net, sources, speed_m_s=speed, reverse=True),
        expected_rev,
        rtol=1e-12,
        atol=1e-9,
    )
    limit = 60.0
    sparse = street_times_sparse(net, sources, speed_m_s=speed, limit_s=limit)
    dense = np.where(expected <= limit, expected, np.inf)
    assert sparse.nnz == int(np.isfinite(dense).sum())
    rows, cols = sparse.nonzero()
    np.testing.assert_allclose(
        np.asarray(sparse[rows, cols]).ravel() - SPARSE_TIME_OFFSET_S,
        dense[rows, cols],
        atol=1e-9,
    )


# ------------------------------------------------------------------ sparse, snapping, grid


def test_street_times_sparse_chunks_and_zero_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    net = grid_network(30, 20, mode="rad", drop_fraction=0.2, seed=3)
    sources = np.array([0, 5, 5, net.n_nodes - 1, 17, 42, 99])
    dense = street_times(net, sources, speed_m_s=4.0, limit_s=300.0)
    monkeypatch.setattr(network_module, "_CHUNK_CELLS", 2 * net.n_nodes)  # chunks of 2
    sparse = street_times_sparse(net, sources, speed_m_s=4.0, limit_s=300.0)
    assert isinstance(sparse, sp.csr_matrix)
    assert sparse.shape == (sources.size, net.n_nodes)
    assert sparse.nnz == int(np.isfinite(dense).sum())
    sparse.eliminate_zeros()  # must not remove the 0-second source entries
    for row, s in enumerate(sources):
        assert sparse[row, s] == pytest.approx(SPARSE_TIME_OFFSET_S, abs=1e-15)
    back = sparse.toarray()
    back[back == 0] = np.inf
    np.testing.assert_allclose(back - SPARSE_TIME_OFFSET_S, dense, atol=1e-8)
    empty = street_times_sparse(net, [], speed_m_s=4.0, limit_s=10.0)
    assert empty.shape == (0, net.n_nodes)


def test_grid_network() -> None:
    net = grid_network(4, 3, spacing_m=50.0, origin=(400000.0, 5700000.0))
    assert net.n_nodes == 12 and net.n_edges == 2 * (3 * 3 + 4 * 2)
    assert net.x[5] == 400050.0 and net.y[5] == 5700050.0
    t = street_times(net, [0], speed_m_s=1.0)[0]
    assert t[11] == pytest.approx(50.0 * (3 + 2))
    thinned = grid_network(40, 40, drop_fraction=0.3, seed=1, mode="rad")
    assert 0 < thinned.n_nodes <= 1600
    assert np.isfinite(street_times(thinned, [0], speed_m_s=1.0)).all()
    assert not thinned.x.flags.writeable
    with pytest.raises(ConfigError):
        thinned.csr(0.0)
    m = thinned.csr(2.0)
    assert m.shape == (thinned.n_nodes, thinned.n_nodes)
    np.testing.assert_allclose(m.data, thinned.length_m / 2.0)


def test_snap_flags_far_points() -> None:
    net = grid_network(10, 10, spacing_m=100.0, origin=(0.0, 0.0))
    x = np.array([0.0, 140.0, 460.0, 5000.0])
    y = np.array([0.0, 30.0, 420.0, 5000.0])
    result = snap(net, x, y, max_distance_m=60.0)
    assert result.node.dtype == np.int64
    assert result.node.tolist() == [0, 1, 5 + 4 * 10, 99]
    np.testing.assert_allclose(result.distance_m[:3], [0.0, np.hypot(40, 30), np.hypot(40, 20)])
    assert result.too_far.tolist() == [False, False, False, True]
    assert result.distance_m[3] == pytest.approx(np.hypot(4100, 4100))
    assert net._kdtree is net._kdtree  # built once
    with pytest.raises(InputDataError):
        snap(net, [np.nan], [0.0], max_distance_m=10.0)
    with pytest.raises(InputDataError):
        snap(net, [0.0, 1.0], [0.0], max_distance_m=10.0)
    assert snap(net, [], [], max_distance_m=1.0).node.size == 0


# ------------------------------------------------------------------ download cache


def test_download_cache(handmade: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import osmnx as ox

    calls: list[dict[str, object]] = []

    def fake_graph_from_polygon(polygon, *, network_type, simplify, retain_all):
        calls.append(
            {
                "network_type": network_type,
                "bounds": polygon.bounds,
                "cache_folder": str(ox.settings.cache_folder),
                "retain_all": retain_all,
            }
        )
        return ox.graph_from_xml(
            handmade["osm"],
            bidirectional=network_type == "walk",
            simplify=simplify,
            retain_all=True,
        )

    monkeypatch.setattr(ox, "graph_from_polygon", fake_graph_from_polygon)
    x0, y0 = TO_UTM.transform(9.0, 51.0)
    x1, y1 = TO_UTM.transform(9.006, 51.002)
    area = box(x0, y0, x1, y1)
    cache = tmp_path / "cache"
    folder_before = ox.settings.cache_folder
    for mode, network_type in (("fuss", "walk"), ("rad", "bike")):
        first = load_street_network("download", mode=mode, boundary=area, cache_dir=cache)
        assert calls[-1]["network_type"] == network_type
        assert calls[-1]["retain_all"] is False
        assert calls[-1]["cache_folder"] == str(cache / "osmnx")
        minx, miny, maxx, maxy = calls[-1]["bounds"]  # type: ignore[misc]
        assert 8.9 < minx < 9.0 and 50.9 < miny < 51.0
        assert 9.006 < maxx < 9.1 and 51.002 < maxy < 51.1
        assert ox.settings.cache_folder == folder_before
        n_calls = len(calls)
        second = load_street_network("download", mode=mode, boundary=area, cache_dir=cache)
        assert len(calls) == n_calls  # served from the network cache
        for name in ("node_ids", "x", "y", "indptr", "indices", "length_m"):
            assert np.array_equal(getattr(first, name), getattr(second, name))
        assert second.mode == mode
        reference = load_street_network(handmade["osm"], mode=mode)
        assert np.array_equal(first.indices, reference.indices)
    assert len(list(cache.glob("strassennetz/*.kcache"))) == 2
    # another buffer is another cache entry
    load_street_network("download", mode="fuss", boundary=area, buffer_m=500.0, cache_dir=cache)
    assert len(calls) == 3


def test_download_failure_is_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import osmnx as ox

    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no route to host")

    monkeypatch.setattr(ox, "graph_from_polygon", offline)
    area = box(500000, 5600000, 501000, 5601000)
    with pytest.raises(NetworkError, match="nicht heruntergeladen"):
        load_street_network("download", mode="rad", boundary=area)


def test_pbf_prefilter_does_not_change_clip(monkeypatch: pytest.MonkeyPatch) -> None:
    area, _ = helsinki_boundary()
    clipped = load_street_network(HELSINKI_PBF, mode="rad", boundary=area, buffer_m=150.0)
    monkeypatch.setattr(network_load, "_lonlat_bounds", lambda geometry: (-180.0, -90.0, 180.0, 90.0))
    unfiltered = load_street_network(HELSINKI_PBF, mode="rad", boundary=area, buffer_m=150.0)
    assert np.array_equal(clipped.node_ids, unfiltered.node_ids)
    assert np.array_equal(clipped.indices, unfiltered.indices)


def test_file_cache(handmade: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import coverage.network._osm as osm_module

    pbf = tmp_path / "netz.osm.pbf"
    pbf.write_bytes(handmade["pbf"].read_bytes())
    cache = tmp_path / "cache"
    first = load_street_network(pbf, mode="rad", cache_dir=cache)
    assert len(list(cache.glob("strassennetz/*.kcache"))) == 1

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("file read although cached")

    monkeypatch.setattr(osm_module, "read_ways", fail)
    second = load_street_network(pbf, mode="rad", cache_dir=cache)
    assert np.array_equal(first.indices, second.indices)
    assert np.array_equal(first.length_m, second.length_m)
    # another mode or a changed file is a new cache entry
    with pytest.raises(AssertionError, match="although cached"):
        load_street_network(pbf, mode="fuss", cache_dir=cache)
    monkeypatch.undo()
    # a damaged entry is rebuilt, never a permanent error
    next(cache.glob("strassennetz/*.kcache")).write_bytes(b"kaputt")
    third = load_street_network(pbf, mode="rad", cache_dir=cache)
    assert np.array_equal(first.indices, third.indices)
