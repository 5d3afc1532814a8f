"""Benchmark: size and browser render time of a county-scale overview map.

Builds a synthetic county (13 Mitgliedskommunen with wiggly boundaries, about 3,000
inhabited 1-km grid squares, 30 courses, 10 proposals), writes ``uebersicht.html``
and prints its size (and how much of it are the embedded JavaScript/CSS libraries),
the build time and the time until the page's ``load`` event in headless Chromium
without network (map tiles answered locally, so they are excluded), compared to an
empty folium map (written by Kursatlas, so with the same embedded libraries) loaded in
the same run.

Usage::

    python bench/bench_maps.py [--runs 3]

Needs ``apt-get install -y chromium`` and ``pip install playwright``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import folium  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from coverage.outputs._assets import asset_files, read_asset  # noqa: E402
from coverage.outputs.maps import aggregate_residents, overview_map, render_html  # noqa: E402
from tests.browser.offline import launch, new_page  # noqa: E402
from tests.synthetic_maps import county_scale  # noqa: E402

_LOAD_MS = "() => { const t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd - t.startTime; }"


def _load_ms(browser: object, path: Path) -> float:
    ctx, page, router = new_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    ms = float(page.evaluate(_LOAD_MS))
    page_l = page.evaluate("typeof window.L === 'object'")
    ctx.close()
    if errors or router.unknown or page_l is not True:
        raise RuntimeError(f"{path.name}: {errors} {router.unknown}")
    return ms


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config, data = county_scale(tmp)
        cells = aggregate_residents(data.residents, cell_m=1000, min_count=5, areas=data.mitgliedskommunen)
        t0 = time.perf_counter()
        html = render_html(overview_map(config, data))
        build_s = time.perf_counter() - t0
        big = tmp / "uebersicht.html"
        big.write_text(html, encoding="utf-8")
        empty = tmp / "leer.html"
        empty.write_text(render_html(folium.Map(location=[53.2, 9.4], zoom_start=9)), encoding="utf-8")
        with sync_playwright() as p:
            browser = launch(p)
            _load_ms(browser, empty)  # warm-up
            t_big = [_load_ms(browser, big) for _ in range(args.runs)]
            t_empty = [_load_ms(browser, empty) for _ in range(args.runs)]
            browser.close()
    size_mb = len(html.encode("utf-8")) / 1e6
    mb, me = statistics.median(t_big), statistics.median(t_empty)
    print(
        f"Mitgliedskommunen: {len(data.mitgliedskommunen)}, Rasterzellen: {len(cells)}, "
        f"Kurse: {len(data.courses)}, Vorschläge: {len(data.proposals)}"
    )
    libs_mb = sum(len(read_asset(f)) for f in asset_files() if not f.endswith(("LICENSE", ".txt"))) / 1e6
    print(f"Größe uebersicht.html: {size_mb:.2f} MB (Grenze 5 MB), davon eingebettete Bibliotheken ≈ {libs_mb:.2f} MB")
    print(f"Erstellen in Python: {build_s:.1f} s")
    print(
        f"Laden bis load-Ereignis (Median aus {args.runs}): {mb:.0f} ms; leere folium-Karte: {me:.0f} ms; "
        f"Verhältnis {mb / me:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
