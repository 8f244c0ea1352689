"""The shape of the code: layers that import only downward (lazy and TYPE_CHECKING imports included), no import
cycles, a package root of entry points only, one owner of the run-directory layout, a torch-free ``--help``,
method names in one registry, short functions, and the worked examples of docs/architecture.md."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "unlogit"
DOCS = Path(__file__).resolve().parents[1] / "docs"
MAX_FUNCTION_LINES = 60
LONG_OK = "# long:"  # a function longer than the limit says why on its def line or the line above

# The data flow, lowest first: a module may import its own layer and the layers below it, never above.
LAYERS = [
    "version",
    "errors",
    "config",
    "runtime",
    "data",
    "classifiers",
    "inversion",
    "scoring",
    "analysis",
    "study",
    "report",
    "serve",
    "cli",
    "__init__",
    "__main__",
]
ROOT_MODULES = {"__init__", "__main__", "errors", "config", "version"}  # entry points, errors, config, version
LAYOUT_NAMES = (
    '"model.json"',
    '"last.json"',
    '"metrics.jsonl"',
    '"config.yaml"',
    '"run.json"',
    '"summary.json"',
    '"claim.json"',
    '"claim_values.safetensors"',
    '"findings.json"',
    '"checkpoints"',
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports anywhere: module level, inside functions, under
    TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("unlogit"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if base.startswith("unlogit"):
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return LAYERS.index(top)


def test_imports_only_go_downward_lazy_and_type_checking_ones_included():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        for dep in _imports(path):
            if dep in modules and dep != name and _layer(dep) > _layer(name):
                upward.append(f"{name} -> {dep}")
    assert not upward, "imports that go up the data flow:\n" + "\n".join(sorted(upward))


def test_no_import_cycles_lazy_and_type_checking_ones_included():
    modules = _modules()
    graph = {m: {d for d in _imports(p) if d in modules and d != m} for m, p in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                # a package's __init__ importing its own submodules is not a cycle
                if not (d == m.rpartition(".")[0] or m == d.rpartition(".")[0]):
                    raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(d) :], d]))
            elif d not in state:
                walk(d)
        stack.pop()
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            walk(m)


def test_the_package_root_holds_only_entry_points_errors_and_config():
    root = {p.stem for p in SRC.glob("*.py")}
    assert root <= ROOT_MODULES, f"modules at the package root: {sorted(root - ROOT_MODULES)}"


def test_only_rundir_spells_the_run_layout():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "rundir.py":
            continue
        lines = [line for line in path.read_text().splitlines() if "torch.hub" not in line]  # torch's own folder
        spelled = [n for n in LAYOUT_NAMES if any(n in line or n.replace('"', "'") in line for line in lines)]
        offenders += [f"{path.relative_to(SRC)}: {n}" for n in spelled]
    assert not offenders, "run-directory file names outside runtime/rundir.py:\n" + "\n".join(offenders)


def test_help_imports_no_torch():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "unlogit", "--help"], capture_output=True, text=True, check=True
    )
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


def _example(name: str):
    if str(DOCS / "examples") not in sys.path:
        sys.path.insert(0, str(DOCS / "examples"))  # the examples share docs/examples/_helpers.py
    spec = importlib.util.spec_from_file_location(f"example_{name}", DOCS / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["add_method", "add_classifier_source", "add_experiment", "add_endpoint"])
def test_the_worked_examples_of_the_architecture_page_run(name, tmp_path):
    """docs/examples/NAME.py: each extends one registry and checks, with asserts of its own, that the new entry
    works end to end."""
    _example(name).demonstrate(tmp_path)


# What the logit edits are made of (unlogit.inversion.edits): per-class units, a scale about the class means, a shift
# in mean sigmas, interpolation, top-k truncation, recentring. Spelled anywhere else, it is a second meaning.
EDIT_ARITHMETIC = [
    r"\blerp\(",
    r"\.std\(0\)",
    r"\bmu \+",
    r"- mu\)",
    r"\bsd\.mean\(\)",
    r"\* sd\b",
    r"top\.values",
    r"\.mean\(1, keepdim=True\) \+",
    r"clamp_min\(1e-4\)",
]
EDIT_ARITHMETIC_OK = {"inversion/edits.py", "analysis/ceiling.py"}  # the ceiling standardises regression features


def test_logit_edit_arithmetic_lives_only_in_inversion_edits():
    import re

    found = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in EDIT_ARITHMETIC_OK:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{rel}:{n}: {line.strip()}" for p in EDIT_ARITHMETIC if re.search(p, line)]
    assert not found, "logit edit arithmetic outside unlogit.inversion.edits:\n" + "\n".join(found)


# Inside inversion/, the nets come first, then the objective, specs, edits and the inverter, then the training loop.
INVERSION_LEVELS = {"nets": 0, "train": 2}  # every other module of inversion/ sits at level 1


def _inversion_level(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "inversion":
        return None
    return INVERSION_LEVELS.get(parts[2], 1)


def test_no_arrow_runs_back_up_inside_inversion():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        level = _inversion_level(name)
        if level is None:
            continue
        for dep in _imports(path):
            dep_level = _inversion_level(dep)
            if dep in modules and dep_level is not None and dep_level > level:
                upward.append(f"{name} -> {dep}")
    assert not upward, "imports that go up inside inversion/ (nets < the rest < train):\n" + "\n".join(sorted(upward))


def test_loading_an_inverter_imports_no_training_machinery():
    code = (
        "import sys, unlogit.inversion.inverter, unlogit.inversion.edits; "
        "print(sorted(m for m in sys.modules if m.startswith('unlogit.inversion.train')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_one_word_one_module():
    """A name that means one thing is one module (an endpoint is a claim's; per-image numbers are values)."""
    stems = [p.stem for p in SRC.rglob("*.py")]
    for word in ("endpoints", "evaluate", "edits", "spec"):
        assert stems.count(word) <= 1, f"more than one module is named {word}.py"


def test_the_report_s_markup_lives_only_in_its_template():
    """The report's HTML is drawn by one autoescaping template; a tag written in Python would be markup that no
    escaping guards (a value from a shared file pasted into it)."""
    import re

    tag = re.compile(r"<(/?)(a|b|p|h[1-6]|td|th|tr|table|div|img|figure|code|script|style)[ >]", re.IGNORECASE)
    found = [
        f"{path.relative_to(SRC).as_posix()}:{n}: {line.strip()}"
        for path in (SRC / "report").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if tag.search(line)
    ]
    assert not found, "HTML written in Python instead of report/templates:\n" + "\n".join(found)
