"""The inverter API: ``load_inverter(run)``, ``inv.reconstruct(images)``, ``inv.generate(logits)``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..classifiers.normalized import NormalizedClassifier
from ..classifiers.registry import load_classifier
from ..errors import CheckpointError, UnlogitError
from ..runtime.checkpoint import load_checkpoint, save_checkpoint
from .baselines import OptimizationInverter
from .state import build_generator

INVERTER_KIND = "unlogit.inverter"


def save_inverter(
    run: Path, G: nn.Module | None, gspec: dict[str, Any], classifier: str, summary: dict[str, Any]
) -> None:
    """Write ``RUN/model.{safetensors,json}``: the (EMA) generator, its spec and the classifier spec.

    ``G`` is None for ``optimize`` (nothing learned; the settings are in ``gspec``).
    """
    clf_path = Path(classifier)
    clf_ref = str(clf_path.resolve()) if clf_path.is_dir() else classifier
    save_checkpoint(
        run / "model", G.state_dict() if G is not None else {},
        {"method": gspec.get("method", "gan"), "generator": gspec, "classifier": clf_ref, "summary": summary},
        kind=INVERTER_KIND,
    )  # fmt: skip


class Inverter:
    """A trained logit inverter bound to the classifier it inverts.

    Attributes:
        generator: G (logits, z) -> images in [0,1] (a GAN generator, a decoder baseline, or the
            optimisation inverter).
        classifier: the frozen classifier f whose logits are inverted.
        meta: the run's model.json (method, spec, summary).
    """

    def __init__(self, generator: nn.Module, classifier: NormalizedClassifier, meta: dict[str, Any]) -> None:
        self.generator = generator.eval()
        self.classifier = classifier
        self.meta = meta
        self.method = meta.get("method", "gan")

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def num_classes(self) -> int:
        return self.generator.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        g = self.generator
        return g.out_channels, g.resolution, g.resolution

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """f(images): images (N,C,H,W) in [0,1] -> logits (N,K)."""
        self._check_images(images)
        return self.classifier.predict_logits(images.to(self.device))

    @torch.no_grad()
    def generate(
        self, logits: torch.Tensor, noise: torch.Tensor | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """G(logits, noise): logits (N,K) raw -> images (N,C,H,W) in [0,1].

        ``noise`` (N, dim_z) defaults to N(0, I), drawn from ``seed`` when given.
        """
        logits = torch.as_tensor(logits, dtype=torch.float32, device=self.device)
        self.generator.encoder.check(logits)
        if noise is None:
            gen = torch.Generator().manual_seed(seed) if seed is not None else None
            noise = self.generator.sample_noise(len(logits), "cpu", gen).to(self.device)
        elif noise.shape != (len(logits), self.generator.dim_z):
            raise UnlogitError(
                f"noise must have shape ({len(logits)}, {self.generator.dim_z}), got {tuple(noise.shape)}"
            )
        out = [self.generator(lp, zp.to(self.device)) for lp, zp in zip(logits.split(256), noise.split(256))]
        return torch.cat(out) if out else torch.empty(0, *self.image_shape)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, samples: int = 1, seed: int | None = 0) -> torch.Tensor:
        """Images (N,C,H,W) in [0,1] -> reconstructions (N,S,C,H,W) in [0,1], S = ``samples`` noise draws."""
        logits = self.logits(images)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = self.generator.sample_noise(len(logits) * samples, "cpu", gen).to(self.device)
        rep = logits.repeat_interleave(samples, dim=0)
        return self.generate(rep, z).view(len(logits), samples, *self.image_shape)

    def _check_images(self, images: torch.Tensor) -> None:
        c, h, w = self.image_shape
        if images.ndim != 4 or tuple(images.shape[1:]) != (c, h, w):
            raise UnlogitError(
                f"this inverter takes images of shape (N,{c},{h},{w}) in [0,1]; got {tuple(images.shape)}. "
                "Resize or convert the images (data.image_size / data.channels)"
            )
        if images.dtype == torch.uint8:
            raise UnlogitError("images must be float in [0,1], not uint8; divide by 255")


def load_inverter(run: str | Path, device: str | torch.device = "cpu", classifier: str | None = None) -> Inverter:
    """Load an inverter from its run directory (``classifier`` overrides the recorded classifier spec)."""
    run = Path(run)
    if not (run / "model.json").is_file():
        raise CheckpointError(f"{run} is not an inverter run directory (no model.json); train one with `unlogit train`")
    kind = json.loads((run / "model.json").read_text()).get("kind")
    if kind != INVERTER_KIND:
        raise CheckpointError(f"{run} holds a {kind!r}, not an inverter; pass the run directory of `unlogit train`")
    tensors, meta = load_checkpoint(run / "model", INVERTER_KIND)
    clf = load_classifier(classifier or meta["classifier"], device=device)
    spec = meta["generator"]
    if meta.get("method") == "optimize":
        G: nn.Module = OptimizationInverter(clf, spec["resolution"], spec["channels"], spec["steps"], spec["lr"],
                                            spec["tv"], spec["l2"])  # fmt: skip
    else:
        G = build_generator(spec)
        try:
            G.load_state_dict(tensors)
        except RuntimeError as exc:
            raise CheckpointError(f"generator weights in {run} do not fit its recorded spec: {exc}") from exc
    return Inverter(G.to(device), clf, meta)
