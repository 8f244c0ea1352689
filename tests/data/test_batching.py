"""Deterministic epoch orders (with DDP sharding) and batched augmentation."""

from __future__ import annotations

import torch

from unlogit.data.batching import augment, batches_per_epoch, epoch_indices


def test_epoch_indices_are_seeded_permutations_that_change_per_epoch():
    a = epoch_indices(100, seed=3, epoch=0)
    assert sorted(a.tolist()) == list(range(100))
    assert torch.equal(a, epoch_indices(100, seed=3, epoch=0))
    assert not torch.equal(a, epoch_indices(100, seed=3, epoch=1))
    assert not torch.equal(a, epoch_indices(100, seed=4, epoch=0))


def test_ranks_get_disjoint_equal_shards():
    shards = [epoch_indices(101, seed=0, epoch=2, rank=r, world_size=2) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 50  # drop_last across ranks
    assert not set(shards[0].tolist()) & set(shards[1].tolist())
    assert batches_per_epoch(101, 16, world_size=2) == 3


def test_flip_mirrors_some_samples_and_keeps_others():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 8, 8)
    y = augment(x, "flip")
    same = (y == x).flatten(1).all(1)
    mirrored = (y == x.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all() and same.any() and mirrored.any()
    assert augment(x, "none") is x


def test_crop_is_a_shifted_window_of_the_reflect_padded_image():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 8, 8)
    y = augment(x, "crop", pad=2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(len(x)):
        windows = [padded[i, :, a : a + 8, b : b + 8] for a in range(5) for b in range(5)]
        assert any(torch.equal(y[i], w) for w in windows)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
