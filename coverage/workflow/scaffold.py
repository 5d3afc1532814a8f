"""Scaffold a new region folder: configuration plus empty templates (``kursatlas init``)."""

from __future__ import annotations

import logging
from pathlib import Path

from coverage._io import write_text
from coverage.errors import ConfigError
from coverage.inputs.schema import CANDIDATE_COLUMNS, COURSE_COLUMNS

__all__ = ["scaffold"]

logger = logging.getLogger(__name__)

_TOML = """\
# Regionsdatei für Kursatlas. Pfade sind relativ zu dieser Datei.
# Schritt für Schritt (Details: README von Kursatlas, Abschnitt "Eine echte Region einrichten"):
#   1. die unten genannten öffentlichen Dateien herunterladen und in diesen Ordner legen,
#   2. kurse.csv (und ggf. nachbarkurse.csv, standorte.csv) füllen,
#   3. prüfen:  kursatlas validate --config region.toml
#      (prüft alle Eingaben und zeigt, was das Analysegebiet enthält: Haltestellen, Fahrten je
#      Wochentag, Straßen, Einwohner, Kurse im und außerhalb des Kreises),
#   4. rechnen: kursatlas run --config region.toml
# Alle Dateien dürfen groß sein (Deutschland-Fahrplan, Landesauszug OSM, bundesweites Zensus-Gitter):
# Kursatlas liest sie in Teilen, behält nur das Analysegebiet und legt den Zuschnitt im Cache ab.

[region]
name = "{name}"
# Verwaltungsgrenzen als GeoPackage mit drei Ebenen (Spalten ARS, GEN, BEZ wie im BKG-Produkt VG250).
# Herunterladen: BKG, "Verwaltungsgebiete 1:250 000" (VG250, GeoPackage, Datenlizenz Deutschland 2.0),
# dann in QGIS den Kreis (Ebene KRS), seine Verwaltungsgemeinschaften/Einheitsgemeinden (VWG) und
# Gemeinden (GEM) auswählen und als grenzen.gpkg mit den Ebenen unten speichern.
grenzen = "grenzen.gpkg"
ebene_landkreis = "landkreis"
ebene_mitgliedskommunen = "mitgliedskommunen"
ebene_gemeinden = "gemeinden"
# Analysegebiet = Landkreis plus dieser Puffer (km). Kurse, Standorte, Haltestellen, Fahrten und Straßen
# werden im ganzen Analysegebiet genutzt (Menschen fahren auch zu Kursen im Nachbarkreis);
# Einwohner zählen nur im Landkreis.
puffer_km = 15

[einwohner]
# Zielgruppe (z. B. Ausländerinnen und Ausländer), nur als Zahlen je Gitterzelle, Punkt oder Fläche.
# Formate:
#   "zensus"   Zensus-2022-Gitter-CSV (GITTER_ID_100m;x_mp_100m;y_mp_100m;<Wertspalte>, auch 1 km),
#              die bundesweite Datei der Statistischen Ämter (zensus2022.de, "Gitterzellen", CSV)
#              darf unverändert angegeben werden: Kursatlas behält nur die Zellen im Landkreis.
#              Bei einer Anteilsspalte (z. B. AnteilAuslaender) wird mit der Spalte Einwohner multipliziert.
#   "punkte"   CSV mit herkunft_id;lat;lon;einwohner (oder x;y und crs = "EPSG:25832"),
#              z. B. Zahlen der Ausländerbehörde je Ortsteil (nur Summen, nie Personen oder Adressen)
#   "flaechen" GeoPackage/GeoJSON mit Flächen und einer Zahlspalte
# Einwohner außerhalb des Landkreises (Nachbarkreise) werden nicht gezählt.
datei = "einwohner.csv"
format = "punkte"
spalte = "einwohner"

[kurse]
# Kursregister, eine Zeile je Kurs (Spalten siehe README). Kurse außerhalb des Kreises (im Puffer)
# dürfen hier stehen oder in einer eigenen Datei:
datei = "kurse.csv"
# nachbarkurse = "nachbarkurse.csv"

[standorte]
# mögliche Standorte für neue Kurse; Zeile löschen, um je Gemeinde die Gemeindemitte zu nehmen
datei = "standorte.csv"

[netz]
# Straßennetz: Pfad zu einem OpenStreetMap-Auszug des Landes, z. B. von Geofabrik
# (download.geofabrik.de, Europe → Germany → Niedersachsen: niedersachsen-latest.osm.pbf, ODbL),
# oder "download" (lädt nur das Analysegebiet einmal mit osmnx herunter und speichert es im Cache).
osm = "download"
# osm = "niedersachsen-latest.osm.pbf"
# Fahrplan (GTFS, zip): der deutschlandweite Sollfahrplan (DELFI e. V., über die Mobilithek oder
# gtfs.de) oder der Feed des Verkehrsverbunds. Der ganze Deutschland-Feed darf angegeben werden:
# Kursatlas behält jede Fahrt, die eine Haltestelle im Analysegebiet bedient. Der Fahrplan muss die
# Kurstermine abdecken (sonst nennt Kursatlas seinen Gültigkeitszeitraum).
gtfs = "fahrplan.zip"
# Rufbus / Anruf-Sammel-Taxi (siehe README „Rufbus und Anruf-Sammel-Taxi“): Linien, die im Fahrplan
# als normale Busse stehen, aber nur nach Anmeldung fahren, oder ein GTFS-Flex-Feed.
# rufbus_muster = "AST.*|RB ?\\d+"    # regulärer Ausdruck auf route_short_name
# rufbus_linien = ["de:nds:rb-812"]    # route_id
# rufbus_vorlauf_min = 60              # Voranmeldung in Minuten
# rufbus_flex = "rufbus_flex.zip"      # GTFS-Flex v2

[ausgabe]
karten = "karten"
ergebnisse = "ergebnisse"

[[datenquellen]]
datei = "grenzen.gpkg"
art = "real"
quelle = "BKG Verwaltungsgebiete 1:250 000 (VG250)"
lizenz = "Datenlizenz Deutschland – Namensnennung – Version 2.0"
namensnennung = "© GeoBasis-DE / BKG (Daten verändert)"

[[datenquellen]]
datei = "osm"
art = "real"
quelle = "OpenStreetMap"
lizenz = "ODbL 1.0"
namensnennung = "© OpenStreetMap-Mitwirkende (ODbL)"

# [[datenquellen]]
# datei = "zensus2022_100m.csv"
# art = "real"
# quelle = "Zensus 2022, Gitterzellen 100 m"
# lizenz = "Datenlizenz Deutschland – Namensnennung – Version 2.0"
# namensnennung = "Zensus 2022: © Statistische Ämter des Bundes und der Länder (dl-de/by-2-0)"

# [parameter]          Voreinstellungen siehe README, Abschnitt Parameter
# ziel_quote = 0.8
# min_bedarf_quote = 8   Bedarf, ab dem eine Quote unter dem Ziel eine Lücke ist
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
- `fahrplan.zip`: GTFS-Fahrplan (auch der ganze Deutschland-Feed).
- Straßennetz: `osm = "download"` oder den OSM-Auszug des Landes angeben (siehe `region.toml`).

Welche öffentlichen Dateien woher kommen, steht als Kommentar in `region.toml`.

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
