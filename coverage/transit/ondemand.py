"""Trips of a fixed-schedule GTFS feed that run only on request (Rufbus, Anruf-Sammel-Taxi).

The national feed codes many Rufbus lines as plain buses without booking rules;
the region file declares them (``[netz] rufbus_*``, parsed into
:class:`~coverage.inputs.config.OnDemandRules`). :func:`on_demand_trips` turns
the rules into a mask over the feed's trips. Kursatlas treats such a trip as
running when booked, with the declared lead time
(:func:`coverage.transit.flex.merge_connections` attaches it per connection).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from coverage.inputs.config import OnDemandRules
from coverage.transit.feed import Feed

__all__ = ["on_demand_trips"]


def on_demand_trips(feed: Feed, rules: OnDemandRules) -> np.ndarray:
    """Bool mask over ``feed.trips``: the trip runs only on request.

    A trip is on-demand if any rule matches:

    * its ``route_id`` is in ``rules.linien``;
    * its route's ``route_short_name`` matches ``rules.muster`` in full;
    * its route's ``route_type`` is in ``rules.routentyp`` (default 715);
    * **all** its stops are in ``rules.haltestellen`` (a stop also matches via its
      ``parent_station``); trips without stop times never match this rule.

    Parameters
    ----------
    feed
        The loaded fixed-schedule feed.
    rules
        The region's declaration.

    Returns
    -------
    numpy.ndarray of bool, shape (len(feed.trips),)
    """
    routes = feed.routes.set_index("route_id") if len(feed.routes) else pd.DataFrame()
    route_of_trip = feed.trips["route_id"].astype(str)
    by_route = pd.Series(False, index=routes.index, dtype=bool)
    if len(routes):
        by_route |= routes.index.isin(list(rules.linien))
        if rules.muster:
            pattern = re.compile(rules.muster)
            names = routes.get("route_short_name", pd.Series("", index=routes.index)).astype(str)
            by_route |= np.array([pattern.fullmatch(s) is not None for s in names], dtype=bool)
        if rules.routentyp:
            types = pd.to_numeric(routes["route_type"], errors="coerce")
            by_route |= types.isin(list(rules.routentyp)).to_numpy()
    mask = np.array(route_of_trip.isin(by_route.index[by_route.to_numpy(dtype=bool)]), dtype=bool)
    if rules.haltestellen:
        listed = set(rules.haltestellen)
        stops = feed.stops
        parent = stops["parent_station"].astype(str) if "parent_station" in stops.columns else None
        stop_ok = np.array(stops["stop_id"].astype(str).isin(listed), dtype=bool)
        if parent is not None:
            stop_ok |= parent.isin(listed).to_numpy()
        ptr = np.asarray(feed.st_ptr, dtype=np.int64)
        counts = np.diff(ptr)
        ok_rows = stop_ok[np.asarray(feed.st_stop, dtype=np.int64)].astype(np.int64)
        csum = np.concatenate([[0], np.cumsum(ok_rows)])
        ok_per_trip = csum[ptr[1:]] - csum[ptr[:-1]]
        mask |= (counts > 0) & (ok_per_trip == counts)
    return mask
