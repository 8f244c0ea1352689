"""The claim stage on synthetic per-image values whose answer is known: one primary endpoint decides, the gate,
realism, the dose-response, and recomputing the table from the released values."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from unlogit.data import get_dataset
from unlogit.errors import ConfigError
from unlogit.runtime.rundir import StudyLayout
from unlogit.study.arms import ArmScores
from unlogit.study.claim.config import ClaimConfig
from unlogit.study.claim.endpoints import claim_endpoints
from unlogit.study.claim.verdict import decide, dose_response, recompute, reference_comparison, save_values
from unlogit.study.protocol import Endpoint

EVALUATORS = ["e-std", "e-rob"]
KID = {"kid": 0.01, "se": 0.002, "ci_low": 0.006, "ci_high": 0.014}


@pytest.fixture(scope="module")
def data():
    return get_dataset("shapes", "test", size=20)


def _arm(
    name: str,
    agreement: float,
    retrieval: float,
    k: int = 3,
    s: int = 2,
    n: int = 300,
    seed: int = 0,
    kid: dict | None = None,
) -> ArmScores:
    g = torch.Generator().manual_seed(seed)
    values = {}
    for e in EVALUATORS:
        values[f"true_label_agreement@{e}"] = (torch.rand(k, s, n, generator=g) < agreement).double()
    for space in ("pixels", *EVALUATORS):
        for kind in ("retrieval", "retrieval_class"):
            shift = 0.02 * torch.randn(k, 1, 1, generator=g)  # classifier effects
            values[f"{kind}@{space}"] = (retrieval + shift + 0.1 * torch.randn(k, s, n, generator=g)).clamp(0, 1)
    for q in ("psnr", "ssim", "colour_error", "own_label_agreement", "logit_kl"):
        values[q] = torch.rand(k, s, n, generator=g).double()
    units = [
        [SimpleNamespace(summary={"method": "gan", "steps": 100, "capped": False}) for _ in range(s)] for _ in range(k)
    ]
    return ArmScores(name, values, units, kid or KID)  # type: ignore[arg-type]


def test_endpoints_have_one_primary_first_with_its_reason(data):
    eps = claim_endpoints("retrieval@pixels", "judge-free", ClaimConfig().margins, EVALUATORS, data)
    assert eps[0].key == "retrieval@pixels" and eps[0].primary and eps[0].reason == "judge-free"
    assert sum(e.primary for e in eps) == 1
    assert {"mask_iou", "true_label_agreement@e-std", "retrieval_class@e-rob"} <= {e.key for e in eps}
    with pytest.raises(ValueError, match="not among"):
        claim_endpoints("retrieval@nowhere", "x", ClaimConfig().margins, EVALUATORS, data)


def test_each_endpoint_has_its_quantitys_direction_and_margin_in_its_own_unit(data):
    from unlogit.errors import ConfigError

    eps = {e.key: e for e in claim_endpoints("retrieval@pixels", "r", {}, EVALUATORS, data)}
    assert eps["psnr"].margin == 0.25 and eps["ssim"].margin == 0.01  # dB and SSIM are not one scale
    assert eps["retrieval@layout"].margin == 0.02 and eps["true_label_agreement@e-std"].margin == 0.03
    assert not eps["colour_error"].higher_is_better and not eps["centroid_error"].higher_is_better
    assert eps["mask_iou"].higher_is_better
    cfg = ClaimConfig(margins={"psnr": 0.5})  # a study may state its own margin for a quantity
    assert {e.key: e for e in claim_endpoints("psnr", "r", cfg.margins, EVALUATORS, data)}["psnr"].margin == 0.5
    with pytest.raises(ConfigError, match="'psnr_db', which is not a quantity"):
        ClaimConfig(margins={"psnr_db": 0.5})


def test_the_claims_verdict_is_its_primary_endpoints(data):
    result = decide(_arm("robust", 0.7, 0.8), _arm("standard", 0.4, 0.6, seed=1), EVALUATORS, data, ClaimConfig())
    assert not result["excluded"] and result["gates"]["robust"]["passed"]
    primary = [e for e in result["endpoints"] if e["primary"]]
    assert len(primary) == 1 and primary[0]["endpoint"] == "retrieval@pixels"
    assert result["verdict"] == primary[0]["verdict"] == "holds"
    assert result["n_classifiers"] == {"robust": 3, "standard": 3} and result["inference"].startswith("the training")
    assert all(e["p_holm"] is not None for e in result["endpoints"] if not e["primary"])


def test_an_arm_at_chance_is_not_compared(data):
    result = decide(_arm("robust", 0.1, 0.8), _arm("standard", 0.4, 0.6, seed=1), EVALUATORS, data, ClaimConfig())
    assert result["verdict"] == "not compared" and "robust" in result["excluded"][0]


def test_realism_far_apart_excludes_the_comparison(data):
    far = {"kid": 0.5, "se": 0.01, "ci_low": 0.48, "ci_high": 0.52}
    result = decide(
        _arm("robust", 0.7, 0.8, kid=far), _arm("standard", 0.6, 0.6, seed=1), EVALUATORS, data, ClaimConfig()
    )
    assert result["verdict"] == "not compared" and "apart" in result["excluded"][-1]


def test_the_reference_decoder_is_compared_beside_the_arms(data):
    """Arms whose retrieval a regression already reaches (0.8 vs 0.6): neither beats its reference, and the
    references show the same gap; with references far below the arms, both beat them."""
    a, b = _arm("robust", 0.7, 0.8), _arm("standard", 0.4, 0.6, seed=1)
    same = reference_comparison(
        a, b, _arm("robust-ridge", 0.7, 0.8, s=1, seed=2), _arm("standard-ridge", 0.4, 0.6, s=1, seed=3),
        EVALUATORS, data, ClaimConfig(),
    )  # fmt: skip
    gap = next(e for e in same["gap"] if e["primary"])
    assert gap["verdict"] == "holds" and gap["estimate"] == pytest.approx(0.2, abs=0.05)
    assert same["summary"].startswith("neither inverter beats the reference decoder on retrieval@pixels")
    assert {e["endpoint"] for e in same["a_over_reference"]} == {e["endpoint"] for e in same["gap"]}
    low = reference_comparison(
        a, b, _arm("robust-ridge", 0.7, 0.3, s=1, seed=2), _arm("standard-ridge", 0.4, 0.3, s=1, seed=3),
        EVALUATORS, data, ClaimConfig(),
    )  # fmt: skip
    assert low["summary"].startswith("both inverters beat the reference decoder")
    with pytest.raises(ConfigError, match="both claim.reference_a and claim.reference_b"):
        ClaimConfig(reference_a="robust-ridge")


def test_the_released_values_recompute_the_table(data, tmp_path):
    a, b = _arm("robust", 0.7, 0.8), _arm("standard", 0.4, 0.6, seed=1)
    result = decide(a, b, EVALUATORS, data, ClaimConfig())
    layout = StudyLayout(tmp_path)
    save_values(layout.claim_values, [a, b])
    layout.claim.write_text(json.dumps(result))
    again = recompute(tmp_path)
    assert [r["endpoint"] for r in again] == [e["endpoint"] for e in result["endpoints"]]
    for r, e in zip(again, result["endpoints"]):
        assert r["estimate"] == pytest.approx(e["estimate"]) and r["ci_low"] == pytest.approx(e["ci_low"])
        assert r["verdict"] == e["verdict"]


def test_dose_response_rows_borrow_the_familys_variance():
    family, standard = _arm("robust", 0.7, 0.8), _arm("standard", 0.4, 0.6, seed=1)
    doses = [(0.25, _arm("eps0.25", 0.6, 0.7, k=1, seed=2)), (1.0, _arm("eps1.0", 0.7, 0.85, k=1, seed=3))]
    endpoint = Endpoint("retrieval@pixels", "retrieval", True, True, 0.02)
    rows = dose_response(doses, family, standard, endpoint, dose_a=0.5)
    assert [r["dose"] for r in rows] == [0.25, 0.5, 1.0]
    assert rows[0]["borrowed_classifier_variance"] and rows[0]["n_classifiers"] == 1
    assert rows[0]["estimate"] < rows[2]["estimate"]  # the planted dose-response


RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


@pytest.mark.parametrize(
    "folder", sorted(p.parent.relative_to(RESULTS).as_posix() for p in RESULTS.rglob("claim_values.safetensors"))
)
def test_every_committed_claim_recomputes_identically_from_its_released_values(folder):
    claim = json.loads((RESULTS / folder / "claim.json").read_text())
    again = recompute(RESULTS / folder)
    assert [r["endpoint"] for r in again] == [e["endpoint"] for e in claim["endpoints"]]
    for r, e in zip(again, claim["endpoints"]):
        for key in ("estimate", "ci_low", "ci_high", "a_mean", "b_mean"):
            assert r[key] == pytest.approx(e[key], rel=1e-9, abs=1e-12), (folder, e["endpoint"], key)
        assert r["verdict"] == e["verdict"], (folder, e["endpoint"])
