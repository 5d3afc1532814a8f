"""The cache codec of parsed, validated GTFS feeds and the cached reading (kind :data:`~coverage.transit.gtfs.FEEDS`).

The key (see :func:`coverage.transit.gtfs.load_gtfs`, keyword ``cache``) is the feed's
*content* (zip or folder), ``strict``, the area, the analysis CRS, the library versions
and the source of the parser, of this module and of the table format; a changed feed or
parser is read again. Every field of :class:`~coverage.transit.feed.Feed` is stored as
plain arrays (tables via :mod:`coverage.cache._frames`, ``problems`` as JSON); before
storing, the entry is decoded and compared with the parsed feed field by field, and a feed
that would not come back identical is not stored (:data:`FEED_CODEC`). An entry that does
not decode is deleted and the feed parsed again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from coverage.cache._frames import decode_frame, encode_frame, same_frame
from coverage.cache.kinds import CacheKind, Stored, memoize
from coverage.transit.feed import _WEEKDAY_COLUMNS, ClipSummary, Feed

if TYPE_CHECKING:
    from coverage.cache.store import Cache

__all__ = ["FEED_CODEC", "FeedCodec", "load_cached"]

logger = logging.getLogger(__name__)

_FRAME_FIELDS = (
    "agency",
    "stops",
    "routes",
    "trips",
    "calendar",
    "calendar_dates",
    "frequencies",
    "transfers",
    "transfer_pairs",
)
_ARRAY_FIELDS = (
    "min_transfer_time",
    "st_ptr",
    "st_stop",
    "st_arr",
    "st_dep",
    "st_pickup",
    "st_dropoff",
    "trip_service",
)
_OTHER_FIELDS = (
    "path",
    "problems",
    "service_ids",
    "_stop_index",
    "_calendar_rules",
    "_exceptions",
    "_conn_cache",
    "clip",
)
"""Every field of :class:`Feed`; a feed with other fields is not cached (see :func:`_encode_feed`)."""


class FeedCodec:
    """A :class:`~coverage.transit.feed.Feed` as plain arrays and back (a :class:`~coverage.cache.kinds.Codec`).

    A decoded feed has an empty ``path``: the entry is keyed by the feed's content, so the
    caller sets where the feed was read from this time (see :func:`load_cached`).
    """

    def encode(self, value: Feed) -> dict[str, np.ndarray] | None:
        """Arrays holding every field of ``value``, or None if it would not come back identical."""
        arrays = _encode_feed(value)
        if arrays is None:
            logger.info(
                "Fahrplan %s lässt sich nicht verlustfrei zwischenspeichern; er wird jedes Mal eingelesen", value.path
            )
        return arrays

    def decode(self, stored: Stored) -> Feed | None:
        """The feed of a stored entry, or None (logged) if the entry is unusable."""
        if not isinstance(stored, Mapping):
            logger.warning("Fahrplan-Cache-Eintrag unbrauchbar (keine benannten Felder); der Feed wird neu eingelesen")
            return None
        try:
            return _decode_feed(stored, path="")
        except Exception as exc:  # any failure of an entry means: parse again
            logger.warning("Fahrplan-Cache-Eintrag unbrauchbar (%s); der Feed wird neu eingelesen", exc)
            return None


FEED_CODEC = FeedCodec()
"""The codec of the parsed-feed cache kind."""


class _ChangedWhileRead(Exception):
    """The feed changed while it was parsed: its entry would be stale, so it is not stored."""

    def __init__(self, feed: Feed) -> None:
        super().__init__("Feed während des Einlesens geändert")
        self.feed = feed


def load_cached(
    path: Path,
    *,
    cache: Cache,
    kind: CacheKind[Feed],
    key: Callable[[], str | None],
    parse: Callable[[], Feed],
    clipped: bool = False,
) -> Feed:
    """The feed at ``path`` through ``cache`` (entries of ``kind``), parsed by ``parse()`` on a miss.

    ``key()`` is the feed's key now (None if the feed cannot be read: then ``parse()``
    says what is wrong); it is taken again after parsing, and a feed that changed while
    it was read is not stored. ``clipped`` only words the log line.
    """
    first = key()
    if first is None:  # missing or unreadable: the parser says what is wrong
        return parse()
    parsed: list[Feed] = []

    def compute() -> Feed:
        feed = parse()
        parsed.append(feed)
        if key() != first:
            raise _ChangedWhileRead(feed)
        return feed

    try:
        feed = memoize(cache, kind, first, compute)
    except _ChangedWhileRead as changed:
        logger.info("GTFS-Feed %s wurde während des Einlesens geändert; nicht zwischengespeichert", path)
        return changed.feed
    except OSError as exc:
        if not parsed:  # reading the feed failed
            raise
        logger.warning("Fahrplan nicht im Cache gespeichert (%s)", exc)
        return parsed[0]
    if parsed:
        if cache.path(kind.name, first).exists():
            logger.info(
                "Fahrplan %s im Cache gespeichert%s", path, " (auf das Analysegebiet zugeschnitten)" if clipped else ""
            )
        return feed
    feed.path = str(path)
    if feed.problems:
        n = len(feed.problems)
        logger.warning("GTFS-Feed %s: %d Regelverstöße gefunden (siehe Feed.problems)", path, n)
    logger.info(
        "Fahrplan aus dem Cache geladen (Feed unverändert): %s, %d Haltestellen, %d Fahrten, %d Fahrtabschnitte%s",
        path,
        len(feed.stops),
        len(feed.trips),
        int(feed.st_stop.shape[0]),
        "" if feed.clip is None else f" (Ausschnitt des Analysegebiets aus {feed.clip.trips_read} Fahrten)",
    )
    return feed


def _encode_feed(feed: Feed) -> dict[str, np.ndarray] | None:
    """Plain arrays holding every field of ``feed``, or None if the feed would not come back identical.

    Tables are stored as by :func:`coverage.inputs.load.cached_frames`, numeric arrays as
    they are, ``service_ids`` and the calendar rules and exceptions as tables and
    ``problems`` as JSON. ``_stop_index`` is rebuilt from ``stops`` and
    ``_conn_cache`` starts empty, as after :func:`~coverage.transit.gtfs.load_gtfs`.
    """
    fields = {f.name for f in dataclasses.fields(Feed)}
    if fields != {*_FRAME_FIELDS, *_ARRAY_FIELDS, *_OTHER_FIELDS} or feed._conn_cache:
        return None
    try:
        out: dict[str, np.ndarray] = {}
        for name in _ARRAY_FIELDS:
            a = getattr(feed, name)
            if type(a) is not np.ndarray or a.dtype.hasobject or a.dtype.fields is not None:
                return None
            out[name] = a
        problems = json.dumps(_to_json(feed.problems), ensure_ascii=False, separators=(",", ":")).encode()
        out["probleme"] = np.frombuffer(problems, dtype=np.uint8)
        out["ausschnitt"] = np.frombuffer(_clip_json(feed.clip), dtype=np.uint8)
        rules = feed._calendar_rules
        days = np.array([r[0] for r in rules.values()], dtype=bool).reshape(len(rules), len(_WEEKDAY_COLUMNS))
        exceptions = [(d, sid, typ) for d, items in feed._exceptions.items() for sid, typ in items]
        frames = {f: getattr(feed, f) for f in _FRAME_FIELDS}
        frames["dienste"] = pd.DataFrame({"service_id": pd.array(feed.service_ids.tolist(), dtype="str")})
        frames["regeln"] = pd.DataFrame(
            {
                "service_id": pd.array(list(rules), dtype="str"),
                **{c: days[:, i] for i, c in enumerate(_WEEKDAY_COLUMNS)},
                "start": np.array([r[1].toordinal() for r in rules.values()], dtype=np.int64),
                "end": np.array([r[2].toordinal() for r in rules.values()], dtype=np.int64),
            }
        )
        frames["ausnahmen"] = pd.DataFrame(
            {
                "date": np.array([e[0].toordinal() for e in exceptions], dtype=np.int64),
                "service_id": pd.array([e[1] for e in exceptions], dtype="str"),
                "exception_type": np.array([e[2] for e in exceptions], dtype=np.int64),
            }
        )
        for name, df in frames.items():
            # the round trip of the whole feed is checked below
            if not isinstance(df, pd.DataFrame) or (enc := encode_frame(df, f"{name}.", check=False)) is None:
                return None
            out.update(enc)
        back = _decode_feed(out, path=feed.path)
    except Exception as exc:  # whatever does not come back is simply not cached
        logger.debug("Fahrplan nicht zwischenspeicherbar: %s", exc)
        return None
    return out if _same_feed(feed, back) else None


def _decode_feed(arrays: Mapping[str, np.ndarray], *, path: str) -> Feed:
    """The feed stored by :func:`_encode_feed`, read from ``path``."""
    frames = {name: decode_frame(arrays, f"{name}.") for name in (*_FRAME_FIELDS, "dienste", "regeln", "ausnahmen")}
    rules_df = frames.pop("regeln")
    days = rules_df[list(_WEEKDAY_COLUMNS)].to_numpy(dtype=bool).tolist()
    rules = {
        sid: (tuple(d), dt.date.fromordinal(start), dt.date.fromordinal(end))
        for sid, d, start, end in zip(
            rules_df["service_id"].tolist(), days, rules_df["start"].tolist(), rules_df["end"].tolist(), strict=True
        )
    }
    ex_df = frames.pop("ausnahmen")
    exceptions: dict[dt.date, list[tuple[str, int]]] = {}
    dates: dict[int, dt.date] = {}
    for day, sid, typ in zip(
        ex_df["date"].tolist(), ex_df["service_id"].tolist(), ex_df["exception_type"].tolist(), strict=True
    ):
        date = dates.get(day) or dates.setdefault(day, dt.date.fromordinal(day))
        exceptions.setdefault(date, []).append((sid, typ))
    service_ids = np.array(frames.pop("dienste")["service_id"].tolist(), dtype=object)
    problems = _from_json(json.loads(arrays["probleme"].tobytes().decode()))
    if not isinstance(problems, list):
        raise ValueError("Problemliste fehlt")
    stops = frames["stops"]
    clip = _clip_from_json(arrays["ausschnitt"].tobytes())
    return Feed(
        path=path,
        **frames,
        **{name: np.array(arrays[name], copy=True) for name in _ARRAY_FIELDS},
        problems=problems,
        service_ids=service_ids,
        _stop_index={s: i for i, s in enumerate(stops["stop_id"].tolist())},
        _calendar_rules=rules,
        _exceptions=exceptions,
        clip=clip,
    )


def _clip_json(clip: ClipSummary | None) -> bytes:
    """:class:`~coverage.transit.feed.ClipSummary` (or None) as JSON bytes, dates as ISO strings."""
    if clip is None:
        return b"null"
    data = {
        f.name: (v.isoformat() if isinstance(v := getattr(clip, f.name), dt.date) else v)
        for f in dataclasses.fields(clip)
    }
    return json.dumps(data, separators=(",", ":")).encode()


def _clip_from_json(raw: bytes) -> ClipSummary | None:
    """Inverse of :func:`_clip_json`."""
    data = json.loads(raw.decode())
    if data is None:
        return None
    for name in ("feed_start", "feed_end"):
        if data[name] is not None:
            data[name] = dt.date.fromisoformat(data[name])
    return ClipSummary(**data)


def _to_json(value: object) -> object:
    """``value`` as JSON data that keeps tuples, lists and dicts apart (raises TypeError for other types)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is tuple:
        return {"t": [_to_json(v) for v in value]}
    if type(value) is list:
        return {"l": [_to_json(v) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"d": {k: _to_json(v) for k, v in value.items()}}
    raise TypeError(f"{type(value).__name__} nicht als JSON speicherbar")


def _from_json(data: object) -> object:
    """Inverse of :func:`_to_json`."""
    if isinstance(data, dict):
        ((tag, inner),) = data.items()
        if tag == "t":
            return tuple(_from_json(v) for v in inner)
        if tag == "l":
            return [_from_json(v) for v in inner]
        if tag == "d":
            return {k: _from_json(v) for k, v in inner.items()}
        raise ValueError(f"unbekannte Markierung {tag!r}")
    return data


def _same_feed(a: Feed, b: Feed) -> bool:
    """True when every field of ``b`` equals that of ``a`` exactly (types, dtypes, values, order)."""
    for f in dataclasses.fields(Feed):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, pd.DataFrame):
            if not isinstance(y, pd.DataFrame) or not same_frame(x, y):
                return False
        elif not _same_value(x, y):
            return False
    return True


def _same_value(x: Any, y: Any) -> bool:
    """Exact equality of nested values: same types, same order, arrays by dtype, shape and content."""
    if type(x) is not type(y):
        return False
    if isinstance(x, np.ndarray):
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        if x.dtype.hasobject:
            return all(_same_value(u, v) for u, v in zip(x.ravel().tolist(), y.ravel().tolist(), strict=True))
        return bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))
    if isinstance(x, dict):
        keys_same = len(x) == len(y) and all(_same_value(u, v) for u, v in zip(x, y, strict=True))
        return keys_same and all(_same_value(x[k], y[k]) for k in x)
    if isinstance(x, list | tuple):
        return len(x) == len(y) and all(_same_value(u, v) for u, v in zip(x, y, strict=True))
    if isinstance(x, float):
        return x == y or (x != x and y != y)  # NaN equals NaN here
    return x == y
