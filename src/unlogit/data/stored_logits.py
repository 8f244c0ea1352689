"""Logits stored beside prepared images: one classifier's logits of every image of a split, computed once.

``unlogit prepare-data --logits SPEC`` runs the classifier once per image (on the ``--logit-size`` center crop
of the original file, the paper's 224-px setting, or on the stored image) and keeps its logits as one
``(N, K)`` array per split, keyed by the SHA-256 of the classifier's weights. A ``prepared:DIR`` dataset
carries them (:attr:`ImageDataset.stored_logits`), memory-mapped like the images: a subset is a view, and a
rank that reads its own batches reads only those rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..errors import UnlogitError
from .partial import open_partial

STORED_DTYPES = {"float16": torch.float16, "float32": torch.float32}
LOGIT_POLICIES = ("auto", "stored", "computed")
"""``data.logits``: ``auto`` reads stored logits when the data carries them for the classifier's weights and
computes them otherwise; ``stored`` requires them; ``computed`` ignores them."""


def logits_file(digest: str, split: str) -> str:
    """The file name of a classifier's stored logits of one split (its weights' digest, shortened)."""
    return f"logits-{digest[:16]}.{split}.npy"


@dataclass(frozen=True)
class StoredLogits:
    """One classifier's logits of a dataset's images, row i for image i.

    values: (N, K) float16 or float32, usually a read-only view of a memory map (convert rows with
        ``.float()`` after indexing them).
    spec: the classifier spec they were computed with.
    digest: SHA-256 of that classifier's weights (:meth:`NormalizedClassifier.weights_digest`).
    size: the side, in pixels, of the images the classifier was given.
    origin: ``source`` (the center crop of the original file) or ``stored`` (the prepared image).
    """

    values: torch.Tensor
    spec: str
    digest: str
    size: int
    origin: str

    def subset(self, index: torch.Tensor | slice) -> StoredLogits:
        return replace(self, values=self.values[index])

    def rows(self, index: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
        """Rows ``index`` as float32 (B, K) on ``device`` (only those rows are read from disk)."""
        part = self.values[index.to(self.values.device)].float()
        return part.to(device) if device is not None else part

    def describe(self) -> dict[str, Any]:
        """What a run records about the logits it used."""
        return {"source": "stored", "spec": self.spec, "digest": self.digest, "size": self.size, "origin": self.origin}


class LogitModel(Protocol):
    """A classifier as ``prepare-data --logits`` uses it (built by :func:`unlogit.classifiers.stored.logit_model`).

    ``spec``: its spec; ``digest``: the SHA-256 of its weights; ``num_classes``: K.
    ``__call__(images)``: uint8 (B, C, S, S) on the CPU -> logits (B, K) float32 on the CPU.
    """

    spec: str
    digest: str
    num_classes: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class LogitWriters:
    """The logits ``prepare-data`` stores: per classifier and split, one ``.partial`` (N, K) array written row by
    row as the images are decoded, given its final name when the folder is finished.

    ``size``: the side of the center crop of each original file the classifiers see (``None``: the stored
    image); ``dtype``: how the logits are stored (``float16``: half the disk, about 3 significant digits).
    """

    def __init__(self, models: Sequence[LogitModel], size: int | None = None, dtype: str = "float16") -> None:
        if dtype not in STORED_DTYPES:
            raise UnlogitError(f"--logit-dtype {dtype!r}: choose {' or '.join(STORED_DTYPES)}")
        digests = [m.digest for m in models]
        if len(set(digests)) != len(digests):
            raise UnlogitError("two --logits classifiers have the same weights; give each classifier once")
        self.models, self.size, self.dtype = list(models), size, dtype
        self.arrays: dict[str, dict[str, np.ndarray]] = {}

    def record(self) -> dict[str, Any]:
        """What decides the stored logits (part of an interrupted prepare's options)."""
        return {"classifiers": {m.digest: m.spec for m in self.models}, "size": self.size, "dtype": self.dtype}

    def open(self, out: Path, split: str, n: int) -> None:
        self.arrays[split] = {
            m.digest: open_partial(out / logits_file(m.digest, split), np.dtype(self.dtype).type, (n, m.num_classes))
            for m in self.models
        }

    @torch.no_grad()
    def write(self, split: str, first: int, images: list[np.ndarray]) -> None:
        """Each classifier's logits of ``images`` (uint8 (S, S, C) each) into rows ``first``, ``first + 1``..."""
        if not images or not self.models:
            return
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
        for m in self.models:
            self.arrays[split][m.digest][first : first + len(images)] = m(x).numpy().astype(self.dtype)

    def flush(self) -> None:
        for arrays in self.arrays.values():
            for array in arrays.values():
                array.flush()

    def entries(
        self, finish: Callable[[str], dict[str, Any]], splits: Sequence[str], stored_size: int
    ) -> dict[str, Any]:
        """The manifest's ``logits`` entries (``finish(file)`` renames a finished array and describes it;
        ``stored_size``: the side of the prepared images)."""
        origin = "source" if self.size is not None else "stored"
        return {
            m.digest: {
                "spec": m.spec,
                "size": self.size or stored_size,
                "origin": origin,
                "dtype": self.dtype,
                "num_classes": m.num_classes,
                "splits": {split: finish(logits_file(m.digest, split)) for split in splits},
            }
            for m in self.models
        }

    def missing_from(self, manifest: dict[str, Any], folder: Path) -> LogitWriters:
        """The writers for the classifiers whose logits a finished folder lacks; one it holds from another crop
        size is refused."""
        held = manifest.get("logits", {})
        for m in self.models:
            if m.digest in held and held[m.digest]["origin"] == "source" and held[m.digest]["size"] != self.size:
                raise UnlogitError(
                    f"{folder} already holds the logits of {m.spec} from {held[m.digest]['size']}-px crops, not "
                    f"{self.size}; choose another --out for the other size"
                )
        return LogitWriters([m for m in self.models if m.digest not in held], self.size, self.dtype)
