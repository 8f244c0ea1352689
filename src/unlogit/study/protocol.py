"""The decision rule: an interval for the crossed design, and one verdict word.

A claim compares two *arms* (robust vs standard training). Each arm is K classifiers of one recipe (the
unit the claim is about), each inverted S times (inverter seeds), and every inverter reconstructs the
same N images with the same noise. For one endpoint an arm's per-image values are an array
``(K classifiers, S seeds, N images)``; the statistic is the difference of the arms' grand means, oriented
so that positive favours the claim. The design is *crossed*: every unit of both arms scores the same
images, so an image's own difficulty cancels in the difference, while what does not cancel — classifier
and seed effects, and the arm-by-image interaction — sets the width.

The interval (variance components, Welch–Satterthwaite):

- classifier level: the classifier means ``A_k`` (over seeds and images) of each arm are independent
  replicates; their sample variance ``s²_A`` estimates everything that varies between classifiers
  (classifier, seed, interaction and noise effects as they enter a classifier's mean), contributing
  ``s²_A / K_A + s²_B / K_B`` with ``K - 1`` degrees of freedom each;
- image level: the arm-by-image interaction is common to all units of an arm, so no classifier mean shows
  it; it is estimated from the per-image arm differences ``d_i`` after removing their residual part
  (the classifier-by-image residual of each arm's seed-averaged table, divided by K), contributing
  ``max(0, var(d) - r) / N`` with ``N - 1`` degrees of freedom;
- the interval is ``estimate ± t_df · se`` with the Welch–Satterthwaite ``df`` of that sum (for K = 3 per
  arm and a negligible image term, ``df`` is about 4; with one arm constant it is exactly ``K - 1``).

What the interval is about depends on what is replicated (recorded as ``inference``): with K ≥ 2
classifiers per arm it is about the training recipes; with one classifier per arm and S ≥ 2 seeds it is
about those weight files (seeds are the replicates); with one of each it is about the images only. A
single-classifier arm A can borrow the between-classifier variance of a family of the same recipe
(:class:`BorrowedVariance`: the eps dose-response rows borrow from arm A's family, C7 from arm B's). A
borrowed variance enters with its own degrees of freedom (the family's K - 1); when the family is arm B itself,
the borrowed estimate and B's classifier-level term are one estimate, so they enter as one term
``s²_B (1 + 1/K_B)`` with ``K_B - 1`` degrees of freedom (two "independent" terms would overstate df).

Verdicts (fixed before any run), in this order:

- ``tie``: the 90% interval lies inside ``[-margin, +margin]`` (two one-sided tests at 5%, an absolute
  margin stated in the study config); a wide interval is never a tie;
- ``holds``: the 95% interval lies above 0;
- ``reversed``: it lies below 0;
- ``undecided``: otherwise.

Every comparison carries a two-sided p-value from the same t; secondary endpoints get Holm-adjusted
p-values across their family. Known-answer and calibration tests: tests/study/test_protocol.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from scipy import stats

HOLDS, REVERSED, TIE, UNDECIDED = "holds", "reversed", "tie", "undecided"
VERDICTS = (HOLDS, REVERSED, TIE, UNDECIDED)
INFERENCE = {
    "classifiers": "the training recipes (classifiers are the replicates)",
    "seeds": "these classifiers' weights (inverter seeds are the replicates)",
    "images": "these inverters (images are the only replicates)",
}


@dataclass(frozen=True)
class Endpoint:
    """One measured quantity compared between two arms.

    ``key``: a :class:`~unlogit.scoring.measure.Scores` key (``true_label_agreement@E``...).
    ``margin``: the absolute equivalence margin (in the endpoint's units) for a ``tie``.
    ``chance``: the value an uninformative inverter gets, when known (printed beside the numbers).
    ``reason``: why it is the primary endpoint (stated in the study config before the run).
    """

    key: str
    label: str
    higher_is_better: bool
    primary: bool
    margin: float
    chance: float | None = None
    reason: str = ""


@dataclass
class Interval:
    """``estimate`` with its 95% and 90% intervals, standard error and degrees of freedom."""

    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    ci90_low: float
    ci90_high: float
    inference: str

    @property
    def p_value(self) -> float:
        """Two-sided p-value of "the true value is 0"."""
        if self.se == 0:
            return 0.0 if self.estimate != 0 else 1.0
        return float(2 * stats.t.sf(abs(self.estimate) / self.se, self.df))


@dataclass
class Comparison:
    """The outcome for one endpoint: ``estimate`` = difference of the arms' means (A - B, oriented so that
    positive favours A) with its intervals, each arm's mean, the design's sizes and the verdict."""

    endpoint: str
    label: str
    primary: bool
    a_mean: float
    b_mean: float
    estimate: float
    ci_low: float
    ci_high: float
    ci90_low: float
    ci90_high: float
    se: float
    df: float
    n_images: int
    n_classifiers: int
    n_seeds: int
    inference: str
    verdict: str
    p_value: float
    margin: float
    chance: float | None = None
    p_holm: float | None = None
    reason: str = ""
    higher_is_better: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BorrowedVariance:
    """The between-classifier variance a one-classifier arm A borrows from a family of its recipe.

    ``variance``: the sample variance of the family's classifier means, in the endpoint's units; ``df``: its
    degrees of freedom (the family's K - 1); ``from_b``: the family is arm B itself (see the module docstring).
    """

    variance: float
    df: float
    from_b: bool = False


def borrow_variance(family: torch.Tensor, from_b: bool = False) -> BorrowedVariance | None:
    """What a one-classifier arm borrows from ``family`` (K, S, N) per-image values (None when K < 2)."""
    v = as_design(family)
    if v.shape[0] < 2:
        return None
    return BorrowedVariance(float(v.mean(dim=(1, 2)).var()), float(v.shape[0] - 1), from_b)


def as_design(values: torch.Tensor) -> torch.Tensor:
    """Per-image values as a (K classifiers, S seeds, N images) float64 array ((S, N) is one classifier)."""
    v = torch.as_tensor(values).double()
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or v.shape[2] < 2:
        raise ValueError(f"per-image values must be (classifiers, seeds, images >= 2), got {tuple(v.shape)}")
    return v


def _unit_means(v: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The replicate means of one arm and what they are: classifiers (K >= 2), else seeds, else none."""
    k, s, _ = v.shape
    if k >= 2:
        return v.mean(dim=(1, 2)), "classifiers"
    if s >= 2:
        return v[0].mean(dim=1), "seeds"
    return v.mean(dim=(1, 2)), "images"


def _residual_variance(v: torch.Tensor) -> float:
    """The unit-by-image residual variance of an arm's table (replicate units x images), 0 with one unit."""
    k, _, n = v.shape
    table = v.mean(dim=1) if k >= 2 else v[0]  # (units, N): seed-averaged classifiers, or seeds
    units = table.shape[0]
    if units < 2:
        return 0.0
    resid = table - table.mean(1, keepdim=True) - table.mean(0, keepdim=True) + table.mean()
    return float((resid**2).sum() / ((units - 1) * (n - 1))) / units


def crossed_interval(
    a: torch.Tensor, b: torch.Tensor | None = None, level: float = 0.95, borrowed: BorrowedVariance | None = None
) -> Interval:
    """The interval of mean(a) - mean(b) (or of mean(a) alone) for the crossed design (module docstring).

    a, b: (K, S, N) per-image values on the same N images. ``borrowed``: for a one-classifier arm A, the
    between-classifier variance of a family of its recipe (its classifier-level term is then that / 1).
    """
    a = as_design(a)
    arms = [a] if b is None else [a, as_design(b)]
    if b is not None and a.shape[2] != arms[1].shape[2]:
        raise ValueError(f"the arms must score the same images: {a.shape[2]} vs {arms[1].shape[2]}")
    estimate = float(a.mean()) - (float(arms[1].mean()) if b is not None else 0.0)
    terms: list[tuple[float, float]] = []  # (variance contribution, degrees of freedom)
    kinds = []
    borrows = borrowed is not None and _unit_means(a)[1] != "classifiers"
    for i, arm in enumerate(arms):
        means, kind = _unit_means(arm)
        kinds.append(kind)
        if i == 0 and borrows:
            kinds[0] = "classifiers"
            if not borrowed.from_b:
                terms.append((borrowed.variance, borrowed.df))
        elif i == 1 and borrows and borrowed.from_b:
            if kind != "classifiers":
                raise ValueError("a variance borrowed from arm B needs K >= 2 classifiers in arm B")
            terms.append((float(means.var()) * (1 + 1 / len(means)), float(len(means) - 1)))
        elif len(means) >= 2:
            terms.append((float(means.var()) / len(means), float(len(means) - 1)))
    per_image = a.mean(dim=(0, 1)) - (arms[1].mean(dim=(0, 1)) if b is not None else 0.0)
    n = per_image.numel()
    residual = sum(_residual_variance(arm) for arm in arms)
    image_term = max(0.0, float(per_image.var()) - residual) / n
    terms.append((image_term, float(n - 1)))
    var = sum(v for v, _ in terms)
    df = _satterthwaite(terms)
    inference = next((k for k in ("images", "seeds") if k in kinds), "classifiers")  # the weakest level decides
    return _interval(estimate, math.sqrt(var), df, level, inference)


def _satterthwaite(terms: Sequence[tuple[float, float]]) -> float:
    total = sum(v for v, _ in terms)
    denom = sum(v**2 / df for v, df in terms if df > 0 and v > 0)
    return total**2 / denom if denom > 0 else float("inf")


def _interval(estimate: float, se: float, df: float, level: float, inference: str) -> Interval:
    def half(lv: float) -> float:
        q = stats.t.ppf(0.5 + lv / 2, df) if math.isfinite(df) else stats.norm.ppf(0.5 + lv / 2)
        return float(q) * se

    h95, h90 = half(level), half(0.90)
    return Interval(estimate, se, df, estimate - h95, estimate + h95, estimate - h90, estimate + h90, inference)


def verdict(ci95: tuple[float, float], ci90: tuple[float, float], margin: float) -> str:
    """The verdict word from the 95% and 90% intervals of the oriented difference (tie first)."""
    if margin > 0 and -margin < ci90[0] and ci90[1] < margin:
        return TIE
    if ci95[0] > 0:
        return HOLDS
    if ci95[1] < 0:
        return REVERSED
    return UNDECIDED


def compare(
    endpoint: Endpoint, a: torch.Tensor, b: torch.Tensor, borrowed: BorrowedVariance | None = None
) -> Comparison:
    """Arm A (the claimed-better one) vs arm B on one endpoint; a, b: (K, S, N) per-image values on the same
    N images (K and S may differ between the arms; (S, N) is read as one classifier). ``borrowed``: a
    one-classifier arm A's between-classifier variance, from a family of its recipe."""
    a, b = as_design(a), as_design(b)
    sign = 1.0 if endpoint.higher_is_better else -1.0
    iv = crossed_interval(sign * a, sign * b, borrowed=borrowed)
    sizes = (a.shape[2], min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1]))
    return _comparison(endpoint, iv, float(a.mean()), float(b.mean()), sizes)


def _comparison(
    endpoint: Endpoint, iv: Interval, a_mean: float, b_mean: float, sizes: tuple[int, int, int]
) -> Comparison:
    """The :class:`Comparison` of an endpoint from its interval, the means and (images, classifiers, seeds)."""
    word = verdict((iv.ci_low, iv.ci_high), (iv.ci90_low, iv.ci90_high), endpoint.margin)
    return Comparison(
        endpoint.key,
        endpoint.label,
        endpoint.primary,
        a_mean,
        b_mean,
        iv.estimate,
        iv.ci_low,
        iv.ci_high,
        iv.ci90_low,
        iv.ci90_high,
        iv.se,
        iv.df,
        *sizes,
        iv.inference,
        word,
        iv.p_value,
        endpoint.margin,
        endpoint.chance,
        reason=endpoint.reason,
        higher_is_better=endpoint.higher_is_better,
    )


def compare_to_zero(endpoint: Endpoint, a: torch.Tensor) -> Comparison:
    """Arm A alone against 0, for a within-arm statement whose per-image values are already a difference (C3:
    own reconstruction minus another image's); the same interval and verdict rule, ``b_mean`` 0."""
    a = as_design(a)
    sign = 1.0 if endpoint.higher_is_better else -1.0
    sizes = (a.shape[2], a.shape[0], a.shape[1])
    return _comparison(endpoint, crossed_interval(sign * a), float(a.mean()), 0.0, sizes)


def power(c: Comparison, level: float = 0.95) -> float:
    """The chance that a design with this standard error and df decides (95% interval excluding 0) when the true
    difference equals the observed one: the two-sided power of the t test at the noncentrality estimate / se."""
    if c.se <= 0 or not math.isfinite(c.df):
        return 1.0 if c.estimate != 0 else 0.0
    t = float(stats.t.ppf(0.5 + level / 2, c.df))
    ncp = c.estimate / c.se
    return float(stats.nct.sf(t, c.df, ncp) + stats.nct.cdf(-t, c.df, ncp))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def compare_all(
    endpoints: Sequence[Endpoint], a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]
) -> list[Comparison]:
    """Every endpoint present in both ``a`` and ``b`` (primary first as given); Holm across the secondary ones."""
    rows = [compare(e, a[e.key], b[e.key]) for e in endpoints if e.key in a and e.key in b]
    secondary = [r for r in rows if not r.primary]
    for r, p in zip(secondary, holm([r.p_value for r in secondary])):
        r.p_holm = p
    return rows
