"""Property-based hostile inputs (Hypothesis): model.json, last.json, study YAML, overrides and report JSON,
mutated from valid ones with odd types, huge numbers, odd strings, paths and deep nesting.

Every input is either accepted or refused with unlogit's own error (what the CLI prints as one line, exit 2):
never another exception, never a traceback, and nothing is written outside the folder. The example counts are
bounded so that the whole file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unlogit.errors import UnlogitError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results" / "shapes-demo-offline"

ODD_STRINGS = st.sampled_from(
    ["", "../../etc/passwd", "/abs/path", "os:abort", "a" * 5000, "<img src=x onerror=alert(1)>", "\x00", "\ud800",
     "NaN", "1e999", "2001-13-45", "C:\\evil", "x/../../y", "☃"]
)  # fmt: skip
ODD_NUMBERS = st.sampled_from([-1, 0, 10**6, 10**12, 2**63, -(2**63), 10**400, 1e308, -1e308, 0.5, -0.0])
FLOATS = st.floats(allow_subnormal=False)  # the tests flush denormals (tests/conftest.py)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), FLOATS, st.text(max_size=20), ODD_STRINGS, ODD_NUMBERS)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": [value]}
    return value


VALUES = st.one_of(JSONISH, st.builds(_deep, st.just(200)), st.builds(lambda: [[[[[[[[[[1]]]]]]]]]]))  # fresh copies


def _paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """The key paths of a JSON tree (dicts and lists), the root included, down to a depth of 8."""
    out = [prefix]
    if len(prefix) >= 8:
        return out
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw, valid: dict) -> Any:
    """``valid`` with one to three mutations: a value replaced, a key dropped, a key added, or the whole thing."""
    tree = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(tree)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "drop", "add", "root"]))
        if op == "root":
            return draw(VALUES)
        if not path:
            continue
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        if op == "replace":
            parent[path[-1]] = draw(VALUES)
        elif op == "drop" and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.one_of(st.text(max_size=6), ODD_STRINGS))] = draw(VALUES)
    return tree


# --- model.json ----------------------------------------------------------------------------------
INVERTER_META = {
    "method": "gan",
    "net": {"method": "gan", "num_classes": 10, "resolution": 32, "channels": 3, "ch_g": 4, "dim_z": 16,
            "attention": [], "shared_dim": 0, "shared_sn": False, "encoder": "standardize", "temperature": 1.0,
            "sn_g": True, "cbn_hidden": None, "g_channels": [4, 2, 1, 1]},
    "classifier": "../clf",
    "classes": [str(i) for i in range(10)],
    "summary": {"steps": 6},
}  # fmt: skip
CLASSIFIER_META = {
    "arch": {"arch": "small-cnn", "num_classes": 3, "in_channels": 3, "image_size": 32, "width": 4},
    "classes": ["a", "b", "c"],
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "input_shape": [3, 32, 32],
}


@FUZZ
@given(mutated(INVERTER_META))
def test_inverter_model_json_is_read_or_refused_by_name(raw):
    from unlogit.inversion.metadata import read_inverter_meta
    from unlogit.inversion.methods import METHODS

    try:
        meta = read_inverter_meta(raw if isinstance(raw, dict) else {"net": raw}, Path("model.json"))
    except UnlogitError as exc:
        assert "model.json" in str(exc)
        return
    assert meta.method in METHODS and 1 <= meta.net.num_classes <= 100_000


@FUZZ
@given(mutated(CLASSIFIER_META))
def test_classifier_model_json_is_read_or_refused_by_name(raw):
    import torch

    from unlogit.classifiers.archs import build_arch
    from unlogit.classifiers.metadata import read_classifier_meta

    try:
        meta = read_classifier_meta(raw if isinstance(raw, dict) else {"arch": raw}, Path("model.json"))
        with torch.device("meta"):
            build_arch(meta.arch)  # what loading does next, on the meta device: no memory for a huge spec
    except UnlogitError as exc:
        assert "model.json" in str(exc) or "arch" in str(exc)


# --- last.json ------------------------------------------------------------------------------------
LAST = {"step": 6, "batches_drawn": 12, "elapsed": 3.5,
        "fast_path": {"amp": "off", "channels_last": False, "compile": False, "reason": "as configured",
                      "seconds_per_step": {"off/nchw": 0.1}}}  # fmt: skip


@FUZZ
@given(mutated(LAST))
def test_last_json_counters_and_fast_path_are_read_or_refused_by_name(raw):
    from unlogit.inversion.train.fastpath import FastPath
    from unlogit.inversion.train.state import _counters

    meta = raw if isinstance(raw, dict) else {"step": raw}
    try:
        step, drawn, elapsed = _counters(meta, Path("last.json"))
        assert step >= 0 and drawn >= 0 and elapsed >= 0
        if meta.get("fast_path"):
            path = FastPath.parse(meta["fast_path"], "last.json")
            assert path.amp in ("off", "bf16")
    except UnlogitError as exc:
        assert "last.json" in str(exc)


# --- study YAML and overrides ---------------------------------------------------------------------
def _mini_study() -> dict:
    from ..conftest import mini_study_spec

    return copy.deepcopy(mini_study_spec(analyze=False))


@FUZZ
@given(st.data())
def test_a_study_file_is_read_or_refused_by_name(tmp_path, data):
    from unlogit.study.config import load_study
    from unlogit.study.stages import plan_study

    spec = data.draw(mutated(_mini_study()))
    path = tmp_path / "study.yaml"
    try:
        path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    except (yaml.YAMLError, UnicodeEncodeError, RecursionError):
        return  # not representable as YAML: nothing to read
    out = tmp_path / "out"
    try:
        plan_study(load_study(str(path)), out)
    except UnlogitError:
        pass
    assert not out.exists()  # planning writes nothing


OVERRIDE = st.from_regex(r"(model|train|data|analyze)\.[a-z_]{1,12}=.{0,30}", fullmatch=True)


@FUZZ
@given(st.lists(st.one_of(OVERRIDE, st.text(max_size=40), ODD_STRINGS.map(lambda s: f"train.steps={s}")), max_size=4))
def test_overrides_are_applied_or_refused_by_name(items):
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig

    try:
        build_config(InverterRunConfig, "inverter", "tiny", items)
    except UnlogitError:
        pass


# --- report inputs --------------------------------------------------------------------------------
@FUZZ
@given(st.data())
def test_a_report_input_is_reported_or_refused_in_one_line(tmp_path_factory, data):
    import io
    from contextlib import redirect_stderr

    from unlogit.cli import main

    root = tmp_path_factory.mktemp("fuzz")
    study = root / "study"
    study.mkdir()
    for name in ("summary.json", "claim.json", "findings.json", "figure1_reconstructions.png"):
        (study / name).write_bytes((RESULTS / name).read_bytes())
    target = data.draw(st.sampled_from(["summary.json", "claim.json", "findings.json"]))
    valid = json.loads((study / target).read_text())
    try:
        (study / target).write_text(json.dumps(data.draw(mutated(valid))))
    except (ValueError, RecursionError):  # not JSON-representable (a non-finite float is written as NaN anyway)
        return
    err = io.StringIO()
    with redirect_stderr(err):
        code = main(["report", str(study), "-o", str(root / "report")])
    assert code in (0, 2), err.getvalue()
    if code == 2:
        assert len(err.getvalue().strip().splitlines()) == 1 and "Traceback" not in err.getvalue()
    written = {p for p in root.rglob("*") if p.is_file()} - {p for p in study.rglob("*")}
    assert all(p.is_relative_to(root / "report") for p in written)


def test_the_fuzz_strategies_do_mutate():
    """A guard on the guard: the mutations produce inputs the readers refuse (otherwise the tests above would pass
    vacuously)."""
    from hypothesis import find

    from unlogit.inversion.metadata import read_inverter_meta

    def refused(raw) -> bool:
        try:
            read_inverter_meta(raw if isinstance(raw, dict) else {"net": raw}, Path("model.json"))
        except UnlogitError:
            return True
        return False

    assert refused(find(mutated(INVERTER_META), refused, settings=settings(max_examples=200, deadline=None)))
    with pytest.raises(UnlogitError):
        read_inverter_meta({**INVERTER_META, "net": {**INVERTER_META["net"], "ch_g": 10**9}}, Path("model.json"))
