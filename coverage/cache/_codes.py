"""Integer codes of text columns, reused within a process by content (private).

:func:`factorize` returns the same as :func:`pandas.factorize` (codes in order of
first appearance, no NA sentinel). For Arrow-backed string columns – the default
text columns of pandas 3 – the result is kept in a small in-process store under a
128-bit XXH3 digest of the column's Arrow buffers (offsets, data, validity, offset and length
of every chunk), so a rerun over the same demand table does not factorise its
hundreds of thousands of strings again. Other columns are factorised every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
import xxhash

__all__ = ["clear", "factorize", "remember"]

_MAX_ITEMS = 16
_store: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_lock = threading.Lock()


def _arrow_key(series: pd.Series) -> str | None:
    """XXH3-128 digest of the Arrow buffers of a string column, or None if it is not Arrow-backed."""
    chunked = getattr(series.array, "_pa_array", None)
    if chunked is None or not hasattr(chunked, "chunks"):
        return None
    h = xxhash.xxh3_128(f"{series.dtype}|{len(series)}|{chunked.type}".encode())
    for chunk in chunked.chunks:
        h.update(f"|{chunk.offset}|{len(chunk)}|".encode())
        for buf in chunk.buffers():
            if buf is None:
                h.update(b"-")
            else:
                h.update(len(buf).to_bytes(8, "little"))
                h.update(memoryview(buf))
    return h.hexdigest()


def clear() -> None:
    """Forget the codes kept in this process."""
    with _lock:
        _store.clear()


def remember(series: pd.Series, codes: np.ndarray, uniques: np.ndarray) -> None:
    """Keep a known factorisation of ``series`` (as :func:`factorize` would compute it) for later calls.

    For a text column rebuilt from stored codes (:func:`coverage.cache._frames.decode_frame`):
    ``codes`` must number the values in order of first appearance, ``uniques`` be the
    values in that order, and the column have no missing values. Columns that are not
    Arrow-backed are ignored.
    """
    key = _arrow_key(series)
    if key is not None:
        _keep(key, codes, uniques)


def factorize(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int64) and unique values (as str) of a column, as :func:`pandas.factorize`.

    Values are compared as strings; missing values become the string ``'nan'``.
    """
    if not pd.api.types.is_string_dtype(series.dtype) or series.hasnans:
        series = series.astype(str)
    key = _arrow_key(series)
    if key is not None:
        with _lock:
            hit = _store.get(key)
            if hit is not None:
                _store.move_to_end(key)
                return hit
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    if key is not None:
        return _keep(key, codes, uniques)
    return _frozen(codes, uniques)


def _frozen(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read-only int64 codes and str uniques (callers share them)."""
    out = (np.asarray(codes, np.int64), np.asarray(uniques).astype(str))
    out[0].setflags(write=False)
    out[1].setflags(write=False)
    return out


def _keep(key: str, codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Store a factorisation under ``key`` (most recently used last, at most ``_MAX_ITEMS``) and return it."""
    out = _frozen(codes, uniques)
    with _lock:
        _store[key] = out
        _store.move_to_end(key)
        while len(_store) > _MAX_ITEMS:
            _store.popitem(last=False)
    return out
