"""Bad input, surface: run directories. A run directory is data: it never makes unlogit run code."""

from __future__ import annotations

import json
import shutil

import pytest

import unlogit
from unlogit.cli import main
from unlogit.errors import UnlogitError


def _with_classifier_spec(src, dst, spec: str):
    shutil.copytree(src, dst)
    meta = json.loads((dst / "model.json").read_text())
    meta["classifier"] = spec
    (dst / "model.json").write_text(json.dumps(meta))
    return dst


@pytest.mark.parametrize("spec", ["os:abort", "unlogit_helpers:build", "tests.classifiers.helper_factory:build"])
def test_a_code_spec_recorded_in_a_run_is_refused(tmp_path, tiny_inverter_run, spec, capsys):
    run = _with_classifier_spec(tiny_inverter_run, tmp_path / "run", spec)
    (tmp_path / "unlogit_helpers.py").write_text("raise SystemExit('code from a run directory ran')\n")
    with pytest.raises(UnlogitError, match="never loads code because a data file points at it.*--classifier"):
        unlogit.load_inverter(run)
    code = main(
        ["reconstruct", "--inverter", str(run), "--dataset", "shapes", "--n", "2", "--out", str(tmp_path / "o")]
    )
    assert code == 2 and "--classifier" in capsys.readouterr().err


def test_an_explicit_classifier_still_overrides_the_recorded_one(tmp_path, tiny_inverter_run, tiny_classifier_run):
    run = _with_classifier_spec(tiny_inverter_run, tmp_path / "run", "os:abort")
    inv = unlogit.load_inverter(run, classifier=str(tiny_classifier_run))
    assert inv.num_classes == 10


def test_a_copied_run_tree_uses_its_own_classifier(tmp_path, tiny_classifier_run):
    """An inverter next to its classifier records it relatively: the copy does not reach back."""
    from unlogit import train_inverter
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig

    from ..conftest import TINY_GAN_OVERRIDES

    tree = tmp_path / "study"
    shutil.copytree(tiny_classifier_run, tree / "classifiers" / "clf")
    cfg = build_config(
        InverterRunConfig,
        "inverter",
        "tiny",
        [*TINY_GAN_OVERRIDES, "train.steps=2"],
        {"classifier": str(tree / "classifiers" / "clf")},
    )
    train_inverter(cfg, tree / "inverters" / "inv")
    assert json.loads((tree / "inverters" / "inv" / "model.json").read_text())["classifier"] == "../../classifiers/clf"
    moved = tmp_path / "elsewhere"
    shutil.move(str(tree), moved)
    inv = unlogit.load_inverter(moved / "inverters" / "inv")
    assert str(moved) in inv.classifier.info["spec"]


def test_a_different_classifier_at_the_recorded_place_is_refused(tmp_path, tiny_inverter_run, tiny_classifier_run):
    from ..conftest import _train_tiny_classifier

    run = tmp_path / "inv"
    shutil.copytree(tiny_inverter_run, run)
    other = _train_tiny_classifier(tmp_path, "other", "train.epochs=1", "train.seed=5")
    meta = json.loads((run / "model.json").read_text())
    meta["classifier"] = str(other)
    (run / "model.json").write_text(json.dumps(meta))
    with pytest.raises(UnlogitError, match="not the one .* was trained on"):
        unlogit.load_inverter(run)


def test_an_inverter_of_a_torchscript_classifier_reloads_only_when_the_user_names_it(tmp_path, tiny_classifier_run):
    import torch

    from unlogit import train_inverter
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig

    from ..conftest import TINY_GAN_OVERRIDES

    clf = unlogit.load_classifier(str(tiny_classifier_run))
    scripted = torch.jit.trace(clf.eval(), torch.rand(2, 3, 32, 32))
    scripted.save(str(tmp_path / "clf.pt"))
    cfg = build_config(
        InverterRunConfig,
        "inverter",
        "tiny",
        [*TINY_GAN_OVERRIDES, "train.steps=2"],
        {"classifier": f"torchscript:{tmp_path / 'clf.pt'}"},
    )
    train_inverter(cfg, tmp_path / "inv")
    with pytest.raises(UnlogitError, match="torchscript program .* data file points at it"):
        unlogit.load_inverter(tmp_path / "inv")  # a TorchScript graph is code: the run directory cannot choose it
    inv = unlogit.load_inverter(tmp_path / "inv", classifier=f"torchscript:{tmp_path / 'clf.pt'}")
    assert inv.classifier.classes == clf.classes  # class names come from the inverter's own metadata
