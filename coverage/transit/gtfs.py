"""Load and validate GTFS feeds and derive the timetable of one service date.

:func:`load_gtfs` reads a feed from a ``.zip`` archive or a directory and checks
it against the ERROR rules of the canonical GTFS validator (missing required
file, column or value, invalid time/date/number, foreign key violation,
duplicate key, non-increasing ``stop_sequence``, arrival after departure,
times decreasing along a trip, ...). Every violation raises
:class:`~coverage.errors.GTFSError`; with ``strict=False`` the violations are
collected in :attr:`Feed.problems` instead and the offending rows (for
stop times: the whole trip) are left out.

Row numbers in messages and problems are **file line numbers** as shown by an
editor and by the canonical GTFS validator (``csvRowNumber``): the header is
line 1, the first data row is line 2.

The feed itself, :class:`~coverage.transit.feed.Feed`, and its timetable of one date are
in :mod:`coverage.transit.feed`; the rules in :mod:`coverage.transit._gtfsvalidate`, the
files in :mod:`coverage.transit._gtfsfiles`, the per-file loaders in
:mod:`coverage.transit._gtfstables` and the cache codec in :mod:`coverage.transit._gtfscache`.

With ``load_gtfs(path, cache=...)`` the parsed feed is kept in the disk cache
(:class:`~coverage.cache.store.Cache`, kind :data:`FEEDS`) under a key from the feed's
content, ``strict``, the parser's source code and the library versions, and read
from there while none of these changes.

With ``load_gtfs(path, area=...)`` a large (e.g. Germany-wide) feed is clipped to
the analysis area while it is streamed (:mod:`coverage.transit._gtfsclip`); the counts of
what was read and kept are in :attr:`Feed.clip` (:class:`ClipSummary`).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coverage import ANALYSIS_CRS
from coverage.cache import _frames
from coverage.cache.kinds import CacheKind
from coverage.cache.store import tree_xxh128
from coverage.transit import _gtfscache, _gtfsclip, _gtfsfiles, _gtfstables, _gtfsvalidate
from coverage.transit import feed as _feed
from coverage.transit._gtfscache import FEED_CODEC, load_cached
from coverage.transit._gtfsclip import check_area, parse_clipped
from coverage.transit._gtfsfiles import _check_calendar_files, _read_optional, _read_required, _Source
from coverage.transit._gtfstables import _assemble
from coverage.transit._gtfsvalidate import _Checker
from coverage.transit.feed import ClipSummary, Connections, Feed

if TYPE_CHECKING:
    from shapely.geometry import MultiPolygon, Polygon

    from coverage.cache.store import Cache

__all__ = ["FEEDS", "ClipSummary", "Connections", "Feed", "load_gtfs"]

logger = logging.getLogger(__name__)

FEEDS: CacheKind[Feed] = CacheKind(
    name="fahrplan",
    code=(sys.modules[__name__], _feed, _gtfsvalidate, _gtfsfiles, _gtfstables, _gtfsclip, _gtfscache, _frames),
    keep=10,
    codec=FEED_CODEC,
    label="Fahrplan",
)
"""Parsed, validated feeds, keyed by the feed's content, ``strict``, the area, the CRS and the library versions."""


def load_gtfs(
    path: str | Path,
    *,
    strict: bool = True,
    cache: Cache | None = None,
    area: Polygon | MultiPolygon | None = None,
) -> Feed:
    """Read and validate a GTFS feed.

    Parameters
    ----------
    path
        A ``.zip`` archive (files at its root or in one sub-folder) or a directory.
    strict
        If True (default), the first violation of a GTFS ERROR rule raises
        :class:`~coverage.errors.GTFSError`. If False, violations are collected in
        :attr:`Feed.problems`, a warning with their number is logged and the
        offending rows are left out (for ``stop_times.txt``: the whole trip).
        A missing ``stops.txt``, ``trips.txt`` or ``stop_times.txt`` (or a
        missing required column there) or a feed without any calendar file
        raises in both modes.
    cache
        Optional disk cache. The parsed and validated feed is then kept there,
        keyed by the *content* of the file or folder, ``strict``, the source code
        of this module and the versions of the libraries that parse it; a changed
        feed or parser is read again. A feed that would not come back from the
        cache identical in every field is not stored; a damaged entry is deleted
        and the feed read again. With ``area``, the *clipped* feed is cached, keyed
        in addition by the area; a cache hit does not read the feed again.
    area
        Analysis area (shapely polygon or multipolygon in EPSG:25832, e.g. the
        county plus a buffer). The feed is then clipped while it is read (streamed
        with :mod:`pyarrow.csv`, so a Germany-wide feed fits in a few hundred MB):
        kept are the stops inside the area (plus the parent stations of kept
        stops), every trip serving at least one of them, cut to its stops in the
        area with the exact times of the full trip (missing times are interpolated
        over the whole trip before the cut), and the rows of the other files these
        trips and stops need. Only kept rows are validated (for kept trips: all
        their stop times), with the line numbers of the original files. The counts
        are in :attr:`Feed.clip`. Default None: the whole feed.

    Returns
    -------
    Feed

    Raises
    ------
    GTFSError
        With file name, file line number (header = line 1), column, value and
        what is allowed.

    Notes
    -----
    * ``calendar.txt`` and/or ``calendar_dates.txt`` (at least one).
    * Times beyond 24:00:00 belong to the service day on which the trip started.
    * ``frequencies.txt``: each entry becomes concrete trips starting at
      ``start_time, start_time + headway_secs, …`` while ``< end_time``, for
      ``exact_times`` 0 and 1 alike (for 0 this is an approximation of the
      unknown actual schedule).
    * ``transfers.txt``: only stop-level rules of type 2 (``min_transfer_time``)
      and 3 (forbidden) are used; trip- or route-specific rules are ignored.
    * Intermediate stop times without times are interpolated evenly.

    Examples
    --------
    >>> feed = load_gtfs("tests/data/cairns_gtfs_2014.zip")  # doctest: +SKIP
    >>> feed.date_range  # doctest: +SKIP
    (datetime.date(2014, 5, 26), datetime.date(2014, 12, 26))
    """
    path = Path(path)
    if area is not None:
        check_area(area)
    if cache is None:
        return _parse_gtfs(path, strict=strict, area=area)
    return load_cached(
        path,
        cache=cache,
        kind=FEEDS,
        key=lambda: _feed_key(path, strict=strict, area=area),
        parse=lambda: _parse_gtfs(path, strict=strict, area=area),
        clipped=area is not None,
    )


def _feed_key(path: Path, *, strict: bool, area: Any = None) -> str | None:
    """Key of the feed at ``path`` (clipped to ``area``) in :data:`FEEDS`, or None if it cannot be read.

    The content enters as XXH3-128 (:func:`coverage.cache.store.tree_xxh128`): a Germany-wide
    feed of several hundred MB is hashed in a fraction of a second, so a warm run
    does not pay for a cryptographic hash. The area enters as WKB.
    """
    if not path.exists():
        return None
    try:
        content = tree_xxh128(path)
    except OSError:
        return None
    clip = None if area is None else bytes(area.wkb)
    return FEEDS.key(content, bool(strict), ANALYSIS_CRS, _frames.library_versions(), clip)


def _parse_gtfs(path: Path, *, strict: bool, area: Any = None) -> Feed:
    """Read and validate the feed at ``path`` (see :func:`load_gtfs`)."""
    if area is not None:
        return parse_clipped(path, strict=strict, area=area)
    chk = _Checker(strict=strict)
    src = _Source(path)
    try:
        frames = {
            name: _read_required(src, name, chk)
            for name in ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
        }
        _check_calendar_files(src, chk)
        for name in ("calendar.txt", "calendar_dates.txt", "frequencies.txt", "transfers.txt"):
            frames[name] = _read_optional(src, name, chk)
    finally:
        src.close()
    return _assemble(path, frames, chk)
