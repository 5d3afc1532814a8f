"""Tables as plain arrays for the disk cache: column codecs with an exact round-trip check.

Used by :func:`coverage.inputs.load.cached_frames` (loaded inputs) and the GTFS feed cache
(:mod:`coverage.transit._gtfscache`). Text columns are stored as codes and distinct values,
geometries as WKB, numbers as they are; nothing is pickled. A table that would not
come back identical (index, columns, dtypes, values, geometry, CRS) is not encoded.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.cache import _codes

if TYPE_CHECKING:
    from coverage.cache.session import Session

__all__ = ["decode_frame", "encode_frame", "library_versions", "same_frame"]

_MIN_INT = (np.int8, np.int16, np.int32, np.int64)
_REMEMBER_MIN = 10_000  # shorter text columns are factorised quickly enough again
_SEP = "\x1f"  # joins the texts of a tuple cell (a text containing it is not cached: the round trip check fails)


@functools.cache
def library_versions() -> str:
    """Versions of the libraries whose behaviour shapes a loaded table (part of every cache key)."""
    from importlib import metadata

    out = []
    for pkg in ("numpy", "pandas", "pyarrow", "geopandas", "shapely", "pyogrio", "pyproj"):
        try:
            out.append(f"{pkg}={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            out.append(f"{pkg}=-")
    return "|".join(out)


def _small_codes(codes: np.ndarray, n: int) -> np.ndarray:
    for t in _MIN_INT:
        if n < np.iinfo(t).max:
            return codes.astype(t)
    return codes  # pragma: no cover


def encode_frame(df: pd.DataFrame, prefix: str, *, check: bool = True) -> dict[str, np.ndarray] | None:
    """Column arrays of ``df`` (see :func:`coverage.inputs.load.cached_frames`), or None if not coming back identical.

    With ``check=False`` the round trip is not tried here (for callers that compare what comes back themselves).
    """
    idx = df.index
    if not isinstance(idx, pd.RangeIndex) or idx.start != 0 or idx.step != 1:
        return None
    geo_name = df.geometry.name if isinstance(df, gpd.GeoDataFrame) and df._geometry_column_name in df else None
    out: dict[str, np.ndarray] = {}
    kinds: list[str] = []
    for i, col in enumerate(df.columns):
        if not isinstance(col, str):
            return None
        s = df[col]
        if col == geo_name:
            wkb = shapely.to_wkb(s.to_numpy())
            out[f"{prefix}{i}"] = np.frombuffer(b"".join(b for b in wkb if b is not None), dtype=np.uint8)
            out[f"{prefix}{i}n"] = np.array([-1 if b is None else len(b) for b in wkb], dtype=np.int64)
            kinds.append("geometrie")
        elif isinstance(s.dtype, np.dtype) and s.dtype.kind in "biuf":
            out[f"{prefix}{i}"] = s.to_numpy()
            kinds.append("zahl")
        elif pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            out[f"{prefix}{i}"] = _small_codes(codes, len(uniques))
            out[f"{prefix}{i}w"] = np.array(list(uniques), dtype=str)
            kinds.append("text")
        elif s.dtype == object and all(type(v) is tuple and all(type(x) is str for x in v) for v in s):
            codes, uniques = pd.factorize(np.array([_SEP.join(v) for v in s], dtype=object))
            out[f"{prefix}{i}"] = _small_codes(codes, len(uniques))
            out[f"{prefix}{i}w"] = np.array(list(uniques), dtype=str)
            kinds.append("tupel")
        else:
            return None
    out[f"{prefix}spalten"] = np.array([str(c) for c in df.columns], dtype=str)
    out[f"{prefix}arten"] = np.array(kinds, dtype=str)
    out[f"{prefix}typen"] = np.array([str(df[c].dtype) for c in df.columns], dtype=str)
    out[f"{prefix}laenge"] = np.array([len(df)], dtype=np.int64)
    if geo_name is not None:
        out[f"{prefix}geo"] = np.array([geo_name, df.crs.to_json() if df.crs is not None else ""], dtype=str)
    if not check:
        return out
    try:
        back = decode_frame(out, prefix)
    except Exception:  # whatever does not come back is simply not cached
        return None
    return out if same_frame(df, back) else None


def decode_frame(arrays: Mapping[str, np.ndarray], prefix: str, *, session: Session | None = None) -> pd.DataFrame:
    """The table stored by :func:`encode_frame`.

    With a ``session``, the stored codes of long text columns are kept there as their
    factorisation (:func:`coverage.cache._codes.remember`).
    """
    names = arrays[f"{prefix}spalten"].tolist()
    kinds = arrays[f"{prefix}arten"].tolist()
    types = arrays[f"{prefix}typen"].tolist()
    n = int(arrays[f"{prefix}laenge"][0])
    data: dict[str, object] = {}
    for i, (name, kind, typ) in enumerate(zip(names, kinds, types, strict=True)):
        values = arrays[f"{prefix}{i}"]
        if kind == "zahl":
            data[name] = np.array(values, dtype=np.dtype(typ))
        elif kind == "text":
            uniques = pd.array(arrays[f"{prefix}{i}w"].tolist(), dtype=pd.api.types.pandas_dtype(typ))
            data[name] = uniques.take(values.astype(np.intp), allow_fill=True)
        elif kind == "tupel":
            tuples = np.empty(len(arrays[f"{prefix}{i}w"]), dtype=object)
            for j, text in enumerate(arrays[f"{prefix}{i}w"].tolist()):
                tuples[j] = tuple(text.split(_SEP)) if text else ()
            data[name] = tuples[values.astype(np.intp)]
        elif kind == "geometrie":
            lengths = arrays[f"{prefix}{i}n"]
            ends = np.cumsum(np.maximum(lengths, 0))
            raw = values.tobytes()
            blobs = [None if ln < 0 else raw[e - ln : e] for ln, e in zip(lengths.tolist(), ends.tolist(), strict=True)]
            data[name] = shapely.from_wkb(np.array(blobs, dtype=object))
        else:
            raise ValueError(f"unbekannte Spaltenart {kind!r}")
        if len(data[name]) != n:  # type: ignore[arg-type]
            raise ValueError(f"Spalte {name!r} hat die falsche Länge")
    if f"{prefix}geo" in arrays:
        geo_name, crs = arrays[f"{prefix}geo"].tolist()
        out = gpd.GeoDataFrame(data, geometry=geo_name, crs=crs or None)
    else:
        out = pd.DataFrame(data, index=pd.RangeIndex(n))
    if session is not None:
        _remember_codes(out, arrays, prefix, names, kinds, session)
    return out


def _remember_codes(df: pd.DataFrame, arrays: Mapping[str, np.ndarray], prefix: str, names: list[str],
                    kinds: list[str], session: Session) -> None:
    """Keep the stored codes of long text columns in ``session`` (they are their factorisation).

    :func:`encode_frame` numbers the values in order of first appearance, as
    :func:`pandas.factorize` does; columns with missing values are left out.
    """
    for i, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        codes = arrays[f"{prefix}{i}"]
        if kind == "text" and len(codes) >= _REMEMBER_MIN and (len(codes) == 0 or int(codes.min()) >= 0):
            _codes.remember(df[name], codes, arrays[f"{prefix}{i}w"], session=session)


def same_frame(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """True when ``b`` equals ``a`` exactly: type, index, columns, dtypes, values, geometry and CRS."""
    if type(a) is not type(b) or list(a.columns) != list(b.columns) or not a.index.equals(b.index):
        return False
    if isinstance(a, gpd.GeoDataFrame):
        if a.geometry.name != b.geometry.name or a.crs != b.crs:
            return False
        if (a.crs is not None) and a.crs.to_string() != b.crs.to_string():
            return False
    for col in a.columns:
        x, y = a[col], b[col]
        if x.dtype != y.dtype:
            return False
        if isinstance(x.dtype, gpd.array.GeometryDtype):
            if not np.array_equal(shapely.to_wkb(x.to_numpy()), shapely.to_wkb(y.to_numpy())):
                return False
        elif not x.equals(y):
            return False
    return True
