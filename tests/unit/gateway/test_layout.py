"""The gateway package's layout: no import cycles between its modules (run-time imports; those
under `if TYPE_CHECKING:` do not run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "services" / "gateway"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """Modules imported when the module runs; `from package import module` names the module
    (the package's `__init__` is already being imported by then)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    found.add(submodule if submodule in modules else node.module)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)
    return found


def graph() -> dict[str, set[str]]:
    modules = {_module(path): path for path in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = _runtime_imports(tree, set(modules))
        edges[name] = {target for target in imported if target in modules and target != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_the_gateway_package_has_no_import_cycles() -> None:
    edges = graph()
    assert len(edges) > 40  # the walk found the package
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_stages_do_not_import_the_data_plane() -> None:
    """routing, auth, limits and waf are plain stages over the request view (request.py); the
    plane calls them, never the other way round."""
    stages = ("routing", "auth", "limits", "waf")
    offending = {
        module: sorted(t for t in targets if t.startswith("services.gateway.dataplane"))
        for module, targets in graph().items()
        if len(module.split(".")) > 2 and module.split(".")[2] in stages
    }
    assert {module: targets for module, targets in offending.items() if targets} == {}


def test_the_stages_use_no_aiohttp_request() -> None:
    """The data plane hands the stages `services.gateway.request.Request`, not aiohttp's."""
    for stage in ("routing", "auth", "limits", "waf"):
        for path in (PACKAGE / stage).rglob("*.py"):
            if path.name == "admin.py":  # the WAF's admin API is an aiohttp app by design
                continue
            text = path.read_text(encoding="utf-8")
            assert "web.Request" not in text, path
            assert "web.BaseRequest" not in text, path
