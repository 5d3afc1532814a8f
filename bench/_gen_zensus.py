"""Generator of a Germany-wide Zensus 2022 grid CSV (synthetic values, published format).

The real national 100 m grid (about three million inhabited cells) cannot be
downloaded here, so benchmarks and tests use a file of the same size and layout:

- ``GITTER_ID_100m;x_mp_100m;y_mp_100m;<value columns>``, ``;``-separated, UTF-8,
  one row per inhabited cell, sorted by northing then easting;
- ids ``CRS3035RES100mN<north>E<east>`` give the cell's south-west corner in
  EPSG:3035, the centre columns are corner + half the cell size (1 km:
  ``GITTER_ID_1km``, ``CRS3035RES1000mN…``);
- cells are clustered in settlements spread over Germany's EPSG:3035 extent;
- a few percent of the values are suppressed (``–``), shares are written with a
  decimal comma.

With ``base_csv`` (the model region's ``data/rotenburg/einwohner_gitter100m.csv``)
those rows are embedded **unchanged** (the same text lines) and the file takes the
base's value columns; generated cells then keep out of the base's bounding box plus
a margin, so the county's residents read from the national file equal those of
the base file. Without a base the value columns are ``Einwohner;AnteilAuslaender``
(share in percent with a decimal comma).

All values are synthetic (seeded); nothing here is real Zensus data.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["GERMANY_3035", "write_national_zensus"]

GERMANY_3035 = (4_031_000, 2_684_000, 4_673_000, 3_552_000)
"""Extent of the Zensus grid of Germany in EPSG:3035 (west, south, east, north), metres."""

BASE_MARGIN_M = 6_000
"""Generated cells keep this far away from the bounding box of the base rows."""

_ID = re.compile(r"^CRS3035RES(\d+)m?N(\d+)E(\d+)$")
_CHUNK = 200_000


def _settlement_cells(
    rng: np.random.Generator, n_rows: int, *, resolution: int, exclude: tuple[int, int, int, int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """South-west corners (east, north) of ``n_rows`` distinct inhabited cells, sorted by (north, east)."""
    x0, y0, x1, y1 = GERMANY_3035
    n_e = (x1 - x0) // resolution
    n_n = (y1 - y0) // resolution
    if n_rows > 0.5 * n_e * n_n:
        raise ValueError(f"n_rows={n_rows} ist zu groß für das {resolution}-m-Gitter ({n_e * n_n} Zellen).")
    scale = 100.0 / resolution  # a settlement spans fewer cells of a coarser grid
    n_towns = max(1, int(n_rows / max(150.0 * scale**2, 2.0)))
    town_e = rng.uniform(0, n_e, n_towns)
    town_n = rng.uniform(0, n_n, n_towns)
    size = rng.lognormal(mean=4.0, sigma=1.1, size=n_towns)
    sigma = np.maximum(np.sqrt(size) / 1.2 * scale, 0.8)
    weight = size / size.sum()
    keys = np.empty(0, dtype=np.int64)
    draw = int(n_rows * 1.6)
    tries = 0
    while len(keys) < n_rows:
        tries += 1
        if tries > 100:
            raise ValueError(f"{n_rows} verschiedene Zellen nicht erreichbar ({len(keys)} erzeugt)")
        town = rng.choice(n_towns, size=draw, p=weight)
        ce = np.floor(town_e[town] + rng.normal(0.0, sigma[town])).astype(np.int64)
        cn = np.floor(town_n[town] + rng.normal(0.0, sigma[town])).astype(np.int64)
        ok = (ce >= 0) & (ce < n_e) & (cn >= 0) & (cn < n_n)
        if exclude is not None:
            ex0, ey0, ex1, ey1 = exclude
            east, north = x0 + ce * resolution, y0 + cn * resolution
            ok &= ~((east + resolution > ex0) & (east < ex1) & (north + resolution > ey0) & (north < ey1))
        keys = np.unique(np.concatenate([keys, cn[ok] * n_e + ce[ok]]))
        draw = max(int((n_rows - len(keys)) * 2.0), 10_000)
    keys = np.sort(rng.choice(keys, size=n_rows, replace=False))
    return x0 + (keys % n_e) * resolution, y0 + (keys // n_e) * resolution


def _read_base(base_csv: Path) -> tuple[str, list[str], np.ndarray, np.ndarray, int]:
    """Header, data lines and south-west corners of the base file."""
    text = base_csv.read_text(encoding="utf-8-sig")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header, body = lines[0], lines[1:]
    east = np.empty(len(body), dtype=np.int64)
    north = np.empty(len(body), dtype=np.int64)
    res = None
    for i, ln in enumerate(body):
        m = _ID.match(ln.split(";", 1)[0])
        if m is None:
            raise ValueError(f"{base_csv}: Zeile {i + 2} hat keine Zensus-2022-Gitter-ID")
        res = int(m.group(1))
        north[i], east[i] = int(m.group(2)), int(m.group(3))
    return header, body, east, north, res or 100


def write_national_zensus(
    out: Path,
    *,
    n_rows: int = 3_000_000,
    seed: int = 0,
    resolution: int = 100,
    base_csv: Path | None = None,
) -> dict[str, object]:
    """Write a Germany-wide Zensus 2022 grid CSV with about ``n_rows`` inhabited cells.

    Parameters
    ----------
    out
        The CSV to write (UTF-8, ``;``, streamed in chunks).
    n_rows
        Number of generated cells (the base rows come on top).
    seed
        Seed of the random generator.
    resolution
        Cell size in metres: 100, 1000 or 10000.
    base_csv
        Optional Zensus-2022-style grid CSV (same resolution) whose rows are
        embedded unchanged; the file then has the base's columns.

    Returns
    -------
    dict
        ``path``, ``rows`` (data rows written), ``generated``, ``base_rows``,
        ``suppressed`` (generated values written as ``–``), ``columns``,
        ``bytes``, ``resolution``, ``excluded_box`` (EPSG:3035 box kept free of
        generated cells, or None).
    """
    if resolution not in (100, 1000, 10_000):
        raise ValueError("resolution muss 100, 1000 oder 10000 sein")
    rng = np.random.default_rng(seed)
    suffix = {100: "100m", 1000: "1km", 10_000: "10km"}[resolution]
    if base_csv is not None:
        header, base_lines, base_e, base_n, base_res = _read_base(base_csv)
        if base_res != resolution:
            raise ValueError(f"{base_csv}: Gitterweite {base_res} m passt nicht zu resolution={resolution}")
        columns = header.split(";")
        exclude = (
            int(base_e.min()) - BASE_MARGIN_M,
            int(base_n.min()) - BASE_MARGIN_M,
            int(base_e.max()) + resolution + BASE_MARGIN_M,
            int(base_n.max()) + resolution + BASE_MARGIN_M,
        )
    else:
        columns = [f"GITTER_ID_{suffix}", f"x_mp_{suffix}", f"y_mp_{suffix}", "Einwohner", "AnteilAuslaender"]
        header = ";".join(columns)
        base_lines, base_e, base_n = [], np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        exclude = None
    east, north = _settlement_cells(rng, n_rows, resolution=resolution, exclude=exclude)
    n_values = len(columns) - 3
    # merge generated and base rows in (north, east) order; negative index = base row
    all_n = np.concatenate([north, base_n])
    all_e = np.concatenate([east, base_e])
    source = np.concatenate([np.arange(len(east)), -1 - np.arange(len(base_e))])
    order = np.lexsort((all_e, all_n))
    half = resolution // 2
    suppressed = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(header + "\n")
        for start in range(0, len(order), _CHUNK):
            idx = order[start : start + _CHUNK]
            k = len(idx)
            persons = np.maximum(1, np.round(rng.lognormal(2.0, 1.0, k))).astype(np.int64)
            hidden = rng.random((k, max(n_values, 1))) < 0.03
            share = np.round(rng.uniform(0.0, 40.0, k), 1)
            lines = []
            for j, i in enumerate(idx.tolist()):
                src = int(source[i])
                if src < 0:
                    lines.append(base_lines[-1 - src])
                    continue
                e, n = int(all_e[i]), int(all_n[i])
                vals = []
                for c in range(n_values):
                    if hidden[j, c]:
                        vals.append("–")
                        suppressed += 1
                    elif base_csv is None and c == 1:
                        vals.append(f"{share[j]:.1f}".replace(".", ","))
                    else:
                        vals.append(str(int(persons[j])))
                lines.append(f"CRS3035RES{resolution}mN{n}E{e};{e + half};{n + half};" + ";".join(vals))
            fh.write("\n".join(lines) + "\n")
    return {
        "path": out,
        "rows": len(order),
        "generated": len(east),
        "base_rows": len(base_lines),
        "suppressed": suppressed,
        "columns": columns,
        "bytes": out.stat().st_size,
        "resolution": resolution,
        "excluded_box": exclude,
    }
