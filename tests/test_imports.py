"""The package's modules import each other without circles: every import counts, those inside functions too
(only `if TYPE_CHECKING:` blocks are left out), since a lazy import that closes a circle is still one."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bmc"


def module_name(path: Path, package: Path) -> str:
    name = ".".join(path.relative_to(package.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imports(path: Path, me: str, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports (a package's own parents left out: Python imports them anyway)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for n in ast.walk(block)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                for a in node.names
            }
    return {m for m in found if m in modules and m != me and not me.startswith(m + ".")}


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    names = {p: module_name(p, package) for p in sorted(package.rglob("*.py"))}
    modules = set(names.values())
    return {name: imports(p, name, modules) for p, name in names.items()}


def test_no_module_imports_its_own_importers():
    found = circles(package_graph())
    assert found == []


def test_circles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [{"a", "b", "c"}]


def test_lazy_imports_count_and_typing_only_ones_do_not(tmp_path):
    package = tmp_path / "bmc"
    package.mkdir()
    (package / "x.py").write_text("def f():\n    from bmc.y import g\n")
    (package / "y.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bmc import x\n"
    )
    assert package_graph(package) == {"bmc.x": {"bmc.y"}, "bmc.y": set()}
