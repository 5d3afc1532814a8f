"""Inputs: the region file, the input tables, their validation (first stage of the data flow).

- :mod:`coverage.inputs.config`: :func:`load_config` → frozen :class:`Config` with
  :class:`Parameters` (every unknown key is an error naming the nearest valid key;
  on-demand rules ``[netz] rufbus_*`` in :mod:`coverage.inputs._ondemand`).
- :mod:`coverage.inputs.load`: :func:`load_inputs` → :class:`Inputs` (region, residents,
  courses, candidate sites), each validated on load and reprojected to EPSG:25832;
  parsed tables cached by content (:mod:`coverage.inputs._cached`).
- :mod:`coverage.inputs.schema`: column names, levels, modes, course types.
- private: ``_validate`` (CSV checks with file/row/column messages), ``_zensus``
  (national Zensus grids, streamed).
"""

from coverage.inputs.config import Config, Parameters, load_config
from coverage.inputs.load import Inputs, Region, load_inputs

__all__ = ["Config", "Inputs", "Parameters", "Region", "load_config", "load_inputs"]
