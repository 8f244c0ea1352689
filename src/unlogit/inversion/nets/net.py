"""``InverterNet``: the contract every inversion network meets (GAN generator, decoders, optimiser).

An inverter is a :class:`~unlogit.inversion.nets.logit_encoder.LogitEncoder` plus an ``InverterNet``::

    cond  = encoder(logits)          raw logits (N,K) -> encoded condition (N,K)
    x_hat = net(cond, z)             z (N, dim_z) from net.sample_noise -> images (N,C,H,W) in [0,1]

The encoder belongs to the inverter (it is fitted on training logits and saved with the weights); the
same encoded condition drives the generator's conditional batch norms and the discriminator's
projection. A net never sees raw logits, and nothing else about a net is assumed: code that handles
inverters calls only what this protocol names.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class InverterNet(Protocol):
    """What every inversion network provides.

    Attributes:
        num_classes: K, the length of the condition vector.
        image_shape: (C, H, W) of the images it makes.
        dim_z: length of one noise vector (0 for deterministic nets).
        stochastic: whether different noise gives different images for the same condition.
    """

    num_classes: int
    image_shape: tuple[int, int, int]
    dim_z: int
    stochastic: bool

    def sample_noise(
        self, n: int, device: torch.device | str | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """n noise vectors (n, dim_z), drawn from ``generator`` when given."""
        ...

    def __call__(self, cond: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Encoded condition (N,K) and noise (N, dim_z) -> images (N,C,H,W) in [0,1]."""
        ...


def no_noise(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The noise of a deterministic net: an empty (n, 0) tensor (draws nothing from any RNG)."""
    return torch.zeros(n, 0, device=device)
