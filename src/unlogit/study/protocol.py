"""The decision rule: paired per-image differences, a hierarchical bootstrap, and one verdict word.

Two inverters A and B (the claim: A is more faithful than B) are scored on the same images with the
same noise, once per training seed. For one endpoint the per-image values form (S seeds, N images)
arrays; the statistic is the mean paired difference ``d = A - B``, oriented so that positive favours
the claim. Its 95% confidence interval comes from a two-stage bootstrap: seeds are resampled, then
images within each resampled seed (Davison & Hinkley 1997, section 3.8). Percentile intervals are
widened by ``sqrt(N/(N-1)) * t(N-1)/z`` (the expanded percentile interval, Hesterberg 2015), which
keeps small-sample coverage near nominal.

Verdicts (fixed before any run):

- ``holds``: the 95% interval lies above 0;
- ``reversed``: it lies below 0;
- ``tie``: the 90% interval lies inside ``[-margin, +margin]`` (two one-sided tests at 5% against an
  absolute margin stated in the study config); never declared from a large p-value alone;
- ``undecided``: otherwise.

Secondary endpoints additionally get Holm-adjusted p-values (two-sided bootstrap p) across the family.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch

HOLDS, REVERSED, TIE, UNDECIDED = "holds", "reversed", "tie", "undecided"


@dataclass(frozen=True)
class Endpoint:
    """One measured quantity compared between two inverters.

    ``key``: a :class:`~unlogit.scoring.measure.Scores` key (``true_label_agreement@E``...).
    ``margin``: the absolute equivalence margin (in the endpoint's units) for a ``tie``.
    ``chance``: the value an uninformative inverter gets, when known (printed beside the numbers).
    """

    key: str
    label: str
    higher_is_better: bool
    primary: bool
    margin: float
    chance: float | None = None


@dataclass
class Comparison:
    """The outcome for one endpoint: ``estimate`` = mean paired difference (A - B, oriented so that
    positive favours A) with its 95% interval, each side's mean, and the verdict."""

    endpoint: str
    label: str
    primary: bool
    a_mean: float
    b_mean: float
    estimate: float
    ci_low: float
    ci_high: float
    n_images: int
    n_seeds: int
    verdict: str
    p_value: float
    margin: float
    chance: float | None = None
    p_holm: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


_T_SMALL_DF = {0.95: (6.3138, 2.9200, 2.3534, 2.1318), 0.975: (12.7062, 4.3027, 3.1824, 2.7764)}


def t_quantile(p: float, df: int) -> float:
    """Student-t quantile: exact tables for df < 5 (p = 0.95, 0.975), else the Cornish-Fisher expansion
    (error < 0.005 at df = 5, falling as df^-4)."""
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p, dtype=torch.float64)).item()
    if df < 5:
        if p not in _T_SMALL_DF or df < 1:
            raise ValueError(f"no t quantile for p={p}, df={df}")
        return _T_SMALL_DF[p][df - 1]
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def bootstrap_means(values: torch.Tensor, resamples: int = 2000, seed: int = 0) -> torch.Tensor:
    """Two-stage bootstrap of the grand mean of ``values`` (S seeds, N images): (resamples,) float64.

    Each replicate draws S seeds with replacement, then N images with replacement within each drawn
    seed; with one seed it is the ordinary bootstrap over images.
    """
    v = values.double()
    s, n = v.shape
    gen = torch.Generator().manual_seed(seed)
    seeds = torch.randint(s, (resamples, s), generator=gen)
    images = torch.randint(n, (resamples, s, n), generator=gen)
    picked = v[seeds[:, :, None].expand(-1, -1, n), images]  # (B, S, N)
    return picked.mean(dim=(1, 2))


def interval(
    values: torch.Tensor, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): the expanded-percentile bootstrap interval of the grand mean of (S, N) values."""
    v = values.double()
    n = v.shape[1]
    mean = float(v.mean())
    boot = bootstrap_means(v, resamples, seed)
    alpha = (1 - level) / 2
    lo, hi = (float(q) for q in torch.quantile(boot, torch.tensor([alpha, 1 - alpha], dtype=torch.float64)))
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(1 - alpha, dtype=torch.float64)).item()
    widen = math.sqrt(n / (n - 1)) * t_quantile(1 - alpha, n - 1) / z
    return mean, mean + (lo - mean) * widen, mean + (hi - mean) * widen


def bootstrap_p(values: torch.Tensor, resamples: int = 2000, seed: int = 0) -> float:
    """Two-sided bootstrap p-value of "mean = 0" (twice the smaller tail of the centred replicates)."""
    boot = bootstrap_means(values, resamples, seed)
    mean = float(values.double().mean())
    centred = boot - mean  # the null distribution's shape, centred at 0
    tail = float(((centred.abs() >= abs(mean)).double().sum() + 1) / (len(boot) + 1))
    return min(1.0, tail)


def verdict(ci95: tuple[float, float], ci90: tuple[float, float], margin: float) -> str:
    """The verdict word from the 95% and 90% intervals of the oriented difference."""
    if ci95[0] > 0:
        return HOLDS
    if ci95[1] < 0:
        return REVERSED
    if margin > 0 and -margin < ci90[0] and ci90[1] < margin:
        return TIE
    return UNDECIDED


def compare(endpoint: Endpoint, a: torch.Tensor, b: torch.Tensor, resamples: int = 2000,
            seed: int = 0) -> Comparison:  # fmt: skip
    """A (the claimed-better inverter) vs B on one endpoint; a, b: (S seeds, N images) per-image values."""
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(
            f"paired values must share a (seeds, images >= 2) shape, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    sign = 1.0 if endpoint.higher_is_better else -1.0
    d = sign * (a.double() - b.double())
    est, lo95, hi95 = interval(d, 0.95, resamples, seed)
    _, lo90, hi90 = interval(d, 0.90, resamples, seed)
    return Comparison(
        endpoint.key, endpoint.label, endpoint.primary, float(a.double().mean()), float(b.double().mean()), est,
        lo95, hi95, a.shape[1], a.shape[0], verdict((lo95, hi95), (lo90, hi90), endpoint.margin),
        bootstrap_p(d, resamples, seed), endpoint.margin, endpoint.chance,
    )  # fmt: skip


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def compare_all(endpoints: Sequence[Endpoint], a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor],
                resamples: int = 2000, seed: int = 0) -> list[Comparison]:  # fmt: skip
    """Every endpoint present in both ``a`` and ``b``; Holm across the secondary ones."""
    rows = [compare(e, a[e.key], b[e.key], resamples, seed) for e in endpoints if e.key in a and e.key in b]
    secondary = [r for r in rows if not r.primary]
    for r, p in zip(secondary, holm([r.p_value for r in secondary])):
        r.p_holm = p
    return rows
