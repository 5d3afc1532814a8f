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
import json
import logging
import math
import mmap
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from coverage._io import atomic_path
from coverage.cache.keys import (
    CACHE_FORMAT,
    code_salt,
    file_sha256,
    file_xxh128,
    fingerprint,
    raw_bytes,
    tree_sha256,
    tree_xxh128,
)

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
                raw = raw_bytes(arr)
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
