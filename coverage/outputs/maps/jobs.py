"""Map jobs: the map files of a region, their content keys, rendering and writing."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coverage._io import write_text
from coverage.cache.session import Session
from coverage.inputs.config import Config
from coverage.outputs import _assets, _html, text
from coverage.outputs._assets import asset_digest
from coverage.outputs.maps import _grid, _popups, _prepared, build, render, spec
from coverage.outputs.maps._prepared import _municipality_spec, _overview_spec, _prepare, _proposals_spec
from coverage.outputs.maps.build import _build
from coverage.outputs.maps.render import render_html
from coverage.outputs.maps.spec import MapData, _MapSpec

__all__ = ["MAX_MAP_BYTES", "MapJob", "map_jobs", "write_map", "write_maps"]

logger = logging.getLogger(__name__)

_RENDER_CODE = (spec, _grid, _popups, _prepared, build, render, sys.modules[__name__], text, _html, _assets)
"""Modules whose source turns map data into HTML (their hash is part of every map key)."""

MAX_MAP_BYTES = 5 * 1024 * 1024
"""Size budget of one map file (planners forward maps by e-mail)."""


@functools.cache
def _render_salt() -> str:
    """Hash of the code and package versions that turn a spec into HTML (part of every map key)."""
    from importlib import metadata

    from coverage.cache.store import code_salt

    versions = []
    for pkg in ("folium", "branca", "jinja2", "xyzservices"):
        try:
            versions.append(f"{pkg}={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg}=?")
    salt = code_salt([m.__name__ for m in _RENDER_CODE])
    return salt + "|" + "|".join(versions) + "|bibliotheken=" + asset_digest()


@dataclass(frozen=True)
class MapJob:
    """One map file: its name, the key of its content and how to render it.

    Attributes
    ----------
    name
        File name (``uebersicht.html``, ``mk_<ARS>.html``, ``vorschlaege.html``).
    key
        SHA-256 over everything the map shows (its spec: geometries, escaped texts,
        numbers, legend, title, attributions) and the code and package versions that
        render it. Equal keys give byte-identical files, so a caller may keep an
        existing file whose recorded key equals this one instead of rendering again.
    """

    name: str
    key: str
    spec: _MapSpec = field(repr=False)

    def render(self, *, session: Session | None = None) -> str:
        """The complete HTML page (``session``: see :func:`~coverage.outputs.maps.render.render_html`)."""
        return render_html(_build(self.spec), session=session)


def _key_view(obj: object, digests: Mapping[int, str]) -> object:
    """``obj`` as plain JSON values, with every shared geometry replaced by the digest of its JSON."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, dict):
        digest = digests.get(id(obj))
        if digest is not None:
            return {"geometrie-sha256": digest}
        return {str(k): _key_view(v, digests) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_key_view(v, digests) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _key_view(getattr(obj, f.name), digests) for f in dataclasses.fields(obj)}
    raise TypeError(f"Kartenangaben: Typ {type(obj).__name__} ist nicht vorgesehen")


def _job(name: str, spec: _MapSpec, digests: Mapping[int, str]) -> MapJob:
    view = _key_view(spec, digests)
    payload = json.dumps(view, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(_render_salt().encode())
    digest.update(b"\0" + payload.encode("utf-8", "surrogatepass"))
    return MapJob(name=name, key=digest.hexdigest(), spec=spec)


def map_jobs(
    config: Config,
    data: MapData,
    *,
    cell_m: float | None = None,
    min_count: int | None = None,
    per_municipality: bool = True,
) -> list[MapJob]:
    """The map files of a region with their content keys, not yet rendered.

    Parameters
    ----------
    config, data, cell_m, min_count, per_municipality
        As for :func:`write_maps`.

    Returns
    -------
    list of MapJob
        Overview first, then one per Mitgliedskommune, then the proposals map (only
        with proposals).
    """
    prep = _prepare(config, data, cell_m=cell_m, min_count=min_count)
    digests = prep.geo_digest
    jobs = [_job("uebersicht.html", _overview_spec(prep), digests)]
    if per_municipality:
        for ars in prep.mk["mk_ars"]:
            safe = "".join(ch for ch in str(ars) if ch.isalnum())
            jobs.append(_job(f"mk_{safe}.html", _municipality_spec(prep, str(ars)), digests))
    if prep.proposals is not None and len(prep.proposals):
        jobs.append(_job("vorschlaege.html", _proposals_spec(prep), digests))
    return jobs


def write_map(job: MapJob, directory: str | Path, *, session: Session | None = None) -> Path:
    """Render ``job`` and write it atomically into ``directory``; warn above :data:`MAX_MAP_BYTES`.

    ``session`` keeps the parsed map templates between calls (see
    :func:`~coverage.outputs.maps.render.render_html`); None parses them anew.
    """
    html = job.render(session=session)
    size = len(html.encode("utf-8"))
    if size > MAX_MAP_BYTES:
        logger.warning("Karte %s ist %.1f MB groß (Ziel höchstens %.0f MB).", job.name, size / 1e6, MAX_MAP_BYTES / 1e6)
    path = Path(directory) / job.name
    write_text(path, html)
    logger.info("Karte %s geschrieben (%.2f MB)", path, size / 1e6)
    return path


def write_maps(
    config: Config,
    data: MapData,
    directory: str | Path,
    *,
    cell_m: float | None = None,
    min_count: int | None = None,
    per_municipality: bool = True,
    session: Session | None = None,
) -> list[Path]:
    """Write ``uebersicht.html``, ``mk_<ARS>.html`` per Mitgliedskommune and ``vorschlaege.html``.

    Files are written atomically. A map larger than :data:`MAX_MAP_BYTES` is written
    but logged as a warning. To skip maps whose content did not change, use
    :func:`map_jobs` and :func:`write_map` (as :func:`coverage.workflow.pipeline.run` does).

    Parameters
    ----------
    config, data, cell_m, min_count
        As for :func:`overview_map`.
    directory
        Output folder (created if needed).
    per_municipality
        Also write one map per Mitgliedskommune.
    session
        Keeps the parsed map templates for later calls (:attr:`Session.templates
        <coverage.cache.session.Session.templates>`); None: parsed anew.

    Returns
    -------
    list of pathlib.Path
        The written files, overview first.
    """
    jobs = map_jobs(config, data, cell_m=cell_m, min_count=min_count, per_municipality=per_municipality)
    return [write_map(job, directory, session=session) for job in jobs]
