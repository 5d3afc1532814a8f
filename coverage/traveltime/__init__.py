"""Door-to-door travel times origins × courses × modes, schedule-exact.

- :mod:`coverage.traveltime.engine`: :class:`CourseTravelTimes`, :class:`Networks`,
  :func:`load_networks`, :func:`networks_key` and the computation.
- :mod:`coverage.traveltime.store`: :func:`course_travel_times` (the entry point) and the
  cache kinds of the stage.
- :mod:`coverage.traveltime.matrix`: the long-format matrix of a region.
- :mod:`coverage.traveltime.rufbus`: on-demand service (the mode ``rufbus``: merged
  connections, day signatures, zone areas for the maps).
"""

from coverage.traveltime.engine import CourseTravelTimes, Networks, course_days, load_networks, networks_key
from coverage.traveltime.matrix import travel_time_matrix, write_travel_time_matrix
from coverage.traveltime.store import course_travel_times

__all__ = [
    "CourseTravelTimes",
    "Networks",
    "course_days",
    "course_travel_times",
    "load_networks",
    "networks_key",
    "travel_time_matrix",
    "write_travel_time_matrix",
]
