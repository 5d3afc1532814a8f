"""Screenshot of a map or report HTML as PNG (headless Chromium, offline).

Usage::

    python bench/screenshot.py karten/uebersicht.html docs/uebersicht.png [--breite 1280 --hoehe 850]
    python bench/screenshot.py --beispiel docs/uebersicht.png   # synthetic example region

Tiles are not available offline; the background is plain (tile requests are
answered with a 1×1 PNG, so the map's notice about missing tiles does not appear).
Needs ``apt-get install -y chromium`` and ``pip install playwright``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.offline import launch, new_page  # noqa: E402


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 850, full_page: bool = False) -> Path:
    """Load ``html`` in headless Chromium and save a PNG screenshot to ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        ctx, page, router = new_page(browser, width=width, height=height)
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        page.screenshot(path=str(png), full_page=full_page)
        ctx.close()
        browser.close()
    if router.unknown:
        print("Nicht geladen:", *router.unknown, sep="\n  ", file=sys.stderr)
    return png


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description="PNG-Bildschirmfoto einer Karte oder eines Berichts")
    ap.add_argument("html", nargs="?", type=Path, help="HTML-Datei (Karte oder Bericht)")
    ap.add_argument("png", type=Path, help="Ziel-PNG")
    ap.add_argument("--beispiel", action="store_true", help="Übersichtskarte einer synthetischen Beispielregion")
    ap.add_argument("--breite", type=int, default=1280)
    ap.add_argument("--hoehe", type=int, default=850)
    ap.add_argument("--ganze-seite", action="store_true", help="ganze Seite (für den Bericht)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        html = args.html
        if args.beispiel:
            from coverage.outputs.maps import write_maps
            from tests.synthetic_maps import county_scale

            config, data = county_scale(Path(tmp), n_courses=12, n_proposals=5)
            html = write_maps(config, data, Path(tmp) / "karten", per_municipality=False)[0]
        if html is None:
            ap.error("HTML-Datei oder --beispiel angeben")
        out = screenshot(html, args.png, width=args.breite, height=args.hoehe, full_page=args.ganze_seite)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
