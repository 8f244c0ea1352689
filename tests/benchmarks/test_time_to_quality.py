"""The time-to-quality benchmark end to end on shapes, in seconds: both variants, JSON records and the plot."""

from __future__ import annotations

import json

import pytest

from benchmarks.time_to_quality import derive, main, trend_minutes_to

from ..conftest import TINY_GAN_OVERRIDES, _train_tiny_classifier


def test_records_agreement_and_retrieval_of_both_variants_against_steps_and_minutes(
    tmp_path, tiny_classifier_run, capsys
):
    judge = _train_tiny_classifier(tmp_path, "judge", "train.epochs=1", "train.seed=3", "data.part=b")
    fixed = ("train.steps", "train.amp", "train.channels_last", "train.compile")
    overrides = [o for o in TINY_GAN_OVERRIDES if not o.startswith(fixed)]
    out = tmp_path / "ttq.json"
    argv = [
        "--classifier",
        str(tiny_classifier_run),
        "--evaluator",
        str(judge),
        "--dataset",
        "shapes",
        "--preset",
        "tiny",
        "--steps",
        "6",
        "--eval-every",
        "2",
        "--run",
        str(tmp_path / "run"),
        "--out",
        str(out),
        "--target-agreement",
        "0",
        "--target-rank",
        "1000",
        *overrides,
    ]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert set(result["variants"]) == {"eager-fp32", "auto"} and result["cpu"]["model"]
    for v in result["variants"].values():
        assert [r["step"] for r in v["records"]] == [2, 4, 6]  # two periodic evaluations and the final one
        for r in v["records"]:
            assert 0 <= r["true_label_agreement@judge"] <= 1 and r["median_retrieval_rank@pixels"] >= 1
            assert r["steps_per_s"] > 0 and r["images_per_s"] > 0
        assert v["minutes_to_target"] == v["records"][0]["minutes"]  # a target every evaluation meets
        assert v["minutes_to_target_trend"] == v["minutes_to_target"]
    assert result["variants"]["eager-fp32"]["fast_path"]["amp"] == "off"
    assert result["minutes_ratio"] > 0
    assert out.with_suffix(".png").stat().st_size > 0 and "minutes_ratio" in capsys.readouterr().out


def test_the_batch_lever_scales_the_presets_learning_rates_not_the_dataclass_defaults():
    """Batch 32 from the CIFAR-10 preset's batch 16: both rates x sqrt(2) of the preset's (1e-3), not of 2e-4."""
    from benchmarks.time_to_quality import scaled_lr_overrides
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig

    base = build_config(InverterRunConfig, "inverter", "cifar10-cpu", ["train.lr_d=5e-4"], {"classifier": "x"})
    scaled = build_config(
        InverterRunConfig,
        "inverter",
        "cifar10-cpu",
        ["train.lr_d=5e-4", *scaled_lr_overrides(base, 32)],
        {"classifier": "x"},
    )
    factor = (32 / base.train.batch_size) ** 0.5
    assert scaled.train.batch_size == 32 and base.train.batch_size != 32
    assert abs(scaled.train.lr_g - base.train.lr_g * factor) < 1e-8
    assert abs(scaled.train.lr_d - 5e-4 * factor) < 1e-8


def _records(agreements, ranks):
    return [
        {
            "minutes": float(i + 1),
            "step": 100 * (i + 1),
            "steps_per_s": 1.0,
            "true_label_agreement@j": a,
            "median_retrieval_rank@pixels": r,
        }
        for i, (a, r) in enumerate(zip(agreements, ranks))
    ]


def test_one_lucky_evaluation_on_a_plateau_is_not_the_trend_reaching_the_target():
    plateau = _records([0.30, 0.46, 0.40, 0.41], [70, 70, 70, 70])  # the isotonic fit pools 0.46 down to 0.42
    assert trend_minutes_to(plateau, 0.45, 80) is None
    rising = _records([0.30, 0.40, 0.46, 0.47], [120, 90, 75, 85])  # the rank's fit: 120, 90, 80, 80
    assert trend_minutes_to(rising, 0.45, 80) == 3.0
    assert trend_minutes_to(rising, 0.45, 79) is None


def test_derive_gives_first_evaluation_and_trend_ratios_and_the_ladder():
    eager = _records([0.30, 0.40, 0.46, 0.47], [70] * 4)
    fast = [{**r, "minutes": r["minutes"] / 2} for r in _records([0.30, 0.46, 0.44, 0.45], [70] * 4)]
    variants = {"eager-fp32": {"records": eager}, "auto": {"records": fast}}
    result = derive({"target": {"agreement": 0.45, "rank": 80}, "variants": variants}, [0.3, 0.45])
    assert result["variants"]["auto"]["minutes_to_target"] == 1.0 and result["minutes_ratio"] == pytest.approx(1 / 3)
    assert result["minutes_ratio_trend"] == pytest.approx(1.0 / 3)  # the fit pools 0.46, 0.44, 0.45 to 0.45
    assert result["trend_ratio_ladder"]["0.3"] == {"eager_minutes": 1.0, "auto": 0.5}


def test_from_json_recomputes_without_training_and_a_missing_file_is_named(tmp_path, capsys):
    src = tmp_path / "old.json"
    src.write_text(
        json.dumps(
            {"target": {"agreement": 0.45, "rank": 80}, "variants": {"eager-fp32": {"records": _records([0.5], [10])}}}
        )
    )
    assert main(["--from-json", str(src), "--out", str(tmp_path / "new.json")]) == 0
    assert json.loads((tmp_path / "new.json").read_text())["variants"]["eager-fp32"]["minutes_to_target_trend"] == 1.0
    with pytest.raises(SystemExit):
        main(["--from-json", str(tmp_path / "absent.json"), "--out", str(tmp_path / "x.json")])
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "x.json")])
    assert "--classifier" in capsys.readouterr().err
