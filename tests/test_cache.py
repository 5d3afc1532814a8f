"""Content-addressed cache: keys change with every input, bad entries are misses, writes are atomic."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from coverage.cache.store import Cache, code_salt, fingerprint, tree_sha256
from coverage.inputs.config import Parameters

# --------------------------------------------------------------------------- fingerprint


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=4096), pos=st.integers(min_value=0), flip=st.integers(1, 255))
def test_mutating_one_byte_changes_fingerprint(tmp_path: Path, data: bytes, pos: int, flip: int) -> None:
    f = tmp_path / "eingabe.bin"
    f.write_bytes(data)
    before = fingerprint(f, "reisezeiten")
    i = pos % len(data)
    mutated = bytearray(data)
    mutated[i] ^= flip
    f.write_bytes(bytes(mutated))
    assert fingerprint(f, "reisezeiten") != before


_FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@settings(max_examples=40, deadline=None)
@given(a=st.lists(_FINITE, min_size=1, max_size=50), i=st.integers(min_value=0))
def test_changing_one_array_value_changes_fingerprint(a: list[float], i: int) -> None:
    arr = np.array(a)
    other = arr.copy()
    k = i % len(a)
    other[k] = np.nextafter(other[k], np.inf)
    assert fingerprint(arr) != fingerprint(other)


def test_fingerprint_uses_content_not_mtime(tmp_path: Path) -> None:
    f = tmp_path / "kurse.csv"
    f.write_text("a;b\n1;2\n", encoding="utf-8")
    key = fingerprint(f)
    os.utime(f, (1, 1))
    assert fingerprint(f) == key
    g = tmp_path / "kopie.csv"
    g.write_bytes(f.read_bytes())
    assert fingerprint(g) == key  # same content, other name


def test_fingerprint_of_folder_sees_every_file(tmp_path: Path) -> None:
    d = tmp_path / "gtfs"
    d.mkdir()
    (d / "stops.txt").write_text("stop_id\nS1\n")
    (d / "trips.txt").write_text("trip_id\nT1\n")
    key = fingerprint(d)
    (d / "trips.txt").write_text("trip_id\nT2\n")
    assert fingerprint(d) != key
    assert tree_sha256(d) != tree_sha256(d / "stops.txt")


def test_fingerprint_distinguishes_types_and_structure() -> None:
    assert fingerprint(("ab", "c")) != fingerprint(("a", "bc"))
    assert fingerprint(np.zeros(3, np.int32)) != fingerprint(np.zeros(3, np.int64))
    assert fingerprint(np.zeros(6)) != fingerprint(np.zeros((2, 3)))
    assert fingerprint(1) != fingerprint(1.0) != fingerprint("1")
    assert fingerprint(0.0) != fingerprint(-0.0)
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})


def test_fingerprint_of_parameters() -> None:
    p = Parameters()
    assert fingerprint(p) == fingerprint(Parameters())
    assert fingerprint(p) != fingerprint(replace(p, geh_m_s=p.geh_m_s + 1e-9))
    assert fingerprint(p) != fingerprint(p.shifted(5))
    groups = dict(p.gruppen)
    groups["eltern"] = replace(groups["eltern"], modi=("fuss",))
    assert fingerprint(p) != fingerprint(replace(p, gruppen=groups))


def test_fingerprint_of_geodataframe() -> None:
    df = gpd.GeoDataFrame(
        {"kurs_id": ["K1", "K2"], "niveaus": [("A1",), ("A1", "A2")], "beginn": [510, 540]},
        geometry=[Point(1, 2), None],
        crs="EPSG:25832",
    )
    key = fingerprint(df)
    assert fingerprint(df.copy()) == key
    moved = df.copy()
    moved.loc[0, "geometry"] = Point(1, 2.001)
    assert fingerprint(moved) != key
    levels = df.copy()
    levels.at[1, "niveaus"] = ("A2", "A1")
    assert fingerprint(levels) != key
    assert fingerprint(df.set_crs("EPSG:4326", allow_override=True)) != key
    assert fingerprint(pd.DataFrame(df.drop(columns="geometry"))) != key


def test_code_salt_enters_the_key() -> None:
    assert fingerprint("x", code=["coverage.cache.store"]) != fingerprint("x")
    assert code_salt(["coverage.cache.store", "coverage._io"]) == code_salt(["coverage._io", "coverage.cache.store"])
    assert code_salt(["coverage.cache.store"]) != code_salt(["coverage._io"])


def test_fingerprint_rejects_unknown_types(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        fingerprint(object())
    with pytest.raises(FileNotFoundError):
        fingerprint(tmp_path / "fehlt.csv")


# --------------------------------------------------------------------------- cache


def test_roundtrip_single_and_dict(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    key = fingerprint("k")
    assert cache.get("reisezeiten", key) is None
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.put("reisezeiten", key, a)
    got = cache.get("reisezeiten", key)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_array_equal(got, a)
    d = {"indptr": np.array([0, 1, 2]), "indices": np.array([1, 0], np.int32), "data": np.array([3.5, np.inf])}
    cache.put("zugang", key, d)
    got_d = cache.get("zugang", key)
    assert set(got_d) == set(d)
    for k in d:
        np.testing.assert_array_equal(got_d[k], d[k])
    assert cache.hits == 2 and cache.misses == 1


def test_put_refuses_objects_and_bad_names(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    with pytest.raises(TypeError):
        cache.put("x", "k", np.array(["a", None], dtype=object))
    with pytest.raises(TypeError):
        cache.put("x", "k", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cache.put("../x", "k", np.zeros(1))
    with pytest.raises(ValueError):
        cache.put("x", "k", {"__sha256__": np.zeros(1)})


def _corrupt_flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    # flip a byte inside the first array's data (after the zip and npy headers)
    raw[len(raw) // 4] ^= 0xFF
    path.write_bytes(bytes(raw))


def _corrupt_truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"kein npz")


def _corrupt_empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("corrupt", [_corrupt_flip, _corrupt_truncate, _corrupt_garbage, _corrupt_empty])
def test_corrupted_entry_is_detected_deleted_and_rebuilt(
    tmp_path: Path, corrupt, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(tmp_path)
    key = fingerprint("k")
    value = np.random.default_rng(0).random((50, 40))
    path = cache.put("reisezeiten", key, value)
    corrupt(path)
    with caplog.at_level(logging.WARNING, logger="coverage.cache.store"):
        assert cache.get("reisezeiten", key) is None
    assert "beschädigt" in caplog.text and "neu berechnet" in caplog.text
    assert not path.exists()
    cache.put("reisezeiten", key, value)
    np.testing.assert_array_equal(cache.get("reisezeiten", key), value)


def test_flipped_payload_byte_never_returns_wrong_value(tmp_path: Path) -> None:
    """Every single-byte corruption is either a miss or the exact value (never a silently wrong one)."""
    cache = Cache(tmp_path)
    value = np.arange(64, dtype=np.float64)
    path = cache.put("k", "a", value)
    raw = path.read_bytes()
    for i in range(0, len(raw), 7):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        path.write_bytes(bytes(bad))
        got = cache.get("k", "a")
        assert got is None or np.array_equal(got, value)


def test_entry_under_other_key_is_a_miss(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    a = cache.put("k", "a" * 64, np.zeros(3))
    b = cache.path("k", "b" * 64)
    b.parent.mkdir(parents=True, exist_ok=True)
    b.write_bytes(a.read_bytes())
    assert cache.get("k", "b" * 64) is None
    assert not b.exists()


def test_concurrent_put_is_atomic(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    key = "gleich"
    values = [np.full((200, 200), float(i)) for i in range(4)]
    stop = threading.Event()
    seen: list[float] = []
    errors: list[BaseException] = []

    def writer(v: np.ndarray) -> None:
        try:
            for _ in range(15):
                Cache(tmp_path).put("k", key, v)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        c = Cache(tmp_path)
        while not stop.is_set():
            got = c.get("k", key)
            if got is not None:
                if not np.all(got == got.flat[0]):  # pragma: no cover - would be a torn read
                    errors.append(AssertionError("gemischter Inhalt gelesen"))
                seen.append(float(got.flat[0]))

    r = threading.Thread(target=reader)
    r.start()
    ws = [threading.Thread(target=writer, args=(v,)) for v in values]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    stop.set()
    r.join()
    assert not errors
    assert cache.get("k", key) is not None
    assert set(seen) <= {0.0, 1.0, 2.0, 3.0}
    assert not list((tmp_path / "k").glob(".*.tmp"))


def test_prune_keeps_newest_per_kind(tmp_path: Path) -> None:
    cache = Cache(tmp_path, keep={"kurs": 3}, default_keep=1)
    for i in range(5):
        p = cache.put("kurs", f"k{i}", np.array([i]))
        os.utime(p, (1000 + i, 1000 + i))
        q = cache.put("netz", f"n{i}", np.array([i]))
        os.utime(q, (1000 + i, 1000 + i))
    os.utime(cache.path("kurs", "k0"), (5000, 5000))  # recently used
    assert cache.prune() == 2 + 4
    assert sorted(p.stem for p in cache.entries("kurs")) == ["k0", "k3", "k4"]
    assert [p.stem for p in cache.entries("netz")] == ["n4"]


def test_prune_max_bytes(tmp_path: Path) -> None:
    cache = Cache(tmp_path, default_keep=100, max_bytes=3000)
    for i in range(5):
        p = cache.put("k", f"e{i}", np.zeros(100))
        os.utime(p, (1000 + i, 1000 + i))
    cache.prune()
    assert sum(p.stat().st_size for p in cache.entries()) <= 3000
    assert cache.get("k", "e4") is not None


# --------------------------------------------------------------------------- entry format


def test_roundtrip_of_all_plain_dtypes_and_shapes(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    value = {
        "f4": np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],  # not contiguous
        "inf": np.array([np.inf, -np.inf, np.nan, -0.0]),
        "be": np.arange(5, dtype=">i8"),
        "b": np.array([True, False, True]),
        "s": np.array([b"abc", b"de"], dtype="S64"),
        "u": np.array(["Zeven", "Bremervörde"]),
        "d": np.array(["2027-02-01", "2027-06-30"], dtype="datetime64[D]"),
        "null_d": np.array(3.5),
        "leer": np.zeros((0, 4), dtype=np.int32),
    }
    cache.put("k", "x", value)
    got = cache.get("k", "x")
    assert set(got) == set(value)
    for name, arr in value.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape, name
        np.testing.assert_array_equal(got[name], arr)
    with pytest.raises(TypeError):
        cache.put("k", "y", {"rec": np.zeros(2, dtype=[("a", "f8"), ("b", "i4")])})


def test_mapped_entry_is_verified_read_only_and_closed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = Cache(tmp_path)
    value = {"hin": np.random.default_rng(1).random((3, 50, 7)).astype(np.float32), "kurse": np.array([b"a"] * 7)}
    path = cache.put("block", "b", value)
    with cache.mapped("block", "b") as got:
        np.testing.assert_array_equal(got["hin"], value["hin"])
        assert not got["hin"].flags.writeable
        copy = got["hin"].copy()
        del got
    np.testing.assert_array_equal(copy, value["hin"])
    assert cache.hits == 1
    with cache.mapped("block", "fehlt") as got:
        assert got is None
    _corrupt_flip(path)
    with caplog.at_level(logging.WARNING, logger="coverage.cache.store"), cache.mapped("block", "b") as got:
        assert got is None
    assert "beschädigt" in caplog.text and not path.exists()
    assert cache.misses == 2


def test_every_flipped_byte_of_a_mapped_entry_is_a_miss_or_exact(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    value = np.arange(40, dtype=np.float32)
    path = cache.put("k", "a", value)
    raw = path.read_bytes()
    for i in range(0, len(raw), 5):
        bad = bytearray(raw)
        bad[i] ^= 0x04
        path.write_bytes(bytes(bad))
        with cache.mapped("k", "a") as got:
            assert got is None or np.array_equal(got, value)
            del got


def test_entries_of_the_old_npz_format_are_pruned(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put("reisezeiten_kurs", "neu", np.zeros(2))
    old = tmp_path / "reisezeiten_kurs" / "alt.npz"
    np.savez(old, value=np.zeros(2))
    assert cache.entries("reisezeiten_kurs") == [cache.path("reisezeiten_kurs", "neu")]
    assert cache.prune() == 1
    assert not old.exists() and cache.get("reisezeiten_kurs", "neu") is not None


def test_fingerprint_of_object_arrays_of_text() -> None:
    ids = np.array(["o1", "o2", "o3"], dtype=object)
    assert fingerprint(ids) == fingerprint(ids.copy())
    assert fingerprint(ids) != fingerprint(np.array(["o1", "o2", "o4"], dtype=object))
    assert fingerprint(np.array(["ab", "c"], dtype=object)) != fingerprint(np.array(["a", "bc"], dtype=object))
    assert fingerprint(np.array(["1", "2"], dtype=object)) != fingerprint(np.array([1, 2], dtype=object))
    assert fingerprint(ids) != fingerprint(np.array(["o1", "o2", "o3"]))  # dtype enters


def test_entry_ends_with_its_xxh3_checksum(tmp_path: Path) -> None:
    """The trailer is the XXH3-64 of everything before it; a wrong checksum alone makes the entry a miss."""
    import xxhash

    cache = Cache(tmp_path)
    value = np.arange(100, dtype=np.int64)
    path = cache.put("k", "a", value)
    raw = path.read_bytes()
    assert raw.endswith(b"ENDE")
    assert int.from_bytes(raw[-12:-4], "little") == xxhash.xxh3_64_intdigest(raw[:-12])
    bad = bytearray(raw)
    bad[-12] ^= 0x01  # damage only the stored checksum
    path.write_bytes(bytes(bad))
    assert cache.get("k", "a") is None and not path.exists()
    path = cache.put("k", "a", value)
    with cache.mapped("k", "a") as got:
        np.testing.assert_array_equal(got, value)
        del got


_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=6)  # surrogates and NUL included


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.one_of(_TEXT, st.none()), max_size=8), cuts=st.lists(st.integers(0, 60), max_size=8))
def test_text_fingerprint_is_collision_free_by_construction(items: list[str | None], cuts: list[int]) -> None:
    """Re-cutting the joined text (or turning None into "") changes the fingerprint unless the list is equal."""
    joined = "".join(v for v in items if v is not None)
    bounds = sorted({min(c, len(joined)) for c in cuts})
    other: list[str | None] = [joined[a:b] for a, b in zip([0, *bounds], [*bounds, len(joined)], strict=True)]
    variants = [other, ["" if v is None else v for v in items], [*items, ""], [*items, None]]
    for arr_of in (lambda v: np.array(v, dtype=object), lambda v: pd.Series(v, dtype=object)):
        key = fingerprint(arr_of(items))
        assert fingerprint(arr_of(list(items))) == key  # deterministic
        for v in variants:
            assert (fingerprint(arr_of(v)) == key) == (v == items)


def test_text_fingerprint_fixed_cases() -> None:
    def fp(v: list) -> str:
        return fingerprint(np.array(v, dtype=object))

    assert fp(["ab", "c"]) != fp(["a", "bc"])
    assert fp(["", "a"]) != fp(["a", ""]) != fp(["a"])
    assert fp([None]) != fp([""]) != fp([])
    assert fp(["a\x00"]) != fp(["a"])
    assert fp(["\ud83d\ude00"]) != fp(["\U0001f600"])  # a surrogate pair is not the character it would form
    assert fingerprint(pd.Series(["x", None])) != fingerprint(pd.Series(["x", ""]))


def test_decoded_text_columns_hand_their_codes_to_factorize() -> None:
    """A long text column rebuilt from stored codes: factorize answers with them, equal to pandas' own result."""
    from coverage.cache import _codes
    from coverage.cache._frames import decode_frame, encode_frame
    from coverage.cache.session import Session

    rng = np.random.default_rng(4)
    n = 30_000
    df = pd.DataFrame({
        "herkunft_id": pd.array([f"h{v}" for v in rng.integers(0, 5000, n)], dtype="str"),
        "niveau": pd.array(rng.choice(["A1", "B1", "Alpha"], n).tolist(), dtype="str"),
        "mit_luecke": pd.array([None if v == 0 else f"x{v}" for v in rng.integers(0, 3, n)], dtype="str"),
        "personen": rng.uniform(0, 5, n),
    })
    enc = encode_frame(df, "t.")
    assert enc is not None
    assert len(decode_frame(enc, "t.", session=None).columns) == 4  # without a session nothing is kept
    session = Session()
    back = decode_frame(enc, "t.", session=session)
    pd.testing.assert_frame_equal(back, df)
    assert len(session.codes) == 2  # the two text columns without missing values
    for col in ("herkunft_id", "niveau", "mit_luecke"):
        got = _codes.factorize(back[col], session=session)
        codes, uniques = pd.factorize(back[col].astype(str), use_na_sentinel=False)
        np.testing.assert_array_equal(got[0], codes)
        np.testing.assert_array_equal(got[1], np.asarray(uniques).astype(str))
        assert _codes.factorize(back[col])[0].tolist() == got[0].tolist()  # no session: computed again, same codes
