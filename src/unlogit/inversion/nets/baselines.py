"""Baseline inverters; each meets :class:`~unlogit.inversion.nets.net.InverterNet` (``net(cond, z) -> images``).

- :class:`UpConvDecoder`: the up-convolutional decoder of Dosovitskiy & Brox (2016b), used with a
  pixel loss only (``pixel``; also Yang et al., CCS 2019) or with pixel + feature + adversarial losses
  (``dosovitskiy``, Dosovitskiy & Brox 2016a — the paper's baseline). Deterministic: ``dim_z`` is 0.
- :class:`OptimizationInverter`: no training; minimises ``||enc(f(x)) - cond||^2`` plus total-variation
  and L2 priors by gradient descent from a start image given by z (Mahendran & Vedaldi 2015; Engstrom
  et al. 2019 for robust models). ``dim_z = C*H*W`` so different noise gives different starts. With the
  ``none`` encoder (its method preset) it matches raw logits.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn as nn

from ...classifiers.normalized import NormalizedClassifier
from .logit_encoder import LogitEncoder
from .net import no_noise


class UpConvDecoder(nn.Module):
    """Encoded logits -> fully connected layers -> 4x4 (or 7x7) map -> upsample+conv blocks -> image.

    Args:
        num_classes: K. resolution: 28, 32, 64 or 128. out_channels: 1 or 3. ch: base width.

    ``forward(cond (N,K), z (N,0)) -> (N,C,R,R)`` in [0,1]; deterministic (the noise is empty).
    """

    dim_z = 0
    stochastic = False

    def __init__(self, num_classes: int, resolution: int = 32, out_channels: int = 3, ch: int = 32) -> None:
        super().__init__()
        self.num_classes, self.resolution, self.out_channels = num_classes, resolution, out_channels
        self.image_shape = (out_channels, resolution, resolution)
        self.start = 7 if resolution == 28 else 4
        n_up = {28: 2, 32: 3, 64: 4, 128: 5}[resolution]
        widths = [ch * 2 ** max(n_up - 1 - i, 0) for i in range(n_up + 1)]
        self.c0 = widths[0]
        self.fc = nn.Sequential(
            nn.Linear(num_classes, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, self.c0 * self.start**2),
            nn.LeakyReLU(0.2),
        )
        blocks: list[nn.Module] = []
        for cin, cout in itertools.pairwise(widths):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.LeakyReLU(0.2),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(widths[-1], out_channels, 3, padding=1)

    def sample_noise(self, n: int, device: torch.device | str | None = None, generator=None) -> torch.Tensor:
        return no_noise(n, device)

    def forward(self, cond: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(cond.float()).view(len(cond), self.c0, self.start, self.start)
        return torch.sigmoid(self.out(self.blocks(h)).float())


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean anisotropic total variation per image (N,)."""
    dh = (x[:, :, 1:] - x[:, :, :-1]).abs().flatten(1).mean(1)
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).mean(1)
    return dh + dw


class OptimizationInverter(nn.Module):
    """Inversion by optimisation of the image itself (no learned weights).

    ``forward(cond, z)`` runs ``steps`` Adam steps on x (parametrised as sigmoid(u)) minimising
    ``||enc(f(x)) - cond||^2 / K + tv * TV(x) + l2 * ||x - 0.5||^2``, batched, starting from
    ``x0 = clamp(0.5 + 0.25 z, 0, 1)``. Enabled under ``torch.no_grad()`` callers as well.
    ``encoder`` is the inverter's logit encoder (identity by default: raw logits are matched).
    """

    stochastic = True

    def __init__(
        self,
        classifier: NormalizedClassifier,
        resolution: int,
        out_channels: int,
        steps: int = 200,
        lr: float = 0.1,
        tv: float = 0.05,
        l2: float = 0.01,
        encoder: LogitEncoder | None = None,
    ) -> None:
        super().__init__()
        self.classifier = classifier
        self.num_classes = classifier.num_classes
        self.resolution, self.out_channels = resolution, out_channels
        self.image_shape = (out_channels, resolution, resolution)
        self.encode = encoder if encoder is not None else LogitEncoder(self.num_classes, "none")
        self.dim_z = out_channels * resolution * resolution
        self.steps, self.lr, self.tv, self.l2 = steps, lr, tv, l2
        self.register_buffer("_device_anchor", torch.zeros(1), persistent=False)

    def settings(self) -> dict[str, Any]:
        return {"steps": self.steps, "lr": self.lr, "tv": self.tv, "l2": self.l2}

    def sample_noise(self, n: int, device: torch.device | str | None = None, generator=None) -> torch.Tensor:
        return torch.randn(n, self.dim_z, device=device, generator=generator)

    def objective(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-image objective (N,) for images x in [0,1] and the target condition (N,K)."""
        fit = ((self.encode(self.classifier(x).float()) - target) ** 2).mean(1)
        return fit + self.tv * total_variation(x) + self.l2 * ((x - 0.5) ** 2).flatten(1).mean(1)

    def forward(self, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        shape = (len(cond), self.out_channels, self.resolution, self.resolution)
        x0 = (0.5 + 0.25 * z.view(shape)).clamp(0.02, 0.98)
        with torch.enable_grad():
            u = torch.logit(x0).detach().requires_grad_(True)
            opt = torch.optim.Adam([u], lr=self.lr)
            target = cond.detach().float()
            for _ in range(self.steps):
                loss = self.objective(torch.sigmoid(u), target).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return torch.sigmoid(u).detach()
