from __future__ import annotations

import csv
import json

import pytest
import torch

from unlogit.cli import main
from unlogit.data import get_dataset
from unlogit.errors import UnlogitError
from unlogit.scoring.evaluate import table_columns


def test_evaluate_two_inverters_writes_complete_table(tmp_path, tiny_inverter_run, evaluator_run, tiny_classifier_run):
    from unlogit import train_inverter
    from unlogit.config import build_config, deep_merge, load_preset_dict
    from unlogit.inversion.config import InverterRunConfig

    from ..conftest import TINY_GAN_OVERRIDES

    extra = deep_merge(load_preset_dict("inverter", "methods/pixel"), {"classifier": str(tiny_classifier_run)})
    pixel = tmp_path / "pixel"
    train_inverter(build_config(InverterRunConfig, "inverter", "tiny", TINY_GAN_OVERRIDES, extra), pixel)
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            str(tiny_inverter_run),
            str(pixel),
            "--dataset",
            "shapes",
            "--n",
            "40",
            "--evaluator",
            str(evaluator_run),
            "--samples",
            "2",
            "--out",
            str(out),
            "--extractor",
            str(tiny_classifier_run),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    result = json.loads((out / "evaluate.json").read_text())
    assert set(result["inverters"]) == {tiny_inverter_run.name, "pixel"}
    columns = [c.key for c in table_columns(["evaluator"], ["extractor1"])]
    ds = get_dataset("shapes", "test", size=40)
    present = {ds.classes[int(k)] for k in ds.labels.unique()}
    for row in result["inverters"].values():
        for col in columns[2:]:
            assert col in row, col
        assert set(row["per_class"]) == present  # one entry per class among the 40 images
        assert sum(c["n"] for c in row["per_class"].values()) == 40
        assert row["chance"]["true_label_agreement@evaluator"] == 0.1
    assert result["inverters"]["pixel"]["diversity_pixel"] == 0.0  # a deterministic decoder
    assert result["inverters"][tiny_inverter_run.name]["diversity_pixel"] > 0
    assert result["n"] == 40 and result["provenance"]["evaluator"]["weights_sha256"]
    assert result["extra_extractors"]["extractor1"]["extractor"] == str(tiny_classifier_run)
    assert all(row["frechet@extractor1"] >= 0 for row in result["inverters"].values())
    assert all(row["logits"]["source"] == "computed" for row in result["inverters"].values())
    rows = list(csv.reader((out / "evaluate.csv").read_text().splitlines()))
    assert rows[0] == columns and len(rows) == 3
    assert (out / "evaluate.md").read_text().startswith("| inverter |")


def test_inception_fid_only_from_a_local_file(tmp_path, tiny_inverter_run, evaluator_run):
    from unlogit.data import get_dataset
    from unlogit.scoring.evaluate import evaluate

    data = get_dataset("shapes", "test", size=10)
    with pytest.raises(UnlogitError, match="never computed from downloaded weights"):
        evaluate([tiny_inverter_run], data, str(evaluator_run), inception_weights=str(tmp_path / "nope.pth"))


def test_evaluator_must_be_independent(tmp_path, tiny_inverter_run, tiny_classifier_run):
    import shutil

    from unlogit.data import get_dataset
    from unlogit.scoring.evaluate import evaluate

    data = get_dataset("shapes", "test", size=10)
    with pytest.raises(UnlogitError, match="independent"):
        evaluate([tiny_inverter_run], data, str(tiny_classifier_run))
    copy = tmp_path / "same-weights-elsewhere"  # independence is checked by weights, not by path
    shutil.copytree(tiny_classifier_run, copy)
    with pytest.raises(UnlogitError, match="independent"):
        evaluate([tiny_inverter_run], data, [str(copy)])


def test_auto_is_cuda_when_present_and_features_reach_the_metrics_on_the_cpu(tiny_inverter_run):
    from unlogit import load_inverter
    from unlogit.scoring.metrics import ClassifierFeatures

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    inv = load_inverter(tiny_inverter_run)  # the default: auto
    assert inv.device.type == expected and inv.classifier.mean.device.type == expected
    features = ClassifierFeatures(inv.classifier)(torch.rand(3, *inv.image_shape))
    assert features.device.type == "cpu" and features.dtype == torch.float32
