"""The kernel-ridge reference decoder: the closed form it claims, a ridge strength chosen on training images
only, a run that saves and reloads like any inverter, and reconstructions that beat the mean image."""

from __future__ import annotations

import pytest
import torch

from unlogit import load_inverter, train_inverter
from unlogit.data import get_dataset
from unlogit.inversion.nets.ridge import KernelRidgeDecoder, cv_lambda, median_gamma, rbf, ridge_coefficients
from unlogit.scoring.metrics import psnr

from .test_baselines import _cfg


def test_the_coefficients_are_the_closed_form_solution():
    gen = torch.Generator().manual_seed(0)
    x, t = (
        torch.randn(40, 5, generator=gen, dtype=torch.float64),
        torch.randn(40, 3, generator=gen, dtype=torch.float64),
    )
    gamma = median_gamma(x)
    kernel = rbf(x, x, gamma)
    lam = 0.01
    direct = torch.linalg.solve(kernel + lam * 40 * torch.eye(40, dtype=torch.float64), t - t.mean(0))
    assert torch.allclose(ridge_coefficients(kernel, t, lam), direct, atol=1e-8)
    assert gamma == 1 / (torch.cdist(x, x) ** 2)[~torch.eye(40, dtype=torch.bool)].median()


def test_the_decoder_learns_a_smooth_map_and_the_cv_prefers_little_ridge_for_it():
    gen = torch.Generator().manual_seed(1)
    cond = torch.randn(300, 4, generator=gen)
    images = torch.sigmoid(cond @ torch.randn(4, 3 * 4 * 4, generator=gen)).view(300, 3, 4, 4)  # a smooth map
    dec = KernelRidgeDecoder(4, (3, 4, 4))
    with pytest.raises(RuntimeError, match="not been fitted"):
        dec(cond[:2])
    dec.fit(cond[:250], images[:250])
    held = ((dec(cond[250:]) - images[250:]) ** 2).mean()
    mean_image = ((images[:250].mean(0) - images[250:]) ** 2).mean()
    assert held < 0.2 * mean_image  # far better than the mean image on images it never saw
    lam, errors = cv_lambda(torch.exp(-median_gamma(cond.double()) * torch.cdist(cond.double(), cond.double()) ** 2),
                            images.flatten(1).double())  # fmt: skip
    assert lam < 1.0 and errors[f"{lam:g}"] == min(errors.values())
    assert dec(cond[:3], torch.zeros(3, 0)).shape == (3, 3, 4, 4) and dec.sample_noise(3).shape == (3, 0)


def test_a_ridge_run_saves_reloads_and_beats_the_mean_image(tmp_path, tiny_classifier_run):
    images = get_dataset("shapes", "test", size=32).batch(torch.arange(32))[0]  # held out: not among the anchors
    cfg = _cfg("ridge", tiny_classifier_run, "model.ridge_anchors=256", "train.eval_size=16")
    summary = train_inverter(cfg, tmp_path / "ridge")
    assert summary["method"] == "ridge" and summary["steps"] == 0
    inv = load_inverter(tmp_path / "ridge")
    assert inv.method == "ridge" and not inv.stochastic
    net = inv.net
    assert len(net.anchors) == 256 and net.lam > 0 and net.gamma > 0
    first, again = inv.reconstruct(images, seed=0), inv.reconstruct(images, seed=5)
    assert torch.equal(first, again)  # deterministic: the noise seed changes nothing
    mean_image = net.offset.view(1, *net.image_shape).expand_as(images)
    assert psnr(first[:, 0].cpu(), images).mean() > psnr(mean_image, images).mean()
