"""Package structure: no import cycles between qa_pipeline's modules, and the record module is a
leaf (standard library and pydantic only)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "qa_pipeline"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _top_level_imports(path: Path, *, deferred: bool = False) -> set[str]:
    """Modules of the package that ``path`` imports at module level (TYPE_CHECKING excluded), and
    with ``deferred`` also inside functions: a cycle hidden in a function is still a cycle."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif deferred and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With, ast.For, ast.While)):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("qa_pipeline"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("qa_pipeline"):
                    found.add(target)
                    for alias in node.names:  # `from . import records` imports a submodule
                        if (PACKAGE.parent / (target.replace(".", "/") + f"/{alias.name}.py")).is_file():
                            found.add(f"{target}.{alias.name}")

    visit(tree.body)
    return found


def _graph(deferred: bool = True) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations/versions" not in str(p)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for target in _top_level_imports(path, deferred=deferred):
            # importing a.b.c runs a/__init__, a/b/__init__ and a/b/c
            parts = target.split(".")
            deps.update(".".join(parts[:i]) for i in range(2, len(parts) + 1) if ".".join(parts[:i]) in modules)
        deps.discard(name)
        # a package's __init__ imported by its own submodules is not a cycle worth reporting
        graph[name] = {d for d in deps if not name.startswith(d + ".")}
    return graph


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def dfs(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                dfs(dep, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node, [])
    assert cycles == []


def test_records_is_a_leaf() -> None:
    records = PACKAGE / "records"
    for module in records.glob("*.py"):  # the package imports only its own modules
        assert all(m.startswith("qa_pipeline.records") for m in _top_level_imports(module)), module.name
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, qa_pipeline.records; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    heavy = [m for m in loaded if m.split(".")[0] in {"pypinyin", "opencc", "numpy", "sqlalchemy", "faster_whisper", "torch"}]
    ours = [m for m in loaded if m.startswith("qa_pipeline.")]
    assert heavy == [] and ours == ["qa_pipeline.records", *sorted(f"qa_pipeline.records.{p.stem}" for p in records.glob("[!_]*.py"))]
