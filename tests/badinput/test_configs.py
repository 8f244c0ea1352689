"""Bad input, surface: configs and overrides. Every bad value is a named error with a fix, checked before a
run directory exists; --resume refuses changes that would break an exact run."""

from __future__ import annotations

import json

import pytest

from unlogit.cli import main

from ..conftest import MINI_CLF, TINY_GAN_OVERRIDES


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lr_g=.nan", "train.lr_g' must be > 0, got nan"),
        ("model.ch_g=-4", "model.ch_g' must be > 0"),
        ("model.g_channels=[4,-2,1,1]", r"model.g_channels\[1\]' must be > 0"),
        ("train.max_minutes=-1", "train.max_minutes' must be > 0"),
        ("train.eval_size=0", "train.eval_size' must be > 0"),
        ("train.batch_size=64", "fewer than one batch"),
        ("model.method=magic", "model.method': unknown inversion method 'magic'"),
        ("train.lrr=1", "unknown config key 'train.lrr'"),
    ],
)
def test_bad_inverter_configs_exit_2_and_leave_nothing(tmp_path, tiny_classifier_run, override, message, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--classifier",
        str(tiny_classifier_run),
        "--out",
        str(out),
        *TINY_GAN_OVERRIDES,
        "data.train_size=48",
        override,
    ]
    assert main(argv) == 2
    import re

    assert re.search(message, capsys.readouterr().err), message
    assert not out.exists()  # validated before the run directory is created


def test_onecycle_with_too_few_steps_is_explained(tmp_path, capsys):
    argv = ["train-classifier", "--out", str(tmp_path / "c"), *MINI_CLF, "data.train_size=128", "train.batch_size=64"]
    assert main(argv) == 2 and "one-cycle schedule needs at least 5" in capsys.readouterr().err


def test_a_failed_start_can_be_retried(tmp_path, tiny_classifier_run, capsys):
    out = tmp_path / "b1"
    bad = [
        "train",
        "--classifier",
        str(tiny_classifier_run),
        "--out",
        str(out),
        *TINY_GAN_OVERRIDES,
        "train.steps=2",
        "train.checkpoint_every=100",
        "train.log_every=1",
    ]
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"kind": "inverter"}))  # what a start that died early leaves
    (out / "config.yaml").write_text("{}")
    assert main(bad) == 0  # retried in place, not "already exists"
    assert (out / "model.json").is_file()


def test_resume_refuses_changes_that_break_exactness_and_keeps_config(tmp_path, tiny_classifier_run, capsys):
    out = tmp_path / "r"
    base = ["train", "--classifier", str(tiny_classifier_run), "--out", str(out), *TINY_GAN_OVERRIDES, "train.steps=3"]
    assert main(base) == 0
    before = (out / "config.yaml").read_text()
    capsys.readouterr()
    assert main([*base, "--resume", "model.ch_g=32", "data.train_size=256"]) == 2
    err = capsys.readouterr().err
    assert "model.ch_g: 4 -> 32" in err and "data.train_size: 512 -> 256" in err
    assert (out / "config.yaml").read_text() == before
    assert main([*base, "--resume", "train.steps=5"]) == 0  # a longer run is exact: allowed, and recorded
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"train.steps": [3, 5]} in [r.get("resume_changes") for r in records]
    assert sum(1 for r in records if r.get("final")) == 1  # one final line, not one per resume


def test_classifier_resume_with_more_epochs_needs_a_constant_schedule(tmp_path, capsys):
    out = tmp_path / "c"
    base = ["train-classifier", "--out", str(out), *MINI_CLF]
    assert main(base) == 0
    capsys.readouterr()
    assert main([*base, "--resume", "train.epochs=2"]) == 2
    assert "onecycle schedule's length is fixed" in capsys.readouterr().err
