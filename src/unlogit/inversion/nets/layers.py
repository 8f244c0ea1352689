"""BigGAN-style building blocks: spectrally normalised layers, conditional BN, self-attention.

Layer types are injected into the blocks (``which_conv``, ``which_linear``, ``which_bn``) as in
BigGAN-PyTorch, so the generator/discriminator code does not branch on options.
"""

from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm


class _FP32SpectralNorm(_SpectralNorm):
    """torch's spectral-norm parametrization with the power iteration and the division in float32,
    even inside a bf16 autocast region (the sigma estimate is what keeps the GAN stable)."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.is_meta:  # a shape-only build (checking a checkpoint before allocating): nothing to normalise
            return weight
        with torch.autocast(weight.device.type, enabled=False):
            return super().forward(weight.float()).to(weight.dtype)


def spectral_norm(module: nn.Module, eps: float = 1e-6, n_power_iterations: int = 1) -> nn.Module:
    """Spectrally normalise ``module.weight`` (as ``torch.nn.utils.parametrizations.spectral_norm``,
    whose state-dict layout it keeps), computing sigma in float32 under autocast."""
    dim = 1 if isinstance(module, nn.ConvTranspose2d) else 0
    param = _FP32SpectralNorm(module.weight, n_power_iterations, dim, eps)
    parametrize.register_parametrization(module, "weight", param)
    return module


def _orthogonal(module: nn.Module) -> nn.Module:
    nn.init.orthogonal_(module.weight)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def make_conv(cin: int, cout: int, kernel: int = 3, padding: int = 1, sn: bool = True, eps: float = 1e-6):
    """Conv2d with orthogonal init, optionally spectrally normalised (one power iteration per call)."""
    conv = _orthogonal(nn.Conv2d(cin, cout, kernel, padding=padding))
    return spectral_norm(conv, eps=eps) if sn else conv


def make_linear(cin: int, cout: int, bias: bool = True, sn: bool = True, eps: float = 1e-6):
    """Linear with orthogonal init, optionally spectrally normalised."""
    lin = _orthogonal(nn.Linear(cin, cout, bias=bias))
    return spectral_norm(lin, eps=eps) if sn else lin


def conv_factory(sn: bool, eps: float = 1e-6):
    return functools.partial(make_conv, sn=sn, eps=eps)


def linear_factory(sn: bool, eps: float = 1e-6):
    return functools.partial(make_linear, sn=sn, eps=eps)


def spectral_sigmas(module: nn.Module) -> dict[str, float]:
    """Current spectral-norm estimates sigma = u^T W v of every SN layer (name -> float)."""
    out: dict[str, float] = {}
    for name, m in module.named_modules():
        params = getattr(m, "parametrizations", None)
        if params is None or "weight" not in params:
            continue
        sn_mod = params["weight"][0]
        w = params["weight"].original
        u, v = getattr(sn_mod, "_u", None), getattr(sn_mod, "_v", None)
        if u is None or v is None:
            continue
        w_mat = w.flatten(1) if w.ndim > 1 else w
        with torch.no_grad():
            out[name] = float(torch.dot(u, w_mat.float() @ v.float()))
    return out


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without affine parameters, then per-channel gain and bias from two-layer MLPs.

    ``y = (1 + g(c)) * BN(x) + b(c)``; the MLPs' last layers start at zero, so an untrained layer is
    exactly plain BN (gain 1, bias 0).

    Args:
        num_features: channels C of x.
        cond_dim: size of the condition vector c (encoded logits + noise chunk).
        hidden: hidden width of the MLPs (default max(C, cond_dim), capped at 256).

    forward(x: (N,C,H,W), c: (N,cond_dim)) -> (N,C,H,W)
    """

    def __init__(
        self,
        num_features: int,
        cond_dim: int,
        hidden: int | None = None,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
    ) -> None:
        super().__init__()
        hidden = hidden or min(max(num_features, cond_dim), 256)
        self.bn = nn.BatchNorm2d(num_features, affine=False, eps=eps, momentum=momentum)
        self.gain = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_features))
        self.bias = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_features))
        for mlp in (self.gain, self.bias):
            nn.init.zeros_(mlp[2].weight)
            nn.init.zeros_(mlp[2].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        out = self.bn(x)
        gain = 1.0 + self.gain(c).to(out.dtype)
        bias = self.bias(c).to(out.dtype)
        return out * gain[:, :, None, None] + bias[:, :, None, None]


class SelfAttention(nn.Module):
    """SAGAN/BigGAN self-attention with a learned residual gate (starts at 0)."""

    def __init__(self, ch: int, which_conv=make_conv) -> None:
        super().__init__()
        key, value = max(ch // 8, 1), max(ch // 2, 1)
        self.value = value
        self.theta = which_conv(ch, key, kernel=1, padding=0)
        self.phi = which_conv(ch, key, kernel=1, padding=0)
        self.g = which_conv(ch, value, kernel=1, padding=0)
        self.o = which_conv(value, ch, kernel=1, padding=0)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        theta = self.theta(x).flatten(2)  # (N, C/8, HW)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)  # (N, C/8, HW/4)
        g = F.max_pool2d(self.g(x), 2).flatten(2)  # (N, C/2, HW/4)
        beta = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (N, HW, HW/4)
        o = self.o((g @ beta.transpose(1, 2)).view(n, self.value, h, w))
        return x + self.gamma * o
