from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from unlogit.scoring.metrics import diversity, frechet_distance, kernel_distance, psnr, ssim, topk_agreement


class _Identity(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.num_features = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def test_identical_images_psnr_inf_ssim_one():
    x = torch.rand(3, 3, 32, 32)
    assert torch.isinf(psnr(x, x)).all()
    assert torch.allclose(ssim(x, x), torch.ones(3, dtype=torch.float64))


def test_psnr_matches_definition():
    x = torch.full((1, 1, 8, 8), 0.5)
    y = x + 0.1
    assert math.isclose(float(psnr(x, y)[0]), 20.0, abs_tol=1e-3)  # 10 log10(1 / 0.01)


def test_frechet_distance_of_two_gaussians_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    n, d = 20_000, 3
    mu1, mu2 = torch.tensor([0.0, 1.0, -1.0]), torch.tensor([0.5, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 0.5, 2.0]), torch.tensor([1.0, 1.5, 1.0])
    a = (mu1 + s1 * torch.randn(n, d, generator=g)).view(n, d, 1, 1)
    b = (mu2 + s2 * torch.randn(n, d, generator=g)).view(n, d, 1, 1)
    expected = float(((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum())  # diagonal covariances
    assert math.isclose(frechet_distance(a, b, _Identity(d)), expected, rel_tol=0.05)
    assert frechet_distance(a, a, _Identity(d)) < 1e-3


def test_diversity_zero_for_identical_samples_and_positive_otherwise():
    same = torch.rand(4, 1, 3, 8, 8).expand(4, 3, 3, 8, 8)
    assert diversity(same)["diversity_pixel"] == 0
    varied = torch.rand(4, 3, 3, 8, 8)
    out = diversity(varied, _Identity(3 * 8 * 8))
    assert out["diversity_pixel"] > 0.3 and out["diversity_feature"] > 0


def test_topk_agreement_top1_top5(tiny_classifier_run):
    from unlogit.classifiers import load_classifier
    from unlogit.data import get_dataset

    clf = load_classifier(str(tiny_classifier_run))
    x, y = get_dataset("shapes", "test", size=100).batch(torch.arange(100))
    logits = clf.predict_logits(x)
    out = topk_agreement(logits, y)
    assert 0.6 <= out["top1"] <= out["top5"] <= 1
    wrong = topk_agreement(logits, (y + 1) % 10)
    assert wrong["top1"] < 0.2


def test_kernel_distance_is_near_zero_within_a_distribution_and_positive_between_two():
    flat = _Identity(48)
    gen = torch.Generator().manual_seed(0)
    real = torch.rand(300, 3, 4, 4, generator=gen) * 0.5
    same = torch.rand(300, 3, 4, 4, generator=gen) * 0.5
    other = torch.rand(300, 3, 4, 4, generator=gen) * 0.5 + 0.4
    near = kernel_distance(real, same, flat, subsets=20, subset_size=100)
    far = kernel_distance(real, other, flat, subsets=20, subset_size=100)
    assert near["ci_low"] <= 0 <= near["ci_high"]  # unbiased: no sample-size offset
    assert far["ci_low"] > near["ci_high"]
    assert far["subset_size"] == 100 and far["ci_low"] < far["kid"] < far["ci_high"]
    again = kernel_distance(real, other, flat, subsets=20, subset_size=100)
    assert again["kid"] == far["kid"]  # subsets come from the seed, not the global RNG


def _naive_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased MMD^2 with the cubic kernel from the full kernel matrices (the reference)."""
    d = x.shape[1]
    krr, kff, krf = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    n, m = len(x), len(y)
    return float(
        (krr.sum() - krr.diagonal().sum()) / (n * (n - 1))
        + (kff.sum() - kff.diagonal().sum()) / (m * (m - 1))
        - 2 * krf.mean()
    )


MIX = 0.3 * torch.randn(16, 16, generator=torch.Generator().manual_seed(9), dtype=torch.float64)


def _paired_features(gen: torch.Generator, n: int, d: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Originals' features (n, d) and their reconstructions' (a fixed map of them plus noise): one distribution."""
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x, x @ MIX + 0.8 * torch.randn(n, d, generator=gen, dtype=torch.float64) + 0.3


@pytest.mark.parametrize("paired", [True, False])
def test_kid_jackknife_equals_recomputing_without_each_unit(paired):
    from unlogit.scoring.metrics import mmd2_jackknife

    gen = torch.Generator().manual_seed(3)
    x, y = _paired_features(gen, 20)
    if not paired:
        y = y[:17]
    kid, se = mmd2_jackknife(x, y, paired=paired, block=7)  # blocks smaller than N: the sums are exact anyway
    assert kid == pytest.approx(_naive_mmd2(x, y), rel=1e-12)

    def spread(values):
        t = torch.tensor(values, dtype=torch.float64)
        return float((len(t) - 1) / len(t) * ((t - t.mean()) ** 2).sum())

    def without(a, i):
        return torch.cat([a[:i], a[i + 1 :]])

    if paired:
        expected = spread([_naive_mmd2(without(x, i), without(y, i)) for i in range(20)])
    else:
        expected = spread([_naive_mmd2(without(x, i), y) for i in range(20)])
        expected += spread([_naive_mmd2(x, without(y, j)) for j in range(17)])
    assert se == pytest.approx(expected**0.5, rel=1e-6)


def test_kid_standard_error_matches_the_spread_of_independent_draws():
    # the bootstrap it replaces was 1.6-1.9x the true spread; the jackknife is within a few percent at N = 400
    from unlogit.scoring.metrics import mmd2_jackknife

    gen = torch.Generator().manual_seed(4)
    kids, ses = zip(*(mmd2_jackknife(*_paired_features(gen, 400), paired=True) for _ in range(200)))
    ratio = float(torch.tensor(ses).mean() / torch.tensor(kids).std())
    assert 0.85 < ratio < 1.2, ratio


def test_the_kid_subset_band_is_never_narrower_than_its_standard_error():
    flat = _Identity(48)
    gen = torch.Generator().manual_seed(5)
    real = torch.rand(100, 3, 4, 4, generator=gen) * 0.5
    fake = (real + 0.2 * torch.rand(100, 3, 4, 4, generator=gen)).clamp(0, 1)
    out = kernel_distance(real, fake, flat, subsets=10, subset_size=100)  # every subset is all 100 images
    assert out["kid_std"] < 1e-3 * out["se"]  # one subset's spread: nothing (float32 rounding only)
    assert out["ci_high"] - out["ci_low"] == pytest.approx(2 * 1.96 * out["se"])


def _wang_ssim_float64(x, y) -> float:
    """SSIM as scikit-image computes it with Wang's settings (``structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0)``), in float64 numpy/scipy: filter with
    ``gaussian_filter(truncate=3.5, mode='reflect')``, crop the 5-pixel border, average, then over channels."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    def blur(a):
        return gaussian_filter(a, sigma=1.5, truncate=3.5, mode="reflect")

    values = []
    for a, b in zip(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)):
        mu_a, mu_b = blur(a), blur(b)
        var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
        c1, c2 = 0.01**2, 0.03**2
        s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        values.append(s[5:-5, 5:-5].mean())
    return float(np.mean(values))


def test_ssim_is_wang_s_as_scikit_image_computes_it_on_the_project_s_images():
    from unlogit.data.shapes import load_shapes

    x = load_shapes("test", size=64, seed=0).images.float() / 255  # 64 of the project's own images
    gen = torch.Generator().manual_seed(0)
    x_hat = (0.6 * x + 0.4 * torch.rand(x.shape, generator=gen)).clamp(0, 1)  # a blurred-ish reconstruction
    ours = ssim(x, x_hat)
    reference = torch.tensor([_wang_ssim_float64(a, b) for a, b in zip(x, x_hat)], dtype=torch.float64)
    assert (ours - reference).abs().max() < 1e-4
    assert 0.05 < float(ours.mean()) < 0.95  # a case where the window's weighting matters
