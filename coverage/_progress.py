"""Progress bars for steps that can take more than a few seconds (large input files).

Bars are drawn with :mod:`tqdm` on standard error, only when standard error is a
terminal (``disable=None``), so logs, tests and CI output stay clean. Library code
never configures anything global here: each call returns its own bar.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from tqdm.auto import tqdm

__all__ = ["ProgressReader", "bar", "byte_bar", "file_size"]


def bar(*, total: float | None, desc: str, unit: str = "it", unit_scale: bool = False) -> tqdm:
    """A progress bar (shown only on a terminal).

    Parameters
    ----------
    total
        Expected number of units, or None when unknown.
    desc
        What is being done, in German (e.g. ``"Fahrplan lesen: stop_times.txt"``).
    unit, unit_scale
        As in :class:`tqdm.tqdm`.
    """
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit_scale,
        disable=None,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.5,
    )


@contextmanager
def byte_bar(*, total: int | None, desc: str) -> Iterator[tqdm]:
    """A bar counting bytes (``MB`` with SI prefixes), closed on exit."""
    b = bar(total=total, desc=desc, unit="B", unit_scale=True)
    try:
        yield b
    finally:
        b.close()


class ProgressReader(io.RawIOBase):
    """A read-only binary stream that advances ``progress`` by the bytes read from ``raw``.

    Wrap a file (or a zip member) with it before handing it to a streaming parser
    such as :func:`pyarrow.csv.open_csv`; the bar then shows how far the parser got.
    """

    def __init__(self, raw: IO[bytes], progress: Any) -> None:
        super().__init__()
        self._raw = raw
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n:
            self._progress.update(n)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size) if size is not None and size >= 0 else self._raw.read()
        if data:
            self._progress.update(len(data))
        return data

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def file_size(path: str | os.PathLike[str]) -> int | None:
    """Size of a file in bytes, or None when it cannot be read."""
    try:
        return os.path.getsize(path)
    except OSError:
        return None
