"""Maps and report without a browser: escaping, privacy (aggregation, suppression), size."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage.outputs._html import esc, esc_props, info_table
from coverage.outputs.maps import (
    CHANGE_LAYER_NAME,
    MAX_MAP_BYTES,
    MapData,
    aggregate_residents,
    course_reach,
    map_jobs,
    municipality_map,
    overview_map,
    render_html,
    write_maps,
)
from coverage.outputs.report import write_report
from coverage.outputs.text import fmt_count
from coverage.traveltime import CourseTravelTimes
from coverage.workflow.changes import CHANGE_COLUMNS, ChangeReport
from tests.synthetic_maps import HOSTILE, county_scale, make_config, make_region

CRS = "EPSG:25832"
X0, Y0 = 500_000.0, 5_870_000.0
RAW_ATTACKS = ("<script>alert", "${alert", "`+alert", "<img src=x", "</script><script>")


# --------------------------------------------------------------------------- escaping


@pytest.mark.parametrize("text", [*HOSTILE, "a & b", "Bremervörde", 'it\'s "quoted"'])
def test_esc_is_inert_and_reversible(text: str) -> None:
    out = esc(text)
    for ch in "<>\"'`$\\":
        assert ch not in out
    assert html.unescape(out) == text


def test_esc_handles_none_nan_numbers_and_newlines() -> None:
    assert esc(None) == ""
    assert esc(float("nan")) == ""
    assert esc(3) == "3"
    assert esc("a\nb\r\tc") == "a b  c"


def test_esc_props_keeps_numbers_escapes_text() -> None:
    props = esc_props({"n": 3, "q": 0.5, "b": True, "t": "<b>${x}</b>", "nan": float("nan"), "<k>": "v"})
    assert props["n"] == 3 and props["q"] == 0.5 and props["b"] is True
    assert props["t"] == "&lt;b&gt;&#36;&#123;x&#125;&lt;/b&gt;"
    assert props["nan"] == ""
    assert "&lt;k&gt;" in props


def test_info_table_escapes_title_labels_values() -> None:
    out = info_table("<script>", [("`x`", "${y}")])
    assert "<script>" not in out and "`" not in out and "${" not in out


def test_fmt_count() -> None:
    assert fmt_count(3, min_count=5) == "< 5"
    assert fmt_count(0, min_count=5) == "0"
    assert fmt_count(1234.4, min_count=5) == "1.234"
    assert fmt_count(1234.4, min_count=5, round_to=10) == "1.230"
    assert fmt_count(float("nan"), min_count=5) == "–"


# --------------------------------------------------------------------------- privacy


def _points(specs: list[tuple[float, float, float]]) -> gpd.GeoDataFrame:
    xs, ys, ws = zip(*specs, strict=True)
    return gpd.GeoDataFrame(
        {"herkunft_id": [f"o{i}" for i in range(len(xs))], "einwohner": ws},
        geometry=gpd.points_from_xy(xs, ys),
        crs=CRS,
    )


def _areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"mk_ars": ["A", "B", "C"]},
        geometry=[
            shapely.box(X0, Y0, X0 + 3000, Y0 + 1000),
            shapely.box(X0, Y0 + 1000, X0 + 3000, Y0 + 2000),
            shapely.box(X0, Y0 + 2000, X0 + 3000, Y0 + 3000),
        ],
        crs=CRS,
    )


def test_aggregate_primary_and_secondary_suppression() -> None:
    pts = _points(
        [
            # A: one small cell (3) -> next-smallest (10) is suppressed too
            (X0 + 500, Y0 + 500, 2.0),
            (X0 + 600, Y0 + 400, 1.0),
            (X0 + 1500, Y0 + 500, 10.0),
            (X0 + 2500, Y0 + 500, 20.0),
            # B: two small cells -> nothing more
            (X0 + 500, Y0 + 1500, 2.0),
            (X0 + 1500, Y0 + 1500, 3.0),
            (X0 + 2500, Y0 + 1500, 50.0),
            # C: one small cell alone -> group flagged
            (X0 + 500, Y0 + 2500, 2.0),
            # an empty cell is not shown
            (X0 + 2500, Y0 + 2500, 0.0),
        ]
    )
    cells = aggregate_residents(pts, cell_m=1000, min_count=5, areas=_areas())
    assert len(cells) == 7
    by = cells.set_index(["gruppe", "ix"])
    a = by.loc["A"]
    assert list(a["grund"]) == ["primär", "sekundär", ""]
    assert a["einwohner"].isna().tolist() == [True, True, False]
    assert list(a["anzeige"]) == ["< 5", "< 5", "20"]
    b = by.loc["B"]
    assert list(b["grund"]) == ["primär", "primär", ""]
    c = by.loc["C"]
    assert bool(c["gruppe_geschuetzt"].iloc[0]) is True
    # the published visible values cannot be differenced to a suppressed cell
    for _, group in cells.groupby("gruppe"):
        n_sup = int(group["unterdrueckt"].sum())
        assert n_sup == 0 or n_sup >= 2 or bool(group["gruppe_geschuetzt"].all())
    assert set(cells.geometry.area.round()) == {1_000_000.0}
    assert cells["zelle_id"].iloc[0].startswith("1kmN")


def test_aggregate_without_areas_and_empty() -> None:
    pts = _points([(X0 + 50, Y0 + 50, 4.0), (X0 + 150, Y0 + 50, 30.0), (X0 + 250, Y0 + 50, 31.0)])
    cells = aggregate_residents(pts, cell_m=100, min_count=5)
    assert list(cells["grund"]) == ["primär", "sekundär", ""]
    assert cells["zelle_id"].iloc[0].startswith("100mN")
    empty = aggregate_residents(pts.iloc[:0], cell_m=100, min_count=5)
    assert len(empty) == 0 and "anzeige" in empty.columns
    with pytest.raises(ValueError):
        aggregate_residents(pts, cell_m=0)


def test_suppressed_counts_never_reach_the_map(tmp_path: Path) -> None:
    config, data = make_region(tmp_path, hostile=False)
    m = overview_map(config, data)
    grid = [c for c in _walk(m) if type(c).__name__ == "GeoJson" and _ids(c).startswith("z")]
    assert len(grid) == 1
    cells = aggregate_residents(data.residents, cell_m=1000, min_count=5, areas=data.mitgliedskommunen)
    feats = grid[0].data["features"]
    assert len(feats) == len(cells)
    for f in feats:
        assert set(f["properties"]) == {"a", "_c", "_s"}
        if f["properties"]["_s"]:
            assert f["properties"]["a"] == "&lt; 5"
    # no raw resident points (100 m cell centres) in the page
    text = render_html(m)
    x, y = data.residents.to_crs("EPSG:4326").geometry.iloc[0].coords[0]
    assert f"{y:.5f}, {x:.5f}" not in text and f"{x:.5f}, {y:.5f}" not in text


def test_session_keeps_parsed_templates_same_bytes(tmp_path: Path) -> None:
    from coverage.cache.session import Session

    config, data = make_region(tmp_path, hostile=True)
    session = Session()
    first = render_html(overview_map(config, data), session=session)
    kept = len(session.templates)
    assert kept > 0
    again = render_html(overview_map(config, data), session=session)
    assert len(session.templates) == kept
    assert first == again == render_html(overview_map(config, data))
    paths = write_maps(config, data, tmp_path / "k", per_municipality=False, session=session)
    assert paths[0].read_bytes() == first.encode("utf-8")


def _walk(el):  # type: ignore[no-untyped-def]
    yield el
    for child in el._children.values():
        yield from _walk(child)


def _ids(gj) -> str:  # type: ignore[no-untyped-def]
    feats = gj.data.get("features", [])
    return str(feats[0].get("id", "")) if feats else ""


def test_course_reach_is_union_of_squares_and_rounded() -> None:
    pts = _points([(X0 + 100, Y0 + 100, 40.0), (X0 + 1100, Y0 + 100, 3.0), (X0 + 5100, Y0 + 100, 100.0)])
    hin = np.array([[[10.0, 50.0], [20.0, 70.0], [90.0, 10.0]]])
    tt = CourseTravelTimes(np.array(["o0", "o1", "o2"]), np.array(["K1", "K2"]), ("oepnv",), hin, hin.copy())
    reach = course_reach(tt, pts.iloc[::-1], minutes={"K1": 30.0, "K2": 60.0}, cell_m=1000, min_count=5)
    r = reach.set_index("kurs_id")
    assert r.loc["K1", "erreichbar"] == 40  # 43 rounded to 10
    assert r.loc["K1", "geometry"].area == pytest.approx(2_000_000)
    assert r.loc["K1", "geometry"].geom_type == "Polygon"  # two adjacent squares merged
    assert r.loc["K2", "minuten"] == 60.0
    assert r.loc["K2", "erreichbar"] == 140
    few = course_reach(tt, pts, minutes=15.0, cell_m=1000, min_count=5).set_index("kurs_id")
    assert few.loc["K2", "anzeige"] == "100"
    none = course_reach(tt, pts, minutes=5.0, cell_m=1000, min_count=5).set_index("kurs_id")
    assert none.loc["K1", "geometry"].is_empty and none.loc["K1", "anzeige"] == "0"
    bad = _points([(X0, Y0, 1.0)]).assign(herkunft_id=["zz"])
    with pytest.raises(ValueError):
        course_reach(tt, bad, minutes=30.0)


# --------------------------------------------------------------------------- files


def test_write_maps_files_and_hostile_text(tmp_path: Path) -> None:
    config, data = make_region(tmp_path, hostile=True)
    paths = write_maps(config, data, tmp_path / "karten")
    names = [p.name for p in paths]
    assert names[0] == "uebersicht.html" and names[-1] == "vorschlaege.html"
    assert sum(n.startswith("mk_") for n in names) == len(data.mitgliedskommunen)
    assert not [p for p in (tmp_path / "karten").iterdir() if p.name.startswith(".")]
    for p in paths:
        text = p.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and '<html lang="de">' in text
        for attack in RAW_ATTACKS:
            assert attack not in text, (p.name, attack)
        assert "Modelldaten:" in text and "keine realen Angaben" in text
        assert "GeoBasis-DE / BKG (2024) &lt;script&gt;" in text
        assert "Kursdaten: synthetisch" in text
        assert (
            "L.control.scale" in text
            and "L.Control.Search" in text
            and "L.control.fullscreen" in text.replace("L.Control.Fullscreen", "L.control.fullscreen")
        )
    over = paths[0].read_text(encoding="utf-8")
    assert over.count('class=\\"ka-kurs\\"') + over.count('class="ka-kurs"') >= 6


def test_no_model_notice_for_real_data(tmp_path: Path) -> None:
    config, data = make_region(tmp_path, modelled=False)
    text = render_html(overview_map(config, data))
    assert "Modelldaten:" not in text


def test_minimal_inputs(tmp_path: Path) -> None:
    config, data = make_region(tmp_path)
    only_mk = MapData(mitgliedskommunen=data.mitgliedskommunen)
    paths = write_maps(config, only_mk, tmp_path / "k", per_municipality=False)
    assert [p.name for p in paths] == ["uebersicht.html"]
    assert "Mitgliedskommunen" in paths[0].read_text(encoding="utf-8")


def test_overview_size_limit_at_county_scale(tmp_path: Path) -> None:
    config, data = county_scale(tmp_path)
    text = render_html(overview_map(config, data))
    size = len(text.encode("utf-8"))
    assert size <= MAX_MAP_BYTES, size
    coords = re.findall(r"\[(\d+\.\d+), (\d+\.\d+)\]", text[:2_000_000])
    assert coords and all(len(a.split(".")[1]) <= 6 and len(b.split(".")[1]) <= 6 for a, b in coords[:2000])


# --------------------------------------------------------------------------- change layer


def change_report(data: MapData, *, previous: str = "2027-03-01T08-15-30Z") -> ChangeReport:
    """A change report for a synthetic region: in the first Mitgliedskommune a gap closed at A1,
    in the second (hostile name) one opened, the third unchanged; one course added, one removed
    (both placed) and one online course changed (no place)."""
    mk = data.mitgliedskommunen
    rows = []
    for i, (ars, name) in enumerate(zip(mk["mk_ars"], mk["mk_name"], strict=True)):
        for lv in ("A1", "B1"):
            if i == 0 and lv == "A1":
                vals = (3.0, 40.0, 0.05, 0.85, "ja", "nein", "geschlossen")
            elif i == 1 and lv == "A1":
                vals = (50.0, 45.0, 0.9, 0.7, "nein", "ja", "neu geöffnet")
            else:
                vals = (20.0, 20.0, 0.5, 0.5, "ja", "ja", "unverändert")
            vb, va, qb, qa, lb, la, st = vals
            rows.append(dict(zip(CHANGE_COLUMNS, (name, ars, lv, vb, va, qb, qa, qa - qb, lb, la, st), strict=True)))
    pts = mk.geometry.representative_point().to_crs("EPSG:4326")
    courses = pd.DataFrame(
        [
            {"Kurs-ID": "K900", "Änderung": "neu", "Niveaus": "A1", "Kursort": "Ort <script>alert(1)</script>",
             "Details": ""},
            {"Kurs-ID": "K001", "Änderung": "entfernt", "Niveaus": "B1", "Kursort": "Ort `x` ${y}", "Details": ""},
            {"Kurs-ID": "ONLINE1", "Änderung": "geändert", "Niveaus": "B1", "Kursort": "",
             "Details": "beginn: 08:30 → 09:00 <img src=x onerror=alert(5)>"},
        ]
    )
    locations = pd.DataFrame(
        {"Kurs-ID": ["K900", "K001", "ONLINE1"], "lat": [pts.iloc[0].y, pts.iloc[1].y, np.nan],
         "lon": [pts.iloc[0].x, pts.iloc[1].x, np.nan]}
    )
    return ChangeReport(previous=Path(previous), table=pd.DataFrame(rows), courses=courses, locations=locations)


def _change_group(m):  # type: ignore[no-untyped-def]
    groups = [c for c in _walk(m) if type(c).__name__ == "FeatureGroup" and c.layer_name == esc(CHANGE_LAYER_NAME)]
    return groups[0] if groups else None


def test_change_layer_content(tmp_path: Path) -> None:
    config, data = make_region(tmp_path, hostile=True)
    m = overview_map(config, replace(data, changes=change_report(data)))
    group = _change_group(m)
    assert group is not None and group.show is False  # toggleable, hidden at first
    areas = [c for c in _walk(group) if type(c).__name__ == "GeoJson"]
    assert len(areas) == 1
    feats = {f["properties"]["Mitgliedskommune"]: f["properties"] for f in areas[0].data["features"]}
    names = list(data.mitgliedskommunen["mk_name"])
    assert set(feats) == {esc(names[0]), esc(names[1])}  # the unchanged third is not drawn
    closed, opened = feats[esc(names[0])], feats[esc(names[1])]
    assert closed["art"] == "Lücke geschlossen" and closed["_c"] == "#1a9641"
    assert opened["art"] == "Lücke neu geöffnet" and opened["_c"] == "#d7191c"
    # before/after in German, small counts suppressed, the escaped lines joined by <br>
    assert closed["d"] == "A1: 5 % → 85 % (versorgt &lt; 5 → 40), Lücke geschlossen"
    assert opened["d"].startswith("A1: 90 % → 70 % (versorgt 50 → 45), Lücke neu geöffnet")
    assert "&lt;b&gt;Fett&lt;/b&gt;" in opened["Mitgliedskommune"]
    markers = [c for c in _walk(group) if type(c).__name__ == "Marker"]
    assert len(markers) == 2  # the online course has no place
    text = render_html(m)
    for attack in RAW_ATTACKS:
        assert attack not in text, attack
    assert "Ort &amp;lt;script&amp;gt;" in text or "Ort &lt;script&gt;" in text
    assert "1 geänderte(r) Kurs(e) ohne Kursort" in text and "Lauf vom 01.03.2027" in text


def test_change_layer_only_with_a_previous_run(tmp_path: Path) -> None:
    config, data = make_region(tmp_path)
    report = change_report(data)
    none = ChangeReport(previous=None, table=report.table.assign(Status="ohne Vergleich"))
    assert _change_group(overview_map(config, replace(data, changes=none))) is None
    assert CHANGE_LAYER_NAME not in render_html(overview_map(config, data))
    # the maps per Mitgliedskommune never show it (so they stay unchanged between runs)
    ars = data.mitgliedskommunen["mk_ars"].iloc[0]
    assert _change_group(municipality_map(config, replace(data, changes=report), ars)) is None
    # a previous run without changes: the layer exists, the legend says so
    same = ChangeReport(previous=report.previous, table=report.table.assign(**{"Änderung": 0.0, "Status": "unverändert",
                        "Versorgungsquote nachher": report.table["Versorgungsquote vorher"]}))
    m = overview_map(config, replace(data, changes=same))
    assert _change_group(m) is not None
    assert "keine Änderungen bei Kursen und Versorgung" in render_html(m)


# --------------------------------------------------------------------------- keys and rendering


def test_map_keys_are_stable_and_follow_the_content(tmp_path: Path) -> None:
    config, data = make_region(tmp_path, n_mk=3)
    jobs = map_jobs(config, data)
    again = map_jobs(config, data)
    assert [j.key for j in jobs] == [j.key for j in again]
    assert jobs[0].render() == again[0].render()  # same content, same bytes (no random element ids)
    # a renamed course changes the overview and the maps showing it, nothing else
    courses = data.courses.copy()
    courses.loc[0, "kursname"] = "Neuer Name"
    changed = map_jobs(config, replace(data, courses=courses))
    shown = {j.name for j in jobs if "Kurs 0 " in j.render() or "Kurs 0<" in j.render()}
    differs = {a.name for a, b in zip(jobs, changed, strict=True) if a.key != b.key}
    assert "uebersicht.html" in differs and differs == shown | {"uebersicht.html"}
    assert len(differs) < len(jobs)


def test_template_syntax_in_user_text_is_shown_as_text(tmp_path: Path) -> None:
    config, data = make_region(tmp_path)
    courses = data.courses.copy()
    courses.loc[0, "kursname"] = "Kurs {{ 7*7 }} {% raw %}"
    text = render_html(overview_map(config, replace(data, courses=courses)))
    assert "Kurs &#123;&#123; 7*7 &#125;&#125; &#123;% raw %&#125;" in text  # shown as typed in the browser
    assert "Kurs 49" not in text


# --------------------------------------------------------------------------- report


def test_report_escapes_and_contains_sections(tmp_path: Path) -> None:
    config, data = make_region(tmp_path, hostile=True)
    marginal = pd.DataFrame({"Anzahl Kurse": [0, 1, 2, 3], "neu versorgt": [0, 40, 70, 85]})
    assumptions = pd.DataFrame(
        {"Annahme": ["Gehgeschwindigkeit", "<script>alert(1)</script>"], "Wert": ["4,5 km/h", "x"]}
    )
    path = write_report(
        config,
        directory=tmp_path / "erg",
        gaps=data.gaps,
        proposals=data.proposals,
        marginal=marginal,
        assumptions=assumptions,
        courses=data.courses,
    )
    text = path.read_text(encoding="utf-8")
    assert path.name == "bericht.html"
    # the report has no JavaScript at all, so only HTML metacharacters matter there
    assert "<script" not in text.lower() and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("data:image/png;base64,") == 1 and text.count("data:image/svg+xml;base64,") == 1
    svg = base64.b64decode(text.split("data:image/svg+xml;base64,")[1].split('"')[0]).decode("utf-8")
    assert svg.startswith("<svg") and "Gemeinde &lt;b&gt;Fett&lt;/b&gt; &amp; `x` ${y}" in svg
    for heading in ("Kennzahlen", "Versorgungslücken", "Vorschläge", "Annahmen", "Datenquellen", "Modelldaten:"):
        assert heading in text
    assert "@media print" in text
    assert "http" not in text.split("<body>")[0]  # self-contained: nothing loaded from the network
    assert "&lt; 5" in text or "< 5" not in text  # suppressed counts are escaped text


def test_report_without_optional_parts(tmp_path: Path) -> None:
    config = make_config(tmp_path, modelled=False)
    text = write_report(config, directory=tmp_path).read_text(encoding="utf-8")
    assert "Keine Lückentabelle" in text and "Modelldaten:" not in text


def test_rufbus_zones_layer_on_the_overview_only(tmp_path: Path) -> None:
    """Rufbus (#17): the zones are a hidden layer of the overview; the booking text is escaped."""
    config, data = make_region(tmp_path, hostile=False)
    mk = data.mitgliedskommunen.to_crs("EPSG:25832")
    c = mk.geometry.iloc[0].centroid
    zones = gpd.GeoDataFrame(
        {"zone_id": ["z1"], "linie": ["RB 1"], "buchung": ['<b>Anruf</b> & "bis" 60 Min.']},
        geometry=[c.buffer(1500)],
        crs="EPSG:25832",
    )
    m = overview_map(config, replace(data, rufbus_zones=zones, rufbus_modelliert=True))
    layer = [g for g in _walk(m) if type(g).__name__ == "GeoJson" and _ids(g).startswith("rb")]
    assert len(layer) == 1
    (feat,) = layer[0].data["features"]
    assert feat["properties"]["z"] == "Rufbus-Zone (modelliert)"
    assert feat["properties"]["b"] == esc('<b>Anruf</b> & "bis" 60 Min.')
    text = render_html(m)
    assert "Rufbus-Zonen" in text and "<b>Anruf</b>" not in text
    # without zones the overview has no such layer; the Mitgliedskommune maps never do
    assert "Rufbus-Zonen" not in render_html(overview_map(config, data))
    ars = str(data.mitgliedskommunen["mk_ars"].iloc[0])
    assert "Rufbus-Zonen" not in render_html(municipality_map(config, replace(data, rufbus_zones=zones), ars))


def test_rufbus_share_in_the_tooltips_only_with_the_column(tmp_path: Path) -> None:
    """Rufbus (#17): the MK tooltips show the published count and share of "nur mit Rufbus erreichbar"."""
    config, data = make_region(tmp_path, hostile=False)
    gaps = data.gaps.copy()
    gaps["nur mit Rufbus erreichbar"] = np.where(np.arange(len(gaps)) % 2 == 0, 3.0, 12.0)
    m = overview_map(config, replace(data, gaps=gaps))
    quote = [g for g in _walk(m) if type(g).__name__ == "GeoJson" and _ids(g).startswith("q")]
    props = [f["properties"] for g in quote for f in g.data["features"]]
    assert props and all("rb" in p for p in props)
    for p in props:
        count = p["rb"].split(" (")[0]
        assert count in {esc("< 5"), "0"} or int(count.replace(".", "")) % 10 == 0, p["rb"]
    assert "nur mit Rufbus erreichbar" in render_html(m)
    plain = overview_map(config, data)
    assert not any("rb" in f["properties"] for g in _walk(plain) if type(g).__name__ == "GeoJson"
                   for f in g.data.get("features", []))
