"""Exception hierarchy of Kursatlas.

Every error raised on purpose by Kursatlas derives from :class:`KursatlasError`.
Subclasses also inherit the matching built-in exception so that callers that
only know the standard library still catch them (as r5py does).
Messages are German because they reach planners through the CLI.
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "CacheError",
    "ConfigError",
    "GTFSError",
    "InputDataError",
    "KursatlasError",
    "NetworkError",
    "OptimizationError",
    "OutputError",
    "RoutingError",
]


class KursatlasError(Exception):
    """Base class of all Kursatlas errors."""


class ConfigError(KursatlasError, ValueError):
    """The region configuration (TOML) is missing, malformed or inconsistent."""


class InputDataError(KursatlasError, ValueError):
    """An input file is invalid.

    Parameters
    ----------
    message
        What is wrong and what is allowed (German).
    file
        The file concerned.
    row
        1-based data row (header excluded) or feature number, if known.
    column
        Column name, if known.
    value
        The offending value, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        self.reason = message
        parts = []
        if file is not None:
            parts.append(f"Datei {file}")
        if row is not None:
            parts.append(f"Zeile {row}")
        if column is not None:
            parts.append(f"Spalte '{column}'")
        if value is not None:
            parts.append(f"Wert {value!r}")
        where = ", ".join(parts)
        super().__init__(f"{where}: {message}" if where else message)


class CRSError(InputDataError):
    """A geodata layer has no or an unusable coordinate reference system."""


class NetworkError(KursatlasError, RuntimeError):
    """A street network cannot be built, downloaded or read."""


class GTFSError(InputDataError):
    """A GTFS feed violates an ERROR rule of the GTFS specification."""


class RoutingError(KursatlasError, RuntimeError):
    """Routing failed, e.g. a service date outside the feed."""


class OptimizationError(KursatlasError, RuntimeError):
    """The placement model could not be solved."""


class CacheError(KursatlasError, OSError):
    """A cache entry is unreadable or inconsistent."""


class OutputError(KursatlasError, OSError):
    """An output folder is missing, a file, or cannot be written."""
