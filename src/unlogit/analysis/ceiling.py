"""``ceiling``: the logit information ceiling — how much of each image property the logits carry at all,
and how much of it each inverter's reconstructions recover.

One estimator for both numbers: a non-linear probe (kernel ridge regression, RBF kernel on standardised
inputs, ridge strength by 5-fold CV on the training images; the kernel algebra is the reference decoder's,
:mod:`unlogit.inversion.nets.ridge`) is fitted on training images and scored on
the held-out ones. Fed the logits, its held-out R^2 is the **ceiling**; fed the same property read from
the reconstructions (of the training images to fit, of the held-out ones to score), its R^2 is what the
inverter **recovered**; their ratio is the fraction of the ceiling. Each comes with a 95% interval from
200 bootstrap redraws of the held-out images (the fitted probes fixed). The probe sees a few thousand
training images, so the ceiling is a lower bound of what the logits carry: an inverter trained on the
whole training split may exceed it (a fraction above 1 says so, not that it sees more than the logits). A
property the logits do not carry (ceiling below 0.05) is reported as such, not as the inverter's failure.

Targets: on ``shapes`` the true nuisance factors (rotation as cos/sin of k*angle for classes with
symmetry order k); elsewhere image statistics — mean colour (3 numbers) and coarse layout (4x4
pooled luminance, 16 numbers).
"""

from __future__ import annotations

import torch

from ..inversion.nets.ridge import median_gamma, rbf, ridge_coefficients
from .common import AnalysisContext, ExperimentResult, classifier_key

NOT_CARRIED = 0.05  # ceilings below this: the logits do not carry the property
LAMBDAS = (1e-3, 1e-2, 1e-1, 1.0)
FOLDS = 5


def _folds(n: int, k: int = FOLDS, seed: int = 0) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return list(order.chunk(k))


def _r2_columns(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    ss_res = ((pred - target) ** 2).sum(0)
    ss_tot = ((target - target.mean(0)) ** 2).sum(0).clamp_min(1e-12)
    return 1 - ss_res / ss_tot


def kernel_ridge_predict(train_f: torch.Tensor, train_t: torch.Tensor, test_f: torch.Tensor) -> torch.Tensor:
    """Held-out predictions (M,T) of RBF kernel ridge fitted on (train_f (N,D), train_t (N,T)), for test_f (M,D).

    Features are standardised with the training statistics; the bandwidth is the median pairwise training
    distance; the ridge strength per target is the best of :data:`LAMBDAS` by 5-fold CV on the training
    images (the held-out images choose nothing)."""
    mean, std = train_f.double().mean(0), train_f.double().std(0).clamp_min(1e-8)
    f, g = (train_f.double() - mean) / std, (test_f.double() - mean) / std
    t = train_t.double()
    gamma = median_gamma(f)
    kernel = rbf(f, f, gamma)
    cv, predictions = [], []
    for lam in LAMBDAS:
        pred = torch.empty_like(t)
        for held in _folds(len(f)):
            fit = torch.ones(len(f), dtype=torch.bool)
            fit[held] = False
            pred[held] = kernel[held][:, fit] @ ridge_coefficients(kernel[fit][:, fit], t[fit], lam) + t[fit].mean(0)
        cv.append(_r2_columns(pred, t))
        predictions.append(rbf(g, f, gamma) @ ridge_coefficients(kernel, t, lam) + t.mean(0))
    best = torch.stack(cv).argmax(0)  # (T,) the lambda each target's CV prefers
    stacked = torch.stack(predictions)  # (L, M, T)
    return stacked.gather(0, best[None, None].expand(1, stacked.shape[1], -1))[0]


def kernel_ridge_r2(
    train_f: torch.Tensor, train_t: torch.Tensor, test_f: torch.Tensor, test_t: torch.Tensor
) -> torch.Tensor:
    """Per-target held-out R^2 (T,) of :func:`kernel_ridge_predict`."""
    return _r2_columns(kernel_ridge_predict(train_f, train_t, test_f), test_t.double())


BOOTSTRAP = 200


def bootstrap_r2(pred: torch.Tensor, target: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Mean R^2 over targets (clamped at -1) for ``BOOTSTRAP`` redraws of the images: (BOOTSTRAP,)."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(pred), (BOOTSTRAP, len(pred)), generator=gen)
    return torch.stack([_r2_columns(pred[i], target.double()[i]).clamp(min=-1).mean() for i in idx])


def _ci(values: torch.Tensor) -> list[float]:
    return [float(v) for v in torch.quantile(values.double(), torch.tensor([0.025, 0.975], dtype=torch.float64))]


def image_statistics(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean colour (N,C) and 4x4 luminance layout (N,16) of images (N,C,H,W) in [0,1]."""
    lum = (
        x.mean(1, keepdim=True)
        if x.shape[1] == 1
        else (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    )
    return {"colour": x.mean(dim=(2, 3)), "layout": torch.nn.functional.adaptive_avg_pool2d(lum, 4).flatten(1)}


def _shapes_targets(x: torch.Tensor, y: torch.Tensor, factors: dict[str, torch.Tensor] | None):
    """Shapes: factor groups from the true factors (originals) or from the readout (reconstructions)."""
    from ..scoring.shapes_factors import ORDER
    from .probes import readout

    f = factors if factors is not None else readout(x, y)
    order = torch.from_numpy(ORDER)[y].double()
    angle = f["rotation"].double().nan_to_num(0.0) * order
    has = (order > 0).double()
    return {
        "position": torch.stack([f["pos_x"], f["pos_y"]], 1).double(),
        "scale": f["scale"].double()[:, None],
        "rotation": torch.stack([angle.cos() * has, angle.sin() * has], 1),
        "object colour": torch.stack([f["obj_r"], f["obj_g"], f["obj_b"]], 1).double(),
        "background colour": torch.stack([f["bg_r"], f["bg_g"], f["bg_b"]], 1).double(),
        "texture": f["texture"].double()[:, None],
    }


@torch.no_grad()
def ceiling(ctx: AnalysisContext) -> ExperimentResult:
    """Per inverter and property group: the ceiling, the recovered R^2 and their ratio, each with a 95% CI."""
    x, y = ctx.data.batch(torch.arange(len(ctx.data)))
    train = ctx.training_images()
    x_train, y_train = train.batch(torch.arange(len(train)))
    shapes = bool(ctx.data.factors)
    targets = _shapes_targets(x, y, ctx.data.factors) if shapes else image_statistics(x)
    train_targets = _shapes_targets(x_train, y_train, train.factors) if shapes else image_statistics(x_train)
    metrics: dict = {
        "targets": list(targets),
        "n": len(x),
        "n_probe_train": len(x_train),
        "probe": f"RBF kernel ridge fitted on {len(x_train)} training images, scored on the held-out "
        "ones; fed the logits (ceiling) or the property read from the reconstructions (recovered)",
        "not_carried_below": NOT_CARRIED,
        "bootstrap": BOOTSTRAP,
        "inverters": {},
    }
    ceilings: dict[tuple, dict[str, torch.Tensor]] = {}  # classifier -> group -> bootstrap of the ceiling R^2
    point: dict[tuple, dict[str, float]] = {}
    for name, inv in ctx.inverters.items():
        logits, train_logits = inv.logits(x).cpu(), inv.logits(x_train).cpu()
        key = classifier_key(inv)
        if key not in ceilings:  # the ceiling is the classifier's: inverters that share one share it
            preds = _predict_groups(train_logits, train_targets, logits)
            ceilings[key] = {g: bootstrap_r2(preds[g], t) for g, t in targets.items()}
            point[key] = {g: float(_r2_columns(preds[g], t.double()).clamp(min=-1).mean()) for g, t in targets.items()}
        read = _read(inv.generate(logits, ctx.noise(inv, len(x))).cpu(), y, shapes)
        read_train = _read(inv.generate(train_logits, ctx.noise(inv, len(x_train), offset=1)).cpu(), y_train, shapes)
        rows = {}
        for group, t in targets.items():
            pred = kernel_ridge_predict(read_train[group], train_targets[group], read[group])
            got = float(_r2_columns(pred, t.double()).clamp(min=-1).mean())
            boot, top_boot, top = bootstrap_r2(pred, t), ceilings[key][group], point[key][group]
            carried = top >= NOT_CARRIED
            rows[group] = {
                "ceiling_r2": top,
                "ceiling_ci": _ci(top_boot),
                "recovered_r2": got,
                "recovered_ci": _ci(boot),
                "fraction_of_ceiling": got / top if carried else None,
                "fraction_ci": _ci(boot / top_boot.clamp_min(1e-6)) if carried else None,
                "note": "" if carried else "the logits do not carry it",
            }
        metrics["inverters"][name] = rows
    return ExperimentResult("ceiling", metrics, {"ceiling": _bars(metrics)})


def _predict_groups(
    train_f: torch.Tensor, train_targets: dict[str, torch.Tensor], test_f: torch.Tensor
) -> dict[str, torch.Tensor]:
    """:func:`kernel_ridge_predict` of every property group from the same features in one fit: the ridge
    strength is chosen per target column, so this equals one fit per group at a fraction of the cost."""
    groups = list(train_targets)
    pred = kernel_ridge_predict(train_f, torch.cat([train_targets[g] for g in groups], 1), test_f)
    return dict(zip(groups, pred.split([train_targets[g].shape[1] for g in groups], 1)))


def _read(images: torch.Tensor, labels: torch.Tensor, shapes: bool) -> dict[str, torch.Tensor]:
    """The property groups as read from (reconstructed) images."""
    return _shapes_targets(images, labels, None) if shapes else image_statistics(images)


def _bars(metrics: dict):
    from matplotlib.figure import Figure

    groups = metrics["targets"]
    fig = Figure(figsize=(1.4 * len(groups) + 3, 3))
    ax = fig.subplots()
    invs = list(metrics["inverters"])
    width = 0.8 / max(2 * len(invs), 1)
    for i, name in enumerate(invs):
        rows = metrics["inverters"][name]
        base = [j + 2 * i * width for j in range(len(groups))]
        ax.bar(base, [max(rows[g]["ceiling_r2"], 0) for g in groups], width, alpha=0.35, label=f"{name}: ceiling")
        ax.bar(
            [b + width for b in base],
            [max(rows[g]["recovered_r2"], 0) for g in groups],
            width,
            label=f"{name}: recovered",
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))], groups, rotation=20, fontsize=8)
    ax.set_ylabel("cross-validated R^2")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
