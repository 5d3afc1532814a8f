"""Coverage assessment: who is served, where provision has gaps and why.

:func:`assess` runs, on the existing courses,

1. :func:`coverage.analysis.reach.reach` – which segment may attend which course (and the
   reason if none), with and without online courses;
2. :func:`coverage.analysis.assignment.assign` – the persons placed in the free seats
   (most persons first, then shortest trips);
3. :func:`coverage.analysis.accessibility.e2sfca_by_level` – the E2SFCA index;
4. the robustness check: steps 1–2 again with every travel-time threshold shifted
   by ``−params.sensitivitaet_min`` and ``+params.sensitivitaet_min``.

The work is split into independent *blocks* of levels (:mod:`coverage.analysis._blocks`):
one level, or several joined by a course that offers them all. The reach pairs of
a block are computed once for the largest threshold and derived for the three
thresholds; each block's result is kept under a fingerprint of all its inputs (in
memory and, with ``cache``, on disk), so a rerun after one course was added,
removed or changed computes only the blocks of that course's levels again.

Every unserved person gets one reason: the reach reason of its segment
(``kein_kurs``, ``kein_rueckweg``, ``termin``, ``kinderbetreuung``) or, if
suitable courses are reachable but their seats are taken, ``kurs_voll``.

The **gap table** has one row per Mitgliedskommune × level (all of them, also
without demand). A row with ``Bedarf ≥ mindestanzahl`` is a *Versorgungslücke*
(a place where a planner can act) if

(a) a new county course could be filled there: at least
    ``params.min_gruppe["landkreis"]`` unserved persons of the row reach one and
    the same candidate course (a candidate site × schedule of the placement stage,
    see ``candidate_cover`` of :func:`assess`), or
(b) the served share is below ``params.ziel_quote`` and the demand is at least
    ``params.min_bedarf_quote`` (default: the minimum group), so the share means
    something.

The column ``durch neuen Kurs versorgbar`` holds, per row, the unserved persons
who reach the best single candidate course, capped at
``params.max_gruppe["landkreis"]``; the flagged rows are ranked by its *published*
value (``Rang``; ties by published ``unversorgt``, then ARS and level), so the rank
reveals nothing the published numbers do not. Without candidate reach (no
``candidate_cover``) the column falls back to the unserved persons (capped), i.e.
rule (a) without the reach condition. The decision uses the numbers as shown
(rounded to one decimal). ``zusätzlich online versorgbar`` counts
persons who are served by an online course and could not reach any suitable
in-person course: demand that only online courses can serve.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from coverage._io import default_file_mode, write_csv, write_xlsx
from coverage.analysis import _blocks
from coverage.analysis._reachcore import stage_reason
from coverage.analysis.assignment import AssignmentResult, course_capacity
from coverage.analysis.demand import demand_assumptions_table
from coverage.analysis.reach import REASON_LABELS, REASONS, Reach, _group_limits, _prepare
from coverage.cache._codes import factorize
from coverage.errors import InputDataError
from coverage.inputs.config import Parameters
from coverage.inputs.schema import COURSE_TYPE_LABELS, LEVELS
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.traveltime.engine import CourseTravelTimes

if TYPE_CHECKING:
    from coverage.cache.store import Cache

__all__ = [
    "CANDIDATE_COLUMN",
    "FLAG_LITTLE",
    "GAP_COLUMNS",
    "GAP_EXPLANATIONS",
    "OUTSIDE_COLUMN",
    "CoverageResult",
    "assess",
    "gap_table",
    "min_bedarf_quote",
    "published_gaps",
    "write_gap_tables",
]

logger = logging.getLogger(__name__)

GAP_REASONS: tuple[str, ...] = (*(r for r in REASONS if r), "kurs_voll")
_REASON_COLUMNS: dict[str, str] = {k: f"davon: {REASON_LABELS[k]}" for k in GAP_REASONS}
OUTSIDE_COLUMN = "außerhalb des Kreises versorgt"
"""Gap-table column: persons of the row served by a course outside the county (part of ``versorgt``)."""
CANDIDATE_COLUMN = "durch neuen Kurs versorgbar"
"""Gap-table column: unserved persons of the row who reach the best candidate course, capped at the maximum group."""
_PERSON_COLUMNS: tuple[str, ...] = (
    "Bedarf", "erreichbar", "versorgt", "unversorgt", *_REASON_COLUMNS.values(), "zusätzlich online versorgbar",
    OUTSIDE_COLUMN, CANDIDATE_COLUMN,
)
_TOL = _blocks.UNSERVED_TOL
FLAG_LITTLE = "zu wenig Bedarf"
"""Value of ``Versorgungslücke`` for a row whose demand is below ``mindestanzahl``: no statement."""


def min_bedarf_quote(params: Parameters) -> float:
    """Smallest demand for which a served share under ``ziel_quote`` flags a row (rule (b)).

    ``params.min_bedarf_quote``, or the minimum group of a county course when it is None.
    """
    value = getattr(params, "min_bedarf_quote", None)
    return float(params.min_gruppe.get("landkreis", 0) if value is None else value)


def _de(x: float, digits: int = 1) -> str:
    s = f"{round(float(x), digits):.{digits}f}".replace(".", ",")
    if digits and s.endswith("," + "0" * digits):
        s = s[: -(digits + 1)]
    return s


def _shift_label(sign: str, minutes: float) -> str:
    return f"Lücke bei {sign}{minutes:g} min"


def gap_columns(sensitivitaet_min: float = 15.0) -> tuple[str, ...]:
    """Column names of the gap table for a given robustness shift (default ±15 min)."""
    return (
        "Mitgliedskommune", "ARS", "Niveau", *_PERSON_COLUMNS[:4], *_REASON_COLUMNS.values(), "Versorgungsquote",
        "zusätzlich online versorgbar", OUTSIDE_COLUMN, "E2SFCA-Index (Median)", "Versorgungslücke", "Rang",
        CANDIDATE_COLUMN, "Begründung",
        _shift_label("−", sensitivitaet_min), _shift_label("+", sensitivitaet_min), "Flagge robust",
    )


GAP_COLUMNS: tuple[str, ...] = gap_columns()
"""Columns of the gap table with the default shift of 15 minutes."""


def _explanations(params: Parameters, kapazitaet: str) -> list[tuple[str, str]]:
    m = params.sensitivitaet_min
    min_n = params.min_gruppe.get("landkreis", 0)
    max_n = params.max_gruppe.get("landkreis", 0)
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
        (OUTSIDE_COLUMN, "Personen, deren Platz in einem Kurs außerhalb des Landkreises liegt (Kurse im "
                         "Analysegebiet um den Kreis, [region] puffer_km). Sie sind in „versorgt“ enthalten; "
                         "ohne diese Kurse wären sie unversorgt oder anders zugeordnet."),
        ("E2SFCA-Index (Median)", "Erweiterter Zwei-Stufen-Einzugsgebietsindex: Plätze je Person im gewichteten "
                                  "Einzugsbereich (Gewichte nach Reisezeit, siehe Annahmen), Median über die "
                                  "Personen der Mitgliedskommune. Höher = mehr Plätze in der Nähe. Online-Kurse "
                                  "zählen nicht mit."),
        ("Versorgungslücke", f"„ja“ heißt: hier kann die Planung etwas tun. Entweder erreichen mindestens "
                             f"{min_n} unversorgte Personen denselben möglichen Kursort (Kandidatenstandort mit "
                             "passendem Zeitfenster) – genug für einen landkreisgeförderten Kurs (Mindestgruppe) –, "
                             f"oder die Versorgungsquote liegt unter {100 * params.ziel_quote:g} % bei einem Bedarf "
                             f"von mindestens {_de(min_bedarf_quote(params))} Personen. „{FLAG_LITTLE}“, wenn der "
                             f"Bedarf unter {params.mindestanzahl} Personen liegt (keine Aussage möglich und zum "
                             "Datenschutz); sonst „nein“."),
        ("Rang", f"Reihenfolge der Lücken (1 = die meisten Personen, die ein neuer Kurs hier versorgen könnte), nach "
                 f"der ausgewiesenen Zahl in „{CANDIDATE_COLUMN}“, bei Gleichstand nach „unversorgt“, dann nach ARS "
                 "und Niveau. Leer, wenn keine Lücke."),
        (CANDIDATE_COLUMN, "Unversorgte Personen dieser Zeile, die einen möglichen neuen Kurs erreichen (bester "
                           "Kandidatenstandort mit Zeitfenster, gleiche Regeln wie für bestehende Kurse), höchstens "
                           f"{max_n} (Höchstgruppe eines landkreisgeförderten Kurses)."),
        ("Begründung", "Die Lücke in einem Satz mit dem häufigsten Grund."),
        (_shift_label("−", m), f"Versorgungslücke, wenn alle Zeitgrenzen um {m:g} Minuten kürzer wären."),
        (_shift_label("+", m), f"Versorgungslücke, wenn alle Zeitgrenzen um {m:g} Minuten länger wären."),
        ("Flagge robust", "„ja“, wenn die Einstufung als Lücke bei allen drei Zeitgrenzen gleich bleibt; „nein“ "
                          "heißt: das Ergebnis hängt an der gewählten Zeitgrenze."),
        ("Hinweis", "Alle Personenzahlen sind Erwartungswerte aus dem Bedarfsmodell (siehe Blatt Annahmen), keine "
                    "Anmeldungen oder gezählten Personen."),
        ("Hinweis", f"Datenschutz: Personenzahlen unter {params.mindestanzahl} werden als „< "
                    f"{params.mindestanzahl}“ angezeigt, alle anderen auf Vielfache von {2 * params.mindestanzahl} "
                    "gerundet; Quoten werden aus den gerundeten Zahlen berechnet. So lässt sich keine verborgene "
                    "Zahl aus Summen oder Differenzen zurückrechnen. Gerundete Teile addieren sich daher nicht "
                    "immer genau zur gerundeten Summe."),
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
        """Unserved demand for :func:`coverage.placement.model.propose_courses`.

        Columns ``herkunft_id``, ``niveau``, ``gruppe``, ``unversorgt``, ``mk_ars``,
        ``gemeinde_ars``; only segments with unserved persons.
        """
        s = self.segments
        keep = s["unversorgt"] > _TOL
        cols = ["herkunft_id", "niveau", "gruppe", "unversorgt", "mk_ars", "gemeinde_ars"]
        return s.loc[keep, cols].reset_index(drop=True)

    def published_gaps(self, *, text: bool = False) -> pd.DataFrame:
        """The gap table with every count published by the disclosure policy (see :func:`published_gaps`)."""
        return published_gaps(self.gaps, DisclosurePolicy(self.params.mindestanzahl), text=text)

    def gap_layer(self, geometries: gpd.GeoDataFrame | None = None, *,
                  policy: DisclosurePolicy | None = None) -> gpd.GeoDataFrame:
        """The published gap table joined to the Mitgliedskommune polygons (long: one row per MK × level).

        Suppressed counts are empty (NULL); the others rounded (``policy``, default from the parameters).
        """
        mk = self.mitgliedskommunen if geometries is None else geometries
        geo = mk[["mk_ars", "geometry"]].rename(columns={"mk_ars": "ARS"})
        geo = geo.assign(ARS=geo["ARS"].astype(str))
        policy = policy or DisclosurePolicy(self.params.mindestanzahl)
        out = geo.merge(published_gaps(self.gaps, policy), on="ARS", how="right")
        return gpd.GeoDataFrame(out, geometry="geometry", crs=mk.crs)

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """Layers for the project GeoPackage: ``luecken`` (published numbers only)."""
        return {"luecken": self.gap_layer()}


# --------------------------------------------------------------------------- helpers




def _segment_table(
    demand: pd.DataFrame, r: Reach, r_off: Reach, a: AssignmentResult
) -> pd.DataFrame:
    """Per-segment table from reach and assignment (see :attr:`CoverageResult.segments`)."""
    n_s = len(demand)
    code = pd.Categorical(np.asarray(r.reason, dtype=object), categories=list(REASONS)).codes.astype(np.int8)
    code_off = pd.Categorical(np.asarray(r_off.reason, dtype=object), categories=list(REASONS)).codes.astype(np.int8)
    online_flow = np.asarray(a.flow[:, r.online].sum(axis=1)).ravel() if r.online.any() else np.zeros(n_s)
    cols = _segment_columns(r.minutes.indptr, r.minutes.data, code, code_off, a.served, a.unserved, online_flow)
    return _segment_frame(demand, cols)


_GRUND_LABELS: tuple[str, ...] = (*REASONS, "kurs_voll")
"""Labels of the reason codes of :func:`_segment_columns` (``REASONS`` plus ``kurs_voll``)."""


def _segment_columns(ok_ptr: np.ndarray, ok_min: np.ndarray, code: np.ndarray, code_off: np.ndarray,
                     served: np.ndarray, unserved: np.ndarray, online_flow: np.ndarray) -> dict[str, np.ndarray]:
    """The added columns of the segment table as arrays; ``grund``/``grund_ohne_online`` as codes."""
    n_s = len(code)
    counts = np.diff(ok_ptr)
    reachable = counts > 0
    best = np.full(n_s, np.nan)
    if len(ok_min):
        best[reachable] = np.minimum.reduceat(ok_min, ok_ptr[:-1][reachable])
    grund = code.astype(np.int8, copy=True)
    grund[reachable & (unserved > _TOL)] = len(REASONS)  # kurs_voll
    return {
        "erreichbar": reachable,
        "kurse": counts,
        "beste_minuten": best,
        "versorgt": served,
        "unversorgt": unserved,
        "online_versorgt": online_flow,
        "nur_online": reachable & (code_off != 0),
        "grund": grund,
        "grund_ohne_online": code_off,
    }


def _text(codes: np.ndarray, labels: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """String column (pandas ``str`` dtype) of ``labels[codes]`` without a Python loop."""
    import pyarrow as pa

    decoded = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, np.int32)),
                                             pa.array(list(labels), pa.large_string())).dictionary_decode()
    return pd.array(decoded, dtype=pd.StringDtype(na_value=np.nan))


def _segment_frame(demand: pd.DataFrame, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """The demand segments with the columns of :func:`_segment_columns` appended (replacing equal names)."""
    base = demand.reset_index(drop=True)
    base = base.drop(columns=[c for c in cols if c in base.columns])
    added = pd.DataFrame({name: _text(v, _GRUND_LABELS) if name in ("grund", "grund_ohne_online") else v
                          for name, v in cols.items()}, index=base.index)
    return pd.concat([base, added], axis=1)  # one step: inserting column by column costs ~3 ms per column


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
    """Person sums per MK × level (unrounded), all MK × level rows, from a per-segment table."""
    mk_code = _mk_codes(seg["mk_ars"], mk)
    lv_code = _level_codes(seg["niveau"])
    persons = seg["personen"].to_numpy(float)
    unserved = seg["unversorgt"].to_numpy(float)
    grund = seg["grund"].astype(str).to_numpy(dtype=object) if "grund" in seg.columns else np.full(len(seg), "")
    zero = np.zeros(len(seg))

    def column(name: str, default: np.ndarray) -> np.ndarray:
        return seg[name].to_numpy() if name in seg.columns else default

    cols = [persons, np.where(column("erreichbar", zero).astype(bool), persons, 0.0),
            seg["versorgt"].to_numpy(float), unserved,
            *[np.where(grund == k, unserved, 0.0) for k in GAP_REASONS],
            np.where(column("nur_online", zero).astype(bool), column("online_versorgt", zero).astype(float), 0.0)]
    seg_mk = np.where(lv_code >= 0, mk_code, -1)
    sums = _blocks.segment_sums(seg_mk, np.maximum(lv_code, 0), len(mk), len(LEVELS), cols)
    outside = _blocks.segment_sums(seg_mk, np.maximum(lv_code, 0), len(mk), len(LEVELS),
                                   [column("versorgt_ausserhalb", zero).astype(float)])[:, 0]
    return _numbers_frame(sums, mk, outside=outside)


def _mk_level_frame(mk: pd.DataFrame) -> dict[str, np.ndarray]:
    return {"ARS": np.repeat(mk["ARS"].to_numpy(), len(LEVELS)),
            "Niveau": np.tile(np.array(LEVELS, dtype=object), len(mk))}


def _numbers_frame(sums: np.ndarray, mk: pd.DataFrame, *, outside: np.ndarray | None = None) -> pd.DataFrame:
    """The sums of :data:`coverage.analysis._blocks.SUM_COLUMNS` per MK × level as the German columns.

    ``outside`` holds the persons per MK × level served by courses outside the county (zeros if None).
    """
    col = {k: sums[:, i] for i, k in enumerate(_blocks.SUM_COLUMNS)}
    return pd.DataFrame(_mk_level_frame(mk) | {
        "Bedarf": col["personen"], "erreichbar": col["erreichbar"], "versorgt": col["versorgt"],
        "unversorgt": col["unversorgt"], **{_REASON_COLUMNS[k]: col[k] for k in GAP_REASONS},
        "zusätzlich online versorgbar": col["nur_online"],
        OUTSIDE_COLUMN: np.zeros(len(sums)) if outside is None else outside,
    })


def _mk_codes(mk_ars: pd.Series, mk: pd.DataFrame) -> np.ndarray:
    """Row of every segment's Mitgliedskommune in ``mk`` (-1 if unknown)."""
    codes, uniques = factorize(mk_ars)
    lookup = pd.Index(mk["ARS"].astype(str)).get_indexer(pd.Index(uniques)).astype(np.int64)
    return lookup[codes] if len(codes) else np.zeros(0, np.int64)


def _level_codes(niveau: pd.Series) -> np.ndarray:
    codes, uniques = factorize(niveau)
    lookup = np.array([LEVELS.index(u) if u in LEVELS else -1 for u in uniques], np.int64)
    return lookup[codes] if len(codes) else np.zeros(0, np.int64)


def _round_and_flag(num: pd.DataFrame, params: Parameters) -> pd.DataFrame:
    """Person sums (unrounded; sums below 1e-9 are 0), the quote and the flag decided on one-decimal numbers.

    The table keeps the unrounded sums: only :mod:`coverage.analysis.disclosure` turns them
    into published numbers (a part that would print as 0,0 must not look like an
    exact zero next to a suppressed total).
    """
    t = num.copy()
    for c in _PERSON_COLUMNS:
        if c in t.columns:
            v = t[c].astype(float)
            t[c] = v.where(v.abs() >= 1e-9, 0.0)
    bedarf = t["Bedarf"].to_numpy(float).round(1)
    versorgt = t["versorgt"].to_numpy(float).round(1)
    quote = np.divide(versorgt, bedarf, out=np.full(len(t), np.nan), where=bedarf > 0)
    t["Versorgungsquote"] = np.round(quote, 3)
    min_n = float(params.min_gruppe.get("landkreis", 0))
    max_n = float(params.max_gruppe.get("landkreis", min_n))
    if CANDIDATE_COLUMN not in t.columns:  # no candidate reach: rule (a) without the reach condition
        t[CANDIDATE_COLUMN] = np.minimum(t["unversorgt"].to_numpy(float), max_n)
    cand = np.minimum(t[CANDIDATE_COLUMN].to_numpy(float), max_n)
    t[CANDIDATE_COLUMN] = np.where(np.abs(cand) >= 1e-9, cand, 0.0)
    enough = bedarf >= max(1.0, float(params.mindestanzahl))
    with np.errstate(invalid="ignore"):
        course = cand.round(1) >= min_n
        share = (quote < params.ziel_quote - 1e-12) & (bedarf >= min_bedarf_quote(params))
        flag = enough & (course | share)
    t["_flag"] = flag
    t["_wenig"] = (bedarf > 0) & ~enough
    return t


def _candidate_sums(row: np.ndarray, unserved: np.ndarray, cover: sp.spmatrix, n_rows: int) -> np.ndarray:
    """Per gap-table row: the unserved persons who reach the best single candidate course.

    Parameters
    ----------
    row
        Row of every segment in the gap table (``mk · len(LEVELS) + level``; -1 = none).
    unserved
        Unserved persons per segment.
    cover
        ``(n_segments, n_candidates)`` boolean: segment may attend candidate course.
    n_rows
        Rows of the gap table.

    Returns
    -------
    numpy.ndarray
        ``max_c Σ_{s in row, cover[s, c]} unserved[s]`` per row (0 without candidates).
    """
    row = np.asarray(row, np.int64)
    keep = (row >= 0) & (np.asarray(unserved, float) > _TOL)
    out = np.zeros(n_rows)
    if not keep.any() or cover.shape[1] == 0:
        return out
    idx = np.nonzero(keep)[0]
    weights = sp.csr_matrix((np.asarray(unserved, float)[idx], (row[idx], idx)), shape=(n_rows, len(row)))
    per = (weights @ sp.csr_matrix(cover, dtype=float)).tocsr()
    if per.nnz:
        out = np.asarray(per.max(axis=1).todense(), float).ravel()
    return np.maximum(out, 0.0)


def _ranks(t: pd.DataFrame, flag: np.ndarray, policy: DisclosurePolicy) -> pd.Series:
    """``Rang`` of the flagged rows by *published* numbers (1 = most persons a new course could serve).

    Order: published ``durch neuen Kurs versorgbar`` descending, then published
    ``unversorgt`` descending (a suppressed count sorts between 0 and the smallest
    shown count), then ARS and level ascending. Unflagged rows get no rank.
    """
    def key(col: str) -> np.ndarray:
        pub = policy.counts(t[col].to_numpy(float))
        return np.where(np.isnan(pub), 0.5 * policy.min_count, pub)

    level = pd.Categorical(t["Niveau"], categories=list(LEVELS)).codes
    order = np.lexsort((level, t["ARS"].astype(str).to_numpy(), -key("unversorgt"), -key(CANDIDATE_COLUMN)))
    order = order[flag[order]]
    rank = np.full(len(t), pd.NA, dtype=object)
    rank[order] = np.arange(1, len(order) + 1)
    return pd.Series(pd.array(rank, dtype="Int64"), index=t.index)


def _flag_text(flag: np.ndarray, little: np.ndarray) -> np.ndarray:
    return np.where(flag, "ja", np.where(little, FLAG_LITTLE, "nein"))


def _reason_sentence(row: Mapping[str, object], params: Parameters, policy: DisclosurePolicy) -> str:
    """The gap of one row in a sentence; every number in it is published by ``policy``."""
    lv = row["Niveau"]
    bedarf = float(row["Bedarf"])
    if bedarf <= 0:
        return f"Kein Bedarf auf Niveau {lv} geschätzt."
    if row["Versorgungslücke"] == FLAG_LITTLE:
        return f"Bedarf auf Niveau {lv} unter {policy.min_count} Personen: zu wenig Bedarf für eine Aussage."
    unv = float(row["unversorgt"])
    q = float(policy.share(policy.counts(np.array([float(row["versorgt"])])),
                           policy.counts(np.array([bedarf])))[0])
    quote = f"Versorgungsquote {_de(100 * q)} %" if math.isfinite(q) else "Versorgungsquote nicht ausgewiesen"
    ziel = f"{100 * params.ziel_quote:g} %"
    min_n = params.min_gruppe.get("landkreis", 0)
    cand = float(row.get(CANDIDATE_COLUMN, 0.0) or 0.0)
    if row["Versorgungslücke"] == "ja":
        counts = {k: float(row[_REASON_COLUMNS[k]]) for k in GAP_REASONS}
        main = max(GAP_REASONS, key=lambda k: counts[k])
        text = f"Rang {row['Rang']}: {policy.persons(unv)} auf Niveau {lv} unversorgt"
        if counts[main] > 0:
            text += f", vor allem: {REASON_LABELS[main]} ({policy.text(counts[main])})"
        text += (f"; ein neuer Kurs könnte {policy.persons(cand)} versorgen" if cand > 0
                 else "; kein möglicher Kursort für einen neuen Kurs erreichbar")
        return text + f"; {quote} (Ziel {ziel})."
    if unv > 0:
        return (f"{quote}, Ziel {ziel}; {policy.persons(unv)} unversorgt, davon erreichen {policy.text(cand)} "
                f"einen möglichen Kursort – weniger als die Mindestgruppe von {min_n}.")
    return f"Bedarf von {policy.persons(bedarf)} auf Niveau {lv} ist gedeckt."


def _e2sfca_median(e2: pd.DataFrame, seg: pd.DataFrame, mk: pd.DataFrame) -> pd.DataFrame:
    origin_ids, origin_code = np.unique(e2["herkunft_id"].astype(str).to_numpy(), return_inverse=True)
    seg_origin = pd.Index(origin_ids).get_indexer(seg["herkunft_id"].astype(str))
    mk_of_origin = _origin_mk(seg_origin, _mk_codes(seg["mk_ars"], mk), len(origin_ids))
    med = _blocks.median_table(mk_of_origin[origin_code], _level_codes(e2["niveau"]), e2["e2sfca"].to_numpy(float),
                               e2["personen"].to_numpy(float), len(mk), len(LEVELS))
    return pd.DataFrame(_mk_level_frame(mk) | {"E2SFCA-Index (Median)": np.round(med, 4)})


def _origin_mk(seg_origin: np.ndarray, seg_mk: np.ndarray, n_o: int) -> np.ndarray:
    """MK row of every origin: that of its first segment (-1 without segments or MK)."""
    out = np.full(n_o, -1, np.int64)
    ok = seg_origin >= 0
    out[seg_origin[ok][::-1]] = seg_mk[ok][::-1]  # the first segment of an origin is written last
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
    shifted = [None if sh is None else _numbers(sh, mk) for sh in (shifted_segments or (None, None))]
    med = _e2sfca_median(e2sfca, segments, mk) if e2sfca is not None else None
    return _gap_table(_numbers(segments, mk), mk, params=params, shifted=shifted, e2sfca_median=med)


def _gap_table(num: pd.DataFrame, mk: pd.DataFrame, *, params: Parameters, shifted: Sequence[pd.DataFrame | None],
               e2sfca_median: pd.DataFrame | None) -> pd.DataFrame:
    """The gap table from the sums per MK × level (analysis and the two shifted runs)."""
    t = _round_and_flag(num, params)
    t = mk.merge(t, on="ARS", how="right")
    little = t["_wenig"].to_numpy(bool)
    t["Versorgungslücke"] = _flag_text(t["_flag"].to_numpy(bool), little)
    policy = DisclosurePolicy(params.mindestanzahl)
    t["Rang"] = _ranks(t, t["_flag"].to_numpy(bool), policy)
    flags = [t["_flag"].to_numpy(bool)]
    m = params.sensitivitaet_min
    for sign, sh in zip(("−", "+"), shifted, strict=True):
        f = t["_flag"].to_numpy(bool) if sh is None else _round_and_flag(sh, params)["_flag"].to_numpy(bool)
        flags.append(f)
        t[_shift_label(sign, m)] = _flag_text(f, little)
    robust = (flags[0] == flags[1]) & (flags[0] == flags[2])
    t["Flagge robust"] = np.where(robust, "ja", "nein")
    if e2sfca_median is not None:
        t = t.merge(e2sfca_median, on=["ARS", "Niveau"], how="left")
    else:
        t["E2SFCA-Index (Median)"] = np.nan
    t["Begründung"] = [_reason_sentence(row, params, policy) for row in t.to_dict("records")]
    return t[list(gap_columns(m))].reset_index(drop=True)


def _course_table(courses: pd.DataFrame, r: Reach, a: AssignmentResult, seg: pd.DataFrame,
                  cap: np.ndarray, *, reachable: np.ndarray | None = None) -> pd.DataFrame:
    def col(name: str) -> pd.Series:
        return courses[name].reset_index(drop=True) if name in courses.columns else pd.Series([""] * len(courses))

    if reachable is None:
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
        "im_kreis": (courses["im_kreis"].astype(bool).to_numpy() if "im_kreis" in courses.columns
                     else np.ones(len(courses), bool)),
    })


def _outside_flow(courses: pd.DataFrame, flow_ptr: np.ndarray, flow_idx: np.ndarray, flow_val: np.ndarray,
                  n_s: int) -> np.ndarray:
    """Persons per segment placed in courses outside the county (``im_kreis`` False; zeros without the column)."""
    if "im_kreis" not in courses.columns or courses["im_kreis"].astype(bool).all():
        return np.zeros(n_s)
    outside = ~courses["im_kreis"].astype(bool).to_numpy()
    rows = np.repeat(np.arange(n_s), np.diff(flow_ptr))
    mask = outside[flow_idx]
    return np.bincount(rows[mask], weights=flow_val[mask], minlength=n_s)


def _reach_objects(g: dict, prep, n_c: int) -> tuple[Reach, Reach]:
    """Reach with and without online courses from the assembled block results."""
    n_s = len(g["stage"])
    ok = sp.csr_matrix((np.ones(len(g["ok_idx"]), bool), g["ok_idx"], g["ok_ptr"]), shape=(n_s, n_c))
    minutes = sp.csr_matrix((g["ok_min"], g["ok_idx"], g["ok_ptr"]), shape=(n_s, n_c))
    ca = prep.courses
    reasons = np.asarray(REASONS, dtype=object)
    r = Reach(ok=ok, minutes=minutes, reason=reasons[stage_reason(g["stage"])], course_ids=ca["kurs_id"],
              online=ca["online"], include_online=True)
    if ca["online"].any():
        keep = ~ca["online"][g["ok_idx"]]
        rows = np.repeat(np.arange(n_s), np.diff(g["ok_ptr"]))[keep]
        ptr = np.zeros(n_s + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=n_s), out=ptr[1:])
        ok_off = sp.csr_matrix((np.ones(int(keep.sum()), bool), g["ok_idx"][keep], ptr), shape=(n_s, n_c))
        min_off = sp.csr_matrix((g["ok_min"][keep], g["ok_idx"][keep], ptr), shape=(n_s, n_c))
    else:
        ok_off, min_off = ok, minutes
    r_off = Reach(ok=ok_off, minutes=min_off, reason=reasons[stage_reason(g["stage_off"])],
                  course_ids=ca["kurs_id"], online=ca["online"], include_online=False)
    return r, r_off


def _problem(demand: pd.DataFrame, courses: pd.DataFrame, travel: CourseTravelTimes, params: Parameters,
             cap: np.ndarray, mk: pd.DataFrame | None = None) -> _blocks.Problem:
    """Check the inputs and turn them into the arrays of :class:`coverage.analysis._blocks.Problem`."""
    if "allgemein" not in params.gruppen:
        raise InputDataError("Zielgruppe 'allgemein' hat keine Regeln (nötig für den E2SFCA-Index).")
    persons = pd.to_numeric(demand["personen"], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(persons)) or (persons < 0).any():
        raise InputDataError("Bedarf je Segment muss eine endliche Zahl ≥ 0 sein.", column="personen")
    prep = _prepare(demand, courses, travel, params)
    m = params.sensitivitaet_min
    names = prep.group_names
    limits = np.vstack([_group_limits(params, names), _group_limits(params.shifted(-m), names),
                        _group_limits(params.shifted(m), names)])
    modes = tuple(travel.modes)
    e2_modes = np.array([mo in params.gruppen["allgemein"].modi for mo in modes], bool)
    if mk is None:
        mk = pd.DataFrame({"ARS": pd.unique(demand["mk_ars"].astype(str))})
    seg_mk = _mk_codes(demand["mk_ars"], mk)
    n_o = travel.hin.shape[1]
    return _blocks.Problem(prep=prep, persons=persons, capacity=np.asarray(cap, float), limits=limits,
                           hin=travel.hin, rueck=travel.rueck, modes=modes, e2sfca_modes=e2_modes,
                           bands=tuple((float(u), float(w)) for u, w in params.e2sfca_baender),
                           seg_mk=seg_mk, n_mk=len(mk), origin_mk=_origin_mk(prep.seg_origin, seg_mk, n_o),
                           column_keys=travel.column_keys)


def _tables_of_sums(g: dict, mk: pd.DataFrame, origin_mk: np.ndarray, *, outside: np.ndarray | None = None
                    ) -> tuple[pd.DataFrame, list[pd.DataFrame], pd.DataFrame]:
    """Person sums (analysis, shifted runs) and index medians per MK × level from the summed block results."""
    n = len(mk) * len(LEVELS)
    sums = g["sums"] if isinstance(g["sums"], np.ndarray) else np.zeros((n, len(_blocks.SUM_COLUMNS)))
    shift = g["sums_shift"] if isinstance(g["sums_shift"], np.ndarray) else np.zeros((n, 2))
    bedarf = sums[:, _blocks.SUM_COLUMNS.index("personen")]
    shifted = [pd.DataFrame(_mk_level_frame(mk) | {"Bedarf": bedarf, "versorgt": shift[:, i],
                                                    "unversorgt": bedarf - shift[:, i]}) for i in (0, 1)]
    med = g["median"]
    if med is None or med.shape != (len(LEVELS), len(mk)):
        med = np.full((len(LEVELS), len(mk)), np.nan)
    # a level without courses and segments has the index 0 at every origin: median 0 where the MK has origins
    has_origin = np.bincount(origin_mk[origin_mk >= 0], minlength=len(mk))[:len(mk)] > 0
    covered = g.get("levels_covered")
    for lv in range(len(LEVELS)):
        if covered is None or not covered[lv]:
            med[lv] = np.where(has_origin, 0.0, np.nan)
    medians = pd.DataFrame(_mk_level_frame(mk) | {"E2SFCA-Index (Median)": np.round(med.T.ravel(), 4)})
    return _numbers_frame(sums, mk, outside=outside), shifted, medians


def _e2sfca_frame(e2: np.ndarray, problem: _blocks.Problem, origin_ids: np.ndarray) -> pd.DataFrame:
    """Index per origin × level as in :func:`coverage.analysis.accessibility.e2sfca_by_level`."""
    p = problem.prep
    n_o, n_l = len(origin_ids), len(LEVELS)
    d = np.bincount(p.seg_level * n_o + p.seg_origin, weights=problem.persons, minlength=n_l * n_o)
    return pd.DataFrame({
        "herkunft_id": _text(np.tile(np.arange(n_o), n_l), np.asarray(origin_ids).astype(str).tolist()),
        "niveau": _text(np.repeat(np.arange(n_l), n_o), LEVELS),
        "personen": d,
        "e2sfca": e2.ravel(),
    })


def assess(
    demand: pd.DataFrame,
    courses: pd.DataFrame,
    travel: CourseTravelTimes,
    *,
    params: Parameters,
    mitgliedskommunen: gpd.GeoDataFrame,
    kapazitaet: Literal["freie_plaetze", "plaetze"] | None = None,
    cache: Cache | None = None,
    candidate_cover: Sequence[sp.spmatrix] | None = None,
) -> CoverageResult:
    """Assess the provision of the existing courses.

    Parameters
    ----------
    demand
        Demand segments from :func:`coverage.analysis.demand.demand_segments`.
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
    cache
        Optional disk cache for the results of the independent level blocks
        (reach, assignments at the three thresholds, E2SFCA; kind
        ``versorgung_block``). Keys are fingerprints of all inputs of a block, so
        after one course was added, removed or changed only the blocks of its
        levels are computed again. Results of this process are also reused
        without a cache (same keys, kept in memory).
    candidate_cover
        Three boolean matrices ``(len(demand), n_candidates)``: which demand
        segment may attend which candidate course (site × level × schedule of the
        placement stage), at the analysis thresholds and with all thresholds
        shifted by ``−`` and ``+params.sensitivitaet_min``. They do not depend on
        the existing courses (the pipeline keeps them in the cache, so a quick
        rerun after new course registrations reads them). Used for rule (a) of the
        gap flag and the ``Rang``; without them both use the unserved persons (see
        the module docstring).

    Returns
    -------
    CoverageResult

    Notes
    -----
    The result does not depend on what was stored before: a block is either
    computed from scratch or taken whole from a run with exactly the same inputs.
    """
    if kapazitaet is None:
        kapazitaet = getattr(params, "kapazitaet", "freie_plaetze")
    for c in ("herkunft_id", "niveau", "gruppe", "personen", "mk_ars", "gemeinde_ars"):
        if c not in demand.columns:
            raise InputDataError(f"Bedarfssegmente: es fehlt die Spalte '{c}'.")
    demand = demand.reset_index(drop=True)
    courses = courses.reset_index(drop=True)
    cap = course_capacity(courses, kapazitaet=kapazitaet)
    mk = _mk_frame(mitgliedskommunen)
    problem = _problem(demand, courses, travel, params, cap, mk)
    blocks = _blocks.compute_blocks(problem, cache=cache)
    n_s, n_c, n_o = len(demand), len(courses), travel.hin.shape[1]
    g = _blocks.assemble(blocks, n_s, n_c, len(LEVELS), n_o)
    r, r_off = _reach_objects(g, problem.prep, n_c)
    flow = sp.csr_matrix((g["flow_val"], g["flow_idx"], g["flow_ptr"]), shape=(n_s, n_c))
    persons = problem.persons
    served = g["served"]
    unserved = persons - served
    load = np.bincount(g["flow_idx"], weights=g["flow_val"], minlength=n_c)
    a = AssignmentResult(flow=flow, served=served, unserved=unserved, load=load, total_minutes=g["total_minutes"],
                         n_variables=g["n_variables"])
    online = problem.prep.courses["online"]
    if online.any():
        rows = np.repeat(np.arange(n_s), np.diff(g["flow_ptr"]))
        on = online[g["flow_idx"]]
        online_flow = np.bincount(rows[on], weights=g["flow_val"][on], minlength=n_s)
    else:
        online_flow = np.zeros(n_s)
    cols = _segment_columns(g["ok_ptr"], g["ok_min"], stage_reason(g["stage"]), stage_reason(g["stage_off"]),
                            served, unserved, online_flow)
    outside_flow = _outside_flow(courses, g["flow_ptr"], g["flow_idx"], g["flow_val"], n_s)
    cols["versorgt_ausserhalb"] = outside_flow
    seg = _segment_frame(demand, cols)
    mk_code = problem.seg_mk
    if (mk_code < 0).any():
        unknown = sorted(set(pd.unique(demand["mk_ars"].astype(str)[mk_code < 0])))
        logger.warning("%.1f Personen liegen in unbekannten Mitgliedskommunen %s und fehlen in der Lückentabelle.",
                       float(persons[mk_code < 0].sum()), unknown[:5])
    lv_code = problem.prep.seg_level
    outside = _blocks.segment_sums(mk_code, lv_code, len(mk), len(LEVELS), [outside_flow])[:, 0]
    num, shifted, med = _tables_of_sums(g, mk, problem.origin_mk, outside=outside)
    if candidate_cover is not None:
        if len(candidate_cover) != 3 or any(c.shape[0] != n_s for c in candidate_cover):
            raise ValueError("candidate_cover: drei Matrizen mit einer Zeile je Bedarfssegment erwartet.")
        row = np.where((mk_code >= 0) & (lv_code >= 0), mk_code * len(LEVELS) + lv_code, -1)
        unserved_runs = [unserved, persons - g["served_minus"], persons - g["served_plus"]]
        for frame, u, cover in zip([num, *shifted], unserved_runs, candidate_cover, strict=True):
            frame[CANDIDATE_COLUMN] = _candidate_sums(row, u, cover, len(num))
    else:
        notes_fallback = ("Kandidatenstandorte nicht berechnet: „durch neuen Kurs versorgbar“ zählt alle "
                          "Unversorgten (ohne Prüfung, ob sie einen möglichen Kursort erreichen).")
        logger.warning(notes_fallback)
    e2 = _e2sfca_frame(g["e2sfca"], problem, travel.origin_ids)
    gaps = _gap_table(num, mk, params=params, shifted=shifted, e2sfca_median=med)
    m = params.sensitivitaet_min
    changed = gaps[gaps["Flagge robust"] == "nein"]
    robustness = changed[["Mitgliedskommune", "ARS", "Niveau", "Versorgungslücke", _shift_label("−", m),
                          _shift_label("+", m)]].reset_index(drop=True)
    if len(robustness) and logger.isEnabledFor(logging.INFO):
        logger.info("%d Lücken-Einstufungen ändern sich bei ±%g min: %s", len(robustness), m,
                    "; ".join(f"{a} {b}" for a, b in zip(robustness["Mitgliedskommune"], robustness["Niveau"],
                                                         strict=True)))
    total, served = float(seg["personen"].sum()), float(seg["versorgt"].sum())
    n_flag = int((gaps["Versorgungslücke"] == "ja").sum())
    logger.info("%d von %d Zeilen sind Versorgungslücken; %d Einstufungen ändern sich bei ±%g min", n_flag,
                len(gaps), len(robustness), m)
    notes = [
        f"{_de(served)} von {_de(total)} Personen versorgt (Kapazität: {kapazitaet}), davon "
        f"{_de(float(outside_flow.sum()))} in Kursen außerhalb des Kreises.",
        f"{int((gaps['Versorgungslücke'] == 'ja').sum())} Versorgungslücken, davon {len(robustness)} nicht robust "
        f"gegenüber ±{m:g} min.",
    ]
    logger.info("Lücken: %s %s", *notes)
    return CoverageResult(
        segments=seg,
        courses=_course_table(courses, r, a, seg, cap, reachable=g["reach_persons"]),
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
        notes=notes if candidate_cover is not None else [*notes, notes_fallback],
    )



# --------------------------------------------------------------------------- export


def published_gaps(gaps: pd.DataFrame, policy: DisclosurePolicy, *, text: bool = False) -> pd.DataFrame:
    """The gap table as it may be published (see :mod:`coverage.analysis.disclosure`).

    Every person column is published by ``policy`` (NaN, or ``"< 5"`` with
    ``text=True``, for suppressed counts; others rounded); ``Versorgungsquote`` is
    recomputed from the published ``versorgt`` and ``Bedarf``. All other columns
    (flags, Begründung, E2SFCA) are unchanged; the Begründung is already written
    with published numbers.
    """
    cols = [c for c in _PERSON_COLUMNS if c in gaps.columns]
    num = policy.frame(gaps, cols, text=False)
    out = policy.frame(gaps, cols, text=True) if text else num
    if "Versorgungsquote" in out.columns:
        out["Versorgungsquote"] = np.round(policy.share(num["versorgt"], num["Bedarf"]), 3)
    return out


def _course_sheet(result: CoverageResult, policy: DisclosurePolicy) -> pd.DataFrame:
    c = result.courses
    load = policy.counts(c["zugeordnet"].to_numpy(float))
    cap = c["kapazitaet"].to_numpy(float)
    return pd.DataFrame({
        "Kurs-ID": c["kurs_id"],
        "Kursname": c["kursname"],
        "Träger": c["traeger"],
        "Kursort": c["kursort"],
        "Kursart": c["kursart"].map(lambda k: COURSE_TYPE_LABELS.get(k, k)),
        "Niveaus": c["niveaus"],
        "verfügbare Plätze": cap,
        "zugeordnete Personen": c["zugeordnet"],
        "Auslastung": np.round(policy.share(load, cap), 3),
        "Personen, die den Kurs erreichen": c["erreichbare_personen"],
        "Lage": np.where(c["im_kreis"].astype(bool), "im Landkreis", "außerhalb des Kreises")
        if "im_kreis" in c.columns else "im Landkreis",
    }).pipe(policy.frame, ["zugeordnete Personen", "Personen, die den Kurs erreichen"], text=True)


def _write_gpkg(target: Path, layer: gpd.GeoDataFrame, name: str) -> None:
    """Write one GeoPackage layer to a temporary ``.gpkg`` next to ``target``, then rename it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".gpkg", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()
        layer.to_file(tmp_path, driver="GPKG", layer=name)
        os.chmod(tmp_path, default_file_mode())
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
    policy = DisclosurePolicy(result.params.mindestanzahl if mindestanzahl is None else int(mindestanzahl))
    table = published_gaps(result.gaps, policy, text=True)
    courses = _course_sheet(result, policy)
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
    layer = result.gap_layer(crs_geometries, policy=policy)
    _write_gpkg(gpkg_path, layer, "luecken")
    logger.info("Lückentabellen geschrieben: %s", ", ".join(p.name for p in (csv_path, xlsx_path, gpkg_path)))
    return [csv_path, xlsx_path, gpkg_path]
