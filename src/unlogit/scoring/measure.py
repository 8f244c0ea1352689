"""The scoring core: :func:`score` measures reconstructions ``x_hat`` of images ``x`` and returns
:class:`Scores` — one per-image tensor per named quantity.

Every path that reports a reconstruction number (the trainer's held-out evaluation, ``unlogit
evaluate``, a study's comparison, ``analyze``, the report) goes through :func:`score`, so a name means
one thing everywhere. The vocabulary is :data:`QUANTITIES` (rendered as a table in
docs/architecture.md). A quantity judged by an independent evaluator ``E`` is keyed ``name@E``;
quantities judged by the inverted classifier itself start with ``own_``.

Per-image values (not only means) are kept so that the protocol (:mod:`unlogit.study.protocol`) can pair
images across inverters and bootstrap confidence intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..runtime.registry import Registry
from .metrics import PSNR_CAP_DB, ClassifierFeatures, psnr, ssim

JUDGE_OWN = "own"  # the inverted classifier (labelled as such wherever it is the judge)


@dataclass(frozen=True)
class Quantity:
    """One named measurement of a reconstruction.

    ``judge``: ``own`` (the inverted classifier), ``evaluator`` (an independent classifier, keyed
    ``name@E``), ``pixels`` or ``features`` (keyed ``name@space``). Chance levels, where they have a
    closed form (``1/K`` for label agreement), travel with the :class:`Scores`. ``margin``: the smallest
    difference that matters, in the quantity's own unit: the equivalence margin inside which two arms are a
    ``tie`` (a claim may override it, ``claim.margins``); None for quantities no claim compares (ranks).
    """

    name: str
    description: str
    unit: str
    higher_is_better: bool
    judge: str
    summaries: tuple[str, ...] = ("mean",)  # what Scores.summary reports: mean (the key), median_KEY, top1_KEY
    margin: float | None = None


QUANTITIES: Registry[Quantity] = Registry("quantity")
for _q in (
    Quantity(
        "psnr",
        f"peak signal-to-noise ratio of x_hat to x (capped at {PSNR_CAP_DB:.0f} dB)",
        "dB",
        True,
        "pixels",
        margin=0.25,
    ),
    Quantity(
        "ssim",
        "structural similarity (Wang et al. 2004: 11-tap Gaussian window, sigma 1.5, valid positions)",
        "",
        True,
        "pixels",
        margin=0.01,
    ),
    Quantity("mse", "mean squared pixel error, images in [0,1]", "", False, "pixels", margin=0.002),
    Quantity(
        "colour_error",
        "mean |mean colour of x_hat - mean colour of x| over channels, images in [0,1]",
        "",
        False,
        "pixels",
        margin=0.01,
    ),
    Quantity(
        "own_label_agreement",
        "argmax f(x_hat) == argmax f(x), f the inverted classifier",
        "fraction",
        True,
        JUDGE_OWN,
        margin=0.03,
    ),
    Quantity(
        "own_true_label_agreement",
        "argmax f(x_hat) == y, f the inverted classifier",
        "fraction",
        True,
        JUDGE_OWN,
        margin=0.03,
    ),
    Quantity(
        "logit_error",
        "||c(f(x_hat)) - c(f(x))|| / ||c(f(x))||, c = centring (softmax ignores shifts)",
        "",
        False,
        JUDGE_OWN,
        margin=0.03,
    ),
    Quantity("logit_kl", "KL(softmax f(x) || softmax f(x_hat)) in nats", "nats", False, JUDGE_OWN, margin=0.05),
    Quantity(
        "true_label_agreement",
        "argmax E(x_hat) == y for an independent evaluator E",
        "fraction",
        True,
        "evaluator",
        margin=0.03,
    ),
    Quantity("evaluator_label_agreement", "argmax E(x_hat) == argmax E(x)", "fraction", True, "evaluator", margin=0.03),
    Quantity(
        "kid",
        "realism per image: the jackknife pseudo-value of KID (unbiased MMD^2, cubic kernel) between x and x_hat "
        "in E's penultimate features; its mean over images is KID",
        "",
        False,
        "features",
        margin=0.005,
    ),
    Quantity(
        "retrieval_rank",
        "rank of x among all scored images by distance to x_hat (1 = nearest)",
        "rank",
        False,
        "features",
        ("median", "top1"),
    ),
    Quantity(
        "retrieval_rank_class",
        "rank of x among itself and same-class distractors by distance to x_hat",
        "rank",
        False,
        "features",
        ("median", "top1"),
    ),
    Quantity(
        "retrieval",
        "1 - (retrieval_rank - 1) / (N - 1): 1 when x is the nearest original, 0.5 by chance",
        "score",
        True,
        "features",
        margin=0.02,
    ),
    Quantity(
        "retrieval_recalibrated",
        "retrieval after the inverter's per-channel colour map (least squares on training images) is applied to "
        "x_hat: what remains once colour and contrast miscalibration is removed",
        "score",
        True,
        "features",
        margin=0.02,
    ),
    Quantity(
        "retrieval_draw_mean",
        "retrieval of the mean of the inverter's noise draws of x_hat (claim.noise_draws of them; a deterministic "
        "decoder's one image): what the logits pin down once the inverter's sampling spread is averaged away",
        "score",
        True,
        "features",
        margin=0.02,
    ),
    Quantity(
        "retrieval_class",
        "retrieval_rank_class as a score: 1 when x beats every same-class distractor",
        "score",
        True,
        "features",
        margin=0.02,
    ),
    # shapes only: the rendered factors read back from x_hat and x (unlogit.scoring.shapes_factors)
    Quantity("mask_iou", "IoU of the foreground masks of x_hat and x", "fraction", True, "pixels", margin=0.02),
    Quantity("centroid_error", "distance of the mask centroids, image width = 2", "", False, "pixels", margin=0.02),
    Quantity(
        "area_error", "|sqrt(area of x_hat) - sqrt(area of x)| / sqrt(area of x)", "", False, "pixels", margin=0.02
    ),
    Quantity(
        "rotation_error",
        "angular distance modulo the shape's symmetry, as a fraction of the largest possible",
        "",
        False,
        "pixels",
        margin=0.02,
    ),
):
    QUANTITIES.register(_q.name, _q)


def key(quantity: str, judge: str | None = None) -> str:
    """The Scores key of a quantity, ``name`` or ``name@judge``."""
    QUANTITIES.get(quantity)  # an unknown name is an error naming the known ones
    return f"{quantity}@{judge}" if judge else quantity


def margin_of(score_key: str, overrides: Mapping[str, float] | None = None) -> float:
    """The equivalence margin of a Scores key in its quantity's unit (:func:`quantity_margin`)."""
    return quantity_margin(quantity_of(score_key), overrides)


def quantity_margin(q: Quantity, overrides: Mapping[str, float] | None = None) -> float:
    """``q``'s equivalence margin in its unit: ``overrides[name]`` when given (a claim's ``margins``), else the
    registry's. A quantity without one is an error naming the fix."""
    margin = (overrides or {}).get(q.name, q.margin)
    if margin is None:
        raise ValueError(
            f"quantity {q.name!r} has no equivalence margin: state one in its Quantity or in claim.margins"
        )
    return margin


def quantity_of(score_key: str) -> Quantity:
    """The :class:`Quantity` behind a Scores key (``true_label_agreement@E`` -> true_label_agreement)."""
    return QUANTITIES.get(score_key.split("@", 1)[0])


@dataclass
class Scores:
    """Per-image scores of N reconstructions.

    Attributes:
        per_image: Scores key -> (N,) float64 tensor.
        chance: Scores key -> the value an uninformative inverter gets (where known).
        colour_correlation: Pearson correlation across images of mean colours (a set statistic).
    """

    per_image: dict[str, torch.Tensor] = field(default_factory=dict)
    chance: dict[str, float] = field(default_factory=dict)
    colour_correlation: float | None = None

    @property
    def n(self) -> int:
        return len(next(iter(self.per_image.values()))) if self.per_image else 0

    def __getitem__(self, score_key: str) -> torch.Tensor:
        return self.per_image[score_key]

    def __contains__(self, score_key: str) -> bool:
        return score_key in self.per_image

    def summary(self) -> dict[str, float]:
        """What each quantity declares (:attr:`Quantity.summaries`): the mean over images under the key itself,
        ``median_KEY`` and ``top1_KEY`` (the fraction at rank 1) for ranks; plus ``n`` and ``colour_correlation``."""
        out: dict[str, float] = {"n": self.n}
        for k, v in self.per_image.items():
            for kind in quantity_of(k).summaries:
                if kind == "mean":
                    out[k] = float(v.mean())
                elif kind == "median":
                    out[f"median_{k}"] = float(v.median())
                else:
                    out[f"top1_{k}"] = float((v <= 1.0 + 1e-9).double().mean())
        if self.colour_correlation is not None:
            out["colour_correlation"] = self.colour_correlation
        return out

    def subset(self, index: torch.Tensor) -> Scores:
        """The scores of the selected images (ranks keep the candidate set they were computed in)."""
        return Scores({k: v[index] for k, v in self.per_image.items()}, dict(self.chance), None)


def colour_correlation(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Pearson correlation, across images, of the mean colour of x and x_hat (averaged over channels)."""
    return colour_correlation_of(colour_features(x), colour_features(x_hat))


def colour_correlation_of(a: torch.Tensor, b: torch.Tensor) -> float:
    """:func:`colour_correlation` from the mean colours (N,C) of x and x_hat."""
    a, b = a - a.mean(0), b - b.mean(0)
    corr = (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0)).clamp_min(1e-12)
    return float(corr.mean())


def pixel_scores(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, torch.Tensor]:
    """psnr, ssim, mse and colour_error per image; x, x_hat (N,C,H,W) in [0,1]. Always float32 on the CPU, even
    inside a bf16 autocast region (a scoring run's ``--amp`` covers the networks, never the metrics)."""
    x, x_hat = x.float().cpu(), x_hat.float().cpu()
    with torch.autocast("cpu", enabled=False):
        return {
            "psnr": psnr(x, x_hat).clamp(max=PSNR_CAP_DB).double(),
            "ssim": ssim(x, x_hat).double(),
            "mse": ((x - x_hat) ** 2).flatten(1).mean(1).double(),
            "colour_error": (x.mean(dim=(2, 3)) - x_hat.mean(dim=(2, 3))).abs().mean(1).double(),
        }


def logit_scores(l: torch.Tensor, l_hat: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The inverted classifier's view: logits of x (N,K) and of x_hat (N,K), true labels (N,) or None."""
    l, l_hat = l.double().cpu(), l_hat.double().cpu()
    centred, centred_hat = l - l.mean(1, keepdim=True), l_hat - l_hat.mean(1, keepdim=True)
    out = {
        "own_label_agreement": (l.argmax(1) == l_hat.argmax(1)).double(),
        "logit_error": (centred_hat - centred).norm(dim=1) / centred.norm(dim=1).clamp_min(1e-12),
        "logit_kl": (l.softmax(1) * (l.log_softmax(1) - l_hat.log_softmax(1))).sum(1),
    }
    if labels is not None:
        out["own_true_label_agreement"] = (l_hat.argmax(1) == labels.cpu()).double()
    return out


class Originals:
    """What the judges say about the originals x, computed once however many reconstructions of x are scored
    (several noise draws, several inverters): labels, penultimate features and pixel features."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x
        self._memo: dict[tuple[str, str], torch.Tensor] = {}

    def get(self, judge: str, what: str, compute) -> torch.Tensor:
        if (judge, what) not in self._memo:
            self._memo[(judge, what)] = compute()
        return self._memo[(judge, what)]


def evaluator_scores(
    judge: NormalizedClassifier,
    x: torch.Tensor,
    x_hat: torch.Tensor,
    labels: torch.Tensor | None,
    originals: Originals | None = None,
    name: str = "",
) -> dict[str, torch.Tensor]:
    """An independent evaluator's labels of x_hat against y and against its own label of x."""
    device = judge.mean.device
    pred_hat = judge.predict_logits(x_hat.to(device)).argmax(1).cpu()
    originals = originals or Originals(x)
    pred = originals.get(name, "label", lambda: judge.predict_logits(x.to(device)).argmax(1).cpu())
    out = {"evaluator_label_agreement": (pred_hat == pred).double()}
    if labels is not None:
        out["true_label_agreement"] = (pred_hat == labels.cpu()).double()
    return out


@torch.no_grad()
def score(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    labels: torch.Tensor | None,
    classifier: NormalizedClassifier | None = None,
    evaluators: Mapping[str, NormalizedClassifier] | None = None,
    logits: torch.Tensor | None = None,
    retrieval: bool = False,
    distractors: int = 10,
    seed: int = 0,
    originals: Originals | None = None,
) -> Scores:
    """Score reconstructions.

    Args:
        x, x_hat: (N,C,H,W) in [0,1], originals and their reconstructions.
        labels: (N,) true labels, or None where the data has none (label quantities are then left out).
        classifier: the inverted classifier f (the ``own_`` quantities); None leaves them out.
        evaluators: name -> independent classifier E (``true_label_agreement@name`` ...).
        logits: f(x) when already computed (N,K).
        retrieval: also rank each x among all N originals by distance to x_hat (``retrieval_rank@S`` and
            ``retrieval@S``; with labels, among ``distractors`` same-class ones drawn from ``seed``:
            ``retrieval_rank_class@S``, ``retrieval_class@S``) in the spaces S = ``pixels`` (8x8 pooled) and
            every evaluator's penultimate features.
        originals: an :class:`Originals` of x shared across calls (several draws or inverters on the same x),
            so each judge classifies and embeds x once.

    The two halves are :func:`image_scores` (each image with its own reconstruction) and
    :func:`set_scores` (each image among all N, from features); a streamed or sharded caller
    (:mod:`unlogit.scoring.stream`) runs the first per batch and the second once on the gathered features.
    """
    originals = originals if originals is not None and originals.x is x else Originals(x)
    per_image = image_scores(x, x_hat, labels, classifier, evaluators, logits, originals)
    if not retrieval:
        out = Scores(per_image, colour_correlation=colour_correlation(x, x_hat))
    else:
        spaces = retrieval_spaces(evaluators or {})
        features = space_features(x.cpu(), x_hat.cpu(), spaces, originals)
        out = set_scores(per_image, features, labels, set(evaluators or {}), distractors, seed)
    out.chance.update(chance_levels(out.per_image, classifier, evaluators, labels))
    return out


def image_scores(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    labels: torch.Tensor | None,
    classifier: NormalizedClassifier | None = None,
    evaluators: Mapping[str, NormalizedClassifier] | None = None,
    logits: torch.Tensor | None = None,
    originals: Originals | None = None,
) -> dict[str, torch.Tensor]:
    """The quantities of each image and its own reconstruction alone, (N,) float64 each: pixels, the inverted
    classifier's view (with ``classifier``) and every evaluator's labels. Batch-invariant: scoring images in
    any batches gives the same values as scoring them all at once."""
    originals = originals if originals is not None and originals.x is x else Originals(x)
    out = pixel_scores(x, x_hat)
    if classifier is not None:
        device = classifier.mean.device
        l = logits if logits is not None else classifier.predict_logits(x.to(device))
        out.update(logit_scores(l, classifier.predict_logits(x_hat.to(device)), labels))
    for name, judge in (evaluators or {}).items():
        for q, values in evaluator_scores(judge, x, x_hat, labels, originals, name).items():
            out[key(q, name)] = values
    return out


def chance_levels(
    per_image: Mapping[str, torch.Tensor],
    classifier: NormalizedClassifier | None,
    evaluators: Mapping[str, NormalizedClassifier] | None,
    labels: torch.Tensor | None,
) -> dict[str, float]:
    """What an uninformative inverter gets, for the keys of ``per_image`` that have a closed form."""
    out = {}
    if classifier is not None and labels is not None:
        out["own_true_label_agreement"] = 1.0 / classifier.num_classes
    for name, judge in (evaluators or {}).items():
        out[key("true_label_agreement", name)] = 1.0 / judge.num_classes
    out.update({k: 0.5 for k in per_image if k.startswith(("retrieval@", "retrieval_class@"))})
    return out


SpaceFeatures = dict[str, tuple[torch.Tensor, torch.Tensor]]  # space -> (features of x (N,D), of x_hat (N,D))
FeatureMap = Callable[[torch.Tensor], torch.Tensor]  # images (N,C,H,W) in [0,1] -> features (N,D) on the CPU


def retrieval_spaces(evaluators: Mapping[str, NormalizedClassifier]) -> dict[str, FeatureMap]:
    """Every retrieval space: the judge-free ones of :data:`PIXEL_SPACES`, then each evaluator's penultimate
    features under its name. Images (N,C,H,W) in [0,1] -> features (N,D) on the CPU."""
    return with_judge_free({name: ClassifierFeatures(judge) for name, judge in evaluators.items()})


def with_judge_free(spaces: Mapping[str, FeatureMap]) -> dict[str, FeatureMap]:
    """The judge-free spaces of :data:`PIXEL_SPACES`, then ``spaces`` (named feature spaces), whose names must
    not clash with them."""
    judge_free = {name: space.features for name, space in PIXEL_SPACES.items()}
    clash = sorted(set(spaces) & set(judge_free))
    if clash:
        raise ValueError(f"evaluators named {clash} clash with the judge-free retrieval spaces; rename them")
    return {**judge_free, **spaces}


def space_features(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    spaces: Mapping[str, FeatureMap],
    originals: Originals | None = None,
) -> SpaceFeatures:
    """Each space's features of the originals x and the reconstructions x_hat (N,C,H,W in [0,1]); the originals'
    come from ``originals`` when it has them. Batch-invariant, like :func:`image_scores`."""
    originals = originals if originals is not None and originals.x is x else Originals(x)
    return {
        name: (originals.get(name, "features", lambda f=features: f(x)), features(x_hat))
        for name, features in spaces.items()
    }


def set_scores(
    per_image: Mapping[str, torch.Tensor],
    features: SpaceFeatures,
    labels: torch.Tensor | None,
    judged: set[str],
    distractors: int = 10,
    seed: int = 0,
) -> Scores:
    """The quantities of each image among all N, from every space's features (:func:`space_features`, rows in
    image order): retrieval in each space and, in the ``judged`` (evaluator) spaces, KID per image; added to
    the ``per_image`` values of :func:`image_scores`. The colour correlation comes from the colour space."""
    out = Scores(dict(per_image), colour_correlation=colour_correlation_of(*features["colour"]))
    out.per_image.update(retrieval_from_features(features, labels, judged, distractors, seed))
    return out


PIXELS = "pixels"  # the judge-free retrieval space
POOL = 8  # pixel retrieval compares 8x8 average-pooled images (colour and layout, not texture)


def pixel_features(x: torch.Tensor) -> torch.Tensor:
    """The pixel space of retrieval: (N,C,H,W) -> (N, C*8*8) average-pooled pixels."""
    return torch.nn.functional.adaptive_avg_pool2d(x.float(), POOL).flatten(1)


def colour_features(x: torch.Tensor) -> torch.Tensor:
    """Mean colour only: (N,C,H,W) -> (N,C), the 1x1 band (what a flat patch of the right colour matches)."""
    return x.float().mean(dim=(2, 3))


FLAT = 1e-3  # a pooled image whose values vary less than this (in [0,1] units) has no layout


def layout_features(x: torch.Tensor) -> torch.Tensor:
    """Layout without colour, brightness or contrast: the 8x8 pooled image with each channel's mean removed,
    scaled to unit standard deviation per image: (N, C*8*8). A brightness offset or a contrast change of the
    whole image leaves it unchanged; an image flatter than :data:`FLAT` has no layout (all zeros)."""
    pooled = torch.nn.functional.adaptive_avg_pool2d(x.float(), POOL)
    centred = (pooled - pooled.mean(dim=(2, 3), keepdim=True)).flatten(1)
    std = centred.std(dim=1, keepdim=True)
    return torch.where(std > FLAT, centred / std.clamp_min(FLAT), torch.zeros_like(centred))


def detail_features(x: torch.Tensor) -> torch.Tensor:
    """Detail finer than the 8x8 band: the image minus its 8x8 average-pooled blur upsampled back, at full
    resolution: (N, C*H*W)."""
    x = x.float()
    blur = torch.nn.functional.adaptive_avg_pool2d(x, POOL)
    return (x - torch.nn.functional.interpolate(blur, size=x.shape[-2:], mode="nearest")).flatten(1)


@dataclass(frozen=True)
class PixelSpace:
    """A judge-free retrieval space: ``features`` maps images (N,C,H,W) in [0,1] to (N,D); ``where`` says what
    it keeps, for endpoint labels."""

    name: str
    features: Callable[[torch.Tensor], torch.Tensor]
    where: str


PIXEL_SPACES: Registry[PixelSpace] = Registry("judge-free retrieval space")
for _space in (
    PixelSpace(PIXELS, pixel_features, "8x8 pixels"),
    PixelSpace("colour", colour_features, "mean colour only"),
    PixelSpace("layout", layout_features, "8x8 layout without colour, brightness or contrast"),
    PixelSpace("detail", detail_features, "detail finer than 8x8, full resolution"),
):
    PIXEL_SPACES.register(_space.name, _space)


def rank_score(rank: torch.Tensor, candidates: int) -> torch.Tensor:
    """Rank 1..candidates -> 1 (best) .. 0 (worst); 0.5 expected by chance."""
    return 1.0 - (rank - 1.0) / max(candidates - 1, 1)


def retrieval_scores(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    y: torch.Tensor | None,
    spaces: Mapping[str, torch.nn.Module],
    distractors: int,
    seed: int,
    originals: Originals | None = None,
) -> dict[str, torch.Tensor]:
    """``retrieval_rank@S``, ``retrieval@S`` and (with labels) ``retrieval_rank_class@S``, ``retrieval_class@S``
    per image (N,) float64, for each judge-free space S of :data:`PIXEL_SPACES` (``pixels``, the ``colour``,
    ``layout`` and ``detail`` bands) and each named feature space; for each named feature space also ``kid@S``,
    realism per image (:func:`~unlogit.scoring.metrics.kid_pseudo_values`, whose mean is KID)."""
    features = space_features(x, x_hat, with_judge_free(spaces), originals)
    return retrieval_from_features(features, y, set(spaces), distractors, seed)


def retrieval_from_features(
    features: SpaceFeatures, y: torch.Tensor | None, judged: set[str], distractors: int, seed: int
) -> dict[str, torch.Tensor]:
    """:func:`retrieval_scores` from each space's features (N,D) of the originals and the reconstructions, in
    image order; ``judged``: the spaces that also get ``kid@S``."""
    from .metrics import kid_pseudo_values

    out: dict[str, torch.Tensor] = {}
    if y is not None:  # every image gets the same number of same-class distractors
        distractors = min(distractors, int(torch.bincount(y.cpu())[y.cpu().unique()].min()) - 1)
    for name, (reference, hat) in features.items():
        n = len(reference)
        ranks = retrieval_ranks(reference, hat, y, distractors, seed)
        if name in judged and n >= 3:
            out[key("kid", name)] = kid_pseudo_values(reference.double().cpu(), hat.double().cpu())
        out[key("retrieval_rank", name)] = ranks["retrieval_rank"]
        out[key("retrieval", name)] = rank_score(ranks["retrieval_rank"], n)
        if "retrieval_rank_class" in ranks and distractors > 0:
            out[key("retrieval_rank_class", name)] = ranks["retrieval_rank_class"]
            out[key("retrieval_class", name)] = rank_score(ranks["retrieval_rank_class"], distractors + 1)
    return out


@torch.no_grad()
def labelled_as(judge: NormalizedClassifier, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per image (N,) float64: 1 where ``judge`` labels ``images`` (N,C,H,W in [0,1]) as ``labels`` (N,)."""
    predicted = judge.predict_logits(images.to(judge.mean.device)).argmax(1).cpu()
    return (predicted == labels.cpu()).double()


RETRIEVAL_BLOCK = 512  # reconstructions per block: memory is block x N distances, linear in N


def retrieval_ranks(
    features: torch.Tensor,
    features_hat: torch.Tensor,
    labels: torch.Tensor | None = None,
    distractors: int = 10,
    seed: int = 0,
    block: int = RETRIEVAL_BLOCK,
) -> dict[str, torch.Tensor]:
    """Instance retrieval: how close G(f(x_i)) is to x_i compared with the other candidates.

    features, features_hat: (N,D) of the originals and the reconstructions in one space (pixels or an
    evaluator's features). ``retrieval_rank``: the mid-rank of x_i among all N originals by distance to
    x_hat_i: 1 + the number of originals x_j (j != i) nearer than x_i + half the number exactly as near (ties
    count half, so they never favour the reconstruction); 1 = x_i is the nearest, chance median (N+1)/2.
    With labels, ``retrieval_rank_class``: the same among x_i and ``distractors`` same-class images drawn
    with a fixed seed (1 = best of distractors + 1). Returns float64 (N,) tensors.

    The distances are float64 and computed ``block`` reconstructions at a time, so memory grows linearly with
    N: 50,000 images take block x 50,000 x 8 bytes, not the 20 GB of the full matrix. The ranks equal the full
    matrix's (tests/scoring/test_retrieval_blocks.py checks every block size against it at N = 1,000).
    """
    f, g = features.double().cpu(), features_hat.double().cpu()
    n = len(g)
    picks = _distractor_picks(labels.cpu(), distractors, seed) if labels is not None else None
    ranks = torch.empty(n, dtype=torch.float64)
    class_ranks = torch.empty(n, dtype=torch.float64)
    for start in range(0, n, block):
        stop = min(start + block, n)
        dist = torch.cdist(g[start:stop], f)  # (B, N) float64
        own = dist[torch.arange(stop - start), torch.arange(start, stop)]
        ranks[start:stop] = mid_ranks(dist, own)
        for i in range(start, stop) if picks is not None else ():
            near = dist[i - start, picks[i]]
            class_ranks[i] = 1.0 + float((near < own[i - start]).sum()) + 0.5 * float((near == own[i - start]).sum())
    out = {"retrieval_rank": ranks}
    if picks is not None:
        out["retrieval_rank_class"] = class_ranks
    return out


def _distractor_picks(labels: torch.Tensor, distractors: int, seed: int) -> list[torch.Tensor]:
    """For each image i, up to ``distractors`` other images of its class, drawn with a fixed seed."""
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for i in range(len(labels)):
        same = (labels == labels[i]).nonzero()[:, 0]
        same = same[same != i]
        picks.append(same[torch.randperm(len(same), generator=gen)[:distractors]])
    return picks


def mid_ranks(dist: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """1 + #(nearer) + #(as near, other than itself) / 2, per row of ``dist`` (B,N); ``own`` (B,) is each row's
    distance to its own original."""
    nearer = (dist < own[:, None]).sum(1).double()
    tied = (dist == own[:, None]).sum(1).double() - 1.0  # the original itself is always "as near"
    return 1.0 + nearer + 0.5 * tied


def quantity_table() -> str:
    """:data:`QUANTITIES` as the markdown table docs/architecture.md shows (kept equal by a test)."""
    from ..runtime.tables import Column, markdown

    rows = [
        {
            "name": f"`{q.name}`",
            "judge": q.judge,
            "unit": q.unit or "-",
            "better": "higher" if q.higher_is_better else "lower",
            "margin": "-" if q.margin is None else f"{q.margin:g}",
            "meaning": q.description,
        }
        for q in QUANTITIES.values()
    ]
    columns = [Column(c) for c in ("name", "judge", "unit", "better", "margin", "meaning")]
    return markdown(rows, columns)
