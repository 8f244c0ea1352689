"""Worked example: add an inversion method (docs/architecture.md, "Where to add").

A method is one :class:`unlogit.inversion.methods.Method` in ``METHODS``: a builder of its
:class:`~unlogit.inversion.nets.net.InverterNet` and, if it learns, a step. This one, ``softmax-mean``,
learns one image per class and shows the softmax-weighted mix of them: a deliberately weak baseline that
trains with the decoders' pixel loss (:func:`unlogit.inversion.steps.decoder_step`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from unlogit.inversion.methods import METHODS, Method
from unlogit.inversion.net_spec import NetSpec
from unlogit.inversion.nets.net import no_noise
from unlogit.inversion.steps import decoder_step


class SoftmaxMean(nn.Module):
    """cond (N,K) -> sigmoid(softmax(cond) @ per-class images): (N,C,H,W) in [0,1]; deterministic."""

    dim_z, stochastic = 0, False

    def __init__(self, num_classes: int, channels: int, resolution: int) -> None:
        super().__init__()
        self.num_classes, self.image_shape = num_classes, (channels, resolution, resolution)
        self.means = nn.Parameter(torch.zeros(num_classes, channels * resolution * resolution))

    def sample_noise(self, n: int, device=None, generator=None) -> torch.Tensor:
        return no_noise(n, device)

    def forward(self, cond: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(cond.softmax(1) @ self.means).view(len(cond), *self.image_shape)


def build(spec: NetSpec, _classifier, _encoder) -> SoftmaxMean:
    return SoftmaxMean(spec.num_classes, spec.channels, spec.resolution)


METHOD = Method(
    name="softmax-mean",
    summary="one learned image per class, mixed by the softmax (an example)",
    build_net=build,
    step=decoder_step,
)


def demonstrate(folder: Path) -> None:
    """Register the method, train it for a few steps on shapes, reload it and reconstruct."""
    from _helpers import quick_inverter_config, untrained_classifier_run

    import unlogit

    METHODS.register(METHOD.name, METHOD)
    try:
        clf = untrained_classifier_run(folder / "clf")
        cfg = quick_inverter_config(clf, "model.method=softmax-mean", "train.steps=5", "train.ema=false")
        summary = unlogit.train_inverter(cfg, folder / "inv")
        inv = unlogit.load_inverter(folder / "inv")
        x = torch.rand(3, 3, 32, 32)
        out = inv.reconstruct(x, samples=2)
        assert summary["steps"] == 5 and inv.method == "softmax-mean"
        assert out.shape == (3, 2, 3, 32, 32) and torch.equal(out[:, 0], out[:, 1])  # deterministic
    finally:
        METHODS.unregister(METHOD.name)
