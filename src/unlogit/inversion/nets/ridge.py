"""The kernel-ridge reference decoder: pixels regressed on the encoded logits in closed form.

The simplest instrument an inverter has to beat. An RBF kernel ridge regression from the encoded logits (N, K)
to the flattened images (N, C*H*W) is fitted on up to ``model.ridge_anchors`` training images (spread evenly over the
training split), with the bandwidth set by the median pairwise distance and one ridge strength for all pixels,
chosen from :data:`LAMBDAS` by 5-fold cross-validation on those images (the held-out images choose nothing).
A reconstruction is then the kernel-weighted sum of the anchors' centred images plus their mean: deterministic,
no noise, nothing trained by gradient.

If a GAN's reconstructions score no better than this decoder's on an endpoint, that endpoint measures what a
regression can read from the logits, not what the GAN adds. The same decoder fitted on each arm's logits shows
how much of a robust-vs-standard gap is already in the logits.
"""

from __future__ import annotations

import torch
import torch.nn as nn

LAMBDAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
FOLDS = 5
CHUNK = 4096  # query rows per kernel block at inference


def rbf(a: torch.Tensor, b: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """The RBF kernel exp(-gamma |a_i - b_j|^2) between rows of a (N,D) and b (M,D): (N,M)."""
    return torch.exp(-gamma * torch.cdist(a, b) ** 2)


def ridge_coefficients(kernel: torch.Tensor, targets: torch.Tensor, lam: float) -> torch.Tensor:
    """Dual coefficients (N,T) of kernel ridge on centred ``targets`` (N,T): (K + lam N I)^-1 (t - mean), by a
    Cholesky solve (the regularised kernel is positive definite)."""
    eye = torch.eye(len(kernel), dtype=kernel.dtype)
    centred = targets - targets.mean(0)
    return torch.cholesky_solve(centred, torch.linalg.cholesky(kernel + lam * len(kernel) * eye))


def median_gamma(x: torch.Tensor) -> torch.Tensor:
    """The bandwidth 1 / median squared distance between distinct rows of x (N,D), N >= 2 (a 0-d tensor)."""
    d2 = torch.cdist(x, x) ** 2
    return 1.0 / d2[~torch.eye(len(x), dtype=torch.bool, device=x.device)].median().clamp_min(1e-12)


def cv_lambda(kernel: torch.Tensor, targets: torch.Tensor, seed: int = 0) -> tuple[float, dict[str, float]]:
    """The ridge strength of :data:`LAMBDAS` with the lowest 5-fold cross-validated mean squared error over all
    targets, and each one's error."""
    order = torch.randperm(len(kernel), generator=torch.Generator().manual_seed(seed))
    errors = {}
    for lam in LAMBDAS:
        total = 0.0
        for held in order.chunk(FOLDS):
            fit = torch.ones(len(kernel), dtype=torch.bool)
            fit[held] = False
            coef = ridge_coefficients(kernel[fit][:, fit], targets[fit], lam)
            pred = kernel[held][:, fit] @ coef + targets[fit].mean(0)
            total += float(((pred - targets[held]) ** 2).sum())
        errors[f"{lam:g}"] = total / targets.numel()
    best = min(errors, key=errors.__getitem__)
    return float(best), errors


class KernelRidgeDecoder(nn.Module):
    """Encoded logits (N,K) -> images (N,C,H,W) in [0,1] by kernel ridge regression (see the module docstring).

    Buffers (saved in ``model.safetensors``): ``anchors`` (M,K) the encoded logits it was fitted on, ``coef``
    (M, C*H*W) the dual coefficients, ``offset`` (C*H*W,) the anchors' mean image, ``gamma`` and ``lam`` (0-d).
    Before :meth:`fit` (or loading) it has no anchors and refuses to decode.
    """

    stochastic = False
    dim_z = 0

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.num_classes, self.image_shape = num_classes, tuple(image_shape)
        pixels = image_shape[0] * image_shape[1] * image_shape[2]
        self.register_buffer("anchors", torch.zeros(0, num_classes))
        self.register_buffer("coef", torch.zeros(0, pixels))
        self.register_buffer("offset", torch.zeros(pixels))
        self.register_buffer("gamma", torch.zeros(()))
        self.register_buffer("lam", torch.zeros(()))

    def sample_noise(self, n: int, device: torch.device | str | None = None, generator=None) -> torch.Tensor:
        return torch.zeros(n, 0, device=device)

    @torch.no_grad()
    def fit(self, cond: torch.Tensor, images: torch.Tensor) -> None:
        """Fit on encoded logits (N,K) and their images (N,C,H,W) in [0,1] (float64 solve, float32 buffers)."""
        f, t = cond.double().cpu(), images.flatten(1).double().cpu()
        gamma = median_gamma(f)
        kernel = torch.exp(-gamma * torch.cdist(f, f) ** 2)
        lam, _ = cv_lambda(kernel, t)
        device = self.offset.device
        self.anchors = f.float().to(device)
        self.coef = ridge_coefficients(kernel, t, lam).float().to(device)
        self.offset = t.mean(0).float().to(device)
        self.gamma = gamma.float().to(device)
        self.lam = torch.tensor(lam, device=device)

    def forward(self, cond: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if len(self.anchors) == 0:
            raise RuntimeError("the kernel-ridge decoder has not been fitted")
        out = [rbf(part.float(), self.anchors, self.gamma) @ self.coef + self.offset for part in cond.split(CHUNK)]
        return torch.cat(out).view(-1, *self.image_shape).clamp(0, 1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Take the fitted sizes from the checkpoint (the number of anchors is known only after the fit)."""
        for name in ("anchors", "coef"):
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key], device=self.offset.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
