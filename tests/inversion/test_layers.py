from __future__ import annotations

import torch
import torch.nn as nn

from unlogit.inversion.edits import LogitUnits
from unlogit.inversion.nets.layers import ConditionalBatchNorm2d, make_conv, spectral_sigmas
from unlogit.inversion.nets.logit_encoder import LogitEncoder


def test_cbn_equals_plain_bn_at_init():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(8, cond_dim=5)
    bn = nn.BatchNorm2d(8, affine=False)
    x, c = torch.randn(4, 8, 6, 6), torch.randn(4, 5) * 10
    assert torch.allclose(cbn(x, c), bn(x), atol=1e-6)


def test_cbn_output_depends_on_condition_after_training_step():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(4, cond_dim=3)
    x = torch.randn(8, 4, 5, 5)
    c = torch.randn(8, 3)
    opt = torch.optim.SGD(cbn.parameters(), lr=0.1)
    loss = (cbn(x, c) * torch.randn(8, 4, 5, 5)).sum()
    loss.backward()
    opt.step()
    assert not torch.allclose(cbn(x, c), cbn(x, c + 1.0))


def test_spectral_norm_bounds_the_weight():
    torch.manual_seed(0)
    conv = make_conv(4, 8)
    for _ in range(30):  # power iterations run in training mode
        conv(torch.randn(2, 4, 8, 8))
    w = conv.weight.flatten(1)
    assert abs(torch.linalg.matrix_norm(w, ord=2).item() - 1.0) < 0.05
    sig = spectral_sigmas(nn.Sequential(conv))
    assert (
        len(sig) == 1
        and abs(
            next(iter(sig.values()))
            - torch.linalg.matrix_norm(conv.parametrizations.weight.original.flatten(1), ord=2).item()
        )
        < 0.05
    )


def test_logit_encoder_modes():
    logits = torch.randn(100, 5) * 3 + 2
    units = LogitUnits.of(logits)
    enc = LogitEncoder(5, "standardize").fit(units.mean, units.std)
    z = enc(logits)
    assert torch.allclose(z.mean(0), torch.zeros(5), atol=1e-5) and torch.allclose(z.std(0), torch.ones(5), atol=1e-4)
    ls = LogitEncoder(5, "log-softmax")
    assert torch.allclose(ls(logits), ls(logits + 7.0), atol=1e-5)  # shift-invariant
    assert torch.allclose(LogitEncoder(5, "temperature", temperature=2.0)(logits), logits / 2)
    # statistics are buffers: they travel with the state dict
    assert set(enc.state_dict()) == {"mean", "std"}
