"""The German proposal tables and files: ``vorschlaege.csv/.xlsx``, ``grenznutzen.csv/.png``.

Built once from a :class:`coverage.placement.PlacementResult` (numbers only) by
:func:`proposal_tables`; every published count goes through
:class:`~coverage.analysis.disclosure.DisclosurePolicy` (rounded, small counts suppressed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from coverage._io import atomic_path, write_csv, write_xlsx
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.inputs.config import Parameters
from coverage.inputs.schema import GROUP_LABELS, SLOT_LABELS, WEEKDAYS
from coverage.placement import PlacementResult, PlacementSolution

__all__ = ["PROPOSAL_COLUMNS", "ProposalTables", "proposal_tables", "published_curve", "write_proposals"]

logger = logging.getLogger(__name__)

PROPOSAL_COLUMNS: tuple[str, ...] = (
    "Rang",
    "Kurs-ID",
    "Standort",
    "Gemeinde",
    "Mitgliedskommune",
    "Niveau",
    "Zeitfenster",
    "erwartete Teilnehmende",
    "Teilnehmende nach Mitgliedskommune",
    "neu versorgt",
    "Reisezeit Median (min)",
    "Reisezeit max (min)",
    "Kosten (€)",
    "Begründung",
)


@dataclass(frozen=True)
class ProposalTables:
    """A placement result with its German proposal table (published counts) and notes.

    Attributes
    ----------
    result
        The placement result (numbers).
    proposals
        Ranked proposals with German columns (see :data:`PROPOSAL_COLUMNS`).
    notes
        Notes for the explanation sheet (model values, solver figures).
    """

    result: PlacementResult
    proposals: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def courses(self) -> pd.DataFrame:
        """All candidate courses with ``gewaehlt`` (from the result)."""
        return self.result.courses

    @property
    def curve(self) -> pd.DataFrame:
        """The marginal-value curve (model values, not yet published)."""
        return self.result.curve

    @property
    def solution(self) -> PlacementSolution:
        """The array-level solution."""
        return self.result.solution


def proposal_tables(result: PlacementResult, *, params: Parameters, names: Mapping[str, str]) -> ProposalTables:
    """The German proposal table of ``result`` (published counts only) and its notes.

    Parameters
    ----------
    result
        From :func:`coverage.placement.propose_courses`.
    params
        Analysis parameters (``mindestanzahl``, slot times).
    names
        ARS → display name for Gemeinden and Mitgliedskommunen.

    Returns
    -------
    ProposalTables
    """
    sol = result.solution
    notes = (
        "Teilnehmendenzahlen sind Erwartungswerte aus dem Nachfragemodell, keine Anmeldungen.",
        f"Lösung: {sol.method}, Status {sol.status}, Optimalitätslücke {_de(100 * sol.gap, 2)} %, "
        f"Rechenzeit {_de(sol.solve_time_s, 1)} s, {sol.n_points} Nachfragesegmente zu "
        f"{sol.n_points_merged} Punkten zusammengefasst.",
    )
    return ProposalTables(result, _proposal_table(result, params=params, names=names), notes)


def _de(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}".replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _weekdays(days: tuple[int, ...]) -> str:
    days = tuple(sorted(days))
    if len(days) >= 3 and days == tuple(range(days[0], days[-1] + 1)):
        return f"{WEEKDAYS[days[0]]}–{WEEKDAYS[days[-1]]}"
    return ", ".join(WEEKDAYS[d] for d in days)


def _slot_text(slot: str, params: Parameters) -> str:
    beginn, ende, tage = params.slot_zeiten[slot]
    return f"{SLOT_LABELS[slot]} {_hhmm(beginn)}–{_hhmm(ende)} ({_weekdays(tage)})"


def _slot_reason(slot: str, params: Parameters) -> str:
    beginn, _, _ = params.slot_zeiten[slot]
    if slot == "abend":
        return f"ab {_hhmm(beginn)} Uhr, auch für Berufstätige"
    if slot == "vormittag_kinderbetreuung":
        return f"vormittags ab {_hhmm(beginn)} Uhr mit Kinderbetreuung für Eltern"
    return f"vormittags ab {_hhmm(beginn)} Uhr"


def _join_names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " und " + names[-1]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    if len(values) == 0 or weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _proposal_table(result: PlacementResult, *, params: Parameters, names: Mapping[str, str]) -> pd.DataFrame:
    seg, courses, sol, weights = result.segments, result.courses, result.solution, result.weights
    policy = DisclosurePolicy(params.mindestanzahl)
    sel_idx = np.nonzero(sol.selected)[0]
    flow = sol.flow.tocsc()
    ok_csc = result.cover.tocsc()
    minutes_csc = result.minutes.tocsc()
    capacity = courses["plaetze"].to_numpy(float)
    min_size = courses["min_gruppe"].to_numpy(float)
    marginal = result.marginal
    mk = seg["mk_ars"].astype(str).to_numpy()
    gem = seg["gemeinde_ars"].astype(str).to_numpy()
    gruppe = seg["gruppe"].to_numpy()
    rows = []
    for k in sel_idx:
        lo, hi = flow.indptr[k], flow.indptr[k + 1]
        d = flow.indices[lo:hi]
        f = flow.data[lo:hi]
        course = courses.iloc[k]
        # minutes of the assigned pairs (missing entries of the sparse matrix are 0 min)
        mcol = minutes_csc[:, k].toarray().ravel()[d]
        part = float(f.sum())
        by_mk = pd.Series(f).groupby(mk[d]).sum().sort_values(ascending=False)
        by_gem = pd.Series(f).groupby(gem[d]).sum().sort_values(ascending=False)
        by_group = pd.Series(f).groupby(gruppe[d]).sum()
        reach_rows = ok_csc.indices[ok_csc.indptr[k]: ok_csc.indptr[k + 1]]
        reach = float(weights[reach_rows].sum())
        main_gem = [names.get(a, a) for a, v in by_gem.items() if v >= 0.15 * part][:3]
        if not main_gem and len(by_gem):
            main_gem = [names.get(by_gem.index[0], by_gem.index[0])]
        extra = []
        for g in ("berufstaetig", "eltern"):
            if by_group.get(g, 0.0) >= 0.5:
                extra.append(f"davon {policy.text(by_group[g])} {GROUP_LABELS[g]}")
        reason = (
            f"{policy.text(reach)} Personen auf Niveau {course['niveau']} ohne erreichbaren Kursplatz können diesen "
            f"Kurs erreichen, vor allem aus {_join_names(main_gem)}; Mindestgruppe {int(min_size[k])} erreicht "
            f"({policy.text(part)} erwartet, höchstens {int(capacity[k])} Plätze)"
            + (f"; {'; '.join(extra)}" if extra else "")
            + f"; {_slot_reason(course['slot'], params)}."
        )
        rows.append({
            "Kurs-ID": course["kurs_id"],
            "Standort": course["kursort"],
            "Gemeinde": names.get(str(course["gemeinde_ars"]), str(course["gemeinde_ars"])),
            "Mitgliedskommune": names.get(str(course["mk_ars"]), str(course["mk_ars"])),
            "Niveau": course["niveau"],
            "Zeitfenster": _slot_text(course["slot"], params),
            # published counts only (coverage.analysis.disclosure): rounded, small ones suppressed
            "erwartete Teilnehmende": _published(policy, part),
            "Teilnehmende nach Mitgliedskommune": "; ".join(
                f"{names.get(a, a) or 'außerhalb des Kreises'} {policy.text(v)}" for a, v in by_mk.items() if v >= 0.05
            ),
            "neu versorgt": _published(policy, marginal[k]),
            "Reisezeit Median (min)": round(_weighted_median(mcol, f), 0),
            "Reisezeit max (min)": round(float(mcol.max()) if len(mcol) else float("nan"), 0),
            "Kosten (€)": float(course["kosten"]),
            "Begründung": reason,
            "_sort": (-marginal[k], float(course["kosten"]), -part),
        })
    rows.sort(key=lambda r: r["_sort"])
    for rank, r in enumerate(rows, start=1):
        r["Rang"] = rank
        del r["_sort"]
    return pd.DataFrame(rows, columns=list(PROPOSAL_COLUMNS))


_EXPLANATION: tuple[tuple[str, str], ...] = (
    ("Rang", "Reihenfolge nach 'neu versorgt', bei Gleichstand nach Kosten (günstiger zuerst)."),
    ("erwartete Teilnehmende", "Erwartete Personen im Kurs nach der besten Aufteilung auf alle vorgeschlagenen "
     "Kurse; höchstens die Gruppengröße."),
    ("Teilnehmende nach Mitgliedskommune", "Herkunft der erwarteten Teilnehmenden (Erwartungswerte); Werte unter "
     "der Mindestanzahl werden aus Datenschutzgründen nur als „< Mindestanzahl“ angegeben."),
    ("neu versorgt", "So viele Personen blieben ohne Kursplatz, wenn nur dieser Kurs wegfiele und die übrigen "
     "Kurse neu aufgeteilt würden (Grenzbeitrag). Die Summe kann kleiner sein als die Gesamtzahl."),
    ("Reisezeit", "Tür-zu-Tür-Reisezeit ohne Auto (Median und Maximum über die erwarteten Teilnehmenden)."),
    ("Mindestgruppe", "Ein Kurs wird nur vorgeschlagen, wenn mindestens so viele Personen ihn erreichen, "
     "die nicht schon einem anderen Kurs zugeordnet sind."),
    ("Grenznutzen", "Neu versorgte Personen, wenn 1, 2, … Kurse optimal verteilt würden (ohne Euro-Budget)."),
    ("Hinweis", "Alle Personenzahlen sind Modellschätzungen (Erwartungswerte), keine Anmeldungen."),
)


def _published(policy: DisclosurePolicy, value: float) -> float:
    """A published count as a number (NaN when suppressed)."""
    out = policy.count(value)
    return float("nan") if out is None else out


def published_curve(curve: pd.DataFrame, policy: DisclosurePolicy) -> pd.DataFrame:
    """The marginal-value curve with published counts: the cumulative persons rounded, the gain from them."""
    out = curve.copy()
    if len(out) and "neu versorgte Personen" in out.columns:
        persons = policy.counts(pd.to_numeric(out["neu versorgte Personen"], errors="coerce").to_numpy(float))
        out["neu versorgte Personen"] = persons
        if "Zuwachs" in out.columns:
            out["Zuwachs"] = np.diff(np.r_[0.0, np.nan_to_num(persons)])
    return out


def write_proposals(
    tables: ProposalTables, *, directory: str | Path, policy: DisclosurePolicy | None = None
) -> list[Path]:
    """Write ``vorschlaege.csv``, ``vorschlaege.xlsx``, ``grenznutzen.csv`` and ``grenznutzen.png``.

    All files are written atomically. Returns the written paths. The proposal table
    holds published counts already; the curve is published with ``policy``
    (default: ``mindestanzahl`` 5) before it is written or drawn.
    """
    policy = policy or DisclosurePolicy()
    result = tables.result
    curve = published_curve(result.curve, policy)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / "vorschlaege.csv"
    xlsx_path = directory / "vorschlaege.xlsx"
    curve_csv = directory / "grenznutzen.csv"
    curve_png = directory / "grenznutzen.png"
    write_csv(csv_path, tables.proposals)
    stats = result.solution.stats()
    explanation = pd.DataFrame(
        list(_EXPLANATION)
        + [("Budget", f"{result.budget_count} Kurse" if result.budget_count is not None
            else f"{_de(result.budget_euro or 0.0, 0)} €")]
        + [(f"Lösung: {k}", str(v)) for k, v in stats.items()]
        + [("Hinweis", n) for n in tables.notes],
        columns=["Begriff", "Erläuterung"],
    )
    write_xlsx(xlsx_path, {"Vorschläge": tables.proposals, "Grenznutzen": curve, "Erläuterung": explanation})
    write_csv(curve_csv, curve)
    _plot_curve(result, curve, curve_png)
    return [csv_path, xlsx_path, curve_csv, curve_png]


def _plot_curve(result: PlacementResult, curve: pd.DataFrame, target: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if len(curve):
        k = curve["Anzahl Kurse"].to_numpy()
        ax.bar(k, curve["Zuwachs"].to_numpy(), color="#9ecae1", label="Zuwachs je zusätzlichem Kurs")
        ax.plot(k, curve["neu versorgte Personen"].to_numpy(), "o-", color="#08519c", label="neu versorgte Personen")
        if result.budget_count is not None and result.budget_count <= k.max():
            ax.axvline(result.budget_count, color="#a50f15", ls="--", lw=1, label="Budget")
        ax.set_xticks(k)
    ax.set_xlabel("Anzahl neuer landkreisgeförderter Kurse")
    ax.set_ylabel("Personen (Erwartungswert)")
    ax.set_title("Grenznutzen zusätzlicher Kurse")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
