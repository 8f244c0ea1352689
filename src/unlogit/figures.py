"""Image grids written atomically (PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.utils import make_grid, save_image

from .runtime.atomic import write_atomic


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


def save_png(image: torch.Tensor, path: str | Path) -> Path:
    """Save a (C,H,W) image in [0,1] as PNG, atomically."""
    path = Path(path)
    write_atomic(path, lambda tmp: save_image(image, str(tmp), format="png"))
    return path
