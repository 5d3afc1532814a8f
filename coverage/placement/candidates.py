"""Candidate courses: one hypothetical county-funded course per candidate site × level × available slot."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from coverage.errors import InputDataError
from coverage.inputs.config import Parameters
from coverage.inputs.schema import LEVELS, SLOT_LABELS, SLOTS

__all__ = ["KURSART", "SITE_COLUMNS", "candidate_courses"]

logger = logging.getLogger(__name__)

KURSART = "landkreis"
"""Course type of the proposed courses."""
SITE_COLUMNS: tuple[str, ...] = ("standort_id", "name", "art", "verfuegbar", "gemeinde_ars", "mk_ars")


def candidate_courses(
    candidates: pd.DataFrame, *, params: Parameters, levels: tuple[str, ...] = LEVELS
) -> pd.DataFrame:
    """One hypothetical county-funded course per site × level × available slot.

    Parameters
    ----------
    candidates
        Candidate sites with ``standort_id``, ``name``, ``art``, ``verfuegbar``
        (tuple of slot keys), ``gemeinde_ars``, ``mk_ars`` (and ``geometry`` if a
        GeoDataFrame; it is kept).
    params
        Analysis parameters (slot times, group sizes, costs).
    levels
        Levels offered (default all).

    Returns
    -------
    DataFrame
        Columns ``kurs_id`` (``NEU-<standort_id>-<niveau>-<slot>``), ``standort_id``,
        ``kursname``, ``kursort``, ``niveau``, ``niveaus`` (1-tuple), ``kursart``
        (``landkreis``), ``slot``, ``wochentage`` (tuple of weekday numbers),
        ``beginn``/``ende`` (minutes after midnight), ``kinderbetreuung``,
        ``plaetze``, ``min_gruppe``, ``kosten``, ``gemeinde_ars``, ``mk_ars``,
        ``konfliktgruppe`` (same site × level × slot) and ``geometry`` if given.
        A GeoDataFrame in, a GeoDataFrame out.
    """
    missing = [c for c in SITE_COLUMNS if c not in candidates.columns]
    if missing:
        raise InputDataError(f"Kandidatenstandorte: es fehlen die Spalten {missing}.")
    cap = int(params.max_gruppe[KURSART])
    mins = int(params.min_gruppe[KURSART])
    records: list[dict[str, object]] = []
    positions: list[int] = []
    for pos, row in enumerate(candidates.itertuples(index=False)):
        slots = row.verfuegbar
        if isinstance(slots, str):
            slots = tuple(s.strip() for s in slots.replace(";", ",").split(",") if s.strip())
        for slot in slots:
            if slot not in SLOTS:
                raise InputDataError(
                    f"Unbekanntes Zeitfenster '{slot}'; erlaubt: {', '.join(SLOTS)}.",
                    column="verfuegbar", value=slot, row=pos + 1,
                )
        for level in levels:
            for slot in SLOTS:
                if slot not in slots:
                    continue
                beginn, ende, tage = params.slot_zeiten[slot]
                records.append({
                    "kurs_id": f"NEU-{row.standort_id}-{level}-{slot}",
                    "standort_id": row.standort_id,
                    "kursname": f"Landkreis-Kurs {level} {SLOT_LABELS[slot]}",
                    "kursort": row.name,
                    "niveau": level,
                    "niveaus": (level,),
                    "kursart": KURSART,
                    "slot": slot,
                    "wochentage": tuple(tage),
                    "beginn": int(beginn),
                    "ende": int(ende),
                    "kinderbetreuung": slot == "vormittag_kinderbetreuung",
                    "plaetze": cap,
                    "min_gruppe": mins,
                    "kosten": float(params.kosten[slot]),
                    "gemeinde_ars": row.gemeinde_ars,
                    "mk_ars": row.mk_ars,
                })
                positions.append(pos)
    out = pd.DataFrame.from_records(records, columns=[
        "kurs_id", "standort_id", "kursname", "kursort", "niveau", "niveaus", "kursart", "slot", "wochentage",
        "beginn", "ende", "kinderbetreuung", "plaetze", "min_gruppe", "kosten", "gemeinde_ars", "mk_ars",
    ])
    out["konfliktgruppe"] = out.groupby(["standort_id", "niveau", "slot"], sort=False).ngroup().astype(np.int64)
    if out["kurs_id"].duplicated().any():
        dup = out.loc[out["kurs_id"].duplicated(), "kurs_id"].iloc[0]
        logger.warning("Kandidatenkurs %s kommt mehrfach vor (Standort-ID doppelt); höchstens einer wird gewählt.", dup)
    if "geometry" in candidates.columns:
        import geopandas as gpd

        geom = candidates.geometry.iloc[positions].reset_index(drop=True)
        crs = getattr(candidates, "crs", None)
        return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geom.values, crs=crs), crs=crs)
    return out
