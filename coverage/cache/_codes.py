"""Integer codes of text columns, reused within a caller's session by content (private).

:func:`factorize` returns the same as :func:`pandas.factorize` (codes in order of
first appearance, no NA sentinel). For Arrow-backed string columns – the default
text columns of pandas 3 – the result is kept in the caller's
:class:`~coverage.cache.session.Session` (``session.codes``) under a 128-bit XXH3
digest of the column's Arrow buffers (offsets, data, validity, offset and length of
every chunk), so a rerun over the same demand table does not factorise its hundreds
of thousands of strings again. Other columns, and every column without a session,
are factorised every time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xxhash

if TYPE_CHECKING:
    from coverage.cache.session import Session

__all__ = ["factorize", "remember"]


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


def remember(series: pd.Series, codes: np.ndarray, uniques: np.ndarray, *, session: Session | None) -> None:
    """Keep a known factorisation of ``series`` (as :func:`factorize` would compute it) in ``session``.

    For a text column rebuilt from stored codes (:func:`coverage.cache._frames.decode_frame`):
    ``codes`` must number the values in order of first appearance, ``uniques`` be the
    values in that order, and the column have no missing values. Columns that are not
    Arrow-backed, and every column without a session, are ignored.
    """
    if session is None:
        return
    key = _arrow_key(series)
    if key is not None:
        session.codes.put(key, _frozen(codes, uniques))


def factorize(series: pd.Series, *, session: Session | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int64) and unique values (as str) of a column, as :func:`pandas.factorize`.

    Values are compared as strings; missing values become the string ``'nan'``. With a
    ``session``, the result for an Arrow-backed column is kept there and reused for a
    column with the same buffers.
    """
    if not pd.api.types.is_string_dtype(series.dtype) or series.hasnans:
        series = series.astype(str)
    key = _arrow_key(series) if session is not None else None
    if key is not None:
        hit = session.codes.get(key)
        if hit is not None:
            return hit
    codes, uniques = pd.factorize(series, use_na_sentinel=False)
    out = _frozen(codes, uniques)
    if key is not None:
        session.codes.put(key, out)
    return out


def _frozen(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read-only int64 codes and str uniques (callers share them)."""
    out = (np.asarray(codes, np.int64), np.asarray(uniques).astype(str))
    out[0].setflags(write=False)
    out[1].setflags(write=False)
    return out
