"""Street networks: the array network with snapping and street times, loading from OSM (cached).

- :mod:`coverage.network.streets`: :class:`StreetNetwork`, :func:`snap`, :func:`street_times`.
- :mod:`coverage.network.load`: :func:`load_street_networks` (one pass over an OSM file, cache kind
  ``strassennetz``).
- :mod:`coverage.network._osm`: the OSM reader.
"""

from coverage.network.load import load_street_network, load_street_networks
from coverage.network.streets import StreetNetwork, snap, street_times

__all__ = ["StreetNetwork", "load_street_network", "load_street_networks", "snap", "street_times"]
