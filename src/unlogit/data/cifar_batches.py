"""CIFAR-10/100 in torchvision's python format, read without running code.

The batch files (``cifar-10-batches-py/data_batch_1`` ...) are pickles. A pickle can name any function
to call, so unlogit reads them with an unpickler that only rebuilds numpy arrays, lists, dicts, strings
and numbers; anything else is refused with an error that names the file. (Archives that torchvision
downloads are checked against their published MD5 first; folders already on disk are read only here.)
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import UnlogitError
from .base import ImageDataset

ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}
LAYOUT = {
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        b"labels",
        "batches.meta",
        b"label_names",
    ),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels", "meta", b"fine_label_names"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (only numpy arrays and plain data)")


def read_batch(path: Path) -> dict:
    """One batch file as a dict with bytes keys (``b"data"``, ``b"labels"`` ...)."""
    try:
        with path.open("rb") as fh:
            out = _ArraysOnly(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, OSError) as exc:
        raise UnlogitError(f"cannot read CIFAR batch {path}: {exc}; the folder is damaged, download it again") from exc
    if not isinstance(out, dict) or b"data" not in out:
        raise UnlogitError(f"{path} is not a CIFAR batch (no 'data' array); the folder is damaged")
    return out


def load_cifar_folder(root: Path, name: str, split: str) -> ImageDataset:
    """``root/cifar-10-batches-py`` (or ``cifar-100-python``) -> ImageDataset (N,3,32,32) uint8."""
    folder_name, train_files, test_files, label_key, meta_file, names_key = LAYOUT[name]
    folder = root / folder_name
    parts = [read_batch(folder / f) for f in (train_files if split == "train" else test_files)]
    try:
        x = np.concatenate([np.asarray(p[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32) for p in parts])
        y = np.concatenate([np.asarray(p[label_key], dtype=np.int64) for p in parts])
    except (KeyError, ValueError) as exc:
        raise UnlogitError(f"CIFAR batches in {folder} are malformed ({exc}); download them again") from exc
    meta = read_batch_meta(folder / meta_file, names_key)
    return ImageDataset(torch.from_numpy(x), torch.from_numpy(y), meta, name, split, source=str(folder))


def read_batch_meta(path: Path, key: bytes) -> list[str]:
    try:
        with path.open("rb") as fh:
            meta = _ArraysOnly(fh, encoding="bytes").load()
        return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[key]]
    except (pickle.UnpicklingError, EOFError, KeyError, OSError, TypeError) as exc:
        raise UnlogitError(f"cannot read CIFAR class names from {path}: {exc}; the folder is damaged") from exc
