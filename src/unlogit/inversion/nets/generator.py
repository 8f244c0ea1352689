"""The logit-conditioned BigGAN generator ``x_hat = G(l, z)``.

Every batch norm is a :class:`ConditionalBatchNorm2d` driven by ``[encoded logits, noise chunk]``
(BigGAN's hierarchical noise: z is split into one chunk for the input layer and one per block).
The logits never enter as an input layer; they only modulate the norms. The logits arrive encoded
(the inverter's :class:`~unlogit.inversion.nets.logit_encoder.LogitEncoder`); G meets
:class:`~unlogit.inversion.nets.net.InverterNet`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from .layers import ConditionalBatchNorm2d, SelfAttention, conv_factory, linear_factory


@dataclass(frozen=True)
class GArch:
    """Architecture table entry: start size, per-block (in, out) channel multipliers."""

    start: int
    ch_in: tuple[int, ...]
    ch_out: tuple[int, ...]

    def resolutions(self) -> list[int]:
        return [self.start * 2 ** (i + 1) for i in range(len(self.ch_in))]


G_ARCH: dict[int, GArch] = {
    28: GArch(7, (4, 4), (4, 4)),
    32: GArch(4, (4, 4, 4), (4, 4, 4)),
    64: GArch(4, (16, 16, 8, 4), (16, 8, 4, 2)),
    128: GArch(4, (16, 16, 8, 4, 2), (16, 8, 4, 2, 1)),
}


class GBlock(nn.Module):
    """BigGAN up-block: CBN-ReLU-up-conv-CBN-ReLU-conv, plus an upsampled (1x1 conv) skip."""

    def __init__(self, cin: int, cout: int, which_conv, which_bn) -> None:
        super().__init__()
        self.bn1, self.conv1 = which_bn(cin), which_conv(cin, cout)
        self.bn2, self.conv2 = which_bn(cout), which_conv(cout, cout)
        self.skip = which_conv(cin, cout, kernel=1, padding=0) if cin != cout else None

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return h + (self.skip(x) if self.skip is not None else x)


class Generator(nn.Module):
    """``G(cond, z) -> images`` (N,C,R,R) in [0,1]; ``cond`` is the encoded logits (N,K).

    Args:
        num_classes: K, the classifier's number of logits.
        resolution: 28, 32, 64 or 128 (architecture table ``G_ARCH``).
        out_channels: 1 or 3.
        ch: channel multiplier (BigGAN's ``G_ch``; 64 for CIFAR).
        dim_z: noise size (120 in the paper); split hierarchically across blocks.
        attention: resolutions with a self-attention layer (e.g. ``(64,)``).
        shared_dim: if > 0, a learned linear embedding of the encoded logits (BigGAN's ``shared``).
        shared_sn: spectral norm on that embedding too (BigGAN's is a plain embedding; True is how
            unlogit built it before, kept so those runs load).
        sn: spectral norm on convs and linears.
        cbn_hidden: hidden width of the CBN MLPs (None: automatic).
        channel_mults: overrides the table's widths: one multiplier for the input layer and one per
            block (e.g. ``(4, 2, 1, 1)`` at 32 px gives 4ch -> 2ch -> ch -> ch, a tapered CPU-sized G).
    """

    def __init__(
        self,
        num_classes: int,
        resolution: int = 32,
        out_channels: int = 3,
        ch: int = 64,
        dim_z: int = 120,
        attention: tuple[int, ...] = (),
        shared_dim: int = 0,
        shared_sn: bool = False,
        sn: bool = True,
        cbn_hidden: int | None = None,
        channel_mults: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if resolution not in G_ARCH:
            raise ConfigError(f"generator resolution {resolution} not supported; choose one of {sorted(G_ARCH)}")
        arch = G_ARCH[resolution]
        if channel_mults:
            if len(channel_mults) != len(arch.ch_in) + 1:
                raise ConfigError(
                    f"model.g_channels needs {len(arch.ch_in) + 1} multipliers at resolution {resolution} "
                    f"(input layer + {len(arch.ch_in)} blocks), got {list(channel_mults)}"
                )
            arch = GArch(arch.start, tuple(channel_mults[:-1]), tuple(channel_mults[1:]))
        self.num_classes, self.resolution, self.out_channels = num_classes, resolution, out_channels
        self.image_shape = (out_channels, resolution, resolution)
        n_blocks = len(arch.ch_in)
        self.num_chunks = n_blocks + 1
        self.chunk = dim_z // self.num_chunks
        if self.chunk < 1:
            raise ConfigError(f"model.dim_z={dim_z} is too small for {self.num_chunks} noise chunks")
        self.dim_z = self.chunk * self.num_chunks  # BigGAN rounds dim_z down to a multiple
        which_conv, which_linear = conv_factory(sn), linear_factory(sn)
        self.shared = linear_factory(sn and shared_sn)(num_classes, shared_dim) if shared_dim > 0 else nn.Identity()
        cond_dim = (shared_dim if shared_dim > 0 else num_classes) + self.chunk
        which_bn = functools.partial(ConditionalBatchNorm2d, cond_dim=cond_dim, hidden=cbn_hidden)
        self.start = arch.start
        self.c0 = arch.ch_in[0] * ch
        self.linear = which_linear(self.chunk, self.c0 * arch.start**2)
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        for i, (cin, cout, res) in enumerate(zip(arch.ch_in, arch.ch_out, arch.resolutions())):
            self.blocks.append(GBlock(cin * ch, cout * ch, which_conv, which_bn))
            if res in attention:
                self.attn[str(i)] = SelfAttention(cout * ch, which_conv)
        c_last = arch.ch_out[-1] * ch
        self.out_bn = nn.BatchNorm2d(c_last)
        self.out_conv = which_conv(c_last, out_channels)

    def sample_noise(self, n: int, device: torch.device | str | None = None, generator=None) -> torch.Tensor:
        """z ~ N(0, I): (n, dim_z)."""
        return torch.randn(n, self.dim_z, device=device, generator=generator)

    stochastic = True

    def forward(self, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """cond (N,K) encoded logits, z (N,dim_z) -> images (N,C,R,R) in [0,1]."""
        cond = self.shared(cond.float())
        zs = z.split(self.chunk, dim=1)
        h = self.linear(zs[0]).view(z.shape[0], self.c0, self.start, self.start)
        for i, block in enumerate(self.blocks):
            h = block(h, torch.cat([cond, zs[i + 1]], dim=1))
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        h = self.out_conv(F.relu(self.out_bn(h)))
        return (torch.tanh(h.float()) + 1.0) * 0.5
