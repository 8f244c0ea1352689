"""Projection discriminator ``D(x, l) = (w1 + W2 c)^T Psi(x)`` (Miyato & Koyama 2018) on logits.

``Psi`` is a stack of BigGAN residual down-blocks ending in ReLU and global sum pooling; ``w1``
judges realism, ``W2`` (applied to the encoded logits ``c``) judges consistency with the logits.

With ``side_dim > 0`` (the ``gan-features`` method, not the paper's) the trunk also sees side
features of the image, e.g. the frozen classifier's penultimate activations, through a spectrally
normalised linear map added to ``Psi(x)``: D is handed the network it would otherwise have to distil.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from .layers import SelfAttention, conv_factory, linear_factory


@dataclass(frozen=True)
class DArch:
    ch_out: tuple[int, ...]
    downsample: tuple[bool, ...]


D_ARCH: dict[int, DArch] = {
    28: DArch((4, 4, 4, 4), (True, True, False, False)),
    32: DArch((4, 4, 4, 4), (True, True, False, False)),
    64: DArch((1, 2, 4, 8, 16), (True, True, True, True, False)),
    128: DArch((1, 2, 4, 8, 16, 16), (True, True, True, True, True, False)),
}


class DBlock(nn.Module):
    """BigGAN down-block: (ReLU)-conv-ReLU-conv-(avgpool), with a 1x1-conv skip when shapes change."""

    def __init__(self, cin: int, cout: int, which_conv, preactivation: bool, downsample: bool) -> None:
        super().__init__()
        self.preactivation, self.downsample = preactivation, downsample
        self.conv1, self.conv2 = which_conv(cin, cout), which_conv(cout, cout)
        self.skip = which_conv(cin, cout, kernel=1, padding=0) if (cin != cout or downsample) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.skip is None:
            return h + x
        if self.preactivation:
            s = self.skip(x)
            s = F.avg_pool2d(s, 2) if self.downsample else s
        else:
            s = F.avg_pool2d(x, 2) if self.downsample else x
            s = self.skip(s)
        return h + s


class ProjectionDiscriminator(nn.Module):
    """``D(x, c) -> (N,)`` scores for images x (N,C,R,R) in [0,1] and encoded logits c (N,K)."""

    def __init__(
        self,
        num_classes: int,
        resolution: int = 32,
        in_channels: int = 3,
        ch: int = 64,
        attention: tuple[int, ...] = (),
        sn: bool = True,
        channel_mults: tuple[int, ...] | None = None,
        side_dim: int = 0,
    ) -> None:
        super().__init__()
        if resolution not in D_ARCH:
            raise ConfigError(f"discriminator resolution {resolution} not supported; choose one of {sorted(D_ARCH)}")
        arch = D_ARCH[resolution]
        if channel_mults:
            if len(channel_mults) != len(arch.ch_out):
                raise ConfigError(
                    f"model.d_channels needs {len(arch.ch_out)} multipliers at resolution {resolution}, "
                    f"got {list(channel_mults)}"
                )
            arch = DArch(tuple(channel_mults), arch.downsample)
        which_conv, which_linear = conv_factory(sn), linear_factory(sn)
        self.blocks = nn.ModuleList()
        cin, res = in_channels, resolution
        for i, (mult, down) in enumerate(zip(arch.ch_out, arch.downsample)):
            self.blocks.append(DBlock(cin, mult * ch, which_conv, preactivation=i > 0, downsample=down))
            cin = mult * ch
            res = res // 2 if down else res
            if res in attention and i == 0:
                self.blocks.append(SelfAttention(cin, which_conv))
        self.linear = which_linear(cin, 1)  # w1
        self.embed = which_linear(num_classes, cin, bias=False)  # W2
        self.side = which_linear(side_dim, cin, bias=False) if side_dim > 0 else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Psi(x): (N, C_D) after ReLU and global sum pooling."""
        h = x * 2.0 - 1.0
        for block in self.blocks:
            h = block(h)
        return F.relu(h).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        """x (N,C,R,R) in [0,1], cond (N,K) encoded logits, side (N,side_dim) or None -> scores (N,)."""
        psi = self.features(x)
        if self.side is not None:
            if side is None:
                raise ValueError("this discriminator was built with side features; pass side=")
            psi = psi + self.side(side.to(psi.dtype))
        return self.linear(psi).squeeze(1) + (self.embed(cond.to(psi.dtype)) * psi).sum(1)
