"""Caching: the content-addressed disk store, cache kinds with :func:`memoize`, the in-process session.

- :mod:`coverage.cache.store`: :class:`Cache` (checksummed entries of named arrays) and the
  content hashes (:func:`fingerprint`, :func:`file_xxh128`, ...).
- :mod:`coverage.cache.kinds`: :class:`CacheKind` (each kind declared once, next to its code)
  and :func:`memoize` (key → read/validate → compute → write).
- :mod:`coverage.cache.session`: :class:`Session`, the in-process memory a caller owns.
"""

from coverage.cache.kinds import CacheKind, memoize
from coverage.cache.session import Session
from coverage.cache.store import Cache, fingerprint

__all__ = ["Cache", "CacheKind", "Session", "fingerprint", "memoize"]
