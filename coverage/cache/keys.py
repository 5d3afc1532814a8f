"""Content keys of cached values: hashes of files, folders, tables, arrays and source code.

A key (:func:`fingerprint`) covers everything a cached value depends on – file and
folder *contents* (never modification times), arrays, tables, parameters, the Kursatlas
version, the cache format and the source of the modules that compute the value – so a
cached value can never be stale, only missing. Used by :mod:`coverage.cache.store` and
:class:`coverage.cache.kinds.CacheKind`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import importlib
import math
import mmap
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xxhash

__all__ = [
    "CACHE_FORMAT",
    "code_salt",
    "file_sha256",
    "file_xxh128",
    "fingerprint",
    "tree_sha256",
    "tree_xxh128",
]

CACHE_FORMAT = 4
"""Bump when the layout of cache entries changes (old entries then read as misses)."""

_CHUNK = 1 << 20
_BIG_CHUNK = 1 << 24
_MAP_WINDOW = 1 << 26  # a multiple of mmap.ALLOCATIONGRANULARITY


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_xxh128(path: str | os.PathLike[str]) -> str:
    """Hex XXH3-128 of a file's bytes, for large inputs (an OSM extract of a Land).

    XXH3 runs at memory speed (over ten times SHA-256), and the file is hashed
    through read-only memory maps of 64 MB windows, without copying it: a 900 MB
    extract in the page cache costs well under 0.1 s (reading it into a buffer
    took 0.15-1.6 s on the test machine), and the process holds at most one
    window. Where a file cannot be mapped it is read in 16 MB blocks. Use it
    where a content key of a large, trusted input is needed; accidental
    collisions of a 128-bit hash are negligible.

    Notes
    -----
    A file truncated in place by another program *while* it is being hashed
    would end the process (SIGBUS), as with any memory map; the window is the
    fraction of a second the hash takes.
    """
    digest = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        done = 0
        try:
            while done < size:
                length = min(_MAP_WINDOW, size - done)
                with mmap.mmap(fh.fileno(), length, offset=done, access=mmap.ACCESS_READ) as window:
                    digest.update(window)
                done += length
        except (OSError, ValueError):  # pragma: no cover - depends on the file system
            pass  # read the rest instead
        fh.seek(done)  # mapping does not move the file position
        buf = bytearray(_BIG_CHUNK)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def tree_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, or of a folder (relative paths and contents of all files, sorted)."""
    p = Path(path)
    if p.is_file():
        return file_sha256(p)
    digest = hashlib.sha256(b"dir\0")
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        digest.update(f.relative_to(p).as_posix().encode() + b"\0" + file_sha256(f).encode() + b"\0")
    return digest.hexdigest()


def tree_xxh128(path: str | os.PathLike[str]) -> str:
    """Hex XXH3-128 of a file, or of a folder (relative paths and contents of all files, sorted)."""
    p = Path(path)
    if p.is_file():
        return file_xxh128(p)
    if not p.is_dir():
        raise FileNotFoundError(f"Datei oder Ordner für den Fingerabdruck fehlt: {p}")
    digest = xxhash.xxh3_128(b"dir\0")
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        digest.update(f.relative_to(p).as_posix().encode() + b"\0" + file_xxh128(f).encode() + b"\0")
    return digest.hexdigest()


def code_salt(modules: Iterable[str]) -> str:
    """Hex SHA-256 over the source files of ``modules`` (e.g. ``"coverage.traveltime.engine"``).

    Editing the code that computes a cached value changes every key that includes
    this salt, so results of old code are never reused.
    """
    digest = hashlib.sha256(b"code\0")
    for name in sorted(set(modules)):
        mod = importlib.import_module(name)
        src = getattr(mod, "__file__", None)
        digest.update(name.encode() + b"\0")
        if src and Path(src).is_file():
            st = os.stat(src)
            digest.update(_source_sha256(src, st.st_mtime_ns, st.st_size).encode())
        else:  # built-in or frozen module: its version is the best we have
            digest.update(str(getattr(mod, "__version__", "")).encode())
        digest.update(b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=512)
def _source_sha256(path: str, mtime_ns: int, size: int) -> str:
    """SHA-256 of a source file, once per (path, modification time, size): keys hash ~40 modules per run."""
    return file_sha256(path)


class _Hasher:
    """Feeds typed, length-prefixed tokens into SHA-256 (no two structures collide by concatenation)."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def token(self, tag: bytes, payload: bytes = b"") -> None:
        self.h.update(tag + len(payload).to_bytes(8, "little"))
        if payload:
            self.h.update(payload)  # not joined to the prefix: large payloads are not copied

    def feed(self, obj: Any) -> None:
        if obj is None:
            self.token(b"N")
        elif isinstance(obj, bool | np.bool_):
            self.token(b"b", b"1" if obj else b"0")
        elif isinstance(obj, int | np.integer):
            self.token(b"i", str(int(obj)).encode())
        elif isinstance(obj, float | np.floating):
            self.token(b"f", float(obj).hex().encode())
        elif isinstance(obj, str):
            self.token(b"s", obj.encode("utf-8", "surrogatepass"))
        elif isinstance(obj, bytes | bytearray | memoryview):
            self.token(b"y", bytes(obj))
        elif isinstance(obj, os.PathLike):
            p = Path(obj)
            if not p.exists():
                raise FileNotFoundError(f"Datei für den Fingerabdruck fehlt: {p}")
            self.token(b"p", tree_sha256(p).encode())
        elif isinstance(obj, np.ndarray):
            self._array(obj)
        elif isinstance(obj, pd.DataFrame):
            self._frame(obj)
        elif isinstance(obj, pd.Series | pd.Index):
            self.token(b"S", str(obj.dtype).encode())
            self.feed(obj.name)
            self._values(obj)
        elif isinstance(obj, dt.datetime | dt.date | dt.time):
            self.token(b"t", obj.isoformat().encode())
        elif isinstance(obj, enum.Enum):
            self.token(b"e", f"{type(obj).__qualname__}.{obj.name}".encode())
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            self.token(b"D", repr(_canonical(obj)).encode())
        elif isinstance(obj, Mapping):
            self.token(b"M", repr(_canonical(obj)).encode())
        elif isinstance(obj, list | tuple):
            self.token(b"L", str(len(obj)).encode())
            for item in obj:
                self.feed(item)
        elif isinstance(obj, set | frozenset):
            self.token(b"Z", repr(_canonical(obj)).encode())
        elif hasattr(obj, "wkb"):  # shapely geometry
            self.token(b"g", obj.wkb)
        else:
            raise TypeError(f"fingerprint: Typ {type(obj).__name__} wird nicht unterstützt")

    def _array(self, a: np.ndarray) -> None:
        self.token(b"A", f"{a.dtype.str}|{a.shape}".encode())
        if a.dtype.hasobject:
            items = a.ravel(order="C").tolist()
            if (text := _text_payload(items)) is not None:  # fast path for id columns
                self.token(b"T", text)
                return
            for item in items:
                self.feed(item)
        else:
            raw = raw_bytes(a)
            if raw.nbytes > _BULK_BYTES:  # SHA-256 runs at ~0.5 GB/s here; XXH3-128 of the bytes enters it instead
                self.token(b"X", xxhash.xxh3_128_digest(raw))
            else:
                self.h.update(raw)

    def _values(self, s: pd.Series | pd.Index) -> None:
        if isinstance(s.dtype, np.dtype) and not s.dtype.hasobject:
            self._array(s.to_numpy())
            return
        try:
            import shapely

            if hasattr(s, "geom_type") or str(s.dtype) == "geometry":
                wkb = shapely.to_wkb(np.asarray(s, dtype=object), output_dimension=3).tolist()
                self.token(b"G", _bytes_payload(wkb))
                return
        except ImportError:  # pragma: no cover - shapely is a dependency
            pass
        items = s.tolist()
        if (text := _text_payload(items)) is not None:  # fast path for text columns
            self.token(b"T", text)
            return
        self.token(b"O", str(len(items)).encode())
        for item in items:
            self.feed(None if _is_missing(item) else item)

    def _frame(self, df: pd.DataFrame) -> None:
        self.token(b"F", f"{df.shape}".encode())
        self.feed(df.index)
        for col in df.columns:
            self.feed(str(col))
            self.token(b"c", str(df[col].dtype).encode())
            self._values(df[col])
        crs = getattr(df, "crs", None)
        if crs is not None:
            self.token(b"C", crs.to_string().encode())


_BULK_BYTES = 1 << 16
"""Arrays larger than this enter a fingerprint through their 128-bit XXH3 digest (accidental collisions
are as unlikely as for SHA-256 in practice; keys are not a defence against crafted inputs, the input files are
trusted)."""


def raw_bytes(a: np.ndarray) -> np.ndarray:
    """The bytes of a non-object array in C order, as a flat ``uint8`` view (copied only if not contiguous)."""
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def _text_payload(items: list[Any]) -> bytes | None:
    """Unambiguous encoding of a list of ``str`` and ``None``, or None if an item is of another type.

    The encoding is the number of items (8 bytes), the length of every item in code
    points (``int64``, ``-1`` for ``None``) and the UTF-8 text of all items joined
    (``surrogatepass``). UTF-8 is a one-to-one encoding of code points, so the joined
    text decodes to exactly one code point sequence, and the lengths cut it into
    exactly one list of items: no two lists share an encoding (e.g. ``["ab", "c"]``
    and ``["a", "bc"]``, or ``[None]`` and ``[""]``). Only exact ``str`` counts
    (subclasses such as ``numpy.str_`` take the per-item path). For lists of text
    only (id columns) everything is built by C loops (``map``, ``str.join``), with
    no Python code per item.
    """
    kinds = set(map(type, items))
    if kinds == {str}:
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
        text = "".join(items)
    elif kinds == {str, type(None)}:
        lengths = np.array([-1 if v is None else len(v) for v in items], dtype=np.int64)
        text = "".join([v for v in items if v is not None])
    else:
        return None
    return len(items).to_bytes(8, "little") + lengths.tobytes() + text.encode("utf-8", "surrogatepass")


def _bytes_payload(items: list[bytes | None]) -> bytes:
    """Unambiguous encoding of a list of ``bytes`` and ``None``: count, lengths (``-1`` for ``None``), concatenation."""
    lengths = np.array([-1 if b is None else len(b) for b in items], dtype=np.int64)
    data = b"".join([b for b in items if b is not None])
    return len(items).to_bytes(8, "little") + lengths.tobytes() + data


def _is_missing(item: Any) -> bool:
    if item is None or item is pd.NaT:
        return True
    if isinstance(item, float) and math.isnan(item):
        return False  # NaN is a value; hashed via float.hex
    try:
        return item is pd.NA
    except TypeError:  # pragma: no cover
        return False


def _canonical(obj: Any) -> Any:
    """A nested structure with a deterministic ``repr`` (dicts sorted, dataclasses named)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (
            type(obj).__qualname__,
            tuple((f.name, _canonical(getattr(obj, f.name))) for f in dataclasses.fields(obj)),
        )
    if isinstance(obj, Mapping):
        items = [(_canonical(k), _canonical(v)) for k, v in obj.items()]
        return ("dict", tuple(sorted(items, key=repr)))
    if isinstance(obj, list | tuple):
        return (type(obj).__name__, tuple(_canonical(v) for v in obj))
    if isinstance(obj, set | frozenset):
        return ("set", tuple(sorted((_canonical(v) for v in obj), key=repr)))
    if isinstance(obj, os.PathLike):
        return ("path", str(obj))
    if isinstance(obj, float | np.floating):
        return ("float", float(obj).hex())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        h = _Hasher()
        h._array(obj)
        return ("array", h.h.hexdigest())
    return obj


def fingerprint(*parts: Any, code: Iterable[str] = ()) -> str:
    """SHA-256 (hex) over ``parts``, the Kursatlas version and the source of ``code`` modules.

    Parameters
    ----------
    *parts
        Anything the cached value depends on: :class:`~pathlib.Path` (file or folder
        *content*), numpy arrays (dtype, shape, bytes), DataFrames/GeoDataFrames
        (columns, dtypes, index, values, geometry as WKB, CRS), dataclasses such as
        :class:`~coverage.inputs.config.Parameters` (repr of a canonical dict), mappings,
        sequences, strings, numbers, dates and shapely geometries.
    code
        Module names (``"coverage.traveltime.engine"``) whose source files are hashed in
        (see :func:`code_salt`).

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    TypeError
        For a part of an unsupported type.
    FileNotFoundError
        For a path that does not exist.
    """
    from coverage import __version__

    h = _Hasher()
    h.token(b"V", f"kursatlas={__version__}|fmt={CACHE_FORMAT}".encode())
    h.token(b"K", code_salt(code).encode() if code else b"")
    h.token(b"P", str(len(parts)).encode())
    for part in parts:
        h.feed(part)
    return h.h.hexdigest()


