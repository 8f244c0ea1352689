"""Quick reconstruction numbers used during training (the full metric suite lives in unlogit.metrics)."""

from __future__ import annotations

from typing import Any

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..data.base import ImageDataset
from ..metrics import logit_agreement, psnr
from .generator import Generator


def colour_correlation(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Pearson correlation, across images, of the mean colour of x and x_hat (averaged over channels)."""
    a, b = x.float().mean(dim=(2, 3)), x_hat.float().mean(dim=(2, 3))  # (N,C)
    a, b = a - a.mean(0), b - b.mean(0)
    corr = (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0)).clamp_min(1e-12)
    return float(corr.mean())


@torch.no_grad()
def reconstruction_summary(
    G: Generator, clf: NormalizedClassifier, ds: ImageDataset, n: int, device: torch.device | str, seed: int = 0
) -> dict[str, Any]:
    """Reconstruct the first ``n`` images of ``ds`` from their logits (one noise draw, fixed seed).

    Returns (fractions in [0,1]):
        label_agreement      argmax f(x_hat) == argmax f(x)
        true_label_agreement argmax f(x_hat) == y
        colour_correlation   correlation of mean colours (see :func:`colour_correlation`)
        logit_rel_error      mean ||f(x_hat) - f(x)|| / ||f(x)||
        mse, psnr            pixel error (images in [0,1])
    """
    G.eval()
    idx = torch.arange(min(n, len(ds)))
    gen = torch.Generator().manual_seed(seed)
    outs: dict[str, list[torch.Tensor]] = {"x": [], "x_hat": [], "l": [], "l_hat": [], "y": []}
    for part in idx.split(256):
        x, y = ds.batch(part, device)
        logits = clf(x).float()
        z = G.sample_noise(len(part), "cpu", gen).to(device)
        x_hat = G(logits, z)
        for key, value in (("x", x), ("x_hat", x_hat), ("l", logits), ("l_hat", clf(x_hat).float()), ("y", y)):
            outs[key].append(value.cpu())
    x, x_hat, l, l_hat, y = (torch.cat(outs[k]) for k in ("x", "x_hat", "l", "l_hat", "y"))
    logits = logit_agreement(l, l_hat)
    return {
        "n": len(idx),
        "label_agreement": logits["logit_argmax_agreement"],
        "true_label_agreement": float((l_hat.argmax(1) == y).float().mean()),
        "colour_correlation": colour_correlation(x, x_hat),
        "logit_rel_error": logits["logit_rel_error"],
        "mse": float(((x - x_hat) ** 2).mean()),
        "psnr": float(psnr(x, x_hat).clamp(max=100).mean()),  # 100 dB: identical images
        "seed": seed,
    }
