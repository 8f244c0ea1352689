"""Colour recalibration: the least-squares per-channel map is recovered exactly, and removes a colour and
contrast miscalibration that pixel retrieval would otherwise count against an inverter."""

from __future__ import annotations

import torch

from unlogit.scoring.calibration import fit_colour_affine, recalibrated
from unlogit.scoring.measure import pixel_features, rank_score, retrieval_ranks


def _images(n: int = 60, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.2 + 0.6 * torch.rand(n, 3, 16, 16, generator=gen)


def test_a_known_per_channel_affine_map_is_recovered_and_undone():
    x = _images()
    gain, offset = torch.tensor([0.5, 0.8, 1.2]), torch.tensor([0.3, -0.1, 0.05])
    x_hat = x * gain.view(1, 3, 1, 1) + offset.view(1, 3, 1, 1)  # what a miscalibrated G would show
    coeffs = fit_colour_affine(x, x_hat)
    assert torch.allclose(coeffs[:, 0], 1 / gain.double(), atol=1e-6)
    assert torch.allclose(recalibrated(x_hat, coeffs), x, atol=1e-5)


def test_a_constant_channel_maps_to_the_originals_mean():
    x = _images()
    x_hat = x.clone()
    x_hat[:, 1] = 0.5
    coeffs = fit_colour_affine(x, x_hat)
    assert coeffs[1, 0] == 0 and abs(float(coeffs[1, 1]) - float(x[:, 1].double().mean())) < 1e-9


def test_recalibration_removes_what_pixel_retrieval_would_count_against_a_miscalibrated_inverter():
    fit, scored = _images(seed=1), _images(seed=2)

    def miscalibrated(images):  # low contrast and a colour cast, plus a little noise
        gen = torch.Generator().manual_seed(3)
        return (
            0.3 * images
            + torch.tensor([0.5, 0.1, 0.3]).view(1, 3, 1, 1)
            + 0.01 * torch.randn(images.shape, generator=gen)
        )

    coeffs = fit_colour_affine(fit, miscalibrated(fit))  # fitted on other images than those scored

    def retrieval(x_hat):
        return float(
            rank_score(retrieval_ranks(pixel_features(scored), pixel_features(x_hat))["retrieval_rank"], 60).mean()
        )

    raw, fixed = retrieval(miscalibrated(scored)), retrieval(recalibrated(miscalibrated(scored), coeffs))
    assert fixed > 0.99 and fixed > raw + 0.03
