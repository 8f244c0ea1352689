from __future__ import annotations

import json

import pytest

from unlogit.analysis import EXPERIMENTS, AnalyzeConfig, run_experiment
from unlogit.cli import main
from unlogit.errors import ConfigError

MANIPULATIONS = ["logit-shift", "logit-scale", "logit-perturb", "logit-interpolate"]


def _fashion_like(tmp_path):
    """A small greyscale 28x28 npz standing in for another dataset (converted to 3x32x32 by analyze)."""
    import numpy as np

    path = tmp_path / "ood.npz"
    if not path.exists():
        rng = np.random.default_rng(0)
        np.savez(path, x=rng.integers(0, 255, (40, 28, 28), dtype=np.uint8), y=rng.integers(0, 10, 40))
    return path


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_each_experiment_writes_figures_and_documented_metrics(experiment, tmp_path, tiny_inverter_run):
    cfg = AnalyzeConfig(
        dataset="shapes", n=6, pool=200, train_sample=400, ood_dataset="npz:" + str(_fashion_like(tmp_path))
    )
    result = run_experiment(experiment, [tiny_inverter_run], cfg, tmp_path)
    folder = tmp_path / experiment
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["experiment"] == experiment and metrics["dataset"] == "shapes"
    assert result.figures and all((folder / f"{k}.png").stat().st_size > 0 for k in result.figures)
    per_inverter = metrics["inverters"][tiny_inverter_run.name]
    if experiment == "reconstruct":
        assert {"own_label_agreement", "psnr", "ssim"} <= set(per_inverter)
    elif experiment == "noise":
        assert per_inverter["diversity_pixel"] > 0  # a GAN's noise changes the picture
    elif experiment == "transforms":
        assert set(per_inverter) == set(metrics["transforms"]) and "| follow index |" in metrics["table"]
        for row in per_inverter.values():
            assert 0 <= row["label_kept"] <= 1
            assert row.get("follow_index") is None or -1 <= row["follow_index"] <= 2
        assert per_inverter["hflip"]["image_change"] > 0
        assert {"cf-move", "cf-rotate", "cf-recolour"} <= set(per_inverter)  # shapes: counterfactual re-rendering
    elif experiment == "misclassified":
        assert per_inverter["n"] == metrics["n_common"] > 0 and 0 <= per_inverter["recon_labelled_true"] <= 1
    elif experiment == "adversarial":
        assert set(per_inverter) == {"linf-untargeted", "linf-targeted", "l2-untargeted", "l2-targeted", "eps_sweep"}
        assert per_inverter["linf-untargeted"]["attack_success"] > 0.3  # a standard classifier is fragile
        row = per_inverter["linf-targeted"]
        assert row["n_success"] <= row["n_attacked"] and row["attack_success"] == row["n_success"] / row["n_attacked"]
    elif experiment == "ood":
        assert set(per_inverter) == {"in_distribution", "ood"}
    elif experiment == "factors":
        for factor in ("pos_x", "pos_y", "scale", "bg_r", "obj_g"):  # the readout reads them from real images
            assert metrics["originals"][factor] >= 0.9, factor
        assert metrics["originals"]["rotation_error"] < 0.1
        assert set(per_inverter) >= {"pos_x", "obj_r", "rotation_error", "mean_r2"}
    elif experiment == "ceiling":
        assert set(per_inverter) == set(metrics["targets"]) >= {"position", "object colour", "rotation"}
        assert metrics["n_probe_train"] == 400  # analyze.train_sample training images fit the probe
        for row in per_inverter.values():
            assert row["ceiling_r2"] <= 1 and row["recovered_r2"] <= 1
    elif experiment == "draw-mean":
        assert set(per_inverter) == {"one draw", *(f"mean of {k} draws" for k in metrics["draws"])}
        assert all(0 <= row["layout"] <= 1 for row in per_inverter.values())
        assert metrics["versus_reference"] == {}  # no deterministic inverter of this classifier to compare with
    elif experiment == "leakage":
        assert set(per_inverter) == set(metrics["defences"]) >= {"logits", "top-1", "probs", "label"}
        assert all(0 <= row["own_label_agreement"] <= 1 for row in per_inverter.values())
    else:
        assert len(per_inverter) == len(metrics["values"])
        for point in per_inverter:
            assert {"brightness", "contrast", "sharpness", "label_kept", "label_of_edit"} <= set(point)
            assert 0 <= point["brightness"] <= 1


def test_identity_edit_keeps_the_reconstruction(tmp_path, tiny_inverter_run):
    """shift 0, scale 1, sigma 0 and alpha 0 all reproduce the unedited reconstruction: same statistics."""
    stats = {}
    for name, identity in (
        ("logit-shift", 0.0),
        ("logit-scale", 1.0),
        ("logit-perturb", 0.0),
        ("logit-interpolate", 0.0),
    ):
        metrics = run_experiment(name, [tiny_inverter_run], AnalyzeConfig(dataset="shapes", n=6), tmp_path).metrics
        curve = metrics["inverters"][tiny_inverter_run.name]
        stats[name] = next(p for p in curve if p[metrics["parameter"]] == identity)["brightness"]
    assert max(stats.values()) - min(stats.values()) < 1e-6


def test_leakage_defences_keep_what_they_should():
    import torch

    from unlogit.analysis.leakage import defences

    logits = torch.tensor([[3.0, 1.0, -2.0, 0.5], [0.0, 4.0, 1.0, -1.0]])
    out = defences(logits, level=0.0, class_means=torch.eye(4))
    assert torch.equal(out["logits"], logits)
    assert torch.equal(out["top-1"].argmax(1), logits.argmax(1)) and (out["top-1"] == logits).sum() == 2
    assert torch.allclose(out["probs"].softmax(1), logits.softmax(1), atol=1e-6)  # probs lose only a constant
    assert torch.equal(out["label"], torch.eye(4)[logits.argmax(1)])


def test_cli_all_and_unknown_experiment(tmp_path, tiny_inverter_run, capsys):
    assert (
        main(
            [
                "analyze",
                "all",
                "--inverter",
                str(tiny_inverter_run),
                "--dataset",
                "shapes",
                "--n",
                "4",
                "--pool",
                "60",
                "--train-sample",
                "200",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    written = {p.parent.name for p in tmp_path.glob("*/metrics.json")}
    assert written == set(EXPERIMENTS) - {"ood"}  # "all" without --ood-dataset: every other experiment
    with pytest.raises(ConfigError, match="unknown experiment 'x'"):
        run_experiment("x", [tiny_inverter_run], AnalyzeConfig(), tmp_path)
