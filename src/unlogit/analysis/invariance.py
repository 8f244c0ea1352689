"""``transforms``: an invariance profile — which image transforms the logits ignore and which they follow.

For each transform T and image x (same noise z for every reconstruction):
    image_change   RMS(T(x) - x)
    logit_change   ||f(T x) - f(x)|| / ||f(x)||
    label_kept     argmax f(T x) == argmax f(x)
    recon_change   RMS(G(f(T x)) - G(f(x)))
    follow_index   d_same / (d_same + d_follow), d_same = RMS(G(f(Tx)) - G(f(x))),
                   d_follow = RMS(G(f(Tx)) - T(G(f(x)))): 0 = the reconstruction ignores T (the logits
                   are invariant to it), 1 = it follows T (the logits encode it).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision.transforms.v2.functional as TF

from ..figures import comparison_grid
from ..tables import Column, fixed, markdown, percent
from .common import AnalysisContext, ExperimentResult


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


@torch.no_grad()
def transforms(ctx: AnalysisContext) -> ExperimentResult:
    """Invariance profile table per inverter, and a grid per transform (x | T x | G(f x) | G(f T x))."""
    x, _ = ctx.images()
    figures, metrics = {}, {}
    for inv_name, inv in ctx.inverters.items():
        z = ctx.noise(inv, len(x))
        l = inv.logits(x)
        rec = inv.generate(l, z).cpu()
        profile = {}
        show = []
        for t_name, t in TRANSFORMS.items():
            xt = t(x).clamp(0, 1)
            lt = inv.logits(xt)
            rec_t = inv.generate(lt, z).cpu()
            d_same, d_follow = _rms(rec_t, rec), _rms(rec_t, t(rec).clamp(0, 1))
            profile[t_name] = {
                "image_change": float(_rms(xt, x).mean()),
                "logit_change": float(((lt - l).norm(dim=1) / l.norm(dim=1).clamp_min(1e-12)).mean()),
                "label_kept": float((lt.argmax(1) == l.argmax(1)).float().mean()),
                "recon_change": float(d_same.mean()),
                "follow_index": float((d_same / (d_same + d_follow).clamp_min(1e-12)).mean()),
            }
            show += [x[:1], xt[:1], rec[:1], rec_t[:1]]
        figures[f"transforms_{inv_name}"] = comparison_grid(
            [torch.cat(show[i::4]) for i in range(4)], upscale=2
        )  # rows: transforms; columns: x, T x, G(f x), G(f T x)
        metrics[inv_name] = profile
    table = _table(metrics)
    return ExperimentResult(
        "transforms", {"transforms": list(TRANSFORMS), "n": len(x), "inverters": metrics, "table": table}, figures
    )


PROFILE_COLUMNS = [Column("inverter"), Column("transform"), Column("logit_change", "logit change", fixed(3)),
                   Column("label_kept", "label kept", percent), Column("recon_change", "recon change", fixed(3)),
                   Column("follow_index", "follow index", fixed(2))]  # fmt: skip


def _table(metrics: dict[str, dict[str, dict[str, float]]]) -> str:
    rows = [{"inverter": inv, "transform": t, **row} for inv, profile in metrics.items() for t, row in profile.items()]
    return markdown(rows, PROFILE_COLUMNS)
