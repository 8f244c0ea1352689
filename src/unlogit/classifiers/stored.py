"""Which logits of real images a classifier is paired with: the ones ``prepare-data`` stored, or computed.

Every place that needs a classifier's logits of a dataset's own images (the trainer's logit cache, the encoder
fit, standing statistics, held-out scoring, ``evaluate``, a study's claim) asks :func:`dataset_logits`, so the
choice (``data.logits``: ``auto``, ``stored``, ``computed``) is made here once. Stored logits are matched to a
classifier by the SHA-256 of its weights, never by its spec; a folder holding logits of the same spec from other
weights is refused by name.
"""

from __future__ import annotations

import torch

from ..data.base import ImageDataset
from ..data.stored_logits import StoredLogits
from ..errors import UnlogitError
from .normalized import NormalizedClassifier
from .registry import load_classifier

LOGIT_BATCH = 1024


def stored_logits_for(clf: NormalizedClassifier, data: ImageDataset) -> StoredLogits | None:
    """The logits ``data`` carries for ``clf``'s weights (None: compute them), per ``data.logit_policy``."""
    if data.logit_policy == "computed" or (not data.stored_logits and data.logit_policy == "auto"):
        return None
    digest = clf.weights_digest()
    found = data.stored_logits.get(digest)
    if found is not None:
        return found
    spec = clf.info.get("spec", "?")
    held = {s.spec: s.digest for s in data.stored_logits.values()}
    if spec in held:
        raise UnlogitError(
            f"the logits {data.source} stores for {spec} were computed by other weights (digest {held[spec][:12]}, "
            f"this classifier's is {digest[:12]}); add them with `unlogit prepare-data ... --logits {spec}`, or set "
            "data.logits=computed to compute them from the images"
        )
    if data.logit_policy == "stored":
        raise UnlogitError(
            f"data.logits=stored, but {data.source or data.name} stores no logits of {spec} (it has "
            f"{sorted(held) or 'none'}); add them with `unlogit prepare-data ... --logits {spec}`, or set "
            "data.logits=auto"
        )
    return None


def dataset_logits(
    clf: NormalizedClassifier, data: ImageDataset, index: torch.Tensor | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """``clf``'s logits (B, K) float32 of ``data``'s images ``index`` (all when None), on ``device`` (the
    classifier's when None): stored rows when the data carries them, else computed in batches."""
    index = torch.arange(len(data)) if index is None else index
    device = device if device is not None else clf.mean.device
    stored = stored_logits_for(clf, data)
    if stored is not None:
        return stored.rows(index, device)
    return computed_logits(clf, data, index, device)


def computed_logits(
    clf: NormalizedClassifier, data: ImageDataset, index: torch.Tensor | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """``clf`` run on ``data``'s images ``index`` (all when None) in batches of :data:`LOGIT_BATCH`: logits
    (B, K) float32 on ``device`` (the classifier's when None), whatever the data stores."""
    index = torch.arange(len(data)) if index is None else index
    device = device if device is not None else clf.mean.device
    parts = [clf.predict_logits(data.batch(part, device)[0]) for part in index.split(LOGIT_BATCH)]
    return torch.cat(parts) if parts else torch.empty(0, clf.num_classes, device=device)


def logits_record(clf: NormalizedClassifier, data: ImageDataset) -> dict:
    """What a run records about the logits of real images it used."""
    stored = stored_logits_for(clf, data)
    if stored is not None:
        return stored.describe()
    return {"source": "computed", "spec": clf.info.get("spec", "?"), "size": data.image_shape[1]}


class ClassifierLogits:
    """A classifier as ``prepare-data --logits`` runs it (:class:`unlogit.data.stored_logits.LogitModel`): uint8
    images (B, C, S, S) in, logits (B, K) float32 out, on ``device`` (bfloat16 autocast on CUDA)."""

    def __init__(self, spec: str, size: int, device: torch.device) -> None:
        self.clf = load_classifier(spec, device)
        self.clf.probe((3, size, size))
        self.spec, self.device = spec, device
        self.digest, self.num_classes = self.clf.weights_digest(), self.clf.num_classes

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).float().div_(255.0)
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.device.type == "cuda"):
            return self.clf.predict_logits(x).float().cpu()
