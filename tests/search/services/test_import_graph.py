"""The services call one way: no module of search/services imports another that imports it back.

Imports are read with `ast`, those inside function bodies too (a cycle hidden in a function is
still a cycle); only search.tasks may be imported that way, to queue work on commit.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ROOT / "search" / "services"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def service_modules() -> dict[str, Path]:
    return {module_name(p): p for p in SERVICES.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Return the service modules that the file imports, wherever the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from search.services import areas` names a module; `from x import f` a function.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    if path.is_relative_to(ROOT):
        found.discard(module_name(path))
    return found


def graph() -> dict[str, set[str]]:
    modules = service_modules()
    known = set(modules)
    # A package's __init__ is imported with any module inside it; it imports nothing here.
    return {name: imports_of(path, known) - {"search.services"} for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle as a list of modules (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_service_modules():
    edges = graph()
    assert len(edges) >= 10, "the walk found the service modules"
    assert find_cycle(edges) is None, " → ".join(find_cycle(edges) or [])


def test_services_import_tasks_nowhere_but_through_queue_names():
    for path in SERVICES.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "search.tasks":
                pytest.fail(f"{path.name} imports {node.module}: queue work by name (queue.py)")


def test_the_walk_sees_imports_hidden_in_function_bodies(tmp_path):
    hidden = tmp_path / "hidden.py"
    hidden.write_text("def f():\n    from search.services import offers\n    return offers\n")

    assert imports_of(hidden, {"search.services.offers"}) == {"search.services.offers"}


def test_a_cycle_is_found_and_named():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_calls_run_the_documented_way():
    """field/aid/intake → lifecycle/areas/offers → alerts/timeline, never back."""
    edges = graph()
    leaves = {"search.services.alerts", "search.services.timeline", "search.services.queue"}
    for leaf in leaves:
        assert not edges[leaf] - leaves, f"{leaf} imports {edges[leaf] - leaves}"
    upper = {"search.services.field", "search.services.intake", "search.services.aid.desk"}
    lower = {"search.services.areas", "search.services.offers", "search.services.lifecycle"}
    for module in lower:
        assert not edges[module] & upper, f"{module} imports {edges[module] & upper}"


WRITES = {"create", "update", "bulk_create", "save", "delete", "update_or_create", "add"}


def test_services_that_write_take_keyword_arguments_only():
    """A write is called with names (`task_accept(origin=…, task=…)`), never by position."""
    offenders = []
    for path in SERVICES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            writes = any(
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in WRITES
                for call in ast.walk(node)
            )
            atomic = any("atomic" in ast.unparse(d) for d in node.decorator_list)
            if (writes or atomic) and node.args.args:
                offenders.append(f"{path.name}:{node.name}")
    assert offenders == []
