from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from unlogit.classifiers import load_classifier
from unlogit.classifiers.attacks import PGD, parse_attack
from unlogit.data import get_dataset
from unlogit.errors import ConfigError


@pytest.fixture(scope="module")
def batch():
    ds = get_dataset("shapes", "test", size=64)
    return ds.batch(torch.arange(64))


@pytest.mark.parametrize("norm,eps", [("linf", 8 / 255), ("l2", 0.5)])
def test_stays_in_ball_and_box_and_raises_loss(tiny_classifier_run, batch, norm, eps):
    clf = load_classifier(str(tiny_classifier_run))
    x, y = batch
    adv = PGD(clf, norm=norm, eps=eps, steps=10)(x, y)
    delta = (adv - x).flatten(1)
    bound = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
    assert (bound <= eps + 1e-5).all()
    assert adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(clf(adv), y) > F.cross_entropy(clf(x), y) + 0.1


def test_targeted_lowers_target_loss(tiny_classifier_run, batch):
    clf = load_classifier(str(tiny_classifier_run))
    x, y = batch
    target = (y + 1) % 10
    adv = PGD(clf, norm="linf", eps=16 / 255, steps=10)(x, target, targeted=True)
    with torch.no_grad():
        assert F.cross_entropy(clf(adv), target) < F.cross_entropy(clf(x), target)


def test_does_not_touch_model_state(tiny_classifier_run, batch):
    clf = load_classifier(str(tiny_classifier_run))
    for p in clf.parameters():  # trainable, so an attack that called backward() would leave gradients
        p.requires_grad_(True)
    clf.train()
    PGD(clf, steps=2)(*batch)
    assert clf.training and all(p.grad is None for p in clf.parameters())


def test_parse_attack():
    spec = parse_attack("pgd-linf:8/255")
    assert spec.norm == "linf" and spec.eps == pytest.approx(8 / 255) and spec.steps == 10
    assert parse_attack("pgd-l2:0.5:20").steps == 20
    with pytest.raises(ConfigError, match="pgd-linf:EPS"):
        parse_attack("fgsm:0.1")
