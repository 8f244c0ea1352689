"""``leakage``: how much a scoring API leaks about the images it scored (a privacy audit).

The API returns a degraded version of the logits (a *defence*); the attacker turns it back into a
logit vector as best it can and inverts that. Defences:

    logits            the full logit vector (no defence; the reference)
    top-k (k=1,3)     only the k largest scores; the rest filled with the k-th value minus 1
                      (:func:`unlogit.inversion.edits.top_k`)
    round-p (p=1,2)   softmax probabilities rounded to p decimals; attacker uses centred log-probs
    probs             exact probabilities (logits up to a per-image constant)
    temperature-5     softmax at temperature 5, exact; the attacker, not knowing T, uses centred log-probs
    label             the predicted label only; attacker uses that class's mean logit vector

Centred log-probs are re-centred to the training logits' mean level, and the label-only attacker uses
each class's mean training-logit vector: the attacker's priors come from training images (public data
of the same distribution), never from the attacked images themselves. Per defence and inverter: the scores of
:func:`unlogit.scoring.measure.score` (own-classifier label agreement, PSNR, SSIM, and the evaluator's when given).
"""

from __future__ import annotations

import torch

from ..inversion import edits
from ..runtime.figures import comparison_grid
from ..scoring.measure import score
from .common import AnalysisContext, ExperimentResult


def defences(logits: torch.Tensor, level: float, class_means: torch.Tensor) -> dict[str, torch.Tensor]:
    """Attacker-side logit estimates (N,K) for every defence, given the true logits (N,K)."""
    out = {"logits": logits}
    for k in (1, 3):
        out[f"top-{min(k, logits.shape[1])}"] = edits.top_k(logits, k, gap=1.0)
    probs = logits.softmax(1)
    for p in (1, 2):
        rounded = (probs * 10**p).round() / 10**p
        out[f"round-{p}"] = edits.recentre(rounded.clamp_min(10 ** (-p - 1)).log(), level)
    out["probs"] = edits.recentre(probs.clamp_min(1e-12).log(), level)
    out["temperature-5"] = edits.recentre(edits.scale(logits, 1 / 5.0, 0.0).log_softmax(1), level)
    out["label"] = class_means[logits.argmax(1)]
    return out


@torch.no_grad()
def attacker_priors(ctx: AnalysisContext, inv) -> tuple[torch.Tensor, float]:
    """Class-mean logit vectors (K,K), by predicted class, and the mean logit level, from training images."""
    train = ctx.training_images()
    x_train, _ = train.batch(torch.arange(len(train)))
    prior = inv.logits(x_train)
    pred = prior.argmax(1)
    k = prior.shape[1]
    means = torch.stack([prior[pred == c].mean(0) if (pred == c).any() else prior.mean(0) for c in range(k)])
    return means, float(prior.mean())


@torch.no_grad()
def leakage(ctx: AnalysisContext) -> ExperimentResult:
    """Reconstruction quality per defence and inverter, a grid per inverter (columns: defences)."""
    x, y = ctx.images()
    figures, metrics = {}, {}
    for inv_name, inv in ctx.inverters.items():
        logits = inv.logits(x)
        class_means, level = attacker_priors(ctx, inv)
        z = ctx.noise(inv, len(x))
        columns, rows = [x], {}
        for name, estimate in defences(logits, level, class_means).items():
            rec = inv.generate(estimate, z).cpu()
            columns.append(rec)
            rows[name] = score(x, rec, y, inv.classifier, ctx.evaluators, logits=logits).summary()
        figures[f"leakage_{inv_name}"] = comparison_grid(columns, upscale=2)  # columns: original, defences
        metrics[inv_name] = rows
    names = list(next(iter(metrics.values())))
    figures["leakage_curves"] = _bars(metrics, names)
    return ExperimentResult("leakage", {"defences": names, "n": len(x), "inverters": metrics}, figures)


def _bars(metrics: dict[str, dict[str, dict[str, float]]], names: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    width = 0.8 / max(len(metrics), 1)
    for i, (inv_name, rows) in enumerate(metrics.items()):
        pos = [j + i * width for j in range(len(names))]
        axes[0].bar(pos, [rows[n]["own_label_agreement"] for n in names], width, label=inv_name)
        axes[1].bar(pos, [rows[n]["psnr"] for n in names], width, label=inv_name)
    for ax, title in zip(axes, ("own-classifier label agreement", "PSNR (dB)")):
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], names, rotation=45, fontsize=7)
        ax.set_title(title)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
