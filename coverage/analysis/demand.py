"""Course demand per origin × level × target group (expected persons).

A demand *segment* is one origin (resident point or grid cell), one course level
and one target group. Its ``personen`` is an expected value (a float), never a
count of identified people.

Where the numbers come from, in order of preference:

1. The residents input has counts per level (``niveau_Alpha`` … ``niveau_C1``)
   **and** per group (``gruppe_allgemein`` … ``gruppe_berufstaetig``): the joint
   level × group split assumes that level and group are independent within an
   origin, ``personen = n_niveau × n_gruppe / Σ n_gruppe``. The level counts fix
   the total (they describe course need); the group counts only give the shares.
2. Only per-level counts: split by the group shares of
   :attr:`DemandAssumptions.gruppen_anteile` (independence assumption).
3. Only per-group counts (persons needing a course): split by the level mix of the
   model (:func:`level_shares`, the residence-duration weighted level distribution).
4. No counts: the documented model of :class:`coverage.inputs.config.DemandAssumptions`::

       einwohner × anteil_15_65 × Σ_d aufenthalt_anteil[d] × kursbedarf[d]
                 × niveau_verteilung[d][niveau] × gruppen_anteil[gruppe]

In every case the per-origin total is conserved: the segment sum equals the level
counts (1, 2), the group counts (3) or the model total (4), up to float rounding.
"""

from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pandas as pd

from coverage.cache.kinds import CacheKind
from coverage.errors import ConfigError, InputDataError
from coverage.inputs import config, schema
from coverage.inputs._cached import FRAMES
from coverage.inputs.config import DemandAssumptions, Parameters
from coverage.inputs.schema import GROUPS, LEVELS

__all__ = [
    "DEMAND_COLUMNS",
    "DEMAND_TABLE",
    "GROUP_COLUMNS",
    "LEVEL_COLUMNS",
    "demand_assumptions_table",
    "demand_matrix",
    "demand_segments",
    "level_shares",
]

logger = logging.getLogger(__name__)

DEMAND_TABLE: CacheKind[dict[str, pd.DataFrame]] = CacheKind(
    name="bedarf", code=(sys.modules[__name__], schema, config), keep=10, codec=FRAMES, label="Bedarf"
)
"""Demand segments by residents and parameters (read by ``coverage.workflow.pipeline``)."""

DEMAND_COLUMNS: tuple[str, ...] = ("herkunft_id", "niveau", "gruppe", "personen", "gemeinde_ars", "mk_ars")
"""Columns of the table returned by :func:`demand_segments`."""

LEVEL_COLUMNS: tuple[str, ...] = tuple(f"niveau_{lv}" for lv in LEVELS)
GROUP_COLUMNS: tuple[str, ...] = tuple(f"gruppe_{g}" for g in GROUPS)

_SOURCE_PUBLISHED = "Integrationskonzept LK Rotenburg (Wümme), 2023"
_SOURCE_MODEL = "Modellannahme"
_REL_TOL = 1e-6


# --------------------------------------------------------------------------- assumptions


def _check_assumptions(b: DemandAssumptions) -> None:
    """Raise :class:`ConfigError` if the demand assumptions are not a valid model."""
    if not (0.0 <= b.anteil_15_65 <= 1.0):
        raise ConfigError(f"Bedarfsannahmen: anteil_15_65 = {b.anteil_15_65} liegt nicht zwischen 0 und 1.")
    n_d = len(b.aufenthalt_anteile)
    if len(b.kursbedarf) != n_d or len(b.niveau_verteilung) != n_d:
        raise ConfigError(
            "Bedarfsannahmen: aufenthalt_anteile, kursbedarf und niveau_verteilung brauchen gleich viele Klassen."
        )
    if any(not (0.0 <= x <= 1.0) for x in (*b.aufenthalt_anteile, *b.kursbedarf)):
        raise ConfigError("Bedarfsannahmen: Anteile müssen zwischen 0 und 1 liegen.")
    if not math.isclose(sum(b.aufenthalt_anteile), 1.0, rel_tol=_REL_TOL):
        raise ConfigError(
            f"Bedarfsannahmen: aufenthalt_anteile summieren sich zu {sum(b.aufenthalt_anteile)}, nicht 1."
        )
    for d, row in enumerate(b.niveau_verteilung):
        if len(row) != len(LEVELS) or any(x < 0 for x in row) or not math.isclose(sum(row), 1.0, rel_tol=_REL_TOL):
            raise ConfigError(
                f"Bedarfsannahmen: niveau_verteilung[{d}] braucht {len(LEVELS)} Anteile ≥ 0 mit Summe 1 "
                f"({', '.join(LEVELS)}), gefunden {row}."
            )
    if set(b.gruppen_anteile) != set(GROUPS):
        raise ConfigError(f"Bedarfsannahmen: gruppen_anteile braucht genau die Gruppen {', '.join(GROUPS)}.")
    shares = [b.gruppen_anteile[g] for g in GROUPS]
    if any(x < 0 for x in shares) or not math.isclose(sum(shares), 1.0, rel_tol=_REL_TOL):
        raise ConfigError(
            f"Bedarfsannahmen: gruppen_anteile müssen ≥ 0 sein und sich zu 1 summieren, nicht {sum(shares)}."
        )


def _level_rates(b: DemandAssumptions) -> np.ndarray:
    """Persons needing a course at each level per resident, ``(n_levels,)`` (before the group split)."""
    w = np.asarray(b.aufenthalt_anteile, float) * np.asarray(b.kursbedarf, float)
    return b.anteil_15_65 * (w @ np.asarray(b.niveau_verteilung, float))


def level_shares(assumptions: DemandAssumptions) -> np.ndarray:
    """Level mix of the course demand implied by the model, ``(n_levels,)`` summing to 1.

    Parameters
    ----------
    assumptions
        The documented demand assumptions.

    Returns
    -------
    numpy.ndarray
        Share of each level of :data:`coverage.inputs.schema.LEVELS` (zeros if the model
        has no demand at all).
    """
    _check_assumptions(assumptions)
    rates = _level_rates(assumptions)
    total = rates.sum()
    return rates / total if total > 0 else np.zeros(len(LEVELS))


# --------------------------------------------------------------------------- core


def demand_matrix(
    einwohner: np.ndarray,
    *,
    assumptions: DemandAssumptions,
    level_counts: np.ndarray | None = None,
    group_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Expected persons per origin × level × group (array core of :func:`demand_segments`).

    Parameters
    ----------
    einwohner
        ``(n_o,)`` target population per origin (foreign residents).
    assumptions
        Demand assumptions; used for whatever the counts do not give.
    level_counts
        ``(n_o, n_levels)`` persons needing a course per level, or None.
    group_counts
        ``(n_o, n_groups)`` persons needing a course per group, or None.

    Returns
    -------
    numpy.ndarray
        ``(n_o, n_levels, n_groups)`` expected persons (≥ 0). The sum over levels
        and groups equals the row sum of ``level_counts`` if given, else of
        ``group_counts`` if given, else the model total.
    """
    _check_assumptions(assumptions)
    ew = np.asarray(einwohner, float)
    n_o = ew.shape[0]
    g_share = np.array([assumptions.gruppen_anteile[g] for g in GROUPS], float)
    if level_counts is not None:
        lv = np.asarray(level_counts, float).reshape(n_o, len(LEVELS))
        if group_counts is not None:
            gc = np.asarray(group_counts, float).reshape(n_o, len(GROUPS))
            g_tot = gc.sum(axis=1, keepdims=True)
            shares = np.where(g_tot > 0, gc / np.where(g_tot > 0, g_tot, 1.0), g_share[None, :])
        else:
            shares = np.broadcast_to(g_share[None, :], (n_o, len(GROUPS)))
        return lv[:, :, None] * shares[:, None, :]
    if group_counts is not None:
        gc = np.asarray(group_counts, float).reshape(n_o, len(GROUPS))
        return level_shares(assumptions)[None, :, None] * gc[:, None, :]
    rates = _level_rates(assumptions)
    return ew[:, None, None] * rates[None, :, None] * g_share[None, None, :]


# --------------------------------------------------------------------------- wrapper


def _numeric_columns(residents: pd.DataFrame, columns: tuple[str, ...], what: str) -> np.ndarray | None:
    present = [c for c in columns if c in residents.columns]
    if not present:
        return None
    if len(present) != len(columns):
        missing = [c for c in columns if c not in residents.columns]
        raise InputDataError(
            f"Einwohner: es gibt Spalten je {what}, aber es fehlen {missing}. Entweder alle oder keine angeben."
        )
    out = np.empty((len(residents), len(columns)))
    for j, c in enumerate(columns):
        vals = pd.to_numeric(residents[c], errors="coerce").to_numpy(dtype=float)
        bad = np.nonzero(~np.isfinite(vals) | (vals < 0))[0]
        if len(bad):
            raise InputDataError(
                "muss eine Zahl ≥ 0 sein.", column=c, row=int(bad[0]) + 1, value=residents[c].iloc[bad[0]]
            )
        out[:, j] = vals
    return out


def demand_segments(residents: pd.DataFrame, *, params: Parameters) -> pd.DataFrame:
    """Split the target population of every origin into demand segments.

    Parameters
    ----------
    residents
        One row per origin: ``herkunft_id``, ``einwohner``, ``gemeinde_ars``,
        ``mk_ars`` and optionally ``niveau_<Niveau>`` / ``gruppe_<Gruppe>`` counts
        of persons needing a course (see the module docstring for the rules).
    params
        Analysis parameters; ``params.bedarf`` holds the demand assumptions.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DEMAND_COLUMNS`, one row per origin × level × group with
        ``personen > 0``; origins in input order, then levels and groups in the
        order of :data:`coverage.inputs.schema.LEVELS` / :data:`GROUPS`.

    Raises
    ------
    InputDataError
        If a required column is missing, ids are not unique, or a number is
        negative or missing.
    ConfigError
        If the demand assumptions are inconsistent.
    """
    required = ("herkunft_id", "einwohner", "gemeinde_ars", "mk_ars")
    missing = [c for c in required if c not in residents.columns]
    if missing:
        raise InputDataError(f"Einwohner: es fehlen die Spalten {missing}.")
    ids = residents["herkunft_id"].astype(str).to_numpy()
    dup = pd.Index(ids).duplicated()
    if dup.any():
        i = int(np.nonzero(dup)[0][0])
        raise InputDataError("Herkunfts-ID ist nicht eindeutig.", column="herkunft_id", row=i + 1, value=ids[i])
    ew = pd.to_numeric(residents["einwohner"], errors="coerce").to_numpy(dtype=float)
    bad = np.nonzero(~np.isfinite(ew) | (ew < 0))[0]
    if len(bad):
        raise InputDataError(
            "muss eine Zahl ≥ 0 sein.", column="einwohner", row=int(bad[0]) + 1,
            value=residents["einwohner"].iloc[bad[0]],
        )
    lv = _numeric_columns(residents, LEVEL_COLUMNS, "Niveau")
    gc = _numeric_columns(residents, GROUP_COLUMNS, "Zielgruppe")
    if lv is not None and gc is not None:
        lt, gt = lv.sum(axis=1), gc.sum(axis=1)
        off = ~np.isclose(lt, gt, rtol=1e-6, atol=0.5)
        if off.any():
            logger.warning(
                "Bei %d Herkunftsorten weichen die Summen je Niveau und je Zielgruppe voneinander ab; "
                "die Summe je Niveau gilt, die Gruppenzahlen liefern nur die Anteile.", int(off.sum())
            )
        logger.info("Bedarf aus Zahlen je Niveau und je Zielgruppe (Unabhängigkeitsannahme).")
    elif lv is not None:
        logger.info("Bedarf aus Zahlen je Niveau; Zielgruppen nach Modellanteilen (Unabhängigkeitsannahme).")
    elif gc is not None:
        logger.info("Bedarf aus Zahlen je Zielgruppe; Niveaus nach Modellverteilung (Unabhängigkeitsannahme).")
    else:
        logger.info("Bedarf aus Einwohnerzahlen und den dokumentierten Modellannahmen geschätzt.")

    cube = demand_matrix(ew, assumptions=params.bedarf, level_counts=lv, group_counts=gc)
    _, n_l, n_g = cube.shape
    flat = cube.reshape(-1)
    keep = np.nonzero(flat > 0)[0]
    o, rest = np.divmod(keep, n_l * n_g)
    li, gi = np.divmod(rest, n_g)
    out = pd.DataFrame(
        {
            "herkunft_id": ids[o],
            "niveau": np.asarray(LEVELS, dtype=object)[li],
            "gruppe": np.asarray(GROUPS, dtype=object)[gi],
            "personen": flat[keep],
            "gemeinde_ars": residents["gemeinde_ars"].astype(str).to_numpy()[o],
            "mk_ars": residents["mk_ars"].astype(str).to_numpy()[o],
        }
    )
    logger.info("%d Bedarfssegmente, zusammen %.1f Personen", len(out), float(out["personen"].sum()))
    return out


# --------------------------------------------------------------------------- documentation


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %".replace(".", ",")


def _time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def demand_assumptions_table(params: Parameters) -> pd.DataFrame:
    """The demand and reach assumptions in force, for reports and the ``Annahmen`` sheet.

    Parameters
    ----------
    params
        Analysis parameters.

    Returns
    -------
    pandas.DataFrame
        Columns ``Annahme``, ``Wert``, ``Quelle`` (German). A value is attributed to
        the Integrationskonzept only where it equals the published county figure;
        every other value is marked ``Modellannahme``.
    """
    from coverage.inputs.schema import COURSE_TYPE_LABELS, GROUP_LABELS, MODE_LABELS

    b = params.bedarf
    ref = DemandAssumptions()
    rows: list[tuple[str, str, str]] = []

    def src(published: bool) -> str:
        return _SOURCE_PUBLISHED if published else _SOURCE_MODEL

    rows.append((
        "Anteil der 15- bis 65-Jährigen an den Einwohnern ohne deutsche Staatsangehörigkeit",
        _pct(b.anteil_15_65),
        src(math.isclose(b.anteil_15_65, ref.anteil_15_65)),
    ))
    duration = ("unter 4 Jahren", "4 bis 10 Jahren", "über 10 Jahren")
    for d, name in enumerate(duration):
        rows.append((
            f"Anteil mit Aufenthalt in Deutschland seit {name}",
            _pct(b.aufenthalt_anteile[d]),
            src(math.isclose(b.aufenthalt_anteile[d], ref.aufenthalt_anteile[d])),
        ))
    for d, name in enumerate(duration):
        rows.append((f"Anteil mit Kursbedarf bei Aufenthalt seit {name}", _pct(b.kursbedarf[d], 0), _SOURCE_MODEL))
    for d, name in enumerate(duration):
        dist = ", ".join(f"{lv} {_pct(x, 0)}" for lv, x in zip(LEVELS, b.niveau_verteilung[d], strict=True))
        rows.append((f"Benötigtes Niveau bei Aufenthalt seit {name}", dist, _SOURCE_MODEL))
    for g in GROUPS:
        share = _pct(b.gruppen_anteile[g], 0)
        rows.append((f"Anteil der Zielgruppe „{GROUP_LABELS[g]}“ am Bedarf", share, _SOURCE_MODEL))
    rows.append((
        "Niveau und Zielgruppe",
        "unabhängig voneinander innerhalb eines Herkunftsorts (wenn nicht beide je Ort angegeben sind)",
        _SOURCE_MODEL,
    ))
    for g in GROUPS:
        r = params.gruppen.get(g)
        if r is None:
            continue
        label = GROUP_LABELS[g]
        modes = ", ".join(MODE_LABELS.get(m, m) for m in r.modi) or "keins"
        rows.append((f"{label}: höchste Reisezeit je Weg", f"{r.max_minuten:g} min", _SOURCE_MODEL))
        rows.append((f"{label}: Verkehrsmittel", modes, _SOURCE_MODEL))
        rows.append((f"{label}: Kinderbetreuung nötig", "ja" if r.kinderbetreuung else "nein", _SOURCE_MODEL))
        rows.append((
            f"{label}: Kurszeiten",
            f"Beginn ab {_time(r.fruehester_beginn)}, Ende bis {_time(r.spaetestes_ende)}",
            _SOURCE_MODEL,
        ))
        rows.append((
            f"{label}: passende Kursarten",
            ", ".join(COURSE_TYPE_LABELS.get(k, k) for k in r.kursarten),
            _SOURCE_MODEL,
        ))
        rows.append((f"{label}: Online-Kurs angenommen auf Niveau", ", ".join(r.online_niveaus) or "keinem",
                     _SOURCE_MODEL))
    rows.append((
        "Versorgungslücke, wenn unversorgt mindestens",
        f"{params.min_gruppe.get('landkreis', 0)} Personen (Mindestgruppe eines Landkreis-Kurses)",
        _SOURCE_MODEL,
    ))
    rows.append(("Versorgungslücke, wenn Versorgungsquote unter", _pct(params.ziel_quote, 0), _SOURCE_MODEL))
    rows.append(("Robustheitsprüfung: Verschiebung aller Reisezeitgrenzen", f"± {params.sensitivitaet_min:g} min",
                 _SOURCE_MODEL))
    bands = "; ".join(f"bis {u:g} min: {w:g}".replace(".", ",") for u, w in params.e2sfca_baender)
    rows.append(("E2SFCA-Gewichte nach Reisezeit", bands, _SOURCE_MODEL))
    return pd.DataFrame(rows, columns=["Annahme", "Wert", "Quelle"])
