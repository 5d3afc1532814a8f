"""The gap table's German columns, flags, ranks and reason sentences (private).

:func:`_gap_table` turns the person sums per Mitgliedskommune × level (analysis and
the two runs with shifted thresholds) into the gap table of
:func:`coverage.analysis.gaps.assess`: the flag rule (see the docstring of
:mod:`coverage.analysis.gaps`), the ``Rang`` by published numbers and the
``Begründung`` in one sentence, both published through
:class:`~coverage.analysis.disclosure.DisclosurePolicy`. The column explanations
(:func:`gap_explanations`) go into the ``Erläuterung`` sheet written by
:mod:`coverage.outputs.tables`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from coverage.analysis.disclosure import DisclosurePolicy
from coverage.analysis.reach import REASON_LABELS, REASONS
from coverage.inputs.config import Parameters
from coverage.inputs.schema import LEVELS

__all__ = [
    "CANDIDATE_COLUMN", "FLAG_LITTLE", "GAP_COLUMNS", "GAP_EXPLANATIONS", "GAP_REASONS", "OUTSIDE_COLUMN",
    "PERSON_COLUMNS", "RUFBUS_COLUMN", "RUFBUS_LEAD_COLUMN", "gap_columns", "gap_explanations", "min_bedarf_quote",
]

GAP_REASONS: tuple[str, ...] = (*(r for r in REASONS if r), "kurs_voll")
_REASON_COLUMNS: dict[str, str] = {k: f"davon: {REASON_LABELS[k]}" for k in GAP_REASONS}
OUTSIDE_COLUMN = "außerhalb des Kreises versorgt"
"""Gap-table column: persons of the row served by a course outside the county (part of ``versorgt``)."""
CANDIDATE_COLUMN = "durch neuen Kurs versorgbar"
"""Gap-table column: unserved persons of the row who reach the best candidate course, capped at the maximum group."""
RUFBUS_COLUMN = "nur mit Rufbus erreichbar"
"""Gap-table column (regions with on-demand service only): persons of the row who reach a course of their level
with the mode ``rufbus`` and not without it (:func:`coverage.analysis.reach.rufbus_only`)."""
RUFBUS_LEAD_COLUMN = "Voranmeldung Rufbus (Min.)"
"""Course-sheet column: the region's longest booking lead time, for courses someone reaches only with the Rufbus."""
PERSON_COLUMNS: tuple[str, ...] = (
    "Bedarf", "erreichbar", "versorgt", "unversorgt", *_REASON_COLUMNS.values(), "zusätzlich online versorgbar",
    OUTSIDE_COLUMN, CANDIDATE_COLUMN, RUFBUS_COLUMN,
)
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


def gap_columns(sensitivitaet_min: float = 15.0, *, rufbus: bool = False) -> tuple[str, ...]:
    """Column names of the gap table for a given robustness shift (default ±15 min).

    ``rufbus``: the region has on-demand service; :data:`RUFBUS_COLUMN` follows ``erreichbar``.
    """
    extra = (RUFBUS_COLUMN,) if rufbus else ()
    return (
        "Mitgliedskommune", "ARS", "Niveau", *PERSON_COLUMNS[:2], *extra, *PERSON_COLUMNS[2:4],
        *_REASON_COLUMNS.values(), "Versorgungsquote",
        "zusätzlich online versorgbar", OUTSIDE_COLUMN, "E2SFCA-Index (Median)", "Versorgungslücke", "Rang",
        CANDIDATE_COLUMN, "Begründung",
        _shift_label("−", sensitivitaet_min), _shift_label("+", sensitivitaet_min), "Flagge robust",
    )


GAP_COLUMNS: tuple[str, ...] = gap_columns()
"""Columns of the gap table with the default shift of 15 minutes."""


def gap_explanations(params: Parameters, kapazitaet: str, *, rufbus: bool = False) -> list[tuple[str, str]]:
    """Every column of the gap table explained in German (the ``Erläuterung`` sheet), for ``params``.

    ``rufbus``: the table has :data:`RUFBUS_COLUMN` (a region with on-demand service).
    """
    m = params.sensitivitaet_min
    counted = ("Sie sind in „erreichbar“ enthalten ([parameter] rufbus_erreichbar = true)."
               if params.rufbus_erreichbar else
               "Sie sind nicht in „erreichbar“ enthalten ([parameter] rufbus_erreichbar = false).")
    rufbus_rows = [(RUFBUS_COLUMN, "Personen, die einen passenden Kurs nur mit Rufbus oder Anruf-Sammel-Taxi "
                                   "(Bedarfsverkehr, nach Anmeldung) erreichen, ohne ihn aber keinen. " + counted +
                                   " Die nötige Voranmeldung steht im Blatt Kurse.")] if rufbus else []
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
        *rufbus_rows,
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


GAP_EXPLANATIONS: tuple[tuple[str, str], ...] = tuple(gap_explanations(Parameters(), "freie_plaetze"))
"""Column explanations (German) for the default parameters."""


def _round_and_flag(num: pd.DataFrame, params: Parameters) -> pd.DataFrame:
    """Person sums (unrounded; sums below 1e-9 are 0), the quote and the flag decided on one-decimal numbers.

    The table keeps the unrounded sums: only :mod:`coverage.analysis.disclosure` turns them
    into published numbers (a part that would print as 0,0 must not look like an
    exact zero next to a suppressed total).
    """
    t = num.copy()
    for c in PERSON_COLUMNS:
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


def _reason_sentence(row: Mapping[str, object], params: Parameters, policy: DisclosurePolicy, *,
                     rufbus_vorlauf_min: float | None = None) -> str:
    """The gap of one row in a sentence; every number in it is published by ``policy``.

    With on-demand service (:data:`RUFBUS_COLUMN` in ``row``) a sentence on who
    reaches a course only with the Rufbus follows when that count is positive.
    """
    text = _reason_main(row, params, policy)
    only = float(row.get(RUFBUS_COLUMN, 0.0) or 0.0)
    if only <= 0 or float(row["Bedarf"]) <= 0 or row["Versorgungslücke"] == FLAG_LITTLE:
        return text
    lead = (f", Voranmeldung bis {rufbus_vorlauf_min:g} Minuten" if rufbus_vorlauf_min is not None
            and math.isfinite(rufbus_vorlauf_min) and rufbus_vorlauf_min > 0 else "")
    counted = "als erreichbar gezählt" if params.rufbus_erreichbar else "nicht als erreichbar gezählt"
    return text + f" Nur mit Rufbus erreichbar: {policy.text(only)} ({counted}{lead})."


def _reason_main(row: Mapping[str, object], params: Parameters, policy: DisclosurePolicy) -> str:
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


def _gap_table(num: pd.DataFrame, mk: pd.DataFrame, *, params: Parameters, shifted: Sequence[pd.DataFrame | None],
               e2sfca_median: pd.DataFrame | None, rufbus_vorlauf_min: float | None = None) -> pd.DataFrame:
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
    t["Begründung"] = [_reason_sentence(row, params, policy, rufbus_vorlauf_min=rufbus_vorlauf_min)
                       for row in t.to_dict("records")]
    return t[list(gap_columns(m, rufbus=RUFBUS_COLUMN in t.columns))].reset_index(drop=True)
