"""EMA of G's weights, ema_start, and standing BN statistics, on tiny modules."""

from __future__ import annotations

import torch
import torch.nn as nn

from unlogit.inversion.train.ema import ema_update, standing_stats


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_ema_update_interpolates_parameters_and_copies_buffers():
    torch.manual_seed(0)
    model, ema = _net(), _net()
    model[1].running_mean.fill_(3.0)
    before = [p.clone() for p in ema.parameters()]
    ema_update(ema, model, decay=0.75)
    for pe, p0, pm in zip(ema.parameters(), before, model.parameters()):
        assert torch.allclose(pe, 0.75 * p0 + 0.25 * pm)
    assert torch.equal(ema[1].running_mean, model[1].running_mean)
    ema_update(ema, model, decay=0.0)  # before ema_start the trainer copies
    assert all(torch.equal(a, b) for a, b in zip(ema.parameters(), model.parameters()))


def test_standing_stats_average_over_batches_and_leave_eval_mode():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Identity(), nn.BatchNorm1d(2))
    batches = iter([torch.tensor([[0.0, 0.0], [2.0, 2.0]]), torch.tensor([[4.0, 4.0], [6.0, 6.0]])])

    class _Two(nn.Module):  # standing_stats calls generator(*inputs): a (cond, z) pair
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, cond, z):
            return self.net(cond)

    gen = _Two()
    standing_stats(gen, lambda: (next(batches), torch.zeros(2, 0)), batches=2)
    assert not gen.training
    assert torch.allclose(net[1].running_mean, torch.tensor([3.0, 3.0]))  # mean of the two batch means 1 and 5
    assert net[1].momentum == 0.1  # restored


def test_ema_start_keeps_the_ema_equal_to_g_until_it_starts(tmp_path, tiny_classifier_run):
    from unlogit import train_inverter
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig
    from unlogit.runtime.checkpoint import load_checkpoint

    from ..conftest import TINY_GAN_OVERRIDES

    def trained(ema_start: int):
        cfg = build_config(
            InverterRunConfig,
            "inverter",
            "tiny",
            [*TINY_GAN_OVERRIDES, "train.steps=3", f"train.ema_start={ema_start}"],
            {"classifier": str(tiny_classifier_run)},
        )
        train_inverter(cfg, tmp_path / f"start{ema_start}")
        tensors, _ = load_checkpoint(
            tmp_path / f"start{ema_start}" / "checkpoints" / "last", "unlogit.inverter-train-state"
        )
        return tensors

    late = trained(100)
    assert all(torch.equal(late[k], late["G_ema/" + k[2:]]) for k in late if k.startswith("G/") and "original" in k)
    early = trained(0)
    assert any(
        not torch.equal(early[k], early["G_ema/" + k[2:]]) for k in early if k.startswith("G/") and "original" in k
    )
