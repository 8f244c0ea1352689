"""``unlogit reconstruct``: reconstructions of given images written as a PNG grid and an ``.npz``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UnlogitError
from ..inversion.inverter import Inverter
from ..runtime.atomic import write_atomic
from ..runtime.figures import comparison_grid, save_png
from .measure import score

PNG_NAME, NPZ_NAME = "reconstructions.png", "reconstructions.npz"


def write_reconstructions(inv: Inverter, x: torch.Tensor, samples: int, seed: int, out: Path) -> dict[str, Any]:
    """Reconstruct x (N,C,H,W in [0,1]) ``samples`` times; write ``reconstructions.png`` (original |
    draws) and ``reconstructions.npz`` (originals, reconstructions (N,S,C,H,W), logits, seed).

    x is classified once. Returns the paths and ``own_label_agreement``: how often the inverted classifier
    gives a reconstruction the original's label (the scoring core's quantity of that name)."""
    logits = inv.logits(x)
    recon = inv.reconstruct_logits(logits, samples=samples, seed=seed).cpu()  # (N,S,C,H,W)
    flat = recon.flatten(0, 1)
    repeated = x.repeat_interleave(samples, dim=0)
    own = score(repeated, flat, None, inv.classifier, logits=logits.repeat_interleave(samples, dim=0))
    try:
        out.mkdir(parents=True, exist_ok=True)
        png = save_png(comparison_grid([x, *recon.unbind(1)], upscale=2), out / PNG_NAME)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(
                    fh,
                    originals=x.numpy(),
                    reconstructions=recon.numpy(),
                    logits=logits.cpu().numpy(),
                    seed=np.int64(seed),
                )

        npz = out / NPZ_NAME
        write_atomic(npz, write)
    except OSError as exc:
        raise UnlogitError(f"cannot write the reconstructions to {out}: {exc}; choose a writable --out") from exc
    return {"png": png, "npz": npz, "own_label_agreement": float(own["own_label_agreement"].mean())}
