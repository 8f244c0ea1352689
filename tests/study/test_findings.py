"""The findings' endpoints (C2-C9) on small synthetic arms whose answers are known: a generator that ignores
its noise has zero spread, a reconstruction equal to the original retrieves at rank 1, and the verdict follows
a planted difference."""

from __future__ import annotations

import torch

from unlogit.classifiers.archs import build_arch
from unlogit.classifiers.normalized import NormalizedClassifier
from unlogit.data.base import ImageDataset
from unlogit.scoring.measure import PIXELS
from unlogit.study.arms import ArmScores, Unit
from unlogit.study.findings import FINDINGS, decide_finding
from unlogit.study.findings import values as fv

N, DRAWS, SHAPE = 40, 3, (3, 32, 32)


class EchoInverter:
    """An 'inverter' whose logits are the image itself and whose generator returns them unchanged (it ignores
    its noise): a perfect reconstruction of anything."""

    device = torch.device("cpu")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    def generate(self, logits: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return logits.reshape(-1, *SHAPE)

    def sample_noise(self, n: int, seed: int) -> torch.Tensor:
        return torch.zeros(n, 1)


def _evaluator() -> NormalizedClassifier:
    torch.manual_seed(0)
    net = build_arch({"arch": "small-cnn", "num_classes": 10, "in_channels": 3, "image_size": 32, "width": 4})
    return NormalizedClassifier(net.eval(), [f"c{k}" for k in range(10)], input_shape=SHAPE)


def _arm(name: str, recs: list[list[torch.Tensor]], logits: torch.Tensor, inverter=None) -> ArmScores:
    """recs[k][s]: (N, D, C, H, W) of classifier k, seed s; every unit shares ``logits`` (N, 10)."""
    units = [[Unit(inverter, logits, r) for r in row] for row in recs]
    return ArmScores(name, {}, units)


def _ctx(a: ArmScores, b: ArmScores, x: torch.Tensor, y: torch.Tensor, **kw) -> fv.FindingContext:
    return fv.FindingContext(a, b, x, y, {"judge": _evaluator()}, seed=0, n=N, train_images=lambda: x, **kw)


def _data():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(N, *SHAPE, generator=gen)
    y = torch.arange(N) % 10
    return x, y, gen


def test_c2_a_generator_that_ignores_its_noise_has_zero_spread_and_a_noisy_one_does_not():
    x, y, gen = _data()
    still = x[:, None].expand(N, DRAWS, *SHAPE).clone()  # every draw the same image
    noisy = (still + 0.2 * torch.randn(still.shape, generator=gen)).clamp(0, 1)
    logits = torch.nn.functional.one_hot(y, 10).float()
    a = _arm("robust", [[still, still], [still, still]], logits)
    b = _arm("standard", [[noisy, noisy], [noisy, noisy]], logits)
    vals = fv.noise_spread(_ctx(a, b, x, y))
    assert vals.a[f"noise_spread@{PIXELS}"].shape == (2, 2, N)
    assert torch.all(vals.a[f"noise_spread@{PIXELS}"] == 0) and torch.all(vals.a["noise_spread@judge"] == 0)
    assert vals.a["variance@pixels"].abs().max() < 1e-12 and vals.a["bias2@pixels"].abs().max() < 1e-12
    assert torch.all(vals.b[f"noise_spread@{PIXELS}"] > 0.1)  # RMS of the difference of two 0.2-SD draws ~ 0.28
    row, _ = decide_finding(FINDINGS.get("C2"), _ctx(a, b, x, y))
    # robust spreads less; the estimate is signed so that positive is the finding's direction (lower is better)
    assert row["id"] == "C2" and row["n_images"] == N and row["ci_low"] > 0
    assert row["verdict"] == "holds"


def test_c2_negative_control_a_lower_contrast_copy_spreads_less_but_has_the_same_noise_share():
    # arm B is arm A at half the contrast: its raw spread halves (it would "win" on the old primary), but noise
    # as a share of its own total variance is the same, so the primary must come out null
    x, y, gen = _data()
    noisy = (x[:, None] + 0.1 * torch.randn(N, DRAWS, *SHAPE, generator=gen)).clamp(0, 1)
    flat = 0.25 + 0.5 * noisy
    logits = torch.nn.functional.one_hot(y, 10).float()
    a = _arm("robust", [[noisy, noisy], [noisy, noisy]], logits)
    b = _arm("standard", [[flat, flat], [flat, flat]], logits)
    vals = fv.noise_spread(_ctx(a, b, x, y))
    assert torch.allclose(vals.a[f"noise_share@{PIXELS}"], vals.b[f"noise_share@{PIXELS}"], atol=1e-6)
    assert torch.all(vals.b[f"noise_spread@{PIXELS}"] < 0.6 * vals.a[f"noise_spread@{PIXELS}"])
    row, _ = decide_finding(FINDINGS.get("C2"), _ctx(a, b, x, y))
    assert row["primary"] == f"noise_share@{PIXELS}" and abs(row["estimate"]) < 1e-6 and row["verdict"] != "holds"
    raw = next(r for r in row["secondary"] if r["endpoint"] == f"noise_spread@{PIXELS}")
    assert raw["verdict"] == "reversed"  # what the raw spread alone would have said


def _class_templates(predicted: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A generator that shows only the predicted class: one fixed image per class, (N, 2, C, H, W)."""
    templates = torch.rand(10, *SHAPE, generator=gen)
    return templates[predicted][:, None].expand(len(predicted), 2, *SHAPE).clone()


def test_c3_is_decided_on_the_common_misclassified_set_and_an_exact_reconstruction_retrieves_at_rank_1():
    x, y, gen = _data()
    wrong = torch.arange(N) < 25  # every classifier of both arms gets the first 25 images wrong
    predicted = torch.where(wrong, (y + 1) % 10, y)
    logits = torch.nn.functional.one_hot(predicted, 10).float()
    exact = x[:, None].expand(N, 2, *SHAPE).clone()
    unrelated = [[torch.rand(N, 2, *SHAPE, generator=gen) for _ in range(2)] for _ in range(2)]
    a = _arm("robust", [[exact, exact], [exact, exact]], logits)
    b = _arm("standard", unrelated, logits)
    ctx = _ctx(a, b, x, y)
    vals = fv.misclassified(ctx)
    assert vals.n_eligible == 25
    assert torch.all(vals.a[f"retrieval@{PIXELS}"] == 1.0)  # rank 1 of all 40 on every image, every unit
    assert vals.a["identity_over_prediction@layout"].shape == (2, 2, 25)
    row, _ = decide_finding(FINDINGS.get("C3"), ctx)
    # within arm A: its own reconstruction retrieves x far better than a same-prediction image's does
    assert row["within"] and row["n_images"] == 25 and row["ci_low"] > 0.2 and row["verdict"] == "holds"
    assert row["b_within"]["verdict"] != "holds"  # B's unrelated images show neither


def test_c3_negative_control_a_generator_that_shows_only_the_predicted_class_is_null():
    x, y, gen = _data()
    predicted = torch.where(torch.arange(N) < 25, (y + 1) % 10, y)
    logits = torch.nn.functional.one_hot(predicted, 10).float()
    template = _class_templates(predicted, gen)
    a = _arm("robust", [[template, template], [template, template]], logits)
    vals = fv.misclassified(_ctx(a, a, x, y))
    assert torch.all(vals.a["identity_over_prediction@layout"] == 0)  # own and partner reconstructions coincide
    row, _ = decide_finding(FINDINGS.get("C3"), _ctx(a, a, x, y))
    assert row["estimate"] == 0 and row["verdict"] not in ("holds", "reversed")


def test_c3_with_too_few_misclassified_images_is_undecided_with_its_n_not_dropped():
    x, y, _ = _data()
    predicted = torch.where(torch.arange(N) < 3, (y + 1) % 10, y)
    logits = torch.nn.functional.one_hot(predicted, 10).float()
    recs = x[:, None].expand(N, 2, *SHAPE).clone()
    a = _arm("robust", [[recs, recs], [recs, recs]], logits)
    row, _ = decide_finding(FINDINGS.get("C3"), _ctx(a, a, x, y))
    assert row["verdict"] == "undecided (n = 3)" and row["estimate"] is None


class Constant(EchoInverter):
    """An inverter whose images do not depend on its logits (a flat grey image)."""

    classifier = _evaluator()

    def generate(self, logits, noise=None):
        return torch.full((len(logits), *SHAPE), 0.5)


def test_c9_is_the_arm_by_domain_interaction_and_null_when_the_other_domain_is_no_different():
    # negative control: the "other" domain is the claim's own images, so whatever the arms do, nothing can
    # interact with the domain; A (perfect) is far ahead of B (logit-blind) on OOD retrieval alone
    x, y, _ = _data()
    pixels = (x * 255).round().byte()
    x = pixels.float() / 255
    same = ImageDataset(
        images=pixels[:30], labels=y[:30], classes=[f"c{k}" for k in range(10)], name="same", split="test"
    )
    recs = x[:, None].expand(N, 2, *SHAPE).clone()
    a = _arm("robust", [[recs, recs], [recs, recs]], x.flatten(1), EchoInverter())
    b = _arm("standard", [[recs, recs], [recs, recs]], x.flatten(1), Constant())
    ctx = _ctx(a, b, x, y, ood={"same": same})
    vals = fv.out_of_distribution(ctx)
    assert vals.n_eligible == 30  # matched: 30 out-of-distribution and 30 in-distribution images
    assert torch.all(vals.a[f"retrieval@{PIXELS}:same"] == 1.0) and torch.all(vals.a["retrieval@judge:same"] == 1.0)
    assert torch.all(vals.b["ood_minus_id@layout:same"] == 0)
    row, _ = decide_finding(FINDINGS.get("C9"), ctx)
    assert row["primary"] == "ood_minus_id@layout:same" and row["estimate"] == 0 and row["verdict"] != "holds"
    raw = next(r for r in row["secondary"] if r["endpoint"] == "retrieval@layout:same")
    assert raw["verdict"] == "holds"  # what the old primary (OOD retrieval alone) would have said


def test_c6_logit_edits_leave_a_generator_that_ignores_them_unchanged_and_draw_both_arms():
    """An inverter whose images do not depend on its logits: zero content change under scale and noise, and
    (the negative control of C6b/C6c) the same edited retrieval in both arms: no verdict for either."""
    x, y, _ = _data()
    logits = torch.randn(N, 10, generator=torch.Generator().manual_seed(3))
    recs = x[:, None].expand(N, 2, *SHAPE).clone()
    a = _arm("robust", [[recs, recs], [recs, recs]], logits, Constant())
    b = _arm("standard", [[recs, recs], [recs, recs]], logits, Constant())
    ctx = _ctx(a, b, x, y)
    for finding in (fv.logit_scale, fv.logit_perturb):
        vals = finding(ctx)
        assert torch.all(vals.a["content_change@judge"] == 0), finding.__name__
        assert vals.a["edited_minus_unedited@layout"].abs().max() < 1e-12, finding.__name__  # the edit changes nothing
        assert vals.figure is not None and vals.figure.shape[-1] >= 7 * 64  # original + both arms' columns
    for finding_id in ("C6b", "C6c"):
        row, _ = decide_finding(FINDINGS.get(finding_id), ctx)
        assert row["primary"] == "edited_retrieval@layout" and row["estimate"] == 0 and row["verdict"] != "holds"
    shift = fv.logit_shift(ctx)
    assert torch.all(shift.a["contrast_response"] == 0)


def test_a_secondary_s_direction_comes_from_its_quantity_never_from_its_name():
    import pytest

    from unlogit.errors import UnlogitError
    from unlogit.study.findings.registry import higher_is_better

    for key in ("logit_error", "logit_kl", "mse@pixels", "colour_error", "retrieval_rank@pixels", "noise_spread@x"):
        assert not higher_is_better(key), key  # lower is better: a larger value is worse for arm A
    for key in ("psnr", "ssim", "retrieval@pixels:svhn", "keeps_source@eval", "contrast_response"):
        assert higher_is_better(key), key
    with pytest.raises(UnlogitError, match="unknown (finding )?quantity"):
        higher_is_better("some_new_value@pixels")  # a new key must state its direction


def test_every_finding_value_states_a_margin_in_its_own_unit():
    from unlogit.study.findings.registry import margin_of

    assert margin_of("psnr") == 0.25 and margin_of("ssim") == 0.01  # never one absolute margin for dB and SSIM
    assert margin_of("noise_spread@pixels") == 0.005 and margin_of("keeps_source@eval") == 0.03
    assert margin_of("retrieval@pixels:svhn") == 0.02


def test_secondaries_skip_the_raw_ranks_and_compare_every_endpoint_beside_them():
    from unlogit.study.findings.registry import FINDINGS, _secondaries

    g = torch.Generator().manual_seed(3)
    keys = ("retrieval@pixels", "retrieval_rank@pixels", "retrieval_rank_class@pixels", "psnr")
    a = {k: torch.rand(2, 2, N, generator=g) for k in keys}  # a baseline's scores carry the ranks too (C4)
    b = {k: torch.rand(3, 2, N, generator=g) for k in keys}
    rows = _secondaries(FINDINGS.get("C4"), fv.FindingValues(a, b, N), primary=None)
    assert [r["endpoint"] for r in rows] == ["retrieval@pixels", "psnr"]  # a rank has no margin: not an endpoint


def test_decided_secondaries_carry_both_means_and_never_call_a_worse_value_a_hold(mini_study_dir):
    import json

    findings = json.loads((mini_study_dir / "findings.json").read_text())["findings"]
    secondaries = [s for f in findings for s in f["secondary"]]
    assert secondaries
    for s in secondaries:
        assert {"a_mean", "b_mean", "higher_is_better", "margin"} <= set(s)
        worse_for_a = s["a_mean"] < s["b_mean"] if s["higher_is_better"] else s["a_mean"] > s["b_mean"]
        assert not (worse_for_a and s["verdict"] == "holds"), s


def test_a_study_puts_its_reference_decoders_beside_every_finding_they_can_answer(mini_study_dir):
    import json

    from safetensors.torch import load_file

    findings = json.loads((mini_study_dir / "findings.json").read_text())["findings"]
    values = load_file(str(mini_study_dir / "findings_values.safetensors"))
    for f in findings:
        ref = f["reference"]
        assert (ref["a"], ref["b"]) == ("robust-ridge", "standard-ridge")
        if f["id"] == "C2":  # the ridge decoder has no noise to resample
            assert not ref["applies"] and not any(k.startswith("C2/ref_a/") for k in values)
        elif "gap" in ref:
            assert {"a_over_reference", "b_over_reference", "summary"} <= set(ref), f["id"]
            assert values[f"{f['id']}/ref_a/{f['primary']}"].shape[:2] == (1, 1)  # K = 1 ridge, S = 1
    assert any("gap" in f["reference"] for f in findings)
    page = (mini_study_dir / "report" / "index.html").read_text()
    assert "reference decoders [95% CI]" in page and "Reference decoders (robust-ridge, standard-ridge)" in page


def test_c7_borrows_each_endpoint_s_own_between_classifier_variance():
    from unlogit.study.protocol import borrow_variance

    x, y, g = _data()
    n = len(x)
    b = _arm("standard", [[torch.rand(n, 1, *SHAPE, generator=g)] for _ in range(3)], torch.zeros(n, 10))
    b.values = {"retrieval@pixels": torch.rand(3, 1, n, generator=g), "psnr": 30 * torch.rand(3, 1, n, generator=g)}
    other = _arm("resnet", [[torch.rand(n, 1, *SHAPE, generator=g)]], torch.zeros(n, 10))
    other.values = {k: v[:1] for k, v in b.values.items()}
    vals = fv.architecture(_ctx(other, b, x, y, extra_arms={"architecture": other}))
    for key in ("retrieval@pixels", "psnr"):  # in its own units: a PSNR in dB does not borrow a retrieval score's
        assert vals.borrowed(key) == borrow_variance(b.values[key], from_b=True)
    assert vals.borrowed("psnr").variance > 10 * vals.borrowed("retrieval@pixels").variance


def test_c8_transfers_one_attack_from_the_surrogate_and_every_unit_inverts_the_same_x_adv():
    x, y, _ = _data()
    surrogate = _evaluator()
    with torch.no_grad():  # a different net from the judge: not a judge, not an arm's
        for p in surrogate.model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(5)))
    recs = x[:, None].expand(N, 2, *SHAPE).clone()
    a = _arm("robust", [[recs, recs], [recs, recs]], x.flatten(1), EchoInverter())
    b = _arm("standard", [[recs], [recs], [recs]], x.flatten(1), Constant())
    spec, note = fv.choose_budget(surrogate, x, y, "pgd-l2:1.0:10", [0.01, 2.0, 8.0], 0.3, seed=0)
    assert spec.startswith("pgd-l2:2:") or spec.startswith("pgd-l2:8:"), note  # the smallest budget that fools it
    ctx = _ctx(a, b, x, y, attack=spec, surrogate=surrogate, attack_note=note)
    vals = fv.adversarial(ctx)
    assert vals.n_eligible >= 0.3 * N and vals.a["keeps_source@judge"].shape == (2, 2, vals.n_eligible)
    assert vals.b["keeps_source@judge"].shape == (3, 1, vals.n_eligible)  # arm B's 3 units invert the same x_adv
    # the echo's reconstruction is x_adv itself, so every unit of arm A agrees exactly: one shared input
    assert torch.equal(vals.a["source_retrieval@layout"][0, 0], vals.a["source_retrieval@layout"][1, 1])
    assert "fooled the surrogate" in vals.note and "chosen on" in vals.note


def test_c7_is_two_sided_with_realism_as_co_primary_and_names_the_trade_off():
    x, y, g = _data()
    n = len(x)

    def family(name, k, retrieval, kid):
        arm = _arm(name, [[torch.rand(n, 1, *SHAPE, generator=g)] for _ in range(k)], torch.zeros(n, 10))
        noise = 0.05 * torch.randn(k, 1, n, generator=g)
        arm.values = {"retrieval@layout": retrieval + noise, "kid@judge": kid + noise}
        return arm

    b = family("small CNN", 3, 0.6, 0.02)
    other = family("resnet", 2, 0.8, 0.10)  # K = 2 of its own: nothing borrowed
    ctx = _ctx(other, b, x, y, extra_arms={"architecture": other})
    assert not fv.architecture(ctx).a_unit_variance
    row, _ = decide_finding(FINDINGS.get("C7"), ctx)
    assert row["verdict"] == "holds" and row["co_primary"]["verdict"] == "reversed"  # higher KID: less realistic
    assert row["p_holm"] < 0.05 and row["co_primary"]["p_holm"] < 0.05  # both decided after Holm over the two
    assert row["trade_off"] == "other architecture is more faithful and less realistic"


def test_the_reference_decoders_answer_a_finding_beside_the_inverters_and_never_change_its_verdict():
    from unlogit.study.findings.reference import reference_context, reference_row

    x, y, gen = _data()
    predicted = torch.where(torch.arange(N) < 25, (y + 1) % 10, y)  # 25 images every classifier gets wrong
    logits = torch.nn.functional.one_hot(predicted, 10).float()
    exact = x[:, None].expand(N, 2, *SHAPE).clone()
    template = _class_templates(predicted, gen)
    a, b = _arm("robust", [[exact, exact]], logits), _arm("standard", [[template, template]], logits)
    ref_a, ref_b = _arm("robust-ridge", [[template]], logits), _arm("standard-ridge", [[template]], logits)
    ctx = _ctx(a, b, x, y)
    finding = FINDINGS.get("C3")
    row, vals = decide_finding(finding, ctx)
    ref_row, ref_vals = reference_row(finding, row["primary"], vals, reference_context(ctx, ref_a, ref_b))
    assert decide_finding(finding, ctx)[0] == row  # computing the references changes nothing of the finding
    assert ref_row["a"] == "robust-ridge" and ref_row["applies"] and ref_row["n_images"] == 25
    # the within-arm finding: A's reference shows only the predicted class (0); A's inverter beats it, B's ties
    assert ref_row["gap"]["estimate"] == 0 and ref_row["gap"]["verdict"] not in ("holds", "reversed")
    assert ref_row["a_over_reference"]["verdict"] == "holds" and ref_row["a_over_reference"]["ci_low"] > 0.2
    assert ref_row["b_over_reference"]["estimate"] == 0
    assert ref_row["summary"].startswith("robust inverter minus its reference decoder +")
    assert (
        "; against 0, the robust reference +0 [" in ref_row["summary"] and ", the standard +0 [" in ref_row["summary"]
    )
    assert ref_row["b_within"]["estimate"] == 0  # B's reference, against 0 as the inverters' row gives B's own
    assert ref_vals.a[row["primary"]].shape == (1, 1, 25)

    few = torch.where(torch.arange(N) < 3, (y + 1) % 10, y)  # 3 misclassified images: too few to decide
    small = _ctx(*(_arm(n, [[template]], torch.nn.functional.one_hot(few, 10).float()) for n in ("r", "s")), x, y)
    few_row, few_vals = decide_finding(finding, small)
    undecided, _ = reference_row(finding, few_row["primary"], few_vals, small)
    assert undecided["verdict"] == "undecided (n = 3)" and undecided["why"] == "fewer than 20 eligible images"

    c2, c2_vals = decide_finding(FINDINGS.get("C2"), ctx)
    none, no_vals = reference_row(FINDINGS.get("C2"), c2["primary"], c2_vals, reference_context(ctx, ref_a, ref_b))
    assert not none["applies"] and "deterministic" in none["why"] and no_vals is None


def test_c7_gets_its_reference_row_only_when_the_study_names_the_other_architecture_s_reference():
    from unlogit.study.findings.reference import reference_context, reference_row

    x, y, gen = _data()
    logits = torch.nn.functional.one_hot(y, 10).float()
    recs = x[:, None].clone()

    def arm(name: str, level: float) -> ArmScores:
        values = level + 0.01 * torch.randn(2, 1, N, generator=gen, dtype=torch.float64)
        return ArmScores(name, {"retrieval@layout": values}, [[Unit(None, logits, recs)] for _ in range(2)])

    ctx = _ctx(arm("robust", 0.7), arm("standard", 0.6), x, y, extra_arms={"architecture": arm("resnet", 0.65)})
    finding = FINDINGS.get("C7")
    row, vals = decide_finding(finding, ctx)
    refs = arm("robust-ridge", 0.8), arm("standard-ridge", 0.75)
    without, none = reference_row(finding, row["primary"], vals, reference_context(ctx, *refs))
    assert not without["applies"] and "findings.architecture_reference" in without["why"] and none is None
    with_extra = reference_context(ctx, *refs, {"architecture": arm("resnet-ridge", 0.9)})
    ref_row, ref_vals = reference_row(finding, row["primary"], vals, with_extra)
    assert (ref_row["a"], ref_row["b"]) == ("resnet-ridge", "standard-ridge")
    assert ref_row["gap"]["verdict"] == "holds"  # the other architecture's reference reads more (0.90 vs 0.75)
    assert ref_row["a_over_reference"]["verdict"] == "reversed"  # its GAN (0.65) below its reference
    assert ref_vals.a["retrieval@layout"].mean() > 0.85


def test_a_study_naming_c7_s_reference_decoder_writes_its_row(tmp_path):
    """The wiring of findings.architecture_reference through a run: the other architecture's reference decoder is
    scored and set against arm B's in C7's row."""
    import json

    import yaml

    from unlogit.study.config import load_study
    from unlogit.study.runner import run_study

    from ..conftest import MINI_CLF, RIDGE, TINY_GAN_OVERRIDES, mini_study_spec

    spec = mini_study_spec(analyze=False)
    spec["classifiers"]["other"] = {"preset": "tiny", "overrides": [*MINI_CLF, "model.width=6", "train.seed=3"]}
    spec["inverters"]["other"] = {"classifier": "other", "preset": "tiny", "overrides": TINY_GAN_OVERRIDES, "steps": 6}
    spec["inverters"]["other-ridge"] = {
        "classifier": "other",
        "preset": "tiny",
        "method": "ridge",
        "seeds": 1,
        "overrides": RIDGE,
    }
    spec["findings"] = {"n": 40, "ids": ["C7"], "architecture": "other", "architecture_reference": "other-ridge"}
    path = tmp_path / "c7.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    run_study(load_study(str(path)), tmp_path / "out")
    (c7,) = json.loads((tmp_path / "out" / "findings.json").read_text())["findings"]
    ref = c7["reference"]
    assert ref["applies"] and (ref["a"], ref["b"]) == ("other-ridge", "standard-ridge")
    assert {"gap", "a_over_reference", "b_over_reference"} <= set(ref) and ref["summary"].startswith("other arch")
