"""One pass over an OSM file for both modes, the network cache and damaged OSM files.

The reference is the per-mode reader as it was before the one-pass reader
(``legacy_read``, written out here: every way and every node through Python, a
dict of coordinates); both networks from :func:`load_street_networks` must equal
what that reader and :func:`coverage.network.load._assemble` give, array for array.
"""

from __future__ import annotations

import bz2
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import osmium
import pytest
from pyproj import Transformer
from shapely.geometry import box

import coverage.network._osm as osm_module
import coverage.network.load as network_load
from coverage.cache.store import Cache, file_xxh128
from coverage.errors import NetworkError
from coverage.network import StreetNetwork, load_street_network, load_street_networks
from coverage.network._osm import EdgeList, _edge_list_from_raw, format_count, way_allowed, way_directions
from coverage.traveltime import load_networks

from .test_network import NODES as BASE_NODES
from .test_network import WAYS as BASE_WAYS
from .test_network import osm_xml, xml_to_pbf

ROOT = Path(__file__).resolve().parents[1]
HELSINKI_PBF = Path(__file__).parent / "data" / "helsinki_test.osm.pbf"
MODEL_OSM = ROOT / "data" / "rotenburg" / "strassennetz.osm.bz2"
COUNTY = ROOT / "data" / "rotenburg" / "quellen" / "vg5000_rotenburg_wuemme.gpkg"
FIELDS = ("node_ids", "x", "y", "indptr", "indices", "length_m")
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)


# ------------------------------------------------------------------ reference


def legacy_read(path: Path, *, mode: str, bbox_lonlat: tuple[float, float, float, float] | None) -> EdgeList:
    """The per-mode reader before the one-pass reader (every node through Python)."""
    us: list[int] = []
    vs: list[int] = []
    ways: list[int] = []
    coords: dict[int, tuple[float, float]] = {}
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    for way in processor:
        tags = {tag.k: tag.v for tag in way.tags}
        if not way_allowed(tags, mode):
            continue
        if bbox_lonlat is not None:
            x0, y0, x1, y1 = bbox_lonlat
            if not any(
                n.location.valid() and x0 <= n.location.lon <= x1 and y0 <= n.location.lat <= y1 for n in way.nodes
            ):
                continue
        forward, backward = way_directions(tags, mode)
        pairs: list[tuple[int, int]] = []
        previous = None
        for node in way.nodes:
            if not node.location.valid():
                previous = None
                continue
            coords[node.ref] = (node.location.lon, node.location.lat)
            if previous is not None:
                pairs.append((previous, node.ref))
            previous = node.ref
        if forward:
            us.extend(a for a, _ in pairs)
            vs.extend(b for _, b in pairs)
            ways.extend([way.id] * len(pairs))
        if backward:
            us.extend(b for _, b in pairs)
            vs.extend(a for a, _ in pairs)
            ways.extend([way.id] * len(pairs))
    return _edge_list_from_raw(
        np.asarray(us, dtype=np.int64), np.asarray(vs, dtype=np.int64), np.asarray(ways, dtype=np.int64), coords
    )


def legacy_network(path: Path, *, mode: str, boundary: object = None, buffer_m: float = 2000.0) -> StreetNetwork:
    clip = None if boundary is None else network_load._buffered_boundary(boundary, buffer_m)
    bbox = None if clip is None else network_load._lonlat_bounds(clip)
    edges = legacy_read(path, mode=mode, bbox_lonlat=bbox)
    return network_load._assemble(edges, mode=mode, clip=clip, label=str(path))


def assert_same(a: StreetNetwork, b: StreetNetwork) -> None:
    assert a.mode == b.mode
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y), name


def county_area() -> object:
    county = gpd.read_file(COUNTY, layer="landkreis").to_crs("EPSG:25832")
    return county.geometry.union_all().buffer(15_000.0)


def helsinki_area(half: float = 250.0) -> object:
    cx, cy = TO_UTM.transform(24.944, 60.171)
    return box(cx - half, cy - half, cx + half, cy + half)


# ------------------------------------------------------------------ hand-made files

# the ways of tests/test_network.py plus the cases only the one-pass reader meets
NODES = {**BASE_NODES, 10: (9.050, 51.050), 11: (9.051, 51.050)}
WAYS = [
    *BASE_WAYS,
    # a node outside the extract (99) splits the way; 9-4 is a piece of its own
    (22, [3, 99, 9, 4], {"highway": "path"}),
    (23, [8], {"highway": "residential"}),  # one node: no edge
    (24, [1, 2, 1], {"highway": "residential", "junction": "roundabout"}),  # repeated node
    (25, [10, 11], {"highway": "residential"}),  # far away (dropped by the clip)
]


@pytest.fixture(scope="module")
def handmade(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("einmal")
    osm = folder / "strassen.osm"
    osm.write_text(osm_xml(WAYS, NODES), encoding="utf-8")
    osm_bz2 = folder / "strassen.osm.bz2"
    osm_bz2.write_bytes(bz2.compress(osm.read_bytes()))
    pbf = xml_to_pbf(osm, folder / "strassen.osm.pbf")
    return {"osm": osm, "bz2": osm_bz2, "pbf": pbf}


@pytest.mark.parametrize("kind", ["osm", "bz2", "pbf"])
def test_handmade_one_pass_equals_per_mode_reader(handmade: dict[str, Path], kind: str) -> None:
    path = handmade[kind]
    x0, y0 = TO_UTM.transform(9.0, 51.0)
    area = box(x0, y0, x0 + 300, y0 + 200)
    for boundary in (None, area):
        walk, bike = load_street_networks(path, boundary=boundary, buffer_m=50.0)
        assert_same(walk, legacy_network(path, mode="fuss", boundary=boundary, buffer_m=50.0))
        assert_same(bike, legacy_network(path, mode="rad", boundary=boundary, buffer_m=50.0))
        single = load_street_network(path, mode="rad", boundary=boundary, buffer_m=50.0)
        assert_same(single, bike)
    # the split way: 9-4 is walkable, 3-9 does not exist (node 99 is missing)
    walk, _ = load_street_networks(path)
    rows = np.repeat(np.arange(walk.n_nodes), np.diff(walk.indptr))
    pairs = set(zip(walk.node_ids[rows].tolist(), walk.node_ids[walk.indices].tolist(), strict=True))
    assert (9, 4) in pairs and (4, 9) in pairs and (3, 9) not in pairs


def test_helsinki_one_pass_equals_per_mode_reader() -> None:
    for boundary, buffer_m in ((None, 0.0), (helsinki_area(), 150.0), (helsinki_area(1500.0), 500.0)):
        walk, bike = load_street_networks(HELSINKI_PBF, boundary=boundary, buffer_m=buffer_m)
        assert walk.n_nodes > 50 and bike.n_nodes > 50
        assert_same(walk, legacy_network(HELSINKI_PBF, mode="fuss", boundary=boundary, buffer_m=buffer_m))
        assert_same(bike, legacy_network(HELSINKI_PBF, mode="rad", boundary=boundary, buffer_m=buffer_m))


def test_model_region_one_pass_equals_per_mode_reader() -> None:
    area = county_area()
    walk, bike = load_street_networks(MODEL_OSM, boundary=area, buffer_m=2000.0)
    assert walk.n_nodes > 5000
    assert_same(walk, legacy_network(MODEL_OSM, mode="fuss", boundary=area))
    assert_same(bike, legacy_network(MODEL_OSM, mode="rad", boundary=area))


def test_read_log_and_counts(handmade: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="coverage.network._osm"):
        ways = osm_module.read_ways(handmade["pbf"], bbox_lonlat=(8.99, 50.99, 9.01, 51.01))
    assert ways.n_read == 15  # all highway ways, also the unusable motorway and the far street
    assert 25 not in ways.way.tolist() and 17 not in ways.way.tolist()
    assert "Straßen gelesen" in caplog.text and "im Gebiet" in caplog.text
    assert "Wegknoten ohne Koordinaten" in caplog.text
    assert format_count(2_100_000) == "2,1 Mio."
    assert format_count(85_000) == "85.000"
    assert format_count(7) == "7"


# ------------------------------------------------------------------ cache


def _entry_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("strassennetz/*.kcache"))


def _damage_truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damage_random(path: Path) -> None:
    rng = np.random.default_rng(5)
    path.write_bytes(rng.integers(0, 256, size=path.stat().st_size, dtype=np.uint8).tobytes())


def _damage_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _valid_entry(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Replace the entry by a well-formed cache entry holding other arrays."""
    Cache(path.parent.parent).put(path.parent.name, path.stem, arrays)


def _damage_wrong_arrays(path: Path) -> None:
    _valid_entry(path, {"a": np.arange(3)})


def _damage_wrong_dtype(path: Path) -> None:
    value = Cache(path.parent.parent).get(path.parent.name, path.stem)
    assert isinstance(value, dict)
    value = {k: v.copy() for k, v in value.items()}
    value["indices"] = value["indices"].astype(np.int64)
    _valid_entry(path, value)


def _damage_csr(path: Path) -> None:
    value = Cache(path.parent.parent).get(path.parent.name, path.stem)
    assert isinstance(value, dict)
    value = {k: v.copy() for k, v in value.items()}
    value["indptr"][1] = value["indptr"][-1] + 5
    _valid_entry(path, value)


def _damage_unsorted(path: Path) -> None:
    value = Cache(path.parent.parent).get(path.parent.name, path.stem)
    assert isinstance(value, dict)
    value = {k: v.copy() for k, v in value.items()}
    value["indices"] = value["indices"][::-1].copy()
    _valid_entry(path, value)


def _damage_mode(path: Path) -> None:
    value = Cache(path.parent.parent).get(path.parent.name, path.stem)
    assert isinstance(value, dict)
    value = dict(value)
    value["mode"] = np.array("rad" if str(value["mode"]) == "fuss" else "fuss")
    _valid_entry(path, value)


DAMAGES = {
    "abgeschnitten": _damage_truncate,
    "zufallsbytes": _damage_random,
    "bit_gekippt": _damage_flip,
    "falsche_felder": _damage_wrong_arrays,
    "falscher_typ": _damage_wrong_dtype,
    "csr_inkonsistent": _damage_csr,
    "unsortiert": _damage_unsorted,
    "falscher_modus": _damage_mode,
    "leer": lambda p: p.write_bytes(b""),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_cache_is_rebuilt(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    area = helsinki_area()
    cache = tmp_path / "osm"
    first = load_street_networks(HELSINKI_PBF, boundary=area, buffer_m=150.0, cache_dir=cache)
    files = _entry_files(cache)
    assert len(files) == 2
    target = files[0]
    DAMAGES[damage](target)
    reads: list[Path] = []
    real = osm_module.read_ways

    def counting(path: Path, **kwargs: object) -> object:
        reads.append(path)
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(osm_module, "read_ways", counting)
    with caplog.at_level(logging.WARNING):
        second = load_street_networks(HELSINKI_PBF, boundary=area, buffer_m=150.0, cache_dir=cache)
    assert len(reads) == 1  # rebuilt from the file
    assert "neu berechnet" in caplog.text
    for a, b in zip(first, second, strict=True):
        assert_same(a, b)
    assert _entry_files(cache) == files  # the damaged entry was replaced
    third = load_street_networks(HELSINKI_PBF, boundary=area, buffer_m=150.0, cache_dir=cache)
    assert len(reads) == 1  # and is read again
    for a, b in zip(first, third, strict=True):
        assert_same(a, b)


def test_cache_key_is_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pbf = tmp_path / "land.osm.pbf"
    pbf.write_bytes(HELSINKI_PBF.read_bytes())
    cache = tmp_path / "osm"
    (cache).mkdir()
    (cache / "strassennetz-fuss-alt.npz").write_bytes(b"alter Cache")
    area = helsinki_area()
    load_street_networks(pbf, boundary=area, buffer_m=150.0, cache_dir=cache)
    assert not list(cache.glob("*.npz"))  # the old .npz store is cleared
    reads: list[Path] = []
    real = osm_module.read_ways
    monkeypatch.setattr(osm_module, "read_ways", lambda path, **kw: reads.append(path) or real(path, **kw))
    # the same content under another name and mtime: a hit
    moved = tmp_path / "kopie.osm.pbf"
    moved.write_bytes(pbf.read_bytes())
    load_street_networks(moved, boundary=area, buffer_m=150.0, cache_dir=cache)
    assert reads == []
    # a single mode is served from the same entries
    load_street_network(moved, mode="rad", boundary=area, buffer_m=150.0, cache_dir=cache)
    assert reads == []
    # other area, other buffer: new entries
    load_street_networks(pbf, boundary=area, buffer_m=200.0, cache_dir=cache)
    assert len(reads) == 1
    assert file_xxh128(pbf) == file_xxh128(moved) != file_xxh128(HELSINKI_PBF.parent / "cairns_gtfs_2014.zip")


def test_download_both_modes(handmade: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import osmnx as ox

    calls: list[str] = []
    clean = [w for w in WAYS if w[0] not in (22, 23)]  # osmnx needs every referenced node
    xml = tmp_path / "sauber.osm"
    xml.write_text(osm_xml(clean, NODES), encoding="utf-8")

    def fake(polygon: object, *, network_type: str, simplify: bool, retain_all: bool) -> object:
        calls.append(network_type)
        return ox.graph_from_xml(xml, bidirectional=network_type == "walk", simplify=simplify, retain_all=True)

    monkeypatch.setattr(ox, "graph_from_polygon", fake)
    x0, y0 = TO_UTM.transform(9.0, 51.0)
    area = box(x0, y0, x0 + 400, y0 + 200)
    walk, bike = load_street_networks("download", boundary=area, cache_dir=tmp_path / "osm")
    assert calls == ["walk", "bike"]
    assert (walk.mode, bike.mode) == ("fuss", "rad")
    again = load_street_networks("download", boundary=area, cache_dir=tmp_path / "osm")
    assert calls == ["walk", "bike"]
    assert_same(again[0], walk)
    assert_same(again[1], bike)


def test_load_networks_reads_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[Path] = []
    real = osm_module.read_ways
    monkeypatch.setattr(osm_module, "read_ways", lambda path, **kw: reads.append(path) or real(path, **kw))
    config = SimpleNamespace(osm=HELSINKI_PBF, cache=tmp_path / "cache", gtfs=None)
    region = SimpleNamespace(boundary=helsinki_area(), area=helsinki_area())
    nets = load_networks(config, region)  # type: ignore[arg-type]
    assert reads == [HELSINKI_PBF]
    assert (nets.walk.mode, nets.bike.mode) == ("fuss", "rad")
    assert_same(nets.walk, legacy_network(HELSINKI_PBF, mode="fuss", boundary=helsinki_area()))
    again = load_networks(config, region)  # type: ignore[arg-type]
    assert reads == [HELSINKI_PBF]
    assert again.key == nets.key


# ------------------------------------------------------------------ damaged OSM files


@pytest.mark.parametrize("source", [HELSINKI_PBF, MODEL_OSM], ids=["pbf", "osm_bz2"])
@pytest.mark.parametrize("fraction", [0.3, 0.7])
def test_truncated_osm_file_is_a_clear_error(source: Path, fraction: float, tmp_path: Path) -> None:
    data = source.read_bytes()
    broken = tmp_path / f"abgeschnitten{''.join(source.suffixes)}"
    broken.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(NetworkError, match="abgeschnitten oder beschädigt") as info:
        load_street_networks(broken, cache_dir=tmp_path / "osm")
    assert str(broken) in str(info.value)
    with pytest.raises(NetworkError, match="abgeschnitten oder beschädigt"):
        load_street_network(broken, mode="rad")


def test_garbage_osm_file(tmp_path: Path) -> None:
    broken = tmp_path / "kaputt.osm.pbf"
    broken.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(NetworkError, match="konnte nicht gelesen werden"):
        load_street_networks(broken)


# ------------------------------------------------------------------ generator


def test_generated_land_embeds_model_region(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from _gen_pbf import write_land_pbf
    finally:
        sys.path.remove(str(ROOT / "bench"))
    out = tmp_path / "land.osm.pbf"
    info = write_land_pbf(out, base_osm=MODEL_OSM, n_nodes=150_000, seed=3, chunk_nodes=60_000)
    assert info["nodes"] > 150_000 and info["street_ways"] > 1000
    # sorted: nodes by id, then ways by id; ids sparse up to ~12e9
    last = {"n": 0, "w": 0}
    seen_way = False
    for obj in osmium.FileProcessor(str(out)):
        kind = obj.type_str()
        assert obj.id > last[kind]
        last[kind] = obj.id
        if kind == "w":
            seen_way = True
        else:
            assert not seen_way
    assert last["n"] > 10_000_000_000
    # same seed, same file
    again = tmp_path / "land2.osm.pbf"
    write_land_pbf(again, base_osm=MODEL_OSM, n_nodes=150_000, seed=3, chunk_nodes=60_000)
    assert file_xxh128(again) == file_xxh128(out)
    area = county_area()
    big = load_street_networks(out, boundary=area)
    direct = load_street_networks(MODEL_OSM, boundary=area)
    for a, b in zip(big, direct, strict=True):
        assert_same(a, b)


@pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="braucht /proc (Linux)")
def test_file_position_for_the_progress_bar(tmp_path: Path) -> None:
    path = tmp_path / "daten.osm.pbf"
    path.write_bytes(bytes(10_000))
    with open(path, "rb", buffering=0) as fh:
        position = osm_module._FilePosition(path)
        assert position.available
        fh.read(1234)
        assert position.offset() == 1234
    assert not osm_module._FilePosition(tmp_path / "fehlt.osm.pbf").available


def test_progress_counts_the_file_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    import coverage._progress as progress_module

    bars: list[dict[str, object]] = []

    class FakeBar:
        def __init__(self, **kwargs: object) -> None:
            self.info = {**kwargs, "done": 0}
            bars.append(self.info)

        def __enter__(self) -> FakeBar:
            return self

        def __exit__(self, *args: object) -> None:
            return None

        def update(self, n: int) -> None:
            self.info["done"] = int(self.info["done"]) + n  # type: ignore[call-overload]

    monkeypatch.setattr(progress_module, "bar", FakeBar)
    osm_module.read_ways(HELSINKI_PBF)
    assert len(bars) == 1
    assert bars[0]["total"] == bars[0]["done"] == HELSINKI_PBF.stat().st_size
    assert "helsinki_test.osm.pbf" in str(bars[0]["desc"])


def test_file_xxh128_is_the_hash_of_the_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmap

    import xxhash

    import coverage.cache.store as cache_module

    empty = tmp_path / "leer.osm.pbf"
    empty.write_bytes(b"")
    assert file_xxh128(empty) == xxhash.xxh3_128(b"").hexdigest()
    data = np.random.default_rng(2).integers(0, 256, 3_000_001, dtype=np.uint8).tobytes()
    big = tmp_path / "gross.osm.pbf"
    big.write_bytes(data)
    assert file_xxh128(big) == xxhash.xxh3_128(data).hexdigest()
    assert file_xxh128(HELSINKI_PBF) == xxhash.xxh3_128(HELSINKI_PBF.read_bytes()).hexdigest()
    # many small windows (and a last, partial one) give the same hash
    monkeypatch.setattr(cache_module, "_MAP_WINDOW", 3 * mmap.ALLOCATIONGRANULARITY)
    assert file_xxh128(big) == xxhash.xxh3_128(data).hexdigest()
