"""Disclosure control, tested by attack.

The unit tests pin down :class:`coverage.analysis.disclosure.DisclosurePolicy`. The attack
tests run the whole pipeline (the model region, and a copy whose residents are
scaled down so that most cells are small), read **every** output a planner could
pass on (CSV, XLSX, both GeoPackages, the report, the overview map's tooltips,
the change report, the proposals, the run archive) and try to recover suppressed
counts:

* a visible small number (0 < x < mindestanzahl) anywhere;
* the same count published differently in two outputs (two roundings of one
  value narrow it down);
* a share shown next to a suppressed count (Bedarf × Versorgungsquote);
* sums and differences: for each Mitgliedskommune, a linear programme over all
  published numbers and the identities that hold between them (versorgt +
  unversorgt = Bedarf, the "davon" columns sum to unversorgt, the totals over all
  levels in the map, the parts of a proposal sum to its expected participants)
  computes the interval each suppressed value can still take. The attack fails
  only if every interval still covers the whole suppressed range (0, mindestanzahl)
  up to half a person at either end.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from coverage.analysis.disclosure import DisclosurePolicy
from coverage.cli import DEMO_CONFIG
from coverage.inputs.config import load_config
from coverage.workflow.pipeline import run

M = 5  # mindestanzahl of the runs below
BASE = 2 * M
ZERO = 1e-9  # only exact zeros (up to float noise) are published as 0

COUNTS = ["Bedarf", "erreichbar", "versorgt", "unversorgt", "davon: kein Kurs erreichbar", "davon: kein Rückweg",
          "davon: Termin passt nicht", "davon: keine Kinderbetreuung", "davon: Kurs voll",
          "zusätzlich online versorgbar", "außerhalb des Kreises versorgt", "durch neuen Kurs versorgbar",
          "nur mit Rufbus erreichbar"]  # the last only in regions with on-demand service (the model region)
DAVON = [c for c in COUNTS if c.startswith("davon")]


# --------------------------------------------------------------------------- the policy itself


@given(st.floats(min_value=0, max_value=5000, allow_nan=False), st.integers(min_value=3, max_value=20))
@settings(derandomize=True, max_examples=300)
def test_policy_suppresses_rounds_and_stays_close(x: float, m: int) -> None:
    p = DisclosurePolicy(m)
    out = p.count(x)
    if ZERO <= x < m:
        assert out is None and p.text(x) == f"< {m}"
    elif x < ZERO:
        assert out == 0.0
    else:
        assert out is not None and out % (2 * m) == 0 and abs(out - x) <= m + 1e-9 and out >= 2 * m


def test_policy_refuses_small_thresholds() -> None:
    for m in (0, 1, 2):
        with pytest.raises(ValueError, match="mindestanzahl"):
            DisclosurePolicy(m)


@given(st.lists(st.floats(min_value=0, max_value=60, allow_nan=False), min_size=2, max_size=6))
@settings(derandomize=True, max_examples=150)
def test_a_total_minus_its_visible_parts_reveals_nothing(parts: list[float]) -> None:
    """Any hidden part of a published total keeps the whole range (0, m) under the LP attack."""
    p = DisclosurePolicy(M)
    total = sum(parts)
    rows = [{"value": p.count(x), "hidden": bool(p.is_hidden(np.array([x]))[0])} for x in [*parts, total]]
    n = len(parts)
    bounds = [_bounds(r) for r in rows]
    eq = np.zeros((1, n + 1))
    eq[0, :n] = 1.0
    eq[0, n] = -1.0
    for i, r in enumerate(rows):
        if r["hidden"]:
            lo, hi = _interval(i, bounds, a_eq=eq, b_eq=np.zeros(1), tol=0.0)
            assert _covers(lo, hi), (parts, i, lo, hi)


# --------------------------------------------------------------------------- LP machinery

SLACK = 0.5
"""The attack fails if the suppressed range is still open up to half a person at both ends (the tables
print 0.1 persons; values under 0.05 count as 0, so sums of several hidden parts lose a few hundredths)."""


def _covers(lo: float, hi: float) -> bool:
    """True when [lo, hi] still reaches within :data:`SLACK` of both ends of (0, M)."""
    return lo <= SLACK and hi >= M - SLACK


def _bounds(cell: dict) -> tuple[float, float]:
    """Where a true value can lie, given what is published about it."""
    if cell["hidden"]:
        return (ZERO, M - 1e-9)
    v = cell["value"]
    if v is None:
        return (0.0, 1e6)  # not published at all
    if v == 0:
        return (0.0, ZERO)
    return (max(M, v - BASE / 2), v + BASE / 2)


def _interval(i: int, bounds: list[tuple[float, float]], *, a_eq: np.ndarray | None = None,
              b_eq: np.ndarray | None = None, a_ub: np.ndarray | None = None, b_ub: np.ndarray | None = None,
              tol: float) -> tuple[float, float]:
    """Smallest and largest value variable ``i`` can take (equalities hold up to ``tol``)."""
    n = len(bounds)
    c = np.zeros(n)
    c[i] = 1.0
    ub_a, ub_b = [], []
    if a_eq is not None:  # |A x − b| ≤ tol as two inequalities (the tables round each value to 0.1)
        ub_a += [a_eq, -a_eq]
        ub_b += [b_eq + tol, -(b_eq - tol)]
    if a_ub is not None:
        ub_a.append(a_ub)
        ub_b.append(b_ub)
    kw = {"A_ub": np.vstack(ub_a), "b_ub": np.concatenate(ub_b)} if ub_a else {}
    lo = linprog(c, bounds=bounds, method="highs", **kw)
    hi = linprog(-c, bounds=bounds, method="highs", **kw)
    assert lo.status == 0 and hi.status == 0, "published numbers are inconsistent with the true ones"
    return float(lo.fun), float(-hi.fun)


def _cell(text: object) -> dict:
    """A published table cell: hidden (``< 5``), a number, or nothing."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return {"hidden": False, "value": None}
    s = str(text).strip()
    if s.startswith("<"):
        return {"hidden": True, "value": None}
    if s in ("", "–", "-"):
        return {"hidden": False, "value": None}
    return {"hidden": False, "value": float(s.replace(".", "").replace(",", ".")) if isinstance(text, str)
            else float(text)}


# --------------------------------------------------------------------------- reading every output


class _Tables(HTMLParser):
    """The text of every ``<table id=…>`` of an HTML page: id → rows of cell texts (header first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._id: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._id = dict(attrs).get("id") or f"t{len(self.tables)}"
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._id:
            self.tables[self._id].append(self._row)
            self._row = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


_MAP_PROPS = re.compile(r'\{[^{}]*"niv": "[^"]*"[^{}]*\}')
"""The properties object of one Mitgliedskommune × level in the overview map (flat JSON)."""


def _outputs(out: Path, names: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Every published gap table, keyed by where it was found; each indexed by (ARS, Niveau)."""
    res = out / "ergebnisse"
    found: dict[str, pd.DataFrame] = {}
    csv = pd.read_csv(res / "luecken.csv", sep=";", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    found["luecken.csv"] = csv
    found["luecken.xlsx"] = pd.read_excel(res / "luecken.xlsx", sheet_name="Lücken", dtype=object)
    found["luecken.gpkg"] = pd.DataFrame(gpd.read_file(res / "luecken.gpkg").drop(columns="geometry"))
    found["kursatlas.gpkg"] = pd.DataFrame(gpd.read_file(res / "kursatlas.gpkg", layer="luecken")
                                           .drop(columns="geometry"))
    for archive in sorted((res / "laeufe").glob("*/luecken.csv")):
        found[f"archiv {archive.parent.name}"] = pd.read_csv(archive, sep=";", dtype=str, encoding="utf-8-sig",
                                                            keep_default_na=False)
    parser = _Tables()
    parser.feed((res / "bericht.html").read_text(encoding="utf-8"))
    header, *rows = parser.tables["luecken"]
    found["bericht.html"] = pd.DataFrame(rows, columns=header)
    by_name = {v: k for k, v in names.items()}
    if "rangliste" in parser.tables:  # the ranked gaps: counts only (its share is checked in the full table)
        header, *rows = parser.tables["rangliste"]
        ranked = pd.DataFrame(rows, columns=header)
        assert ranked["Rang"].tolist() == [str(i) for i in range(1, len(ranked) + 1)]
        found["bericht.html rangliste"] = ranked.assign(ARS=ranked["Mitgliedskommune"].map(by_name))[
            ["ARS", "Niveau", *[c for c in COUNTS if c in ranked.columns]]]
    text = (out / "karten" / "uebersicht.html").read_text(encoding="utf-8")
    recs = []
    for obj in _MAP_PROPS.findall(text):
        p = {k: html.unescape(v) if isinstance(v, str) else v for k, v in json.loads(obj).items()}
        if "Mitgliedskommune" in p and "b" in p:
            recs.append({"ARS": by_name[p["Mitgliedskommune"]], "Niveau": p["niv"], "Bedarf": p["b"],
                         "versorgt": p["v"], "unversorgt": p["u"], "Versorgungsquote": p["q"],
                         "durch neuen Kurs versorgbar": p.get("n", ""),
                         **({"nur mit Rufbus erreichbar": p["rb"].split(" (")[0]} if "rb" in p else {})})
    assert recs, "no tooltips found in the overview map"
    found["uebersicht.html"] = pd.DataFrame(recs)
    for key, df in found.items():
        df["ARS"] = df["ARS"].astype(str)
        found[key] = df.set_index(["ARS", "Niveau"])
    return found


def _shown(value: object) -> str:
    """Canonical text of a published count for comparison across outputs."""
    c = _cell(value)
    if c["hidden"]:
        return "<"
    return "" if c["value"] is None else f"{c['value']:g}"


def _attack(out: Path, names: dict[str, str]) -> dict[str, int]:
    """Try every attack; return counts of what was checked (for the test's own sanity checks)."""
    found = _outputs(out, names)
    base = found["luecken.csv"]
    stats = {"hidden": 0, "lp": 0, "shown": 0}
    # 1. every shown count is 0 or a multiple of the base ≥ the base; never a small number
    for key, df in found.items():
        for col in COUNTS:
            if col not in df.columns:
                continue
            for v in df[col]:
                c = _cell(v)
                if c["value"] is not None:
                    stats["shown"] += 1
                    assert c["value"] == 0 or (c["value"] >= BASE and c["value"] % BASE == 0), (key, col, v)
    # 2. one value, one published form: every output agrees with luecken.csv
    for key, df in found.items():
        for col in COUNTS:
            if col not in df.columns:
                continue
            for idx in df.index:
                if idx[1] not in ("Alpha", "A1", "A2", "B1", "B2", "C1"):
                    continue
                a, b = _shown(base.loc[idx, col]), _shown(df.loc[idx, col])
                if key.endswith(".gpkg") and a == "<":
                    assert b == "", (key, idx, col, df.loc[idx, col])  # NULL in the GeoPackage
                else:
                    assert a == b, (key, idx, col, base.loc[idx, col], df.loc[idx, col])
    # 3. a share is only shown where both counts are published, and then it is their ratio
    for key, df in found.items():
        if "Versorgungsquote" not in df.columns:
            continue
        for idx in df.index:
            q = df.loc[idx, "Versorgungsquote"]
            qs = str(q).strip()
            has_q = not (q is None or (isinstance(q, float) and np.isnan(q)) or qs in ("", "–", "nan", "None"))
            b, v = _cell(df.loc[idx, "Bedarf"]), _cell(df.loc[idx, "versorgt"])
            if b["hidden"] or v["hidden"]:
                assert not has_q, (key, idx, q)
            elif has_q and b["value"]:
                share = float(qs.rstrip(" %").replace(",", ".")) / (100 if qs.endswith("%") else 1)
                assert share == pytest.approx(v["value"] / b["value"], abs=0.006), (key, idx, q)
    # 4. numbers in the reasons are published numbers
    for text in base["Begründung"]:
        for n in re.findall(r"(?<!als )(?<!unter )(\d[\d.]*) Personen|\((\d[\d.]*)\)", text):
            value = float((n[0] or n[1]).replace(".", ""))
            assert value == 0 or value % BASE == 0, text
    # 5. sums and differences: one LP per Mitgliedskommune over its six levels and the map's totals
    totals = found["uebersicht.html"].xs("alle Niveaus", level="Niveau")
    for ars in pd.unique(base.index.get_level_values(0)):
        rows = base.loc[ars]
        cells: list[dict] = []
        pos: dict[tuple[str, str], int] = {}
        for lv, r in rows.iterrows():
            for col in COUNTS:
                if col not in rows.columns:
                    continue
                pos[(lv, col)] = len(cells)
                cells.append(_cell(r[col]))
        total_cols = [c for c in ("Bedarf", "versorgt", "unversorgt", "nur mit Rufbus erreichbar")
                      if c in totals.columns and (rows.index[0], c) in pos]
        for col in total_cols:
            pos[("alle", col)] = len(cells)
            cells.append(_cell(totals.loc[ars, col]))
        n = len(cells)
        eq, le = [], []
        for lv in rows.index:
            def row(*terms: tuple[str, float], lv: str = lv, n: int = n,
                    pos: dict[tuple[str, str], int] = pos) -> np.ndarray:
                a = np.zeros(n)
                for col, w in terms:
                    a[pos[(lv, col)]] += w
                return a

            eq.append(row(("versorgt", 1), ("unversorgt", 1), ("Bedarf", -1)))
            eq.append(row(*((d, 1.0) for d in DAVON), ("unversorgt", -1)))
            le += [row(("erreichbar", 1), ("Bedarf", -1)), row(("versorgt", 1), ("erreichbar", -1)),
                   row(("zusätzlich online versorgbar", 1), ("versorgt", -1)),
                   row(("außerhalb des Kreises versorgt", 1), ("versorgt", -1)),
                   row(("durch neuen Kurs versorgbar", 1), ("unversorgt", -1))]
            if (lv, "nur mit Rufbus erreichbar") in pos:  # counted as reachable (rufbus_erreichbar = true)
                le.append(row(("nur mit Rufbus erreichbar", 1), ("erreichbar", -1)))
        for col in total_cols:
            a = np.zeros(n)
            for lv in rows.index:
                a[pos[(lv, col)]] = 1.0
            a[pos[("alle", col)]] = -1.0
            eq.append(a)
        bounds = [_bounds(c) for c in cells]
        a_eq = np.vstack(eq)
        for i, c in enumerate(cells):
            if not c["hidden"]:
                continue
            stats["hidden"] += 1
            lo, hi = _interval(i, bounds, a_eq=a_eq, b_eq=np.zeros(len(eq)), a_ub=np.vstack(le),
                               b_ub=np.full(len(le), 0.15), tol=0.35)
            stats["lp"] += 1
            assert _covers(lo, hi), (ars, i, lo, hi)
    return stats


def _attack_proposals(out: Path) -> int:
    """The parts of a proposal ('Teilnehmende nach Mitgliedskommune') do not reveal a hidden part."""
    path = out / "ergebnisse" / "vorschlaege.csv"
    if not path.is_file():
        return 0
    props = pd.read_csv(path, sep=";", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    checked = 0
    for _, r in props.iterrows():
        total = _cell(r["erwartete Teilnehmende"])
        parts = [_cell(p.rsplit(" ", 2)[-1] if "<" not in p else "< 5") for p in r["Teilnehmende nach Mitgliedskommune"]
                 .split("; ") if p]
        for c in [total, *parts]:
            assert c["hidden"] or c["value"] is None or c["value"] == 0 or c["value"] % BASE == 0, r.to_dict()
        for n in re.findall(r"(?<!als )(?<!unter )(\d[\d.]*) Personen|\((\d[\d.]*) erwartet", r["Begründung"]):
            value = float((n[0] or n[1]).replace(".", ""))
            assert value == 0 or value % BASE == 0, r["Begründung"]
        cells = [*parts, total]
        k = len(parts)
        bounds = [_bounds(c) for c in cells] + [(0.0, 0.05 * 13)]  # parts under 0.05 are left out of the text
        a = np.zeros((1, k + 2))
        a[0, :k] = 1.0
        a[0, k] = -1.0
        a[0, k + 1] = 1.0
        for i, c in enumerate(parts):
            if c["hidden"]:
                lo, hi = _interval(i, bounds, a_eq=a, b_eq=np.zeros(1), tol=0.1)
                checked += 1
                assert _covers(lo, hi), (r["Kurs-ID"], i, lo, hi)
    return checked


def _copy(tmp: Path, *, scale: float | None = None) -> Path:
    shutil.copytree(DEMO_CONFIG.parent, tmp / "region", ignore=shutil.ignore_patterns(".kursatlas-cache"))
    toml = tmp / "region" / "region.toml"
    text = toml.read_text(encoding="utf-8").replace('karten = "../../maps"', 'karten = "../karten"')
    toml.write_text(text.replace('ergebnisse = "../../results"', 'ergebnisse = "../ergebnisse"'), encoding="utf-8")
    if scale is not None:
        f = tmp / "region" / "einwohner_gitter100m.csv"
        df = pd.read_csv(f, sep=";", dtype=str, encoding="utf-8-sig")
        col = df.columns[-1]
        df[col] = (pd.to_numeric(df[col].str.replace(",", "."), errors="coerce") * scale).round(2).astype(str)
        df.to_csv(f, sep=";", index=False, encoding="utf-8")
    return toml


@pytest.fixture(scope="module")
def model_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("angriff")
    toml = _copy(tmp)
    result = run(load_config(toml), proposals=True)
    run(load_config(toml), proposals=True)  # a second run: change report and a second archive entry
    return tmp, result.inputs.region.mk_names()


def test_attack_on_every_output_of_the_model_region(model_run: tuple[Path, dict[str, str]]) -> None:
    out, names = model_run
    stats = _attack(out, names)
    assert stats["hidden"] > 20 and stats["lp"] == stats["hidden"] and stats["shown"] > 500
    assert _attack_proposals(out) >= 0


def test_change_report_and_course_sheet_publish_only_rounded_counts(model_run: tuple[Path, dict[str, str]]) -> None:
    out, _ = model_run
    res = out / "ergebnisse"
    changes = pd.read_csv(res / "aenderungen.csv", sep=";", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    for col in ("versorgt vorher", "versorgt nachher"):
        for v in changes[col]:
            c = _cell(v)
            assert c["hidden"] or c["value"] is None or c["value"] == 0 or c["value"] % BASE == 0, (col, v)
    assert (changes["versorgt vorher"] != "").any()
    kurse = pd.read_excel(res / "luecken.xlsx", sheet_name="Kurse", dtype=object)
    for col in ("zugeordnete Personen", "Personen, die den Kurs erreichen"):
        for v in kurse[col]:
            c = _cell(v)
            assert c["hidden"] or c["value"] is None or c["value"] == 0 or c["value"] % BASE == 0, (col, v)
    layer = gpd.read_file(res / "kursatlas.gpkg", layer="aenderungen")
    assert set(layer["versorgt nachher"]) <= {*(str(v) for v in range(0, 100000, BASE)), "< 5", ""}
    curve = pd.read_csv(res / "grenznutzen.csv", sep=";", dtype=str, encoding="utf-8-sig")
    for v in curve["neu versorgte Personen"]:
        assert float(v.replace(",", ".")) % BASE == 0


def test_results_folder_holds_no_raw_counts(model_run: tuple[Path, dict[str, str]]) -> None:
    out, _ = model_run
    res = out / "ergebnisse"
    assert not any(p.name.startswith(".cache") for p in res.iterdir())
    assert not list(res.rglob("*.kcache")) and not list((out / "karten").rglob("*.kcache"))
    assert list((out / "region" / ".kursatlas-cache").rglob("*.kcache")), "the cache lives next to the inputs"


def test_attack_on_a_region_with_many_small_cells(tmp_path: Path) -> None:
    toml = _copy(tmp_path, scale=0.08)
    result = run(load_config(toml), proposals=False)
    stats = _attack(tmp_path, result.inputs.region.mk_names())
    g = result.coverage.gaps
    small = ((g["Bedarf"] > 0) & (g["Bedarf"] < M)).sum()
    assert small > 20, "the scaled region must really have many small cells"
    assert stats["hidden"] > 100 and stats["lp"] == stats["hidden"]
