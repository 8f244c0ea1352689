"""Experiments that look past the label: ``misclassified``, ``adversarial``, ``factors``, ``ood``."""

from __future__ import annotations

import torch

from ..classifiers.attacks import AttackConfig
from ..runtime.figures import comparison_grid
from ..scoring.measure import labelled_as, score
from .common import AnalysisContext, ExperimentResult


@torch.no_grad()
def misclassified(ctx: AnalysisContext) -> ExperimentResult:
    """Images every inverted classifier gets wrong (one common set, so inverters are compared on the same
    images): does the reconstruction show the true or the predicted class?

    The judge's own labels of the originals are the baseline: a reconstruction "labelled true" only says
    something beyond that when the judge reads the original correctly.
    """
    x_all, y_all = ctx.data.batch(torch.arange(len(ctx.data)))
    preds = {name: inv.logits(x_all).argmax(1).cpu() for name, inv in ctx.inverters.items()}
    wrong_all = torch.stack([p != y_all for p in preds.values()]).all(0)
    common = wrong_all.nonzero()[:, 0][: max(ctx.n, 64)]
    metrics: dict = {"pool": len(x_all), "n_common": len(common), "judge": ctx.judge_name, "inverters": {}}
    figures = {}
    if len(common) == 0:
        metrics["note"] = "no image of the pool is misclassified by every inverted classifier"
        return ExperimentResult("misclassified", metrics, figures)
    x, y = x_all[common], y_all[common]
    for name, inv in ctx.inverters.items():
        p = preds[name][common]
        rec = inv.generate(inv.logits(x), ctx.noise(inv, len(x))).cpu()
        judge = ctx.judge(inv)
        metrics["inverters"][name] = {
            "n": len(common),
            "original_labelled_true": float(labelled_as(judge, x, y).mean()),  # the judge's baseline on x
            "recon_labelled_true": float(labelled_as(judge, rec, y).mean()),
            "recon_labelled_predicted": float(labelled_as(judge, rec, p).mean()),
            "psnr": score(x, rec, None)["psnr"].mean().item(),
        }
        figures[f"misclassified_{name}"] = comparison_grid([x[: ctx.n], rec[: ctx.n]], upscale=2)
    return ExperimentResult("misclassified", metrics, figures)


ATTACKS = {
    "linf-untargeted": ("linf", 8 / 255, False),
    "linf-targeted": ("linf", 8 / 255, True),
    "l2-untargeted": ("l2", 0.5, False),
    "l2-targeted": ("l2", 0.5, True),
}
EPS_SWEEP = (0.25, 0.5, 1.0)  # multiples of the L-inf untargeted eps: the smallest that succeeds per image


def _attack_row(ctx: AnalysisContext, inv, x, y, z, clean_rec, attack: tuple, steps: int) -> tuple[dict, torch.Tensor]:
    """One attack on the correctly classified images x: success (targeted: the target label), and the
    reconstruction of the successful ones only."""
    norm, eps, targeted = attack
    clf = inv.classifier
    target = (y + 1) % clf.num_classes if targeted else y
    x_adv = AttackConfig(norm, eps, steps).build(clf)(x.to(inv.device), target.to(inv.device), targeted).cpu()
    l_adv = inv.logits(x_adv)
    adv_pred = l_adv.argmax(1).cpu()
    ok = adv_pred == target if targeted else adv_pred != y
    row: dict = {"n_attacked": len(x), "n_success": int(ok.sum()), "attack_success": float(ok.double().mean())}
    if ok.any():
        rec = inv.generate(l_adv[ok.to(l_adv.device)], z[ok]).cpu()
        judge = ctx.judge(inv)
        row.update(
            {
                "recon_follows_adversarial_label": float(labelled_as(judge, rec, adv_pred[ok]).mean()),
                "recon_keeps_true_label": float(labelled_as(judge, rec, y[ok]).mean()),
                "recon_change": float(((rec - clean_rec[ok]) ** 2).flatten(1).mean(1).sqrt().mean()),
            }
        )
    return row, x_adv


def adversarial(ctx: AnalysisContext, steps: int = 10) -> ExperimentResult:
    """PGD on the inverted classifier; reconstruct the attacked logits: adversarial label or content?

    Only images the classifier gets right are attacked; success is conditioned per attack (untargeted:
    the label changes; targeted: it becomes the target, y+1), and the reconstruction numbers average over
    successful attacks only. ``eps_sweep`` gives the L-inf untargeted success at fractions of eps and the
    median smallest eps of the sweep that succeeds (a minimal-eps estimate on the grid)."""
    x_all, y_all = ctx.images(max(ctx.n, 32))
    figures, metrics = {}, {}
    for name, inv in ctx.inverters.items():
        right = (inv.logits(x_all).argmax(1).cpu() == y_all).nonzero()[:, 0]
        x, y = x_all[right], y_all[right]
        z = ctx.noise(inv, len(x))
        clean_rec = inv.generate(inv.logits(x), z).cpu()
        rows = {}
        for attack_name, attack in ATTACKS.items():
            rows[attack_name], x_adv = _attack_row(ctx, inv, x, y, z, clean_rec, attack, steps)
            if attack_name == "linf-untargeted":
                rec = inv.generate(inv.logits(x_adv), z).cpu()
                figures[f"adversarial_{name}"] = comparison_grid(
                    [x[: ctx.n], x_adv[: ctx.n], clean_rec[: ctx.n], rec[: ctx.n]], upscale=2
                )  # columns: x, x_adv, G(f(x)), G(f(x_adv))
        rows["eps_sweep"] = _eps_sweep(inv, x, y, steps)
        metrics[name] = rows
    return ExperimentResult(
        "adversarial",
        {
            "attacks": {k: list(v) for k, v in ATTACKS.items()},
            "steps": steps,
            "judge": ctx.judge_name,
            "inverters": metrics,
        },
        figures,
    )


def _eps_sweep(inv, x: torch.Tensor, y: torch.Tensor, steps: int) -> dict:
    norm, eps, _ = ATTACKS["linf-untargeted"]
    smallest = torch.full((len(x),), float("inf"))
    success = {}
    for frac in sorted(EPS_SWEEP, reverse=True):
        adv = AttackConfig(norm, eps * frac, steps).build(inv.classifier)(x.to(inv.device), y.to(inv.device)).cpu()
        ok = inv.logits(adv).argmax(1).cpu() != y
        smallest[ok] = eps * frac
        success[f"{frac:g}"] = float(ok.double().mean())
    finite = smallest[torch.isfinite(smallest)]
    return {
        "success_by_eps_fraction": success,
        "median_minimal_eps": float(finite.median()) if len(finite) else None,
        "never_fooled": float((~torch.isfinite(smallest)).double().mean()),
    }


def _r2(pred: torch.Tensor, target: torch.Tensor) -> float:
    pred, target = pred.double(), target.double()
    return float(1 - ((pred - target) ** 2).sum() / ((target - target.mean()) ** 2).sum().clamp_min(1e-12))


def readout(x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every shapes factor read from images (colour-blind geometry plus mean object/background colour and
    the object's stripe contrast); see :mod:`unlogit.scoring.shapes_factors`."""
    import math

    from ..scoring.shapes_factors import read_factors

    f = read_factors(x, labels)
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1).median(dim=-1).values
    interior = -torch.nn.functional.max_pool2d(-f["mask"].float()[:, None], 3, 1, 1) > 0.5  # eroded: no edges
    weights = interior.double()
    count = weights.flatten(2).sum(2).clamp_min(1)
    obj = (x.double() * weights).flatten(2).sum(2) / count  # (N,C): stripes average out
    std = ((((x.double() - obj[..., None, None]) ** 2) * weights).flatten(2).sum(2) / count).sqrt()
    # stripes multiply the colour by 1 + a*sin: the colour-weighted relative spread is a / sqrt(2)
    texture = std.sum(1) / obj.sum(1).clamp_min(1e-3) * math.sqrt(2)
    out = {k: f[k] for k in ("pos_x", "pos_y", "scale", "rotation")}
    out.update({f"obj_{c}": obj[:, i] for i, c in enumerate("rgb")})
    out.update({f"bg_{c}": border[:, i].double() for i, c in enumerate("rgb")})
    out["texture"] = texture
    return out


def _rotation_error(pred: torch.Tensor, true: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean angular error modulo each class's symmetry period, as a fraction of the worst (classes with
    a finite symmetry order only; 0.5 expected from a random angle)."""
    import math

    from ..scoring.shapes_factors import ORDER

    order = torch.from_numpy(ORDER)[labels.cpu()]
    has = order > 0
    period = 2 * math.pi / order[has].double()
    diff = (pred[has].double() - true[has].double()).abs() % period
    return float((torch.minimum(diff, period - diff) / (period / 2)).mean())


@torch.no_grad()
def factors(ctx: AnalysisContext) -> ExperimentResult:
    """(shapes only) How well each nuisance factor reads from reconstructions vs from the originals.

    The readout is fixed (no fitting): mask centroid for position, soft mask area per class for scale,
    render-and-compare for rotation (error modulo the class's symmetry, lower is better), mean mask and
    border colours, and the object's stripe contrast for texture. R^2 against the true factors is
    reported for the originals (the readout's own ceiling) and for every inverter's reconstructions.
    """
    if not ctx.data.factors:
        from ..errors import UnlogitError

        raise UnlogitError("the factors experiment needs a dataset with known factors (shapes)")
    x, y = ctx.data.batch(torch.arange(len(ctx.data)))
    true = {k: v for k, v in ctx.data.factors.items()}
    names = [k for k in true if k != "rotation"]

    def scores(images: torch.Tensor) -> dict[str, float]:
        read = readout(images, y)
        row = {k: _r2(read[k], true[k]) for k in names}
        row["mean_r2"] = sum(max(row[k], -1.0) for k in names) / len(names)
        row["rotation_error"] = _rotation_error(read["rotation"], true["rotation"], y)
        return row

    metrics = {
        "probe": "fixed colour-blind readout (see shapes_factors)",
        "n": len(x),
        "originals": scores(x),
        "inverters": {},
    }
    for name, inv in ctx.inverters.items():
        rec = inv.generate(inv.logits(x), ctx.noise(inv, len(x))).cpu()
        metrics["inverters"][name] = scores(rec)
    return ExperimentResult("factors", metrics, {"factors": _factor_bars(metrics, [*names, "mean_r2"])})


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
    ax.set_ylabel("R^2 of the readout vs the true factor")
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
            metrics.setdefault(name, {})[label] = {"dataset": data.name, **scores.summary()}
            if label == "ood":
                figures[f"ood_{name}"] = comparison_grid([x[: ctx.n], rec[: ctx.n]], upscale=2)
    return ExperimentResult("ood", {"inverters": metrics}, figures)
