"""The scaling table's inputs: FLOPs extrapolated from two small batches, gradient bytes from parameters."""

from __future__ import annotations

import pytest
import torch

from benchmarks.cases import TRAIN_VARIANTS, build_train_bench
from benchmarks.scaling import preset_costs, table


def test_costs_match_a_direct_count_at_the_preset_batch():
    costs = preset_costs("tiny")
    direct = build_train_bench("tiny", TRAIN_VARIANTS["eager-fp32"], torch.device("cpu"), None)
    assert costs["flops_per_iter"] == pytest.approx(direct.flops_per_iter, rel=0.01)
    g = sum(p.numel() for p in direct.state.G.parameters())
    d = sum(p.numel() for p in direct.state.D.parameters())
    assert costs["grad_bytes_per_iter"] == 4 * (costs["n_dis"] * d + g)


def test_table_has_a_row_per_preset_and_link():
    text = table([2, 8], ["tiny"])
    assert "| tiny |" in text and text.count("| tiny | ") == 3  # the cost row and one row per link
    assert "2 GPUs" in text and "8 GPUs" in text
