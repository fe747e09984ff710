"""The architecture as tests: the import-linter contracts (layers, Streamlit only in the app,
no cycles), imports at the top of modules, layout-only pages, a light package import and
short functions. See README, "How it is built"."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

from urbanseg_core.errors import MissingDependencyError
from urbanseg_core.lazy import lazy_import, require

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "urbanseg_core"
MAX_FUNCTION_LINES = 60


def _modules(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "sample_data" not in p.parts)


def test_import_linter_contracts_are_kept(monkeypatch):
    monkeypatch.chdir(REPO)
    assert lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True) == 0


def _cycles(graph) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    modules = sorted(graph.modules)
    succ = {m: set(graph.find_modules_directly_imported_by(m)) & graph.modules for m in modules}
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(succ[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = set()
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.add(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(comp)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(succ[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def test_no_import_cycles_between_modules():
    graph = grimp.build_graph("urbanseg_core", cache_dir=None)
    assert _cycles(graph) == []


def _function_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    found.append(f"{path.relative_to(REPO)}:{inner.lineno}")
    return found


def test_imports_sit_at_the_top_of_modules():
    """Optional or heavy packages are imported in functions through lazy_import only."""
    found = [hit for p in _modules(PACKAGE) for hit in _function_imports(p)]
    assert found == []


def test_lazy_import_names_the_package_to_install(monkeypatch):
    with pytest.raises(MissingDependencyError, match="pip install 'no_such_package_xyz'") as err:
        lazy_import("no_such_package_xyz.sub")
    assert isinstance(err.value, ImportError) and err.value.package == "no_such_package_xyz"
    require("numpy")  # installed: no error
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'dask\[distributed\]'"):
        require("distributed")


def test_pages_hold_layout_only():
    """Pages import Streamlit and urbanseg_core.app / urbanseg_core.runs, nothing else."""
    for page in sorted((REPO / "pages").glob("*.py")):
        for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert name == "streamlit" or name.startswith(
                    ("urbanseg_core.app", "urbanseg_core.runs")), (page.name, name)


def test_importing_the_package_is_light():
    code = ("import sys, urbanseg_core; "
            "print(sorted(m for m in ('torch', 'rasterio', 'streamlit', 'numpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == "[]"


def test_functions_are_short():
    """No function over 60 lines."""
    long = []
    for path in _modules(PACKAGE) + sorted((REPO / "pages").glob("*.py")) + [REPO / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length})")
    assert long == []
