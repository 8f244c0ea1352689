"""Metric primitives, all offline (the named per-image scores built from them live in :mod:`unlogit.scoring.measure`).

Every function takes images in [0,1] as (N,C,H,W) float tensors. Results that depend on a feature
extractor carry a :class:`MetricProvenance` (extractor name, weights hash, sample count, seed) so two
numbers are only compared when they should be.

- pixel fidelity: :func:`psnr` (torchmetrics), :func:`ssim` (Wang et al. 2004, as scikit-image computes it)
- top-k agreement of any logits with labels: :func:`topk_agreement`
- realism: :func:`frechet_distance` in any feature space (torchmetrics' FID machinery)
- what the logits leave open: :func:`diversity` of several reconstructions of the same logits
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn as nn

from ..classifiers.normalized import NormalizedClassifier

PSNR_CAP_DB = 100.0  # reported PSNR is capped here (identical images have infinite PSNR)


@dataclass(frozen=True)
class MetricProvenance:
    """What a feature-space number was computed with."""

    extractor: str
    weights_sha256: str | None
    n: int
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def psnr(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB (N,); identical images give +inf."""
    from torchmetrics.functional.image import peak_signal_noise_ratio  # torchmetrics imports in ~0.4 s: on use

    return peak_signal_noise_ratio(x_hat.float(), x.float(), data_range=1.0, reduction="none", dim=(1, 2, 3))


SSIM_SIGMA = 1.5  # Wang et al. (2004): Gaussian window, sigma 1.5
SSIM_RADIUS = int(3.5 * SSIM_SIGMA + 0.5)  # 5: truncated at 3.5 sigma, as scikit-image does (an 11-tap window)
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _gaussian_window(dtype: torch.dtype) -> torch.Tensor:
    taps = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=dtype)
    window = torch.exp(-(taps**2) / (2 * SSIM_SIGMA**2))
    return window / window.sum()


def ssim(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (N,) in [-1, 1] as Wang et al. (2004) and scikit-image define it (``gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1``): local statistics under an 11-tap Gaussian window,
    the SSIM map averaged over the positions where the window lies inside the image, then over channels.
    Computed here in float64, so it does not depend on the installed torchmetrics (whose SSIM averages over a
    reflect-padded image since 1.4.2). Images need at least 11 x 11 pixels."""
    if min(x.shape[-2:]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs images of at least {2 * SSIM_RADIUS + 1} px, got {tuple(x.shape[-2:])}")
    a, b = x.double(), x_hat.double()
    n, c = a.shape[:2]
    window = _gaussian_window(torch.float64).to(a.device)
    rows, cols = window.view(1, 1, -1, 1).expand(c, 1, -1, 1), window.view(1, 1, 1, -1).expand(c, 1, 1, -1)

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable Gaussian, valid positions only
        return torch.nn.functional.conv2d(torch.nn.functional.conv2d(t, rows, groups=c), cols, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # data range 1
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.reshape(n, c, -1).mean(-1).mean(-1)


def topk_agreement(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Fractions of rows of ``logits`` (N,K) whose top-1 / top-5 classes contain ``labels`` (N,)."""
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices.cpu()
    labels = labels.cpu()
    return {
        "top1": float((top[:, 0] == labels).float().mean()),
        "top5": float((top == labels[:, None]).any(1).float().mean()),
    }


class ClassifierFeatures(nn.Module):
    """Penultimate features of a classifier as a torchmetrics feature extractor: [0,1] images (N,C,H,W) on any
    device in, features (N,D) float32 on the CPU out (where the metrics' statistics are kept), whatever device
    the classifier runs on."""

    def __init__(self, clf: NormalizedClassifier) -> None:
        super().__init__()
        self.clf = clf
        c, h, w = clf.input_shape or (clf.in_channels, 32, 32)
        with torch.no_grad():
            self.num_features = int(clf.features(torch.zeros(1, c, h, w, device=clf.mean.device)).shape[1])

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clf.features(x.to(self.clf.mean.device)).float().cpu()


@torch.no_grad()
def frechet_distance(real: torch.Tensor, fake: torch.Tensor, extractor: nn.Module, batch_size: int = 256) -> float:
    """Frechet distance between Gaussians fitted to extractor features of ``real`` and ``fake`` images.

    ``extractor`` maps [0,1] images to (N,D) features (e.g. :class:`ClassifierFeatures`).
    """
    return frechet_from_features(
        features_of(real, extractor, batch_size), features_of(fake, extractor, batch_size), batch_size
    )


@torch.no_grad()
def features_of(images: torch.Tensor, extractor: nn.Module, batch_size: int = 256) -> torch.Tensor:
    """``extractor``'s features (N,D) of images (N,C,H,W) in [0,1], ``batch_size`` images at a time."""
    parts = [extractor(part) for part in images.split(batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, getattr(extractor, "num_features", 0))


class FeatureRows(nn.Module):
    """Features already extracted (N,D), passed through as torchmetrics' feature extractor: so FID and KID run on
    features gathered from batches or from several processes instead of on images."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_from_features(real: torch.Tensor, fake: torch.Tensor, batch_size: int = 256) -> float:
    """:func:`frechet_distance` from features (N,D) of the real and the fake images. torchmetrics accumulates
    the statistics in float64, ``batch_size`` rows at a time (the same rows give the same sums)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    # sync_on_compute off: under torchrun the rows are already gathered, and the other ranks do not compute
    fid = FrechetInceptionDistance(feature=FeatureRows(real.shape[1]), reset_real_features=True, sync_on_compute=False)
    for part in real.split(batch_size):
        fid.update(part, real=True)
    for part in fake.split(batch_size):
        fid.update(part, real=False)
    return float(fid.compute())


@torch.no_grad()
def diversity(samples: torch.Tensor, extractor: nn.Module | None = None) -> dict[str, float]:
    """Mean pairwise distance between S reconstructions of the same logits.

    samples: (N,S,C,H,W) in [0,1], S >= 2. Returns the mean per-pixel L2 distance (RMS difference)
    and, with an extractor, the mean pairwise feature distance relative to the feature norm.
    """
    n, s = samples.shape[:2]
    if s < 2:
        raise ValueError("diversity needs at least 2 samples per logit vector")
    i, j = torch.triu_indices(s, s, offset=1)
    flat = samples.flatten(2).float()
    pix = ((flat[:, i] - flat[:, j]) ** 2).mean(-1).sqrt().mean()
    out = {"diversity_pixel": float(pix)}
    if extractor is not None:
        feats = extractor(samples.flatten(0, 1)).view(n, s, -1).float()
        dist = (feats[:, i] - feats[:, j]).norm(dim=-1)
        out["diversity_feature"] = float((dist / feats.norm(dim=-1).mean().clamp_min(1e-12)).mean())
    return out


def _poly_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


@torch.no_grad()
def kid_with_se(
    real: torch.Tensor,
    fake: torch.Tensor,
    extractor: nn.Module,
    seed: int = 0,
    batch_size: int = 256,
    block: int = 1024,
) -> dict[str, float]:
    """KID (Binkowski et al. 2018): the unbiased MMD^2 with the cubic polynomial kernel between ``real`` and
    ``fake`` (N,C,H,W in [0,1]) in ``extractor``'s features, on every image (no subsets), with its standard
    error and the 95% interval +/- 1.96 SE.

    The SE is the delete-one jackknife of the U-statistic (:func:`mmd2_jackknife`): paired when ``real`` and
    ``fake`` are the same images (``fake[i]`` reconstructs ``real[i]``: image i leaves with its reconstruction),
    two-sample otherwise. Kernels are summed in blocks of ``block`` rows, so memory is linear in N. ``seed`` is
    unused (kept for callers; nothing is random)."""
    return kid_from_features(features_of(real, extractor, batch_size), features_of(fake, extractor, batch_size), block)


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, block: int = 1024) -> dict[str, float]:
    """:func:`kid_with_se` on features already extracted: ``real`` (N,D) of the originals, ``fake`` (M,D) of the
    reconstructions (paired when M = N), any float dtype and device; the kernels are summed in float64 on the
    CPU."""
    fr, ff = real.double().cpu(), fake.double().cpu()
    kid, se = mmd2_jackknife(fr, ff, paired=len(fr) == len(ff), block=block)
    return {
        "kid": kid,
        "se": se,
        "ci_low": kid - 1.96 * se,
        "ci_high": kid + 1.96 * se,
        "n": len(fr),
        "se_method": "jackknife, paired by image" if len(fr) == len(ff) else "jackknife, two-sample",
    }


@dataclass
class _KernelSums:
    """Row sums without the diagonal, the diagonal and the total of a kernel matrix (what the jackknife needs)."""

    rows: torch.Tensor
    cols: torch.Tensor
    diag: torch.Tensor
    total: float


def _kernel_sums(a: torch.Tensor, b: torch.Tensor, block: int) -> _KernelSums:
    """Row sums, column sums, diagonal (where square) and total of the cubic kernel k(a_i, b_j), in row blocks."""
    rows, cols = torch.zeros(len(a), dtype=torch.float64), torch.zeros(len(b), dtype=torch.float64)
    diag = torch.zeros(min(len(a), len(b)), dtype=torch.float64)
    for start in range(0, len(a), block):
        k = _poly_kernel(a[start : start + block], b)
        rows[start : start + len(k)] = k.sum(1)
        cols += k.sum(0)
        stop = min(start + len(k), len(diag))
        if stop > start:
            diag[start:stop] = k[torch.arange(stop - start), torch.arange(start, stop)]
    return _KernelSums(rows, cols, diag, float(rows.sum()))


def kid_pseudo_values(fr: torch.Tensor, ff: torch.Tensor, block: int = 1024) -> torch.Tensor:
    """Per-image KID: the paired jackknife pseudo-values ``n t - (n-1) t_(i)`` of the unbiased MMD^2 between
    original features ``fr`` (N,D) and their reconstructions' ``ff`` (N,D), float64 (N,). Their mean is the
    jackknife estimate of KID (for this U-statistic: KID itself) and their variance / N its squared jackknife SE,
    so realism enters the crossed-design interval like any per-image value (lower is more realistic)."""
    kid, loo = _paired_leave_one_out(fr, ff, block)
    n = len(fr)
    return n * kid - (n - 1) * loo


def _paired_leave_one_out(fr: torch.Tensor, ff: torch.Tensor, block: int) -> tuple[float, torch.Tensor]:
    """KID of (fr, ff) and its n leave-one-pair-out estimates (N,), from kernel row sums."""
    n = len(fr)
    if n < 3 or len(ff) != n:
        raise ValueError(f"a paired KID needs as many reconstructions as originals, at least 3; got {n} and {len(ff)}")
    rr, ff_, rf = _kernel_sums(fr, fr, block), _kernel_sums(ff, ff, block), _kernel_sums(fr, ff, block)
    s_rr, s_ff = rr.total - float(rr.diag.sum()), ff_.total - float(ff_.diag.sum())
    kid = _mmd2(s_rr, s_ff, rf.total, n, n)
    srf = rf.total - rf.rows - rf.cols + rf.diag
    return float(kid), _mmd2(s_rr - 2 * (rr.rows - rr.diag), s_ff - 2 * (ff_.rows - ff_.diag), srf, n - 1, n - 1)


def _mmd2(s_rr, s_ff, s_rf, n: int, m: int):
    """The unbiased MMD^2 from kernel sums: off-diagonal sums of k(r,r) and k(f,f), the full sum of k(r,f), and
    the sample sizes (floats or (N,) tensors of leave-one-out sums alike)."""
    return s_rr / (n * (n - 1)) + s_ff / (m * (m - 1)) - 2 * s_rf / (n * m)


def mmd2_jackknife(fr: torch.Tensor, ff: torch.Tensor, paired: bool, block: int = 1024) -> tuple[float, float]:
    """The unbiased MMD^2 of features ``fr`` (N,D) and ``ff`` (M,D) with the cubic kernel, and its delete-one
    jackknife standard error: ``sqrt((n-1)/n * sum_i (t_(i) - mean t)^2)`` over the n estimates that leave out
    one unit (``paired``: image i's pair; else each sample's units in turn, the two variances added). Every
    leave-one-out estimate comes from row sums, so the whole costs one pass over the kernels."""
    n, m = len(fr), len(ff)
    if n < 3 or m < 3:
        raise ValueError(f"KID's jackknife needs at least 3 images per side, got {n} and {m}")

    def spread(t: torch.Tensor) -> float:
        return float((len(t) - 1) / len(t) * ((t - t.mean()) ** 2).sum())

    if paired:
        kid, loo = _paired_leave_one_out(fr, ff, block)
        return kid, math.sqrt(spread(loo))
    rr, ff_, rf = _kernel_sums(fr, fr, block), _kernel_sums(ff, ff, block), _kernel_sums(fr, ff, block)
    s_rr, s_ff = rr.total - float(rr.diag.sum()), ff_.total - float(ff_.diag.sum())
    off_rr, off_ff = rr.rows - rr.diag, ff_.rows - ff_.diag  # row sums without the diagonal
    kid = float(_mmd2(s_rr, s_ff, rf.total, n, m))
    loo_r = _mmd2(s_rr - 2 * off_rr, torch.full((n,), s_ff), rf.total - rf.rows, n - 1, m)
    loo_f = _mmd2(torch.full((m,), s_rr), s_ff - 2 * off_ff, rf.total - rf.cols, n, m - 1)
    return kid, math.sqrt(spread(loo_r) + spread(loo_f))


@torch.no_grad()
def kernel_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    extractor: nn.Module,
    subsets: int = 50,
    subset_size: int = 100,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, float]:
    """Kernel distance (KID, Binkowski et al. 2018) between ``real`` and ``fake`` in ``extractor``'s features:
    :func:`kernel_distance_from_features` of their features."""
    return kernel_distance_from_features(
        features_of(real, extractor, batch_size), features_of(fake, extractor, batch_size), subsets, subset_size, seed
    )


def kernel_distance_from_features(
    real: torch.Tensor, fake: torch.Tensor, subsets: int = 50, subset_size: int = 100, seed: int = 0
) -> dict[str, float]:
    """KID between features (N,D) of the real and the fake images.

    Unbiased MMD^2 with a cubic polynomial kernel, averaged over ``subsets`` random subsets of
    ``subset_size`` (torchmetrics); unlike the Frechet distance it has no bias in the sample size.
    ``ci_low``/``ci_high``: mean -/+ 1.96 x the larger of the subset standard deviation (the spread of one
    subset's estimate: conservative) and the all-image estimate's jackknife SE (``se``, :func:`mmd2_jackknife`),
    so the band is never narrower than the SE (with one subset of every image the subset spread is 0). Subsets
    are drawn from ``seed``, not the global RNG.
    """
    import warnings

    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(
            feature=FeatureRows(real.shape[1]), subsets=subsets, subset_size=size, sync_on_compute=False
        )
    kid.update(real, real=True)
    kid.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = (float(v) for v in kid.compute())
    _, se = mmd2_jackknife(real.double().cpu(), fake.double().cpu(), paired=len(real) == len(fake))
    half = 1.96 * max(std, se)
    return {
        "kid": mean,
        "kid_std": std,
        "se": se,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "subsets": subsets,
        "subset_size": size,
    }


def luminance(x: torch.Tensor) -> torch.Tensor:
    """(N,C,H,W) in [0,1] -> (N,1,H,W) luminance (Rec. 601 weights for RGB)."""
    if x.shape[1] == 1:
        return x.mean(1, keepdim=True)
    return (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)


def image_statistics_per_image(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image (N,) float64: brightness (mean luminance), contrast (luminance std) and contrast-normalised
    sharpness (mean |Laplacian| of the luminance over its std, so a brighter or more contrasted image is not
    called sharper) of images (N,C,H,W) in [0,1]."""
    lum = luminance(x.float().cpu())
    kernel = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    lap = torch.nn.functional.conv2d(lum, kernel)
    std = lum.flatten(1).std(1)
    return {
        "brightness": lum.flatten(1).mean(1).double(),
        "contrast": std.double(),
        "sharpness": (lap.abs().flatten(1).mean(1) / std.clamp_min(1e-3)).double(),
    }
