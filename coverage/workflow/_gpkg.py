"""The result GeoPackage ``kursatlas.gpkg``: layers written into a staging folder, static layers from a template.

Layers that only change with the input files (:data:`STATIC_LAYERS`) are written once
into a template GeoPackage kept in the disk cache (kind :data:`GPKG_TEMPLATE`); a run
with the same static layers copies the template and adds only the other layers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import _io
from coverage.cache.kinds import CacheKind, FunctionCodec, memoize

if TYPE_CHECKING:
    from coverage.cache.store import Cache

__all__ = ["GPKG_TEMPLATE", "SPATIAL_INDEX_MIN_FEATURES", "STATIC_LAYERS", "staging_gdal_options", "write_layers"]


def _template_bytes(stored: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray | None:
    return stored if isinstance(stored, np.ndarray) and stored.dtype == np.uint8 else None


GPKG_TEMPLATE: CacheKind[np.ndarray] = CacheKind(
    name="gpkg_vorlage",
    code=(sys.modules[__name__], _io),
    keep=10,
    codec=FunctionCodec(lambda value: value, _template_bytes),
    label="GeoPackage-Vorlage",
)
"""Bytes of a GeoPackage holding only the static layers, by their content and the pyogrio/GDAL version."""

SPATIAL_INDEX_MIN_FEATURES = 5000
"""Layers of the result GeoPackage get a spatial index from this many features on
(building one costs more than it saves for the few hundred features of a county)."""

STATIC_LAYERS: tuple[str, ...] = ("landkreis", "mitgliedskommunen", "gemeinden", "standorte", "zielgruppe_raster")
"""Layers of ``kursatlas.gpkg`` that only change with the input files (see :func:`write_layers`)."""


@contextlib.contextmanager
def staging_gdal_options() -> Iterator[None]:
    """GDAL settings for writing GeoPackages into a staging folder; the previous values are restored.

    SQLite's ``synchronous`` mode makes every layer of a GeoPackage wait for the
    disk. The files written here are only moved into place after the whole run has
    finished (and an interrupted run leaves the staging folder behind, never a
    half-written result), so that wait protects nothing.
    """
    import pyogrio

    wanted = {"OGR_SQLITE_SYNCHRONOUS": "OFF"}
    saved = {k: pyogrio.get_gdal_config_option(k) for k in wanted}
    pyogrio.set_gdal_config_options(wanted)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(saved)


def _text_cells(values: pd.Series) -> pd.Series | None:
    """Tuples/lists as ``"a, b"`` and dates as ISO text, or None when the column has neither."""
    if values.dtype != object:
        return None
    kinds = {type(v) for v in values}
    if any(issubclass(k, (tuple, list)) for k in kinds):
        return values.map(lambda v: ", ".join(map(str, v)) if isinstance(v, (tuple, list)) else v)
    if any(issubclass(k, dt.date) for k in kinds):
        return values.astype(str)
    return None


def _spreadsheet_safe(values: pd.Series) -> pd.Series | None:
    """``values`` with :func:`coverage._io.safe_cell` applied, or None when no cell needs it."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return None
    if all(_io.safe_cell(v) is v for v in pd.unique(values)):
        return None
    return values.map(_io.safe_cell)


def _layer_for_gpkg(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with tuples and dates as text and every text cell spreadsheet-safe (as :func:`_io.safe_frame`)."""
    geo = gdf.geometry.name
    changed: dict[str, pd.Series] = {}
    for col in gdf.columns:
        if col == geo:
            continue
        values = gdf[col]
        text = _text_cells(values)
        values = text if text is not None else values
        safe = _spreadsheet_safe(values)
        values = safe if safe is not None else values
        if values is not gdf[col]:
            changed[col] = values
    names = {c: _io.safe_cell(str(c)) for c in gdf.columns if c != geo}
    if not changed and all(str(c) == n for c, n in names.items()):
        return gdf
    out = gdf.copy()
    for col, values in changed.items():
        out[col] = values
    return out.rename(columns=names)


def _write_layer(path: Path, name: str, gdf: gpd.GeoDataFrame) -> None:
    import pyogrio

    index = "YES" if len(gdf) >= SPATIAL_INDEX_MIN_FEATURES else "NO"
    # a new layer name adds a layer to an existing file
    pyogrio.write_dataframe(gdf, path, layer=name, driver="GPKG", layer_options={"SPATIAL_INDEX": index})


def write_layers(
    path: Path,
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    cache: Cache | None = None,
    static: Sequence[str] = (),
) -> None:
    """Write several layers into one GeoPackage (tuples become text; the caller passes a staging path).

    Parameters
    ----------
    path
        The GeoPackage (replaced).
    layers
        Layer name → table.
    cache
        Optional disk cache for the layers named in ``static``: they are written
        once into a template GeoPackage kept in the cache (kind :data:`GPKG_TEMPLATE`)
        under the hash of their content (and of this code and the GDAL version); a
        run with the same static layers copies the template and adds only the other
        layers.
    static
        Names of layers that rarely change; written first.
    """
    import pyogrio

    path.unlink(missing_ok=True)
    fixed = [n for n in layers if n in static]
    rest = [n for n in layers if n not in static]
    with staging_gdal_options():
        if cache is not None and fixed:
            parts = [x for n in fixed for x in (n, layers[n])]
            gdal = f"pyogrio={pyogrio.__version__}|gdal={pyogrio.__gdal_version_string__}"

            def template() -> np.ndarray:
                for name in fixed:
                    _write_layer(path, name, _layer_for_gpkg(layers[name]))
                return np.frombuffer(path.read_bytes(), dtype=np.uint8)

            stored = memoize(cache, GPKG_TEMPLATE, GPKG_TEMPLATE.key(*parts, gdal), template)
            if not path.exists():  # read from the cache (a miss wrote the file itself)
                path.write_bytes(stored.tobytes())
        else:
            rest = list(layers)
        for name in rest:
            _write_layer(path, name, _layer_for_gpkg(layers[name]))
