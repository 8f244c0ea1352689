from __future__ import annotations

import numpy as np
import torch

from unlogit.data import get_dataset
from unlogit.data.shapes import FACTOR_NAMES, SHAPE_CLASSES, generate


def test_deterministic_from_seed_and_index():
    a = get_dataset("shapes", "train", size=300, seed=3)
    b = get_dataset("shapes", "train", size=300, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    # sample i does not depend on how many samples were generated or where generation started
    imgs, labels, factors = generate(3, "train", 250, 260)
    assert np.array_equal(labels, a.labels[250:260].numpy())
    assert np.array_equal(imgs, a.images[250:260].numpy())
    assert np.allclose(factors[:, 0], a.factors["pos_x"][250:260].numpy())


def test_seed_and_split_change_the_data():
    a = get_dataset("shapes", "train", size=50, seed=0)
    assert not torch.equal(a.images, get_dataset("shapes", "train", size=50, seed=1).images)
    assert not torch.equal(a.images, get_dataset("shapes", "test", size=50, seed=0).images)


def test_format_classes_and_factors():
    ds = get_dataset("shapes", "test", size=200)
    assert ds.images.dtype == torch.uint8 and ds.image_shape == (3, 32, 32)
    assert len(SHAPE_CLASSES) >= 8 and ds.classes == SHAPE_CLASSES
    assert torch.bincount(ds.labels, minlength=len(SHAPE_CLASSES)).tolist() == [20] * len(SHAPE_CLASSES)
    assert set(ds.factors) == set(FACTOR_NAMES)
    for name, values in ds.factors.items():
        assert values.shape == (200,), name
    assert ds.factors["rotation"].min() >= 0 and ds.factors["rotation"].max() < 2 * np.pi
    assert (ds.factors["texture"] == 0).any() and (ds.factors["texture"] > 0).any()
    # the object stays visible: object and background colours differ
    obj = torch.stack([ds.factors[k] for k in ("obj_r", "obj_g", "obj_b")], 1)
    bg = torch.stack([ds.factors[k] for k in ("bg_r", "bg_g", "bg_b")], 1)
    assert ((obj - bg).norm(dim=1) >= 0.45 - 1e-6).float().mean() > 0.99


def test_background_colour_is_rendered():
    ds = get_dataset("shapes", "test", size=20)
    corner = ds.images[:, :, 0, 0].float() / 255  # corners are background (objects sit near the centre)
    bg = torch.stack([ds.factors[k] for k in ("bg_r", "bg_g", "bg_b")], 1)
    assert torch.allclose(corner, bg, atol=1 / 255 + 1e-6)
