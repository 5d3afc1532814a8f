"""Disk cache of parsed GTFS feeds: a cached feed equals a fresh one in every field and follows the feed's content."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.cache.store import Cache
from coverage.errors import GTFSError
from coverage.transit import Feed, _gtfscache, gtfs, load_gtfs

from .test_gtfs import BASE, CAIRNS, MON, write_feed

KIND = "fahrplan"


def assert_same_value(a: object, b: object, where: str) -> None:
    """Equal values of equal types, dicts with keys in the same order (recursively)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys differ"
        for k in a:
            assert_same_value(k, k, where)
            assert_same_value(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_value(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_feed(a: Feed, b: Feed) -> None:
    """Every dataclass field of ``b`` equals that of ``a``: frames with dtypes, arrays with dtypes, dicts, lists."""
    for f in dataclasses.fields(Feed):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, pd.DataFrame):
            assert isinstance(y, pd.DataFrame), f.name
            pd.testing.assert_frame_equal(x, y, check_dtype=True, check_exact=True, obj=f.name)
            assert list(x.dtypes) == list(y.dtypes), f.name
        elif isinstance(x, np.ndarray):
            assert isinstance(y, np.ndarray), f.name
            assert x.dtype == y.dtype, f.name
            np.testing.assert_array_equal(x, y, strict=True, err_msg=f.name)
            if x.dtype.hasobject:
                assert [type(v) for v in x.tolist()] == [type(v) for v in y.tolist()], f.name
        else:
            assert_same_value(x, y, f.name)


def _forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object, **_kwargs: object) -> Feed:
        raise AssertionError("the feed was parsed although it is cached")

    monkeypatch.setattr(gtfs, "_parse_gtfs", fail)


def test_cached_cairns_equals_fresh_in_every_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    cache = Cache(tmp_path / "cache")
    fresh = load_gtfs(CAIRNS)
    first = load_gtfs(CAIRNS, cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    assert len(cache.entries(KIND)) == 1
    assert_same_feed(fresh, first)

    _forbid_parsing(monkeypatch)
    with caplog.at_level(logging.INFO, logger="coverage.transit._gtfscache"):
        second = load_gtfs(CAIRNS, cache=cache)
    assert (cache.hits, cache.misses) == (1, 1)
    assert "Fahrplan aus dem Cache geladen" in caplog.text
    assert_same_feed(fresh, second)
    assert second._conn_cache == {}
    # the cached feed behaves like the fresh one
    day = dt.date(2014, 6, 9)
    assert second.service_signature(day) == fresh.service_signature(day)
    pd.testing.assert_frame_equal(second.connections(day).to_frame(), fresh.connections(day).to_frame())
    assert second.stop_index("750010") == fresh.stop_index("750010")
    # the arrays are the feed's own (not views into a shared read buffer) and writable like fresh ones
    arrays = [getattr(second, n) for n in _gtfscache._ARRAY_FIELDS]
    assert all(a.flags.owndata and a.flags.writeable for a in arrays)

    # the key is the content: a copy elsewhere is a hit, and ``path`` is where it was read from now
    copy = tmp_path / "anderswo" / "feed.zip"
    copy.parent.mkdir()
    shutil.copyfile(CAIRNS, copy)
    third = load_gtfs(copy, cache=cache)
    assert cache.hits == 2
    assert third.path == str(copy)
    assert_same_feed(dataclasses.replace(fresh, path=str(copy), _conn_cache={}), third)


@pytest.mark.parametrize("as_zip", [False, True], ids=["ordner", "zip"])
def test_changed_feed_is_never_served_from_the_old_entry(tmp_path: Path, as_zip: bool) -> None:
    cache = Cache(tmp_path / "cache")
    path = write_feed(tmp_path, {}, as_zip=as_zip)
    saved = path.read_bytes() if as_zip else None
    old = load_gtfs(path, cache=cache)
    assert load_gtfs(path, cache=cache).st_arr.tolist() == old.st_arr.tolist()
    assert (cache.hits, cache.misses) == (1, 1)

    # one stop time changed, in place (same path, same size)
    st = BASE["stop_times.txt"].replace("T2,08:20:00,08:20:00", "T2,08:25:00,08:25:00")
    assert write_feed(tmp_path, {"stop_times.txt": st}, as_zip=as_zip) == path
    changed = load_gtfs(path, cache=cache)
    assert cache.misses == 2
    assert_same_feed(load_gtfs(path), changed)
    assert changed.st_arr.tolist() != old.st_arr.tolist()
    assert int(changed.st_arr[-1]) == 8 * 3600 + 25 * 60
    assert len(cache.entries(KIND)) == 2

    # and back: the old content finds its old entry again (a zip written anew would hold new timestamps)
    if saved is not None:
        path.write_bytes(saved)
    else:
        write_feed(tmp_path, {})
    assert_same_feed(old, load_gtfs(path, cache=cache))
    assert cache.hits == 2


def test_strict_flag_and_parser_code_are_part_of_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path / "cache")
    path = write_feed(tmp_path, {})
    load_gtfs(path, cache=cache)
    load_gtfs(path, cache=cache, strict=False)
    assert (cache.hits, cache.misses) == (0, 2)
    key = gtfs._feed_key(path, strict=True)
    monkeypatch.setattr("coverage.cache.keys.code_salt", lambda modules: "geänderter Code")
    assert gtfs._feed_key(path, strict=True) != key
    load_gtfs(path, cache=cache)
    assert (cache.hits, cache.misses) == (0, 3)


def test_corrupt_entry_is_detected_and_the_feed_parsed_again(tmp_path: Path, caplog) -> None:
    cache = Cache(tmp_path / "cache")
    fresh = load_gtfs(CAIRNS)
    load_gtfs(CAIRNS, cache=cache)
    (entry,) = cache.entries(KIND)
    raw = bytearray(entry.read_bytes())
    for pos in (len(raw) // 3, len(raw) // 2, 2 * len(raw) // 3):
        raw[pos] ^= 0xFF
    entry.write_bytes(bytes(raw))

    with caplog.at_level(logging.WARNING, logger="coverage.cache.store"):
        again = load_gtfs(CAIRNS, cache=cache)
    assert "beschädigt" in caplog.text
    assert (cache.hits, cache.misses) == (0, 2)
    assert_same_feed(fresh, again)
    # the damaged entry was replaced by a good one
    assert_same_feed(fresh, load_gtfs(CAIRNS, cache=cache))
    assert cache.hits == 1


def test_unusable_entry_with_valid_checksum_is_parsed_again(tmp_path: Path, caplog) -> None:
    cache = Cache(tmp_path / "cache")
    path = write_feed(tmp_path, {})
    key = gtfs._feed_key(path, strict=True)
    assert key is not None
    cache.put(KIND, key, {"fremd": np.zeros(3)})
    with caplog.at_level(logging.WARNING, logger="coverage.transit._gtfscache"):
        feed = load_gtfs(path, cache=cache)
    assert "unbrauchbar" in caplog.text
    assert_same_feed(load_gtfs(path), feed)
    assert_same_feed(feed, load_gtfs(path, cache=cache))  # stored properly this time


def test_lenient_feed_round_trips_its_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    st = (
        BASE["stop_times.txt"].replace("T2,08:20:00,08:20:00", "T2,07:20:00,07:20:00")  # times decrease
        + "T9,09:00:00,09:00:00,A,1\n"  # unknown trip
        + "T1,08:10:00,08:10:00,C,2\n"  # duplicate (trip_id, stop_sequence): a tuple value
    )
    files = {
        "stop_times.txt": st,
        # a duplicate, a bad latitude, a stop without coordinates
        "stops.txt": BASE["stops.txt"] + "B,Doppelt,51.0,9.0\nD,Dörpstraße ☕,91.0,9.0\nE,Ohne Lage,,\n",
        "calendar_dates.txt": "service_id,date,exception_type\nWD,20240101,2\nWD,20240106,1\nXX,20240107,1\n",
    }
    path = write_feed(tmp_path, files)
    cache = Cache(tmp_path / "cache")
    fresh = load_gtfs(path, strict=False)
    assert any(type(p["value"]) is tuple for p in fresh.problems)
    assert any(p["value"] is None for p in fresh.problems)
    load_gtfs(path, strict=False, cache=cache)
    _forbid_parsing(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="coverage.transit._gtfscache"):
        cached = load_gtfs(path, strict=False, cache=cache)
    assert cache.hits == 1
    assert f"{len(fresh.problems)} Regelverstöße" in caplog.text
    assert cached.problems == fresh.problems
    assert_same_feed(fresh, cached)
    assert cached.connections(MON).to_frame().equals(fresh.connections(MON).to_frame())


def test_feed_that_would_not_come_back_identical_is_not_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path / "cache")
    path = write_feed(tmp_path, {})
    decode = _gtfscache._decode_feed

    def lossy(*args: object, **kwargs: object) -> Feed:
        feed = decode(*args, **kwargs)
        feed.problems.append({"code": "erfunden"})
        return feed

    monkeypatch.setattr(_gtfscache, "_decode_feed", lossy)
    feed = load_gtfs(path, cache=cache)
    assert feed.problems == []
    assert cache.entries(KIND) == []
    monkeypatch.setattr(_gtfscache, "_decode_feed", decode)
    assert _gtfscache._encode_feed(feed) is not None
    # nor a value JSON cannot hold exactly, nor texts numpy would cut (trailing NUL) in a table or an array
    assert _gtfscache._encode_feed(dataclasses.replace(feed, problems=[{"value": np.int64(3)}])) is None
    stops = feed.stops.copy()
    stops.loc[0, "stop_name"] = "Altdorf\x00"
    assert _gtfscache._encode_feed(dataclasses.replace(feed, stops=stops)) is None
    services = feed.service_ids.copy()
    services[0] += "\x00"
    assert _gtfscache._encode_feed(dataclasses.replace(feed, service_ids=services)) is None


def test_missing_feed_raises_as_without_cache(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    with pytest.raises(GTFSError, match="nicht gefunden"):
        load_gtfs(tmp_path / "nope.zip", cache=cache)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"no zip")
    with pytest.raises(GTFSError, match="ZIP"):
        load_gtfs(bad, cache=cache)
    assert cache.entries(KIND) == []
