"""The package's shape: stage subpackages in data-flow order, no upward imports, no cycles, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1] / "coverage"

LAYERS: dict[str, int] = {
    # base: the package root and cross-cutting helpers
    "coverage": 0, "errors": 0, "_io": 0, "_compat": 0, "_progress": 0,
    "cache": 1,
    "inputs": 2,
    "network": 3,
    "transit": 4,
    "traveltime": 5,
    "analysis": 6,
    "placement": 7,
    "outputs": 8,
    "workflow": 9,
    "cli": 10,
}
MAX_LINES = 800


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        if "_mapassets" in p.parts:
            continue
        rel = p.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "coverage"


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``module`` imports (anywhere in the file, lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


MODULES = _modules()
GRAPH = nx.DiGraph()
for _m, _p in MODULES.items():
    GRAPH.add_node(_m)
    for _t in _imports(_m, _p, set(MODULES)):
        GRAPH.add_edge(_m, _t)


def test_every_module_belongs_to_a_stage() -> None:
    unknown = sorted(m for m in MODULES if _stage(m) not in LAYERS)
    assert not unknown, f"Module außerhalb der Stufen: {unknown}"


def test_no_module_imports_upwards() -> None:
    up = sorted(
        f"{a} -> {b}"
        for a, b in GRAPH.edges
        if LAYERS[_stage(b)] > LAYERS[_stage(a)] and not (_stage(a) == "coverage" and a != "coverage")
    )
    up = [e for e in up if not e.startswith("coverage -> ")]
    assert not up, "Importe gegen den Datenfluss:\n" + "\n".join(up)


def test_no_import_cycles() -> None:
    # a package __init__ re-exporting its modules is not a cycle of the data flow
    g = GRAPH.copy()
    g.remove_edges_from([(a, b) for a, b in GRAPH.edges if MODULES[a].name == "__init__.py" and b.startswith(a + ".")])
    g.remove_edges_from([(a, b) for a, b in GRAPH.edges if MODULES[b].name == "__init__.py" and a.startswith(b + ".")])
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"Importzyklen: {cycles[:5]}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module: str) -> None:
    n = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{module}: {n} Zeilen (höchstens {MAX_LINES})"


def test_no_test_code_in_the_package() -> None:
    assert not [m for m in MODULES if "synthetic" in m or "spopt" in m]
