"""HTML of popups, tooltips, legends and fixed boxes of the maps.

Every text from an input file passes :func:`coverage.outputs._html.esc` (directly or
through :func:`coverage.outputs._html.info_table`) before it is put into HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.inputs.schema import COURSE_TYPES
from coverage.outputs._html import esc, info_table
from coverage.outputs.maps.spec import (
    _CHANGE_CLASSES,
    _GRID_CLASSES,
    _SUPPRESSED_COLOR,
    CHANGE_LAYER_NAME,
    COURSE_TYPE_COLORS,
    NO_DEMAND_COLOR,
    PROPOSAL_COLOR,
    QUOTE_BINS,
    REACH_COLOR,
    _ChangeSpec,
    _in_county,
    _latlons,
    _Marker,
    _Prepared,
)
from coverage.outputs.text import (
    MISSING,
    cell_size_label,
    course_type_label,
    fmt_count,
    fmt_date,
    fmt_euro,
    fmt_int,
    fmt_percent,
    fmt_time,
    levels_label,
    levels_text,
    to_float,
    weekdays_text,
    yes_no,
)

__all__ = ["TILE_NOTICE"]


def _course_popup(row: pd.Series, reach_text: str | None) -> str:
    rows: list[tuple[str, object]] = [
        ("Träger", row.get("traeger")),
        ("Kursart", course_type_label(row.get("kursart"))),
        ("Niveaus", levels_text(row.get("niveaus"))),
        ("Kursort", row.get("kursort")),
        ("Adresse", row.get("adresse")),
        ("Zeiten", f"{fmt_time(row.get('beginn'))}–{fmt_time(row.get('ende'))} Uhr"),
        ("Wochentage", weekdays_text(row.get("wochentage"))),
        ("Zeitraum", f"{fmt_date(row.get('erster_tag'))} bis {fmt_date(row.get('letzter_tag'))}"),
        ("Plätze", f"{row.get('plaetze')} (frei: {row.get('freie_plaetze')})"),
        ("Kinderbetreuung", yes_no(row.get("kinderbetreuung"))),
    ]
    if not _in_county(row):
        rows.append(("Lage", "außerhalb des Landkreises (im Analysegebiet)"))
    if reach_text is not None:
        rows.append(("Mit Bus und Bahn erreichbar für", reach_text))
    return info_table(str(row.get("kursname")), rows)


def _course_markers(prep: _Prepared, courses: gpd.GeoDataFrame) -> list[_Marker]:
    reach_text: dict[str, str] = {}
    if prep.reach is not None:
        for k, a, mn in zip(prep.reach["kurs_id"], prep.reach["anzeige"], prep.reach["minuten"], strict=True):
            reach_text[k] = f"{a} Personen der Zielgruppe (≤ {mn:g} Min.)"
    out = []
    for (_, row), latlon in zip(courses.iterrows(), _latlons(courses.geometry), strict=True):
        color = COURSE_TYPE_COLORS.get(str(row["kursart"]), "#333333")
        label = esc(levels_label(row["niveaus"]))
        inside = _in_county(row)
        css = "ka-kurs" if inside else "ka-kurs ka-aussen"
        tooltip = esc(row["kursname"]) if inside else f"{esc(row['kursname'])} (außerhalb des Kreises)"
        out.append(
            _Marker(
                latlon=latlon,
                icon=f'<div class="{css}" style="background:{color}">{label}</div>',
                icon_size=(44, 18),
                icon_anchor=(22, 9),
                popup=_course_popup(row, reach_text.get(row["kurs_id"])),
                popup_width=360,
                tooltip=tooltip,
            )
        )
    return out


def _proposal_popup(row: pd.Series) -> str:
    def num(key: str) -> str:
        v = row.get(key)
        return fmt_int(v) if isinstance(v, (int, float, np.number)) and pd.notna(v) else esc(v)

    rows: list[tuple[str, object]] = [
        ("Rang", row.get("Rang")),
        ("Kurs-ID", row.get("Kurs-ID")),
        ("Gemeinde", row.get("Gemeinde")),
        ("Mitgliedskommune", row.get("Mitgliedskommune")),
        ("Niveau", row.get("Niveau")),
        ("Zeitfenster", row.get("Zeitfenster")),
        ("erwartete Teilnehmende", num("erwartete Teilnehmende")),
        ("neu versorgt", num("neu versorgt")),
        ("Kosten", fmt_euro(row.get("Kosten (€)")) if pd.notna(row.get("Kosten (€)")) else MISSING),
        ("Begründung", row.get("Begründung")),
    ]
    return info_table(f"Vorschlag {row.get('Rang')}: {row.get('Standort')}", rows)


def _proposal_markers(proposals: gpd.GeoDataFrame) -> list[_Marker | None]:
    """One marker per proposal row (None where the site has no geometry)."""
    has_geom = (proposals.geometry.notna() & ~proposals.geometry.is_empty).to_numpy()
    latlons = iter(_latlons(proposals.geometry[has_geom]))
    out: list[_Marker | None] = []
    for ok, (_, row) in zip(has_geom, proposals.iterrows(), strict=True):
        if not ok:
            out.append(None)
            continue
        out.append(
            _Marker(
                latlon=next(latlons),
                icon=f'<div class="ka-vorschlag">&#9733; {esc(row.get("Rang"))}</div>',
                icon_size=(40, 20),
                icon_anchor=(20, 10),
                popup=_proposal_popup(row),
                popup_width=380,
                tooltip=esc(f"Vorschlag {row.get('Rang')}: {row.get('Standort')} ({row.get('Niveau')})"),
            )
        )
    return out


def _change_line(r: Mapping[str, object], min_count: int) -> str:
    """``A1: 13 % → 65 % (versorgt < 5 → 5), Lücke geschlossen`` (not yet escaped)."""
    qb, qa = to_float(r["Versorgungsquote vorher"]), to_float(r["Versorgungsquote nachher"])
    def count(v: object) -> str:  # published counts: a rounded number or the text "< 5"
        return v if isinstance(v, str) and v.startswith("<") else fmt_count(to_float(v), min_count=min_count)

    text = f"{r['Niveau']}: {fmt_percent(qb)} → {fmt_percent(qa)}"
    text += f" (versorgt {count(r['versorgt vorher'])} → {count(r['versorgt nachher'])})"
    status = str(r["Status"])
    if status == "neu geöffnet":
        text += ", Lücke neu geöffnet"
    elif status == "geschlossen":
        text += ", Lücke geschlossen"
    return text


_CSS = (
    """
<style>
*, ::before, ::after { box-sizing: border-box; }
.ka-icon { background: none; border: none; }
.ka-kurs { color: #fff; font: bold 11px/18px sans-serif; text-align: center; border-radius: 9px;
  border: 1px solid #fff; box-shadow: 0 0 2px #000; white-space: nowrap; }
.ka-aussen { outline: 2px dashed #000; outline-offset: 1px; }
.ka-vorschlag { color: #fff; background: """
    + PROPOSAL_COLOR
    + """; font: bold 12px/20px sans-serif;
  text-align: center; border-radius: 4px; border: 2px solid #fff; box-shadow: 0 0 3px #000; white-space: nowrap; }
.ka-popup h4 { font-size: 14px; line-height: 1.2; margin: 0 0 4px 0; }
.ka-popup table { font-size: 12px; border-collapse: collapse; }
.ka-popup th { text-align: left; padding: 1px 8px 1px 0; vertical-align: top; font-weight: 600; }
.ka-popup td { padding: 1px 0; }
.ka-box { background: rgba(255,255,255,0.92); border: 1px solid #999;
  border-radius: 4px; padding: 6px 8px; font: 12px/1.35 sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,.3); }
.ka-fixed { position: fixed; z-index: 1000; }
.ka-top { top: 10px; left: 56px; max-width: calc(100% - 400px); display: flex; flex-direction: column; gap: 6px; }
.ka-title { font-size: 15px; font-weight: bold; }
.ka-modell { background: #fff3cd; border-color: #d39e00; font-weight: bold; }
.ka-kacheln { background: #e8f0fb; border-color: #5b7fb5; }
.ka-kacheln[hidden] { display: none; }
.ka-legend { bottom: 28px; right: 10px; max-width: 270px; max-height: calc(100% - 330px); overflow-y: auto; }
.ka-legend summary { font-weight: bold; cursor: pointer; }
.ka-legend i { display: inline-block; width: 14px; height: 12px; margin-right: 5px; vertical-align: middle;
  border: 1px solid #777; }
.ka-legend h5 { font-size: 12px; line-height: 1.2; font-weight: bold; margin: 5px 0 2px 0; }
.ka-footer { bottom: 24px; left: 10px; max-width: calc(100% - 320px); font-size: 11px; }
.leaflet-control-layers { font: 12px/1.4 sans-serif; }
.leaflet-control-layers label { margin-bottom: 0; }
.leaflet-control-scale-line:not(:first-child) { display: none; }
@media print { .leaflet-control-container .leaflet-control-layers, .leaflet-control-search { display: none; } }
</style>
"""
)

_CHANGE_CSS = """
<style>
.ka-aenderung { color: #fff; font: bold 11px/18px sans-serif; text-align: center; border-radius: 3px;
  border: 1px solid #fff; box-shadow: 0 0 2px #000; white-space: nowrap; }
.ka-neu { background: #1a7a1a; }
.ka-entfernt { background: #b30000; text-decoration: line-through; }
.ka-geaendert { background: #6a51a3; }
.ka-legend .ka-aenderung { display: inline-block; padding: 0 4px; line-height: 14px; font-size: 10px; }
</style>
"""


def _legend_html(
    prep: _Prepared, *, courses: bool, proposals: bool, grid: bool, reach: bool, changes: _ChangeSpec | None = None
) -> str:
    ziel = fmt_percent(prep.config.parameter.ziel_quote)
    parts = ['<details open class="ka-box ka-fixed ka-legend" id="ka-legende"><summary>Legende</summary>']
    if prep.gaps:
        parts.append("<h5>Versorgungsquote (Niveau oben rechts wählen)</h5>")
        for _, color, text in QUOTE_BINS:
            parts.append(f'<div><i style="background:{color}"></i>{esc(text)}</div>')
        parts.append(f'<div><i style="background:{NO_DEMAND_COLOR}"></i>kein Bedarf / keine Angabe</div>')
        parts.append(
            '<div><i style="border:2px dashed #b30000;background:none"></i>'
            f"Versorgungslücke (unter Ziel {esc(ziel)})</div>"
        )
    if courses:
        parts.append("<h5>Bestehende Kurse (Beschriftung = Niveaus)</h5>")
        for key in COURSE_TYPES:
            if key == "online":
                continue
            parts.append(
                f'<div><i style="background:{COURSE_TYPE_COLORS[key]}"></i>{esc(course_type_label(key))}</div>'
            )
        if prep.online is not None and len(prep.online):
            parts.append(f"<div>{len(prep.online)} Online-Kurs(e) ohne Kursort, nicht in der Karte</div>")
        if prep.n_outside:
            parts.append(
                '<div><i style="background:#888;outline:2px dashed #000;outline-offset:-2px"></i>'
                f"gestrichelt: Kurs außerhalb des Kreises ({prep.n_outside})</div>"
            )
    if proposals:
        parts.append(
            f'<h5>Vorschläge</h5><div><i style="background:{PROPOSAL_COLOR}"></i>'
            "&#9733; Rang des vorgeschlagenen Kurses</div>"
        )
    if grid:
        parts.append(f"<h5>Zielgruppe je {esc(cell_size_label(prep.cell_m))}-Quadrat (Personen)</h5>")
        for _, color, text in _GRID_CLASSES:
            parts.append(f'<div><i style="background:{color}"></i>{esc(text)}</div>')
        parts.append(
            f'<div><i style="background:{_SUPPRESSED_COLOR};border-style:dashed"></i>'
            f"unter {prep.min_count} oder zum Schutz ausgeblendet</div>"
        )
    if reach:
        parts.append(
            f'<h5>Erreichbarkeit</h5><div><i style="background:{REACH_COLOR};opacity:.4"></i>'
            "von hier mit Bus und Bahn pünktlich zum Kursbeginn</div>"
        )
    if changes is not None:
        parts.append(_change_legend_html(changes))
    parts.append("</details>")
    return "".join(parts)


def _change_legend_html(changes: _ChangeSpec) -> str:
    parts = [
        f'<h5 id="ka-legende-aenderungen">{esc(CHANGE_LAYER_NAME)}</h5>'
        f"<div>Vergleich mit dem {esc(changes.previous)}; Ebene oben rechts einschalten</div>"
    ]
    if not changes.areas["features"] and not changes.n_courses:
        parts.append("<div>keine Änderungen bei Kursen und Versorgung</div>")
        return "".join(parts)
    used = {f["properties"]["_c"] for f in changes.areas["features"]}
    for _, color, text in _CHANGE_CLASSES:
        if color in used:
            parts.append(f'<div><i style="background:{color};opacity:.7"></i>{esc(text)}</div>')
    if changes.n_courses:
        parts.append(
            '<div><span class="ka-aenderung ka-neu">+</span> neuer Kurs, '
            '<span class="ka-aenderung ka-entfernt">&minus;</span> entfernt, '
            '<span class="ka-aenderung ka-geaendert">&#8776;</span> geändert</div>'
        )
    if changes.n_unplaced:
        parts.append(f"<div>{changes.n_unplaced} geänderte(r) Kurs(e) ohne Kursort (online), nicht in der Karte</div>")
    return "".join(parts)


def _footer_html(attributions: Sequence[str]) -> str:
    lines = ["Kartengrundlage: &copy; OpenStreetMap-Mitwirkende (ODbL)"]
    lines += [esc(a) for a in attributions]
    return (
        '<div class="ka-box ka-fixed ka-footer" id="ka-quellen"><b>Quellen:</b> ' + " &middot; ".join(lines) + "</div>"
    )


def _model_notice_html() -> str:
    return (
        '<div class="ka-box ka-modell" id="ka-modelldaten" role="note">'
        "Modelldaten: Diese Karte beruht ganz oder teilweise auf "
        "modellierten Daten – keine realen Angaben über Personen oder Kurse.</div>"
    )


TILE_NOTICE = (
    "Hintergrundkarte nicht geladen (keine Internetverbindung?). Alle Daten der Karte sind vollständig."
)
"""Shown on the map while background tiles fail to load (everything else is embedded in the file)."""


def _tile_notice_html() -> str:
    # hidden until a tile fails (see _TileNotice); fixed text, no user input
    return f'<div class="ka-box ka-kacheln" id="ka-kacheln" role="status" hidden>{esc(TILE_NOTICE)}</div>'


_TOOLTIP_ALIASES = (
    ("Mitgliedskommune", "Mitgliedskommune"),
    ("niv", "Niveau"),
    ("b", "Bedarf (Personen)"),
    ("v", "versorgt"),
    ("u", "unversorgt"),
    ("q", "Versorgungsquote"),
    ("l", "Versorgungslücke"),
    ("rg", "Rang der Lücke"),
    ("n", "durch neuen Kurs versorgbar"),
    ("g", "Begründung"),
)
