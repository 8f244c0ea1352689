"""Known-answer tests of the decision rule on synthetic paired data (seeds fixed before looking)."""

from __future__ import annotations

import pytest
import torch

from unlogit.study.protocol import HOLDS, REVERSED, TIE, UNDECIDED, Endpoint, compare, holm, interval, t_quantile

ENDPOINT = Endpoint("x", "synthetic", higher_is_better=True, primary=True, margin=0.1)
TRIALS, IMAGES = 200, 60


def _verdicts(effect: float, seeds: int = 1, trials: int = TRIALS) -> dict[str, int]:
    """Verdicts over ``trials`` draws of paired data whose per-image differences are N(effect, 1)."""
    gen = torch.Generator().manual_seed(0)
    counts: dict[str, int] = {}
    for trial in range(trials):
        b = torch.randn(seeds, IMAGES, generator=gen)
        a = b + effect + torch.randn(seeds, IMAGES, generator=gen)
        word = compare(ENDPOINT, a, b, resamples=1000, seed=trial).verdict
        counts[word] = counts.get(word, 0) + 1
    return counts


def test_a_planted_half_sd_effect_is_declared_holds():
    counts = _verdicts(0.5)
    assert counts.get(HOLDS, 0) >= 0.9 * TRIALS, counts
    assert counts.get(REVERSED, 0) == 0


def test_a_null_effect_is_rarely_declared_either_way():
    counts = _verdicts(0.0)
    assert counts.get(HOLDS, 0) + counts.get(REVERSED, 0) <= 0.05 * TRIALS, counts


def test_lower_is_better_endpoints_are_oriented():
    lower = Endpoint("rank", "rank", higher_is_better=False, primary=True, margin=1.0)
    a = torch.full((1, 50), 2.0) + 0.01 * torch.randn(1, 50)
    b = torch.full((1, 50), 9.0) + 0.01 * torch.randn(1, 50)
    result = compare(lower, a, b)
    assert result.verdict == HOLDS and result.estimate == pytest.approx(7.0, abs=0.05)


def test_tie_needs_a_tight_interval_inside_the_margin():
    gen = torch.Generator().manual_seed(1)
    b = torch.randn(1, 2000, generator=gen)
    tight = compare(ENDPOINT, b + 0.01 * torch.randn(1, 2000, generator=gen), b)
    assert tight.verdict == TIE
    noisy = compare(ENDPOINT, b[:, :40] + 3 * torch.randn(1, 40, generator=gen), b[:, :40])  # no effect, few images
    assert noisy.verdict == UNDECIDED  # a wide interval is not evidence of equivalence


def test_the_interval_covers_the_mean_and_seeds_widen_it():
    gen = torch.Generator().manual_seed(2)
    one = torch.randn(1, 100, generator=gen)
    mean, lo, hi = interval(one)
    assert lo < mean < hi and mean == pytest.approx(float(one.mean()))
    seed_effects = torch.tensor([[-1.0], [0.0], [1.0]])  # seeds that disagree
    spread = torch.randn(3, 100, generator=gen) * 0.1 + seed_effects
    _, lo3, hi3 = interval(spread)
    assert hi3 - lo3 > 1.0  # the seed-to-seed spread, not the tiny within-seed noise, sets the width


def test_holm_and_t_quantiles():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-3)
    assert t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
