"""The gap tables as published files: ``luecken.csv``, ``luecken.xlsx``, ``luecken.gpkg``.

The gap table of :func:`coverage.analysis.gaps.assess` keeps unrounded numbers;
everything that leaves the process goes through :func:`published_gaps` (every person
count published by :class:`~coverage.analysis.disclosure.DisclosurePolicy`). The
course sheet, the GeoPackage layer (:func:`gap_layer`) and the column explanations
are built here, at the edge.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage._io import default_file_mode, write_csv, write_xlsx
from coverage.analysis._gaptable import PERSON_COLUMNS, RUFBUS_COLUMN, RUFBUS_LEAD_COLUMN, gap_explanations
from coverage.analysis.disclosure import DisclosurePolicy
from coverage.analysis.gaps import CoverageResult
from coverage.inputs.schema import COURSE_TYPE_LABELS

__all__ = ["gap_layer", "published_gaps", "write_gap_tables"]

logger = logging.getLogger(__name__)


def published_gaps(gaps: pd.DataFrame, policy: DisclosurePolicy, *, text: bool = False) -> pd.DataFrame:
    """The gap table as it may be published (see :mod:`coverage.analysis.disclosure`).

    Every person column is published by ``policy`` (NaN, or ``"< 5"`` with
    ``text=True``, for suppressed counts; others rounded); ``Versorgungsquote`` is
    recomputed from the published ``versorgt`` and ``Bedarf``. All other columns
    (flags, Begründung, E2SFCA) are unchanged; the Begründung is already written
    with published numbers.
    """
    cols = [c for c in PERSON_COLUMNS if c in gaps.columns]
    num = policy.frame(gaps, cols, text=False)
    out = policy.frame(gaps, cols, text=True) if text else num
    if "Versorgungsquote" in out.columns:
        out["Versorgungsquote"] = np.round(policy.share(num["versorgt"], num["Bedarf"]), 3)
    return out


def gap_layer(result: CoverageResult, geometries: gpd.GeoDataFrame | None = None, *,
              policy: DisclosurePolicy | None = None) -> gpd.GeoDataFrame:
    """The published gap table joined to the Mitgliedskommune polygons (long: one row per MK × level).

    Suppressed counts are empty (NULL); the others rounded (``policy``, default from the
    parameters of ``result``). ``geometries`` default to those of ``result``.
    """
    mk = result.mitgliedskommunen if geometries is None else geometries
    geo = mk[["mk_ars", "geometry"]].rename(columns={"mk_ars": "ARS"})
    geo = geo.assign(ARS=geo["ARS"].astype(str))
    policy = policy or DisclosurePolicy(result.params.mindestanzahl)
    out = geo.merge(published_gaps(result.gaps, policy), on="ARS", how="right")
    return gpd.GeoDataFrame(out, geometry="geometry", crs=mk.crs)


def _course_sheet(result: CoverageResult, policy: DisclosurePolicy) -> pd.DataFrame:
    c = result.courses
    load = policy.counts(c["zugeordnet"].to_numpy(float))
    cap = c["kapazitaet"].to_numpy(float)
    return pd.DataFrame({
        "Kurs-ID": c["kurs_id"],
        "Kursname": c["kursname"],
        "Träger": c["traeger"],
        "Kursort": c["kursort"],
        "Kursart": c["kursart"].map(lambda k: COURSE_TYPE_LABELS.get(k, k)),
        "Niveaus": c["niveaus"],
        "verfügbare Plätze": cap,
        "zugeordnete Personen": c["zugeordnet"],
        "Auslastung": np.round(policy.share(load, cap), 3),
        "Personen, die den Kurs erreichen": c["erreichbare_personen"],
        "Lage": np.where(c["im_kreis"].astype(bool), "im Landkreis", "außerhalb des Kreises")
        if "im_kreis" in c.columns else "im Landkreis",
        **({RUFBUS_LEAD_COLUMN: c["rufbus_voranmeldung_min"]} if "rufbus_voranmeldung_min" in c.columns else {}),
    }).pipe(policy.frame, ["zugeordnete Personen", "Personen, die den Kurs erreichen"], text=True)


def _write_gpkg(target: Path, layer: gpd.GeoDataFrame, name: str) -> None:
    """Write one GeoPackage layer to a temporary ``.gpkg`` next to ``target``, then rename it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".gpkg", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()
        layer.to_file(tmp_path, driver="GPKG", layer=name)
        os.chmod(tmp_path, default_file_mode())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_gap_tables(
    result: CoverageResult,
    *,
    directory: str | Path,
    crs_geometries: gpd.GeoDataFrame | None = None,
    mindestanzahl: int | None = None,
) -> list[Path]:
    """Write ``luecken.csv``, ``luecken.xlsx`` and ``luecken.gpkg`` atomically.

    Parameters
    ----------
    result
        Result of :func:`assess`.
    directory
        Output folder (created if needed).
    crs_geometries
        Mitgliedskommune polygons (``mk_ars``, geometry); default: those of ``result``.
    mindestanzahl
        Person numbers ``0 < x < mindestanzahl`` are written as ``< mindestanzahl``
        (privacy; default ``result.params.mindestanzahl``, 0 switches it off). In
        the GeoPackage they are left empty (NULL).

    Returns
    -------
    list of Path
        The files written.

    Notes
    -----
    ``luecken.xlsx`` has the sheets ``Lücken``, ``Kurse`` (load of every course),
    ``Robustheit`` (flags that change with the threshold), ``Erläuterung`` (every
    column explained) and ``Annahmen``. ``luecken.gpkg`` has one *long* layer
    ``luecken``: one feature per Mitgliedskommune × level with the polygon of the
    Mitgliedskommune repeated (filter by ``Niveau`` in QGIS).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    policy = DisclosurePolicy(result.params.mindestanzahl if mindestanzahl is None else int(mindestanzahl))
    table = published_gaps(result.gaps, policy, text=True)
    courses = _course_sheet(result, policy)
    explain = pd.DataFrame(gap_explanations(result.params, result.kapazitaet,
                                            rufbus=RUFBUS_COLUMN in result.gaps.columns),
                           columns=["Spalte", "Bedeutung"])
    csv_path = directory / "luecken.csv"
    xlsx_path = directory / "luecken.xlsx"
    gpkg_path = directory / "luecken.gpkg"
    write_csv(csv_path, table)
    robust = result.robustness if len(result.robustness) else pd.DataFrame(
        {"Hinweis": [f"Keine Einstufung ändert sich bei ±{result.params.sensitivitaet_min:g} min."]}
    )
    write_xlsx(
        xlsx_path,
        {"Lücken": table, "Kurse": courses, "Robustheit": robust, "Erläuterung": explain,
         "Annahmen": result.assumptions},
        percent_columns={"Lücken": ["Versorgungsquote"], "Kurse": ["Auslastung"]},
    )
    layer = gap_layer(result, crs_geometries, policy=policy)
    _write_gpkg(gpkg_path, layer, "luecken")
    logger.info("Lückentabellen geschrieben: %s", ", ".join(p.name for p in (csv_path, xlsx_path, gpkg_path)))
    return [csv_path, xlsx_path, gpkg_path]
