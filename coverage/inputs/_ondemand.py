"""On-demand service declared in the region file (``[netz] rufbus_*``; private helper of :mod:`.config`).

Keys of ``[netz]``:

``rufbus_linien``
    List of GTFS ``route_id`` whose trips run only on request.
``rufbus_muster``
    Regular expression; routes whose ``route_short_name`` matches it in full
    (:func:`re.fullmatch`) run on request, e.g. ``"RB ?\\d+|AST.*"``.
``rufbus_routentyp``
    List of GTFS ``route_type`` values marking on-demand routes (default
    ``[715]``, "Demand and Response Bus Service"); ``[]`` switches this off.
``rufbus_haltestellen``
    List of stop ids (or parent station ids) served on demand. A trip counts as
    on-demand when **all** its stops are in the list: a regular bus that also
    calls at such a stop keeps running by timetable, a Rufbus line whose stops are
    all on-demand stops runs only when booked.
``rufbus_vorlauf_min``
    Booking lead time of these trips in minutes (default 60).
``rufbus_flex``
    Path of a GTFS-Flex v2 feed (:mod:`coverage.transit.flex`), optional.
``rufbus_takt_min``, ``rufbus_umweg_faktor``, ``rufbus_geschwindigkeit_kmh``
    The flex estimate: model vehicle interval (default 10 min), detour factor (1.3),
    speed (30 km/h); see :mod:`coverage.transit.flex`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coverage.errors import ConfigError

__all__ = ["ONDEMAND_KEYS", "OnDemandRules", "parse_ondemand"]

ONDEMAND_KEYS = (
    "rufbus_linien",
    "rufbus_muster",
    "rufbus_routentyp",
    "rufbus_haltestellen",
    "rufbus_vorlauf_min",
    "rufbus_flex",
    "rufbus_takt_min",
    "rufbus_umweg_faktor",
    "rufbus_geschwindigkeit_kmh",
)
"""Keys of ``[netz]`` parsed here."""

_MODEL_RANGES: dict[str, tuple[str, float, float, str]] = {
    "rufbus_takt_min": ("takt_min", 1.0, 120.0, "Minuten zwischen 1 und 120"),
    "rufbus_umweg_faktor": ("umweg_faktor", 1.0, 5.0, "ein Faktor zwischen 1 und 5"),
    "rufbus_geschwindigkeit_kmh": ("geschwindigkeit_kmh", 5.0, 120.0, "km/h zwischen 5 und 120"),
}
"""The flex model settings: key → (field, smallest, largest, allowed values in words)."""


@dataclass(frozen=True)
class OnDemandRules:
    """Which trips of the fixed-schedule feed run only on request, and the flex feed.

    Attributes
    ----------
    linien : tuple of str
        Route ids.
    muster : str or None
        Regular expression matched in full against ``route_short_name``.
    routentyp : tuple of int
        Route types (default ``(715,)``).
    haltestellen : tuple of str
        Stop ids; trips serving only these stops are on-demand.
    vorlauf_min : float
        Booking lead time in minutes.
    flex : pathlib.Path or None
        GTFS-Flex feed.
    takt_min, umweg_faktor, geschwindigkeit_kmh : float
        The flex estimate (:mod:`coverage.transit.flex`): a model vehicle every
        ``takt_min`` minutes at the zone centre, straight distance × ``umweg_faktor`` at
        ``geschwindigkeit_kmh`` (defaults 10, 1.3, 30).
    """

    linien: tuple[str, ...] = ()
    muster: str | None = None
    routentyp: tuple[int, ...] = (715,)
    haltestellen: tuple[str, ...] = ()
    vorlauf_min: float = 60.0
    flex: Path | None = None
    takt_min: float = 10.0
    umweg_faktor: float = 1.3
    geschwindigkeit_kmh: float = 30.0

    @property
    def modell(self) -> tuple[float, float, float]:
        """The flex model settings ``(takt_min, umweg_faktor, geschwindigkeit_kmh)``."""
        return (self.takt_min, self.umweg_faktor, self.geschwindigkeit_kmh)


def _err(path: Path, key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(
        f"Konfiguration {path}: Schlüssel '{key}' im Abschnitt [netz] hat den Wert {value!r}; erlaubt ist {allowed}."
    )


def _str_list(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or any(not isinstance(v, str) or not v.strip() for v in value):
        raise _err(path, key, value, 'eine Liste von Kennungen als Text, z. B. ["de:123", "de:456"]')
    return tuple(v.strip() for v in value)


def parse_ondemand(netz: dict[str, Any], base: Path, cfg_path: Path) -> OnDemandRules:
    """Read the ``rufbus_*`` keys of ``[netz]`` (other keys are checked by the caller).

    Parameters
    ----------
    netz
        The ``[netz]`` table.
    base
        Folder of the region file (relative paths start there).
    cfg_path
        The region file (for messages).

    Returns
    -------
    OnDemandRules

    Raises
    ------
    ConfigError
        Naming the file, the section, the key, the value and what is allowed.
    """
    kw: dict[str, Any] = {}
    if "rufbus_linien" in netz:
        kw["linien"] = _str_list(netz["rufbus_linien"], "rufbus_linien", cfg_path)
    if "rufbus_haltestellen" in netz:
        kw["haltestellen"] = _str_list(netz["rufbus_haltestellen"], "rufbus_haltestellen", cfg_path)
    if "rufbus_muster" in netz:
        v = netz["rufbus_muster"]
        if not isinstance(v, str) or not v:
            raise _err(cfg_path, "rufbus_muster", v, 'ein regulärer Ausdruck als Text, z. B. "RB ?\\\\d+"')
        try:
            re.compile(v)
        except re.error as exc:
            raise _err(cfg_path, "rufbus_muster", v, f"ein gültiger regulärer Ausdruck ({exc})") from None
        kw["muster"] = v
    if "rufbus_routentyp" in netz:
        v = netz["rufbus_routentyp"]
        if not isinstance(v, list) or any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in v):
            raise _err(cfg_path, "rufbus_routentyp", v, "eine Liste ganzer Zahlen ≥ 0 (GTFS route_type), z. B. [715]")
        kw["routentyp"] = tuple(v)
    if "rufbus_vorlauf_min" in netz:
        v = netz["rufbus_vorlauf_min"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 <= v <= 10080:
            raise _err(cfg_path, "rufbus_vorlauf_min", v, "eine Zahl von Minuten zwischen 0 und 10080 (eine Woche)")
        kw["vorlauf_min"] = float(v)
    if "rufbus_flex" in netz:
        v = netz["rufbus_flex"]
        if v not in (None, ""):
            if not isinstance(v, str):
                raise _err(cfg_path, "rufbus_flex", v, "der Pfad eines GTFS-Flex-Feeds (.zip oder Ordner) als Text")
            p = Path(v)
            kw["flex"] = p if p.is_absolute() else (base / p).resolve()
    for key, (name, lo, hi, words) in _MODEL_RANGES.items():
        if key in netz:
            v = netz[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
                raise _err(cfg_path, key, v, words)
            kw[name] = float(v)
    return OnDemandRules(**kw)
