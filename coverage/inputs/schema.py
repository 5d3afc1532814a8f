"""Vocabulary shared by all stages: levels, course types, target groups, weekdays.

Internal keys are short ASCII identifiers; ``*_LABELS`` hold the German text shown
to users in maps, tables and reports.
"""

from __future__ import annotations

__all__ = [
    "CANDIDATE_COLUMNS",
    "COURSE_COLUMNS",
    "COURSE_TYPES",
    "COURSE_TYPE_LABELS",
    "GROUPS",
    "GROUP_LABELS",
    "LEVELS",
    "MODES",
    "MODE_LABELS",
    "RUFBUS_MODE",
    "SLOTS",
    "SLOT_LABELS",
    "TRAVEL_MODES",
    "WEEKDAYS",
]

LEVELS: tuple[str, ...] = ("Alpha", "A1", "A2", "B1", "B2", "C1")
"""Course levels (Alpha = Alphabetisierung, then CEFR levels)."""

COURSE_TYPES: tuple[str, ...] = (
    "integrationskurs",
    "alphabetisierung",
    "eltern_frauen",
    "jugend",
    "beruf",
    "landkreis",
    "online",
)
COURSE_TYPE_LABELS: dict[str, str] = {
    "integrationskurs": "Integrationskurs allgemein",
    "alphabetisierung": "Alphabetisierungskurs",
    "eltern_frauen": "Eltern-/Frauenkurs",
    "jugend": "Jugendkurs",
    "beruf": "Berufssprachkurs",
    "landkreis": "landkreisgeförderter Kurs",
    "online": "Online-Kurs",
}

GROUPS: tuple[str, ...] = ("allgemein", "eltern", "jugend", "frauen", "berufstaetig")
"""Disjoint target groups; every person of the demand belongs to exactly one."""
GROUP_LABELS: dict[str, str] = {
    "allgemein": "allgemein",
    "eltern": "Eltern mit Betreuungsbedarf",
    "jugend": "junge Menschen unter 27",
    "frauen": "Frauenkurs gewünscht",
    "berufstaetig": "Berufstätige (Abendkurs)",
}

WEEKDAYS: tuple[str, ...] = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")
"""German weekday abbreviations, index = ``date.weekday()``."""

MODES: tuple[str, ...] = ("fuss", "rad", "oepnv")
MODE_LABELS: dict[str, str] = {
    "fuss": "zu Fuß",
    "rad": "Fahrrad",
    "oepnv": "Bus und Bahn",
    "rufbus": "Bus und Bahn mit Rufbus",
}
RUFBUS_MODE = "rufbus"
"""Travel-time mode of public transport including on-demand service (only in regions that have it)."""
TRAVEL_MODES: tuple[str, ...] = (*MODES, RUFBUS_MODE)
"""Every mode a travel-time table may hold: :data:`MODES` (selectable per group) plus ``rufbus``."""

SLOTS: tuple[str, ...] = ("vormittag", "abend", "vormittag_kinderbetreuung")
SLOT_LABELS: dict[str, str] = {
    "vormittag": "vormittags",
    "abend": "abends",
    "vormittag_kinderbetreuung": "vormittags mit Kinderbetreuung",
}

COURSE_COLUMNS: tuple[str, ...] = (
    "kurs_id",
    "traeger",
    "kursname",
    "kursort",
    "adresse",
    "lat",
    "lon",
    "niveaus",
    "kursart",
    "wochentage",
    "beginn",
    "ende",
    "erster_tag",
    "letzter_tag",
    "plaetze",
    "freie_plaetze",
    "kinderbetreuung",
)
"""Columns of the course registry CSV (``lat``/``lon`` may be replaced by ``x``/``y``)."""

CANDIDATE_COLUMNS: tuple[str, ...] = ("standort_id", "name", "lat", "lon", "art", "verfuegbar")
"""Columns of the candidate-site CSV."""
