"""Offline headless Chromium for the map tests, the benchmark and screenshots.

Kursatlas maps embed all their JavaScript and CSS (``coverage/outputs/_mapassets``), so the
pages need no CDN. Every request a page makes to the network goes through
``BrowserContext.route`` and is refused, except map tiles of OpenStreetMap, which are
answered with a 1×1 PNG in the light beige of OpenStreetMap's land colour (or refused
as well with ``tiles=False``, as on a machine without internet).

Refused requests are recorded in ``Offline.unknown``, tile requests in
``Offline.tile_requests``, so tests can assert that a map needs nothing else.
"""

from __future__ import annotations

import base64
import re
import shutil
from dataclasses import dataclass, field
from typing import Any

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
TILE_URL = re.compile(
    r"^https?://([a-z0-9-]+\.)*(tile\.openstreetmap\.org|tile\.openstreetmap\.de|basemaps\.cartocdn\.com)/"
)
_LOCAL = ("file:", "data:", "blob:", "about:")


def find_chromium() -> str | None:
    """Return the path of a Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class Offline:
    """Request router: answers tiles (unless ``tiles`` is False), refuses everything else and records it."""

    tiles: bool = True
    tile_requests: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    """Every network URL the router saw (tiles and refused requests)."""

    def handle(self, route: Any) -> None:
        """Playwright route handler."""
        url: str = route.request.url
        if url.startswith(_LOCAL):
            route.continue_()
            return
        self.seen.append(url)
        if TILE_URL.match(url):
            self.tile_requests.append(url)
            if self.tiles:
                route.fulfill(status=200, body=_PNG_1X1, content_type="image/png")
            else:
                route.abort("internetdisconnected")
            return
        self.unknown.append(url)
        route.abort("blockedbyclient")


def launch(playwright: Any, executable: str | None = None) -> Any:
    """Launch headless Chromium with a fresh profile and the project's flags."""
    exe = executable or find_chromium()
    if exe is None:
        raise RuntimeError("Chromium nicht gefunden (apt-get install -y chromium).")
    # Playwright's launch() starts Chromium with a fresh temporary --user-data-dir itself.
    return playwright.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)


def new_page(
    browser: Any, *, width: int = 1280, height: int = 850, tiles: bool = True
) -> tuple[Any, Any, Offline]:
    """Open a page whose network requests go through :class:`Offline`; return (context, page, router)."""
    router = Offline(tiles=tiles)
    ctx = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
    ctx.route("**/*", router.handle)
    page = ctx.new_page()
    return ctx, page, router
