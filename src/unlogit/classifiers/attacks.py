"""Projected gradient descent (Madry et al. 2018) on [0,1] images, L-inf and L2.

Contract (torchattacks-style)::

    atk = PGD(model, norm="linf", eps=8/255, steps=10)
    x_adv = atk(x, y)                # x: (N,C,H,W) in [0,1]; y: (N,) labels
    x_adv = atk(x, target, targeted=True)

``model`` maps [0,1] images to logits (a :class:`~unlogit.classifiers.NormalizedClassifier`).
The loss is cross-entropy by default; pass ``loss=`` (a callable ``(logits, y) -> (N,)``) for
anything else (e.g. a logit-matching objective). Results always lie inside the epsilon-ball around
``x`` and inside [0,1]. The model's train/eval mode is left as it was; its parameter gradients are
not touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _per_sample_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.ndim - 1)))


class PGD:
    """PGD with random start; ``norm`` is ``"linf"`` or ``"l2"``."""

    def __init__(
        self,
        model: nn.Module,
        norm: Literal["linf", "l2"] = "linf",
        eps: float = 8 / 255,
        steps: int = 10,
        step_size: float | None = None,
        random_start: bool = True,
        loss: LossFn | None = None,
        restarts: int = 1,
    ) -> None:
        if norm not in ("linf", "l2"):
            raise ConfigError(f"attack norm {norm!r} is not supported; choose 'linf' or 'l2'")
        if eps < 0 or steps < 0 or restarts < 1:
            raise ConfigError(
                f"attack eps and steps must be >= 0 and restarts >= 1, got eps={eps}, steps={steps}, "
                f"restarts={restarts}"
            )
        self.model = model
        self.norm = norm
        self.eps = float(eps)
        self.steps = int(steps)
        self.step_size = float(step_size) if step_size is not None else 2.5 * self.eps / max(self.steps, 1)
        self.random_start = random_start
        self.loss = loss
        self.restarts = int(restarts)

    def __repr__(self) -> str:
        return (
            f"PGD(norm={self.norm}, eps={self.eps:.4g}, steps={self.steps}, step_size={self.step_size:.4g}, "
            f"random_start={self.random_start}, restarts={self.restarts})"
        )

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.loss is not None:
            return self.loss(logits, y)
        return F.cross_entropy(logits.float(), y, reduction="none")

    def project(self, x_adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Project onto the epsilon-ball around ``x`` intersected with [0,1]."""
        delta = x_adv - x
        if self.norm == "linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            norms = _per_sample_norm(delta)
            delta = delta * torch.clamp(self.eps / (norms + 1e-12), max=1.0)
        return (x + delta).clamp(0.0, 1.0)

    def _random_start(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm == "linf":
            delta = torch.empty_like(x).uniform_(-self.eps, self.eps)
        else:  # uniform in the L2 ball
            delta = torch.randn_like(x)
            d = delta[0].numel()
            radius = torch.rand(x.shape[0], device=x.device).pow(1.0 / d).view(-1, *([1] * (x.ndim - 1)))
            delta = delta / (_per_sample_norm(delta) + 1e-12) * radius * self.eps
        return (x + delta).clamp(0.0, 1.0)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, targeted: bool = False) -> torch.Tensor:
        """Attack ``x`` (N,C,H,W in [0,1]); untargeted raises the loss on ``y``, targeted lowers it.

        With ``restarts > 1`` each image keeps, over independent random starts, the adversarial example
        with the worst loss for the model (highest untargeted, lowest targeted)."""
        x = x.detach()
        if self.eps == 0 or self.steps == 0:
            return x.clone()
        best = self._once(x, y, targeted)
        if self.restarts == 1:
            return best
        sign = -1.0 if targeted else 1.0
        with torch.no_grad():
            best_loss = sign * self._loss(self.model(best), y)
        for _ in range(self.restarts - 1):
            cand = self._once(x, y, targeted)
            with torch.no_grad():
                loss = sign * self._loss(self.model(cand), y)
            better = loss > best_loss
            best = torch.where(better.view(-1, *([1] * (x.ndim - 1))), cand, best)
            best_loss = torch.maximum(loss, best_loss)
        return best

    def _once(self, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
        x_adv = self._random_start(x) if self.random_start else x.clone()
        sign = -1.0 if targeted else 1.0
        for _ in range(self.steps):
            x_adv.requires_grad_(True)
            loss = self._loss(self.model(x_adv), y).sum()
            (grad,) = torch.autograd.grad(loss, x_adv)
            with torch.no_grad():
                if self.norm == "linf":
                    step = grad.sign()
                else:
                    step = grad / (_per_sample_norm(grad) + 1e-12)
                x_adv = self.project(x_adv + sign * self.step_size * step, x)
        return x_adv.detach()


@dataclass
class AttackConfig:
    """One description of a PGD attack (images in [0,1]): a config section (``train.attack``), a parsed
    command-line string (``pgd-linf:8/255[:steps[:restarts]]``) and the one way to build the attack.

    ``step_size`` defaults to 2.5 * eps / steps."""

    norm: Literal["linf", "l2"] = "linf"
    eps: float = 8 / 255
    steps: int = 10
    step_size: float | None = None
    random_start: bool = True
    restarts: int = 1

    def __post_init__(self) -> None:
        from ..config import check_positive

        check_positive(self.eps, "attack.eps", allow_zero=True)
        check_positive(self.steps, "attack.steps", allow_zero=True)
        check_positive(self.restarts, "attack.restarts")

    def build(self, model: nn.Module, loss: LossFn | None = None) -> PGD:
        """The attack on ``model`` (the one PGD builder every caller uses)."""
        return PGD(model, self.norm, self.eps, self.steps, self.step_size, self.random_start, loss, self.restarts)

    @classmethod
    def parse(cls, text: str) -> AttackConfig:
        """``pgd-linf:8/255``, ``pgd-l2:0.5:20`` or ``pgd-linf:8/255:50:3`` (norm, eps, steps, restarts)."""
        m = _SPEC.match(text.strip())
        if not m:
            raise ConfigError(
                f"attack {text!r} is not understood; use pgd-linf:EPS[:STEPS[:RESTARTS]] or "
                "pgd-l2:EPS[:STEPS[:RESTARTS]], e.g. pgd-linf:8/255 or pgd-l2:0.5:50:3"
            )
        norm, eps_text, steps, restarts = m.groups()
        num, _, den = eps_text.partition("/")
        eps = float(num) / float(den) if den else float(num)
        return cls(norm, eps, int(steps) if steps else 10, restarts=int(restarts) if restarts else 1)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"pgd-{self.norm}:{self.eps:.4g}:{self.steps}" + (f":{self.restarts}" if self.restarts > 1 else "")


_SPEC = re.compile(r"^pgd-(linf|l2):([0-9.eE+-]+(?:/[0-9.]+)?)(?::(\d+))?(?::(\d+))?$")


def parse_attack(text: str) -> AttackConfig:
    """:meth:`AttackConfig.parse`."""
    return AttackConfig.parse(text)
