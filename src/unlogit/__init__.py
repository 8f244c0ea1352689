"""unlogit: reconstruct images from a frozen classifier's logits, and measure what the logits keep.

Data flows one way: dataset -> classifier -> logits -> inverter -> images -> metrics -> report.

Quick use::

    import unlogit
    clf = unlogit.load_classifier("runs/clf-shapes-tiny")      # [0,1] images -> logits
    inv = unlogit.load_inverter("runs/inv-shapes-tiny")        # logits -> images
    x_hat = inv.reconstruct(images)                             # (N,S,C,H,W) in [0,1]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_classifier", "load_inverter", "train_inverter"]

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from .classifiers.normalized import NormalizedClassifier
    from .inversion.config import InverterRunConfig
    from .inversion.inverter import Inverter


def load_classifier(spec: str, **kwargs: Any) -> NormalizedClassifier:
    """Load a classifier from a registry spec (run dir, torchvision name, export, TorchScript, factory)."""
    from .classifiers.registry import load_classifier as _load

    return _load(spec, **kwargs)


def load_inverter(run: str, **kwargs: Any) -> Inverter:
    """Load a trained inverter (GAN or baseline) from its run directory."""
    from .inversion.inverter import load_inverter as _load

    return _load(run, **kwargs)


def train_inverter(cfg: InverterRunConfig, out: str | Path, resume: bool = False) -> dict[str, Any]:
    """Train an inverter (``cfg``: :class:`~unlogit.inversion.config.InverterRunConfig`) into run directory
    ``out``, with the held-out numbers of :class:`~unlogit.scoring.held_out.HeldOutScoring`; returns its summary."""
    from .scoring.held_out import train_and_score

    return train_and_score(cfg, out, resume)
