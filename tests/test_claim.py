"""The claim stage on synthetic per-image values: endpoints, the gate, the verdicts."""

from __future__ import annotations

import torch

from unlogit.study.claim import ClaimConfig, InverterScores, decide, endpoints_for

EVALUATORS = ["e-std", "e-rob"]


def _scores(name: str, agreement: float, retrieval: float, n: int = 200, seed: int = 0) -> InverterScores:
    g = torch.Generator().manual_seed(seed)
    values = {}
    for e in EVALUATORS:
        values[f"true_label_agreement@{e}"] = (torch.rand(1, n, generator=g) < agreement).double()
    for space in ("pixels", *EVALUATORS):
        for kind in ("retrieval", "retrieval_class"):
            values[f"{kind}@{space}"] = (retrieval + 0.1 * torch.randn(1, n, generator=g)).clamp(0, 1).double()
        values[f"retrieval_rank@{space}"] = torch.full((1, n), 10.0, dtype=torch.float64)
    for q in ("psnr", "ssim", "colour_error", "own_label_agreement", "logit_kl"):
        values[q] = torch.rand(1, n, generator=g).double()
    return InverterScores(name, values, {"kid": 0.01, "ci_low": 0.005, "ci_high": 0.015})


def test_endpoints_are_fixed_primary_first_with_chance():
    eps = endpoints_for(ClaimConfig(), EVALUATORS, num_classes=10)
    primary = [e for e in eps if e.primary]
    assert [e.key for e in primary[:2]] == ["true_label_agreement@e-std", "true_label_agreement@e-rob"]
    assert all(e.chance == 0.1 for e in primary[:2]) and len(primary) == 2 + 2 * 3
    assert all(not e.primary for e in eps[len(primary) :])


def test_a_clearly_better_inverter_holds_and_the_gate_passes():
    cfg = ClaimConfig(resamples=500)
    result = decide(_scores("robust", 0.7, 0.8), _scores("standard", 0.4, 0.6, seed=1), EVALUATORS, 10, cfg)
    assert not result["excluded"] and result["gates"]["robust"]["passed"]
    verdicts = {e["endpoint"]: e["verdict"] for e in result["endpoints"] if e["primary"]}
    assert set(verdicts.values()) == {"holds"}, verdicts
    assert result["verdict"].startswith("8 holds")


def test_an_inverter_at_chance_is_left_out_with_the_reason():
    cfg = ClaimConfig(resamples=500)
    result = decide(_scores("robust", 0.1, 0.8), _scores("standard", 0.4, 0.6, seed=1), EVALUATORS, 10, cfg)
    assert result["verdict"] == "not compared"
    assert any("robust: true-label agreement under e-std" in r for r in result["excluded"])


def test_realism_far_apart_is_not_compared():
    a, b = _scores("robust", 0.7, 0.8), _scores("standard", 0.6, 0.7, seed=1)
    b.kid = {"kid": 0.5, "ci_low": 0.45, "ci_high": 0.55}
    result = decide(a, b, EVALUATORS, 10, ClaimConfig(resamples=200, kid_ratio=4.0))
    assert result["verdict"] == "not compared" and any("KID" in r for r in result["excluded"])
