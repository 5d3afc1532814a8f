"""What changed since the previous run: courses added, removed or changed, gaps opened or closed.

The previous run is a folder written by :func:`coverage.workflow.manifest.write_manifest`
with its copies ``luecken.csv`` (gap table) and ``kurse.csv`` (normalised course
list). :func:`compare_runs` compares them with the tables of the current run:

* courses by ``kurs_id``, comparing every registry field (normalised, so
  ``Mo-Fr`` equals ``Mo, Di, Mi, Do, Fr``);
* per Mitgliedskommune × level the served share before and after and the gap flag
  (``neu geöffnet`` / ``geschlossen`` / ``unverändert``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage._io import safe_cell, write_csv, write_xlsx
from coverage.inputs.schema import COURSE_COLUMNS, LEVELS, WEEKDAYS

__all__ = [
    "CHANGE_COLUMNS",
    "COURSE_CHANGE_COLUMNS",
    "LOCATION_COLUMNS",
    "ChangeReport",
    "change_layer",
    "compare_runs",
    "course_records",
    "write_changes",
]

logger = logging.getLogger(__name__)

CHANGE_COLUMNS: tuple[str, ...] = (
    "Mitgliedskommune",
    "ARS",
    "Niveau",
    "versorgt vorher",
    "versorgt nachher",
    "Versorgungsquote vorher",
    "Versorgungsquote nachher",
    "Änderung",
    "Lücke vorher",
    "Lücke nachher",
    "Status",
)
"""Columns of :attr:`ChangeReport.table`."""

COURSE_CHANGE_COLUMNS: tuple[str, ...] = ("Kurs-ID", "Änderung", "Niveaus", "Kursort", "Details")
"""Columns of :attr:`ChangeReport.courses`."""

LOCATION_COLUMNS: tuple[str, ...] = ("Kurs-ID", "lat", "lon")
"""Columns of :attr:`ChangeReport.locations`."""

STATUS_OPENED = "neu geöffnet"
STATUS_CLOSED = "geschlossen"
STATUS_SAME = "unverändert"
STATUS_NONE = "ohne Vergleich"

_FIELDS = tuple(c for c in COURSE_COLUMNS)


# --------------------------------------------------------------------------- course records


def _hhmm(v: object) -> str:
    if isinstance(v, str):
        return v
    m = int(v)
    return f"{m // 60:02d}:{m % 60:02d}"


def _text(v: object) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


def course_records(courses: pd.DataFrame) -> pd.DataFrame:
    """Registry fields of each course as normalised text, one row per course.

    Accepts the output of :func:`coverage.inputs.load.load_courses` (parsed values, geometry
    in EPSG:25832) or a table that is already normalised (then returned as text).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`coverage.inputs.schema.COURSE_COLUMNS`, all text: levels ``"A1, A2"``,
        weekdays ``"Mo, Mi"``, times ``HH:MM``, dates ISO, ``ja``/``nein``,
        ``lat``/``lon`` in WGS84 with 5 decimals (about 1 m), empty for online courses.
    """
    if not isinstance(courses, gpd.GeoDataFrame) or courses.geometry.name not in courses.columns:
        out = pd.DataFrame({c: courses[c].map(_text) if c in courses.columns else "" for c in _FIELDS})
        return out.reset_index(drop=True)
    n = len(courses)
    lat = [""] * n
    lon = [""] * n
    geom = courses.geometry
    valid = (geom.notna() & ~geom.is_empty).to_numpy() if n else np.zeros(0, bool)
    if valid.any():
        ll = geom[valid].to_crs("EPSG:4326")
        for i, p in zip(np.nonzero(valid)[0], ll, strict=True):
            lat[i], lon[i] = f"{p.y:.5f}", f"{p.x:.5f}"
    out = pd.DataFrame(
        {
            "kurs_id": courses["kurs_id"].map(_text).to_numpy(),
            "traeger": courses["traeger"].map(_text).to_numpy(),
            "kursname": courses["kursname"].map(_text).to_numpy() if "kursname" in courses else "",
            "kursort": courses["kursort"].map(_text).to_numpy(),
            "adresse": courses["adresse"].map(_text).to_numpy() if "adresse" in courses else "",
            "lat": lat,
            "lon": lon,
            "niveaus": [", ".join(v) if not isinstance(v, str) else v for v in courses["niveaus"]],
            "kursart": courses["kursart"].map(_text).to_numpy(),
            "wochentage": [
                ", ".join(WEEKDAYS[d] for d in v) if not isinstance(v, str) else v for v in courses["wochentage"]
            ],
            "beginn": [_hhmm(v) for v in courses["beginn"]],
            "ende": [_hhmm(v) for v in courses["ende"]],
            "erster_tag": [v.isoformat() if hasattr(v, "isoformat") else str(v) for v in courses["erster_tag"]],
            "letzter_tag": [v.isoformat() if hasattr(v, "isoformat") else str(v) for v in courses["letzter_tag"]],
            "plaetze": [str(int(v)) for v in courses["plaetze"]],
            "freie_plaetze": [str(int(v)) for v in courses["freie_plaetze"]],
            "kinderbetreuung": [
                v if isinstance(v, str) else ("ja" if v else "nein") for v in courses["kinderbetreuung"]
            ],
        }
    )
    return out


def _read_previous_courses(folder: Path) -> pd.DataFrame | None:
    path = folder / "kurse.csv"
    if not path.is_file():
        return None
    df = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for c in _FIELDS:
        if c not in df.columns:
            df[c] = ""
    return df[list(_FIELDS)]


def _read_previous_gaps(folder: Path) -> pd.DataFrame | None:
    path = folder / "luecken.csv"
    if not path.is_file():
        return None
    return pd.read_csv(
        path,
        sep=";",
        decimal=",",
        encoding="utf-8-sig",
        dtype={"ARS": str, "Mitgliedskommune": str, "Niveau": str, "Versorgungslücke": str},
        keep_default_na=False,
        na_values=[""],
    )


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ChangeReport:
    """Changes between the previous run and this one.

    Attributes
    ----------
    previous
        The previous run folder, or None when there was none.
    table
        Per Mitgliedskommune × level: :data:`CHANGE_COLUMNS`.
    courses
        One row per added, removed or changed course: :data:`COURSE_CHANGE_COLUMNS`.
    locations
        Where the courses of :attr:`courses` are (for the map): ``Kurs-ID``, ``lat``,
        ``lon`` in WGS84 (NaN for online courses); removed courses where they were,
        the others where they are now. Not part of the written tables.
    """

    previous: Path | None
    table: pd.DataFrame
    courses: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(COURSE_CHANGE_COLUMNS)))
    locations: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(LOCATION_COLUMNS)))

    @property
    def has_previous(self) -> bool:
        """True when a previous run was compared."""
        return self.previous is not None

    def summary_lines(self) -> list[str]:
        """German lines for the command line, e.g. ``"Lücke geschlossen: Zeven, A1 (Quote 54 % → 91 %)"``."""
        if not self.has_previous:
            return ["Kein früherer Lauf gefunden; Änderungen werden ab dem nächsten Lauf gezeigt."]
        lines = [f"Änderungen seit dem Lauf {self.previous.name}:"]
        labels = {"neu": "Neu", "entfernt": "Entfernt", "geändert": "Geändert"}
        for r in self.courses.itertuples(index=False):
            kind, kid, lv, ort, det = r[1], r[0], r[2], r[3], r[4]
            where = ", ".join(x for x in (lv, ort) if x)
            line = f"{labels.get(kind, kind)}: Kurs {kid}" + (f" ({where})" if where else "")
            if kind == "geändert" and det:
                line += f" – {det}"
            lines.append(line)
        t = self.table
        for status, label in ((STATUS_CLOSED, "Lücke geschlossen"), (STATUS_OPENED, "Lücke neu geöffnet")):
            for r in t[t["Status"] == status].itertuples(index=False):
                before, after = _pct(r[5]), _pct(r[6])
                lines.append(f"{label}: {r[0]}, {r[2]} (Quote {before} → {after})")
        delta = pd.to_numeric(t["Änderung"], errors="coerce")
        up, down = int((delta > 1e-9).sum()), int((delta < -1e-9).sum())
        if up or down:
            lines.append(
                f"Versorgungsquote gestiegen in {up}, gesunken in {down} Kombinationen Mitgliedskommune × Niveau."
            )
        if len(lines) == 1:
            lines.append("Keine Änderungen bei Kursen und Versorgung.")
        return lines


def _pct(q: object) -> str:
    try:
        v = float(q)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(v):
        return "–"
    return f"{round(v * 100):.0f} %"


def _records_by_id(df: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Course id → field → text (the first row of a duplicated id)."""
    cols = {c: df[c].tolist() for c in _FIELDS}
    out: dict[str, dict[str, str]] = {}
    for i, kid in enumerate(cols["kurs_id"]):
        out.setdefault(kid, {c: cols[c][i] for c in _FIELDS})
    return out


def _safe_records(now: pd.DataFrame) -> pd.DataFrame:
    """Course records as the previous run's copy holds them (written with formula escaping)."""
    return pd.DataFrame({c: [safe_cell(_text(v)) for v in now[c]] for c in _FIELDS})


def _course_changes(before: pd.DataFrame | None, now: pd.DataFrame) -> pd.DataFrame:
    if before is None:
        return pd.DataFrame(columns=list(COURSE_CHANGE_COLUMNS))
    b = _records_by_id(before)
    a = _records_by_id(_safe_records(now))
    rows: list[dict[str, str]] = []
    for kid, rec in a.items():
        if kid not in b:
            rows.append({"Kurs-ID": kid, "Änderung": "neu", "Niveaus": rec["niveaus"],
                         "Kursort": rec["kursort"], "Details": ""})
    for kid, rec in b.items():
        if kid not in a:
            rows.append({"Kurs-ID": kid, "Änderung": "entfernt", "Niveaus": rec["niveaus"],
                         "Kursort": rec["kursort"], "Details": ""})
    for kid, rec in a.items():
        old = b.get(kid)
        if old is None:
            continue
        diffs = [
            f"{c}: {old[c] or '(leer)'} → {rec[c] or '(leer)'}"
            for c in _FIELDS
            if c != "kurs_id" and str(old[c]) != str(rec[c])
        ]
        if diffs:
            rows.append({"Kurs-ID": kid, "Änderung": "geändert", "Niveaus": rec["niveaus"],
                         "Kursort": rec["kursort"], "Details": "; ".join(diffs)})
    order = {"neu": 0, "entfernt": 1, "geändert": 2}
    rows.sort(key=lambda r: (order[r["Änderung"]], r["Kurs-ID"]))
    return pd.DataFrame(rows, columns=list(COURSE_CHANGE_COLUMNS))


def _gap_key(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "ARS": df["ARS"].astype(str) if "ARS" in df else df["Mitgliedskommune"].astype(str),
            "Niveau": df["Niveau"].astype(str),
            "Mitgliedskommune": df["Mitgliedskommune"].astype(str),
            "versorgt": _published_counts(df["versorgt"]) if "versorgt" in df else np.nan,
            "quote": pd.to_numeric(df["Versorgungsquote"], errors="coerce"),
            "luecke": df["Versorgungslücke"].astype(str).str.strip().str.lower(),
        }
    )
    return out.drop_duplicates(["ARS", "Niveau"])


def _published_counts(values: pd.Series) -> pd.Series:
    """Published counts as numbers, suppressed ones kept as their text (``"< 5"``), missing ones NaN."""
    num = pd.to_numeric(values, errors="coerce")
    text = values.astype(str).str.strip()
    hidden = num.isna() & text.str.startswith("<")
    out = num.astype(object)
    out[hidden] = text[hidden]
    return out


def _status(before: object, after: object) -> str:
    b, a = before == "ja", after == "ja"
    if a and not b:
        return STATUS_OPENED
    if b and not a:
        return STATUS_CLOSED
    return STATUS_SAME


def _gap_changes(before: pd.DataFrame | None, now: pd.DataFrame) -> pd.DataFrame:
    a = _gap_key(now)
    if before is None:
        m = a.rename(columns={"versorgt": "versorgt_a", "quote": "quote_a", "luecke": "luecke_a"})
        m["versorgt_b"] = np.nan
        m["quote_b"] = np.nan
        m["luecke_b"] = ""
        m["Status"] = STATUS_NONE
    else:
        b = _gap_key(before)
        m = a.merge(b, on=["ARS", "Niveau"], how="outer", suffixes=("_a", "_b"))
        m["Mitgliedskommune"] = m["Mitgliedskommune_a"].fillna(m["Mitgliedskommune_b"])
        m["Status"] = [_status(x, y) for x, y in zip(m["luecke_b"], m["luecke_a"], strict=True)]
    level_order = {lv: i for i, lv in enumerate(LEVELS)}
    m["_lv"] = m["Niveau"].map(lambda v: level_order.get(v, len(LEVELS)))
    m = m.sort_values(["ARS", "_lv", "Niveau"], kind="stable")
    table = pd.DataFrame(
        {
            "Mitgliedskommune": m["Mitgliedskommune"].to_numpy(),
            "ARS": m["ARS"].to_numpy(),
            "Niveau": m["Niveau"].to_numpy(),
            "versorgt vorher": m["versorgt_b"].to_numpy(dtype=object),
            "versorgt nachher": m["versorgt_a"].to_numpy(dtype=object),
            "Versorgungsquote vorher": m["quote_b"].to_numpy(dtype=float),
            "Versorgungsquote nachher": m["quote_a"].to_numpy(dtype=float),
            "Änderung": (m["quote_a"] - m["quote_b"]).to_numpy(dtype=float),
            "Lücke vorher": m["luecke_b"].fillna("").replace("nan", "").to_numpy(),
            "Lücke nachher": m["luecke_a"].fillna("").replace("nan", "").to_numpy(),
            "Status": m["Status"].to_numpy(),
        }
    )
    return table


def compare_runs(
    previous_dir: str | Path | None, gap_table_now: pd.DataFrame, courses_now: pd.DataFrame
) -> ChangeReport:
    """Compare the current run with a previous run folder.

    Parameters
    ----------
    previous_dir
        Folder of the previous run (:func:`coverage.workflow.manifest.latest_run` taken before
        this run is recorded), or None.
    gap_table_now
        This run's *published* gap table (``Mitgliedskommune``, ``ARS``, ``Niveau``,
        ``versorgt`` as published: rounded, or ``"< 5"`` when suppressed,
        ``Versorgungsquote`` 0..1 from published counts, ``Versorgungslücke``, …; see
        :func:`coverage.analysis.gaps.published_gaps`). The change report only ever compares
        published numbers.
    courses_now
        This run's courses (output of :func:`coverage.inputs.load.load_courses` or
        :func:`course_records`).

    Returns
    -------
    ChangeReport
    """
    for col in ("Mitgliedskommune", "Niveau", "Versorgungsquote", "Versorgungslücke"):
        if col not in gap_table_now.columns:
            raise ValueError(f"Lückentabelle ohne Spalte {col!r}")
    folder = Path(previous_dir) if previous_dir is not None else None
    if folder is not None and not folder.is_dir():
        logger.warning("Früherer Lauf %s nicht gefunden; kein Vergleich", folder)
        folder = None
    prev_gaps = prev_courses = None
    if folder is not None:
        try:
            prev_gaps = _read_previous_gaps(folder)
            prev_courses = _read_previous_courses(folder)
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            logger.warning("Früherer Lauf %s nicht lesbar (%s); kein Vergleich", folder, exc)
            folder = None
            prev_gaps = prev_courses = None
        else:
            if prev_gaps is not None and not {"Niveau", "Versorgungsquote", "Versorgungslücke"} <= set(
                prev_gaps.columns
            ):
                logger.warning("Lückentabelle des früheren Laufs %s hat ein anderes Format; kein Vergleich", folder)
                prev_gaps = None
    table = _gap_changes(prev_gaps if folder is not None else None, gap_table_now)
    if folder is not None and prev_gaps is None:
        table["Status"] = STATUS_NONE
    if folder is None:
        return ChangeReport(previous=None, table=table)
    records = course_records(courses_now)
    courses = _course_changes(prev_courses, records)
    locations = _locations(courses, before=prev_courses, now=records)
    return ChangeReport(previous=folder, table=table, courses=courses, locations=locations)


def _coordinate(text: object) -> float:
    """A coordinate from a course record (``"53.29570"``, possibly with the formula guard ``'``), else NaN."""
    try:
        return float(str(text).lstrip("'"))
    except ValueError:
        return float("nan")


def _locations(courses: pd.DataFrame, *, before: pd.DataFrame | None, now: pd.DataFrame) -> pd.DataFrame:
    """Position of every changed course: before for removed courses, now for the others."""
    where_now = _records_by_id(_safe_records(now))
    where_before = _records_by_id(before) if before is not None else {}
    rows = []
    for kid, kind in zip(courses["Kurs-ID"], courses["Änderung"], strict=True):
        rec = (where_before if kind == "entfernt" else where_now).get(kid)
        lat, lon = (_coordinate(rec["lat"]), _coordinate(rec["lon"])) if rec else (float("nan"), float("nan"))
        rows.append({"Kurs-ID": kid, "lat": lat, "lon": lon})
    return pd.DataFrame(rows, columns=list(LOCATION_COLUMNS))


# --------------------------------------------------------------------------- outputs


def write_changes(report: ChangeReport, directory: str | Path) -> list[Path]:
    """Write ``aenderungen.csv``, ``aenderungen_kurse.csv`` and ``aenderungen.xlsx`` (atomically).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    d = Path(directory)
    files = [d / "aenderungen.csv", d / "aenderungen_kurse.csv", d / "aenderungen.xlsx"]
    write_csv(files[0], report.table)
    write_csv(files[1], report.courses)
    write_xlsx(
        files[2],
        {"Versorgung": report.table, "Kurse": report.courses},
        percent_columns={"Versorgung": ["Versorgungsquote vorher", "Versorgungsquote nachher", "Änderung"]},
    )
    return files


def change_layer(
    report: ChangeReport, mitgliedskommunen: gpd.GeoDataFrame, *, levels: Sequence[str] | None = None
) -> gpd.GeoDataFrame:
    """Map layer: one Mitgliedskommune polygon per row of :attr:`ChangeReport.table`.

    Parameters
    ----------
    mitgliedskommunen
        Polygons with ``mk_ars`` (as in :class:`coverage.inputs.load.Region`) or ``ARS``.
    levels
        Only these levels (default: all).

    Returns
    -------
    geopandas.GeoDataFrame
        The change columns plus geometry, in the CRS of ``mitgliedskommunen``.
    """
    key = "mk_ars" if "mk_ars" in mitgliedskommunen.columns else "ARS"
    poly = mitgliedskommunen[[key, mitgliedskommunen.geometry.name]].rename(columns={key: "ARS"})
    poly = poly.assign(ARS=poly["ARS"].astype(str))
    table = report.table if levels is None else report.table[report.table["Niveau"].isin(list(levels))]
    merged = poly.merge(table, on="ARS", how="inner")
    for c in ("versorgt vorher", "versorgt nachher"):  # published counts or "< 5": one text column
        merged[c] = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else
                     (f"{v:g}" if isinstance(v, float | int | np.number) else str(v)) for v in merged[c]]
    cols = [*CHANGE_COLUMNS, merged.geometry.name]
    return gpd.GeoDataFrame(merged[cols], geometry=merged.geometry.name, crs=mitgliedskommunen.crs)
