"""Cache kinds and the one way to use them: :func:`memoize`.

Every kind of cached result is declared once, next to the code that computes it, as a
:class:`CacheKind`: its name (the folder in the cache), the modules whose source enters
its keys (module objects, not strings), how many entries :meth:`Cache.prune
<coverage.cache.store.Cache.prune>` keeps and its :class:`Codec` (value → named arrays →
value, with the check that a stored entry still fits). :func:`memoize` does the rest:
key → read → decode/validate → compute on a miss → encode → write.

Declared kinds are listed in :data:`DECLARED` (filled once, when the module that declares
a kind is imported; kinds are immutable), so a :class:`~coverage.cache.store.Cache` knows
how many entries of each to keep without its creator naming other modules' kinds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from coverage.cache.store import Cache, fingerprint

__all__ = [
    "ARRAYS",
    "DECLARED",
    "ArrayCodec",
    "CacheKind",
    "Codec",
    "DeclaredLimits",
    "FunctionCodec",
    "keep_limits",
    "lookup",
    "memoize",
    "save",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

Stored = np.ndarray | Mapping[str, np.ndarray]
"""What a cache entry holds: one array or named arrays."""


class Codec(Protocol[T]):
    """Turns a value into arrays for the cache and back."""

    def encode(self, value: T) -> Stored | None:
        """Arrays to store, or None if this value is not cached."""

    def decode(self, stored: Stored) -> T | None:
        """The value of a stored entry, or None if the entry does not fit (it is then deleted and recomputed)."""


@dataclass(frozen=True)
class ArrayCodec:
    """Values that are already arrays (one array or a dict of named arrays); ``names`` are required."""

    names: tuple[str, ...] = ()

    def encode(self, value: Stored) -> Stored | None:
        return value

    def decode(self, stored: Stored) -> Stored | None:
        if self.names and (not isinstance(stored, Mapping) or any(n not in stored for n in self.names)):
            return None
        return stored


ARRAYS = ArrayCodec()
"""Codec for values that are arrays already."""


@dataclass(frozen=True)
class FunctionCodec(Generic[T]):
    """A codec from two functions (``decode`` returns None for an entry that does not fit)."""

    encode_fn: Callable[[T], Stored | None]
    decode_fn: Callable[[Stored], T | None]

    def encode(self, value: T) -> Stored | None:
        return self.encode_fn(value)

    def decode(self, stored: Stored) -> T | None:
        return self.decode_fn(stored)


DECLARED: dict[str, CacheKind[Any]] = {}
"""Every declared kind by name (read-only after import: each kind registers itself once)."""


@dataclass(frozen=True)
class CacheKind(Generic[T]):
    """One kind of cached result.

    Parameters
    ----------
    name
        Folder name in the cache (letters, digits, ``_.-``), unique.
    code
        Modules whose source enters every key of this kind (editing them invalidates it).
    keep
        Entries kept by :meth:`~coverage.cache.store.Cache.prune`.
    codec
        How a value is stored (:data:`ARRAYS` for arrays).
    label
        German words for log lines ("Reisezeiten").
    """

    name: str
    code: tuple[ModuleType, ...]
    keep: int = 50
    codec: Codec[T] = field(default=ARRAYS)  # type: ignore[assignment]
    label: str = ""

    def __post_init__(self) -> None:
        old = DECLARED.get(self.name)
        if old is not None and (old.code, old.keep) != (self.code, self.keep):
            raise ValueError(f"Cache-Art {self.name!r} ist zweimal deklariert")
        DECLARED[self.name] = self

    @property
    def modules(self) -> tuple[str, ...]:
        """Names of the modules in :attr:`code`."""
        return tuple(m.__name__ for m in self.code)

    def key(self, *parts: Any) -> str:
        """The content key of a value computed from ``parts`` (see :func:`~coverage.cache.store.fingerprint`)."""
        return fingerprint(self.name, *parts, code=self.modules)


class DeclaredLimits(Mapping[str, int]):
    """Entries to keep per kind, read from :data:`DECLARED` when asked (kinds imported later count too)."""

    def __init__(self, extra: Mapping[str, int] | None = None) -> None:
        self._extra = {name: int(n) for name, n in (extra or {}).items()}

    def _all(self) -> dict[str, int]:
        out = {name: kind.keep for name, kind in DECLARED.items()}
        for name, n in self._extra.items():
            out[name] = max(out.get(name, 0), n)
        return out

    def __getitem__(self, name: str) -> int:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def keep_limits(extra: Mapping[str, int] | None = None) -> DeclaredLimits:
    """Entries to keep per declared kind (``extra`` raises single limits, e.g. per course count).

    The mapping is live: a kind declared after this call (its module imported later) is
    included when :meth:`~coverage.cache.store.Cache.prune` asks.
    """
    return DeclaredLimits(extra)


def lookup(cache: Cache, kind: CacheKind[T], key: str, *, codec: Codec[T] | None = None) -> T | None:
    """The stored value of ``kind`` under ``key``, or None (missing, unreadable or not fitting).

    The read half of :func:`memoize`, for kinds whose values are computed for many keys
    at once (e.g. both street networks from one pass over a file). An entry the cache
    cannot read, or that the codec rejects, is logged, deleted and reported as None.
    ``codec`` replaces the kind's codec for this call (one that checks against the
    caller's context, e.g. the requested mode); it checks at least what the kind's codec checks.
    """
    stored = cache.get(kind.name, key)
    if stored is None:
        return None
    value = (codec or kind.codec).decode(stored)
    if value is not None:
        logger.debug("%s aus dem Zwischenspeicher (%s)", kind.label or kind.name, key[:12])
        return value
    logger.warning("Zwischenspeicher %s: Eintrag %s passt nicht, wird neu berechnet",
                   kind.name, cache.path(kind.name, key))
    cache.discard(kind.name, key)
    return None


def save(cache: Cache, kind: CacheKind[T], key: str, value: T, *, codec: Codec[T] | None = None) -> None:
    """Store ``value`` of ``kind`` under ``key`` (the write half of :func:`memoize`; nothing if not encodable)."""
    arrays = (codec or kind.codec).encode(value)
    if arrays is not None:
        cache.put(kind.name, key, arrays)


def memoize(
    cache: Cache | None, kind: CacheKind[T], key: str, compute: Callable[[], T], *, codec: Codec[T] | None = None
) -> T:
    """The value of ``kind`` under ``key``: from ``cache`` if stored and fitting, else ``compute()`` (then stored).

    ``cache=None`` means uncached: ``compute()`` runs every time. An entry that the cache
    cannot read (checksum, truncated: see :meth:`~coverage.cache.store.Cache.get`) or
    that the codec rejects is logged, deleted and recomputed; reading never raises.
    ``codec`` replaces the kind's codec for this call (see :func:`lookup`).
    """
    if cache is None:
        return compute()
    value = lookup(cache, kind, key, codec=codec)
    if value is not None:
        return value
    value = compute()
    save(cache, kind, key, value, codec=codec)
    return value
