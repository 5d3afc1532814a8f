"""Content-addressed disk cache for intermediate results (numpy arrays).

A cache key is a :func:`fingerprint` of everything a result depends on: the bytes
of input files (their content, never their modification time), arrays, tables,
parameters, the Kursatlas version and a hash of the source code of the modules
that compute the result. Changing any of these gives a new key, so a cached value
can never be stale; it can only be missing.

Entries are files in a small raw format (no pickle): a magic number, a JSON
header naming kind, key and the arrays (dtype, shape, offset), the array bytes
(64-byte aligned) and a trailing 64-bit XXH3 checksum over everything before it
(the key is the content hash; the checksum only has to catch damaged files, and
XXH3 does that at memory speed, several times faster than CRC-32). Reading is one
``readinto`` and one checksum pass, the arrays are views into the read buffer;
:meth:`Cache.mapped` memory-maps large entries instead, so they cost little more
than one pass over their bytes. A corrupted, truncated or mismatching entry is
logged, deleted and treated as a miss; reading the cache never raises. Writes are
atomic (temporary file + rename), so concurrent writers and readers never see half
a file. Entries are not flushed to disk with ``fsync`` (a cache, not data):
after a system crash an entry may be missing or damaged, which reads as a miss.

Layout: ``<directory>/<kind>/<key>.kcache``. Entries of older formats (``.npz``)
are never read and are deleted by :meth:`Cache.prune`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import hashlib
import importlib
import json
import logging
import math
import mmap
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xxhash

from coverage._io import atomic_path

__all__ = [
    "CACHE_FORMAT",
    "Cache",
    "code_salt",
    "file_sha256",
    "file_xxh128",
    "fingerprint",
    "tree_sha256",
    "tree_xxh128",
]

logger = logging.getLogger(__name__)

CACHE_FORMAT = 4
"""Bump when the layout of cache entries changes (old entries then read as misses)."""

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_META_PREFIX = "__"
_CHUNK = 1 << 20
_BIG_CHUNK = 1 << 24
_MAP_WINDOW = 1 << 26  # a multiple of mmap.ALLOCATIONGRANULARITY
_SUFFIX = ".kcache"
_OLD_SUFFIXES = (".npz",)
_MAGIC = b"KURSATLAS-CACHE\x00"  # 16 bytes
_TRAILER_MAGIC = b"ENDE"
_ALIGN = 64
_SUM_SIZE = 8  # XXH3-64 checksum, little endian, before the trailer magic
_TAIL = _SUM_SIZE + len(_TRAILER_MAGIC)


# --------------------------------------------------------------------------- hashing


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
            digest.update(file_sha256(src).encode())
        else:  # built-in or frozen module: its version is the best we have
            digest.update(str(getattr(mod, "__version__", "")).encode())
        digest.update(b"\0")
    return digest.hexdigest()


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
            raw = _raw_bytes(a)
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


def _raw_bytes(a: np.ndarray) -> np.ndarray:
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


# --------------------------------------------------------------------------- entry format


def _encode_header(kind: str, key: str, arrays: Mapping[str, np.ndarray], *, single: bool) -> tuple[bytes, list[int]]:
    """Magic, header length and JSON header (padded to ``_ALIGN``) and the file offset of every array."""
    specs = [(name, arr.dtype.str, list(arr.shape), arr.nbytes) for name, arr in arrays.items()]

    def layout(start: int) -> tuple[list[int], int]:
        offsets, pos = [], start
        for *_, nbytes in specs:
            offsets.append(pos)
            pos += -(-nbytes // _ALIGN) * _ALIGN
        return offsets, pos

    # the header's length depends on the offsets it lists: grow the reserved room until it fits
    room = _ALIGN * 4
    while True:
        start = -(-(len(_MAGIC) + 8 + room) // _ALIGN) * _ALIGN
        offsets, end = layout(start)
        meta = {
            "format": CACHE_FORMAT,
            "kind": kind,
            "key": key,
            "single": single,
            "arrays": [[n, d, sh, off, nb] for (n, d, sh, nb), off in zip(specs, offsets, strict=True)],
            "data_end": end,
        }
        text = json.dumps(meta, separators=(",", ":")).encode()
        if len(_MAGIC) + 8 + len(text) <= start:
            text += b" " * (start - len(_MAGIC) - 8 - len(text))
            return _MAGIC + len(text).to_bytes(8, "little") + text, offsets
        room = len(text) + _ALIGN


_MIN_SIZE = len(_MAGIC) + 8 + _TAIL


def _read_entry(path: Path) -> tuple[dict[str, Any], np.ndarray]:
    """Read a whole entry file into one buffer, check it and return ``(header, buffer)``."""
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < _MIN_SIZE:
            raise ValueError(f"Datei zu kurz ({size} Bytes)")
        buf = np.empty(size, dtype=np.uint8)
        view = memoryview(buf)
        got = 0
        while got < size:
            n = fh.readinto(view[got:])
            if not n:
                raise ValueError("Datei kürzer als beim Öffnen")
            got += n
    return _check_entry(buf), buf


def _map_entry(path: Path) -> tuple[dict[str, Any], np.ndarray, mmap.mmap | None]:
    """Memory-map an entry file read-only, check it and return ``(header, buffer, mapping)``.

    Where the file system cannot map files, the file is read instead (mapping None).
    """
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < _MIN_SIZE:
            raise ValueError(f"Datei zu kurz ({size} Bytes)")
        try:
            if hasattr(mmap, "MAP_SHARED"):  # POSIX; MAP_POPULATE (Linux) maps all pages in one call
                flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
                mapping = mmap.mmap(fh.fileno(), size, flags=flags, prot=mmap.PROT_READ)
            else:  # pragma: no cover - Windows
                mapping = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:  # pragma: no cover - depends on the file system
            logger.debug("Cache-Eintrag %s nicht einblendbar (%s), wird gelesen", path, exc)
            meta, buf = _read_entry(path)
            return meta, buf, None
    buf = np.frombuffer(mapping, dtype=np.uint8)
    try:
        return _check_entry(buf), buf, mapping
    except BaseException:
        del buf
        mapping.close()
        raise


def _check_entry(buf: np.ndarray) -> dict[str, Any]:
    """Check magic numbers, checksum (XXH3-64) and size of an entry held in ``buf``; return its header."""
    size = buf.size
    if bytes(buf[: len(_MAGIC)]) != _MAGIC:
        raise ValueError("kein Kursatlas-Cache-Eintrag (Kennung fehlt)")
    if bytes(buf[size - len(_TRAILER_MAGIC) :]) != _TRAILER_MAGIC:
        raise ValueError("Dateiende fehlt (abgeschnitten?)")
    stored = int.from_bytes(bytes(buf[size - _TAIL : size - len(_TRAILER_MAGIC)]), "little")
    if xxhash.xxh3_64_intdigest(buf[: size - _TAIL]) != stored:
        raise ValueError("Prüfsumme stimmt nicht")
    n_head = int.from_bytes(bytes(buf[len(_MAGIC) : len(_MAGIC) + 8]), "little")
    if len(_MAGIC) + 8 + n_head > size - _TAIL:
        raise ValueError("Kopfzeile länger als die Datei")
    meta = json.loads(bytes(buf[len(_MAGIC) + 8 : len(_MAGIC) + 8 + n_head]))
    if not isinstance(meta, dict):
        raise ValueError("Kopfzeile ist kein Objekt")
    if int(meta.get("data_end", -1)) != size - _TAIL:
        raise ValueError("Dateigröße passt nicht zur Kopfzeile")
    return meta


def _arrays_of(meta: Mapping[str, Any], buf: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays an entry header describes, as views into ``buf``."""
    arrays: dict[str, np.ndarray] = {}
    head_end = len(_MAGIC) + 8
    for name, dtype_str, shape, offset, nbytes in meta["arrays"]:
        dtype = np.dtype(str(dtype_str))
        shape = tuple(int(v) for v in shape)
        offset, nbytes = int(offset), int(nbytes)
        if dtype.hasobject or dtype.fields is not None or dtype.itemsize == 0:
            raise ValueError(f"Feld {name!r}: Typ {dtype_str} nicht erlaubt")
        if any(v < 0 for v in shape) or nbytes != math.prod(shape) * dtype.itemsize:
            raise ValueError(f"Feld {name!r}: Größe passt nicht zur Form")
        if offset % _ALIGN or offset < head_end or offset + nbytes > int(meta["data_end"]):
            raise ValueError(f"Feld {name!r}: Lage in der Datei ungültig")
        if not isinstance(name, str) or name in arrays:
            raise ValueError(f"Feldname {name!r} ungültig oder doppelt")
        arrays[name] = buf[offset : offset + nbytes].view(dtype).reshape(shape)
    return arrays


# --------------------------------------------------------------------------- cache


class Cache:
    """Content-addressed store of numpy arrays on disk.

    Parameters
    ----------
    directory
        Cache folder (created on first write).
    keep
        Entries to keep per kind when :meth:`prune` runs, per kind name; kinds not
        listed keep ``default_keep``. Per-course kinds need at least as many entries
        as courses plus candidate courses.
    default_keep
        Entries kept per kind not listed in ``keep``.
    max_bytes
        Optional limit on the total size; :meth:`prune` then deletes the least
        recently used entries over all kinds until the cache fits.

    Notes
    -----
    A value is one array or a dict of named arrays (names without a leading
    ``__``); object and structured arrays are refused. A hit refreshes the
    entry's modification time, so pruning removes least recently used entries
    first. The arrays of one hit are views into one buffer read from the file.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        keep: Mapping[str, int] | None = None,
        default_keep: int = 50,
        max_bytes: int | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.keep: Mapping[str, int] = keep if keep is not None else {}
        self.default_keep = int(default_keep)
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0

    # -- paths

    def path(self, kind: str, key: str) -> Path:
        """File of the entry ``kind``/``key``."""
        for what, v in (("Art", kind), ("Schlüssel", key)):
            if not isinstance(v, str) or not _NAME.match(v):
                raise ValueError(f"Cache: ungültige {what} {v!r} (erlaubt: Buchstaben, Ziffern, _ . -)")
        return self.directory / kind / f"{key}{_SUFFIX}"

    # -- read

    def get(self, kind: str, key: str) -> np.ndarray | dict[str, np.ndarray] | None:
        """Return the cached value, or None on a miss.

        A corrupted, truncated or mismatching entry is logged, deleted and
        reported as a miss; this method does not raise for a bad entry.
        """
        path = self.path(kind, key)
        try:
            meta, buf = _read_entry(path)
            value = self._decode(meta, buf, kind, key)
        except Exception as exc:
            return self._failed(path, exc)
        self._hit(path)
        return value

    @contextlib.contextmanager
    def mapped(self, kind: str, key: str) -> Iterator[np.ndarray | dict[str, np.ndarray] | None]:
        """Like :meth:`get`, but the arrays are read-only views into the memory-mapped file.

        For large entries whose arrays are copied into other arrays right away: this
        saves reading the file into a buffer first. The checksum is verified before
        the arrays are handed out. They are valid only inside the ``with`` block
        (copy what is needed, and drop references to them); the mapping is closed on
        leaving it, or, while references remain, when the last one goes.

        Examples
        --------
        >>> with cache.mapped("reisezeiten_block", key) as value:  # doctest: +SKIP
        ...     if value is not None:
        ...         out[:, :, :n] = value["hin"]

        Notes
        -----
        Writers replace entries by renaming a new file over the old one, so a
        mapped entry never changes underneath the reader. A file truncated in
        place by another program while mapped would end the process (SIGBUS);
        use :meth:`get` where that matters.
        """
        path = self.path(kind, key)
        failure: Exception | None = None
        mapping = None
        try:
            meta, buf, mapping = _map_entry(path)
            value = self._decode(meta, buf, kind, key)
        except Exception as exc:
            failure = exc
        if failure is not None:  # outside the handler, so errors in the caller's block are not chained to it
            buf = value = None
            _close(mapping, path)
            yield self._failed(path, failure)
            return
        self._hit(path)
        try:
            yield value
        finally:
            del value, buf
            _close(mapping, path)

    def _failed(self, path: Path, exc: Exception) -> None:
        """Count a miss; log, and delete a damaged entry (a missing one is just a miss)."""
        self.misses += 1
        if isinstance(exc, FileNotFoundError):
            return None
        if isinstance(exc, OSError):
            logger.warning("Cache-Eintrag %s nicht lesbar (%s), wird neu berechnet", path, exc)
            return None
        logger.warning("Cache-Eintrag %s beschädigt (%s), wird neu berechnet", path, exc)
        self._discard(path)
        return None

    def _hit(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)
        self.hits += 1

    @staticmethod
    def _decode(meta: Mapping[str, Any], buf: np.ndarray, kind: str, key: str) -> np.ndarray | dict[str, np.ndarray]:
        for needed in ("format", "kind", "key", "single", "arrays"):
            if needed not in meta:
                raise ValueError(f"Metafeld {needed} fehlt")
        if int(meta["format"]) != CACHE_FORMAT:
            raise ValueError(f"Format {int(meta['format'])} statt {CACHE_FORMAT}")
        if str(meta["kind"]) != kind or str(meta["key"]) != key:
            raise ValueError("Art/Schlüssel im Eintrag passen nicht zum Dateinamen")
        arrays = _arrays_of(meta, buf)
        if any(n.startswith(_META_PREFIX) for n in arrays):
            raise ValueError("unbekannte Metafelder")
        if bool(meta["single"]):
            if list(arrays) != ["value"]:
                raise ValueError("Einzelwert fehlt")
            return arrays["value"]
        return arrays

    # -- write

    def put(self, kind: str, key: str, value: np.ndarray | Mapping[str, np.ndarray]) -> Path:
        """Store ``value`` under ``kind``/``key`` atomically and return the file.

        Raises
        ------
        TypeError
            If ``value`` is not an array or a mapping of arrays, or holds objects.
        ValueError
            For an invalid kind, key or array name.
        """
        path = self.path(kind, key)
        single = isinstance(value, np.ndarray)
        if single:
            arrays = {"value": value}
        elif isinstance(value, Mapping):
            arrays = {}
            for name, arr in value.items():
                if not isinstance(name, str) or not name or name.startswith(_META_PREFIX):
                    raise ValueError(f"Cache: ungültiger Feldname {name!r}")
                arrays[name] = np.asarray(arr)
        else:
            raise TypeError(f"Cache: Wert muss ein Array oder ein dict von Arrays sein, nicht {type(value).__name__}")
        for name, arr in arrays.items():
            if arr.dtype.hasobject:
                raise TypeError(f"Cache: Feld {name!r} hat den Typ object (nicht ohne pickle speicherbar)")
            if arr.dtype.fields is not None or arr.dtype.itemsize == 0:
                raise TypeError(f"Cache: Feld {name!r} hat den nicht unterstützten Typ {arr.dtype}")
        head, offsets = _encode_header(kind, key, arrays, single=single)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            fh.write(head)
            digest = xxhash.xxh3_64(head)
            pos = len(head)
            for arr, offset in zip(arrays.values(), offsets, strict=True):
                if offset > pos:
                    pad = bytes(offset - pos)
                    fh.write(pad)
                    digest.update(pad)
                raw = _raw_bytes(arr)
                fh.write(raw)
                digest.update(raw)
                pos = offset + raw.nbytes
            end = -(-pos // _ALIGN) * _ALIGN if arrays else pos
            if end > pos:
                pad = bytes(end - pos)
                fh.write(pad)
                digest.update(pad)
            fh.write(digest.intdigest().to_bytes(_SUM_SIZE, "little") + _TRAILER_MAGIC)
            # no fsync: an entry lost or damaged by a crash fails the checksum and is computed again
        return path

    # -- housekeeping

    def discard(self, kind: str, key: str) -> None:
        """Delete the entry ``kind``/``key`` if it exists (e.g. one superseded by a larger entry)."""
        self._discard(self.path(kind, key))

    @staticmethod
    def _discard(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()

    def entries(self, kind: str | None = None) -> list[Path]:
        """Entry files (of one kind or all), newest first."""
        if not self.directory.is_dir():
            return []
        dirs = [self.directory / kind] if kind else [d for d in self.directory.iterdir() if d.is_dir()]
        files = []
        for d in dirs:
            if d.is_dir():
                files.extend(f for f in d.iterdir() if f.suffix == _SUFFIX and not f.name.startswith("."))
        return sorted(files, key=_mtime, reverse=True)

    def prune(self) -> int:
        """Delete old entries (beyond the per-kind limits and ``max_bytes``), old formats and stale temp files.

        Returns
        -------
        int
            Number of files deleted.
        """
        if not self.directory.is_dir():
            return 0
        removed = 0
        now = time.time()
        for d in (d for d in self.directory.iterdir() if d.is_dir()):
            for tmp in d.glob(".*.tmp"):
                if now - _mtime(tmp) > 3600:
                    self._discard(tmp)
                    removed += 1
            for old in (f for f in d.iterdir() if f.suffix in _OLD_SUFFIXES):
                self._discard(old)
                removed += 1
            limit = self.keep.get(d.name, self.default_keep)
            for old in self.entries(d.name)[limit:]:
                self._discard(old)
                removed += 1
        if self.max_bytes is not None:
            files = self.entries()
            sizes = [_size(f) for f in files]
            total = sum(sizes)
            while files and total > self.max_bytes:
                f, s = files.pop(), sizes.pop()
                self._discard(f)
                total -= s
                removed += 1
        if removed:
            logger.info("Cache %s: %d alte Einträge gelöscht", self.directory, removed)
        return removed


def _close(mapping: mmap.mmap | None, path: Path) -> None:
    """Close a mapping unless views on it are still alive (then it closes with the last of them)."""
    if mapping is None:
        return
    try:
        mapping.close()
    except BufferError:
        logger.debug("Cache-Eintrag %s bleibt eingeblendet, solange Ansichten darauf bestehen", path)


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return 0.0


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0
