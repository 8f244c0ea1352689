"""The paper's experiments that need only an inverter and held-out images, each a figure AND numbers.

- ``reconstruct``: originals next to every inverter's reconstruction (Figure 1 layout).
- ``noise``: fixed logits, several noise draws: what the logits leave open (diversity).
- ``logit-shift`` / ``logit-scale`` / ``logit-perturb`` / ``logit-interpolate``: edit the raw logits
  (:mod:`unlogit.inversion.edits`, in each classifier's own logit units) and measure brightness, contrast,
  sharpness and the classifier's label along the way.
- ``transforms`` (invariance profile), ``leakage`` (scoring-API defences), ``misclassified``,
  ``adversarial``, ``ood``, ``factors``, ``ceiling`` and ``draw-mean`` (the mean of many draws against the
  regression) live in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..inversion import edits
from ..inversion.edits import LogitUnits
from ..runtime.figures import comparison_grid
from ..runtime.registry import Registry
from ..scoring.measure import labelled_as, score
from ..scoring.metrics import diversity
from .ceiling import ceiling
from .common import AnalysisContext, ExperimentResult, image_stats
from .draws import draw_mean
from .invariance import transforms
from .leakage import leakage
from .probes import adversarial, factors, misclassified, ood

SHIFTS = (-4.0, -2.0, 0.0, 2.0, 4.0)  # in units of the mean per-class logit sigma
SCALES = (0.0, 0.5, 1.0, 2.0, 4.0)  # of the deviation from the per-class mean
SIGMAS = (0.0, 0.5, 1.0, 2.0, 4.0)  # noise in units of each class's sigma
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def reconstruct(ctx: AnalysisContext) -> ExperimentResult:
    """Originals | one reconstruction per inverter, scored (own classifier, and the evaluator when given)."""
    x, y = ctx.images()
    columns, metrics = [x], {}
    for name, inv in ctx.inverters.items():
        logits = inv.logits(x)
        rec = inv.generate(logits, ctx.noise(inv, len(x))).cpu()
        columns.append(rec)
        metrics[name] = score(x, rec, y, inv.classifier, ctx.evaluators, logits=logits).summary()
    return ExperimentResult(
        "reconstruct",
        {"columns": ["original", *ctx.inverters], "n": len(x), "seed": ctx.seed, "inverters": metrics},
        {"reconstruct": comparison_grid(columns, upscale=2)},
    )


def bias_variance(x: torch.Tensor, rec: torch.Tensor) -> dict[str, float]:
    """Per-pixel squared error of S draws (N,S,C,H,W) to x (N,C,H,W), split as mse = bias^2 + variance:
    bias^2 = ||mean draw - x||^2 (what the logits get wrong on average), variance = mean ||draw - mean
    draw||^2 (what the noise leaves open). Neither alone is "better": a collapsed G has no variance."""
    mean = rec.mean(1)
    bias2 = float(((mean - x) ** 2).mean())
    variance = float(((rec - mean[:, None]) ** 2).mean())
    return {"mse": bias2 + variance, "bias2": bias2, "variance": variance}


def noise(ctx: AnalysisContext, samples: int = 6) -> ExperimentResult:
    """Per inverter: each row one image's logits, columns several noise draws; fidelity as a bias/variance
    split and the diversity of the draws (descriptive: what the logits do not pin down)."""
    x, _ = ctx.images()
    figures, metrics = {}, {}
    for name, inv in ctx.inverters.items():
        rec = inv.reconstruct(x, samples=samples, seed=ctx.seed).cpu()  # (N,S,C,H,W)
        figures[f"noise_{name}"] = comparison_grid([x[:8], *rec[:8].unbind(1)], upscale=2)
        metrics[name] = {**bias_variance(x, rec), **diversity(rec)}
    return ExperimentResult("noise", {"samples": samples, "n": len(x), "inverters": metrics}, figures)


Edit = Callable[[torch.Tensor, float, LogitUnits], torch.Tensor]  # (raw logits (N,K), value, units) -> (N,K)


def _manipulation(ctx: AnalysisContext, name: str, values: Sequence[float], edit: Edit, param: str) -> ExperimentResult:
    """Reconstruct edited logits for each value; grid (rows: images, columns: values) and curves."""
    x, _ = ctx.images(min(ctx.n, 8))
    figures, metrics = {}, {}
    for inv_name, inv in ctx.inverters.items():
        logits = inv.logits(x)
        units = ctx.units(inv).to(logits.device)
        z = ctx.noise(inv, len(x))
        columns, curve = [x], []
        for v in values:
            edited = edit(logits, v, units)
            rec = inv.generate(edited, z).cpu()
            columns.append(rec)
            judge = ctx.judge(inv)
            curve.append(
                {
                    param: v,
                    **image_stats(rec),
                    "label_kept": float(labelled_as(judge, rec, logits.argmax(1)).mean()),
                    "label_of_edit": float(labelled_as(judge, rec, edited.argmax(1)).mean()),
                }
            )
        figures[f"{name}_{inv_name}"] = comparison_grid(columns, upscale=2)
        metrics[inv_name] = curve
    figures[f"{name}_curves"] = _curves(metrics, param)
    return ExperimentResult(
        name, {"parameter": param, "values": list(values), "judge": ctx.judge_name, "inverters": metrics}, figures
    )


def _curves(metrics: dict[str, list[dict]], param: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["brightness", "contrast", "sharpness", "label_kept"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8))
    for ax, key in zip(axes, keys):
        for inv_name, curve in metrics.items():
            ax.plot([c[param] for c in curve], [c[key] for c in curve], marker="o", label=inv_name)
        ax.set_xlabel(param)
        ax.set_title(key.replace("_", " "))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def logit_shift(ctx: AnalysisContext) -> ExperimentResult:
    """:func:`~unlogit.inversion.edits.shift` by c mean sigmas (the softmax is unchanged, the inverter may not be)."""
    return _manipulation(ctx, "logit-shift", SHIFTS, edits.shift, "shift")


def logit_scale(ctx: AnalysisContext) -> ExperimentResult:
    """:func:`~unlogit.inversion.edits.scale` about the class means (confidence: s < 1 pulls every logit to its
    class mean, s > 1 exaggerates)."""
    return _manipulation(ctx, "logit-scale", SCALES, lambda l, s, units: edits.scale(l, s, units.mean), "scale")


def logit_perturb(ctx: AnalysisContext) -> ExperimentResult:
    """:func:`~unlogit.inversion.edits.perturb` by s sigmas of one fixed noise draw (seed + 99)."""

    def edit(l: torch.Tensor, s: float, units: LogitUnits) -> torch.Tensor:
        return edits.perturb(l, s, units, edits.noise_draw(l.shape, ctx.seed + 99))

    return _manipulation(ctx, "logit-perturb", SIGMAS, edit, "sigma")


def logit_interpolate(ctx: AnalysisContext) -> ExperimentResult:
    """:func:`~unlogit.inversion.edits.interpolate` from each image's logits to the previous image's in the batch."""
    return _manipulation(
        ctx, "logit-interpolate", ALPHAS, lambda l, a, _units: edits.interpolate(l, l.roll(1, dims=0), a), "alpha"
    )


Experiment = Callable[[AnalysisContext], ExperimentResult]
EXPERIMENTS: Registry[Experiment] = Registry("experiment")
for _name, _fn in (
    ("reconstruct", reconstruct),
    ("noise", noise),
    ("logit-shift", logit_shift),
    ("logit-scale", logit_scale),
    ("logit-perturb", logit_perturb),
    ("logit-interpolate", logit_interpolate),
    ("misclassified", misclassified),
    ("adversarial", adversarial),
    ("transforms", transforms),
    ("ood", ood),
    ("leakage", leakage),
    ("factors", factors),
    ("ceiling", ceiling),
    ("draw-mean", draw_mean),
):
    EXPERIMENTS.register(_name, _fn)


def expand_experiments(names: Sequence[str], with_ood: bool) -> list[str]:
    """``["all"]`` -> every experiment (``ood`` only when another dataset is given); other lists as given."""
    if list(names) == ["all"]:
        if not with_ood:
            print(
                "analyze all: skipping ood (it needs --ood-dataset NAME, e.g. --ood-dataset tinyimagenet)", flush=True
            )
        return [n for n in EXPERIMENTS if with_ood or n != "ood"]
    for name in names:
        EXPERIMENTS.get(name)
    return list(names)
