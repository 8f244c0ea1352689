"""An arm's scoring details: the colour recalibration is fitted on reconstructions of the logits the inverter
trained on."""

from __future__ import annotations

from dataclasses import replace

import torch

from unlogit import load_inverter
from unlogit.data import get_dataset
from unlogit.data.stored_logits import StoredLogits
from unlogit.study.arms import colour_map


def test_the_colour_map_is_fitted_on_the_stored_logits_where_the_data_carries_them(tiny_inverter_run):
    inv = load_inverter(tiny_inverter_run, device="cpu")
    calibration = get_dataset("shapes", "train", size=24)
    images = calibration.batch(torch.arange(24))[0]
    computed = inv.logits(images)
    other = computed.flip(1)  # logits the classifier does not compute from these images (as a 224-px crop's)
    stored = StoredLogits(other, "test", inv.classifier.weights_digest(), 224, "source")
    with_stored = replace(calibration, stored_logits={stored.digest: stored})
    plain, from_stored = colour_map(inv, calibration, 0), colour_map(inv, with_stored, 0)
    assert torch.equal(plain, colour_map(inv, replace(with_stored, logit_policy="computed"), 0))  # the images
    assert not torch.equal(plain, from_stored)  # the stored logits, not the images, made the reconstructions
    from unlogit.scoring.calibration import fit_colour_affine

    expected = fit_colour_affine(images, inv.reconstruct_logits(other, samples=1, seed=0)[:, 0])
    assert torch.allclose(from_stored, expected)


def test_kid_extracts_the_originals_features_once_however_many_arms_are_scored(tiny_inverter_run, monkeypatch):
    from unlogit.scoring.measure import Originals
    from unlogit.scoring.metrics import ClassifierFeatures, kid_with_se
    from unlogit.study.arms import Unit, unit_kid

    inv = load_inverter(tiny_inverter_run, device="cpu")
    x = get_dataset("shapes", "test", size=24).batch(torch.arange(24))[0]
    judge = inv.classifier
    on_originals = []
    features = judge.features

    def counted(t: torch.Tensor) -> torch.Tensor:
        on_originals.append(t.data_ptr() == x.data_ptr())
        return features(t)

    monkeypatch.setattr(judge, "features", counted)
    originals = Originals(x)
    gen = torch.Generator().manual_seed(0)
    units = [Unit(inv, torch.zeros(24, 1), torch.rand(24, 2, *x.shape[1:], generator=gen)) for _ in range(3)]
    kids = [unit_kid(unit, originals, {"judge": judge}) for unit in units]
    assert sum(on_originals) == 1  # one extraction of the originals for three arms
    for unit, kid in zip(units, kids):
        assert kid == kid_with_se(x, unit.recs[:, 0], ClassifierFeatures(judge))
    assert len({k["kid"] for k in kids}) == 3


def _images(n: int = 40, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g)  # distinct layouts and colours
    return torch.nn.functional.interpolate(coarse, size=16, mode="bilinear", align_corners=False)


def test_the_draw_mean_of_a_deterministic_decoder_is_its_retrieval():
    from unlogit.scoring.measure import PIXEL_SPACES, Originals, retrieval_scores
    from unlogit.study.arms import draw_mean_retrieval

    x = _images()
    x_hat = (x + 0.3 * torch.rand(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    recs = x_hat[:, None].expand(-1, 3, -1, -1, -1)  # three identical draws, as the ridge decoder makes
    got = draw_mean_retrieval(recs, Originals(x))
    want = retrieval_scores(x, x_hat, None, {}, distractors=0, seed=0)
    assert set(got) == {f"retrieval_draw_mean@{s}" for s in PIXEL_SPACES.names()}
    for space in PIXEL_SPACES.names():
        assert torch.equal(got[f"retrieval_draw_mean@{space}"], want[f"retrieval@{space}"])


def test_the_draw_mean_averages_away_noise_that_each_draw_carries():
    from unlogit.scoring.measure import Originals, retrieval_scores
    from unlogit.study.arms import draw_mean_retrieval

    x = _images(60)
    noise = 4 * (2 * _images(60, seed=2) - 1)  # coarse: it moves the 8x8 layout, which pooling keeps
    recs = torch.stack([x + noise, x - noise], dim=1)  # two draws, each far off, their mean exact
    mean = draw_mean_retrieval(recs, Originals(x))["retrieval_draw_mean@layout"]
    per_draw = sum(retrieval_scores(x, recs[:, d], None, {}, 0, 0)["retrieval@layout"] for d in range(2)) / 2
    assert torch.equal(mean, torch.ones_like(mean))
    assert per_draw.mean() < 0.95


def test_a_study_scores_the_draw_mean_and_the_reference_decoder_s_equals_its_retrieval(mini_study_dir):
    """The claim's ``retrieval_draw_mean@S`` in a real study: the ridge decoder is deterministic, so its draw mean
    is its retrieval exactly; each arm's row sets it beside the reference."""
    from safetensors.torch import load_file

    from unlogit.runtime.checkpoint import read_json
    from unlogit.runtime.rundir import StudyLayout

    layout = StudyLayout(mini_study_dir)
    values = load_file(str(layout.claim_values))
    for space in ("pixels", "layout"):
        ridge = values[f"robust-ridge/retrieval_draw_mean@{space}"]
        assert torch.equal(ridge, values[f"robust-ridge/retrieval@{space}"])
        assert values[f"robust/retrieval_draw_mean@{space}"].shape[-1] == ridge.shape[-1] == 40
    claim = read_json(layout.claim, "claim")
    keys = {e["endpoint"] for e in claim["endpoints"]}
    assert {"retrieval_draw_mean@layout", "retrieval_draw_mean@detail"} <= keys
    assert "retrieval_draw_mean@layout" in {e["endpoint"] for e in claim["reference"]["a_over_reference"]}
