"""Per-image values of the paper's findings (C2-C9), computed from what the claim already made.

Each function takes the :class:`FindingContext` (the claim's arms with every inverter's logits and
reconstructions of the shared images, the evaluators) and returns :class:`FindingValues`: per arm a
dict ``key -> (K, S, N_eligible)`` on one image set common to every unit of both arms (the protocol's
crossed design), the eligible count and a figure. New reconstructions are made only for what the claim
did not make (edited logits, attacked and out-of-distribution images), each once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ...classifiers.normalized import NormalizedClassifier
from ...data.base import ImageDataset
from ...inversion import edits
from ...inversion.edits import LogitUnits, logit_units
from ...inversion.inverter import Inverter
from ...runtime.figures import comparison_grid
from ...scoring.measure import PIXEL_SPACES, PIXELS, mid_ranks, rank_score, retrieval_ranks
from ...scoring.metrics import ClassifierFeatures, image_statistics_per_image
from ..arms import ArmScores
from ..protocol import BorrowedVariance, borrow_variance

NOISE_OFFSET = 5000  # the findings' fixed noise: seed + offset, shared by every inverter


@dataclass
class FindingContext:
    """Everything a finding may use: the claim's arms (A robust, B standard) on images x (N,C,H,W), labels y."""

    a: ArmScores
    b: ArmScores
    x: torch.Tensor
    y: torch.Tensor
    evaluators: Mapping[str, NormalizedClassifier]
    seed: int
    n: int
    train_images: Callable[[], torch.Tensor]  # training images (logit units of the edits)
    extra_arms: Mapping[str, ArmScores] = field(default_factory=dict)  # "baseline", "architecture"
    ood: Mapping[str, ImageDataset] = field(default_factory=dict)
    attack: str = "pgd-l2:1.0:20"
    surrogate: NormalizedClassifier | None = None  # C8: the transferred attack's classifier (neither arm's)
    attack_note: str = ""  # how C8's budget was chosen
    _stats: dict = field(default_factory=dict, repr=False)

    @property
    def judge(self) -> str:
        """The evaluator that judges content (the first: the study's standard judge)."""
        return next(iter(self.evaluators))

    def features(self, name: str) -> ClassifierFeatures:
        if ("features", name) not in self._stats:
            self._stats[("features", name)] = ClassifierFeatures(self.evaluators[name])
        return self._stats[("features", name)]

    def units(self, clf: NormalizedClassifier) -> LogitUnits:
        """A classifier's logit units on the training images: what the findings' edits are measured in."""
        key = ("units", clf.weights_digest())
        if key not in self._stats:
            self._stats[key] = logit_units(clf, self.train_images())
        return self._stats[key]

    def noise(self, inv: Inverter, n: int) -> torch.Tensor:
        return inv.sample_noise(n, self.seed + NOISE_OFFSET)


@dataclass
class FindingValues:
    """Per-image values per arm (``key -> (K, S, N)``) on the eligible images, their count and a figure."""

    a: dict[str, torch.Tensor]
    b: dict[str, torch.Tensor]
    n_eligible: int
    figure: Any = None
    note: str = ""
    realism: dict[str, Any] = field(default_factory=dict)  # side -> KID with its SE (C4: the GAN's and D&B's)
    # for a one-classifier arm A: each key's between-classifier variance, borrowed from a family (its own units)
    a_unit_variance: Mapping[str, BorrowedVariance | None] = field(default_factory=dict)

    def borrowed(self, key: str) -> BorrowedVariance | None:
        return self.a_unit_variance.get(key)


def per_unit(arm: ArmScores, fn: Callable[[Any, int], Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``fn(unit, member) -> {key: (N,)}`` for every unit of an arm, stacked (K, S, N)."""
    rows = [[fn(u, k) for u in row] for k, row in enumerate(arm.units)]
    keys = rows[0][0].keys()
    return {key: torch.stack([torch.stack([r[key].double() for r in row]) for row in rows]) for key in keys}


def _grid(x: torch.Tensor, *columns: torch.Tensor, n: int = 8) -> torch.Tensor:
    return comparison_grid([x[:n], *(c[:n] for c in columns)], upscale=2)


def _first_units(ctx: FindingContext) -> tuple[Any, Any]:
    """The unit (classifier 0, seed 0) of arm A and of arm B: the ones a finding's figure shows."""
    return ctx.a.units[0][0], ctx.b.units[0][0]


def _arm_columns(ctx: FindingContext, shown: dict[int, tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    """Figure columns recorded per first unit (``id(unit) -> columns``): arm A's, then arm B's."""
    return tuple(c for unit in _first_units(ctx) for c in shown.get(id(unit), ()))


SPACES = (PIXELS, "layout")  # the judge-free spaces the findings retrieve in (the claim's primary is layout)


def _features(ctx: FindingContext, space: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """(N,C,H,W) in [0,1] -> (N,D): a judge-free band (:data:`PIXEL_SPACES`) or an evaluator's features."""
    return PIXEL_SPACES.get(space).features if space in PIXEL_SPACES else ctx.features(space)


def _target_scores(originals: torch.Tensor, recs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Retrieval score (1 best, 0.5 chance) of ``originals[targets[m]]`` among all originals (N,D) by distance
    to ``recs[m]`` (M,D): the rank of a chosen original, not necessarily the reconstructed one."""
    dist = torch.cdist(recs.double().cpu(), originals.double().cpu())
    return rank_score(mid_ranks(dist, dist[torch.arange(len(recs)), targets]), len(originals))


# --- C2: noise --------------------------------------------------------------------------------------
def noise_spread(ctx: FindingContext) -> FindingValues:
    """Spread of the claim's noise draws (the logits fixed). The primary, ``noise_share``, is each image's noise
    variance as a share of the unit's total: noise / (noise + between-image variance of its mean
    reconstructions), so an arm whose reconstructions are blander or lower in contrast overall does not show
    less spread for that reason alone. Secondaries: the raw mean pairwise RMS distance in pixels and relative
    distance in each evaluator's features, and fidelity split into bias^2 and variance."""
    n = min(ctx.n, len(ctx.x))
    x = ctx.x[:n]

    def values(unit, _k: int) -> dict[str, torch.Tensor]:
        recs = unit.recs[:n].float()  # (N, D, C, H, W)
        d = recs.shape[1]
        i, j = torch.triu_indices(d, d, offset=1)
        flat = recs.flatten(2)
        out = {f"noise_spread@{PIXELS}": ((flat[:, i] - flat[:, j]) ** 2).mean(-1).sqrt().mean(1)}
        mean = recs.mean(1)
        out["bias2@pixels"] = ((mean - x) ** 2).flatten(1).mean(1)
        out["variance@pixels"] = ((recs - mean[:, None]) ** 2).flatten(2).mean(2).mean(1)
        between = ((mean - mean.mean(0)) ** 2).flatten(1).mean(1).mean()  # the unit's between-image variance
        out["noise_share@pixels"] = out["variance@pixels"] / (out["variance@pixels"] + between).clamp_min(1e-12)
        for name in ctx.evaluators:
            feats = ctx.features(name)(recs.flatten(0, 1)).view(n, d, -1).double().cpu()
            scale = ctx.features(name)(x).double().norm(dim=1).mean()
            out[f"noise_spread@{name}"] = (feats[:, i] - feats[:, j]).norm(dim=-1).mean(1) / scale
        return out

    figure = _grid(x, *ctx.a.units[0][0].recs[:, :4].unbind(1), *ctx.b.units[0][0].recs[:, :4].unbind(1))
    return FindingValues(
        per_unit(ctx.a, values), per_unit(ctx.b, values), n, figure, "columns: original | 4 draws (A) | 4 draws (B)"
    )


# --- C3: misclassified images ---------------------------------------------------------------------
def _predictions(arm: ArmScores, n: int) -> list[torch.Tensor]:
    return [row[0].logits[:n].argmax(1) for row in arm.units]  # one per classifier (its seeds share it)


def same_prediction_partners(predicted: torch.Tensor, seed: int) -> torch.Tensor:
    """For each image, another image the classifier predicts as the same class (-1 when it is the only one):
    the next one in a fixed random order within that class, so partners form a cycle per class."""
    order = torch.randperm(len(predicted), generator=torch.Generator().manual_seed(seed))
    partner = torch.full((len(predicted),), -1, dtype=torch.long)
    for c in predicted.unique():
        members = order[predicted[order] == c]
        if len(members) >= 2:
            partner[members] = members.roll(-1)
    return partner


def misclassified(ctx: FindingContext) -> FindingValues:
    """On the images every classifier of both arms gets wrong (and for which each classifier predicts the same
    wrong class for some other image too), within each arm: does G(f(x)) retrieve x among all the claim's images
    better than G(f(x')) does, x' another image the classifier predicts as the same class
    (``identity_over_prediction``: 0 when the reconstruction shows only the predicted class)? Secondaries: the
    retrieval itself, and whether an evaluator labels the reconstruction with the true class, against how often
    it labels the original so (``judge_true_vs_original``: hard originals do not count against the inverter)."""
    n_all = len(ctx.x)
    preds = {id(arm): _predictions(arm, n_all) for arm in (ctx.a, ctx.b)}
    partners = {
        (id(arm), k): same_prediction_partners(p, ctx.seed)
        for arm in (ctx.a, ctx.b)
        for k, p in enumerate(preds[id(arm)])
    }
    wrong = torch.stack([p != ctx.y for ps in preds.values() for p in ps]).all(0)
    paired = torch.stack([p >= 0 for p in partners.values()]).all(0)
    idx = (wrong & paired).nonzero()[:, 0]
    x, y = ctx.x[idx], ctx.y[idx]
    originals = {space: _features(ctx, space)(ctx.x) for space in SPACES}
    judges = {
        name: (clf, (clf.predict_logits(x.to(clf.mean.device)).argmax(1).cpu() == y).double())
        for name, clf in ctx.evaluators.items()
    }

    def for_arm(arm: ArmScores):
        def values(unit, k: int) -> dict[str, torch.Tensor]:
            partner = partners[(id(arm), k)][idx]
            own_recs, other_recs = unit.recs[idx], unit.recs[partner]  # (M, D, C, H, W)
            predicted = preds[id(arm)][k][idx]
            draws = own_recs.shape[1]
            out: dict[str, torch.Tensor] = {}
            for d in range(draws):
                for space in SPACES:
                    f = _features(ctx, space)
                    own = _target_scores(originals[space], f(own_recs[:, d]), idx)
                    other = _target_scores(originals[space], f(other_recs[:, d]), idx)
                    _add(out, f"identity_over_prediction@{space}", own - other, draws)
                    _add(out, f"retrieval@{space}", own, draws)
                for name, (clf, original_right) in judges.items():
                    label = clf.predict_logits(own_recs[:, d].to(clf.mean.device)).argmax(1).cpu()
                    _add(
                        out,
                        f"true_minus_predicted@{name}",
                        (label == y).double() - (label == predicted).double(),
                        draws,
                    )
                    _add(out, f"judge_true_vs_original@{name}", (label == y).double() - original_right, draws)
            return out

        return per_unit(arm, values) if len(idx) >= 2 else {}

    figure = _grid(x, ctx.a.units[0][0].recs[idx, 0], ctx.b.units[0][0].recs[idx, 0]) if len(idx) else None
    note = (
        f"{len(idx)} of {n_all} images wrong for every classifier of both arms; within each arm against a "
        "same-prediction partner; columns: original | A | B"
    )
    return FindingValues(for_arm(ctx.a), for_arm(ctx.b), len(idx), figure, note)


def _add(out: dict[str, torch.Tensor], key: str, value: torch.Tensor, draws: int) -> None:
    out[key] = out.get(key, 0) + value.double() / draws


# --- C4: the GAN vs the paper's baseline on the same logits ------------------------------------------
def gan_vs_baseline(ctx: FindingContext) -> FindingValues:
    """Arm A's GAN inverters vs the Dosovitskiy & Brox decoders of the same classifiers (scored by the claim's
    endpoints on the same images)."""
    base = ctx.extra_arms.get("baseline")
    if base is None:
        return FindingValues({}, {}, 0, note="no baseline stage (findings.baseline)")
    figure = _grid(ctx.x, ctx.a.units[0][0].recs[:, 0], base.units[0][0].recs[:, 0])
    return FindingValues(
        dict(ctx.a.values),
        dict(base.values),
        len(ctx.x),
        figure,
        "columns: original | GAN | D&B",
        realism={"GAN": ctx.a.kid, "D&B": base.kid},  # the paper's point: D&B is "a fuzzy blur", the GAN realistic
    )


# --- C6: logit edits ------------------------------------------------------------------------------
def _edited(
    ctx: FindingContext, unit, edit: Callable[[torch.Tensor, LogitUnits], torch.Tensor], n: int
) -> torch.Tensor:
    """G(edit(l, units)) of a unit's first n images with the findings' fixed noise (edits:
    :mod:`unlogit.inversion.edits`)."""
    inv = unit.inverter
    logits = unit.logits[:n].to(inv.device)
    units = ctx.units(inv.classifier).to(logits.device)
    return inv.generate(edit(logits, units), ctx.noise(inv, n)).cpu()


def _content_change(ctx: FindingContext, outs: list[torch.Tensor], base: torch.Tensor) -> torch.Tensor:
    """Per image: how far the edited reconstructions ``outs`` move from ``base`` in the standard judge's
    features, over the unit's mean distance between reconstructions of different images (1: as far as another
    image; the paper's point is that standard logits are clustered relative to those distances)."""
    f = ctx.features(ctx.judge)
    fb = f(base).double().cpu()
    between = torch.pdist(fb).mean().clamp_min(1e-12)
    return sum((f(o).double().cpu() - fb).norm(dim=1) for o in outs) / len(outs) / between


def _edited_retrieval(ctx: FindingContext, outs: list[torch.Tensor], base: torch.Tensor, n: int) -> dict:
    """Per image and space: whether the edited reconstructions still retrieve the original among the n images
    (``edited_retrieval``, averaged over the edits), and that minus the unedited reconstruction's."""
    out = {}
    for space in SPACES:
        f = _features(ctx, space)
        originals = f(ctx.x[:n])
        score = [rank_score(retrieval_ranks(originals, f(r))["retrieval_rank"], n) for r in (base, *outs)]
        edited = sum(score[1:]) / len(outs)
        out[f"edited_retrieval@{space}"] = edited
        out[f"edited_minus_unedited@{space}"] = edited - score[0]
    return out


SHIFT = 2.0  # +/- this many mean logit sigmas
SCALES = (0.5, 2.0)
SIGMAS = (0.5, 1.0, 2.0)


def logit_shift(ctx: FindingContext) -> FindingValues:
    """The same constant added to every logit (+/- 2 mean sigmas): the per-image response of contrast and
    contrast-normalised sharpness per sigma of shift (absolute), and the signed slopes."""
    n = min(ctx.n, len(ctx.x))
    shown: dict[int, tuple[torch.Tensor, ...]] = {}
    first = {id(u) for u in _first_units(ctx)}

    def values(unit, _k: int) -> dict[str, torch.Tensor]:
        lo = _edited(ctx, unit, lambda l, u: edits.shift(l, -SHIFT, u), n)
        hi = _edited(ctx, unit, lambda l, u: edits.shift(l, SHIFT, u), n)
        s_lo, s_hi = image_statistics_per_image(lo), image_statistics_per_image(hi)
        if id(unit) in first:
            shown[id(unit)] = (lo, hi)
        out = {}
        for stat in ("contrast", "sharpness", "brightness"):
            slope = (s_hi[stat] - s_lo[stat]) / (2 * SHIFT)
            out[f"{stat}_response"] = slope.abs()
            out[f"{stat}_slope"] = slope
        return out

    a, b = per_unit(ctx.a, values), per_unit(ctx.b, values)
    figure = _grid(ctx.x, *_arm_columns(ctx, shown))
    return FindingValues(a, b, n, figure, f"columns: original | A at -{SHIFT:g}, +{SHIFT:g} sigma | B at both")


def logit_scale(ctx: FindingContext) -> FindingValues:
    """Logits scaled about the class means by s in 0.5 and 2: does the reconstruction still retrieve its original
    (``edited_retrieval``, the primary), how far the content moves (in the standard evaluator's features, over
    the distance between images) and how much the contrast changes."""
    n = min(ctx.n, len(ctx.x))
    shown: dict[int, tuple[torch.Tensor, ...]] = {}
    first = {id(u) for u in _first_units(ctx)}

    def values(unit, _k: int) -> dict[str, torch.Tensor]:
        base = _edited(ctx, unit, lambda l, u: l, n)
        outs = [_edited(ctx, unit, lambda l, u, s=s: edits.scale(l, s, u.mean), n) for s in SCALES]
        if id(unit) in first:
            shown[id(unit)] = (outs[0], base, outs[1])
        stats = [image_statistics_per_image(o)["contrast"] for o in outs]
        return {
            **_edited_retrieval(ctx, outs, base, n),
            f"content_change@{ctx.judge}": _content_change(ctx, outs, base),
            "contrast_change": (stats[1] - stats[0]).abs(),
        }

    a, b = per_unit(ctx.a, values), per_unit(ctx.b, values)
    scales = ", ".join(f"x{s:g}" for s in (SCALES[0], 1.0, SCALES[1]))
    return FindingValues(
        a, b, n, _grid(ctx.x, *_arm_columns(ctx, shown)), f"columns: original | A at {scales} | B at the same"
    )


def logit_perturb(ctx: FindingContext) -> FindingValues:
    """Logits perturbed by 0.5, 1 and 2 sigmas of one fixed N(0, I) draw per image: does the reconstruction still
    retrieve its original (``edited_retrieval``, the primary), how far the content moves (in the standard
    evaluator's features, over the distance between images) and in pixels (RMS)."""
    n = min(ctx.n, len(ctx.x))
    noise = edits.noise_draw((n, ctx.a.units[0][0].logits.shape[1]), ctx.seed + 99)

    shown: dict[int, tuple[torch.Tensor, ...]] = {}
    first = {id(u) for u in _first_units(ctx)}

    def values(unit, _k: int) -> dict[str, torch.Tensor]:
        base = _edited(ctx, unit, lambda l, u: l, n)
        outs = [_edited(ctx, unit, lambda l, u, s=s: edits.perturb(l, s, u, noise), n) for s in SIGMAS]
        if id(unit) in first:
            shown[id(unit)] = (base, *outs)
        pixels = sum(((o - base) ** 2).flatten(1).mean(1).sqrt() for o in outs) / len(outs)
        return {
            **_edited_retrieval(ctx, outs, base, n),
            f"content_change@{ctx.judge}": _content_change(ctx, outs, base),
            "pixel_change": pixels.double(),
        }

    a, b = per_unit(ctx.a, values), per_unit(ctx.b, values)
    sigmas = ", ".join(f"{s:g}" for s in SIGMAS)
    return FindingValues(
        a,
        b,
        n,
        _grid(ctx.x, *_arm_columns(ctx, shown)),
        f"columns: original | A unperturbed, then noise of {sigmas} sigma | B the same",
    )


# --- C7: architecture -------------------------------------------------------------------------------
def architecture(ctx: FindingContext) -> FindingValues:
    """Another architecture trained with arm B's recipe (one classifier; its between-classifier variance
    borrowed from arm B's family) vs arm B, on the claim's endpoints."""
    other = ctx.extra_arms.get("architecture")
    if other is None:
        return FindingValues({}, {}, 0, note="no architecture stage (findings.architecture)")
    borrowed = {}
    if other.shape[0] == 1:  # every key borrows its own variance, in its own units (dB, SSIM, a fraction ...)
        borrowed = {key: borrow_variance(values, from_b=True) for key, values in ctx.b.values.items()}
    figure = _grid(ctx.x, other.units[0][0].recs[:, 0], ctx.b.units[0][0].recs[:, 0])
    return FindingValues(
        dict(other.values),
        dict(ctx.b.values),
        len(ctx.x),
        figure,
        "columns: original | other architecture | B",
        a_unit_variance=borrowed,
    )


# --- C8: adversarial examples ----------------------------------------------------------------------
def choose_budget(
    surrogate: NormalizedClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: str,
    budgets: list[float],
    success: float,
    seed: int,
) -> tuple[str, str]:
    """The smallest eps of ``budgets`` at which the targeted attack (to class y+1) fools ``surrogate`` on at least
    ``success`` of the (validation) images x (N,C,H,W) in [0,1]; returns the attack spec and a note of the rates."""
    from dataclasses import replace

    from ...classifiers.attacks import AttackConfig

    base, rates = AttackConfig.parse(attack), {}
    target = (y + 1) % surrogate.num_classes
    chosen = None
    for eps in sorted(budgets):
        spec = str(replace(base, eps=eps))
        rates[eps] = float(_fools(surrogate, _attack(surrogate, x, target, spec, seed), target).double().mean())
        if rates[eps] >= success:
            chosen = spec
            break
    chosen = chosen or str(replace(base, eps=max(budgets)))
    text = ", ".join(f"eps {e:g}: {r:.0%}" for e, r in rates.items())
    return (
        chosen,
        f"budget {chosen} chosen on {len(x)} validation images (surrogate fooled at {text}; target {success:.0%})",
    )


def _attack(clf: NormalizedClassifier, x: torch.Tensor, target: torch.Tensor, spec: str, seed: int) -> torch.Tensor:
    """Targeted PGD ``spec`` against ``clf`` from a fixed seed; (N,C,H,W) in [0,1] on the CPU."""
    from ...classifiers.attacks import AttackConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        device = clf.mean.device
        return AttackConfig.parse(spec).build(clf)(x.to(device), target.to(device), targeted=True).cpu()


def _fools(clf: NormalizedClassifier, adv: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N,) bool: where ``clf`` labels the adversarial images ``adv`` with their ``target`` class."""
    return clf.predict_logits(adv.to(clf.mean.device)).argmax(1).cpu() == target


def transferred_attack(ctx: FindingContext) -> FindingValues:
    """One adversarial image per source image, crafted against the surrogate (a classifier of neither arm) to
    class y+1; on the images where it fools the surrogate, every unit of both arms inverts the same x_adv: does
    an evaluator label G(f(x_adv)) with the source class (content) or the target, and does it retrieve the source
    among the kept sources (``source_retrieval``, judge-free)?"""
    n = min(ctx.n, len(ctx.x))
    x, y = ctx.x[:n], ctx.y[:n]
    sur = ctx.surrogate
    target = (y + 1) % sur.num_classes
    key = ("attack", ctx.attack, n)  # crafted once; the reference decoders invert the same x_adv
    if key not in ctx._stats:
        adv = _attack(sur, x, target, ctx.attack, ctx.seed)
        ctx._stats[key] = (adv, _fools(sur, adv, target).nonzero()[:, 0])
    adv, keep = ctx._stats[key]
    x_adv, sources = adv[keep], x[keep]
    layout = _features(ctx, "layout")
    shown: dict[int, tuple[torch.Tensor, ...]] = {}
    first = {id(u) for u in _first_units(ctx)}

    def values(unit, _k: int) -> dict[str, torch.Tensor]:
        inv = unit.inverter
        rec = inv.generate(inv.logits(x_adv), ctx.noise(inv, len(keep))).cpu()
        if id(unit) in first:
            shown[id(unit)] = (rec,)
        ranks = retrieval_ranks(layout(sources), layout(rec))["retrieval_rank"]
        out = {"source_retrieval@layout": rank_score(ranks, len(keep))}
        for name, clf in ctx.evaluators.items():
            label = clf.predict_logits(rec.to(clf.mean.device)).argmax(1).cpu()
            out[f"keeps_source@{name}"] = (label == y[keep]).double()
            out[f"follows_target@{name}"] = (label == target[keep]).double()
        return out

    a, b = (per_unit(arm, values) if len(keep) >= 2 else {} for arm in (ctx.a, ctx.b))
    note = (
        f"transferred from the surrogate ({ctx.attack}): it fooled the surrogate on {len(keep)} of {n} images, the "
        f"same x_adv for every unit of both arms. {ctx.attack_note}; columns: original | x_adv | A | B"
    )
    figure = _grid(sources, x_adv, *_arm_columns(ctx, shown)) if shown else None
    return FindingValues(a, b, len(keep), figure, note)


def adversarial(ctx: FindingContext) -> FindingValues:
    """C8: :func:`transferred_attack` with a surrogate (``findings.surrogate``), else :func:`per_classifier_attack`."""
    return transferred_attack(ctx) if ctx.surrogate is not None else per_classifier_attack(ctx)


def per_classifier_attack(ctx: FindingContext) -> FindingValues:
    """The older C8 design (no classifier outside the arms): targeted PGD (to y+1) against each classifier; where it
    fools all of them, does a judge label G(f(x_adv)) as the source or the target? The arms see different inputs."""
    from ...classifiers.attacks import AttackConfig

    n = min(ctx.n, len(ctx.x))
    x, y = ctx.x[:n], ctx.y[:n]
    right = torch.stack([p == y for arm in (ctx.a, ctx.b) for p in _predictions(arm, n)]).all(0)
    idx = right.nonzero()[:, 0]
    if len(idx) == 0:
        return FindingValues(
            {}, {}, 0, note=f"no image of the {n} is classified right by every classifier of both arms"
        )
    target = (y[idx] + 1) % ctx.a.units[0][0].logits.shape[1]
    pgd = AttackConfig.parse(ctx.attack)
    adv = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.seed)
        for arm in (ctx.a, ctx.b):
            for k, row in enumerate(arm.units):
                clf = row[0].inverter.classifier
                adv[(id(arm), k)] = pgd.build(clf)(
                    x[idx].to(clf.mean.device), target.to(clf.mean.device), targeted=True
                ).cpu()
    success = torch.stack(
        [
            row[0].inverter.logits(adv[(id(arm), k)]).argmax(1).cpu() == target
            for arm in (ctx.a, ctx.b)
            for k, row in enumerate(arm.units)
        ]
    ).all(0)
    keep = success.nonzero()[:, 0]
    judges = dict(ctx.evaluators)

    shown: dict[int, tuple[torch.Tensor, ...]] = {}
    first = {id(u) for u in _first_units(ctx)}

    def for_arm(arm: ArmScores):
        def values(unit, k: int) -> dict[str, torch.Tensor]:
            inv = unit.inverter
            x_adv = adv[(id(arm), k)][keep]
            rec = inv.generate(inv.logits(x_adv), ctx.noise(inv, len(keep))).cpu()
            if id(unit) in first:
                shown[id(unit)] = (x_adv.cpu(), rec)
            out = {}
            for name, clf in judges.items():
                label = clf.predict_logits(rec.to(clf.mean.device)).argmax(1).cpu()
                out[f"keeps_source@{name}"] = (label == y[idx][keep]).double()
                out[f"follows_target@{name}"] = (label == target[keep]).double()
            return out

        return per_unit(arm, values) if len(keep) >= 2 else {}

    note = (
        f"{len(idx)} images right for every classifier; the targeted attack ({ctx.attack}) succeeded against "
        f"all of them on {len(keep)}; columns: original | A's attack, its reconstruction | B's"
    )
    a, b = for_arm(ctx.a), for_arm(ctx.b)
    figure = _grid(x[idx][keep], *_arm_columns(ctx, shown)) if shown else None
    return FindingValues(a, b, len(keep), figure, note)


# --- C9: out-of-distribution images ---------------------------------------------------------------
def out_of_distribution(ctx: FindingContext) -> FindingValues:
    """Each inverter applied to images of other datasets (converted to its image shape; no retraining) and to as
    many of the claim's own images, reconstructed the same way (one draw of the findings' noise): retrieval among
    the out-of-distribution images and among the in-distribution ones, on the same rank scale (m candidates
    each). The primary, ``ood_minus_id``, pairs OOD image i with in-distribution image i, so arm A minus arm B
    on it is the arm x domain interaction: (A - B) out of distribution minus (A - B) in distribution."""
    if not ctx.ood:
        return FindingValues({}, {}, 0, note="no out-of-distribution data (findings.ood)")
    m = min(min(len(ds) for ds in ctx.ood.values()), ctx.n, len(ctx.x))
    sets = {name: ds.batch(torch.arange(m))[0] for name, ds in ctx.ood.items()}
    x_id = ctx.x[:m]
    spaces = (*SPACES, *ctx.evaluators)
    grids = []

    def retrieval(xs: torch.Tensor, rec: torch.Tensor, space: str) -> torch.Tensor:
        f = _features(ctx, space)
        return rank_score(retrieval_ranks(f(xs), f(rec))["retrieval_rank"], len(xs))

    def values(unit, _k: int) -> dict[str, torch.Tensor]:
        inv = unit.inverter
        rec_id = inv.generate(unit.logits[:m].to(inv.device), ctx.noise(inv, m)).cpu()
        in_dist = {space: retrieval(x_id, rec_id, space) for space in spaces}
        out = {}
        for name, xo in sets.items():
            rec = inv.generate(inv.logits(xo), ctx.noise(inv, m)).cpu()
            if len(grids) < len(sets):
                grids.append((xo, rec))
            for space in spaces:
                score = retrieval(xo, rec, space)
                out[f"retrieval@{space}:{name}"] = score
                out[f"ood_minus_id@{space}:{name}"] = score - in_dist[space]
        return out

    a, b = per_unit(ctx.a, values), per_unit(ctx.b, values)
    figure = _grid(grids[0][0], grids[0][1]) if grids else None
    note = f"datasets: {', '.join(sets)}, {m} images each and {m} in-distribution; columns: original | A"
    return FindingValues(a, b, m, figure, note)
