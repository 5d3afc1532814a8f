"""Coverage assessment: who is served, where provision has gaps and why.

:func:`assess` runs, on the existing courses,

1. :func:`coverage.reach.reach` – which segment may attend which course (and the
   reason if none), with and without online courses;
2. :func:`coverage.assignment.assign` – the persons placed in the free seats
   (most persons first, then shortest trips);
3. :func:`coverage.accessibility.e2sfca_by_level` – the E2SFCA index;
4. the robustness check: steps 1–2 again with every travel-time threshold shifted
   by ``−params.sensitivitaet_min`` and ``+params.sensitivitaet_min``.

Every unserved person gets one reason: the reach reason of its segment
(``kein_kurs``, ``kein_rueckweg``, ``termin``, ``kinderbetreuung``) or, if
suitable courses are reachable but their seats are taken, ``kurs_voll``.

The **gap table** has one row per Mitgliedskommune × level (all of them, also
without demand). A row is a *Versorgungslücke* if, with ``Bedarf ≥ 1``, at least
``params.min_gruppe["landkreis"]`` persons are unserved (enough for a county-funded
course) or the served share is below ``params.ziel_quote``. The decision uses the
numbers as shown (rounded to one decimal). ``zusätzlich online versorgbar`` counts
persons who are served by an online course and could not reach any suitable
in-person course: demand that only online courses can serve.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from ._io import write_csv, write_xlsx
from .accessibility import e2sfca_by_level
from .assignment import AssignmentResult, assign, course_capacity
from .config import Parameters
from .demand import demand_assumptions_table
from .errors import InputDataError
from .reach import REASON_LABELS, Reach, reach
from .schema import COURSE_TYPE_LABELS, LEVELS
from .traveltime import CourseTravelTimes

__all__ = ["GAP_COLUMNS", "GAP_EXPLANATIONS", "CoverageResult", "assess", "gap_table", "write_gap_tables"]

logger = logging.getLogger(__name__)

GAP_REASONS: tuple[str, ...] = ("kein_kurs", "kein_rueckweg", "termin", "kinderbetreuung", "kurs_voll")
_REASON_COLUMNS: dict[str, str] = {
    "kein_kurs": "davon: kein Kurs erreichbar",
    "kein_rueckweg": "davon: kein Rückweg",
    "termin": "davon: Termin passt nicht",
    "kinderbetreuung": "davon: keine Kinderbetreuung",
    "kurs_voll": "davon: Kurs voll",
}
_PERSON_COLUMNS: tuple[str, ...] = (
    "Bedarf", "erreichbar", "versorgt", "unversorgt", *_REASON_COLUMNS.values(), "zusätzlich online versorgbar",
)
_TOL = 1e-6


def _shift_label(sign: str, minutes: float) -> str:
    return f"Lücke bei {sign}{minutes:g} min"


def gap_columns(sensitivitaet_min: float = 15.0) -> tuple[str, ...]:
    """Column names of the gap table for a given robustness shift (default ±15 min)."""
    return (
        "Mitgliedskommune", "ARS", "Niveau", *_PERSON_COLUMNS[:4], *_REASON_COLUMNS.values(), "Versorgungsquote",
        "zusätzlich online versorgbar", "E2SFCA-Index (Median)", "Versorgungslücke", "Begründung",
        _shift_label("−", sensitivitaet_min), _shift_label("+", sensitivitaet_min), "Flagge robust",
    )


GAP_COLUMNS: tuple[str, ...] = gap_columns()
"""Columns of the gap table with the default shift of 15 minutes."""


def _explanations(params: Parameters, kapazitaet: str) -> list[tuple[str, str]]:
    m = params.sensitivitaet_min
    seats = "freien Plätze (freie_plaetze)" if kapazitaet == "freie_plaetze" else "Plätze insgesamt (plaetze)"
    return [
        ("Mitgliedskommune", "Name der Einheits- oder Samtgemeinde."),
        ("ARS", "Amtlicher Regionalschlüssel der Mitgliedskommune."),
        ("Niveau", "Kursniveau: Alpha (Alphabetisierung), A1, A2, B1, B2, C1."),
        ("Bedarf", "Geschätzte Zahl der Personen, die einen Kurs auf diesem Niveau brauchen (Erwartungswert, "
                   "auf eine Nachkommastelle gerundet; keine gezählten Personen)."),
        ("erreichbar", "Personen, die mindestens einen passenden Kurs ohne Auto erreichen: Niveau, Kursart, "
                       "Hin- und Rückweg innerhalb der Zeitgrenze ihrer Zielgruppe, Kurszeiten und ggf. "
                       "Kinderbetreuung passen – unabhängig davon, ob noch Plätze frei sind."),
        ("versorgt", f"Personen, die einen Platz bekommen: Zuordnung der {seats} an die Personen, die den Kurs "
                     "erreichen – möglichst viele Personen, bei Gleichstand möglichst kurze Wege."),
        ("unversorgt", "Bedarf minus versorgt."),
        ("davon: kein Kurs erreichbar", "Unversorgte, die keinen Kurs ihres Niveaus und ihrer Kursart rechtzeitig "
                                        "zum Kursbeginn erreichen."),
        ("davon: kein Rückweg", "Unversorgte, die einen Kurs zwar erreichen, aber nach Kursende nicht innerhalb der "
                                "Zeitgrenze nach Hause kommen."),
        ("davon: Termin passt nicht", "Unversorgte, für die alle erreichbaren Kurse zu früh beginnen oder zu spät "
                                      "enden (z. B. Berufstätige, Eltern)."),
        ("davon: keine Kinderbetreuung", "Unversorgte Eltern, deren erreichbare Kurse keine Kinderbetreuung haben."),
        ("davon: Kurs voll", "Unversorgte, die passende Kurse erreichen, deren Plätze aber schon vergeben sind."),
        ("Versorgungsquote", "versorgt geteilt durch Bedarf (0 bis 1; in der XLSX als Prozent). Leer ohne Bedarf."),
        ("zusätzlich online versorgbar", "Personen, die nur dank eines Online-Kurses versorgt sind: Sie erreichen "
                                         "keinen passenden Präsenzkurs, ihre Zielgruppe nimmt auf diesem Niveau aber "
                                         "Online-Kurse an. Sie sind in „versorgt“ enthalten."),
        ("E2SFCA-Index (Median)", "Erweiterter Zwei-Stufen-Einzugsgebietsindex: Plätze je Person im gewichteten "
                                  "Einzugsbereich (Gewichte nach Reisezeit, siehe Annahmen), Median über die "
                                  "Personen der Mitgliedskommune. Höher = mehr Plätze in der Nähe. Online-Kurse "
                                  "zählen nicht mit."),
        ("Versorgungslücke", f"„ja“, wenn mindestens {params.min_gruppe.get('landkreis', 0)} Personen unversorgt "
                             "sind (Mindestgruppe eines landkreisgeförderten Kurses) oder die Versorgungsquote unter "
                             f"{100 * params.ziel_quote:g} % liegt (bei einem Bedarf von mindestens 1 Person)."),
        ("Begründung", "Die Lücke in einem Satz mit dem häufigsten Grund."),
        (_shift_label("−", m), f"Versorgungslücke, wenn alle Zeitgrenzen um {m:g} Minuten kürzer wären."),
        (_shift_label("+", m), f"Versorgungslücke, wenn alle Zeitgrenzen um {m:g} Minuten länger wären."),
        ("Flagge robust", "„ja“, wenn die Einstufung als Lücke bei allen drei Zeitgrenzen gleich bleibt; „nein“ "
                          "heißt: das Ergebnis hängt an der gewählten Zeitgrenze."),
        ("Hinweis", "Alle Personenzahlen sind Erwartungswerte aus dem Bedarfsmodell (siehe Blatt Annahmen), keine "
                    "Anmeldungen oder gezählten Personen."),
        ("Hinweis", f"Zahlen unter {params.mindestanzahl} werden in den Dateien als „< {params.mindestanzahl}“ "
                    "angezeigt (Datenschutz)."),
    ]


GAP_EXPLANATIONS: tuple[tuple[str, str], ...] = tuple(_explanations(Parameters(), "freie_plaetze"))
"""Column explanations (German) for the default parameters."""


@dataclass
class CoverageResult:
    """Result of :func:`assess`.

    Attributes
    ----------
    segments
        Per segment: the demand columns plus ``erreichbar`` (bool), ``kurse``
        (number of suitable courses), ``beste_minuten``, ``versorgt``,
        ``unversorgt``, ``online_versorgt``, ``nur_online`` (bool), ``grund``
        (``''`` or a reason key) and ``grund_ohne_online``.
    courses
        Per course: ``kurs_id``, ``kursname``, ``traeger``, ``kursort``,
        ``kursart``, ``niveaus``, ``kapazitaet``, ``zugeordnet``, ``auslastung``,
        ``erreichbare_personen``.
    gaps
        The gap table (German columns, see :func:`gap_columns`).
    e2sfca
        Index per origin × level (``herkunft_id``, ``niveau``, ``personen``, ``e2sfca``).
    robustness
        Rows of the gap table whose flag changes with the threshold shift.
    reach, reach_offline
        Reach with and without online courses.
    assignment
        The seat assignment.
    assumptions
        Table of assumptions (``Annahme``, ``Wert``, ``Quelle``).
    mitgliedskommunen
        The Mitgliedskommune polygons.
    params
        Parameters used.
    kapazitaet
        Capacity column used.
    """

    segments: pd.DataFrame
    courses: pd.DataFrame
    gaps: pd.DataFrame
    e2sfca: pd.DataFrame
    robustness: pd.DataFrame
    reach: Reach
    reach_offline: Reach
    assignment: AssignmentResult
    assumptions: pd.DataFrame
    mitgliedskommunen: gpd.GeoDataFrame
    params: Parameters
    kapazitaet: str = "freie_plaetze"
    notes: list[str] = field(default_factory=list)

    @property
    def segments_for_placement(self) -> pd.DataFrame:
        """Unserved demand for :func:`coverage.placement.propose_courses`.

        Columns ``herkunft_id``, ``niveau``, ``gruppe``, ``unversorgt``, ``mk_ars``,
        ``gemeinde_ars``; only segments with unserved persons.
        """
        s = self.segments
        keep = s["unversorgt"] > _TOL
        cols = ["herkunft_id", "niveau", "gruppe", "unversorgt", "mk_ars", "gemeinde_ars"]
        return s.loc[keep, cols].reset_index(drop=True)

    def gap_layer(self, geometries: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
        """The gap table joined to the Mitgliedskommune polygons (long: one row per MK × level)."""
        mk = self.mitgliedskommunen if geometries is None else geometries
        geo = mk[["mk_ars", "geometry"]].rename(columns={"mk_ars": "ARS"})
        geo = geo.assign(ARS=geo["ARS"].astype(str))
        out = geo.merge(self.gaps, on="ARS", how="right")
        return gpd.GeoDataFrame(out, geometry="geometry", crs=mk.crs)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Layers for the project GeoPackage: ``luecken``."""
        return {"luecken": self.gap_layer()}


# --------------------------------------------------------------------------- helpers


def _de(x: float, digits: int = 1) -> str:
    s = f"{round(float(x), digits):.{digits}f}".replace(".", ",")
    if digits and s.endswith("," + "0" * digits):
        s = s[: -(digits + 1)]
    return s


def _persons(x: float, min_count: int) -> str:
    x = round(float(x), 1)
    if 0 < x < min_count:
        return f"weniger als {min_count} Personen"
    return "1 Person" if x == 1 else f"{_de(x)} Personen"


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    if len(values) == 0:
        return float("nan")
    if weights.sum() <= 0:
        return float(np.median(values))
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _segment_table(
    demand: pd.DataFrame, r: Reach, r_off: Reach, a: AssignmentResult
) -> pd.DataFrame:
    seg = demand.reset_index(drop=True).copy()
    reachable = r.reachable
    best = np.full(len(seg), np.nan)
    if r.minutes.nnz:
        counts = np.diff(r.minutes.indptr)
        has = counts > 0
        best[has] = np.minimum.reduceat(r.minutes.data, r.minutes.indptr[:-1][has])
    online_flow = np.asarray(a.flow[:, r.online].sum(axis=1)).ravel() if r.online.any() else np.zeros(len(seg))
    only_online = reachable & ~r_off.reachable
    grund = np.asarray(r.reason, dtype=object).copy()
    grund[reachable & (a.unserved > _TOL)] = "kurs_voll"
    seg["erreichbar"] = reachable
    seg["kurse"] = np.diff(r.ok.indptr)
    seg["beste_minuten"] = best
    seg["versorgt"] = a.served
    seg["unversorgt"] = a.unserved
    seg["online_versorgt"] = online_flow
    seg["nur_online"] = only_online
    seg["grund"] = grund
    seg["grund_ohne_online"] = np.asarray(r_off.reason, dtype=object)
    return seg


def _mk_frame(mitgliedskommunen: pd.DataFrame) -> pd.DataFrame:
    for c in ("mk_ars", "mk_name"):
        if c not in mitgliedskommunen.columns:
            raise InputDataError(f"Mitgliedskommunen: es fehlt die Spalte '{c}'.")
    mk = pd.DataFrame({
        "Mitgliedskommune": mitgliedskommunen["mk_name"].astype(str).to_numpy(),
        "ARS": mitgliedskommunen["mk_ars"].astype(str).to_numpy(),
    })
    if mk["ARS"].duplicated().any():
        raise InputDataError("Mitgliedskommunen: ARS ist nicht eindeutig.", column="mk_ars",
                             value=mk.loc[mk["ARS"].duplicated(), "ARS"].iloc[0])
    return mk


def _numbers(seg: pd.DataFrame, mk: pd.DataFrame) -> pd.DataFrame:
    """Person sums per MK × level (unrounded), all MK × level rows."""
    grid = pd.MultiIndex.from_product([mk["ARS"].tolist(), list(LEVELS)], names=["ARS", "Niveau"])
    s = seg.assign(
        ARS=seg["mk_ars"].astype(str),
        Niveau=seg["niveau"].astype(str),
        _erreichbar=np.where(seg["erreichbar"], seg["personen"], 0.0),
        _online=np.where(seg["nur_online"], seg["online_versorgt"], 0.0),
    )
    for key in GAP_REASONS:
        s[key] = np.where(s["grund"] == key, s["unversorgt"], 0.0)
    agg = s.groupby(["ARS", "Niveau"])[["personen", "_erreichbar", "versorgt", "unversorgt", *GAP_REASONS,
                                        "_online"]].sum()
    agg = agg.reindex(grid, fill_value=0.0)
    out = pd.DataFrame({
        "Bedarf": agg["personen"],
        "erreichbar": agg["_erreichbar"],
        "versorgt": agg["versorgt"],
        "unversorgt": agg["unversorgt"],
        **{_REASON_COLUMNS[k]: agg[k] for k in GAP_REASONS},
        "zusätzlich online versorgbar": agg["_online"],
    })
    return out.reset_index()


def _round_and_flag(num: pd.DataFrame, params: Parameters) -> pd.DataFrame:
    t = num.copy()
    for c in _PERSON_COLUMNS:
        t[c] = t[c].astype(float).round(1)
    bedarf = t["Bedarf"].to_numpy(float)
    quote = np.divide(t["versorgt"].to_numpy(float), bedarf, out=np.full(len(t), np.nan), where=bedarf > 0)
    t["Versorgungsquote"] = np.round(quote, 3)
    unv = t["unversorgt"].to_numpy(float)
    min_n = float(params.min_gruppe.get("landkreis", 0))
    with np.errstate(invalid="ignore"):
        flag = (bedarf >= 1.0) & ((unv >= min_n) | (quote < params.ziel_quote - 1e-12))
    t["_flag"] = flag
    return t


def _reason_sentence(row: pd.Series, params: Parameters, min_count: int) -> str:
    lv = row["Niveau"]
    bedarf = float(row["Bedarf"])
    if bedarf <= 0:
        return f"Kein Bedarf auf Niveau {lv} geschätzt."
    if bedarf < 1:
        return f"Bedarf auf Niveau {lv} unter 1 Person; keine Bewertung."
    unv = float(row["unversorgt"])
    q = float(row["Versorgungsquote"])
    ziel = f"{100 * params.ziel_quote:g} %"
    if row["Versorgungslücke"] == "ja":
        counts = {k: float(row[_REASON_COLUMNS[k]]) for k in GAP_REASONS}
        main = max(GAP_REASONS, key=lambda k: counts[k])
        text = f"{_persons(unv, min_count)} auf Niveau {lv} unversorgt"
        if counts[main] > 0:
            n_main = counts[main]
            shown = _de(n_main) if not (0 < n_main < min_count) else f"< {min_count}"
            text += f", vor allem: {REASON_LABELS[main]} ({shown})"
        return text + f"; Versorgungsquote {_de(100 * q)} % (Ziel {ziel})."
    if unv > 0:
        return (f"Versorgungsquote {_de(100 * q)} % erreicht das Ziel von {ziel}; {_persons(unv, min_count)} "
                f"unversorgt, weniger als die Mindestgruppe von {params.min_gruppe.get('landkreis', 0)}.")
    return f"Bedarf von {_persons(bedarf, min_count)} auf Niveau {lv} ist gedeckt."


def _e2sfca_median(e2: pd.DataFrame, seg: pd.DataFrame, mk: pd.DataFrame) -> pd.DataFrame:
    origin_mk = seg.drop_duplicates("herkunft_id").set_index("herkunft_id")["mk_ars"].astype(str)
    e = e2.assign(ARS=e2["herkunft_id"].map(origin_mk))
    e = e[e["ARS"].notna()]
    rows = []
    for (ars, lv), g in e.groupby(["ARS", "niveau"], sort=False):
        rows.append((ars, lv, _weighted_median(g["e2sfca"].to_numpy(float), g["personen"].to_numpy(float))))
    med = pd.DataFrame(rows, columns=["ARS", "Niveau", "E2SFCA-Index (Median)"])
    grid = pd.DataFrame([(a, lv) for a in mk["ARS"] for lv in LEVELS], columns=["ARS", "Niveau"])
    out = grid.merge(med, on=["ARS", "Niveau"], how="left")
    out["E2SFCA-Index (Median)"] = out["E2SFCA-Index (Median)"].round(4)
    return out


def gap_table(
    segments: pd.DataFrame,
    mitgliedskommunen: pd.DataFrame,
    *,
    params: Parameters,
    e2sfca: pd.DataFrame | None = None,
    shifted_segments: Sequence[pd.DataFrame] = (),
) -> pd.DataFrame:
    """Build the gap table from a per-segment table.

    Parameters
    ----------
    segments
        Per-segment table as in :attr:`CoverageResult.segments`.
    mitgliedskommunen
        Table with ``mk_ars`` and ``mk_name``; one row per Mitgliedskommune.
    params
        Parameters (flag rule, shift for the column names, ``mindestanzahl``).
    e2sfca
        Index per origin × level, optional.
    shifted_segments
        Two per-segment tables for the thresholds shifted by ``−`` and ``+``
        ``params.sensitivitaet_min`` (optional; without them the shift columns
        repeat the base flag).

    Returns
    -------
    pandas.DataFrame
        Columns :func:`gap_columns`, one row per Mitgliedskommune × level.
    """
    mk = _mk_frame(mitgliedskommunen)
    unknown = sorted(set(segments["mk_ars"].astype(str)) - set(mk["ARS"]))
    if unknown:
        lost = float(segments.loc[segments["mk_ars"].astype(str).isin(unknown), "personen"].sum())
        logger.warning("%.1f Personen liegen in unbekannten Mitgliedskommunen %s und fehlen in der Lückentabelle.",
                       lost, unknown[:5])
    t = _round_and_flag(_numbers(segments, mk), params)
    t = mk.merge(t, on="ARS", how="right")
    t["Versorgungslücke"] = np.where(t["_flag"], "ja", "nein")
    flags = [t["_flag"].to_numpy(bool)]
    m = params.sensitivitaet_min
    for sign, shifted in zip(("−", "+"), shifted_segments or (None, None), strict=True):
        if shifted is None:
            f = t["_flag"].to_numpy(bool)
        else:
            f = _round_and_flag(_numbers(shifted, mk), params)["_flag"].to_numpy(bool)
        flags.append(f)
        t[_shift_label(sign, m)] = np.where(f, "ja", "nein")
    robust = (flags[0] == flags[1]) & (flags[0] == flags[2])
    t["Flagge robust"] = np.where(robust, "ja", "nein")
    if e2sfca is not None:
        t = t.merge(_e2sfca_median(e2sfca, segments, mk), on=["ARS", "Niveau"], how="left")
    else:
        t["E2SFCA-Index (Median)"] = np.nan
    t["Begründung"] = [_reason_sentence(row, params, params.mindestanzahl) for _, row in t.iterrows()]
    return t[list(gap_columns(m))].reset_index(drop=True)


def _course_table(courses: pd.DataFrame, r: Reach, a: AssignmentResult, seg: pd.DataFrame,
                  cap: np.ndarray) -> pd.DataFrame:
    def col(name: str) -> pd.Series:
        return courses[name].reset_index(drop=True) if name in courses.columns else pd.Series([""] * len(courses))

    reachable = np.asarray(r.ok.T.astype(float) @ seg["personen"].to_numpy(float)).ravel()
    load = a.load
    return pd.DataFrame({
        "kurs_id": courses["kurs_id"].astype(str).to_numpy(),
        "kursname": col("kursname").to_numpy(),
        "traeger": col("traeger").to_numpy(),
        "kursort": col("kursort").to_numpy(),
        "kursart": courses["kursart"].astype(str).to_numpy(),
        "niveaus": [", ".join(v) if isinstance(v, (tuple, list)) else str(v) for v in courses["niveaus"]],
        "kapazitaet": cap,
        "zugeordnet": load,
        "auslastung": np.divide(load, cap, out=np.full(len(cap), np.nan), where=cap > 0),
        "erreichbare_personen": reachable,
    })


def _run(demand: pd.DataFrame, courses: pd.DataFrame, travel: CourseTravelTimes, params: Parameters,
         cap: np.ndarray, *, offline: bool = True) -> tuple[Reach, Reach, AssignmentResult, pd.DataFrame]:
    r = reach(demand, courses, travel, params=params)
    # the reach without online courses only feeds the online columns; the shifted runs need flags only
    r_off = reach(demand, courses, travel, params=params, include_online=False) if offline else r
    # whole minutes for the travel tie-break: merges segments, never changes who can be served
    a = assign(demand["personen"].to_numpy(float), cap, r.minutes, round_minutes=1.0)
    return r, r_off, a, _segment_table(demand, r, r_off, a)


def assess(
    demand: pd.DataFrame,
    courses: pd.DataFrame,
    travel: CourseTravelTimes,
    *,
    params: Parameters,
    mitgliedskommunen: gpd.GeoDataFrame,
    kapazitaet: Literal["freie_plaetze", "plaetze"] | None = None,
) -> CoverageResult:
    """Assess the provision of the existing courses.

    Parameters
    ----------
    demand
        Demand segments from :func:`coverage.demand.demand_segments`.
    courses
        Course registry (in the column order of ``travel`` or matched by ``kurs_id``).
    travel
        Travel times residents × courses.
    params
        Analysis parameters.
    mitgliedskommunen
        Polygons with ``mk_ars`` and ``mk_name``.
    kapazitaet
        Seats open to the demand: ``freie_plaetze`` (the other seats are held by
        current participants) or ``plaetze``; default ``params.kapazitaet``
        (``freie_plaetze`` if the parameters have no such field).

    Returns
    -------
    CoverageResult
    """
    if kapazitaet is None:
        kapazitaet = getattr(params, "kapazitaet", "freie_plaetze")
    for c in ("herkunft_id", "niveau", "gruppe", "personen", "mk_ars", "gemeinde_ars"):
        if c not in demand.columns:
            raise InputDataError(f"Bedarfssegmente: es fehlt die Spalte '{c}'.")
    demand = demand.reset_index(drop=True)
    courses = courses.reset_index(drop=True)
    cap = course_capacity(courses, kapazitaet=kapazitaet)
    r, r_off, a, seg = _run(demand, courses, travel, params, cap)
    m = params.sensitivitaet_min
    shifted = []
    for delta in (-m, m):
        _, _, _, s = _run(demand, courses, travel, params.shifted(delta), cap, offline=False)
        shifted.append(s)
    e2 = e2sfca_by_level(demand, courses, travel, params=params, kapazitaet=kapazitaet)
    gaps = gap_table(seg, mitgliedskommunen, params=params, e2sfca=e2, shifted_segments=shifted)
    changed = gaps[gaps["Flagge robust"] == "nein"]
    robustness = changed[["Mitgliedskommune", "ARS", "Niveau", "Versorgungslücke", _shift_label("−", m),
                          _shift_label("+", m)]].reset_index(drop=True)
    if len(robustness):
        logger.info("%d Lücken-Einstufungen ändern sich bei ±%g min: %s", len(robustness), m,
                    "; ".join(f"{x.Mitgliedskommune} {x.Niveau}" for x in robustness.itertuples()))
    total, served = float(seg["personen"].sum()), float(seg["versorgt"].sum())
    notes = [
        f"{_de(served)} von {_de(total)} Personen versorgt (Kapazität: {kapazitaet}).",
        f"{int((gaps['Versorgungslücke'] == 'ja').sum())} Versorgungslücken, davon {len(robustness)} nicht robust "
        f"gegenüber ±{m:g} min.",
    ]
    logger.info("Lücken: %s %s", *notes)
    return CoverageResult(
        segments=seg,
        courses=_course_table(courses, r, a, seg, cap),
        gaps=gaps,
        e2sfca=e2,
        robustness=robustness,
        reach=r,
        reach_offline=r_off,
        assignment=a,
        assumptions=demand_assumptions_table(params),
        mitgliedskommunen=mitgliedskommunen,
        params=params,
        kapazitaet=kapazitaet,
        notes=notes,
    )


# --------------------------------------------------------------------------- export


def _suppress(df: pd.DataFrame, columns: Sequence[str], min_count: int) -> pd.DataFrame:
    """Replace person numbers ``0 < x < min_count`` by the text ``< min_count``."""
    if min_count <= 0:
        return df
    out = df.copy()
    for c in columns:
        v = out[c].astype(float)
        small = (v > 0) & (v < min_count)
        if small.any():
            out[c] = out[c].astype(object)
            out.loc[small, c] = f"< {min_count}"
    return out


def _course_sheet(result: CoverageResult) -> pd.DataFrame:
    c = result.courses
    return pd.DataFrame({
        "Kurs-ID": c["kurs_id"],
        "Kursname": c["kursname"],
        "Träger": c["traeger"],
        "Kursort": c["kursort"],
        "Kursart": c["kursart"].map(lambda k: COURSE_TYPE_LABELS.get(k, k)),
        "Niveaus": c["niveaus"],
        "verfügbare Plätze": c["kapazitaet"],
        "zugeordnete Personen": c["zugeordnet"].round(1),
        "Auslastung": c["auslastung"].round(3),
        "Personen, die den Kurs erreichen": c["erreichbare_personen"].round(1),
    })


def _write_gpkg(target: Path, layer: gpd.GeoDataFrame, name: str) -> None:
    """Write one GeoPackage layer to a temporary ``.gpkg`` next to ``target``, then rename it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".gpkg", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()
        layer.to_file(tmp_path, driver="GPKG", layer=name)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_gap_tables(
    result: CoverageResult,
    *,
    directory: str | Path,
    crs_geometries: gpd.GeoDataFrame | None = None,
    mindestanzahl: int | None = None,
) -> list[Path]:
    """Write ``luecken.csv``, ``luecken.xlsx`` and ``luecken.gpkg`` atomically.

    Parameters
    ----------
    result
        Result of :func:`assess`.
    directory
        Output folder (created if needed).
    crs_geometries
        Mitgliedskommune polygons (``mk_ars``, geometry); default: those of ``result``.
    mindestanzahl
        Person numbers ``0 < x < mindestanzahl`` are written as ``< mindestanzahl``
        (privacy; default ``result.params.mindestanzahl``, 0 switches it off). In
        the GeoPackage they are left empty (NULL).

    Returns
    -------
    list of Path
        The files written.

    Notes
    -----
    ``luecken.xlsx`` has the sheets ``Lücken``, ``Kurse`` (load of every course),
    ``Robustheit`` (flags that change with the threshold), ``Erläuterung`` (every
    column explained) and ``Annahmen``. ``luecken.gpkg`` has one *long* layer
    ``luecken``: one feature per Mitgliedskommune × level with the polygon of the
    Mitgliedskommune repeated (filter by ``Niveau`` in QGIS).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    min_count = result.params.mindestanzahl if mindestanzahl is None else int(mindestanzahl)
    person_cols = [c for c in _PERSON_COLUMNS if c in result.gaps.columns]
    table = _suppress(result.gaps, person_cols, min_count)
    courses = _suppress(_course_sheet(result), ["zugeordnete Personen", "Personen, die den Kurs erreichen"],
                        min_count)
    explain = pd.DataFrame(_explanations(result.params, result.kapazitaet), columns=["Spalte", "Bedeutung"])
    csv_path = directory / "luecken.csv"
    xlsx_path = directory / "luecken.xlsx"
    gpkg_path = directory / "luecken.gpkg"
    write_csv(csv_path, table)
    robust = result.robustness if len(result.robustness) else pd.DataFrame(
        {"Hinweis": [f"Keine Einstufung ändert sich bei ±{result.params.sensitivitaet_min:g} min."]}
    )
    write_xlsx(
        xlsx_path,
        {"Lücken": table, "Kurse": courses, "Robustheit": robust, "Erläuterung": explain,
         "Annahmen": result.assumptions},
        percent_columns={"Lücken": ["Versorgungsquote"], "Kurse": ["Auslastung"]},
    )
    layer = result.gap_layer(crs_geometries)
    if min_count > 0:
        for c in person_cols:
            v = layer[c].astype(float)
            layer[c] = v.where(~((v > 0) & (v < min_count)))
    _write_gpkg(gpkg_path, layer, "luecken")
    logger.info("Lückentabellen geschrieben: %s", ", ".join(p.name for p in (csv_path, xlsx_path, gpkg_path)))
    return [csv_path, xlsx_path, gpkg_path]
