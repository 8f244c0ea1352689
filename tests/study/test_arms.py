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
