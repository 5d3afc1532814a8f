"""The JavaScript and CSS libraries of the maps, shipped with Kursatlas: maps open without internet.

folium links Leaflet, jQuery, Bootstrap, Font Awesome and its plugins from public CDNs.
In an office network that blocks them, or offline, such a map is an empty page. Kursatlas
ships the few library files its maps use in ``coverage/outputs/_mapassets/`` (package data,
installed by pip; versions, licences and sources in ``_mapassets/README.md``) and
embeds them into every map file:

1. :func:`vendored_assets` sets ``default_js`` / ``default_css`` of each folium
   element that needs a library (the map itself, the place search, the full-screen
   button) on that *instance* to placeholders ``kursatlas-lib:<file>`` while the page is
   rendered, and restores them afterwards. folium's module lists stay untouched.
   Libraries no Kursatlas map uses (Bootstrap, Font Awesome, awesome-markers:
   Kursatlas draws its markers as HTML ``DivIcon``\\s) are not linked at all.
2. :func:`inline_assets` replaces each placeholder link in the rendered page by the
   file's content (``<script>`` / ``<style>``; images and the SVG icon that the CSS
   references become ``data:`` URLs).

Every map file is therefore complete on its own (about 0.3 MB of libraries): it opens
offline, from a network share, as an e-mail attachment and from a copied folder alike.
Only the background tiles of OpenStreetMap need the network. :func:`render_page` does
both steps for any folium figure; Kursatlas maps do it in every ``render`` (see
``coverage.outputs.maps.render._Page``), so folium's ``save`` and the display in Jupyter embed too.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath

import branca

__all__ = [
    "LIBRARIES",
    "PLACEHOLDER",
    "Library",
    "asset_digest",
    "asset_files",
    "inline_assets",
    "read_asset",
    "remote_resources",
    "render_page",
    "vendored_assets",
]

logger = logging.getLogger(__name__)

ASSET_FOLDER = "_mapassets"
"""Folder of the vendored files inside the package ``coverage``."""

PLACEHOLDER = "kursatlas-lib:"
"""Prefix of a link to a vendored file between rendering and :func:`inline_assets`."""


@dataclass(frozen=True)
class Library:
    """One vendored library.

    Attributes
    ----------
    name
        npm package name.
    version
        Version; the same that folium's templates reference.
    licence
        SPDX identifier.
    folder
        Folder under ``coverage/outputs/_mapassets``, ``<name>-<version>`` (the npm package's
        layout inside it).
    licence_file
        Licence text, relative to ``folder``.
    js, css
        The files the maps load, relative to ``folder``, in loading order.
    resources
        Files that the CSS references (embedded as ``data:`` URLs).
    folium_urls
        The CDN URLs in folium's templates that these files replace.
    """

    name: str
    version: str
    licence: str
    folder: str
    licence_file: str
    js: tuple[str, ...]
    css: tuple[str, ...]
    resources: tuple[str, ...]
    folium_urls: tuple[str, ...]

    def files(self) -> tuple[str, ...]:
        """All vendored files of the library, relative to ``coverage/outputs/_mapassets``."""
        return tuple(f"{self.folder}/{f}" for f in (self.licence_file, *self.js, *self.css, *self.resources))


LEAFLET = Library(
    name="leaflet",
    version="1.9.3",
    licence="BSD-2-Clause",
    folder="leaflet-1.9.3",
    licence_file="LICENSE",
    js=("dist/leaflet.js",),
    css=("dist/leaflet.css",),
    resources=("dist/images/layers.png", "dist/images/layers-2x.png", "dist/images/marker-icon.png"),
    folium_urls=(
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js",
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css",
    ),
)
JQUERY = Library(
    name="jquery",
    version="3.7.1",
    licence="MIT",
    folder="jquery-3.7.1",
    licence_file="LICENSE.txt",
    js=("dist/jquery.min.js",),
    css=(),
    resources=(),
    folium_urls=("https://code.jquery.com/jquery-3.7.1.min.js",),
)
LEAFLET_SEARCH = Library(
    name="leaflet-search",
    version="2.9.7",
    licence="MIT",
    folder="leaflet-search-2.9.7",
    licence_file="license.txt",
    js=("dist/leaflet-search.min.js",),
    css=("dist/leaflet-search.min.css",),
    resources=("images/search-icon.png", "images/loader.gif"),
    folium_urls=(
        "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js",
        "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css",
    ),
)
LEAFLET_FULLSCREEN = Library(
    name="leaflet.fullscreen",
    version="3.0.0",
    licence="MIT",
    folder="leaflet.fullscreen-3.0.0",
    licence_file="LICENSE",
    # the npm package has no minified file (jsDelivr minifies on the fly); 8 kB unminified
    js=("Control.FullScreen.js",),
    css=("Control.FullScreen.css",),
    resources=("icon-fullscreen.svg",),
    folium_urls=(
        "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js",
        "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css",
    ),
)

LIBRARIES: tuple[Library, ...] = (LEAFLET, JQUERY, LEAFLET_SEARCH, LEAFLET_FULLSCREEN)
"""All vendored libraries (documented in ``coverage/outputs/_mapassets/README.md``)."""

_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml"}
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")
_SOURCE_MAP = re.compile(r"^\s*//# sourceMappingURL=\S+\s*$", re.MULTILINE)
_PLACEHOLDER_SCRIPT = re.compile(r'<script src="' + re.escape(PLACEHOLDER) + r'([^"]+)"></script>')
_PLACEHOLDER_CSS = re.compile(r'<link rel="stylesheet" href="' + re.escape(PLACEHOLDER) + r'([^"]+)"/>')
_RESOURCE_LINK = re.compile(r"""<(script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)


def asset_files() -> tuple[str, ...]:
    """Every vendored file, relative to ``coverage/outputs/_mapassets``."""
    return tuple(f for lib in LIBRARIES for f in lib.files())


def read_asset(path: str) -> bytes:
    """The bytes of one vendored file (``path`` relative to ``coverage/outputs/_mapassets``)."""
    node = resources.files("coverage.outputs").joinpath(ASSET_FOLDER)
    for part in PurePosixPath(path).parts:
        node = node.joinpath(part)
    try:
        return node.read_bytes()
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"Kartenbibliothek fehlt: coverage/outputs/{ASSET_FOLDER}/{path} (Installation unvollständig?)"
        ) from exc


@functools.cache
def asset_digest() -> str:
    """SHA-256 over the names and bytes of all vendored files (part of every map's content key)."""
    h = hashlib.sha256()
    for path in asset_files():
        data = read_asset(path)
        h.update(f"{path}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _library(path: str) -> Library:
    for lib in LIBRARIES:
        if path.startswith(lib.folder + "/"):
            return lib
    raise KeyError(path)


def _links(lib: Library) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    js = [(f"{lib.name}/{f}", f"{PLACEHOLDER}{lib.folder}/{f}") for f in lib.js]
    css = [(f"{lib.name}/{f}", f"{PLACEHOLDER}{lib.folder}/{f}") for f in lib.css]
    return js, css


def _element_libraries(element: branca.element.Element) -> tuple[Library, ...] | None:
    """The libraries a folium element needs, or None for an element Kursatlas does not vendor for."""
    import folium
    from folium import plugins

    if isinstance(element, folium.Map):
        # jQuery: folium's Popup template builds the popup content with $(…)
        return (LEAFLET, JQUERY)
    if isinstance(element, plugins.Search):
        return (LEAFLET_SEARCH,)
    if isinstance(element, plugins.Fullscreen):
        return (LEAFLET_FULLSCREEN,)
    return None


def _walk(element: branca.element.Element) -> Iterator[branca.element.Element]:
    seen: set[int] = set()
    stack = [element]
    while stack:
        el = stack.pop()
        if id(el) in seen:
            continue
        seen.add(id(el))
        yield el
        stack.extend(el._children.values())


_UNSET = object()


@contextlib.contextmanager
def vendored_assets(root: branca.element.Element) -> Iterator[None]:
    """While inside, the library links of every element under ``root`` point to the vendored files.

    Sets ``default_js`` and ``default_css`` on the element *instances* (the map, the
    place search, the full-screen control) to placeholders that :func:`inline_assets`
    replaces by the files' content, and restores them on exit. folium's class and
    module lists are never changed.
    """
    saved: list[tuple[branca.element.Element, object, object]] = []
    for el in _walk(root):
        libs = _element_libraries(el)
        if libs is None:
            continue
        own = vars(el)
        saved.append((el, own.get("default_js", _UNSET), own.get("default_css", _UNSET)))
        js: list[tuple[str, str]] = []
        css: list[tuple[str, str]] = []
        for lib in libs:
            j, c = _links(lib)
            js += j
            css += c
        el.default_js = js  # type: ignore[attr-defined]
        el.default_css = css  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for el, js_before, css_before in reversed(saved):
            for name, value in (("default_js", js_before), ("default_css", css_before)):
                if value is _UNSET:
                    vars(el).pop(name, None)
                else:
                    setattr(el, name, value)
        # rendering added the placeholder links to the page head; a later plain render must not see them
        header = getattr(root.get_root(), "header", None)
        if header is not None:
            for key, child in list(header._children.items()):
                if str(getattr(child, "url", "")).startswith(PLACEHOLDER):
                    del header._children[key]


def render_page(root: branca.element.Figure, **kwargs: object) -> str:
    """Render the page ``root`` with the vendored libraries embedded (any folium figure)."""
    with vendored_assets(root):
        return inline_assets(root.render(**kwargs))


def _data_url(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    mime = _MIME.get(suffix)
    if mime is None:
        raise ValueError(f"Kartenbibliothek {path}: Dateityp {suffix} ist nicht vorgesehen")
    return f"data:{mime};base64,{base64.b64encode(read_asset(path)).decode('ascii')}"


def _embed_css_urls(css: str, path: str) -> str:
    """``url(…)`` of vendored images/icons → ``data:`` URLs (fragments such as ``#default#VML`` stay)."""
    base = PurePosixPath(path).parent
    lib = _library(path)

    def repl(m: re.Match[str]) -> str:
        ref = m.group(2).strip()
        if ref.startswith(("#", "data:")):
            return m.group(0)
        if "//" in ref or ref.startswith("/"):
            raise ValueError(f"Kartenbibliothek {path} verweist auf {ref} im Netz")
        parts: list[str] = []
        for part in (*base.parts, *PurePosixPath(ref).parts):
            if part == "..":
                parts.pop()
            elif part != ".":
                parts.append(part)
        target = "/".join(parts)
        if target not in lib.files():
            raise ValueError(f"Kartenbibliothek {path} verweist auf {ref}; nicht in {lib.name}.resources")
        return f'url("{_data_url(target)}")'

    return _CSS_URL.sub(repl, css)


@functools.cache
def _inline_tag(path: str) -> str:
    """The ``<script>`` or ``<style>`` element that embeds the vendored file ``path``."""
    lib = _library(path)
    text = read_asset(path).decode("utf-8")
    note = f"/* {lib.name} {lib.version} ({lib.licence}), mitgeliefert von Kursatlas: {path} */"
    if path.endswith(".js"):
        text = _SOURCE_MAP.sub("", text).rstrip()
        if re.search(r"</script|<!--", text, re.IGNORECASE):
            raise ValueError(f"Kartenbibliothek {path} kann nicht eingebettet werden (enthält </script oder <!--)")
        return f"<script>{note}\n{text}\n</script>"
    text = _embed_css_urls(text, path).rstrip()
    if re.search(r"</style", text, re.IGNORECASE):
        raise ValueError(f"Kartenbibliothek {path} kann nicht eingebettet werden (enthält </style)")
    return f"<style>{note}\n{text}\n</style>"


def remote_resources(html: str) -> list[str]:
    """URLs of scripts and stylesheets that ``html``'s ``<head>`` would load from outside the page."""
    end = html.find("</head>")
    head = html if end < 0 else html[:end]
    return [url for _, url in _RESOURCE_LINK.findall(head) if not url.startswith(("data:", PLACEHOLDER))]


def inline_assets(html: str) -> str:
    """Replace the placeholder links of :func:`vendored_assets` in ``<head>`` by the files' content.

    A script or stylesheet that would still be loaded from the network (an element
    whose library Kursatlas does not ship) is logged as a warning: that map then
    needs internet. Only ``<head>`` is searched: user text is in the body and escaped.
    """
    end = html.find("</head>")
    if end < 0:
        raise ValueError("Karte ohne </head>")
    head, body = html[:end], html[end:]
    remote = remote_resources(head)
    if remote:
        logger.warning("Karte lädt Bibliotheken aus dem Internet, die Kursatlas nicht mitliefert: %s", remote)
    head = _PLACEHOLDER_SCRIPT.sub(lambda m: _inline_tag(m.group(1)), head)
    head = _PLACEHOLDER_CSS.sub(lambda m: _inline_tag(m.group(1)), head)
    if PLACEHOLDER in head:
        raise RuntimeError("Kartenbibliotheken: ein Verweis wurde nicht eingebettet (andere branca-Version?)")
    return head + body
