"""Retrieval ranks in blocks of reconstructions: the ranks of the full distance matrix, with memory linear in N."""

from __future__ import annotations

import torch

from unlogit.scoring.measure import retrieval_ranks


def _full_matrix_ranks(f: torch.Tensor, g: torch.Tensor, labels: torch.Tensor, distractors: int, seed: int):
    """The ranks as unlogit computed them before blocks: one (N, N) float64 matrix."""
    dist = torch.cdist(g.double(), f.double())
    own = dist.diagonal()
    ranks = 1.0 + (dist < own[:, None]).sum(1).double() + 0.5 * ((dist == own[:, None]).sum(1).double() - 1.0)
    gen = torch.Generator().manual_seed(seed)
    cls = torch.empty(len(labels), dtype=torch.float64)
    for i in range(len(labels)):
        same = (labels == labels[i]).nonzero()[:, 0]
        same = same[same != i]
        pick = same[torch.randperm(len(same), generator=gen)[:distractors]]
        cls[i] = 1.0 + float((dist[i, pick] < dist[i, i]).sum()) + 0.5 * float((dist[i, pick] == dist[i, i]).sum())
    return ranks, cls


def test_blocked_ranks_equal_the_full_matrix_s_at_1000_images():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1000, 3 * 8 * 8, generator=gen)
    x_hat = 0.1 * x + 0.9 * torch.rand(x.shape, generator=gen)  # faint reconstructions: mean rank about 160
    labels = torch.arange(1000) % 10
    ranks, cls = _full_matrix_ranks(x, x_hat, labels, 10, 3)
    assert 10.0 < ranks.mean() < 400.0 and 1.5 < cls.mean()  # neither trivial nor chance
    for block in (1000, 97, 1):
        out = retrieval_ranks(x, x_hat, labels, 10, seed=3, block=block)
        assert torch.equal(out["retrieval_rank"], ranks) and torch.equal(out["retrieval_rank_class"], cls), block


def test_exact_ties_count_half_in_every_block():
    f = torch.tensor([[0.0], [1.0], [-1.0], [3.0]])
    g = torch.tensor([[0.0], [0.0], [0.0], [3.0]])  # seen from 0, originals 1 and 2 are equally near
    for block in (4, 1, 3):
        ranks = retrieval_ranks(f, g, block=block)["retrieval_rank"]
        assert ranks.tolist() == [1.0, 2.5, 2.5, 1.0], block
