"""In-process memory of one caller, made explicit.

A :class:`Session` is owned by whoever runs analyses repeatedly in one process – the
``kursatlas beobachten`` loop, a notebook, one ``kursatlas run`` – and passed down to the
stages that keep results in memory between runs: the per-level coverage blocks and
their per-course parts (:mod:`coverage.analysis._blocks`), the integer codes of large
text columns (:mod:`coverage.cache._codes`) and parsed map templates
(:mod:`coverage.outputs.maps`). ``session=None`` means no in-process memory: every
value is computed (or read from the disk cache) again. A fresh session starts empty;
there is no module-level store left.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

__all__ = ["BoundedMemo", "CountedMemo", "Session"]

T = TypeVar("T")

DEFAULT_BYTES = 256 << 20
"""Bytes each array memo of a session may hold (least recently used first out)."""


def _nbytes(value: Mapping[str, np.ndarray]) -> int:
    return sum(v.nbytes for v in value.values())


class BoundedMemo:
    """Named arrays by key, least recently used first out, bounded by bytes (thread-safe).

    Arrays stay writable (numba compiles other code for read-only arrays); no caller
    writes to them.
    """

    def __init__(self, max_bytes: int = DEFAULT_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The value under ``key`` (marked as recently used) or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: dict[str, np.ndarray]) -> None:
        """Keep ``value`` (not kept if larger than the whole memo)."""
        size = _nbytes(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= _nbytes(old)
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= _nbytes(old)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


class CountedMemo:
    """Values by key, least recently used first out, at most ``max_items`` (thread-safe)."""

    def __init__(self, max_items: int) -> None:
        self.max_items = int(max_items)
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Any) -> Any | None:
        """The value under ``key`` (marked as recently used) or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Any, value: T) -> T:
        """Keep ``value`` under ``key`` and return it."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value

    def get_or_make(self, key: Any, make: Callable[[], T]) -> T:
        """The value under ``key``, made by ``make()`` on the first call."""
        hit = self.get(key)
        return hit if hit is not None else self.put(key, make())

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()


class Session:
    """What one caller keeps in memory between analyses in the same process.

    Parameters
    ----------
    max_bytes
        Bytes each array memo may hold.

    Attributes
    ----------
    blocks
        Coverage blocks per level (:mod:`coverage.analysis._blocks`).
    parts
        Per-course pieces of a block: candidate columns, E2SFCA weights.
    codes
        Integer codes of large text columns (:mod:`coverage.cache._codes`), 16 columns.
    templates
        Parsed map templates (:mod:`coverage.outputs.maps`), by template source.
    """

    def __init__(self, *, max_bytes: int = DEFAULT_BYTES) -> None:
        self.blocks = BoundedMemo(max_bytes)
        self.parts = BoundedMemo(max_bytes)
        self.codes = CountedMemo(16)
        self.templates = CountedMemo(64)

    def clear(self) -> None:
        """Forget everything this session keeps (the disk cache is not touched)."""
        for memo in (self.blocks, self.parts, self.codes, self.templates):
            memo.clear()

    def __repr__(self) -> str:
        return (f"Session(blocks={len(self.blocks)}, parts={len(self.parts)}, codes={len(self.codes)}, "
                f"templates={len(self.templates)})")
