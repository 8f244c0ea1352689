"""``transforms``: an invariance profile — which image transforms the logits ignore and which they follow.

For each transform T and image x (same noise z for every reconstruction):
    image_change   RMS(T(x) - x)
    logit_change   ||c(f(T x)) - c(f(x))|| / ||c(f(x))||, c = centring (what the softmax sees)
    label_kept     argmax f(T x) == argmax f(x)
    recon_change   RMS(G(f(T x)) - G(f(x)))
    follow_index   how much of T's effect on the reconstruction G(f(T x)) shows: the projection
                   <G(f(Tx)) - G(f(x)), T(G(f(x))) - G(f(x))> / ||T(G(f(x))) - G(f(x))||^2 (0: the logits
                   ignore T, 1: they encode it), over the images where T visibly changes G(f(x)) (RMS >=
                   0.02; ``n_defined`` of them) — an image T leaves unchanged says nothing either way.

On ``shapes`` the counterfactual profile re-renders each image with one factor changed (position, rotation,
scale, object colour, background, texture) instead of transforming pixels, and ``factor_follow`` reads
that factor back from the reconstructions (the colour-blind readout): the change in the reconstruction's
factor as a fraction of the true change.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from ..runtime.figures import comparison_grid
from ..runtime.tables import Column, fixed, markdown, percent
from .common import AnalysisContext, ExperimentResult

VISIBLE = 0.02  # RMS change of G(f(x)) under T below which the follow index is undefined


def _occlude(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    h, w = x.shape[-2:]
    out[..., h // 4 : h // 2, w // 4 : w // 2] = 0.5
    return out


def _noise(x: torch.Tensor) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "hflip": TF.horizontal_flip,
    "vflip": TF.vertical_flip,
    "translate": lambda x: TF.affine(x, angle=0.0, translate=[4, 4], scale=1.0, shear=[0.0]),
    "rotate15": lambda x: TF.rotate(x, 15.0),
    "rotate90": lambda x: TF.rotate(x, 90.0),
    "scale0.8": lambda x: TF.affine(x, angle=0.0, translate=[0, 0], scale=0.8, shear=[0.0]),
    "brightness": lambda x: TF.adjust_brightness(x, 1.4),
    "contrast": lambda x: TF.adjust_contrast(x, 0.5),
    "hue": lambda x: TF.adjust_hue(x, 0.25) if x.shape[1] == 3 else x,
    "blur": lambda x: TF.gaussian_blur(x, kernel_size=[5, 5], sigma=[1.5, 1.5]),
    "noise": _noise,
    "occlusion": _occlude,
}


def _rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).flatten(1).mean(1).sqrt()


def follow_index(rec: torch.Tensor, rec_t: torch.Tensor, t_rec: torch.Tensor) -> tuple[float | None, int]:
    """Mean projection of the reconstruction's change on T's effect, over images T visibly changes."""
    effect = (t_rec - rec).flatten(1)
    change = (rec_t - rec).flatten(1)
    visible = effect.pow(2).mean(1).sqrt() >= VISIBLE
    if not visible.any():
        return None, 0
    proj = (change[visible] * effect[visible]).sum(1) / effect[visible].pow(2).sum(1)
    return float(proj.clamp(-1, 2).mean()), int(visible.sum())


def _centred_change(l: torch.Tensor, lt: torch.Tensor) -> float:
    c, ct = l - l.mean(1, keepdim=True), lt - lt.mean(1, keepdim=True)
    return float(((ct - c).norm(dim=1) / c.norm(dim=1).clamp_min(1e-12)).mean())


@torch.no_grad()
def transforms(ctx: AnalysisContext) -> ExperimentResult:
    """Invariance profile table per inverter, and a grid per transform (x | T x | G(f x) | G(f T x))."""
    x, y = ctx.images()
    figures, metrics = {}, {}
    counterfactual = bool(ctx.data.factors)
    for inv_name, inv in ctx.inverters.items():
        z = ctx.noise(inv, len(x))
        l = inv.logits(x)
        rec = inv.generate(l, z).cpu()
        profile, show = {}, []
        for t_name, t in TRANSFORMS.items():
            xt = t(x).clamp(0, 1)
            lt = inv.logits(xt)
            rec_t = inv.generate(lt, z).cpu()
            follow, defined = follow_index(rec, rec_t, t(rec).clamp(0, 1))
            profile[t_name] = {
                "image_change": float(_rms(xt, x).mean()),
                "logit_change": _centred_change(l, lt),
                "label_kept": float((lt.argmax(1) == l.argmax(1)).float().mean()),
                "recon_change": float(_rms(rec_t, rec).mean()),
                "follow_index": follow,
                "n_defined": defined,
            }
            show += [x[:1], xt[:1], rec[:1], rec_t[:1]]
        figures[f"transforms_{inv_name}"] = comparison_grid(
            [torch.cat(show[i::4]) for i in range(4)], upscale=2
        )  # rows: transforms; columns: x, T x, G(f x), G(f T x)
        metrics[inv_name] = profile
        if counterfactual:
            metrics[inv_name].update(_counterfactuals(ctx, inv, x, y, l, rec, z))
    names = [*TRANSFORMS, *(COUNTERFACTUALS if counterfactual else {})]
    return ExperimentResult(
        "transforms", {"transforms": names, "n": len(x), "inverters": metrics, "table": _table(metrics)}, figures
    )


def _shift(key: str, by: float, lo: float = -0.45, hi: float = 0.45):
    def edit(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**f, key: np.clip(f[key] + by, lo, hi)}

    return edit


def _swap(keys: tuple[str, ...]):
    def edit(f: dict[str, np.ndarray]) -> dict[str, np.ndarray]:  # another image's values (rolled by one)
        return {**f, **{k: np.roll(f[k], 1) for k in keys}}

    return edit


COUNTERFACTUALS: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "cf-move": (_shift("pos_x", 0.25), ("pos_x", "pos_y")),
    "cf-rotate": (lambda f: {**f, "rotation": f["rotation"] + math.pi / 6}, ("rotation",)),
    "cf-shrink": (lambda f: {**f, "scale": f["scale"] * 0.75}, ("scale",)),
    "cf-recolour": (_swap(("obj_r", "obj_g", "obj_b")), ("obj_r", "obj_g", "obj_b")),
    "cf-background": (_swap(("bg_r", "bg_g", "bg_b")), ("bg_r", "bg_g", "bg_b")),
    "cf-texture": (lambda f: {**f, "texture": np.where(f["texture"] > 0, 0.0, 0.25)}, ("texture",)),
}


def _rerender(y: torch.Tensor, factors: dict[str, np.ndarray]) -> torch.Tensor:
    from ..data.shapes import FACTOR_NAMES, render

    stacked = np.stack([factors[k] for k in FACTOR_NAMES], 1).astype(np.float32)
    return torch.from_numpy(render(y.numpy(), stacked)).float() / 255.0


def _factor_follow(read_a: dict, read_b: dict, true_a: dict, true_b: dict, keys: tuple[str, ...], y) -> float | None:
    """Change of the reconstruction's factor as a fraction of the true change (projection over ``keys``)."""
    if keys == ("rotation",):
        from ..scoring.shapes_factors import ORDER

        order = torch.from_numpy(ORDER)[y]
        has = order > 0
        period = 2 * math.pi / order[has].double()
        d = (read_b["rotation"][has] - read_a["rotation"][has]) % period
        d = torch.where(d > period / 2, d - period, d)  # signed, in (-period/2, period/2]
        true = ((torch.as_tensor(true_b["rotation"]) - torch.as_tensor(true_a["rotation"]))[has].double()) % period
        true = torch.where(true > period / 2, true - period, true)
        return float((d / true).mean()) if has.any() else None
    da = torch.stack([read_b[k].double() - read_a[k].double() for k in keys], 1)
    dt = torch.stack([torch.as_tensor(true_b[k]).double() - torch.as_tensor(true_a[k]).double() for k in keys], 1)
    moved = dt.norm(dim=1) > 1e-3
    return float(((da * dt).sum(1)[moved] / dt.pow(2).sum(1)[moved]).mean()) if moved.any() else None


def _counterfactuals(ctx: AnalysisContext, inv, x, y, l, rec, z) -> dict[str, dict]:
    """The counterfactual rows for shapes: one factor re-rendered, read back from the reconstruction."""
    from .probes import readout

    n = len(x)
    true = {k: v[:n].numpy().astype(np.float64) for k, v in ctx.data.factors.items()}
    read_rec = readout(rec, y)
    rows = {}
    for name, (edit, keys) in COUNTERFACTUALS.items():
        changed = edit(true)
        xt = _rerender(y, changed)
        lt = inv.logits(xt)
        rec_t = inv.generate(lt, z).cpu()
        rows[name] = {
            "image_change": float(_rms(xt, x).mean()),
            "logit_change": _centred_change(l, lt),
            "label_kept": float((lt.argmax(1) == l.argmax(1)).float().mean()),
            "recon_change": float(_rms(rec_t, rec).mean()),
            "factor_follow": _factor_follow(read_rec, readout(rec_t, y), true, changed, keys, y),
        }
    return rows


PROFILE_COLUMNS = [
    Column("inverter"),
    Column("transform"),
    Column("logit_change", "logit change", fixed(3)),
    Column("label_kept", "label kept", percent),
    Column("recon_change", "recon change", fixed(3)),
    Column("follow_index", "follow index", fixed(2)),
    Column("factor_follow", "factor follow", fixed(2)),
]


def _table(metrics: dict[str, dict[str, dict[str, float]]]) -> str:
    rows = [{"inverter": inv, "transform": t, **row} for inv, profile in metrics.items() for t, row in profile.items()]
    return markdown(rows, PROFILE_COLUMNS)
