"""``ceiling``: the logit information ceiling — how much of each image property the logits carry at all,
and how much of it each inverter's reconstructions recover.

A non-linear probe (kernel ridge regression, RBF kernel on standardised logits) is fitted on training
images (what the inverter could learn from too; its ridge strength chosen by 5-fold CV there) and
predicts each target of the held-out images from their logits alone: its held-out R^2 is the ceiling.
It is an estimate from a probe with a few thousand training images, so a lower bound of what the logits
carry: an inverter trained on the whole training split may exceed it (a fraction above 1 says so, not
that it sees more than the logits). The same property read from the reconstruction predicts the
original's (a cross-validated linear calibration, so a consistent bias is not penalised): its R^2
divided by the ceiling is the fraction recovered. A property the logits do not carry (ceiling below
0.05) is reported as such, not as the inverter's failure.

Targets: on ``shapes`` the true nuisance factors (rotation as cos/sin of k*angle for classes with
symmetry order k); elsewhere image statistics — mean colour (3 numbers) and coarse layout (4x4
pooled luminance, 16 numbers).
"""

from __future__ import annotations

import torch

from .common import AnalysisContext, ExperimentResult

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


def _rbf(a: torch.Tensor, b: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    return torch.exp(-gamma * torch.cdist(a, b) ** 2)


def _ridge(kernel: torch.Tensor, t: torch.Tensor, lam: float) -> torch.Tensor:
    """Dual coefficients (N,T) of kernel ridge on centred targets."""
    eye = torch.eye(len(kernel), dtype=torch.float64)
    return torch.linalg.solve(kernel + lam * len(kernel) * eye, t - t.mean(0))


def kernel_ridge_r2(train_f: torch.Tensor, train_t: torch.Tensor, test_f: torch.Tensor,
                    test_t: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Per-target held-out R^2 (T,) of RBF kernel ridge fitted on (train_f (N,D), train_t (N,T)) and scored
    on (test_f (M,D), test_t (M,T)).

    Features are standardised with the training statistics; the bandwidth is the median pairwise training
    distance; the ridge strength per target is the best of :data:`LAMBDAS` by 5-fold CV on the training
    images (the held-out images choose nothing)."""
    mean, std = train_f.double().mean(0), train_f.double().std(0).clamp_min(1e-8)
    f, g = (train_f.double() - mean) / std, (test_f.double() - mean) / std
    t, u = train_t.double(), test_t.double()
    d2 = torch.cdist(f, f) ** 2
    gamma = 1.0 / d2[d2 > 0].median().clamp_min(1e-12)
    kernel = torch.exp(-gamma * d2)
    cv, held_out = [], []
    for lam in LAMBDAS:
        pred = torch.empty_like(t)
        for held in _folds(len(f)):
            fit = torch.ones(len(f), dtype=torch.bool)
            fit[held] = False
            pred[held] = kernel[held][:, fit] @ _ridge(kernel[fit][:, fit], t[fit], lam) + t[fit].mean(0)
        cv.append(_r2_columns(pred, t))
        held_out.append(_r2_columns(_rbf(g, f, gamma) @ _ridge(kernel, t, lam) + t.mean(0), u))
    best = torch.stack(cv).argmax(0)  # (T,) the lambda each target's CV prefers
    return torch.stack(held_out).gather(0, best[None])[0]


def cv_calibrated(read: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-target CV R^2 (T,) of a 1-D linear calibration target_j ~ a + b * read_j."""
    r, t = read.double(), targets.double()
    pred = torch.empty_like(t)
    for held in _folds(len(r)):
        fit = torch.ones(len(r), dtype=torch.bool)
        fit[held] = False
        rm, tm = r[fit].mean(0), t[fit].mean(0)
        slope = ((r[fit] - rm) * (t[fit] - tm)).sum(0) / ((r[fit] - rm) ** 2).sum(0).clamp_min(1e-12)
        pred[held] = tm + slope * (r[held] - rm)
    return _r2_columns(pred, t)


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
    """Per inverter: the ceiling (probe from logits) and the fraction recovered, per property group."""
    x, y = ctx.data.batch(torch.arange(len(ctx.data)))
    train = ctx.training_images()
    x_train, y_train = train.batch(torch.arange(len(train)))
    shapes = bool(ctx.data.factors)
    targets = _shapes_targets(x, y, ctx.data.factors) if shapes else image_statistics(x)
    train_targets = _shapes_targets(x_train, y_train, train.factors) if shapes else image_statistics(x_train)
    metrics: dict = {"targets": list(targets), "n": len(x), "n_probe_train": len(x_train),
                     "probe": f"RBF kernel ridge fitted on {len(x_train)} training images, scored on the held-out "
                     "ones", "not_carried_below": NOT_CARRIED, "inverters": {}}  # fmt: skip
    ceilings: dict[tuple, dict[str, float]] = {}  # classifier (weights, normalisation) -> group -> ceiling R^2
    for name, inv in ctx.inverters.items():
        logits = inv.logits(x).cpu()
        clf = inv.classifier
        key = (clf.weights_digest(), tuple(clf.mean.flatten().tolist()), tuple(clf.std.flatten().tolist()))
        if key not in ceilings:  # the ceiling is the classifier's: inverters that share one share it
            train_logits = inv.logits(x_train).cpu()
            ceilings[key] = {g: float(kernel_ridge_r2(train_logits, train_targets[g], logits, t).clamp(min=-1).mean())
                             for g, t in targets.items()}  # fmt: skip
        rec = inv.generate(logits, ctx.noise(inv, len(x))).cpu()
        read = _shapes_targets(rec, y, None) if shapes else image_statistics(rec)
        rows = {}
        for group, t in targets.items():
            top = ceilings[key][group]
            got = float(cv_calibrated(read[group], t).clamp(min=-1).mean())
            carried = top >= NOT_CARRIED
            rows[group] = {"ceiling_r2": top, "recovered_r2": got,
                           "fraction_of_ceiling": got / top if carried else None,
                           "note": "" if carried else "the logits do not carry it"}  # fmt: skip
        metrics["inverters"][name] = rows
    return ExperimentResult("ceiling", metrics, {"ceiling": _bars(metrics)})


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
        ax.bar([b + width for b in base], [max(rows[g]["recovered_r2"], 0) for g in groups], width,
               label=f"{name}: recovered")  # fmt: skip
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))], groups, rotation=20, fontsize=8)
    ax.set_ylabel("cross-validated R^2")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
