"""The core's modules import one way: no import cycle anywhere in ``core/separena``.

The graph is read from the sources with :mod:`ast` (nothing is imported): every ``import``
and ``from ... import`` of a ``separena`` module, at module level and inside functions alike
(a deferred import hides a cycle from the interpreter, not from the reader), with relative
imports resolved. ``from package import name`` counts as an import of the submodule
``package.name`` when that is a module, else of the package. Importing ``a.b`` is an edge to
``a.b`` only, not to its parent package ``a``.

And the package, its command line and the cache's listing start without importing torch (a
second here): ``separena --help``, shell completion of names, a plugin's hook module. Every
name a module's ``__all__`` lists exists.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import separena

ROOT = Path(separena.__file__).resolve().parent

# Cycles tolerated for now, each the sorted tuple of its modules. Only to be removed from.
ALLOWED_CYCLES: frozenset[tuple[str, ...]] = frozenset()


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = ("separena",) + path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def import_graph() -> dict[str, set[str]]:
    """``module -> separena modules it imports`` for every module under core/separena."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = _package_of(name, path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:  # `import a.b.c` of a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name and target.split(".")[0] == "separena":
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _describe(found: list[tuple[str, ...]]) -> str:
    return "; ".join(" <-> ".join(c) for c in found) or "none"


def test_the_graph_sees_deferred_and_relative_imports() -> None:
    graph = import_graph()
    assert "separena.errors" in graph["separena.registry"]  # module level, relative
    assert "separena.bench.runner" in graph["separena.bench"]  # `from .runner import ...` in a package
    assert "separena.train" in graph["separena.testing"]  # inside a function


def test_bench_train_checkpoints_and_cli_import_one_way() -> None:
    found = cycles(import_graph())
    watched = ("separena.bench", "separena.train", "separena.checkpoints", "separena.evaluation", "separena.cli")
    tangled = [c for c in found if any(m == w or m.startswith(w + ".") for m in c for w in watched)]
    assert not tangled, f"import cycles involving bench/train/checkpoints/cli: {_describe(tangled)}"


def test_no_import_cycle_in_core() -> None:
    found = cycles(import_graph())
    unexpected = [c for c in found if c not in ALLOWED_CYCLES]
    assert not unexpected, f"import cycles in core/separena: {_describe(unexpected)} (all found: {_describe(found)})"


def _imports_torch(code: str) -> bool:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()[-1] == "True"


@pytest.mark.parametrize("code", [
    "import separena, separena.cli",
    "from separena import ArchitectureSpec, hookimpl, Registry, SeparenaError",  # what a plugin's hooks need
    "from separena.data.cache import cache_entries; cache_entries()",
    # the shell completing a model name (the registry lists presets without checking them)
    "from click.testing import CliRunner; from separena.cli import main\n"
    "words = 'separena train --device cpu mask-inference-sm'\n"
    "env = {'_SEPARENA_COMPLETE': 'bash_complete', 'COMP_WORDS': words, 'COMP_CWORD': '4'}\n"
    "out = CliRunner().invoke(main, [], prog_name='separena', env=env).output\n"
    "assert out.split() == ['plain,mask-inference-small'], out",
])
def test_starting_needs_no_torch(code: str) -> None:
    assert not _imports_torch(code)
    assert _imports_torch(code + "\nimport separena.model")  # the check itself sees torch come in


def test_the_package_names_that_need_torch_import_it_on_first_use() -> None:
    import separena.model
    import separena.streaming

    assert separena.Separator is separena.model.Separator
    assert _imports_torch("import separena\nseparena.model.check_mix")  # the module, as an attribute
    assert separena.separate_streaming is separena.streaming.separate_streaming
    assert set(separena.__all__) <= set(dir(separena))
    with pytest.raises(AttributeError, match="no attribute 'Separater'"):
        separena.Separater  # noqa: B018


def test_every_name_in_a_modules_all_exists() -> None:
    import importlib

    missing = []
    for name in _modules():
        if name.endswith(".__main__"):  # importing it runs the command line
            continue
        module = importlib.import_module(name)
        missing += [f"{name}.{n}" for n in getattr(module, "__all__", ()) if not hasattr(module, n)]
    assert not missing, f"names in __all__ that the module does not define: {', '.join(missing)}"
