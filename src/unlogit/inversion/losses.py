"""GAN losses as pure functions of discriminator scores (and an optional, reported auxiliary term)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..classifiers.normalized import NormalizedClassifier


def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """``E[relu(1 - D(x,l))] + E[relu(1 + D(G(l,z),l))]`` (scalar)."""
    return F.relu(1.0 - d_real.float()).mean() + F.relu(1.0 + d_fake.float()).mean()


def hinge_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """``-E[D(G(l,z),l)]`` (scalar)."""
    return -d_fake.float().mean()


def logit_consistency_loss(fake_logits_encoded: torch.Tensor, target_encoded: torch.Tensor) -> torch.Tensor:
    """MSE between the encoded logits of f(G(l,z)) and the encoded target logits.

    Not part of the paper's method (one hinge loss): an explicit option (``train.logit_loss``), off by
    default, reported in every run's config. It optimises the very classifier that logit agreement is
    measured with, so judge fidelity with an independent evaluator when it is on.
    """
    return F.mse_loss(fake_logits_encoded.float(), target_encoded.float())


def feature_loss(clf: NormalizedClassifier, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """MSE between the classifier's penultimate features of x and x_hat (D&B 2016a's feature term)."""
    with torch.no_grad():
        target = clf.features(x).float()
    return F.mse_loss(clf.features(x_hat).float(), target)
