"""``unlogit demo``: CIFAR-10 when it is on the search path, the shapes fallback (saying so) when it is not."""

from __future__ import annotations

import json

import torch

from unlogit.study.demo import CIFAR_STUDY, SHAPES_STUDY, choose_demo


def test_without_cifar10_the_demo_says_where_it_looked_and_falls_back(capsys):
    choice = choose_demo()
    assert choice.study == SHAPES_STUDY and "Offline fallback" in choice.header
    printed = capsys.readouterr().out
    assert "Looked in" in printed and "unlogit demo --download" in printed


def test_with_cifar10_on_the_search_path_the_demo_uses_it(shared_data, monkeypatch):
    monkeypatch.setenv("UNLOGIT_DATA", str(shared_data))
    choice = choose_demo()
    assert choice.study == CIFAR_STUDY and "CIFAR-10" in choice.header


def test_the_cifar10_demo_runs_end_to_end_in_miniature(shared_data, monkeypatch, tmp_path):
    """The real demo study and its shipped classifiers, with every stage cut to seconds."""
    from unlogit.study.runner import load_study, run_study

    monkeypatch.setenv("UNLOGIT_DATA", str(shared_data))
    cfg = load_study(CIFAR_STUDY)
    cfg.compare.eval_size, cfg.compare.n = 60, 12
    cfg.claim.resamples, cfg.claim.noise_draws = 200, 1
    cfg.analyze.experiments, cfg.analyze.pool = ["reconstruct", "ceiling"], 60
    quick = ["train.steps=3", "train.max_minutes=null", "data.train_size=256", "train.eval_size=32",
             "train.batch_size=16", "train.standing_stats_batches=1", "train.progress=false",
             "train.log_every=1"]  # fmt: skip
    summary = run_study(cfg, tmp_path / "demo", quick, header="CIFAR-10 (test)")
    shipped = {f"unlogit:cifar10-{n}" for n in ("standard", "robust", "eval-standard", "eval-robust")}
    assert set(summary["classifiers"].values()) <= shipped
    claim = json.loads((tmp_path / "demo" / "claim.json").read_text())
    assert claim["n_images"] == 60 and claim["dataset"] == "cifar10" and claim["verdict"]
    page = (tmp_path / "demo" / "report" / "index.html").read_text()
    assert "CIFAR-10 (test)" in page and "The claim:" in page
    from unlogit.data.config import DataConfig

    first = DataConfig(name="cifar10").load("test").labels[:12]
    assert len(torch.unique(first)) == 10  # Figure 1 spans the classes (the test npz is sorted by class)
