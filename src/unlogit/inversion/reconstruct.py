"""``unlogit reconstruct``: reconstructions of given images written as a PNG grid and an ``.npz``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..figures import comparison_grid, save_png
from ..measure import labelled_as
from ..runtime.atomic import write_atomic
from .inverter import Inverter


def write_reconstructions(inv: Inverter, x: torch.Tensor, samples: int, seed: int, out: Path) -> dict[str, Any]:
    """Reconstruct x (N,C,H,W in [0,1]) ``samples`` times; write ``reconstructions.png`` (original |
    draws) and ``reconstructions.npz`` (originals, reconstructions (N,S,C,H,W), logits, seed).

    Returns the paths and ``own_label_agreement``: how often the inverted classifier gives a
    reconstruction the original's label."""
    recon = inv.reconstruct(x, samples=samples, seed=seed)  # (N,S,C,H,W)
    out.mkdir(parents=True, exist_ok=True)
    png = save_png(comparison_grid([x, *recon.unbind(1)], upscale=2), out / "reconstructions.png")
    logits = inv.logits(x)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, originals=x.numpy(), reconstructions=recon.cpu().numpy(),
                                logits=logits.cpu().numpy(), seed=np.int64(seed))  # fmt: skip

    npz = out / "reconstructions.npz"
    write_atomic(npz, write)
    labels = logits.argmax(1).repeat_interleave(samples)
    agreement = float(labelled_as(inv.classifier, recon.flatten(0, 1), labels).mean())
    return {"png": png, "npz": npz, "own_label_agreement": agreement}
