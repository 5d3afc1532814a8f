"""Offline headless Chromium for the map tests, the benchmark and screenshots.

folium pages load Leaflet, jQuery, Bootstrap, Font Awesome and plugins from CDNs.
The machines have no internet, so every request is intercepted
(``BrowserContext.route``) and answered from the npm packages installed in
``tests/browser/node_modules`` (``npm ci`` in this folder):

* ``cdn.jsdelivr.net/npm/<pkg>@<ver>/<path>`` → ``node_modules/<pkg>/<path>``
  (``.min.js`` falls back to ``.js`` where the package ships no minified file);
* ``cdnjs.cloudflare.com/.../Leaflet.awesome-markers/<ver>/<file>`` →
  ``node_modules/leaflet.awesome-markers/dist/<file>``;
* ``code.jquery.com/jquery-<ver>.min.js`` → ``node_modules/jquery/dist/jquery.min.js``;
* two small CSS files without an npm package (Bootstrap 3 glyphicons, folium's
  marker-rotation CSS) are answered with a stub;
* map tiles get a 1×1 PNG in the light beige of OpenStreetMap's land colour.

Any other request to the network is refused and recorded in ``Offline.unknown``,
so tests can assert that a map needs nothing else.
"""

from __future__ import annotations

import base64
import mimetypes
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP49P7lfwAJawPK4nmjtgAAAABJRU5ErkJggg=="
)
_STUB_CSS = {
    "leaflet.awesome.rotate": ".awesome-marker i { transform-origin: center; }",
    "bootstrap-glyphicons": "/* glyphicons: stub for offline tests */",
}
_JSDELIVR_NPM = re.compile(r"^https://cdn\.jsdelivr\.net/npm/((?:@[^/]+/)?[^@/]+)@[^/]+/(.+)$")
_CDNJS_AWESOME = re.compile(r"^https://cdnjs\.cloudflare\.com/ajax/libs/Leaflet\.awesome-markers/[^/]+/(.+)$")
_JQUERY = re.compile(r"^https://code\.jquery\.com/jquery-[0-9.]+(\.min)?\.js$")
_TILE = re.compile(
    r"^https?://([a-z0-9-]+\.)*(tile\.openstreetmap\.org|tile\.openstreetmap\.de|basemaps\.cartocdn\.com)/"
)


def find_chromium() -> str | None:
    """Return the path of a Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def assets_installed() -> bool:
    """True when ``npm ci`` has been run in ``tests/browser``."""
    return (NODE_MODULES / "leaflet" / "dist" / "leaflet.js").is_file()


def local_file(url: str) -> Path | None:
    """Map a CDN URL to a file of the installed npm packages (None if unknown)."""
    url = url.split("?", 1)[0].split("#", 1)[0]
    candidates: list[Path] = []
    if m := _JSDELIVR_NPM.match(url):
        candidates.append(NODE_MODULES / m.group(1) / m.group(2))
    elif m := _CDNJS_AWESOME.match(url):
        candidates.append(NODE_MODULES / "leaflet.awesome-markers" / "dist" / m.group(1))
    elif _JQUERY.match(url):
        candidates.append(NODE_MODULES / "jquery" / "dist" / "jquery.min.js")
    more = [c.with_name(c.name.replace(".min.", ".")) for c in candidates if ".min." in c.name]
    for c in [*candidates, *more]:
        if c.is_file():
            return c
    return None


@dataclass
class Offline:
    """Request router; records what it served and what it refused."""

    served: list[str] = field(default_factory=list)
    tiles: int = 0
    unknown: list[str] = field(default_factory=list)

    def handle(self, route: Any) -> None:
        """Playwright route handler."""
        url: str = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
            return
        if _TILE.match(url):
            self.tiles += 1
            route.fulfill(status=200, body=_PNG_1X1, content_type="image/png")
            return
        for key, css in _STUB_CSS.items():
            if key in url:
                self.served.append(url)
                route.fulfill(status=200, body=css, content_type="text/css")
                return
        path = local_file(url)
        if path is None:
            self.unknown.append(url)
            route.abort()
            return
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".js":
            ctype = "application/javascript"
        self.served.append(url)
        route.fulfill(
            status=200, body=path.read_bytes(), content_type=ctype, headers={"Access-Control-Allow-Origin": "*"}
        )


def launch(playwright: Any, executable: str | None = None) -> Any:
    """Launch headless Chromium with a fresh profile and the project's flags."""
    exe = executable or find_chromium()
    if exe is None:
        raise RuntimeError("Chromium nicht gefunden (apt-get install -y chromium).")
    # Playwright's launch() starts Chromium with a fresh temporary --user-data-dir itself.
    return playwright.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)


def new_page(browser: Any, *, width: int = 1280, height: int = 850) -> tuple[Any, Any, Offline]:
    """Open a page whose network requests go through :class:`Offline`; return (context, page, router)."""
    router = Offline()
    ctx = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
    ctx.route("**/*", router.handle)
    page = ctx.new_page()
    return ctx, page, router
