"""Zensus grids up to national size: only the county's cells count, every row is validated.

The expected cells always come from a brute-force filter written here (a plain loop,
pyproj and shapely ``contains``), never from the reader under test.
"""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point

import coverage.inputs._zensus as zensus
from coverage.cache.store import Cache
from coverage.errors import InputDataError
from coverage.inputs._zensus import read_zensus_grid
from coverage.inputs.config import Config, load_config
from coverage.inputs.load import Region, load_inputs, load_region, load_residents

from .conftest import X0, Y0, _lonlat, write_tiny_region

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
TO_GRID = Transformer.from_crs("EPSG:25832", "EPSG:3035", always_xy=True)
TO_UTM = Transformer.from_crs("EPSG:3035", "EPSG:25832", always_xy=True)
SUFFIX = {100: "100m", 1000: "1km"}
PUNKTE = 'datei = "einwohner.csv"\nformat = "punkte"\nspalte = "einwohner"'

Row = tuple[int, int, int | None, float | None, str]
"""South-west corner (east, north), Einwohner (None = suppressed), share (None = suppressed), remark."""


# --------------------------------------------------------------------------- helpers


def _zensus_region(tmp_path: Path, csv_name: str, spalte: str) -> Path:
    toml = write_tiny_region(tmp_path / "r")
    text = toml.read_text(encoding="utf-8").replace(
        PUNKTE, f'datei = "{csv_name}"\nformat = "zensus"\nspalte = "{spalte}"'
    )
    toml.write_text(text, encoding="utf-8")
    return toml


def _grid_box(boundary: shapely.Geometry, pad: float) -> tuple[float, float, float, float]:
    xy = shapely.get_coordinates(shapely.segmentize(boundary.boundary, 100.0))
    gx, gy = TO_GRID.transform(xy[:, 0], xy[:, 1])
    return min(gx) - pad, min(gy) - pad, max(gx) + pad, max(gy) + pad


def _national_rows(boundary: shapely.Geometry, res: int, seed: int) -> list[Row]:
    """Cells inside, outside, straddling the county border, and far away elsewhere in Germany."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = _grid_box(boundary, 3 * res + 2000)
    step = 700 if res == 100 else res
    corners = {
        (int(e // res * res), int(n // res * res))
        for e in np.arange(x0, x1, step)
        for n in np.arange(y0, y1, step)
    }
    # cells on the border: their squares straddle it, the centre lies on either side
    border = shapely.get_coordinates(shapely.segmentize(boundary.boundary, res / 3))
    gx, gy = TO_GRID.transform(border[:, 0], border[:, 1])
    corners |= {(int(e // res * res), int(n // res * res)) for e, n in zip(gx, gy, strict=True)}
    # the rest of Germany (Bavaria, Saxony)
    for _ in range(300):
        e = int(rng.uniform(4_300_000, 4_600_000) // res * res)
        n = int(rng.uniform(2_700_000, 3_100_000) // res * res)
        corners.add((e, n))
    rows: list[Row] = []
    for e, n in sorted(corners, key=lambda c: (c[1], c[0])):
        ew = None if rng.random() < 0.08 else int(rng.integers(0, 200))
        share = None if rng.random() < 0.08 else round(float(rng.uniform(0, 60)), 1)
        rows.append((e, n, ew, share, "geändert" if rng.random() < 0.1 else ""))
    return rows


def _write(path: Path, rows: list[Row], *, res: int, encoding: str, dash: str = "–", blank_after: int = -1) -> None:
    suf = SUFFIX[res]
    lines = [f"GITTER_ID_{suf};x_mp_{suf};y_mp_{suf};Einwohner;AnteilAuslaender;Bemerkung_Größe"]
    for k, (e, n, ew, share, note) in enumerate(rows):
        ew_s = dash if ew is None else str(ew)
        share_s = dash if share is None else f"{share:.1f}".replace(".", ",")
        lines.append(f"CRS3035RES{res}mN{n}E{e};{e + res // 2};{n + res // 2};{ew_s};{share_s};{note}")
        if k == blank_after:
            lines.append("")
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def _brute_force(rows: list[Row], boundary: shapely.Geometry, *, res: int, spalte: str) -> dict[str, float]:
    """Persons per grid id for cells whose centre lies in the county (plain loop, shapely contains)."""
    out = {}
    for e, n, ew, share, _ in rows:
        x, y = TO_UTM.transform(e + res / 2, n + res / 2)
        if not boundary.contains(Point(x, y)):
            continue
        persons = 0.0 if ew is None else float(ew)
        if spalte == "AnteilAuslaender":
            persons = persons * (0.0 if share is None else share) / 100.0
        out[f"CRS3035RES{res}mN{n}E{e}"] = persons
    return out


def _straddling(rows: list[Row], boundary: shapely.Geometry, *, res: int) -> tuple[int, int]:
    """Cells whose square crosses the border: (centre inside, centre outside)."""
    inside = outside = 0
    for e, n, *_ in rows:
        xs, ys = TO_UTM.transform([e, e + res, e + res, e], [n, n, n + res, n + res])
        square = shapely.Polygon(zip(xs, ys, strict=True))
        if square.intersects(boundary.boundary):
            x, y = TO_UTM.transform(e + res / 2, n + res / 2)
            if boundary.contains(Point(x, y)):
                inside += 1
            else:
                outside += 1
    return inside, outside


# --------------------------------------------------------------------------- national files


@pytest.mark.parametrize(
    ("res", "encoding", "spalte"),
    [
        (100, "utf-8", "AnteilAuslaender"),
        (100, "utf-8-sig", "Einwohner"),
        (100, "cp1252", "AnteilAuslaender"),
        (100, "latin-1", "Einwohner"),
        (1000, "utf-8-sig", "AnteilAuslaender"),
        (1000, "cp1252", "Einwohner"),
    ],
)
def test_national_grid_keeps_exactly_the_county_cells(tmp_path: Path, res: int, encoding: str, spalte: str) -> None:
    toml = _zensus_region(tmp_path, "zensus.csv", spalte)
    cfg = load_config(toml)
    region = load_region(cfg)
    boundary = region.boundary
    rows = _national_rows(boundary, res, seed=res)
    # Latin-1 has no en dash: such files write '-' for suppressed values
    _write(cfg.einwohner, rows, res=res, encoding=encoding, dash="-" if encoding == "latin-1" else "–")
    expected = _brute_force(rows, boundary, res=res, spalte=spalte)
    straddle_in, straddle_out = _straddling(rows, boundary, res=res)
    assert straddle_in > 5 and straddle_out > 5 and len(expected) > 50 and len(rows) - len(expected) > 300

    cells = read_zensus_grid(cfg.einwohner, column=spalte, area=boundary, block_size=4096)
    got = dict(zip(cells.ids.tolist(), cells.values.tolist(), strict=True))
    assert got.keys() == expected.keys()
    assert got == pytest.approx(expected)
    assert cells.rows == len(rows) and cells.outside_cells == len(rows) - len(expected)
    # suppressed values of the value column, in the whole file
    assert cells.suppressed == sum((r[2] if spalte == "Einwohner" else r[3]) is None for r in rows)
    assert cells.encoding == ("utf-8" if encoding.startswith("utf-8") else "cp1252")
    # centres in EPSG:25832 exactly as the brute force computes them
    for gid, x, y in zip(cells.ids[:20], cells.x[:20], cells.y[:20], strict=False):
        n, e = (int(v) for v in gid.split("mN")[1].split("E"))
        assert (x, y) == TO_UTM.transform(e + res / 2, n + res / 2)

    residents = load_residents(cfg, region)
    positive = {k: v for k, v in expected.items() if v > 0}
    assert set(residents["herkunft_id"]) == positive.keys()
    assert residents["einwohner"].sum() == pytest.approx(sum(positive.values()))
    assert (residents["gemeinde_ars"] != "").all()


def test_log_names_cells_outside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    toml = _zensus_region(tmp_path, "zensus.csv", "Einwohner")
    cfg = load_config(toml)
    region = load_region(cfg)
    rows = _national_rows(region.boundary, 100, seed=3)
    _write(cfg.einwohner, rows, res=100, encoding="utf-8")
    expected = _brute_force(rows, region.boundary, res=100, spalte="Einwohner")
    with caplog.at_level(logging.INFO, logger="coverage"):
        load_residents(cfg, region)
    text = caplog.text
    assert f"{len(rows)} Zeilen gelesen, {len(expected)} Zellen im Landkreis" in text
    assert f"{len(rows) - len(expected)} Zellen außerhalb des Landkreises nicht gezählt" in text


def test_late_non_utf8_bytes_are_read_as_windows_1252(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the first block is plain ASCII; the first en dash (cp1252 byte 0x96) comes later
    monkeypatch.setattr(zensus, "_SNIFF_BYTES", 256)
    toml = _zensus_region(tmp_path, "zensus.csv", "Einwohner")
    cfg = load_config(toml)
    region = load_region(cfg)
    rows = [(e, n, 7 if k < 400 else None, 10.0, "") for k, (e, n, *_) in
            enumerate(_national_rows(region.boundary, 100, seed=5))]
    _write(cfg.einwohner, rows, res=100, encoding="cp1252")
    cells = read_zensus_grid(cfg.einwohner, column="Einwohner", area=region.boundary, block_size=4096)
    assert cells.encoding == "cp1252" and cells.suppressed == len(rows) - 400
    assert dict(zip(cells.ids, cells.values, strict=True)) == _brute_force(
        rows, region.boundary, res=100, spalte="Einwohner"
    )


# --------------------------------------------------------------------------- validation of every row


def _rows_and_positions(tmp_path: Path) -> tuple[Path, list[Row], shapely.Geometry, int, int]:
    toml = _zensus_region(tmp_path, "zensus.csv", "AnteilAuslaender")
    cfg = load_config(toml)
    boundary = load_region(cfg).boundary
    rows = _national_rows(boundary, 100, seed=11)
    inside = [k for k, (e, n, *_) in enumerate(rows) if boundary.contains(Point(*TO_UTM.transform(e + 50, n + 50)))]
    outside = sorted(set(range(300, len(rows))) - set(inside))
    return cfg.einwohner, rows, boundary, inside[len(inside) // 2], outside[-1]


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_bad_value_names_the_original_line(tmp_path: Path, where: str) -> None:
    path, rows, boundary, k_in, k_out = _rows_and_positions(tmp_path)
    k = k_in if where == "inside" else k_out
    e, n, _, share, note = rows[k]
    rows[k] = (e, n, -1, share, note)  # written as "-1": not a count
    blank_after = 10
    _write(path, rows, res=100, encoding="utf-8", blank_after=blank_after)
    # header line 1, data from line 2, one blank line after data row 10
    line = k + 2 + (1 if k > blank_after else 0)
    assert path.read_text(encoding="utf-8").splitlines()[line - 1].split(";")[3] == "-1"
    with pytest.raises(InputDataError) as exc:
        read_zensus_grid(path, column="AnteilAuslaender", area=boundary, block_size=2048)
    err = exc.value
    assert (err.row, err.column, err.value) == (line, "Einwohner", "-1")
    assert "zensus.csv" in str(err) and f"Zeile {line}" in str(err) and "Zahl ≥ 0" in str(err)


def _replace_field(path: Path, line: int, col: int, value: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    fields = lines[line - 1].split(";")
    fields[col] = value
    lines[line - 1] = ";".join(fields)
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    ("col", "value", "column", "allowed"),
    [
        (0, "CRS3035RES100mN12x", "GITTER_ID_100m", "CRS3035RES100mN2689100E4337000"),
        (0, "CRS3035RES1000mN3300000E4200000", "GITTER_ID_100m", "Gitterweite"),
        (1, "zwölf", "x_mp_100m", "Zahl"),
        (2, "1", "y_mp_100m", "Zellmittelpunkt passt nicht"),
        (3, "12,x", "Einwohner", "Zahl ≥ 0"),
        (4, "120,5", "AnteilAuslaender", "0 bis 100"),
        (4, "nan", "AnteilAuslaender", "Zahl"),
    ],
)
def test_bad_fields(tmp_path: Path, col: int, value: str, column: str, allowed: str) -> None:
    path, rows, boundary, k_in, _ = _rows_and_positions(tmp_path)
    _write(path, rows, res=100, encoding="utf-8")
    line = k_in + 2
    _replace_field(path, line, col, value)
    with pytest.raises(InputDataError) as exc:
        read_zensus_grid(path, column="AnteilAuslaender", area=boundary, block_size=2048)
    err = exc.value
    assert (err.row, err.column, err.value) == (line, column, value)
    assert allowed in str(err)


def test_swapped_centre_columns(tmp_path: Path) -> None:
    path, rows, boundary, *_ = _rows_and_positions(tmp_path)
    _write(path, rows, res=100, encoding="utf-8")
    text = path.read_text(encoding="utf-8").replace("x_mp_100m;y_mp_100m", "y_mp_100m;x_mp_100m")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputDataError, match="Sind x und y vertauscht") as exc:
        read_zensus_grid(path, column="AnteilAuslaender", area=boundary)
    assert exc.value.row == 2


def test_wrong_number_of_fields(tmp_path: Path) -> None:
    path, rows, boundary, k_in, _ = _rows_and_positions(tmp_path)
    _write(path, rows, res=100, encoding="utf-8", blank_after=3)
    line = k_in + 3
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[line - 1] += ";überzählig"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputDataError, match="7 statt 6 Spalten") as exc:
        read_zensus_grid(path, column="AnteilAuslaender", area=boundary, block_size=2048)
    assert exc.value.row == line


def test_duplicate_cell(tmp_path: Path) -> None:
    path, rows, boundary, k_in, k_out = _rows_and_positions(tmp_path)
    rows = [*rows[: k_out + 1], rows[k_in], *rows[k_out + 1 :]]
    _write(path, rows, res=100, encoding="utf-8")
    with pytest.raises(InputDataError, match=f"schon in Zeile {k_in + 2}") as exc:
        read_zensus_grid(path, column="AnteilAuslaender", area=boundary, block_size=2048)
    assert exc.value.row == k_out + 3 and exc.value.column == "GITTER_ID_100m"


def test_missing_share_base_column(tmp_path: Path) -> None:
    toml = _zensus_region(tmp_path, "zensus.csv", "AnteilAuslaender")
    cfg = load_config(toml)
    cfg.einwohner.write_text("GITTER_ID_100m;x_mp_100m;y_mp_100m;AnteilAuslaender\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="Pflichtspalte fehlt") as exc:
        load_residents(cfg, load_region(cfg))
    assert exc.value.column == "Einwohner"


def test_header_only_and_no_cell_in_county(tmp_path: Path) -> None:
    toml = _zensus_region(tmp_path, "zensus.csv", "Einwohner")
    cfg = load_config(toml)
    region = load_region(cfg)
    cfg.einwohner.write_text("GITTER_ID_100m;x_mp_100m;y_mp_100m;Einwohner\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="keine Datenzeilen"):
        load_residents(cfg, region)
    cfg.einwohner.write_text(
        "GITTER_ID_100m;x_mp_100m;y_mp_100m;Einwohner\nCRS3035RES100mN2800000E4400000;4400050;2800050;12\n",
        encoding="utf-8",
    )
    with pytest.raises(InputDataError, match="keine Gitterzelle der Datei liegt im Landkreis"):
        load_residents(cfg, region)


def test_residents_cache_with_zensus(tmp_path: Path) -> None:
    toml = _zensus_region(tmp_path, "zensus.csv", "AnteilAuslaender")
    cfg = load_config(toml)
    rows = _national_rows(load_region(cfg).boundary, 100, seed=2)
    _write(cfg.einwohner, rows, res=100, encoding="utf-8")
    cache = Cache(tmp_path / "cache")
    first = load_inputs(cfg, cache=cache).residents
    hits = cache.hits
    second = load_inputs(cfg, cache=cache).residents
    assert cache.hits > hits
    assert first.equals(second)


# --------------------------------------------------------------------------- points and polygons


def test_neighbours_residents_are_not_counted(tmp_region_points: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config(tmp_region_points)
    with caplog.at_level(logging.WARNING, logger="coverage"):
        res = load_residents(cfg, load_region(cfg))
    # O3 (5 km east of the county) and O5 (Hamburg) are the neighbours' residents
    assert sorted(res["herkunft_id"]) == ["O1", "O2", "O4"]
    assert res["einwohner"].sum() == 120 + 40 + 9
    # O4 lies 400 m outside the county: within the tolerance of generalised borders, nearest Gemeinde
    assert res.set_index("herkunft_id").loc["O4", "mk_ars"] == "039995401"
    assert "2 Zeilen (35 Personen) liegen außerhalb des Landkreises" in caplog.text
    assert "erste: Zeile 4" in caplog.text


@pytest.fixture()
def tmp_region_points(tmp_path: Path) -> Path:
    toml = write_tiny_region(tmp_path / "r")
    pts = {
        "O1": (X0 + 5000, Y0 + 5000, 120),
        "O2": (X0 + 15000, Y0 + 2500, 40),
        "O3": (X0 + 25000, Y0 + 5000, 23),
        "O4": (X0 + 20400, Y0 + 7000, 9),
    }
    lines = ["herkunft_id;lat;lon;einwohner"]
    for key, (x, y, n) in pts.items():
        lon, lat = _lonlat(x, y)
        lines.append(f"{key};{lat:.6f};{lon:.6f};{n}")
    lines.append("O5;53.5511;9.9937;12")  # Hamburg
    (toml.parent / "einwohner.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return toml


def test_swapped_lat_lon_is_an_error(tiny_region: Path) -> None:
    lines = (tiny_region.parent / "einwohner.csv").read_text(encoding="utf-8").splitlines()
    head, o1, o2 = lines
    key, lat, lon, n = o2.split(";")
    (tiny_region.parent / "einwohner.csv").write_text(f"{head}\n{o1}\n{key};{lon};{lat};{n}\n", encoding="utf-8")
    cfg = load_config(tiny_region)
    with pytest.raises(InputDataError, match="vertauscht") as exc:
        load_residents(cfg, load_region(cfg))
    assert exc.value.row == 3 and "außerhalb Deutschlands" in str(exc.value)


def test_no_resident_in_county_is_an_error(tiny_region: Path) -> None:
    (tiny_region.parent / "einwohner.csv").write_text(
        "herkunft_id;lat;lon;einwohner\nH1;53.5511;9.9937;12\nM1;48.137;11.575;8\n", encoding="utf-8"
    )
    cfg = load_config(tiny_region)
    with pytest.raises(InputDataError, match="keine einzige Zeile liegt im Landkreis"):
        load_residents(cfg, load_region(cfg))


# --------------------------------------------------------------------------- real Zensus 2011 cells, model region


def _model_region() -> tuple[Config, Region]:
    cfg = load_config(ROOT / "data" / "rotenburg" / "region.toml")
    return cfg, load_region(cfg)


def _real_2011_100m() -> list[tuple[int, int, int]]:
    with (DATA / "zensus2011_100m_auslaender_lk_rotenburg.csv").open(encoding="utf-8") as fh:
        return [(int(float(r["x"])) - 50, int(float(r["y"])) - 50, int(r["value"])) for r in csv.DictReader(fh)]


@pytest.mark.parametrize("style", ["2022", "2011"])
def test_real_zensus_2011_cells_in_the_model_region(tmp_path: Path, style: str) -> None:
    _, region = _model_region()
    cells = _real_2011_100m()
    assert len(cells) == 944 and sum(v for *_, v in cells) == 4317
    path = tmp_path / "zensus2011.csv"
    if style == "2022":
        lines = ["GITTER_ID_100m;x_mp_100m;y_mp_100m;Auslaender"]
        lines += [f"CRS3035RES100mN{n}E{e};{e + 50};{n + 50};{v}" for e, n, v in cells]
    else:  # Zensus 2011 download layout: ids in units of the cell size, -1 = suppressed
        lines = ["Gitter_ID_100m;x_mp_100m;y_mp_100m;Auslaender"]
        lines += [f"100mN{n // 100}E{e // 100};{e + 50};{n + 50};{v}" for e, n, v in cells]
        lines.append("100mN33000E42700;4270050;3300050;-1")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = {}
    for e, n, v in cells:
        x, y = TO_UTM.transform(e + 50, n + 50)
        if region.boundary.contains(Point(x, y)):
            expected[f"CRS3035RES100mN{n}E{e}" if style == "2022" else f"100mN{n // 100}E{e // 100}"] = v
    got = read_zensus_grid(path, column="Auslaender", area=region.boundary)
    assert dict(zip(got.ids, got.values, strict=True)) == expected
    # the model region's VG250 borders contain every published county cell (VG5000 lost a few)
    assert got.outside_cells == (1 if style == "2011" else 0)  # the added suppressed cell lies outside
    assert got.suppressed == (1 if style == "2011" else 0)


def test_real_zensus_2011_1km_share_in_2011_layout(tmp_path: Path) -> None:
    _, region = _model_region()
    lines = ["Gitter_ID_1km;x_mp_1km;y_mp_1km;Einwohner;AnteilAuslaender"]
    expected = 0.0
    with (DATA / "zensus2011_1km_einwohner_auslaenderanteil_lk_rotenburg.csv").open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            x, y, ew, share = int(r["x"]), int(r["y"]), int(r["Einwohner"]), float(r["Auslaender_A"])
            # Zensus 2011 writes -1 (suppressed) and -9 (no value) as whole numbers
            share_s = str(int(share)) if share in (-1, -9) else r["Auslaender_A"].replace(".", ",")
            lines.append(f"1kmN{(y - 500) // 1000}E{(x - 500) // 1000};{x};{y};{ew};{share_s}")
            ux, uy = TO_UTM.transform(x, y)
            if region.boundary.contains(Point(ux, uy)):
                expected += max(ew, 0) * max(share, 0.0) / 100.0
    path = tmp_path / "zensus2011_1km.csv"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    got = read_zensus_grid(path, column="AnteilAuslaender", area=region.boundary)
    assert got.values.sum() == pytest.approx(expected)
    assert got.suppressed > 0 and got.rows == 2077


def test_model_region_residents_unchanged() -> None:
    cfg, region = _model_region()
    res = load_residents(cfg, region)
    assert len(res) == 1085 and res["einwohner"].sum() == 12590  # Zensus-2011 cells scaled to 12,590


# --------------------------------------------------------------------------- generator of the benchmark


def test_national_generator_embeds_the_model_region(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from _gen_zensus import write_national_zensus
    finally:
        sys.path.remove(str(ROOT / "bench"))
    base = ROOT / "data" / "rotenburg" / "einwohner_gitter100m.csv"
    out = tmp_path / "deutschland.csv"
    info = write_national_zensus(out, n_rows=30_000, seed=1, base_csv=base)
    text = out.read_text(encoding="utf-8").splitlines()
    base_lines = base.read_text(encoding="utf-8").splitlines()
    assert text[0] == base_lines[0] and set(base_lines[1:]) <= set(text[1:])
    assert info["rows"] == len(text) - 1 == 30_000 + 1085
    assert 0.01 < info["suppressed"] / info["rows"] < 0.06
    cfg, region = _model_region()
    own = load_residents(cfg, region)
    cells = read_zensus_grid(out, column="Auslaender", area=region.boundary)
    assert cells.rows == info["rows"] and cells.ids.tolist() == own["herkunft_id"].tolist()
    assert cells.values.tolist() == own["einwohner"].tolist()
    no_base = write_national_zensus(tmp_path / "d1km.csv", n_rows=5_000, seed=2, resolution=1000)
    assert no_base["columns"][3:] == ["Einwohner", "AnteilAuslaender"]
    shares = [ln.split(";")[4] for ln in (tmp_path / "d1km.csv").read_text(encoding="utf-8").splitlines()[1:]]
    assert any("," in v for v in shares) and "–" in shares
