"""What a region's analysis area holds, and whether the output folders can be written.

:func:`summarize` loads and checks every input that :func:`coverage.workflow.pipeline.run`
reads (boundaries, residents, course registers, candidate sites, street network,
timetable) and returns an :class:`AreaSummary` for ``kursatlas validate``.
:func:`check_outputs` checks that the output folders can be written, so that a run
fails before it computes, not after.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coverage.errors import OutputError, RoutingError
from coverage.inputs.config import Config
from coverage.inputs.schema import WEEKDAYS
from coverage.outputs.text import fmt_int
from coverage.workflow._outputs import JOURNAL_NAME

if TYPE_CHECKING:
    import pandas as pd

    from coverage.cache.store import Cache
    from coverage.transit import ClipSummary, Feed

__all__ = ["AreaSummary", "check_outputs", "summarize"]

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class AreaSummary:
    """Counts of what the analysis area holds (printed by ``kursatlas validate``).

    Attributes
    ----------
    name, puffer_km, county_km2, area_km2
        Region name, buffer width and the areas of the county and of the analysis area.
    n_mitgliedskommunen, n_gemeinden
        Subdivisions of the county.
    n_origins, persons
        Residents' places of origin (points or grid cells) inside the county and their sum.
    n_courses, n_online, n_outside, n_candidates
        Courses (online ones, ones outside the county) and candidate sites.
    streets
        Per mode (``fuss``, ``rad``): nodes and directed edges of the street network.
    n_stops, trips_per_weekday, week_of, feed_range, clip
        Stops of the timetable in the area, trips per weekday in the week starting
        ``week_of``, the feed's date range and, for a clipped feed, what was read
        and kept (None without a timetable).
    outputs
        The output folders checked for writing.
    """

    name: str
    puffer_km: float
    county_km2: float
    area_km2: float
    n_mitgliedskommunen: int
    n_gemeinden: int
    n_origins: int
    persons: float
    n_courses: int
    n_online: int
    n_outside: int
    n_candidates: int
    streets: dict[str, tuple[int, int]] = field(default_factory=dict)
    n_stops: int | None = None
    trips_per_weekday: tuple[int, ...] | None = None
    week_of: dt.date | None = None
    feed_range: tuple[dt.date, dt.date] | None = None
    clip: ClipSummary | None = None
    outputs: tuple[Path, ...] = ()

    def lines(self) -> list[str]:
        """The summary as German lines for the terminal."""
        out = [
            f"Analysegebiet: Landkreis ({fmt_int(self.county_km2)} km²) mit {self.puffer_km:g} km Puffer "
            f"({fmt_int(self.area_km2)} km²)",
            f"  {self.n_mitgliedskommunen} Mitgliedskommunen, {self.n_gemeinden} Gemeinden",
            f"  Einwohner (nur im Landkreis gezählt): {fmt_int(self.n_origins)} Herkunftsorte mit "
            f"{fmt_int(self.persons)} Personen",
            f"  Kurse: {self.n_courses} (davon {self.n_online} online, {self.n_outside} außerhalb des Kreises), "
            f"{self.n_candidates} mögliche Standorte",
        ]
        for mode, label in (("fuss", "Fußwegenetz"), ("rad", "Radwegenetz")):
            if mode in self.streets:
                nodes, edges = self.streets[mode]
                out.append(f"  {label}: {fmt_int(nodes)} Knoten, {fmt_int(edges)} Kanten")
        if self.n_stops is None:
            out.append("  Fahrplan: keiner angegeben (Bus und Bahn werden nicht berücksichtigt)")
        else:
            lo, hi = self.feed_range or (None, None)
            rng = f"gültig {lo:%d.%m.%Y} bis {hi:%d.%m.%Y}" if lo and hi else "ohne Verkehrstage"
            out.append(f"  Fahrplan: {fmt_int(self.n_stops)} Haltestellen im Gebiet, {rng}")
            if self.trips_per_weekday is not None and self.week_of is not None:
                per_day = ", ".join(f"{d} {fmt_int(n)}" for d, n in zip(WEEKDAYS, self.trips_per_weekday, strict=True))
                out.append(f"  Fahrten je Wochentag (Woche ab {self.week_of:%d.%m.%Y}): {per_day}")
            clip = self.clip
            if clip is not None:
                out.append(f"  Zuschnitt des Fahrplans: {clip_text(clip)}")
        for p in self.outputs:
            out.append(f"  Ausgabeordner beschreibbar: {p}")
            if (p / JOURNAL_NAME).is_file():
                out.append(f"  Achtung: In {p} hat ein abgebrochener Lauf seine Ergebnisse nur teilweise ausgetauscht; "
                           "der nächste 'kursatlas run' vollendet den Austausch, bevor er rechnet.")
        return out


def clip_text(clip: object) -> str:
    """One German line for a clip summary of the timetable (any object with ``*_read``/``*_kept`` counts)."""
    parts = []
    for what, label in (("stops", "Haltestellen"), ("trips", "Fahrten"), ("stop_times", "Fahrtabschnitte")):
        read, kept = getattr(clip, f"{what}_read", None), getattr(clip, f"{what}_kept", None)
        if read is not None and kept is not None:
            parts.append(f"{label} {fmt_int(kept)} von {fmt_int(read)}")
    return "; ".join(parts) if parts else str(clip)


def _writable_folder(path: Path, what: str) -> None:
    """Raise :class:`OutputError` unless ``path`` is (or can become) a writable folder."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} ist eine Datei, kein Ordner; bitte in der Regionsdatei einen Ordner angeben.")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{what} {path} kann nicht angelegt werden: {probe} ist eine Datei, kein Ordner.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".kursatlas-probe-", dir=probe)
    except OSError as exc:
        raise OutputError(
            f"{what} {path} ist nicht beschreibbar ({exc.strerror or exc}); bitte Schreibrechte prüfen oder "
            "in der Regionsdatei ([ausgabe]) einen anderen Ordner angeben."
        ) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def check_outputs(config: Config) -> tuple[Path, ...]:
    """Check that the result, map and cache folders are (or can become) writable folders.

    Nothing is left behind: a probe file is created and removed again in the
    folder (or in its nearest existing parent).

    Returns
    -------
    tuple of Path
        The folders checked.

    Raises
    ------
    OutputError
        If a folder is a file or cannot be written.
    """
    folders = ((config.ergebnisse, "Ergebnisordner"), (config.karten, "Kartenordner"), (config.cache, "Cache-Ordner"))
    for path, what in folders:
        _writable_folder(path, what)
    return tuple(p for p, _ in folders)


def _week_of(feed: Feed, courses: pd.DataFrame) -> dt.date:
    """Monday of the first course week inside the feed's range, else the feed's first full week."""
    lo, hi = feed.date_range
    firsts = [d for d in courses.get("erster_tag", []) if isinstance(d, dt.date)] if len(courses) else []
    for d in sorted(firsts):
        monday = d - dt.timedelta(days=d.weekday())
        if lo <= monday and monday + dt.timedelta(days=6) <= hi:
            return monday
    return lo + dt.timedelta(days=(7 - lo.weekday()) % 7)


def trips_per_weekday(feed: Feed, monday: dt.date) -> tuple[int, ...]:
    """Number of trips running on each day of the week starting ``monday``."""
    service_of_trip = np.asarray(feed.service_ids, dtype=object)[np.asarray(feed.trip_service)]
    out = []
    for i in range(7):
        active = feed.active_services(monday + dt.timedelta(days=i))
        out.append(int(np.isin(service_of_trip, list(active)).sum()) if active else 0)
    return tuple(out)


def summarize(config: Config, *, cache: Cache | None = None) -> AreaSummary:
    """Load and check every input of ``config`` and count what the analysis area holds.

    Parameters
    ----------
    config
        The region configuration.
    cache
        Disk cache for the parsed inputs (default: the one :func:`coverage.workflow.pipeline.run`
        uses, so a later run reads the timetable and networks from it).

    Returns
    -------
    AreaSummary

    Raises
    ------
    KursatlasError
        For any invalid input or an output folder that cannot be written.
    """
    from coverage.cache.kinds import keep_limits
    from coverage.cache.store import Cache
    from coverage.inputs.load import load_inputs
    from coverage.traveltime import load_networks

    outputs = check_outputs(config)
    if cache is None:
        cache = Cache(config.cache / "berechnung", keep=keep_limits())
    inputs = load_inputs(config, cache=cache)
    nets = load_networks(config, inputs.region, cache=cache)
    courses = inputs.courses
    online = courses["online"].astype(bool)
    outside = ~courses["im_kreis"].astype(bool) if "im_kreis" in courses.columns else online & False
    feed = nets.feed
    n_stops = trips = week = rng = clip = None
    if feed is not None:
        n_stops = feed.n_stops
        try:
            rng = feed.date_range
        except RoutingError:  # a feed without any service day: shown as such
            rng = None
        if rng is not None:
            week = _week_of(feed, courses)
            trips = trips_per_weekday(feed, week)
        clip = getattr(feed, "clip", None)
    region = inputs.region
    return AreaSummary(
        name=config.name,
        puffer_km=config.puffer_km,
        county_km2=region.boundary.area / 1e6,
        area_km2=region.area.area / 1e6,
        n_mitgliedskommunen=len(region.mitgliedskommunen),
        n_gemeinden=len(region.gemeinden),
        n_origins=len(inputs.residents),
        persons=float(inputs.residents["einwohner"].sum()),
        n_courses=len(courses),
        n_online=int(online.sum()),
        n_outside=int((outside & ~online).sum()),
        n_candidates=len(inputs.candidates),
        streets={n.mode: (n.n_nodes, n.n_edges) for n in (nets.walk, nets.bike)},
        n_stops=n_stops,
        trips_per_weekday=trips,
        week_of=week,
        feed_range=rng,
        clip=clip,
        outputs=outputs,
    )
