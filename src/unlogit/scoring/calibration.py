"""Colour recalibration: a per-channel affine map fitted from an inverter's reconstructions of training images
to the images themselves, so that retrieval can be asked again after an inverter's colour and contrast
miscalibration is removed (what the information in the logits holds, not how well G calibrates its output).

:func:`fit_colour_affine` is ordinary least squares per channel over every pixel of the fitting images;
:func:`recalibrated` applies it and clips to [0,1].
"""

from __future__ import annotations

import torch


def fit_colour_affine(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per channel c, the (gain, offset) minimising sum (x_c - gain x_hat_c - offset)^2 over all images and
    pixels; x, x_hat (N,C,H,W) in [0,1]. Returns (C, 2) float64; a channel x_hat holds constant gets gain 0 and
    the mean of x as its offset."""
    a = x_hat.double().transpose(0, 1).flatten(1)  # (C, N*H*W)
    b = x.double().transpose(0, 1).flatten(1)
    a_mean, b_mean = a.mean(1), b.mean(1)
    var = ((a - a_mean[:, None]) ** 2).mean(1)
    cov = ((a - a_mean[:, None]) * (b - b_mean[:, None])).mean(1)
    gain = torch.where(var > 1e-12, cov / var.clamp_min(1e-12), torch.zeros_like(var))
    return torch.stack([gain, b_mean - gain * a_mean], dim=1)


def recalibrated(x_hat: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """x_hat (..., C, H, W) in [0,1] under the per-channel affine map ``coeffs`` (C, 2), clipped to [0,1]."""
    gain, offset = coeffs[:, 0].to(x_hat), coeffs[:, 1].to(x_hat)
    return (x_hat * gain[:, None, None] + offset[:, None, None]).clamp(0, 1)
