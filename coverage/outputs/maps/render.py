"""Page rendering: stable ids, embedded libraries and the branca/folium runtime patches.

Parsed folium templates are kept in the caller's
:attr:`Session.templates <coverage.cache.session.Session.templates>`; without a
session, each rendering parses them anew (once per rendering).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import branca
import folium

from coverage.cache.session import CountedMemo, Session
from coverage.outputs._assets import inline_assets, render_page, vendored_assets

__all__ = ["render_html"]

logger = logging.getLogger(__name__)


_NEWLINES = re.compile(r"\r\n|\r|\n")
_RENDER_LOCK = threading.Lock()
_TEMPLATES_PER_RENDER = 64
"""Parsed templates one rendering keeps when the caller has no session."""


class _Literal:
    """Stands in for ``jinja2.Template`` for text that branca wraps in an element *after* rendering it.

    branca's ``MacroElement.render`` puts every rendered macro (GeoJSON data,
    popups, scripts) into ``Element(text)``, which compiles ``text`` as a Jinja
    template and renders it again. That second pass costs most of the rendering
    time and would evaluate ``{{ … }}`` in user-supplied text. This class keeps the
    text as it is and only does what Jinja does to plain text: normalise line
    breaks and drop one trailing line break.
    """

    def __init__(self, source: str, *args: object, **kwargs: object) -> None:
        lines = _NEWLINES.split(source)
        if lines and lines[-1] == "":
            lines.pop()
        self._text = "\n".join(lines)

    def render(self, *args: object, **kwargs: object) -> str:
        """Return the text."""
        return self._text


def _memo_template(memo: CountedMemo, source: str, *args: object, **kwargs: object) -> Any:
    """folium's ``Template(source)``, compiled once per source text in ``memo`` (folium builds some per call)."""
    from folium.template import Template as FoliumTemplate

    if args or kwargs:
        return FoliumTemplate(source, *args, **kwargs)
    return memo.get_or_make(source, lambda: FoliumTemplate(source))


@functools.lru_cache(maxsize=512)
def _camelify(name: str) -> str:
    """branca's ``_camelify`` (called for every ``get_name()``), computed once per element class name."""
    from branca.utilities import _camelify as camelify

    return camelify(name)


@contextlib.contextmanager
def _fast_templates(templates: CountedMemo) -> Iterator[None]:
    """Render without re-compiling rendered text (see :class:`_Literal`); restores everything afterwards.

    folium's templates are parsed once per source text and kept in ``templates``.
    Also memoises branca's element-name conversion, which otherwise takes a third of
    the rendering time. The stand-ins give the same output as the originals.
    """
    import branca.element as be
    import folium.features as ff

    if not all(hasattr(mod, name) for mod, name in ((be, "Template"), (ff, "Template"), (be, "_camelify"))):
        logger.debug("Andere branca/folium-Version: Karten werden ohne Beschleunigung geschrieben.")
        yield
        return
    with _RENDER_LOCK:
        saved = (be.Template, ff.Template, be._camelify)
        be.Template, ff.Template, be._camelify = _Literal, functools.partial(_memo_template, templates), _camelify
        try:
            yield
        finally:
            be.Template, ff.Template, be._camelify = saved


def _stable_ids(root: branca.element.Element) -> None:
    """Number all elements in tree order, so that the same map gives the same HTML (folium uses random ids)."""
    counter = itertools.count(1)
    seen: set[int] = set()

    def walk(el: branca.element.Element) -> None:
        if id(el) in seen:
            return
        seen.add(id(el))
        el._id = f"{next(counter):032x}"
        for key, value in list(vars(el).items()):
            if key != "_parent" and isinstance(value, branca.element.Element):
                walk(value)
        items = list(el._children.items())
        el._children.clear()
        for key, child in items:
            old = child.get_name()
            walk(child)
            el._children[child.get_name() if key == old else key] = child

    walk(root)


class _Page(branca.element.Figure):
    """The page of a Kursatlas map; every way of rendering it embeds the libraries.

    :func:`render_html`, folium's ``save`` and the display in Jupyter all call
    ``render``, so none of them gives a page that needs a CDN.
    """

    def render(self, **kwargs: Any) -> str:
        """The complete HTML page with the vendored libraries embedded."""
        with vendored_assets(self):
            return inline_assets(super().render(**kwargs))


def render_html(m: folium.Map, *, session: Session | None = None) -> str:
    """Render a map to a complete HTML page (``lang="de"``, UTF-8, same map → same bytes).

    The page embeds the JavaScript and CSS libraries that Kursatlas ships
    (:mod:`coverage.outputs._assets`), so it opens without internet; only the background
    tiles are loaded from the network.

    Parameters
    ----------
    m
        The map.
    session
        Keeps the parsed folium templates (:attr:`Session.templates
        <coverage.cache.session.Session.templates>`) for later renderings; None: this
        rendering parses them anew (each once).
    """
    templates = session.templates if session is not None else CountedMemo(_TEMPLATES_PER_RENDER)
    root = m.get_root()
    with _fast_templates(templates):
        _stable_ids(root)
        text = root.render() if isinstance(root, _Page) else render_page(root)
    return text.replace("<html>", '<html lang="de">', 1)
