"""The files of a GTFS feed: a zip archive (files at its root or in one folder) or a directory.

:class:`_Source` lists and opens them; the required and optional files are read as
tables of stripped strings with the file line number in ``_row``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from coverage.errors import GTFSError
from coverage.transit._gtfsvalidate import _FATAL_FILES, _check_columns, _Checker

# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def utf8_text(raw: bytes, name: str) -> str:
    """``raw`` decoded as UTF-8 (a BOM is dropped); a :class:`GTFSError` naming ``name`` otherwise."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GTFSError(
            f"Die Datei ist nicht UTF-8-kodiert (Byte {exc.start}); GTFS verlangt UTF-8.", file=name
        ) from exc


class _Source:
    """Files of a feed in a zip archive or a directory.

    Parameters
    ----------
    path
        Zip file or directory. A zip whose files sit in one enclosing folder is read
        from that folder (found by ``marker``, a file every such feed has).
    marker
        File that locates an enclosing folder in a zip.
    what
        The kind of feed, for error messages ("GTFS-Feed", "GTFS-Flex-Feed").
    """

    def __init__(self, path: Path, *, marker: str = "stops.txt", what: str = "GTFS-Feed") -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._names: dict[str, str] = {}
        if path.is_dir():
            for p in path.iterdir():
                if p.is_file():
                    self._names[p.name] = str(p)
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                raise GTFSError(
                    f"Die Datei ist kein gültiges ZIP-Archiv; erwartet wird ein {what} als .zip oder Verzeichnis.",
                    file=str(path),
                ) from exc
            names = [n for n in self._zip.namelist() if not n.endswith("/")]
            # Feeds are sometimes zipped with an enclosing folder.
            prefix = ""
            if marker not in names:
                nested = sorted((n for n in names if n.endswith("/" + marker)), key=len)
                if nested:
                    prefix = nested[0][: -len(marker)]
            for n in names:
                if n.startswith(prefix) and "/" not in n[len(prefix) :]:
                    self._names[n[len(prefix) :]] = n
        else:
            raise GTFSError(
                f"Der {what} wurde nicht gefunden; erwartet wird eine .zip-Datei oder ein Verzeichnis.",
                file=str(path),
            )

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def raw(self, name: str) -> bytes:
        """The bytes of file ``name`` (decompressed for a zip member)."""
        return self._zip.read(self._names[name]) if self._zip is not None else Path(self._names[name]).read_bytes()

    def has(self, name: str) -> bool:
        return name in self._names

    def open(self, name: str) -> IO[bytes]:
        """Binary stream of file ``name`` (decompressed for a zip member)."""
        if self._zip is not None:
            return self._zip.open(self._names[name])
        return open(self._names[name], "rb")

    def size(self, name: str) -> int:
        """Size of file ``name`` in bytes (uncompressed)."""
        if self._zip is not None:
            return int(self._zip.getinfo(self._names[name]).file_size)
        return Path(self._names[name]).stat().st_size

    def read(self, name: str) -> pd.DataFrame:
        text = utf8_text(self.raw(name), name)
        if not text.strip():
            return pd.DataFrame()
        try:
            df = pd.read_csv(
                io.StringIO(text),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=True,
            )
        except (pd.errors.ParserError, ValueError) as exc:
            raise GTFSError(f"Die Datei ist kein gültiges CSV: {exc}", file=name) from exc
        df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
        for c in df.columns:
            df[c] = df[c].astype(str).str.strip()
        df["_row"] = np.arange(2, len(df) + 2, dtype=np.int64)
        return df


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series([], dtype=str) for c in columns})
    df["_row"] = np.zeros(0, dtype=np.int64)
    return df


def _read_optional(src: _Source, name: str, chk: _Checker) -> pd.DataFrame | None:
    """Read ``name``; None if absent or lacking required columns (problem reported)."""
    if not src.has(name):
        return None
    df = src.read(name)
    if df.empty and "_row" not in df.columns:
        return None
    if not _check_columns(df, name, chk):
        return None
    return df


def _read_required(src: _Source, name: str, chk: _Checker) -> pd.DataFrame | None:
    fatal = name in _FATAL_FILES
    if not src.has(name):
        chk.report(
            "missing_required_file",
            f"Pflichtdatei {name} fehlt im GTFS-Feed",
            file=name,
            fatal=fatal,
        )
        return None
    df = src.read(name)
    if "_row" not in df.columns:
        chk.report("empty_file", "Die Datei ist leer; erwartet wird mindestens die Kopfzeile", file=name, fatal=fatal)
        return None
    if not _check_columns(df, name, chk):
        return None
    return df


def _check_calendar_files(src: _Source, chk: _Checker) -> None:
    """Report (fatal) a feed without ``calendar.txt`` and ``calendar_dates.txt``."""
    if not src.has("calendar.txt") and not src.has("calendar_dates.txt"):
        chk.report(
            "missing_calendar_and_calendar_date_files",
            "Pflichtdatei calendar.txt oder calendar_dates.txt fehlt; mindestens eine ist erforderlich",
            file="calendar.txt",
            fatal=True,
        )
