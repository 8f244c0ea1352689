"""What each logit edit means, pinned down on numbers worked by hand (unlogit.inversion.edits).

Units for every test: two classes with means (1, 3) and standard deviations (2, 4), so the mean sigma is 3.
"""

from __future__ import annotations

import pytest
import torch

from unlogit.errors import UnlogitError
from unlogit.inversion import edits
from unlogit.inversion.edits import SIGMA_FLOOR, LogitEdit, LogitUnits

UNITS = LogitUnits(mean=torch.tensor([1.0, 3.0]), std=torch.tensor([2.0, 4.0]))
L = torch.tensor([[2.0, 5.0], [0.0, 1.0]])


def test_units_are_the_per_class_mean_and_std_with_a_floor():
    logits = torch.tensor([[0.0, 7.0], [2.0, 7.0], [4.0, 7.0]])
    units = LogitUnits.of(logits)
    torch.testing.assert_close(units.mean, torch.tensor([2.0, 7.0]))
    torch.testing.assert_close(units.std, torch.tensor([2.0, SIGMA_FLOOR]))  # a constant class gets the floor
    assert float(UNITS.sigma) == 3.0
    with pytest.raises(UnlogitError, match="at least 2"):
        LogitUnits.of(torch.zeros(1, 2))


def test_logit_units_of_a_classifier_are_those_of_its_logits():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    from unlogit.classifiers.normalized import NormalizedClassifier

    clf = NormalizedClassifier(net, ["a", "b", "c"], (0.5,) * 3, (0.25,) * 3, (3, 2, 2))
    x = torch.rand(700, 3, 2, 2)
    units = edits.logit_units(clf, x, batch_size=100)
    expected = LogitUnits.of(clf.predict_logits(x))
    torch.testing.assert_close(units.mean, expected.mean)
    torch.testing.assert_close(units.std, expected.std)


def test_shift_moves_every_logit_by_mean_sigmas_and_keeps_the_softmax():
    out = edits.shift(L, 2.0, UNITS)
    torch.testing.assert_close(out, L + 6.0)
    torch.testing.assert_close(out.softmax(1), L.softmax(1))


def test_scale_is_about_the_stated_centre():
    torch.testing.assert_close(edits.scale(L, 2.0, UNITS.mean), torch.tensor([[3.0, 7.0], [-1.0, -1.0]]))
    torch.testing.assert_close(edits.scale(L, 0.0, UNITS.mean), UNITS.mean.expand_as(L))  # all the way to mu
    torch.testing.assert_close(edits.scale(L, 2.0, 0.0), 2 * L)  # about zero: a temperature
    torch.testing.assert_close(edits.scale(L, 1.0, UNITS.mean), L)


def test_perturb_is_in_each_classs_sigma():
    noise = torch.tensor([[1.0, 1.0], [-1.0, 0.5]])
    torch.testing.assert_close(edits.perturb(L, 0.5, UNITS, noise), torch.tensor([[3.0, 7.0], [-1.0, 2.0]]))
    assert torch.equal(edits.noise_draw((2, 2), 7), edits.noise_draw((2, 2), 7))
    assert not torch.equal(edits.noise_draw((2, 2), 7), edits.noise_draw((2, 2), 8))


def test_interpolate_and_class_deltas():
    other = torch.tensor([[4.0, 1.0], [2.0, 3.0]])
    torch.testing.assert_close(edits.interpolate(L, other, 0.25), torch.tensor([[2.5, 4.0], [0.5, 1.5]]))
    torch.testing.assert_close(edits.interpolate(L, other, 1.0), other)
    torch.testing.assert_close(edits.class_deltas(L, [1.0, -0.5], UNITS), L + torch.tensor([2.0, -2.0]))
    with pytest.raises(UnlogitError, match="one per class"):
        edits.class_deltas(L, [1.0], UNITS)


def test_top_k_keeps_the_largest_and_fills_the_rest_below_them():
    logits = torch.tensor([[0.0, 5.0, 3.0, 1.0]])
    torch.testing.assert_close(edits.top_k(logits, 2), torch.tensor([[2.0, 5.0, 3.0, 2.0]]))
    torch.testing.assert_close(edits.top_k(logits, 1, gap=0.5), torch.tensor([[4.5, 5.0, 4.5, 4.5]]))
    torch.testing.assert_close(edits.top_k(logits, 9), logits)  # k beyond K keeps everything


def test_recentre_sets_each_images_mean_level():
    out = edits.recentre(torch.tensor([[0.0, 2.0], [5.0, 9.0]]), 10.0)
    torch.testing.assert_close(out, torch.tensor([[9.0, 11.0], [8.0, 12.0]]))


def test_a_composed_edit_applies_interpolate_scale_shift_deltas_then_noise():
    other = torch.tensor([[4.0, 1.0], [2.0, 3.0]])
    edit = LogitEdit(shift=1.0, scale=2.0, class_deltas=[0.5, 0.0], alpha=0.5)
    # lerp: [[3, 3], [1, 2]]; scale about (1, 3): [[5, 3], [1, 1]]; shift +3; class 0 +0.5 * 2
    torch.testing.assert_close(edit.apply(L, UNITS, other), torch.tensor([[9.0, 6.0], [5.0, 4.0]]))
    noisy = LogitEdit(noise_std=1.0, noise_seed=3).apply(L, UNITS)
    torch.testing.assert_close(noisy, L + UNITS.std * edits.noise_draw(L.shape, 3))
    assert torch.equal(LogitEdit().apply(L, UNITS), L)
    with pytest.raises(UnlogitError, match="second image"):
        LogitEdit(alpha=0.3).apply(L, UNITS)
