"""Parsed input tables in the disk cache: the codec :data:`FRAMES` and :func:`cached_frames`.

The kinds themselves are declared next to the loaders that compute them
(:mod:`coverage.inputs.load`: ``grenzen``, ``einwohner``, ``standorte``;
:mod:`coverage.analysis.demand`: ``bedarf``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from coverage.cache._frames import decode_frame, encode_frame, library_versions
from coverage.cache.kinds import CacheKind, FunctionCodec, memoize

if TYPE_CHECKING:
    from coverage.cache.session import Session
    from coverage.cache.store import Cache

__all__ = ["FRAMES", "cached_frames"]

logger = logging.getLogger(__name__)


def _encode_frames(frames: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray] | None:
    """Column arrays of all tables, or None if one of them would not come back identical."""
    arrays: dict[str, np.ndarray] = {"tabellen": np.array(list(frames), dtype=str)}
    for name, df in frames.items():
        enc = encode_frame(df, f"{name}.")
        if enc is None:
            logger.debug("Tabelle %s lässt sich nicht verlustfrei zwischenspeichern", name)
            return None
        arrays.update(enc)
    return arrays


def _decode_frames(hit: object, *, session: Session | None = None) -> dict[str, pd.DataFrame] | None:
    """The tables of a cache entry, or None if the entry cannot be decoded."""
    if not isinstance(hit, dict):
        return None
    try:
        names = [str(n) for n in hit["tabellen"].tolist()]
        return {name: decode_frame(hit, f"{name}.", session=session) for name in names}
    except Exception as exc:  # any failure of a cache entry means: compute again
        logger.info("Tabellen-Eintrag unbrauchbar (%s)", exc)
        return None


FRAMES: FunctionCodec[dict[str, pd.DataFrame]] = FunctionCodec(_encode_frames, _decode_frames)
"""Codec of named tables (DataFrame or GeoDataFrame): column by column as plain arrays, no pickle."""


def cached_frames(
    cache: Cache,
    kind: CacheKind[dict[str, pd.DataFrame]],
    parts: Sequence[object],
    compute: Callable[[], Mapping[str, pd.DataFrame]],
    *,
    session: Session | None = None,
) -> dict[str, pd.DataFrame]:
    """Tables from ``cache`` if present, else ``compute()`` them and store them.

    The key is :meth:`kind.key <coverage.cache.kinds.CacheKind.key>` over ``parts`` (file
    paths count by their content) and the versions of the libraries that read and
    hold the tables (pandas, geopandas, …); the kind adds the source of its modules.
    Tables are stored column by column as plain arrays (text columns as codes and
    distinct values, geometries as WKB, no pickle). A table that would not come back
    identical (index, columns, dtypes, values, geometry, CRS) is not stored.

    Parameters
    ----------
    cache
        The disk cache.
    kind
        The declared kind (codec :data:`FRAMES`).
    parts
        Everything the tables depend on.
    compute
        Computes the tables (name → DataFrame or GeoDataFrame) on a miss.
    session
        Keeps the codes of long text columns of tables read from the cache (see
        :func:`coverage.cache._frames.decode_frame`); None: nothing is kept in memory.

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables by name.
    """
    computed: list[bool] = []

    def run() -> dict[str, pd.DataFrame]:
        computed.append(True)
        return dict(compute())

    codec = None if session is None else FunctionCodec(_encode_frames, partial(_decode_frames, session=session))
    frames = memoize(cache, kind, kind.key(*parts, library_versions()), run, codec=codec)
    if not computed:
        logger.info("%s: aus dem Zwischenspeicher (Dateien und Einstellungen unverändert)", kind.name)
    return frames
