"""The time-to-quality benchmark end to end on shapes, in seconds: JSON records and the plot."""

from __future__ import annotations

import json

from benchmarks.time_to_quality import main

from ..conftest import TINY_GAN_OVERRIDES, _train_tiny_classifier


def test_records_agreement_and_retrieval_against_minutes(tmp_path, tiny_classifier_run, capsys):
    judge = _train_tiny_classifier(tmp_path, "judge", "train.epochs=1", "train.seed=3", "data.part=b")
    overrides = [o for o in TINY_GAN_OVERRIDES if not o.startswith("train.steps")]
    out = tmp_path / "ttq.json"
    argv = ["--classifier", str(tiny_classifier_run), "--evaluator", str(judge), "--dataset", "shapes",
            "--preset", "tiny", "--minutes", "5", "--eval-every", "2", "--run", str(tmp_path / "run"),
            "--out", str(out), "train.steps=6", *overrides]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(out.read_text())
    steps = [r["step"] for r in result["records"]]
    assert steps == [2, 4, 6]  # two periodic evaluations and the final one
    for r in result["records"]:
        assert 0 <= r["true_label_agreement@judge"] <= 1 and r["median_retrieval_rank@pixels"] >= 1
        assert r["minutes"] >= 0
    assert out.with_suffix(".png").stat().st_size > 0 and "median rank" in capsys.readouterr().out
