"""Region configuration: one TOML file describes the inputs and parameters of a region.

:func:`load_config` reads and validates the file and returns a frozen :class:`Config`.
Every stage receives the parts it needs from this object; there are no global settings.

Paths in the TOML file are relative to the file itself.
"""

from __future__ import annotations

import difflib
import logging
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from coverage.errors import ConfigError
from coverage.inputs._ondemand import ONDEMAND_KEYS, OnDemandRules, parse_ondemand
from coverage.inputs.schema import COURSE_TYPES, GROUPS, LEVELS, MODES, SLOTS

__all__ = [
    "Config",
    "DataSource",
    "DemandAssumptions",
    "GroupRule",
    "OnDemandRules",
    "Parameters",
    "default_parameters",
    "load_config",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupRule:
    """What a person of one target group accepts.

    Parameters
    ----------
    max_minuten
        Maximum one-way door-to-door time in minutes; both legs (to the course
        start and home after the end) must fit.
    modi
        Modes the group can use (subset of ``fuss``, ``rad``, ``oepnv``).
    kinderbetreuung
        True if the group needs childcare at the course.
    fruehester_beginn, spaetestes_ende
        Accepted schedule window in minutes after midnight: the course must start
        at or after ``fruehester_beginn`` and end at or before ``spaetestes_ende``.
    kursarten
        Accepted course types (keys of :data:`coverage.inputs.schema.COURSE_TYPES`).
    online_niveaus
        Levels at which the group accepts an online course (no travel).
    """

    max_minuten: float
    modi: tuple[str, ...]
    kinderbetreuung: bool
    fruehester_beginn: int
    spaetestes_ende: int
    kursarten: tuple[str, ...]
    online_niveaus: tuple[str, ...]


@dataclass(frozen=True)
class DemandAssumptions:
    """Documented assumptions that turn a resident count into course demand.

    Used only when the residents input has no per-level counts. Defaults come from
    the county's published figures (Integrationskonzept LK Rotenburg (Wümme) 2023)
    where they exist; the shares per level and group are model assumptions.

    Parameters
    ----------
    anteil_15_65
        Share of foreign residents aged 15 to 65 (county: 9,260 of 12,590 = 74 %).
    aufenthalt_anteile
        Shares by time in Germany: under 4 years, 4 to 10, over 10
        (county: 3,260 / 4,695 / 4,430 of 12,385 with known duration).
    kursbedarf
        Share of each residence-duration class that needs a course place in the
        planning period (about one course half-year; assumption). The defaults give
        about 5 % of the foreign residents aged 15 to 65, in line with the order of
        magnitude of yearly integration-course entries relative to the foreign
        population in Germany.
    niveau_verteilung
        Per residence-duration class, the distribution of needed levels
        (Alpha, A1, A2, B1, B2, C1), each summing to 1 (assumption).
    gruppen_anteile
        Share of the demand in each target group (allgemein, eltern, jugend, frauen,
        berufstaetig), summing to 1 (assumption).
    """

    anteil_15_65: float = 9260 / 12590
    aufenthalt_anteile: tuple[float, float, float] = (
        3260 / 12385,
        4695 / 12385,
        4430 / 12385,
    )
    kursbedarf: tuple[float, float, float] = (0.15, 0.05, 0.01)
    niveau_verteilung: tuple[tuple[float, ...], ...] = (
        (0.12, 0.33, 0.25, 0.20, 0.08, 0.02),
        (0.05, 0.10, 0.20, 0.35, 0.22, 0.08),
        (0.05, 0.05, 0.10, 0.30, 0.30, 0.20),
    )
    gruppen_anteile: dict[str, float] = field(
        default_factory=lambda: {
            "allgemein": 0.50,
            "eltern": 0.15,
            "jugend": 0.12,
            "frauen": 0.08,
            "berufstaetig": 0.15,
        }
    )


def _default_groups() -> dict[str, GroupRule]:
    general = ("integrationskurs", "alphabetisierung", "landkreis")
    return {
        "allgemein": GroupRule(
            60.0, ("fuss", "rad", "oepnv"), False, 7 * 60, 22 * 60, general, ("A2", "B1", "B2", "C1")
        ),
        "eltern": GroupRule(
            45.0,
            ("fuss", "oepnv"),
            True,
            8 * 60,
            13 * 60,
            (*general, "eltern_frauen"),
            ("B1", "B2", "C1"),
        ),
        "jugend": GroupRule(
            60.0, ("fuss", "rad", "oepnv"), False, 7 * 60, 22 * 60, (*general, "jugend"), ("A2", "B1", "B2", "C1")
        ),
        "frauen": GroupRule(
            60.0,
            ("fuss", "rad", "oepnv"),
            False,
            7 * 60,
            22 * 60,
            (*general, "eltern_frauen"),
            ("A2", "B1", "B2", "C1"),
        ),
        "berufstaetig": GroupRule(
            60.0,
            ("fuss", "rad", "oepnv"),
            False,
            17 * 60,
            22 * 60,
            (*general, "beruf"),
            ("A2", "B1", "B2", "C1"),
        ),
    }


@dataclass(frozen=True)
class Parameters:
    """All analysis parameters with documented defaults.

    Parameters
    ----------
    gruppen
        One :class:`GroupRule` per target group.
    geh_m_s, rad_m_s
        Walking and cycling speed in m/s (4.5 km/h, 15 km/h).
    max_fangdistanz_m
        Points farther than this from the street network are reported.
    max_zugang_min
        Maximum walk to and from a stop in minutes.
    max_umstieg_m
        Maximum walking distance between two stops when changing.
    min_gruppe
        Minimum group size for a course to run, per course type (assumption).
    max_gruppe
        Maximum group size per course type (BAMF IntV: 25, special courses 20).
    ziel_quote
        Served share below which a Mitgliedskommune × level is flagged.
    min_bedarf_quote
        Smallest demand (persons) of a Mitgliedskommune × level for which a served
        share below ``ziel_quote`` flags a gap; None = ``min_gruppe["landkreis"]``.
    kapazitaet
        Seats that count: ``plaetze`` (all seats of the courses in the planning
        period; the demand then includes today's participants) or ``freie_plaetze``
        (only seats still free; use with a demand of people not yet in a course).
    kosten
        Cost per course type in euros (for the placement budget; assumption).
    budget_kurse
        Number of new county-funded courses to place; ``budget_euro`` alternatively.
    zeitlimit_s
        Time limit of the placement optimisation in seconds; when it is hit, the best
        solution found and its optimality gap are reported.
    mindestanzahl
        Counts below this are suppressed in maps and tables (privacy).
    raster_m
        Grid size for residents shown in maps.
    e2sfca_baender
        E2SFCA travel-time bands (upper bounds in minutes) and their weights.
    sensitivitaet_min
        Shift of all thresholds for the robustness check.
    feiertage_land
        Bundesland code (e.g. ``NI``) whose public holidays are not course days;
        ``None`` keeps every date.
    rufbus_erreichbar
        On-demand service (Rufbus/AST, ``[netz] rufbus_*``) counts as reachable;
        results show what it adds apart either way.
    slot_zeiten
        Schedule option of a candidate course: (start, end) in minutes after midnight
        and weekdays (0 = Monday).
    """

    gruppen: dict[str, GroupRule] = field(default_factory=_default_groups)
    bedarf: DemandAssumptions = field(default_factory=DemandAssumptions)
    geh_m_s: float = 4.5 / 3.6
    rad_m_s: float = 15.0 / 3.6
    max_fangdistanz_m: float = 1000.0
    max_zugang_min: float = 20.0
    max_umstieg_m: float = 400.0
    min_gruppe: dict[str, int] = field(
        default_factory=lambda: {
            "integrationskurs": 10,
            "alphabetisierung": 7,
            "eltern_frauen": 7,
            "jugend": 7,
            "beruf": 10,
            "landkreis": 8,
            "online": 10,
        }
    )
    max_gruppe: dict[str, int] = field(
        default_factory=lambda: {
            "integrationskurs": 25,
            "alphabetisierung": 20,
            "eltern_frauen": 20,
            "jugend": 20,
            "beruf": 25,
            "landkreis": 20,
            "online": 25,
        }
    )
    ziel_quote: float = 0.8
    min_bedarf_quote: float | None = None
    kapazitaet: str = "plaetze"
    kosten: dict[str, float] = field(
        default_factory=lambda: {
            "vormittag": 30000.0,
            "abend": 26000.0,
            "vormittag_kinderbetreuung": 42000.0,
        }
    )
    budget_kurse: int = 8
    budget_euro: float | None = None
    zeitlimit_s: float = 30.0
    mindestanzahl: int = 5
    raster_m: float = 1000.0
    e2sfca_baender: tuple[tuple[float, float], ...] = ((15.0, 1.0), (30.0, 0.68), (45.0, 0.22), (60.0, 0.05))
    sensitivitaet_min: float = 15.0
    feiertage_land: str | None = "NI"
    rufbus_erreichbar: bool = True
    slot_zeiten: dict[str, tuple[int, int, tuple[int, ...]]] = field(
        default_factory=lambda: {
            "vormittag": (8 * 60 + 30, 11 * 60 + 45, (0, 1, 2, 3, 4)),
            "abend": (18 * 60, 21 * 60, (0, 2, 3)),
            "vormittag_kinderbetreuung": (9 * 60, 12 * 60, (0, 1, 2, 3)),
        }
    )

    def shifted(self, minutes: float) -> Parameters:
        """Return a copy with every group's threshold shifted by ``minutes`` (≥ 1 min)."""
        groups = {k: replace(g, max_minuten=max(1.0, g.max_minuten + minutes)) for k, g in self.gruppen.items()}
        return replace(self, gruppen=groups)


@dataclass(frozen=True)
class DataSource:
    """Provenance of one input file (shown as attribution in maps and reports)."""

    datei: str
    art: str
    quelle: str
    lizenz: str
    namensnennung: str


@dataclass(frozen=True)
class Config:
    """A validated region configuration.

    Attributes
    ----------
    path
        The TOML file.
    name
        Region name shown in maps and reports.
    grenzen, ebene_landkreis, ebene_mitgliedskommunen, ebene_gemeinden
        Boundary file and its layer names.
    einwohner, einwohner_format, einwohner_spalte, einwohner_crs
        Residents file, its format (``zensus``, ``punkte``, ``flaechen``), the
        column with the target population, and the CRS of x/y columns in a CSV.
    puffer_km
        Width of the buffer around the county that, with the county, forms the
        *analysis area* (default 15 km): courses, candidate sites, stops, trips and
        streets are used inside the whole area, residents are counted only inside
        the county.
    kurse, standorte
        Course registry and candidate-site files (``standorte`` may be None: then
        candidate sites are generated).
    rufbus
        On-demand service declared in ``[netz]`` (``rufbus_*`` keys, see
        :mod:`coverage.inputs._ondemand`).
    nachbarkurse
        Optional second registry (same columns) of courses outside the county,
        e.g. in neighbouring towns; None without one.
    osm, gtfs
        Street-network source (file path or ``"download"``) and GTFS feed (or None).
    karten, ergebnisse, cache
        Output folders. The cache (default: ``.kursatlas-cache`` next to the region
        file) holds unrounded intermediate results and stays with the inputs; the
        results and map folders hold only published numbers and may be passed on.
    datenquellen
        Provenance of the inputs.
    parameter
        Analysis parameters.
    """

    path: Path
    name: str
    grenzen: Path
    ebene_landkreis: str
    ebene_mitgliedskommunen: str
    ebene_gemeinden: str
    einwohner: Path
    einwohner_format: str
    einwohner_spalte: str
    einwohner_crs: str | None
    kurse: Path
    standorte: Path | None
    osm: Path | str
    gtfs: Path | None
    karten: Path
    ergebnisse: Path
    cache: Path
    datenquellen: tuple[DataSource, ...]
    parameter: Parameters
    puffer_km: float = 15.0
    nachbarkurse: Path | None = None
    rufbus: OnDemandRules = field(default_factory=OnDemandRules)

    @property
    def puffer_m(self) -> float:
        """Width of the buffer around the county in metres (see ``puffer_km``)."""
        return 1000.0 * self.puffer_km

    @property
    def has_modelled_data(self) -> bool:
        """True when any input is declared as modelled (maps then show a notice)."""
        return any(s.art == "modelliert" for s in self.datenquellen)

    @property
    def attributions(self) -> tuple[str, ...]:
        """Distinct attribution lines of all inputs, in declaration order."""
        seen: dict[str, None] = {}
        for s in self.datenquellen:
            if s.namensnennung:
                seen.setdefault(s.namensnennung, None)
        return tuple(seen)

    def with_parameters(self, parameter: Parameters) -> Config:
        """Return a copy with other parameters."""
        return replace(self, parameter=parameter)


# --------------------------------------------------------------------------- parsing

_FORMATS = ("zensus", "punkte", "flaechen")
CACHE_DIR = ".kursatlas-cache"
"""Default cache folder, next to the region file (``[ausgabe] cache`` sets another)."""


def _err(path: Path, key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"Konfiguration {path}: Schlüssel '{key}' hat den Wert {value!r}; erlaubt ist {allowed}.")


_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "region": ("name", "grenzen", "ebene_landkreis", "ebene_mitgliedskommunen", "ebene_gemeinden", "puffer_km"),
    "einwohner": ("datei", "format", "spalte", "crs"),
    "kurse": ("datei", "nachbarkurse"),
    "standorte": ("datei",),
    "netz": ("osm", "gtfs", *ONDEMAND_KEYS),
    "ausgabe": ("karten", "ergebnisse", "cache"),
    "datenquellen": ("datei", "art", "quelle", "lizenz", "namensnennung", "grundlagen"),
}
"""The keys each section of the region file may hold (``[parameter]`` is checked in detail)."""


def _unknown_key(path: Path, section: str, key: str, allowed: Sequence[str]) -> ConfigError:
    """Error for an unknown key: names the file, the section, the key and the nearest valid key."""
    near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.5)
    hint = f" Meinten Sie '{near[0]}'?" if near else ""
    return ConfigError(
        f"Konfiguration {path}: unbekannter Schlüssel '{key}' im Abschnitt [{section}].{hint} "
        f"Erlaubt sind: {', '.join(sorted(allowed))}."
    )


def _check_keys(section: dict[str, Any], name: str, path: Path, *, allowed: Sequence[str] | None = None) -> None:
    """Raise :class:`ConfigError` for the first key of ``section`` that is not allowed there."""
    allowed = _SECTION_KEYS[name.split("[")[0]] if allowed is None else allowed
    for key in section:
        if key not in allowed:
            raise _unknown_key(path, name, str(key), allowed)


def _get(section: dict[str, Any], key: str, path: Path, section_name: str, *, required: bool = True) -> Any:
    if key not in section:
        if required:
            raise ConfigError(f"Konfiguration {path}: im Abschnitt [{section_name}] fehlt der Schlüssel '{key}'.")
        return None
    return section[key]


def _path(base: Path, value: Any, key: str, cfg_path: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise _err(cfg_path, key, value, "ein Dateipfad als Text")
    p = Path(value)
    return p if p.is_absolute() else (base / p).resolve()


def _number(
    value: Any, key: str, cfg_path: Path, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _err(cfg_path, key, value, "eine Zahl")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _err(cfg_path, key, value, f"eine Zahl zwischen {minimum} und {maximum}")
    return float(value)


def _parse_time(value: Any, key: str, cfg_path: Path) -> int:
    if isinstance(value, str) and len(value) == 5 and value[2] == ":" and value[:2].isdigit() and value[3:].isdigit():
        h, m = int(value[:2]), int(value[3:])
        if 0 <= h <= 24 and 0 <= m < 60 and h * 60 + m <= 24 * 60:
            return h * 60 + m
    raise _err(cfg_path, key, value, "eine Uhrzeit HH:MM zwischen 00:00 und 24:00")


def _parse_parameters(raw: dict[str, Any], cfg_path: Path) -> Parameters:
    """Overlay the ``[parameter]`` section on the defaults, validating every key."""
    p = Parameters()
    updates: dict[str, Any] = {}
    scalar_ranges = {
        "geh_m_s": (0.1, 5.0),
        "rad_m_s": (0.5, 15.0),
        "max_fangdistanz_m": (1.0, 50000.0),
        "max_zugang_min": (0.0, 120.0),
        "max_umstieg_m": (0.0, 5000.0),
        "ziel_quote": (0.0, 1.0),
        "raster_m": (100.0, 100000.0),
        "sensitivitaet_min": (0.0, 120.0),
        "zeitlimit_s": (1.0, 3600.0),
    }
    for key, value in raw.items():
        if key in scalar_ranges:
            lo, hi = scalar_ranges[key]
            updates[key] = _number(value, f"parameter.{key}", cfg_path, minimum=lo, maximum=hi)
        elif key in ("mindestanzahl", "budget_kurse"):
            # fewer than 3 persons is never a safe threshold for published counts (see README, Datenschutz)
            v = _number(value, f"parameter.{key}", cfg_path, minimum=3 if key == "mindestanzahl" else 0, maximum=10000)
            if v != int(v):
                raise _err(cfg_path, f"parameter.{key}", value, "eine ganze Zahl")
            updates[key] = int(v)
        elif key == "kapazitaet":
            if value not in ("plaetze", "freie_plaetze"):
                raise _err(cfg_path, "parameter.kapazitaet", value, "'plaetze' oder 'freie_plaetze'")
            updates[key] = value
        elif key == "feiertage_land":
            if value not in ("", None) and not (isinstance(value, str) and len(value) == 2 and value.isalpha()):
                raise _err(cfg_path, "parameter.feiertage_land", value, 'ein Länderkürzel wie "NI" oder ""')
            updates[key] = value or None
        elif key == "rufbus_erreichbar":
            if not isinstance(value, bool):
                raise _err(cfg_path, "parameter.rufbus_erreichbar", value, "true oder false")
            updates[key] = value
        elif key == "min_bedarf_quote":
            updates[key] = _number(value, "parameter.min_bedarf_quote", cfg_path, minimum=0, maximum=100000)
        elif key == "budget_euro":
            updates[key] = _number(value, "parameter.budget_euro", cfg_path, minimum=0)
        elif key in ("min_gruppe", "max_gruppe"):
            if not isinstance(value, dict):
                raise _err(cfg_path, f"parameter.{key}", value, "eine Tabelle Kursart = Zahl")
            merged = dict(getattr(p, key))
            for k, v in value.items():
                if k not in COURSE_TYPES:
                    raise _err(cfg_path, f"parameter.{key}.{k}", k, "eine Kursart aus " + ", ".join(COURSE_TYPES))
                merged[k] = int(_number(v, f"parameter.{key}.{k}", cfg_path, minimum=1, maximum=100))
            updates[key] = merged
        elif key == "kosten":
            if not isinstance(value, dict):
                raise _err(cfg_path, "parameter.kosten", value, "eine Tabelle Zeitfenster = Euro")
            merged_c = dict(p.kosten)
            for k, v in value.items():
                if k not in SLOTS:
                    raise _err(cfg_path, f"parameter.kosten.{k}", k, "ein Zeitfenster aus " + ", ".join(SLOTS))
                merged_c[k] = _number(v, f"parameter.kosten.{k}", cfg_path, minimum=0)
            updates[key] = merged_c
        elif key == "gruppen":
            updates[key] = _parse_groups(value, p.gruppen, cfg_path)
        else:
            allowed = [
                *scalar_ranges,
                "mindestanzahl",
                "budget_kurse",
                "budget_euro",
                "min_bedarf_quote",
                "min_gruppe",
                "max_gruppe",
                "kosten",
                "feiertage_land",
                "kapazitaet",
                "gruppen",
                "rufbus_erreichbar",
            ]
            raise _unknown_key(cfg_path, "parameter", str(key), allowed)
    params = replace(p, **updates)
    if params.min_gruppe and any(params.min_gruppe[k] > params.max_gruppe[k] for k in params.min_gruppe):
        raise ConfigError(f"Konfiguration {cfg_path}: min_gruppe ist größer als max_gruppe für eine Kursart.")
    return params


def _parse_groups(value: Any, defaults: dict[str, GroupRule], cfg_path: Path) -> dict[str, GroupRule]:
    if not isinstance(value, dict):
        raise _err(cfg_path, "parameter.gruppen", value, "Tabellen je Zielgruppe")
    groups = dict(defaults)
    for name, spec in value.items():
        key = f"parameter.gruppen.{name}"
        if name not in GROUPS:
            raise _err(cfg_path, key, name, "eine Zielgruppe aus " + ", ".join(GROUPS))
        if not isinstance(spec, dict):
            raise _err(cfg_path, key, spec, "eine Tabelle")
        g = groups[name]
        upd: dict[str, Any] = {}
        for k, v in spec.items():
            if k == "max_minuten":
                upd[k] = _number(v, f"{key}.{k}", cfg_path, minimum=1, maximum=240)
            elif k == "modi":
                if not isinstance(v, list) or any(m not in MODES for m in v):
                    raise _err(cfg_path, f"{key}.{k}", v, "eine Liste aus " + ", ".join(MODES))
                upd[k] = tuple(v)
            elif k == "kinderbetreuung":
                if not isinstance(v, bool):
                    raise _err(cfg_path, f"{key}.{k}", v, "true oder false")
                upd[k] = v
            elif k in ("fruehester_beginn", "spaetestes_ende"):
                upd[k] = _parse_time(v, f"{key}.{k}", cfg_path)
            elif k == "kursarten":
                if not isinstance(v, list) or any(t not in COURSE_TYPES for t in v):
                    raise _err(cfg_path, f"{key}.{k}", v, "eine Liste aus " + ", ".join(COURSE_TYPES))
                upd[k] = tuple(v)
            elif k == "online_niveaus":
                if not isinstance(v, list) or any(t not in LEVELS for t in v):
                    raise _err(cfg_path, f"{key}.{k}", v, "eine Liste aus " + ", ".join(LEVELS))
                upd[k] = tuple(v)
            else:
                raise _unknown_key(cfg_path, key, str(k), [f.name for f in fields(GroupRule)])
        groups[name] = replace(g, **upd)
    return groups


def default_parameters() -> Parameters:
    """Return the documented default parameters."""
    return Parameters()


def load_config(path: str | Path) -> Config:
    """Read and validate a region TOML file.

    Parameters
    ----------
    path
        The region's TOML file.

    Returns
    -------
    Config
        The validated configuration; paths are absolute.

    Raises
    ------
    ConfigError
        If the file is missing, not valid TOML, or a key is missing or invalid.
    """
    cfg_path = Path(path).resolve()
    if not cfg_path.is_file():
        raise ConfigError(f"Konfigurationsdatei {cfg_path} nicht gefunden.")
    try:
        raw = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Konfiguration {cfg_path} ist kein gültiges TOML: {exc}") from exc
    base = cfg_path.parent
    known = {"region", "einwohner", "kurse", "standorte", "netz", "ausgabe", "datenquellen", "parameter"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(
            f"Konfiguration {cfg_path}: unbekannte Abschnitte {sorted(unknown)}; erlaubt sind {sorted(known)}."
        )
    for section in ("region", "einwohner", "kurse", "netz"):
        if not isinstance(raw.get(section), dict):
            raise ConfigError(f"Konfiguration {cfg_path}: Abschnitt [{section}] fehlt.")
    for section in ("standorte", "ausgabe"):
        if section in raw and not isinstance(raw[section], dict):
            raise ConfigError(f"Konfiguration {cfg_path}: [{section}] muss ein Abschnitt sein.")
    for section in _SECTION_KEYS:
        if section != "datenquellen" and section in raw:
            _check_keys(raw[section], section, cfg_path)
    if not isinstance(raw.get("parameter", {}), dict):
        raise ConfigError(f"Konfiguration {cfg_path}: [parameter] muss ein Abschnitt sein.")
    region = raw["region"]
    ew = raw["einwohner"]
    netz = raw["netz"]
    ausgabe = raw.get("ausgabe", {})
    puffer_km = _number(region.get("puffer_km", 15.0), "region.puffer_km", cfg_path, minimum=0.0, maximum=100.0)
    nachbar_raw = raw["kurse"].get("nachbarkurse")
    fmt = ew.get("format", "zensus")
    if fmt not in _FORMATS:
        raise _err(cfg_path, "einwohner.format", fmt, ", ".join(_FORMATS))
    osm_raw = _get(netz, "osm", cfg_path, "netz")
    osm: Path | str = "download" if osm_raw == "download" else _path(base, osm_raw, "netz.osm", cfg_path)
    gtfs_raw = netz.get("gtfs")
    standorte_raw = (raw.get("standorte") or {}).get("datei")
    sources = []
    for i, s in enumerate(raw.get("datenquellen", []), start=1):
        if not isinstance(s, dict):
            raise _err(cfg_path, f"datenquellen[{i}]", s, "eine Tabelle")
        _check_keys(s, f"datenquellen[{i}]", cfg_path)
        art = s.get("art", "")
        if art not in ("real", "modelliert"):
            raise _err(cfg_path, f"datenquellen[{i}].art", art, "'real' oder 'modelliert'")
        sources.append(
            DataSource(
                datei=str(s.get("datei", "")),
                art=art,
                quelle=str(s.get("quelle", "")),
                lizenz=str(s.get("lizenz", "")),
                namensnennung=str(s.get("namensnennung", "")),
            )
        )
    ergebnisse = _path(base, ausgabe.get("ergebnisse", "ergebnisse"), "ausgabe.ergebnisse", cfg_path)
    cfg = Config(
        path=cfg_path,
        name=str(region.get("name", cfg_path.stem)),
        grenzen=_path(base, _get(region, "grenzen", cfg_path, "region"), "region.grenzen", cfg_path),
        ebene_landkreis=str(region.get("ebene_landkreis", "landkreis")),
        ebene_mitgliedskommunen=str(region.get("ebene_mitgliedskommunen", "mitgliedskommunen")),
        ebene_gemeinden=str(region.get("ebene_gemeinden", "gemeinden")),
        einwohner=_path(base, _get(ew, "datei", cfg_path, "einwohner"), "einwohner.datei", cfg_path),
        einwohner_format=fmt,
        einwohner_spalte=str(ew.get("spalte", "einwohner")),
        einwohner_crs=ew.get("crs"),
        kurse=_path(base, _get(raw["kurse"], "datei", cfg_path, "kurse"), "kurse.datei", cfg_path),
        standorte=None if standorte_raw is None else _path(base, standorte_raw, "standorte.datei", cfg_path),
        osm=osm,
        gtfs=None if gtfs_raw in (None, "") else _path(base, gtfs_raw, "netz.gtfs", cfg_path),
        karten=_path(base, ausgabe.get("karten", "karten"), "ausgabe.karten", cfg_path),
        ergebnisse=ergebnisse,
        # the cache holds unrounded intermediate results (as confidential as the inputs): by default next to
        # the region file, never inside the results folder that planners pass on
        cache=_path(base, ausgabe["cache"], "ausgabe.cache", cfg_path) if "cache" in ausgabe else base / CACHE_DIR,
        datenquellen=tuple(sources),
        parameter=_parse_parameters(raw.get("parameter", {}), cfg_path),
        puffer_km=puffer_km,
        nachbarkurse=None if nachbar_raw in (None, "") else _path(base, nachbar_raw, "kurse.nachbarkurse", cfg_path),
        rufbus=parse_ondemand(netz, base, cfg_path),
    )
    logger.debug("Konfiguration %s gelesen", cfg_path)
    return cfg
