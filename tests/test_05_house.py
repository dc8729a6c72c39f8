"""The house rules that code review alone misses: imports point down (no circles), one exception root."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import generator
from generator.errors import ImcgenError

ROOT = Path(generator.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = ("generator",) + path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> generator modules it imports (module level and inside functions alike)."""
    mods = {_module_name(f): f for f in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base_parts = base_parts[: len(base_parts) - node.level + 1]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                cands = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                cands = [a.name for a in node.names]
            else:
                continue
            for c in cands:
                while c and c not in mods:
                    c = c.rpartition(".")[0]
                if c and c != mod and not mod.startswith(c + "."):
                    graph[mod].add(c)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    circles = _circles(import_graph())
    assert not circles, "import circles (imports must point down the house): " + "; ".join(" <-> ".join(c) for c in circles)


def test_circle_detector_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_bottom_of_the_house_imports_nothing_of_ours():
    graph = import_graph()
    for mod in ("generator.errors", "generator.io"):
        assert graph[mod] == set(), f"{mod} must import nothing from generator/: {graph[mod]}"


def test_model_stands_apart_from_the_hardware_side():
    graph = import_graph()
    allowed = {"generator.errors", "generator.io", "generator.model"}
    for mod, deps in graph.items():
        if mod.startswith("generator.model"):
            bad = {d for d in deps if d not in allowed and not d.startswith("generator.model.")}
            assert not bad, f"{mod} imports the hardware side: {sorted(bad)}"


def test_every_error_class_has_one_root():
    roots = []
    for info in pkgutil.walk_packages(generator.__path__, "generator."):
        if info.name.startswith("generator.commands") or info.name == "generator.cli":
            continue
        mod = importlib.import_module(info.name)
        for name, obj in vars(mod).items():
            if (isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == info.name
                    and not issubclass(obj, ImcgenError)):
                roots.append(f"{info.name}.{name}")
    assert not roots, f"exception classes outside the ImcgenError root: {roots}"
