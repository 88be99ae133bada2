"""No import cycles in ``exporter/``, package by package, read from the source with ``ast``.

Every import statement counts: at module level, inside functions and under ``if TYPE_CHECKING:``, since
each of them is a dependency a reader (or a type checker) has to follow. ``from package import name``
depends on the submodule when ``name`` is one, else on the package. A module's implicit import of its
own parent package is not an edge: Python runs the parent first, and a parent importing its own
submodules is how a package facade works.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "exporter"
# Rendering: turns a snapshot into /metrics text. None of it may load an I/O module when imported. Every
# source's render module is one of them, found on disk so that a new source is held to the rule unasked.
RENDERING = ("exporter.exposition", "exporter.samples", "exporter.historylines", "exporter.textformat",
             "exporter.snapshot", "exporter.runhistory.counts", "exporter.sourcetable",
             "exporter.dora.render", "exporter.dora.ledger",
             *sorted(f"exporter.sources.{path.parent.name}.render" for path in PACKAGE.glob("sources/*/render.py")))


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module and package under ``exporter/``."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def packages() -> list[str]:
    """Every package under ``exporter/`` (``exporter`` included), by dotted name."""
    return sorted(name for name, path in module_files().items() if path.name == "__init__.py")


def imports(module: str, is_package: bool, tree: ast.AST, known: set[str]) -> set[str]:
    """The modules of ``known`` that the source of ``module`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts[: len(parts) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
    return (found & known) - {module}


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``exporter`` modules it imports."""
    modules = module_files()
    known = set(modules)
    return {name: imports(name, path.name == "__init__.py", ast.parse(path.read_text(encoding="utf-8"), str(path)),
                          known)
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def _package_of(module: str, package_names: set[str]) -> str:
    return module if module in package_names else module.rpartition(".")[0]


def _describe(component: list[str], graph: dict[str, set[str]]) -> str:
    return "; ".join(f"{source} -> {target}" for source in component for target in sorted(graph[source])
                     if target in component)


@pytest.mark.parametrize("package", packages())
def test_package_modules_import_no_cycle(package: str) -> None:
    graph = import_graph()
    package_names = set(packages())
    mine = [component for component in cycles(graph)
            if any(_package_of(module, package_names) == package for module in component)]
    assert not mine, "import cycles: " + " | ".join(_describe(component, graph) for component in mine)


def test_type_checking_and_function_level_imports_count_as_cycle_edges() -> None:
    known = {"exporter.a", "exporter.b", "exporter.c"}
    sources = {
        "exporter.a": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from exporter.b import B\n",
        "exporter.b": "def f():\n    from exporter import c\n",
        "exporter.c": "from . import a\n",
    }
    graph = {name: imports(name, False, ast.parse(source), known) for name, source in sources.items()}
    assert graph == {"exporter.a": {"exporter.b"}, "exporter.b": {"exporter.c"}, "exporter.c": {"exporter.a"}}
    assert cycles(graph) == [["exporter.a", "exporter.b", "exporter.c"]]


@pytest.mark.parametrize("module", RENDERING)
def test_rendering_modules_load_no_io_module(module: str) -> None:
    code = (f"import sys, {module}\n"
            "loaded = sorted(name for name in ('requests', 'urllib3', 'exporter.client', "
            "'exporter.auth', 'exporter.poller') if name in sys.modules)\n"
            "print(','.join(loaded))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "", f"{module} loads I/O modules: {result.stdout.strip()}"


# Importing these must not load a source (and with it the client): they get the source table from their caller.
TABLE_TAKERS = ("exporter.config", "exporter.exposition", "exporter.landing", "exporter.summary",
                "exporter.samples", "exporter.historylines", "exporter.sourcetable")
# The only exporter modules that may import the built-in table: the entry points.
ENTRY_POINTS = {"exporter.cli"}


def test_config_exposition_and_landing_load_no_source_nor_io_module() -> None:
    code = ("import sys\n"
            f"import {', '.join(TABLE_TAKERS)}\n"
            "from exporter.config import ConfigError, PollConfig, parse_config\n"
            "from exporter.sourcetable import SourceTable\n"
            "PollConfig()\n"
            "try:\n"
            "    parse_config({'region': 'cn-north-4', 'auth': {'token': 't'}}, {}, sources=SourceTable(()))\n"
            "except ConfigError:\n"
            "    pass\n"
            "loaded = sorted(name for name in sys.modules if name in ('requests', 'urllib3', 'exporter.client') "
            "or name.startswith('exporter.sources.') and not name.startswith('exporter.sources.base'))\n"
            "print(','.join(loaded))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "", f"these modules load a source or I/O: {result.stdout.strip()}"


def test_only_the_entry_points_import_the_built_in_sources() -> None:
    importers = {name for name, targets in import_graph().items() if "exporter.sources.builtin" in targets}
    assert importers <= ENTRY_POINTS, f"only {sorted(ENTRY_POINTS)} may import the built-in table"


def test_no_module_keeps_a_mutable_table_of_sources() -> None:
    for name, path in module_files().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only
            if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict | ast.List):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [target.id for target in targets if isinstance(target, ast.Name)]
                assert not any("source" in each.lower() for each in names), f"{name}: a module-level {names}"


def test_no_test_module_imports_another_and_exporter_never_imports_tests() -> None:
    tests = ROOT / "tests"
    for path in [*tests.rglob("*.py"), *PACKAGE.rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert not module.split(".")[-1].startswith("test_"), f"{path}: shared code goes in tests/helpers/"
                if path.is_relative_to(PACKAGE):
                    assert node.level == 0 or not module.startswith("tests"), path
                    assert not module.startswith("tests"), f"{path} imports test code"
