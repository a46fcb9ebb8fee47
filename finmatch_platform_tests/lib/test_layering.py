"""The package's layers, read from its import statements.

- The simulator stands in for the bank's systems and vendors; it shares with the platform only
  the landing-zone contract, the settings both read from one environment, and a GC helper.
- The platform reaches the simulator only through the synthetic assets and their resource.
- ``lib/`` is pure Python: no Dagster, and nothing from the layers above it.
- No module imports itself back, however long the way round (an import cycle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from finmatch_platform_tests.helpers.core import REPO_ROOT

PACKAGE = "finmatch_platform"
ROOT = REPO_ROOT / PACKAGE

SIMULATOR_MAY_IMPORT = (
    f"{PACKAGE}.simulator",
    f"{PACKAGE}.landing_zone",
    f"{PACKAGE}.settings",
    f"{PACKAGE}.lib.gc_pause",
)
SIMULATOR_IMPORTERS = {f"{PACKAGE}.assets.synthetic", f"{PACKAGE}.resources.synthetic"}
LIB_MAY_IMPORT = (f"{PACKAGE}.lib", f"{PACKAGE}.landing_zone", f"{PACKAGE}.settings")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, *, top_level_only: bool) -> Iterator[str]:
    """Absolute names of what ``module`` imports (at import time only, when ``top_level_only``)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(nodes: list[ast.stmt]) -> Iterator[ast.stmt]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            yield node
            if isinstance(node, ast.If | ast.Try | ast.With):
                for block in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, block, []):
                        yield from walk(child.body if isinstance(child, ast.ExceptHandler) else [child])
            elif not top_level_only and isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                yield from walk(node.body)

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in walk(tree.body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base


def _violations(modules: list[str], allowed: tuple[str, ...], *, scope: str = PACKAGE) -> list[str]:
    found = []
    for module in modules:
        for name in _imports(module, top_level_only=False):
            if (name == scope or name.startswith(scope + ".")) and not name.startswith(allowed):
                found.append(f"{module} imports {name}")
    return found


def test_the_simulator_shares_only_the_landing_zone_contract_and_settings_with_the_platform():
    simulator = [m for m in MODULES if m.startswith(f"{PACKAGE}.simulator")]
    assert len(simulator) > 10
    assert _violations(simulator, SIMULATOR_MAY_IMPORT) == []


def test_the_platform_reaches_the_simulator_only_through_the_synthetic_assets():
    platform = [m for m in MODULES if not m.startswith(f"{PACKAGE}.simulator") and m not in SIMULATOR_IMPORTERS]
    found = [
        f"{m} imports {name}"
        for m in platform
        for name in _imports(m, top_level_only=False)
        if name.startswith(f"{PACKAGE}.simulator")
    ]
    assert found == []


def test_the_landing_zone_contract_depends_on_nothing_of_either_side():
    contract = [m for m in MODULES if m.startswith(f"{PACKAGE}.landing_zone")]
    assert _violations(contract, (f"{PACKAGE}.landing_zone",)) == []


def test_lib_imports_neither_dagster_nor_the_layers_above_it():
    lib = [m for m in MODULES if m.startswith(f"{PACKAGE}.lib")]
    assert _violations(lib, LIB_MAY_IMPORT) == []
    assert _violations(lib, (), scope="dagster") == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk of ``graph`` closes, as the path round it."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for name in sorted(graph[node]):
            if state.get(name) == 1:
                cycles.append([*path[path.index(name) :], name])
            elif name not in state:
                visit(name)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_no_module_imports_itself_back_at_import_time():
    graph = {m: {n for n in _imports(m, top_level_only=True) if n in MODULES and n != m} for m in MODULES}
    assert sum(len(edges) for edges in graph.values()) > 100
    assert _cycles(graph) == []


def test_the_cycle_check_reports_the_way_round():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
