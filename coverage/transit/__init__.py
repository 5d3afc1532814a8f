"""Stage *transit*: GTFS feeds and public-transport routing.

:func:`load_gtfs` reads and validates a feed (optionally clipped to the analysis area and
kept in the disk cache) into a :class:`Feed`; :meth:`Feed.connections` gives the
:class:`Connections` of one date, which :func:`earliest_arrival` and
:func:`latest_departure` scan.
"""

from coverage.transit.feed import ClipSummary, Connections, Feed
from coverage.transit.gtfs import load_gtfs
from coverage.transit.routing import Footpaths, earliest_arrival, footpaths_with_transfers, latest_departure

__all__ = [
    "ClipSummary",
    "Connections",
    "Feed",
    "Footpaths",
    "earliest_arrival",
    "footpaths_with_transfers",
    "latest_departure",
    "load_gtfs",
]
