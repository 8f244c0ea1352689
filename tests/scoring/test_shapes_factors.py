"""The colour-blind factor readout: it must read geometry off the *originals* before it can judge reconstructions."""

import math
import warnings

import torch

from unlogit.data.shapes import FACTOR_NAMES, load_shapes
from unlogit.scoring.shapes_factors import ORDER, factor_errors, read_factors


def _r2(pred: torch.Tensor, true: torch.Tensor) -> float:
    pred, true = pred.double(), true.double()
    return float(1 - ((pred - true) ** 2).sum() / ((true - true.mean()) ** 2).sum())


def _originals(n: int = 400):
    ds = load_shapes("val", size=n, seed=3)
    return ds.images.float() / 255, ds.labels, ds.factors


def test_position_and_scale_are_read_from_originals_at_r2_of_at_least_0_9():
    x, y, truth = _originals()
    read = read_factors(x, y)
    assert _r2(read["pos_x"], truth["pos_x"]) >= 0.9
    assert _r2(read["pos_y"], truth["pos_y"]) >= 0.9
    assert _r2(read["scale"], truth["scale"]) >= 0.9


def test_rotation_is_read_modulo_each_class_symmetry():
    x, y, truth = _originals()
    read = read_factors(x, y)
    order = torch.from_numpy(ORDER)[y]
    has = order > 0
    assert torch.isnan(read["rotation"][~has]).all()  # circles and rings have no angle to read
    period = 2 * math.pi / order[has].double()
    diff = (read["rotation"][has].double() - truth["rotation"][has].double()).abs() % period
    err = torch.minimum(diff, period - diff) / (period / 2)  # 0 = exact, 1 = the worst possible
    assert err.median() < 0.15  # a uniform guess has median 0.5


def test_errors_are_zero_for_the_originals_and_large_for_a_flat_image():
    x, y, _ = _originals(60)
    orig = read_factors(x, y)
    same = factor_errors(orig, read_factors(x, y), y)
    assert torch.allclose(same["mask_iou"], torch.ones_like(same["mask_iou"]))
    assert same["centroid_error"].max() == 0 and same["area_error"].max() == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no shape of radius 0 is rendered (it divided by zero)
        flat = read_factors(x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone(), y)  # no object at all
    bad = factor_errors(orig, flat, y)
    assert bad["mask_iou"].mean() < 0.1
    assert bad["area_error"].mean() > 0.5
    readable = ~torch.isnan(orig["rotation"])
    assert (flat["rotation"][readable] == 0).all()  # nothing to read: the first candidate, chance on average


def test_a_batch_with_and_without_objects_reads_each_image_as_alone():
    x, y, _ = _originals(20)
    x[::2] = x[::2].mean(dim=(2, 3), keepdim=True)  # every other image has no object
    both = read_factors(x, y)
    alone = read_factors(x[1::2], y[1::2])
    assert torch.equal(both["rotation"][1::2].nan_to_num(-1), alone["rotation"].nan_to_num(-1))


def test_the_readout_ignores_colour():
    x, y, _ = _originals(60)
    swapped = x[:, [2, 0, 1]]  # same geometry, other colours
    a, b = read_factors(x, y), read_factors(swapped, y)
    assert (a["mask"] == b["mask"]).float().mean() > 0.97
    assert torch.allclose(a["pos_x"], b["pos_x"], atol=0.05)
    assert "texture" in FACTOR_NAMES  # the factor list the testbed documents
