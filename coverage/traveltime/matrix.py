"""The travel-time matrix of a region as a long table (``kursatlas reisezeiten``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from coverage.traveltime.engine import load_networks
from coverage.traveltime.store import course_travel_times

if TYPE_CHECKING:
    import pandas as pd

    from coverage.inputs.config import Config

__all__ = ["travel_time_matrix", "write_travel_time_matrix"]


def travel_time_matrix(config: Config) -> pd.DataFrame:
    """Long-format travel times of every origin × course × mode of the region in ``config``."""
    from coverage.inputs.load import load_inputs

    inputs = load_inputs(config)
    nets = load_networks(config, inputs.region)
    tt = course_travel_times(inputs.residents, inputs.courses, networks=nets, params=config.parameter)
    return tt.to_long()


def write_travel_time_matrix(config: Config, target: Path) -> Path:
    """Write :func:`travel_time_matrix` as ``.csv`` (``;``) or ``.parquet``, atomically."""
    from coverage._io import atomic_path, write_csv
    from coverage.errors import ConfigError

    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigError(f"Zieldatei {target}: erlaubt sind .csv oder .parquet.")
    df = travel_time_matrix(config)
    if suffix == ".csv":
        write_csv(target, df)
    else:
        with atomic_path(target) as tmp:
            df.to_parquet(tmp, index=False)
    return target
