"""The package's shape: no import cycles, short modules, no branching on model kinds
outside the components (issue 14)."""

import ast
import inspect
from pathlib import Path

import pytest

import iclv_jax.components as components

PACKAGE = Path(__file__).resolve().parent.parent / "iclv_jax"
MODULES = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py"))
# the classes of model kinds: what ``isinstance`` must not branch on outside components/
KIND_CLASSES = {name for name, value in vars(components).items() if inspect.isclass(value)}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): imports for annotations only."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(node: ast.AST):
    """Every import statement under ``node``, in functions too, but not in
    ``if TYPE_CHECKING:`` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif not _is_type_checking(child):
            yield from _imports(child)


def _dependencies(path: Path, modules: set[str]) -> set[str]:
    """The package modules that ``path`` imports (``from . import x`` of a submodule
    counts as that submodule, of a name as the package)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{base}.{node.module}" if node.module else base
        for alias in node.names:
            found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def _import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _dependencies(path, set(paths)) for name, path in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per back edge of a depth-first search (none when the graph is acyclic)."""
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return cycles


def test_no_import_cycles():
    graph = _import_graph()
    assert "iclv_jax.results" in graph and graph["iclv_jax.persistence"]
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize("name", MODULES)
def test_no_module_over_500_lines(name):
    assert len((PACKAGE / name).read_text().splitlines()) <= 500


def _kind_checks(path: Path) -> list[str]:
    """``isinstance(x, K)`` calls in ``path`` whose classes include a component class."""
    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
        ):
            names = {
                n.id if isinstance(n, ast.Name) else getattr(n, "attr", None)
                for n in ast.walk(node.args[1])
            }
            if names & KIND_CLASSES:
                hits.append(f"{path.name}:{node.lineno}")
    return hits


def test_no_kind_dispatch_outside_the_components():
    assert {"BinaryProbit", "MultinomialLogitChoice", "OrderedIndicators"} <= KIND_CLASSES
    hits = [
        hit
        for name in MODULES
        if not name.startswith("components")
        for hit in _kind_checks(PACKAGE / name)
    ]
    assert hits == []


def test_the_kind_check_finder_finds_one(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("if isinstance(model.choice, (spec.MultinomialLogit, int)):\n    pass\n")
    assert _kind_checks(planted) == ["planted.py:1"]
