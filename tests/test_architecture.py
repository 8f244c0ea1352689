"""The shape of the code: no import cycles, a torch-free ``--help``, method names in one registry,
short functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "unlogit"
MAX_FUNCTION_LINES = 60
LONG_OK = "# long:"  # a function longer than the limit says why on its def line or the line above


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _module_level_imports(path: Path) -> set[str]:
    """Modules of the package imported when ``path`` is imported (not inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("unlogit"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                if base.startswith("unlogit"):
                    found.add(base)
                    found.update(f"{base}.{a.name}" for a in node.names)

    visit(tree.body)
    return found


def test_no_import_cycles_in_src():
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {m: {d for d in _module_level_imports(p) if d in modules and d != m} for m, p in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d) :], d]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if d not in state:
                walk(d)
        stack.pop()
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            walk(m)


def test_help_imports_no_torch():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "unlogit", "--help"], capture_output=True,
                         text=True, check=True)  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "unlogit.cli" in imported
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}, "unlogit --help imported torch"


def test_method_names_live_only_in_the_registry():
    for path in SRC.rglob("*.py"):
        if path.name == "methods.py":
            continue
        text = path.read_text()
        for name in ('"pixel"', '"dosovitskiy"', '"optimize"'):
            assert name not in text, f"{path.relative_to(SRC)} names the method {name}: ask the registry instead"


def test_functions_are_short_or_say_why():
    long = []
    for path in SRC.rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
                said = any(LONG_OK in lines[i - 1] for i in (start - 1, node.lineno) if i >= 1)
                if length > MAX_FUNCTION_LINES and not said:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "functions over 60 lines without a '# long:' reason:\n" + "\n".join(long)
