"""Scaffold a new region folder: configuration plus empty templates (``kursatlas init``)."""

from __future__ import annotations

import logging
from pathlib import Path

from ._io import write_text
from .errors import ConfigError
from .schema import CANDIDATE_COLUMNS, COURSE_COLUMNS

__all__ = ["scaffold"]

logger = logging.getLogger(__name__)

_TOML = """\
# Regionsdatei für Kursatlas. Pfade sind relativ zu dieser Datei.
# Prüfen mit:  kursatlas validate --config region.toml
# Rechnen mit: kursatlas run --config region.toml

[region]
name = "{name}"
# Verwaltungsgrenzen als GeoPackage mit drei Ebenen (Spalten ARS, GEN, BEZ wie im BKG-Produkt VG250/VG5000).
# Download: https://gdz.bkg.bund.de (Verwaltungsgebiete), Kreis ausschneiden, z. B. in QGIS.
grenzen = "grenzen.gpkg"
ebene_landkreis = "landkreis"
ebene_mitgliedskommunen = "mitgliedskommunen"
ebene_gemeinden = "gemeinden"

[einwohner]
# Zielgruppe (z. B. Ausländerinnen und Ausländer). Formate:
#   "zensus"   Zensus-2022-Gitter-CSV (GITTER_ID_100m;x_mp_100m;y_mp_100m;<Wertspalte>),
#              auch die bundesweite Datei: gezählt werden nur Zellen im Landkreis
#   "punkte"   CSV mit herkunft_id;lat;lon;einwohner (oder x;y und crs = "EPSG:25832")
#   "flaechen" GeoPackage/GeoJSON mit Flächen und einer Zahlspalte
# Einwohner außerhalb des Landkreises (Nachbarkreise) werden nicht gezählt.
datei = "einwohner.csv"
format = "punkte"
spalte = "einwohner"

[kurse]
datei = "kurse.csv"

[standorte]
# mögliche Standorte für neue Kurse; Zeile löschen, um je Gemeinde die Gemeindemitte zu nehmen
datei = "standorte.csv"

[netz]
# "download" lädt das OpenStreetMap-Straßennetz einmal herunter und speichert es im Cache,
# oder Pfad zu einer .osm.pbf-Datei (z. B. Geofabrik-Auszug Niedersachsen).
osm = "download"
# GTFS-Fahrplan (zip) des Verkehrsverbunds / der Nahverkehrsgesellschaft
gtfs = "fahrplan.zip"

[ausgabe]
karten = "karten"
ergebnisse = "ergebnisse"

[[datenquellen]]
datei = "grenzen.gpkg"
art = "real"
quelle = "BKG Verwaltungsgebiete"
lizenz = "Datenlizenz Deutschland – Namensnennung – Version 2.0"
namensnennung = "© GeoBasis-DE / BKG (Daten verändert)"

[[datenquellen]]
datei = "osm"
art = "real"
quelle = "OpenStreetMap"
lizenz = "ODbL 1.0"
namensnennung = "© OpenStreetMap-Mitwirkende (ODbL)"

# [parameter]          Voreinstellungen siehe README, Abschnitt Parameter
# ziel_quote = 0.8
# budget_kurse = 8
# [parameter.gruppen.eltern]
# max_minuten = 45
"""

_LIESMICH = """\
# {name}

Vorlage, angelegt mit `kursatlas init`. Bitte füllen:

- `grenzen.gpkg`: Verwaltungsgrenzen (Landkreis, Mitgliedskommunen, Gemeinden).
- `einwohner.csv`: Zielgruppe je Punkt oder Gitterzelle (nur zusammengefasste Zahlen, keine Personen).
- `kurse.csv`: Kursregister, eine Zeile je Kurs (Spalten siehe README von Kursatlas).
- `standorte.csv`: mögliche Standorte für neue Kurse.
- `fahrplan.zip`: GTFS-Fahrplan.

Dann `kursatlas validate --config region.toml`.
"""


def scaffold(folder: Path, *, name: str = "Meine Region") -> list[Path]:
    """Create a new region folder with a configuration and empty templates.

    Parameters
    ----------
    folder
        The new folder; must not exist or be empty.
    name
        Region name written into the configuration.

    Returns
    -------
    list of Path
        The files created.

    Raises
    ------
    ConfigError
        If the folder exists and is not empty (nothing is overwritten).
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"Ordner {folder} existiert und ist nicht leer; es wird nichts überschrieben.")
    folder.mkdir(parents=True, exist_ok=True)
    safe_name = name.replace("\\", "\\\\").replace('"', '\\"')
    files = {
        "region.toml": _TOML.format(name=safe_name),
        "kurse.csv": ";".join(COURSE_COLUMNS) + "\n",
        "standorte.csv": ";".join(CANDIDATE_COLUMNS) + "\n",
        "einwohner.csv": "herkunft_id;lat;lon;einwohner\n",
        "LIESMICH.md": _LIESMICH.format(name=name),
    }
    out = []
    for fname, text in files.items():
        write_text(folder / fname, text)
        out.append(folder / fname)
    logger.info("Region angelegt in %s", folder)
    return out
