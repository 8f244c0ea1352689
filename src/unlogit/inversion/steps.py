"""One optimisation step per inversion method, sharing the trainer's data stream and state.

- :func:`gan_step` (the paper): ``n_dis`` hinge D steps, then one hinge G step; real and fake go
  through D in one forward (one DDP forward per backward, batched D work).
- :func:`decoder_step` (``pixel`` and ``dosovitskiy`` baselines): lambda_img * pixel MSE +
  lambda_feat * feature MSE (+ lambda_adv * hinge adversarial loss with its own D step).

Each returns a dict of scalar tensors for logging.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from ..classifiers.normalized import NormalizedClassifier
from .losses import feature_loss, hinge_d_loss, hinge_g_loss, logit_consistency_loss
from .nets.logit_encoder import LogitEncoder


class StepState(Protocol):
    """What a step updates (``TrainState`` has it): the encoder both nets see, G and D and their optimisers."""

    encoder: LogitEncoder
    G: nn.Module
    D: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None


class StepSettings(Protocol):
    """The training settings a step reads (``InverterTrainConfig`` has them all)."""

    n_dis: int
    accumulate: int
    logit_loss: float
    lambda_img: float
    lambda_feat: float
    lambda_adv: float


@dataclass
class StepContext:
    """What a step needs: the state, the (possibly DDP-wrapped) G and D, the classifier, the data.

    G is called as ``G(cond, z)`` with ``cond = state.encoder(logits)``, the condition D sees too.
    """

    state: StepState
    G: nn.Module
    D: nn.Module | None
    clf: NormalizedClassifier
    draw: Callable[[], tuple[torch.Tensor, torch.Tensor]]  # -> real images (B,C,H,W), raw logits (B,K)
    amp: Any
    train: StepSettings
    device: torch.device
    D_local: nn.Module | None = None  # D without DDP (possibly compiled); default state.D
    side: Callable[[torch.Tensor], torch.Tensor] | None = None  # images -> D's side features (gan-features)


def sync_gradients(module: nn.Module | None, last: bool):
    """Context for one micro-batch's forward+backward: DDP all-reduces only on the ``last`` one of an
    accumulation (``no_sync`` before it), so ``train.accumulate`` costs one all-reduce per optimiser step."""
    inner = getattr(module, "_orig_mod", module)  # under torch.compile
    if last or not isinstance(inner, DDP):
        return contextlib.nullcontext()
    return inner.no_sync()


def _d_step(
    ctx: StepContext, fake_fn: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """One discriminator update over ``accumulate`` batches; ``fake_fn(cond)`` makes the fakes.

    Returns the numbers of the last batch (scalar tensors), its real images ``x`` (B,C,H,W) in [0,1] and
    their condition ``cond`` (B,K): the encoded logits, which the G step reuses."""
    st, t = ctx.state, ctx.train
    st.opt_d.zero_grad(set_to_none=True)
    for i in range(t.accumulate):
        x, l = ctx.draw()
        cond = st.encoder(l)
        with torch.no_grad(), ctx.amp:
            fake = fake_fn(cond)
        with sync_gradients(ctx.D, i == t.accumulate - 1):
            with ctx.amp:
                both = torch.cat([x, fake.to(x.dtype)])
                side = None
                if ctx.side is not None:
                    with torch.no_grad():
                        side = ctx.side(both)
                scores = ctx.D(both, torch.cat([cond, cond]), side)
            d_real, d_fake = scores.float().chunk(2)
            loss_d = hinge_d_loss(d_real, d_fake)
            (loss_d / t.accumulate).backward()
    st.opt_d.step()
    numbers = {"loss_d": loss_d.detach(), "d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}
    return numbers, x, cond


def _adversarial_g(ctx: StepContext, fake: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """G's hinge loss through the *unwrapped* D (no D weight gradients, no D all-reduce)."""
    D = ctx.D_local if ctx.D_local is not None else ctx.state.D
    ctx.state.D.requires_grad_(False)
    with ctx.amp:
        side = ctx.side(fake) if ctx.side is not None else None  # gradients reach G through the frozen classifier
        d_gen = D(fake, cond, side)
    ctx.state.D.requires_grad_(True)
    return hinge_g_loss(d_gen)


def gan_step(ctx: StepContext) -> dict[str, torch.Tensor]:
    """The paper's method: n_dis hinge D steps, one hinge G step (reusing the last real logits)."""
    st, t = ctx.state, ctx.train
    for _ in range(t.n_dis):
        out, _x, cond = _d_step(ctx, lambda c: ctx.G(c, st.G.sample_noise(len(c), ctx.device)))
    st.opt_g.zero_grad(set_to_none=True)
    for i in range(t.accumulate):
        with sync_gradients(ctx.G, i == t.accumulate - 1):
            with ctx.amp:
                fake = ctx.G(cond, st.G.sample_noise(len(cond), ctx.device))
            loss_g = _adversarial_g(ctx, fake, cond)
            if t.logit_loss > 0:  # explicit, reported option; not the paper's method
                loss_g = loss_g + t.logit_loss * logit_consistency_loss(st.encoder(ctx.clf(fake.float())), cond)
            (loss_g / t.accumulate).backward()
    st.opt_g.step()
    out["loss_g"] = loss_g.detach()
    return out


def decoder_step(ctx: StepContext) -> dict[str, torch.Tensor]:
    """``pixel`` / ``dosovitskiy``: weighted pixel, feature and (optional) adversarial losses."""
    st, t = ctx.state, ctx.train
    out: dict[str, torch.Tensor] = {}
    if ctx.D is not None:
        out, x, cond = _d_step(ctx, lambda c: ctx.G(c, st.G.sample_noise(len(c), ctx.device)))
    else:
        x, l = ctx.draw()
        cond = st.encoder(l)
    st.opt_g.zero_grad(set_to_none=True)
    with ctx.amp:
        x_hat = ctx.G(cond, st.G.sample_noise(len(cond), ctx.device))
    loss_img = F.mse_loss(x_hat.float(), x.float())
    loss = t.lambda_img * loss_img
    out["loss_img"] = loss_img.detach()
    if t.lambda_feat > 0:
        loss_feat = feature_loss(ctx.clf, x, x_hat.float())
        loss = loss + t.lambda_feat * loss_feat
        out["loss_feat"] = loss_feat.detach()
    if ctx.D is not None:
        loss_adv = _adversarial_g(ctx, x_hat, cond)
        loss = loss + t.lambda_adv * loss_adv
        out["loss_adv"] = loss_adv.detach()
    loss.backward()
    st.opt_g.step()
    out["loss_g"] = loss.detach()
    return out
