"""Course registry workflow: check the registry and add a course (``kursatlas kurse …``, see :mod:`coverage.cli`).

The registry is the plain CSV file named in ``[kurse] datei``; nothing else is
stored, so editing it by hand keeps working. :func:`add_course` validates the
*whole* registry with the new row appended (the same checks as every run:
duplicates, bad values, coordinates outside the region) and only then replaces
the file atomically. Existing lines stay byte-for-byte as they were; separator,
header order, line endings and a byte-order mark are kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coverage._io import atomic_path
from coverage.errors import InputDataError, KursatlasError
from coverage.inputs._validate import decode_csv
from coverage.inputs.config import Config
from coverage.inputs.schema import COURSE_TYPE_LABELS, LEVELS

__all__ = ["RegistrySummary", "add_course", "check_registry"]

logger = logging.getLogger(__name__)

_WHAT = "Kursregister"

# --------------------------------------------------------------------------- check


@dataclass(frozen=True)
class RegistrySummary:
    """What the registry holds (result of :func:`check_registry`).

    Attributes
    ----------
    path
        The registry file.
    n_courses, n_online
        Number of courses and of online courses.
    per_level
        Level → number of courses offering it (a course with several levels counts for each).
    per_type
        German course-type label → number of courses.
    per_mk
        Mitgliedskommune name (``online`` for online courses) → number of courses.
    free_seats, seats
        Free and total seats over all courses.
    warnings
        German warnings (courses already ended, without free seats, not yet started).
    """

    path: Path
    n_courses: int
    n_online: int
    per_level: dict[str, int]
    per_type: dict[str, int]
    per_mk: dict[str, int]
    seats: int
    free_seats: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        """German text for the command line."""
        out = [
            f"Kursregister {self.path} ist gültig.",
            f"  {self.n_courses} Kurse, davon {self.n_online} online; {self.seats} Plätze, "
            f"{self.free_seats} davon frei.",
            "  Kurse je Niveau:",
        ]
        out += [f"    {k:<6} {v:>4}" for k, v in self.per_level.items()]
        out.append("  Kurse je Kursart:")
        out += [f"    {k:<32} {v:>4}" for k, v in self.per_type.items()]
        out.append("  Kurse je Mitgliedskommune:")
        out += [f"    {k:<32} {v:>4}" for k, v in self.per_mk.items()]
        if self.warnings:
            out.append(f"Hinweise ({len(self.warnings)}):")
            out += [f"  - {w}" for w in self.warnings]
        else:
            out.append("Keine Hinweise.")
        return out


def check_registry(config: Config, *, today: dt.date | None = None) -> RegistrySummary:
    """Validate the course registry against the region and summarise it.

    Parameters
    ----------
    config
        The region configuration (registry file and boundaries).
    today
        Reference date for "already ended" warnings; default: today.

    Returns
    -------
    RegistrySummary

    Raises
    ------
    InputDataError
        If the registry is invalid (the message names line, column and value).
    """
    from coverage.inputs.load import load_courses, load_region

    today = today or dt.date.today()
    region = load_region(config)
    courses = load_courses(config.kurse, region, crs=config.einwohner_crs)
    mk_names = region.mk_names()
    per_level = {lv: int(sum(lv in n for n in courses["niveaus"])) for lv in LEVELS}
    types = Counter(courses["kursart"])
    per_type = {COURSE_TYPE_LABELS[k]: types[k] for k in COURSE_TYPE_LABELS if types[k]}
    pairs = zip(courses["online"], courses["mk_ars"], strict=True)
    mk = Counter("online" if online else mk_names.get(a, a) for online, a in pairs)
    per_mk = {k: mk[k] for k in sorted(mk, key=lambda s: (s == "online", s))}
    warnings: list[str] = []
    for r in courses.itertuples(index=False):
        label = f"Kurs {r.kurs_id} ({', '.join(r.niveaus)}, {r.kursort})"
        if r.letzter_tag < today:
            warnings.append(f"{label} ist bereits beendet (letzter Kurstag {r.letzter_tag:%d.%m.%Y}).")
        elif r.freie_plaetze == 0:
            warnings.append(f"{label} hat keine freien Plätze mehr.")
        if r.erster_tag > today + dt.timedelta(days=365):
            warnings.append(f"{label} beginnt erst am {r.erster_tag:%d.%m.%Y} (mehr als ein Jahr entfernt).")
    return RegistrySummary(
        path=config.kurse,
        n_courses=len(courses),
        n_online=int(courses["online"].sum()),
        per_level=per_level,
        per_type=per_type,
        per_mk=per_mk,
        seats=int(courses["plaetze"].sum()),
        free_seats=int(courses["freie_plaetze"].sum()),
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------- add


@dataclass(frozen=True)
class _Layout:
    """How an existing registry file is written."""

    raw: bytes
    bom: bool
    sep: str
    newline: str
    header: list[str]


def _layout(path: Path) -> _Layout:
    text, sep = decode_csv(path, what=_WHAT)  # same rules as the loader
    raw = path.read_bytes()
    first = text.splitlines()[0]
    newline = "\r\n" if "\r\n" in text else "\r" if "\r" in text and "\n" not in text else "\n"
    header = [h.strip() for h in next(csv.reader([first], delimiter=sep))]
    return _Layout(raw=raw, bom=raw.startswith(b"\xef\xbb\xbf"), sep=sep, newline=newline, header=header)


def _row_values(values: Mapping[str, str], header: list[str], config: Config, path: Path) -> list[str]:
    """The new row in header order; lat/lon are converted when the file uses x/y."""
    vals = {k: ("" if v is None else str(v).strip()) for k, v in values.items()}
    cols = set(header)
    if {"x", "y"} <= cols and not {"lat", "lon"} <= cols and ("lat" in vals or "lon" in vals):
        lat, lon = vals.pop("lat", ""), vals.pop("lon", "")
        if lat or lon:
            vals["x"], vals["y"] = _lonlat_to_xy(lat, lon, config, path)
        else:
            vals["x"] = vals["y"] = ""
    unknown = [k for k, v in vals.items() if k not in cols and v != ""]
    if unknown:
        raise InputDataError(
            f"{_WHAT}: die Spalte fehlt in der Kopfzeile, der Wert kann nicht gespeichert werden. "
            f"Vorhandene Spalten: {', '.join(header)}.",
            file=str(path),
            column=unknown[0],
            value=vals[unknown[0]],
        )
    for v in vals.values():
        if "\n" in v or "\r" in v:
            raise InputDataError(f"{_WHAT}: Zeilenumbrüche sind in Werten nicht erlaubt.", file=str(path), value=v)
    return [vals.get(h, "") for h in header]


def _lonlat_to_xy(lat: str, lon: str, config: Config, path: Path) -> tuple[str, str]:
    from pyproj import Transformer

    from coverage.inputs._validate import parse_float

    crs = config.einwohner_crs
    if not crs:
        raise InputDataError(
            f"{_WHAT}: die Datei nutzt x/y, aber die Konfiguration nennt kein CRS (einwohner.crs).", file=str(path)
        )
    la = parse_float(lat, path=path, row=0, column="lat")
    lo = parse_float(lon, path=path, row=0, column="lon")
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lo, la)
    return f"{x:.2f}", f"{y:.2f}"


def _format_row(row: list[str], layout: _Layout) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=layout.sep, lineterminator=layout.newline, quoting=csv.QUOTE_MINIMAL).writerow(row)
    return buf.getvalue().encode("utf-8")


def add_course(config: Config, values: dict[str, str]) -> None:
    """Append one course to the registry after validating the whole registry with it.

    Parameters
    ----------
    config
        The region configuration (registry file, boundaries, CRS of x/y columns).
    values
        Registry column → text as typed (``kurs_id``, ``traeger``, ``niveaus``, ``beginn``,
        …; see the README). Columns of the file that are not given stay empty.

    Raises
    ------
    InputDataError
        If the registry with the new row is invalid (duplicate ``kurs_id``, bad time,
        unknown level, coordinates outside the region, …); the message names the
        registry file, the line of the new row, the column and the value. The file
        is then left unchanged.
    KursatlasError
        If the file was changed by someone else while the course was being added.
    """
    from coverage.inputs.load import load_courses, load_region

    path = Path(config.kurse)
    layout = _layout(path)
    row = _row_values(values, layout.header, config, path)
    body = layout.raw
    if body and not body.endswith((b"\n", b"\r")):
        body += layout.newline.encode()
    new = body + _format_row(row, layout)
    region = load_region(config)
    with atomic_path(path, keep_mode=True) as tmp:  # the register keeps its permissions
        tmp.write_bytes(new)
        try:
            courses = load_courses(tmp, region, crs=config.einwohner_crs)
        except InputDataError as exc:
            # report the real registry, not the temporary file
            raise type(exc)(exc.reason, file=str(path), row=exc.row, column=exc.column, value=exc.value) from None
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if path.read_bytes() != layout.raw:
            raise KursatlasError(
                f"{_WHAT} {path} wurde während des Eintragens geändert; bitte den Befehl erneut ausführen."
            )
    kid = row[layout.header.index("kurs_id")] if "kurs_id" in layout.header else values.get("kurs_id", "")
    logger.info("Kurs %s eingetragen in %s (%d Kurse)", kid, path, len(courses))
