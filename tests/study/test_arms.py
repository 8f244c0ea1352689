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
