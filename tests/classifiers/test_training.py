from __future__ import annotations

import json

import torch

from unlogit.classifiers import load_classifier
from unlogit.classifiers.config import ClassifierRunConfig
from unlogit.classifiers.evaluation import accuracy
from unlogit.classifiers.training import train_classifier
from unlogit.config import build_config
from unlogit.data import get_dataset
from unlogit.errors import UnlogitError
from unlogit.runtime.checkpoint import load_checkpoint

from ..conftest import _train_tiny_classifier


def test_learns_far_above_chance(tiny_classifier_run):
    summary = json.loads((tiny_classifier_run / "model.json").read_text())["summary"]
    assert summary["clean_acc"] >= 0.8  # chance is 0.1
    for name in ("config.yaml", "run.json", "metrics.jsonl", "checkpoints/last.json"):
        assert (tiny_classifier_run / name).is_file(), name
    records = [json.loads(line) for line in (tiny_classifier_run / "metrics.jsonl").read_text().splitlines()]
    epochs, final = [r for r in records if not r.get("final")], records[-1]
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4, 5, 6]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert final["final"] and 0.8 <= final["test_acc"] <= 1  # the test split, touched once, after training
    assert final["elapsed_s"] > sum(r["seconds"] for r in epochs)  # the training cost, the final test included


def test_adversarial_training_is_more_robust(tmp_path, tiny_classifier_run):
    robust_run = _train_tiny_classifier(
        tmp_path,
        "robust",
        "train.adversarial=true",
        "train.attack.steps=2",
        "train.attack.step_size=0.02",
        "train.lr=0.1",
        "train.eps_warmup_epochs=3",
        "data.train_size=4000",
    )
    test = get_dataset("shapes", "test", size=300)
    pgd = {"norm": "linf", "eps": 8 / 255, "steps": 5}
    from unlogit.classifiers.attacks import PGD

    accs = {}
    for name, run in (("standard", tiny_classifier_run), ("robust", robust_run)):
        clf = load_classifier(str(run))
        accs[name] = accuracy(clf, test, PGD(clf, **pgd))["accuracy"]
    assert accs["robust"] > accs["standard"] + 0.1, accs


def test_resume_equals_uninterrupted(tmp_path):
    overrides = [
        "data.train_size=1024",
        "data.test_size=128",
        "model.width=4",
        "train.batch_size=64",
        "train.eval_robust_size=32",
        "train.progress=false",
        "train.augment=crop-flip",
        "train.adversarial=true",
        "train.attack.steps=1",
    ]
    full = build_config(ClassifierRunConfig, "classifier", "tiny", [*overrides, "train.epochs=2"])
    train_classifier(full, tmp_path / "full")
    # an interrupted run: same config, stopped after epoch 1, then resumed to epoch 2
    part = build_config(ClassifierRunConfig, "classifier", "tiny", [*overrides, "train.epochs=2"])
    _run_one_epoch_then_stop(part, tmp_path / "part")
    train_classifier(part, tmp_path / "part", resume=True)
    a, _ = load_checkpoint(tmp_path / "full" / "model", "unlogit.classifier")
    b, _ = load_checkpoint(tmp_path / "part" / "model", "unlogit.classifier")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines if "final" not in line] == [1, 2]


def _run_one_epoch_then_stop(cfg, out):
    """Simulate an interruption: train with a callback that raises after the first epoch's checkpoint."""
    import unlogit.classifiers.training as training

    original = training._save_state

    def save_then_stop(*args, **kwargs):
        original(*args, **kwargs)
        raise KeyboardInterrupt

    training._save_state = save_then_stop
    try:
        train_classifier(cfg, out)
    except KeyboardInterrupt:
        pass
    finally:
        training._save_state = original


def test_existing_run_directory_is_not_overwritten(tiny_classifier_run):
    cfg = build_config(ClassifierRunConfig, "classifier", "tiny")
    try:
        train_classifier(cfg, tiny_classifier_run)
    except UnlogitError as exc:
        assert "already exists" in str(exc) and "--resume" in str(exc)
    else:
        raise AssertionError("expected an error")


def test_gaussian_noise_augmentation_perturbs_every_training_batch(monkeypatch, tmp_path):
    """``train.noise_std`` adds N(0, sigma^2) to every training batch: the noise has that standard deviation, and
    training applies it to each batch with the configured sigma."""
    import pytest

    from unlogit.classifiers import training
    from unlogit.data.batching import gaussian_noise
    from unlogit.errors import ConfigError

    x = torch.full((64, 3, 16, 16), 0.5)
    noisy = gaussian_noise(x, 0.25)
    assert abs(float((noisy - x).std()) - 0.25) < 0.01 and torch.equal(gaussian_noise(x, 0.0), x)
    stds = []
    monkeypatch.setattr(training, "gaussian_noise", lambda batch, std: stds.append(std) or gaussian_noise(batch, std))
    overrides = ["data.train_size=256", "data.test_size=64", "model.width=4", "train.epochs=1", "train.batch_size=64"]
    overrides += ["train.progress=false", "train.eval_robust_size=8", "train.noise_std=0.25", "train.schedule=constant"]
    train_classifier(build_config(ClassifierRunConfig, "classifier", "tiny", overrides), tmp_path / "noisy")
    assert stds == [0.25] * 4  # 256 images in batches of 64
    with pytest.raises(ConfigError, match="noise_std"):
        build_config(ClassifierRunConfig, "classifier", "tiny", ["train.noise_std=-0.1"])
