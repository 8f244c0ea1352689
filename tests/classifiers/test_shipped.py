"""The shipped zoo (``unlogit:NAME``): every entry loads with its digest checked, carries a model card and a
portable command, measures on its dataset what its manifest says, and ``unlogit models`` lists it."""

from __future__ import annotations

import json
import shutil

import pytest

from unlogit.classifiers import runs
from unlogit.classifiers.evaluation import accuracy
from unlogit.classifiers.registry import load_classifier
from unlogit.classifiers.runs import shipped_classifiers
from unlogit.cli import main
from unlogit.data.registry import get_dataset
from unlogit.errors import CheckpointError

ZOO = shipped_classifiers()


def test_the_zoo_ships_both_demos_classifiers():
    for study in ("cifar10", "shapes"):
        names = {f"{study}-{n}" for n in ("standard", "robust", "eval-standard", "eval-robust")}
        assert names <= {n.removesuffix("-s0") for n in ZOO}, study


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_shipped_weight_has_a_card_and_a_command_without_machine_paths(name):
    entry, folder = ZOO[name], runs.WEIGHTS_DIR / name
    card = (folder / "MODEL_CARD.md").read_text()
    assert entry["sha256"] in card and entry["command"] in card and "Intended use" in card
    assert entry["command"].startswith("unlogit train-classifier ")
    assert "--out" not in entry["command"] and "/work" not in entry["command"] and "--data-root" not in entry["command"]
    assert (folder / "model.safetensors").stat().st_size == entry["bytes"]


@pytest.mark.parametrize("name", sorted(n for n in ZOO if n.startswith("shapes-")))
def test_a_shipped_shapes_classifier_measures_what_its_manifest_says(name):
    """Clean accuracy on 300 shapes test images within a few points of the manifest's (on 2,000)."""
    clf = load_classifier(f"unlogit:{name}")
    measured = accuracy(clf, get_dataset("shapes", "test", size=300))["accuracy"]
    assert abs(measured - ZOO[name]["summary"]["clean_acc"]) < 0.08


def test_a_tampered_weight_file_is_refused(tmp_path, monkeypatch):
    name = "shapes-standard"
    shutil.copytree(runs.WEIGHTS_DIR / name, tmp_path / name)
    shutil.copy(runs.WEIGHTS_DIR / "MANIFEST.json", tmp_path / "MANIFEST.json")
    weights = tmp_path / name / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(runs, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_classifier(f"unlogit:{name}")


def test_unlogit_models_lists_the_zoo(capsys):
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    for name, entry in ZOO.items():
        assert f"unlogit:{name} " in listed and entry["sha256"][:12] in listed
    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == ZOO


def test_an_edited_model_json_of_a_shipped_classifier_is_refused(tmp_path, monkeypatch):
    """The manifest covers the metadata too: swapping two class names, or the normalisation, is caught."""
    name = "shapes-standard"
    shutil.copytree(runs.WEIGHTS_DIR / name, tmp_path / name)
    shutil.copy(runs.WEIGHTS_DIR / "MANIFEST.json", tmp_path / "MANIFEST.json")
    meta_file = tmp_path / name / "model.json"
    meta = json.loads(meta_file.read_text())
    meta["classes"][0], meta["classes"][1] = meta["classes"][1], meta["classes"][0]
    meta_file.write_text(json.dumps(meta))
    monkeypatch.setattr(runs, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(CheckpointError, match=r"model\.json does not match its recorded SHA-256"):
        load_classifier(f"unlogit:{name}")
