"""Every fast path gives the eager fp32 result within tolerance (same init, same data, same noise)."""

from __future__ import annotations

import pytest
import torch

from benchmarks.cases import TRAIN_VARIANTS, build_train_bench
from unlogit.inversion.nets.layers import make_conv, spectral_sigmas

SMALL = {"model": {"ch_g": 4, "ch_d": 4}, "train": {"batch_size": 8}}


def _outputs_after(variant: str, iterations: int = 2) -> dict[str, torch.Tensor]:
    """G and D outputs on fixed inputs after ``iterations`` training iterations of ``variant``.

    Outputs, not weights: a conv bias in front of batch norm has no true gradient, so Adam turns its
    rounding noise into full-size steps that differ between kernels without changing any output.
    """
    torch.manual_seed(0)
    bench = build_train_bench("tiny", TRAIN_VARIANTS[variant], torch.device("cpu"), None, False, SMALL)
    torch.manual_seed(1)  # the same noise draws in every variant
    for _ in range(iterations):
        bench.step()
    g = torch.Generator().manual_seed(2)
    l, z, x = torch.randn(8, 10, generator=g), torch.randn(8, 16, generator=g), torch.rand(8, 3, 32, 32, generator=g)
    G, D, c = bench.state.G, bench.state.D, bench.state.encoder(l)
    with torch.no_grad():
        G.train()
        fake_train = G(c, z)
        G.eval()
        return {"G.train": fake_train, "G.eval": G(c, z), "D": D(x, c)}


@pytest.fixture(scope="module")
def eager() -> dict[str, torch.Tensor]:
    return _outputs_after("eager-fp32")


def _gaps(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float((a[k].float() - b[k].float()).norm() / (b[k].float().norm() + 1e-8)) for k in a}


# Eval-mode G also carries the BN running means, which track those gradient-free biases: a looser bound.
EXACT = {"G.train": 1e-5, "D": 1e-5, "G.eval": 1e-2}


@pytest.mark.parametrize("variant", ["foreach-adam", "fused-adam", "channels-last"])
def test_exact_fast_paths_match_eager(eager, variant):
    gaps = _gaps(_outputs_after(variant), eager)
    assert all(gaps[k] < EXACT[k] for k in gaps), gaps


def test_bf16_error_is_small_against_what_training_moved(eager):
    gaps = _gaps(_outputs_after("bf16"), eager)
    moved = _gaps(eager, _outputs_after("eager-fp32", iterations=0))
    assert all(gaps[k] < 0.05 for k in gaps), gaps
    assert gaps["G.train"] < 0.25 * moved["G.train"] and gaps["D"] < 0.25 * moved["D"], (gaps, moved)


def test_compiled_training_matches_eager(eager, compile_toolchain):
    gaps = _gaps(_outputs_after("compile"), eager)
    assert all(gaps[k] < 10 * EXACT[k] for k in gaps), gaps


def test_spectral_norm_power_iteration_stays_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    conv = make_conv(8, 16)
    x = torch.randn(4, 8, 8, 8)
    reference = make_conv(8, 16)
    reference.load_state_dict(conv.state_dict())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    reference(x)
    assert y.dtype == torch.bfloat16
    sn = conv.parametrizations.weight[0]
    assert sn._u.dtype == torch.float32 and conv.weight.dtype == torch.float32
    # the same fp32 power iteration (bf16 would be off by ~1e-3)
    assert spectral_sigmas(conv)[""] == pytest.approx(spectral_sigmas(reference)[""], rel=1e-6)
