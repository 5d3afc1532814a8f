"""Command line interface ``kursatlas`` (German).

Subcommands: ``demo``, ``run``, ``beobachten``, ``validate``, ``init``, ``reisezeiten``, ``kurse``.
Logging is configured here and only here.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coverage import __version__
from coverage.errors import KursatlasError
from coverage.inputs.schema import COURSE_TYPE_LABELS, LEVELS, WEEKDAYS

if TYPE_CHECKING:
    from coverage.inputs.config import Config
    from coverage.workflow.pipeline import RunResult
    from coverage.workflow.watch import WatchEvent

__all__ = ["DEMO_CONFIG", "build_parser", "main"]

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "data" / "rotenburg" / "region.toml"
"""The embedded model region (Landkreis Rotenburg (Wümme), partly modelled data)."""

DEFAULT_WAIT_S = 10.0
"""Seconds ``run``/``beobachten`` wait for output folders locked by another run (``--warten``)."""

_DESCRIPTION = """\
Kursatlas zeigt, wer einen Deutschkurs auf dem passenden Niveau ohne Auto erreicht,
wo Versorgungslücken sind und wo landkreisgeförderte Kurse am meisten bewirken.

Typische Aufrufe:
  kursatlas demo                               Modellregion Rotenburg (Wümme) rechnen
  kursatlas run --config region.toml           eigene Region rechnen
  kursatlas beobachten --config region.toml    bei jeder Änderung (z. B. neuer Kurs) sofort neu rechnen
  kursatlas validate --config region.toml      nur die Eingabedateien prüfen
  kursatlas init meine_region                  Vorlage für eine neue Region anlegen
"""


class _Progress:
    """Prints ``[3/7] Reisezeiten …`` lines with the time of the previous step."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.restart()

    def restart(self) -> None:
        """Time the next steps from now (a new run)."""
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.open = False

    def __call__(self, step: int, total: int, text: str) -> None:
        now = time.perf_counter()
        if self.open:
            print(f"      fertig ({now - self.last:.1f} s)", file=self.stream)
        self.last = now
        self.open = True
        print(f"[{step}/{total}] {text} …", file=self.stream, flush=True)

    def done(self) -> None:
        now = time.perf_counter()
        if self.open:
            print(f"      fertig ({now - self.last:.1f} s)", file=self.stream)
        print(f"Gesamtzeit: {now - self.t0:.1f} s", file=self.stream)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _print_result(config: Config, result: RunResult) -> None:
    """The summary of a run: region, model-data notice, proposals, changes, files."""
    print(f"Region: {config.name}")
    if config.has_modelled_data:
        print("Hinweis: Die Region enthält modellierte Daten (keine realen Angaben), siehe QUELLEN.md.")
    if result.placement is not None:
        from coverage.analysis.disclosure import DisclosurePolicy

        st = result.placement.solution.stats()
        served = DisclosurePolicy(config.parameter.mindestanzahl).text(float(st["neu_versorgt"]))
        print(f"Vorschläge: {st['kurse']} landkreisgeförderte Kurse, {served} Personen neu "
              f"versorgt (Optimalitätslücke {100 * float(st['luecke']):.1f} %, {st['methode']}, "
              f"{float(st['rechenzeit_s']):.1f} s).")
    if result.changes is not None:
        print("Änderungen seit dem letzten Lauf:")
        for line in result.changes.summary_lines():
            print(f"  {line}")
    print(f"Geschrieben ({len(result.files)} Dateien), u. a.:")
    for p in result.files:
        if p.name in ("uebersicht.html", "bericht.html", "luecken.xlsx", "vorschlaege.xlsx", "kursatlas.gpkg"):
            print(f"  {p}")
    if result.run_dir is not None:
        print(f"Protokoll des Laufs: {result.run_dir}")


def _cmd_run(args: argparse.Namespace) -> int:
    from coverage.inputs.config import load_config
    from coverage.workflow.pipeline import run

    config = load_config(args.config)
    progress = _Progress()
    result = run(config, progress=progress, proposals=not getattr(args, "nur_versorgung", False),
                 lock_wait_s=getattr(args, "warten", 0.0))
    progress.done()
    _print_result(config, result)
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    from coverage.workflow.watch import watch

    progress = _Progress()

    def started(changed: tuple[str, ...]) -> None:
        progress.restart()
        if changed:
            print(f"Geändert: {', '.join(changed)}. Neue Berechnung …", file=sys.stderr, flush=True)

    def finished(event: WatchEvent) -> None:
        if event.error is not None:
            print(f"Fehler: {event.error}", file=sys.stderr)
            print("Die bisherigen Ergebnisse bleiben erhalten. Nach dem nächsten Speichern wird erneut geprüft.",
                  file=sys.stderr, flush=True)
        else:
            progress.done()
            _print_result(event.config, event.result)
        print(f"Warte auf Änderungen an den Eingaben (alle {args.intervall:g} s geprüft; Strg+C beendet) …",
              file=sys.stderr, flush=True)

    try:
        n = watch(args.config, interval=args.intervall, proposals=args.mit_vorschlaegen, on_event=finished,
                  on_start=started, progress=progress, lock_wait_s=args.warten)
    except KeyboardInterrupt:
        print("Beobachtung beendet. Die Ergebnisse des letzten vollständigen Laufs bleiben erhalten.",
              file=sys.stderr)
        return 0
    print(f"Beobachtung beendet nach {n} Läufen.", file=sys.stderr)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    args.config = DEMO_CONFIG
    return _cmd_run(args)


def _cmd_validate(args: argparse.Namespace) -> int:
    from coverage.inputs.config import load_config
    from coverage.workflow.summary import summarize

    config = load_config(args.config)
    summary = summarize(config)
    print(f"Eingaben der Region '{config.name}' sind gültig (Grenzen, Einwohner, Kurse, Standorte, "
          "Straßennetz, Fahrplan, Ausgabeordner):")
    for line in summary.lines():
        print(line)
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from coverage.workflow.scaffold import scaffold

    files = scaffold(Path(args.ordner), name=args.name)
    print(f"Neue Region in {args.ordner} angelegt:")
    for f in files:
        print(f"  {f}")
    print(f"Nächste Schritte: Dateien füllen, dann 'kursatlas validate --config {Path(args.ordner) / 'region.toml'}'.")
    return 0


def _cmd_reisezeiten(args: argparse.Namespace) -> int:
    from coverage.inputs.config import load_config
    from coverage.traveltime import write_travel_time_matrix

    config = load_config(args.config)
    path = write_travel_time_matrix(config, Path(args.ausgabe))
    print(f"Reisezeiten geschrieben: {path}")
    return 0


def _seconds(text: str, *, low: float, high: float) -> float:
    """A number of seconds in ``[low, high]`` from the command line (decimal point or comma)."""
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"'{text}' ist keine Sekundenzahl zwischen {low:g} und {high:g}")
    return value


def _positive_seconds(text: str) -> float:
    """A number of seconds > 0 from the command line (decimal point or comma)."""
    return _seconds(text, low=0.05, high=3600)


def _wait_seconds(text: str) -> float:
    """A number of seconds ≥ 0 from the command line (decimal point or comma)."""
    return _seconds(text, low=0, high=86400)


def _add_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("--warten", type=_wait_seconds, default=DEFAULT_WAIT_S, metavar="SEKUNDEN",
                   help="so lange warten, wenn ein anderer Lauf die Ausgabeordner gerade benutzt "
                   f"(Standard {DEFAULT_WAIT_S:g}); danach Abbruch mit Meldung")


# CLI option → registry column (all values are passed as text, exactly as typed)
_COURSE_OPTIONS: tuple[tuple[str, str, str, bool], ...] = (
    ("--kurs-id", "kurs_id", "eindeutige Kennung des Kurses, z. B. K100", True),
    ("--traeger", "traeger", "Kursträger, z. B. \"Volkshochschule Zeven\"", True),
    ("--kursname", "kursname", "Bezeichnung des Kurses (optional)", False),
    ("--kursort", "kursort", "Ort des Kurses, z. B. Zeven (bei Online-Kursen: online)", True),
    ("--adresse", "adresse", "Adresse des Kursorts (optional)", False),
    ("--lat", "lat", "geographische Breite (WGS84), z. B. 53.2957; leer bei Online-Kursen", False),
    ("--lon", "lon", "geographische Länge (WGS84), z. B. 9.2756; leer bei Online-Kursen", False),
    ("--niveaus", "niveaus", "ein oder mehrere Niveaus aus " + ", ".join(LEVELS) + ", z. B. \"A1, A2\"", True),
    ("--kursart", "kursart", "Kursart: " + ", ".join(COURSE_TYPE_LABELS), True),
    ("--wochentage", "wochentage", "Kurstage, z. B. \"Mo, Mi\" oder Mo-Fr (" + ", ".join(WEEKDAYS) + ")", True),
    ("--beginn", "beginn", "Uhrzeit des Beginns HH:MM, z. B. 09:00", True),
    ("--ende", "ende", "Uhrzeit des Endes HH:MM, z. B. 12:00", True),
    ("--erster-tag", "erster_tag", "erster Kurstag JJJJ-MM-TT oder TT.MM.JJJJ", True),
    ("--letzter-tag", "letzter_tag", "letzter Kurstag JJJJ-MM-TT oder TT.MM.JJJJ", True),
    ("--plaetze", "plaetze", "Plätze insgesamt (1 bis 100)", True),
    ("--freie-plaetze", "freie_plaetze", "davon noch frei", True),
    ("--kinderbetreuung", "kinderbetreuung", "Kinderbetreuung am Kursort: ja oder nein", True),
)


def _cmd_kurse_pruefen(args: argparse.Namespace) -> int:
    from coverage.inputs.config import load_config
    from coverage.workflow.registry import check_registry

    config = load_config(args.config)
    summary = check_registry(config)
    print("\n".join(summary.lines()))
    return 0


def _cmd_kurse_neu(args: argparse.Namespace) -> int:
    from coverage.inputs.config import load_config
    from coverage.workflow.registry import add_course

    config = load_config(args.config)
    values = {col: getattr(args, col) for _, col, _, _ in _COURSE_OPTIONS if getattr(args, col) is not None}
    add_course(config, values)
    print(f"Kurs {values['kurs_id']} in {config.kurse} eingetragen.")
    print("Die nächste Berechnung ('kursatlas run') berücksichtigt ihn und zeigt, was sich ändert.")
    return 0


def _add_registry_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``kurse pruefen`` and ``kurse neu`` (:mod:`coverage.workflow.registry`)."""
    p = subparsers.add_parser(
        "kurse",
        help="Kursregister prüfen oder einen Kurs eintragen",
        description="Arbeiten mit dem Kursregister (CSV-Datei aus [kurse] datei der Regionsdatei).",
    )
    sub = p.add_subparsers(dest="kurse_befehl", metavar="AKTION", title="Aktionen")
    sub.required = True

    q = sub.add_parser(
        "pruefen",
        help="Kursregister prüfen und zusammenfassen",
        description="Prüft das Kursregister gegen die Region und zeigt Kurse je Niveau, Kursart und "
        "Mitgliedskommune sowie Hinweise (beendete Kurse, keine freien Plätze).",
    )
    q.add_argument("--config", required=True, type=Path, help="Regionsdatei (TOML)")
    q.set_defaults(func=_cmd_kurse_pruefen)

    n = sub.add_parser(
        "neu",
        help="einen Kurs ins Register eintragen (geprüft, atomar)",
        description="Trägt einen Kurs ins Kursregister ein. Das ganze Register wird mit dem neuen Kurs "
        "geprüft; bei einem Fehler bleibt die Datei unverändert.",
    )
    n.add_argument("--config", required=True, type=Path, help="Regionsdatei (TOML)")
    for opt, col, text, required in _COURSE_OPTIONS:
        n.add_argument(opt, dest=col, required=required, help=text, metavar="WERT")
    n.set_defaults(func=_cmd_kurse_neu)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (German help texts)."""
    parser = argparse.ArgumentParser(
        prog="kursatlas",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kursatlas {__version__}")
    parser.add_argument(
        "-v",
        "--ausfuehrlich",
        dest="verbose",
        action="count",
        default=0,
        help="mehr Meldungen ausgeben (-vv für alle Details)",
    )
    sub = parser.add_subparsers(dest="befehl", metavar="BEFEHL", title="Befehle")

    p = sub.add_parser(
        "demo",
        help="die eingebaute Modellregion Rotenburg (Wümme) komplett rechnen",
        description="Rechnet die Modellregion (teils modellierte Daten) und schreibt Karten nach "
        "maps/ und Tabellen nach results/.",
    )
    p.add_argument("--nur-versorgung", action="store_true", help="ohne Vorschläge für neue Kurse (schneller)")
    _add_wait(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "run",
        help="alle Schritte für eine Region rechnen",
        description="Lädt und prüft die Eingaben, berechnet Reisezeiten, Versorgung, Lücken und "
        "Vorschläge und schreibt Karten, Tabellen und Bericht.",
    )
    p.add_argument("--config", required=True, type=Path, help="Regionsdatei (TOML), z. B. region.toml")
    p.add_argument(
        "--nur-versorgung",
        action="store_true",
        help="schneller Neulauf nach neuen Kursen: Versorgung, Lücken, Karten, ohne neue Vorschläge",
    )
    _add_wait(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "beobachten",
        help="rechnen und bei jeder Änderung der Eingaben (z. B. neuer Kurs) sofort neu rechnen",
        description="Rechnet die Region einmal und beobachtet dann ihre Eingabedateien (Regionsdatei, "
        "Kursregister, Einwohner, Standorte, Grenzen, Netze). Sobald eine Datei mit neuem Inhalt gespeichert "
        "ist, wird neu gerechnet; dabei bleibt alles Unveränderte im Speicher, ein Neulauf nach einem neuen "
        "Kurs dauert daher nur Sekunden. Ungültige Eingaben werden gemeldet, die bisherigen Ergebnisse "
        "bleiben dann erhalten. Beenden mit Strg+C.",
    )
    p.add_argument("--config", required=True, type=Path, help="Regionsdatei (TOML)")
    p.add_argument("--intervall", type=_positive_seconds, default=0.25, metavar="SEKUNDEN",
                   help="Abstand, in dem die Dateien geprüft werden (Standard 0.25)")
    p.add_argument("--mit-vorschlaegen", action="store_true",
                   help="auch die Vorschläge für neue Kurse neu rechnen (langsamer)")
    _add_wait(p)
    p.set_defaults(func=_cmd_watch)

    p = sub.add_parser(
        "validate",
        help="alle Eingaben (auch Straßennetz und Fahrplan) und die Ausgabeordner prüfen, zeigen, was das "
        "Analysegebiet enthält (schreibt keine Ergebnisse, füllt nur den Cache)",
    )
    p.add_argument("--config", required=True, type=Path, help="Regionsdatei (TOML)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("init", help="Vorlagen für eine neue Region anlegen")
    p.add_argument("ordner", help="neuer Ordner für die Region")
    p.add_argument("--name", default="Meine Region", help="Name der Region in Karten und Bericht")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("reisezeiten", help="Reisezeiten Herkunft × Kurs × Verkehrsmittel als Tabelle schreiben")
    p.add_argument("--config", required=True, type=Path, help="Regionsdatei (TOML)")
    p.add_argument("--ausgabe", required=True, help="Zieldatei .csv oder .parquet")
    p.set_defaults(func=_cmd_reisezeiten)

    _add_registry_commands(sub)
    return parser


class _GermanFormatter(argparse.RawDescriptionHelpFormatter):
    """Help formatter with a German usage line."""

    def add_usage(
        self,
        usage: str | None,
        actions: Iterable[argparse.Action],
        groups: Iterable[argparse._MutuallyExclusiveGroup],
        prefix: str | None = None,
    ) -> None:
        return super().add_usage(usage, actions, groups, prefix="Aufruf: " if prefix is None else prefix)


def _germanize(parser: argparse.ArgumentParser) -> None:
    """German texts for argparse's own help entries, in the parser and every subparser."""
    parser.formatter_class = _GermanFormatter
    parser._optionals.title = "Optionen"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            action.help = "diese Hilfe anzeigen und beenden"
        elif isinstance(action, argparse._VersionAction):
            action.help = "Versionsnummer anzeigen und beenden"
        elif isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _germanize(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kursatlas`` command; returns the exit code."""
    parser = build_parser()
    _germanize(parser)
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KursatlasError as exc:
        print(f"Fehler: {exc}", file=sys.stderr)
        if getattr(exc, "outputs_intact", True):
            print("Es wurde nichts geschrieben; frühere Ergebnisse bleiben erhalten.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # a run replaces its outputs all at once (coverage.workflow._outputs); Ctrl-C during the swap finishes it
        print("Abgebrochen. Die Ausgabeordner enthalten vollständig die Ergebnisse des letzten abgeschlossenen "
              "Laufs.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
