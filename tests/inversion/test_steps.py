"""One training step of each method, on tiny modules: what enters the loss, and what changes."""

from __future__ import annotations

import pytest
import torch

import unlogit.inversion.steps as steps
from unlogit.config import build_config
from unlogit.inversion.config import InverterRunConfig
from unlogit.inversion.steps import StepContext
from unlogit.inversion.train.state import TrainState

from ..conftest import TINY_GAN_OVERRIDES


class _Clf(torch.nn.Module):
    """A stand-in classifier: 10 logits from pooled pixels."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 10)

    def forward(self, x):
        return self.lin(x.mean(dim=(2, 3)))


def _ctx(*overrides: str) -> StepContext:
    cfg = build_config(InverterRunConfig, "inverter", "tiny", [*TINY_GAN_OVERRIDES, *overrides], {"classifier": "x"})
    torch.manual_seed(0)
    state = TrainState.create(cfg, cfg.model.net_spec(10, 3, 32), torch.device("cpu"))
    g = torch.Generator().manual_seed(0)

    def draw():
        x = torch.rand(8, 3, 32, 32, generator=g)
        return x, torch.randn(8, 10, generator=g)

    import contextlib

    return StepContext(state, state.G, state.D, _Clf(), draw, contextlib.nullcontext(), cfg.train, torch.device("cpu"))


def test_logit_loss_enters_the_generator_loss_with_its_weight(monkeypatch):
    monkeypatch.setattr(steps, "logit_consistency_loss", lambda a, b: torch.tensor(5.0))
    plain, weighted = _ctx("train.logit_loss=0"), _ctx("train.logit_loss=0.5")  # the same weights
    torch.manual_seed(1)
    without = steps.gan_step(plain)["loss_g"]
    torch.manual_seed(1)
    with_term = steps.gan_step(weighted)["loss_g"]
    assert float(with_term - without) == pytest.approx(2.5, abs=1e-5)


def test_gan_step_moves_g_and_d_and_reports_hinge_numbers():
    ctx = _ctx()
    g0 = [p.clone() for p in ctx.state.G.parameters()]
    d0 = [p.clone() for p in ctx.state.D.parameters()]
    numbers = steps.gan_step(ctx)
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(numbers)
    assert any(not torch.equal(a, b) for a, b in zip(g0, ctx.state.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, ctx.state.D.parameters()))
    assert ctx.state.batches_drawn == 0  # the test's draw() does not count; the trainer's does


def test_pixel_step_has_no_discriminator():
    ctx = _ctx("model.method=pixel", "train.ema=false")
    assert ctx.state.D is None and ctx.state.opt_d is None and ctx.state.G_ema is None
    numbers = steps.decoder_step(ctx)
    assert set(numbers) == {"loss_img", "loss_g"}
