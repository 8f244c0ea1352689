"""The judge-free retrieval bands: ``colour`` sees only the mean colour, ``layout`` the 8x8 arrangement without
colour, brightness or contrast, ``detail`` only what is finer than 8x8. Each is checked on reconstructions that
keep exactly one band."""

from __future__ import annotations

import pytest
import torch

from unlogit.data import get_dataset
from unlogit.scoring.measure import PIXEL_SPACES, retrieval_scores


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return get_dataset("shapes", "test", size=60).batch(torch.arange(60))[0]


def _scores(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, float]:
    out = retrieval_scores(x, x_hat, None, {}, 0, 0)
    return {name: float(out[f"retrieval@{name}"].mean()) for name in PIXEL_SPACES.names()}


def test_a_flat_patch_of_the_mean_colour_is_found_by_colour_alone(x):
    flat = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    s = _scores(x, flat)
    assert s["colour"] == 1.0  # the exact mean colour: ranked first every time
    assert s["layout"] == pytest.approx(0.5, abs=0.01) and s["detail"] == pytest.approx(0.5, abs=0.01)  # chance


def test_layout_ignores_brightness_and_contrast_that_move_the_pixel_band(x):
    changed = 0.5 * x + 0.2  # half the contrast, brighter: the same arrangement
    s, same = _scores(x, changed), _scores(x, x)
    assert s["layout"] == same["layout"] == 1.0
    assert s["pixels"] < 1.0 and s["colour"] < 1.0


def test_detail_is_what_the_8x8_band_cannot_hold(x):
    blur = torch.nn.functional.interpolate(torch.nn.functional.adaptive_avg_pool2d(x, 8), size=x.shape[-2:])
    s = _scores(x, blur)
    assert s["pixels"] == 1.0 and s["detail"] == pytest.approx(0.5, abs=0.01)  # the 8x8 band exactly, no detail
    assert _scores(x, x)["detail"] == 1.0


def test_an_evaluator_named_like_a_band_is_refused(x):
    with pytest.raises(ValueError, match="clash with the judge-free retrieval spaces"):
        retrieval_scores(x, x, None, {"colour": torch.nn.Flatten()}, 0, 0)
