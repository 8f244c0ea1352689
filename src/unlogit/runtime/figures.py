"""Image grids and matplotlib figures, written atomically (PNG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from .atomic import write_atomic


def comparison_grid(columns: Sequence[torch.Tensor], upscale: int = 1) -> torch.Tensor:
    """Columns of images side by side: each (N,C,H,W) in [0,1]; row i shows sample i of each column.

    Returns one (3, H', W') image in [0,1] (greyscale columns are expanded to RGB).
    """
    cols = [c.detach().float().cpu().clamp(0, 1) for c in columns]
    cols = [c.expand(-1, 3, -1, -1) if c.shape[1] == 1 else c for c in cols]
    n = cols[0].shape[0]
    tiles = torch.stack(cols, dim=1).reshape(n * len(cols), *cols[0].shape[1:])
    if upscale > 1:
        tiles = torch.nn.functional.interpolate(tiles, scale_factor=upscale, mode="nearest")
    return make_grid(tiles, nrow=len(cols), padding=2, pad_value=1.0)


def labelled_grid(columns: Sequence[torch.Tensor], labels: Sequence[str], upscale: int = 4):
    """:func:`comparison_grid` as a matplotlib Figure with each column's label above it, sized so that a
    32-px image is shown at ``upscale`` times its size (what a report or a paper prints)."""
    from matplotlib.figure import Figure

    grid = comparison_grid(columns, upscale=1)
    h, w = grid.shape[1:]
    dpi = 100
    fig = Figure(figsize=(w * upscale / dpi, h * upscale / dpi + 0.45), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, h * upscale / (h * upscale + 45)))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_axis_off()
    step = w / len(labels)
    for i, label in enumerate(labels):
        ax.text((i + 0.5) * step, -2, label, ha="center", va="bottom", fontsize=9)
    return fig


def save_png(image: torch.Tensor, path: str | Path) -> Path:
    """Save a (C,H,W) image in [0,1] as PNG, atomically."""
    path = Path(path)
    write_atomic(path, lambda tmp: save_image(image, str(tmp), format="png"))
    return path


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib Figure as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def eval_curve_figure(curves: Mapping[str, Sequence[dict]], target: float | None = None):
    """Held-out label agreement (judged by the inverted classifier) against training minutes: one line per run.

    ``curves`` maps a legend label to a run's evaluation records in order (``{"step", "elapsed_s" or
    "train_minutes", "own_label_agreement"}``, as ``train.eval_every`` and the final evaluation log them).
    With a single run the top axis shows the G step reached at each evaluation. ``target`` (a fraction)
    draws a dashed line. Returns a matplotlib Figure.
    """
    from matplotlib.figure import Figure  # object API: no pyplot state, no backend switch

    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    for label, records in curves.items():
        minutes = [r["train_minutes"] if "train_minutes" in r else r["elapsed_s"] / 60 for r in records]
        values = [100 * r["own_label_agreement"] for r in records]
        (line,) = ax.plot(minutes, values, marker="o", markersize=3, label=label)
        text = f"{values[-1]:.1f}% after {minutes[-1]:.1f} min"
        ax.annotate(
            text,
            (minutes[-1], values[-1]),
            textcoords="offset points",
            xytext=(-6, -14),
            ha="right",
            color=line.get_color(),
            fontsize=8,
        )
    if len(curves) == 1:
        every = max(1, len(records) // 6)
        steps = ax.secondary_xaxis("top")  # the same minutes, labelled with the G step reached by then
        steps.set_xticks(minutes[::every], [f"{r['step']:,}" for r in records[::every]], fontsize=8)
        steps.set_xlabel("G steps")
    if target is not None:
        ax.axhline(100 * target, color="grey", linestyle="--", linewidth=1, label=f"target {100 * target:.0f}%")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("own-classifier label agreement, %")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig
