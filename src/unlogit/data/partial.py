"""A ``.partial`` array: a ``.npy`` file memory-mapped for writing while ``prepare-data`` runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def open_partial(path: Path, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """``path.partial`` as a writable memory-mapped ``.npy`` array (created, or reopened to resume)."""
    partial = path.with_name(path.name + ".partial")
    mode = "r+" if partial.is_file() else "w+"
    return np.lib.format.open_memmap(partial, mode=mode, dtype=dtype, shape=shape)
