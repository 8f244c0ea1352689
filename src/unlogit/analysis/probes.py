"""Experiments that look past the label: ``misclassified``, ``adversarial``, ``factors``, ``ood``."""

from __future__ import annotations

import torch

from ..attacks import PGD
from ..figures import comparison_grid
from ..measure import labelled_as, score
from .common import AnalysisContext, ExperimentResult


@torch.no_grad()
def misclassified(ctx: AnalysisContext) -> ExperimentResult:
    """Images the classifier gets wrong: does the reconstruction show the true or the predicted class?"""
    figures, metrics = {}, {}
    x_all, y_all = ctx.data.batch(torch.arange(len(ctx.data)))
    for name, inv in ctx.inverters.items():
        pred = inv.classifier.predict_logits(x_all).argmax(1).cpu()
        wrong = (pred != y_all).nonzero()[:, 0][: max(ctx.n, 64)]
        if len(wrong) == 0:
            metrics[name] = {"n": 0, "note": "the classifier makes no mistakes on this pool"}
            continue
        x, y, p = x_all[wrong], y_all[wrong], pred[wrong]
        rec = inv.generate(inv.logits(x), ctx.noise(inv, len(x))).cpu()
        judge = ctx.judge(inv)
        metrics[name] = {
            "n": len(wrong),
            "pool": len(x_all),
            "judge": ctx.judge_name,
            "recon_labelled_true": float(labelled_as(judge, rec, y).mean()),
            "recon_labelled_predicted": float(labelled_as(judge, rec, p).mean()),
            "psnr": score(x, rec, None)["psnr"].mean().item(),
        }
        figures[f"misclassified_{name}"] = comparison_grid([x[: ctx.n], rec[: ctx.n]], upscale=2)
    return ExperimentResult("misclassified", {"inverters": metrics}, figures)


ATTACKS = {
    "linf-untargeted": ("linf", 8 / 255, False),
    "linf-targeted": ("linf", 8 / 255, True),
    "l2-untargeted": ("l2", 0.5, False),
    "l2-targeted": ("l2", 0.5, True),
}


def adversarial(ctx: AnalysisContext, steps: int = 10) -> ExperimentResult:
    """PGD on the inverted classifier; reconstruct the attacked logits: adversarial label or content?"""
    x, y = ctx.images(max(ctx.n, 32))
    figures, metrics = {}, {}
    for name, inv in ctx.inverters.items():
        clf = inv.classifier
        z = ctx.noise(inv, len(x))
        clean_rec = inv.generate(inv.logits(x), z).cpu()
        rows = {}
        for attack_name, (norm, eps, targeted) in ATTACKS.items():
            target = (y + 1) % clf.num_classes if targeted else y
            x_adv = PGD(clf, norm=norm, eps=eps, steps=steps)(x.to(inv.device), target.to(inv.device), targeted).cpu()
            l_adv = inv.logits(x_adv)
            adv_pred = l_adv.argmax(1).cpu()
            rec = inv.generate(l_adv, z).cpu()
            judge = ctx.judge(inv)
            rows[attack_name] = {
                "attack_success": float((adv_pred != y).float().mean()),
                "recon_follows_adversarial_label": float(labelled_as(judge, rec, adv_pred).mean()),
                "recon_keeps_true_label": float(labelled_as(judge, rec, y).mean()),
                "recon_change": float(((rec - clean_rec) ** 2).flatten(1).mean(1).sqrt().mean()),
            }
            if attack_name == "linf-untargeted":
                figures[f"adversarial_{name}"] = comparison_grid(
                    [x[: ctx.n], x_adv[: ctx.n], clean_rec[: ctx.n], rec[: ctx.n]], upscale=2
                )  # columns: x, x_adv, G(f(x)), G(f(x_adv))
        metrics[name] = rows
    return ExperimentResult(
        "adversarial", {"attacks": {k: list(v) for k, v in ATTACKS.items()}, "steps": steps, "inverters": metrics},
        figures,
    )  # fmt: skip


def _ridge(features: torch.Tensor, targets: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Ridge regression weights (D+1, T); the penalty scales with the sample count."""
    f = torch.cat([features, torch.ones(len(features), 1)], 1).double()
    eye = torch.eye(f.shape[1], dtype=f.dtype)
    eye[-1, -1] = 0  # do not shrink the intercept
    return torch.linalg.solve(f.T @ f + lam * len(f) * 1e-3 * eye, f.T @ targets.double())


def _probe_features(x: torch.Tensor) -> torch.Tensor:
    """4x4-pooled pixels (48 numbers for RGB): colours and coarse layout, few enough to fit on ~100 images."""
    return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)


def _r2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 1 - ((pred - target) ** 2).sum(0) / ((target - target.mean(0)) ** 2).sum(0).clamp_min(1e-12)


@torch.no_grad()
def factors(ctx: AnalysisContext) -> ExperimentResult:
    """(shapes only) How well each nuisance factor reads from reconstructions vs from the originals.

    A ridge probe on 4x4-pooled pixels is fitted on half of the real images (the pool); R^2 is reported
    on the other half's originals and on their reconstructions (rotation as cos/sin of the angle). The
    probe is deliberately simple: factors it cannot read from real images (low R^2 on the originals)
    say nothing about the inverters.
    """
    if not ctx.data.factors:
        from ..errors import UnlogitError

        raise UnlogitError("the factors experiment needs a dataset with known factors (shapes)")
    x, _ = ctx.data.batch(torch.arange(len(ctx.data)))
    names = [k for k in ctx.data.factors if k != "rotation"]
    target = torch.stack([ctx.data.factors[k] for k in names], 1)
    rot = ctx.data.factors["rotation"]
    target = torch.cat([target, rot.cos()[:, None], rot.sin()[:, None]], 1)
    names = [*names, "rotation_cos", "rotation_sin"]
    half = len(x) // 2
    w = _ridge(_probe_features(x[:half]), target[:half])

    def predict(images: torch.Tensor) -> torch.Tensor:
        f = torch.cat([_probe_features(images), torch.ones(len(images), 1)], 1).double()
        return f @ w

    held = target[half:].double()
    r2_orig = _r2(predict(x[half:]), held)
    metrics = {"probe": "ridge on 4x4-pooled pixels", "n_fit": half, "n_eval": len(x) - half,
               "originals": dict(zip(names, r2_orig.tolist())), "inverters": {}}  # fmt: skip
    for name, inv in ctx.inverters.items():
        rec = inv.generate(inv.logits(x[half:]), ctx.noise(inv, len(x) - half)).cpu()
        r2 = _r2(predict(rec), held)
        metrics["inverters"][name] = dict(zip(names, r2.tolist()))
        metrics["inverters"][name]["mean_r2"] = float(r2.clamp(min=-1).mean())
    metrics["originals"]["mean_r2"] = float(r2_orig.clamp(min=-1).mean())
    return ExperimentResult("factors", metrics, {"factors": _factor_bars(metrics, names)})


def _factor_bars(metrics: dict, names: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {"originals": metrics["originals"], **metrics["inverters"]}
    fig, ax = plt.subplots(figsize=(10, 3))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        ax.bar([j + i * width for j in range(len(names))], [max(values[n], -1) for n in names], width, label=label)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], names, rotation=45, fontsize=7)
    ax.set_ylabel("R^2 of the factor probe")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@torch.no_grad()
def ood(ctx: AnalysisContext) -> ExperimentResult:
    """An inverter applied to another dataset with no retraining (converted to its image shape)."""
    if ctx.ood_data is None:
        from ..errors import UnlogitError

        raise UnlogitError("the ood experiment needs --ood-dataset NAME (e.g. fashion-mnist for a shapes inverter)")
    figures, metrics = {}, {}
    for label, data in (("in_distribution", ctx.data), ("ood", ctx.ood_data)):
        x, _ = data.batch(torch.arange(min(len(data), max(ctx.n, 64))))
        for name, inv in ctx.inverters.items():
            logits = inv.logits(x)
            rec = inv.generate(logits, ctx.noise(inv, len(x))).cpu()
            scores = score(x, rec, None, inv.classifier, logits=logits)  # labels of another dataset do not apply
            metrics.setdefault(name, {})[label] = {"dataset": data.name, **scores.means()}
            if label == "ood":
                figures[f"ood_{name}"] = comparison_grid([x[: ctx.n], rec[: ctx.n]], upscale=2)
    return ExperimentResult("ood", {"inverters": metrics}, figures)
