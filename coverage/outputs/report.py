"""Printable HTML report ``bericht.html`` (German, self-contained).

The report holds key figures, the gap table per Mitgliedskommune × level, two charts
(served share per Mitgliedskommune as an inline SVG image, marginal value of
additional courses as an inline PNG image), the proposals with their reasons, the
assumptions, the data sources and, if any input is modelled, a prominent notice. It needs no network: styles and images
are embedded. The Jinja2 template escapes every value (``autoescape=True``).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import logging
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from coverage._io import write_text
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.inputs.config import Config
from coverage.inputs.schema import LEVELS
from coverage.outputs.tables import published_gaps
from coverage.outputs.text import (
    MISSING,
    fmt_count,
    fmt_datetime,
    fmt_decimal,
    fmt_euro,
    fmt_int,
    fmt_percent,
    yes_no,
)

__all__ = ["render_report", "write_report"]

logger = logging.getLogger(__name__)

_COUNT_COLUMNS = ("Bedarf", "versorgt", "unversorgt")

_TEMPLATE = """<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font: 11pt/1.45 "DejaVu Sans", Arial, sans-serif; color: #222; margin: 2em auto;
  max-width: 60em; padding: 0 1em; }
h1 { font-size: 18pt; margin-bottom: .2em; }
h2 { font-size: 14pt; border-bottom: 1px solid #999; margin-top: 1.6em; break-after: avoid; }
.meta { color: #555; }
.modell { background: #fff3cd; border: 2px solid #d39e00; padding: .6em .8em; font-weight: bold; }
.kennzahlen { display: grid; grid-template-columns: repeat(auto-fill, minmax(12em, 1fr)); gap: .6em; }
.kennzahl { border: 1px solid #bbb; border-radius: 4px; padding: .5em; }
.kennzahl b { display: block; font-size: 16pt; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; margin: .5em 0; }
th, td { border: 1px solid #bbb; padding: 2px 4px; vertical-align: top; text-align: left; }
td.n { text-align: right; white-space: nowrap; }
th { background: #e8eef7; }
tr.luecke td { background: #fde8e8; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
figure { margin: 1em 0; break-inside: avoid; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 9pt; color: #555; }
.hinweis { font-size: 9pt; color: #555; }
@page { size: A4; margin: 15mm 12mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-before: auto; }
  a { color: inherit; text-decoration: none; }
  .modell { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  tr.luecke td, th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
<p class="meta">Erstellt am {{ erstellt }} mit Kursatlas {{ version }}.</p>
{% if modell %}<p class="modell" id="modelldaten">Modelldaten: Dieser Bericht beruht ganz oder teilweise auf
modellierten Daten – keine realen Angaben über Personen oder Kurse. Die Zahlen zeigen, wie die Auswertung
funktioniert, und dürfen nicht als Beschreibung der tatsächlichen Lage verwendet werden.</p>{% endif %}
</header>

{% macro plain_table(id, cols, rows, empty) -%}
{% if rows %}
<table id="{{ id }}">
<thead><tr>{% for c in cols %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in rows %}<tr>
{%- for v, num in row %}<td{% if num %} class="n"{% endif %}>{{ v }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% else %}<p>{{ empty }}</p>{% endif %}
{%- endmacro %}
<h2 id="kennzahlen">Kennzahlen</h2>
<div class="kennzahlen">
{% for label, value in kennzahlen %}<div class="kennzahl"><b>{{ value }}</b>{{ label }}</div>
{% endfor %}</div>
<p class="hinweis">Datenschutz: Personenzahlen sind auf Vielfache von {{ rundung }} gerundet, Werte unter
{{ mindestanzahl }} werden nicht ausgewiesen („&lt; {{ mindestanzahl }}“); Quoten sind aus den gerundeten Zahlen
berechnet. Gerundete Teile ergeben daher nicht immer genau die gerundete Summe.</p>

<h2 id="versorgung">Versorgung je Mitgliedskommune</h2>
{% if chart_quote %}<figure><img alt="Balkendiagramm: Versorgungsquote je Mitgliedskommune über alle Niveaus"
 src="data:image/svg+xml;base64,{{ chart_quote }}"><figcaption>Anteil des Bedarfs, der ohne Auto einen passenden Kurs
erreicht (alle Niveaus). Linie: Ziel {{ ziel }}.</figcaption></figure>{% endif %}

<h3 id="rang">Lücken nach Rang</h3>
<p>Eine Lücke heißt: Hier kann die Planung etwas tun – genug Unversorgte für einen landkreisgeförderten Kurs
erreichen denselben möglichen Kursort, oder die Versorgungsquote liegt bei nennenswertem Bedarf unter dem Ziel.
Rang 1 = die meisten Personen, die ein neuer Kurs dort versorgen könnte (ausgewiesene Zahlen).
{% if robust_text %}{{ robust_text }}{% endif %}</p>
{{ plain_table("rangliste", rang_cols, rang_rows, "Keine Versorgungslücken.") }}

<h3>Versorgungslücken je Mitgliedskommune und Niveau</h3>
{% if luecken_rows %}
<table id="luecken">
<thead><tr>{% for c in luecken_cols %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for row, gap in luecken_rows %}<tr{% if gap %} class="luecke"{% endif %}>
{%- for v, num in row %}<td{% if num %} class="n"{% endif %}>{{ v }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% else %}<p>Keine Lückentabelle vorhanden.</p>{% endif %}

<h2 id="vorschlaege">Vorschläge für landkreisgeförderte Kurse</h2>
{% if chart_marginal %}<figure><img alt="Liniendiagramm: zusätzlich versorgte Personen je Anzahl neuer Kurse"
 src="data:image/png;base64,{{ chart_marginal }}"><figcaption>Grenznutzen: wie viele Personen zusätzlich
versorgt werden, je nachdem, wie viele Kurse der Landkreis fördert.</figcaption></figure>{% endif %}
{{ plain_table("vorschlagstabelle", vorschlag_cols, vorschlag_rows, "Keine Vorschläge berechnet.") }}

<h2 id="annahmen">Annahmen</h2>
{{ plain_table("annahmentabelle", annahmen_cols, annahmen_rows, "Keine Annahmen übergeben.") }}

<h2 id="quellen">Datenquellen</h2>
<table id="quellentabelle">
<thead><tr><th>Datei</th><th>Art</th><th>Quelle</th><th>Lizenz</th><th>Namensnennung</th></tr></thead>
<tbody>{% for s in quellen %}<tr><td>{{ s.datei }}</td><td>{{ s.art }}</td><td>{{ s.quelle }}</td>
<td>{{ s.lizenz }}</td><td>{{ s.namensnennung }}</td></tr>
{% endfor %}</tbody>
</table>
<p class="hinweis">Kartengrundlage der interaktiven Karten: © OpenStreetMap-Mitwirkende (ODbL).</p>
</body>
</html>
"""


def _env() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False)


@functools.cache
def _template() -> jinja2.Template:
    """The report template, compiled once per process."""
    return _env().from_string(_TEMPLATE)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13))


def _svg_text(value: object) -> str:
    """Text for SVG/XML: escaped, without control characters XML does not allow."""
    return html.escape(str(value).translate(_CONTROL), quote=True)


def _quote_chart(gaps: pd.DataFrame, ziel: float, policy: DisclosurePolicy) -> str | None:
    """Bar chart of the served share per Mitgliedskommune (all levels) as base64 SVG.

    The shares are computed from the published (rounded) totals, as every share
    Kursatlas shows; a Mitgliedskommune whose total is suppressed has no bar.
    Drawn directly as SVG (no plotting library): a few bars need no Matplotlib, the
    file is small and sharp in print, and it is fast enough for every quick rerun.
    """
    g = gaps.copy()
    for c in ("Bedarf", "versorgt"):
        g[c] = pd.to_numeric(g[c], errors="coerce")
    agg = g.groupby("Mitgliedskommune", sort=False)[["Bedarf", "versorgt"]].sum()
    share = pd.Series(policy.share(policy.counts(agg["versorgt"].to_numpy(float)),
                                   policy.counts(agg["Bedarf"].to_numpy(float))), index=agg.index)
    share = share[np.isfinite(share.to_numpy(float))]
    if share.empty:
        return None
    q = share.sort_values(ascending=False, kind="stable")
    names = [str(n) for n in q.index]
    bar, gap, top, bottom, right = 20, 6, 24, 46, 56
    left = int(min(max(7.8 * max(len(n) for n in names) + 18, 90), 300))
    width = 900
    plot = width - left - right
    height = top + len(q) * (bar + gap) + bottom
    font = 'font-family="DejaVu Sans, Arial, sans-serif" font-size="12"'
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {font}>',
        "<title>Versorgungsquote je Mitgliedskommune</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    axis_y = top + len(q) * (bar + gap)
    for tick in range(0, 101, 20):
        x = left + plot * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" stroke="#dddddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#333333">{tick}</text>')
    for i, (name, value) in enumerate(zip(names, q.to_numpy(dtype=float), strict=True)):
        y = top + i * (bar + gap) + gap / 2
        v = min(max(value, 0.0), 1.0)
        color = "#d7191c" if value < ziel else "#1a9641"
        parts.append(
            f'<text x="{left - 8}" y="{y + bar / 2 + 4:.1f}" text-anchor="end" fill="#222222">{_svg_text(name)}</text>'
        )
        parts.append(f'<rect x="{left}" y="{y:.1f}" width="{plot * v:.1f}" height="{bar}" fill="{color}"/>')
        parts.append(
            f'<text x="{left + plot * v + 4:.1f}" y="{y + bar / 2 + 4:.1f}" fill="#222222">'
            f"{_svg_text(fmt_percent(value))}</text>"
        )
    x_goal = left + plot * min(max(ziel, 0.0), 1.0)
    parts.append(
        f'<line x1="{x_goal:.1f}" y1="{top - 4}" x2="{x_goal:.1f}" y2="{axis_y}" stroke="#333333" '
        'stroke-dasharray="5 4" stroke-width="1.2"/>'
    )
    parts.append(
        f'<text x="{x_goal:.1f}" y="{top - 8}" text-anchor="middle" fill="#333333">'
        f"Ziel {_svg_text(fmt_percent(ziel))}</text>"
    )
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + plot}" y2="{axis_y}" stroke="#333333"/>')
    parts.append(
        f'<text x="{left + plot / 2:.1f}" y="{axis_y + 36}" text-anchor="middle" fill="#333333">'
        "Versorgungsquote in %</text>"
    )
    parts.append("</svg>")
    return base64.b64encode("".join(parts).encode("utf-8")).decode("ascii")


def _marginal_chart(marginal: pd.DataFrame) -> str | None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if marginal is None or marginal.empty:
        return None
    x = pd.to_numeric(marginal["Anzahl Kurse"], errors="coerce")
    col = "neu versorgte Personen" if "neu versorgte Personen" in marginal.columns else "neu versorgt"
    y = pd.to_numeric(marginal[col], errors="coerce")
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.plot(x, y, marker="o", color="#1f5fa8")
    ax.set_xlabel("Anzahl neuer Kurse")
    ax.set_ylabel("neu versorgte Personen")
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    out = _png(fig)
    plt.close(fig)
    return out


def _cell(col: str, value: object, *, min_count: int) -> tuple[str, bool]:
    """Format one table cell German style; return (text, is_number)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return MISSING, False
    if isinstance(value, str) and value.startswith("< "):  # a suppressed count, already published
        return value, True
    if col == "Versorgungsquote":
        return fmt_percent(float(value)), True  # type: ignore[arg-type]
    if col.startswith("Kosten"):
        return fmt_euro(float(value)), True  # type: ignore[arg-type]
    if col in _COUNT_COLUMNS or col.startswith("davon"):
        return fmt_count(float(value), min_count=min_count), True  # type: ignore[arg-type]
    if isinstance(value, (bool, np.bool_)):
        return yes_no(value), False
    if isinstance(value, (int, np.integer)):
        return fmt_int(int(value)), True
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return (fmt_int(v) if v == round(v) else fmt_decimal(v)), True
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value)), False
    return str(value), False


def _rows(df: pd.DataFrame | None, *, min_count: int, drop: tuple[str, ...] = ()) -> tuple[list[str], list[Any]]:
    if df is None or len(df) == 0:
        return [], []
    d = pd.DataFrame(df).drop(columns=[c for c in ("geometry", *drop) if c in df.columns])
    cols = [str(c) for c in d.columns]
    rows = [
        [_cell(c, v, min_count=min_count) for c, v in zip(cols, rec, strict=True)] for rec in d.itertuples(index=False)
    ]
    return cols, rows


def _key_figures(
    config: Config,
    gaps: pd.DataFrame | None,
    proposals: pd.DataFrame | None,
    courses: pd.DataFrame | None,
) -> list[tuple[str, str]]:
    policy = DisclosurePolicy(config.parameter.mindestanzahl)
    out: list[tuple[str, str]] = []
    if courses is not None:
        n_online = int((courses["kursart"] == "online").sum()) if "kursart" in courses.columns else 0
        out.append(("Kurse im Kursregister", fmt_int(len(courses))))
        if n_online:
            out.append(("davon online", fmt_int(n_online)))
        if "im_kreis" in courses.columns:
            n_out = int((~courses["im_kreis"].astype(bool)).sum())
            if n_out:
                out.append(("davon außerhalb des Kreises", fmt_int(n_out)))
    if gaps is not None and len(gaps):
        b = pd.to_numeric(gaps["Bedarf"], errors="coerce").sum()
        v = pd.to_numeric(gaps["versorgt"], errors="coerce").sum()
        out.append(("Personen mit Kursbedarf (Modell)", policy.text(b)))
        out.append(("davon ohne Auto versorgt", policy.text(v)))
        if "außerhalb des Kreises versorgt" in gaps.columns:
            o = pd.to_numeric(gaps["außerhalb des Kreises versorgt"], errors="coerce").sum()
            if o > 0:
                out.append(("davon außerhalb des Kreises versorgt", policy.text(o)))
        if "nur mit Rufbus erreichbar" in gaps.columns:  # what on-demand service adds (published numbers)
            r = pd.to_numeric(gaps["nur mit Rufbus erreichbar"], errors="coerce").sum()
            share = float(policy.share(policy.counts(np.array([r])), policy.counts(np.array([b])))[0])
            counted = "" if config.parameter.rufbus_erreichbar else ", nicht als erreichbar gezählt"
            extra = f" ({fmt_percent(share)} des Bedarfs{counted})" if math.isfinite(share) else ""
            out.append(("nur mit Rufbus/Anruf-Sammel-Taxi erreichbar", policy.text(r) + extra))
        q = float(policy.share(policy.counts(np.array([v])), policy.counts(np.array([b])))[0])
        out.append(("Versorgungsquote gesamt", fmt_percent(q) if math.isfinite(q) else MISSING))
        n_gap = int((gaps["Versorgungslücke"].astype(str) == "ja").sum())
        out.append(("Lücken (Mitgliedskommune × Niveau)", fmt_int(n_gap)))
    if proposals is not None and len(proposals):
        out.append(("vorgeschlagene Kurse", fmt_int(len(proposals))))
        if "neu versorgt" in proposals.columns:  # the proposal table holds published counts only
            nv = pd.to_numeric(proposals["neu versorgt"], errors="coerce").sum()
            out.append(("dadurch zusätzlich versorgt", policy.text(nv)))
        if "Kosten (€)" in proposals.columns:
            out.append(
                ("Kosten der Vorschläge", fmt_euro(pd.to_numeric(proposals["Kosten (€)"], errors="coerce").sum()))
            )
    return out


_RANK_COLUMNS: tuple[str, ...] = ("Rang", "Mitgliedskommune", "Niveau", "durch neuen Kurs versorgbar", "unversorgt",
                                  "Versorgungsquote", "Flagge robust")


def _ranked(gaps: pd.DataFrame | None, policy: DisclosurePolicy) -> pd.DataFrame | None:
    """The flagged rows by ``Rang`` with published numbers only (None without ranks)."""
    if gaps is None or "Rang" not in gaps.columns:
        return None
    flagged = gaps[gaps["Versorgungslücke"].astype(str) == "ja"]
    flagged = flagged[flagged["Rang"].notna()].sort_values("Rang", kind="stable")
    pub = published_gaps(flagged, policy, text=True)
    return pub[[c for c in _RANK_COLUMNS if c in pub.columns]]


def _robust_text(gaps: pd.DataFrame | None, minutes: float) -> str | None:
    """One sentence: how many flags change when every time limit is shifted by ± ``minutes``."""
    if gaps is None or "Flagge robust" not in gaps.columns:
        return None
    n = int((gaps["Flagge robust"].astype(str) == "nein").sum())
    n_gap = int((gaps["Versorgungslücke"].astype(str) == "ja").sum())
    return (f"{fmt_int(n_gap)} Lücken; {fmt_int(n)} von {fmt_int(len(gaps))} Einstufungen ändern sich, wenn alle "
            f"Zeitgrenzen um {minutes:g} Minuten kürzer oder länger sind (Spalte „Flagge robust“).")


def render_report(
    config: Config,
    *,
    gaps: pd.DataFrame | None = None,
    proposals: pd.DataFrame | None = None,
    marginal: pd.DataFrame | None = None,
    assumptions: pd.DataFrame | None = None,
    courses: pd.DataFrame | None = None,
    created: datetime | None = None,
) -> str:
    """Render the report HTML (see :func:`write_report` for the parameters)."""
    from coverage import __version__

    mc = config.parameter.mindestanzahl
    g = None
    if gaps is not None and len(gaps):
        g = gaps.copy()
        order = {lv: i for i, lv in enumerate(LEVELS)}
        g = (
            g.assign(_o=g["Niveau"].map(order))
            .sort_values(["Mitgliedskommune", "_o"], kind="stable")
            .drop(columns="_o")
        )
    policy = DisclosurePolicy(mc)
    luecken_cols, luecken_raw = _rows(None if g is None else published_gaps(g, policy, text=True), min_count=mc)
    gap_flags = [] if g is None else (g["Versorgungslücke"].astype(str) == "ja").tolist()
    context = {
        "title": f"Kursatlas {config.name}: Bericht zu Deutschkursen ohne Auto",
        "erstellt": fmt_datetime(created or datetime.now()),
        "version": __version__,
        "modell": config.has_modelled_data,
        "mindestanzahl": mc,
        "rundung": policy.base,
        "ziel": fmt_percent(config.parameter.ziel_quote),
        "kennzahlen": _key_figures(config, gaps, proposals, courses),
        "chart_quote": _quote_chart(g, config.parameter.ziel_quote, policy) if g is not None else None,
        "chart_marginal": _marginal_chart(marginal) if marginal is not None else None,
        "luecken_cols": luecken_cols,
        "luecken_rows": list(zip(luecken_raw, gap_flags, strict=True)),
        "quellen": config.datenquellen,
    }
    context["rang_cols"], context["rang_rows"] = _rows(_ranked(g, policy), min_count=mc)
    context["robust_text"] = _robust_text(g, config.parameter.sensitivitaet_min)
    context["vorschlag_cols"], context["vorschlag_rows"] = _rows(proposals, min_count=mc)
    context["annahmen_cols"], context["annahmen_rows"] = _rows(assumptions, min_count=mc)
    return _template().render(**context)


def write_report(
    config: Config,
    *,
    directory: str | Path,
    gaps: pd.DataFrame | None = None,
    proposals: pd.DataFrame | None = None,
    marginal: pd.DataFrame | None = None,
    assumptions: pd.DataFrame | None = None,
    courses: pd.DataFrame | None = None,
    created: datetime | None = None,
) -> Path:
    """Write the printable report ``bericht.html`` into ``directory`` (atomically).

    Parameters
    ----------
    config
        Region configuration (name, data sources, model-data flag, parameters).
    directory
        Output folder (created if needed).
    gaps
        Gap table per Mitgliedskommune × level (German columns).
    proposals
        Proposed courses (``Rang``, ``Standort``, …, ``Begründung``); a geometry
        column is dropped.
    marginal
        Marginal-value curve with ``Anzahl Kurse`` and ``neu versorgt``.
    assumptions
        Table of assumptions (any columns), shown as given.
    courses
        Course registry, for the key figures (optional).
    created
        Timestamp printed in the report (default: now).

    Returns
    -------
    pathlib.Path
        The written ``bericht.html``.
    """
    html = render_report(
        config,
        gaps=gaps,
        proposals=proposals,
        marginal=marginal,
        assumptions=assumptions,
        courses=courses,
        created=created,
    )
    path = Path(directory) / "bericht.html"
    write_text(path, html)
    logger.info("Bericht %s geschrieben (%.2f MB)", path, len(html.encode("utf-8")) / 1e6)
    return path
