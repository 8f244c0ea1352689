"""Logit edits: the one place where a logit vector is changed on purpose, all in one set of units.

An edit maps raw logits ``l`` (N,K) to edited raw logits (N,K); the inverter then encodes and reconstructs them
as it does any logits. Every size is in **logit units** of the inverted classifier: the per-class mean ``mu``
(K,) and standard deviation ``sigma`` (K,) of its logits on training images (:class:`LogitUnits`, from
:func:`logit_units`), so a step of 1 means the same for every classifier, whatever the scale of its logits.

=======================  =========================================  ============================================
edit                      edited logits                               its size
=======================  =========================================  ============================================
:func:`shift`             ``l + c * mean(sigma)``                     ``c`` in mean class sigmas; softmax unchanged
:func:`scale`             ``centre + s * (l - centre)``               ``s`` a factor (1: none) about a stated centre,
                                                                      the class means ``mu`` wherever units exist
:func:`perturb`           ``l + s * sigma * noise``                   ``s`` in each class's sigma; ``noise`` (N,K) a
                                                                      fixed N(0, I) draw (:func:`noise_draw`)
:func:`interpolate`       ``(1 - a) * l + a * other``                 ``a`` in [0, 1]
:func:`class_deltas`      ``l + d * sigma``                           ``d`` (K,) in each class's sigma
:func:`top_k`             the k largest kept, the rest at the k-th    what a scoring API returns; ``gap`` in raw
                          minus ``gap``                               logits (an attacker knows no units)
:func:`recentre`          ``l - mean_k(l) + level``                   ``level`` in raw logits (log-probabilities
                                                                      put back at the logit level)
=======================  =========================================  ============================================

:class:`LogitEdit` composes them in one fixed order (interpolate, scale, shift, class deltas, noise): the
explorer's sliders. ``unlogit analyze`` (logit-shift, -scale, -perturb, -interpolate), the findings C6a-c and
the leakage audit call the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import UnlogitError

SIGMA_FLOOR = 1e-4  # a class whose training logits barely move still gets a finite unit
UNIT_IMAGES = 2000  # training images that set the units (analyze, the findings and the explorer alike)


@dataclass(frozen=True)
class LogitUnits:
    """A classifier's logit units: per-class mean ``mean`` (K,) and standard deviation ``std`` (K,), at least
    :data:`SIGMA_FLOOR`, of its raw logits on training images."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def of(cls, logits: torch.Tensor) -> LogitUnits:
        """The units of raw logits (N,K), N >= 2 (float32, on their device)."""
        if logits.ndim != 2 or len(logits) < 2:
            raise UnlogitError(f"logit units need at least 2 logit vectors (N,K), got shape {tuple(logits.shape)}")
        logits = logits.float()
        return cls(logits.mean(0), logits.std(0).clamp_min(SIGMA_FLOOR))

    @classmethod
    def streamed(cls, logits: torch.Tensor, chunk: int = 65_536) -> LogitUnits:
        """The units of many raw logits (N,K) of any float dtype (stored float16, memory-mapped), read
        ``chunk`` rows at a time and summed in float64, so no float32 copy of all N rows is made."""
        if logits.ndim != 2 or len(logits) < 2:
            raise UnlogitError(f"logit units need at least 2 logit vectors (N,K), got shape {tuple(logits.shape)}")
        total = torch.zeros(logits.shape[1], dtype=torch.float64)
        squares = torch.zeros_like(total)
        for part in logits.split(chunk):
            part = part.double()
            total += part.sum(0)
            squares += part.square().sum(0)
        n = len(logits)
        mean = total / n
        var = ((squares - n * mean.square()) / (n - 1)).clamp_min(0)
        return cls(mean.float(), var.sqrt().float().clamp_min(SIGMA_FLOOR))

    @property
    def sigma(self) -> torch.Tensor:
        """The mean class sigma (a 0-d tensor): the unit of a :func:`shift`."""
        return self.std.mean()

    def to(self, device: torch.device | str) -> LogitUnits:
        return LogitUnits(self.mean.to(device), self.std.to(device))


@torch.no_grad()
def logit_units(classifier, images: torch.Tensor, batch_size: int = 512) -> LogitUnits:
    """The units of ``classifier`` (a :class:`~unlogit.classifiers.normalized.NormalizedClassifier`) from its
    logits on ``images`` (N,C,H,W) in [0,1], training images; returned on the CPU."""
    device = classifier.mean.device
    logits = [classifier.predict_logits(b.to(device)).float().cpu() for b in images.split(batch_size)]
    return LogitUnits.of(torch.cat(logits))


def noise_draw(shape: Sequence[int], seed: int) -> torch.Tensor:
    """A fixed N(0, I) draw of ``shape`` from ``seed`` (CPU; the same on every machine): the noise of
    :func:`perturb`."""
    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(int(seed)))


def shift(logits: torch.Tensor, c: float, units: LogitUnits) -> torch.Tensor:
    """Every logit moved by ``c`` mean class sigmas (the softmax is unchanged; the inverter may not be)."""
    return logits + c * units.sigma.to(logits.device)


def scale(logits: torch.Tensor, s: float, centre: torch.Tensor | float) -> torch.Tensor:
    """``centre + s * (logits - centre)``: ``s < 1`` pulls every logit towards ``centre`` (K,) or a number,
    ``s > 1`` exaggerates its distance. About the class means (``units.mean``) it is a change of confidence."""
    centre = centre.to(logits.device) if torch.is_tensor(centre) else centre
    return centre + s * (logits - centre)


def perturb(logits: torch.Tensor, s: float, units: LogitUnits, noise: torch.Tensor) -> torch.Tensor:
    """``logits + s * sigma * noise``: ``noise`` (N,K) of N(0, I) (:func:`noise_draw`), each class's in its own
    sigma."""
    return logits + s * units.std.to(logits.device) * noise.to(logits.device)


def interpolate(logits: torch.Tensor, other: torch.Tensor, a: float) -> torch.Tensor:
    """``(1 - a) * logits + a * other`` (both (N,K))."""
    return torch.lerp(logits, other.to(logits.device), float(a))


def class_deltas(logits: torch.Tensor, deltas: Sequence[float] | torch.Tensor, units: LogitUnits) -> torch.Tensor:
    """Class k's logit moved by ``deltas[k]`` of its own sigma (one value per class)."""
    d = torch.as_tensor(deltas, dtype=logits.dtype, device=logits.device)
    if d.shape != (logits.shape[1],):
        raise UnlogitError(f"class_deltas has {d.numel()} values; give one per class ({logits.shape[1]}) or none")
    return logits + d * units.std.to(logits.device, logits.dtype)


def top_k(logits: torch.Tensor, k: int, gap: float = 1.0) -> torch.Tensor:
    """What an API that returns only the ``k`` largest scores leaves: those kept, every other logit set to the
    k-th largest minus ``gap`` (raw logits)."""
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1)
    filled = (top.values[:, -1:] - gap).expand_as(logits).clone()
    return filled.scatter(1, top.indices, top.values)


def recentre(logits: torch.Tensor, level: float) -> torch.Tensor:
    """Each image's logits moved alike so that their mean is ``level``: how a vector known only up to a shift
    (log-probabilities) is put back at a classifier's usual logit level (raw logits)."""
    return logits - logits.mean(1, keepdim=True) + level


@dataclass(frozen=True)
class LogitEdit:
    """A composed edit, applied in this order: interpolate towards ``other`` by ``alpha``, scale by ``scale``
    about the class means, shift by ``shift`` mean sigmas, add ``class_deltas`` (one per class, in sigmas),
    add ``noise_std`` sigmas of noise drawn from ``noise_seed``."""

    shift: float = 0.0
    scale: float = 1.0
    noise_std: float = 0.0
    noise_seed: int = 0
    class_deltas: Sequence[float] = ()
    alpha: float = 0.0

    def apply(self, logits: torch.Tensor, units: LogitUnits, other: torch.Tensor | None = None) -> torch.Tensor:
        """logits (N,K) raw -> edited raw logits (N,K); ``other`` (N,K) is the interpolation target."""
        out = logits
        if self.alpha:
            if other is None:
                raise UnlogitError("interpolation (alpha > 0) needs a second image to interpolate towards")
            out = interpolate(out, other, self.alpha)
        if self.scale != 1.0:
            out = scale(out, self.scale, units.mean)
        if self.shift:
            out = shift(out, self.shift, units)
        if len(self.class_deltas):
            out = class_deltas(out, self.class_deltas, units)
        if self.noise_std:
            out = perturb(out, self.noise_std, units, noise_draw(out.shape, self.noise_seed))
        return out
