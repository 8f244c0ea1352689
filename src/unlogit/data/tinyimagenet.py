"""Tiny ImageNet (200 classes, 64x64) in its official layout, from a folder or straight from the zip.

Layout (``tiny-imagenet-200/``): ``wnids.txt``, ``words.txt``, ``train/<wnid>/images/*.JPEG``,
``val/images/*.JPEG`` with ``val/val_annotations.txt`` (file, wnid, box). Class ids follow the sorted
wnids (torchvision ImageFolder's order); names come from ``words.txt`` (first synonym). Any subset of
the training images works. Greyscale JPEGs are converted to RGB. Splits: ``train`` is the training
folder, ``test`` is the labelled ``val`` split (the official test split has no labels).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..errors import UnlogitError
from .base import ImageDataset
from .files import interleave_classes, load_image_file
from .search import not_found, search_roots

FOLDER = "tiny-imagenet-200"
HOW = (
    "unzip the official tiny-imagenet-200.zip (or extract a copy in its layout) into DIR, or put the zip "
    "itself in DIR; then pass --data-root DIR"
)


class _Source:
    """Read files of the layout from a folder or a zip, by path relative to ``tiny-imagenet-200/``."""

    def __init__(self, root: Path | zipfile.ZipFile, prefix: str = "") -> None:
        self.root, self.prefix = root, prefix
        if isinstance(root, zipfile.ZipFile):
            self.names = {n[len(prefix) :] for n in root.namelist() if n.startswith(prefix)}

    def exists(self, rel: str) -> bool:
        if isinstance(self.root, zipfile.ZipFile):
            return rel in self.names
        return (self.root / rel).is_file()

    def read(self, rel: str) -> bytes:
        if isinstance(self.root, zipfile.ZipFile):
            return self.root.read(self.prefix + rel)
        return (self.root / rel).read_bytes()

    def list(self, folder: str, suffix: str) -> list[str]:
        if isinstance(self.root, zipfile.ZipFile):
            pre = folder.rstrip("/") + "/"
            return sorted(n for n in self.names if n.startswith(pre) and n.endswith(suffix))
        base = self.root / folder
        return (
            sorted(str(p.relative_to(self.root).as_posix()) for p in base.glob(f"*{suffix}")) if base.is_dir() else []
        )

    def describe(self, rel: str) -> str:
        if isinstance(self.root, zipfile.ZipFile):
            return f"{self.root.filename}:{self.prefix}{rel}"
        return str(self.root / rel)


def _locate(data_root) -> tuple[_Source, str]:
    looked: list[Path] = []
    for root in search_roots(data_root):
        for folder in (root / FOLDER, root):
            looked.append(folder / "wnids.txt")
            if (folder / "wnids.txt").is_file():
                return _Source(folder), str(folder)
        archive = root / f"{FOLDER}.zip"
        looked.append(archive)
        if archive.is_file():
            try:
                zf = zipfile.ZipFile(archive)
            except zipfile.BadZipFile as exc:
                raise UnlogitError(f"{archive} is not a valid zip file ({exc}); download it again") from exc
            prefix = f"{FOLDER}/" if f"{FOLDER}/wnids.txt" in zf.namelist() else ""
            return _Source(zf, prefix), str(archive)
    raise not_found("tinyimagenet", looked, HOW)


def _decode(src: _Source, rel: str) -> np.ndarray:
    arr = load_image_file(src.read(rel), "RGB", name=src.describe(rel))
    if arr.shape != (64, 64, 3):
        raise UnlogitError(f"image {src.describe(rel)} is {arr.shape[1]}x{arr.shape[0]}, expected 64x64")
    return arr


def load_tinyimagenet(
    split: str, data_root=None, download: bool = False, progress: Callable | None = None
) -> ImageDataset:
    """Load the ``train`` split or the labelled ``val`` split (as ``test``).

    There is no automatic download (Stanford CS231n distributes the zip); ``download`` is accepted for
    a uniform registry signature and ignored.
    """
    src, where = _locate(data_root)
    wnids = [w.strip() for w in src.read("wnids.txt").decode().splitlines() if w.strip()]
    if not wnids:
        raise UnlogitError(f"{src.describe('wnids.txt')} is empty; the layout is incomplete. {HOW}")
    order = sorted(wnids)
    index = {w: i for i, w in enumerate(order)}
    names = dict.fromkeys(order, "")
    if src.exists("words.txt"):
        for line in src.read("words.txt").decode().splitlines():
            wnid, _, words = line.partition("\t")
            if wnid in names:
                names[wnid] = words.split(",")[0].strip()
    classes = [names[w] or w for w in order]
    files: list[tuple[str, int]] = []
    if split == "train":
        for wnid in order:
            files += [(rel, index[wnid]) for rel in src.list(f"train/{wnid}/images", ".JPEG")]
        if not files:
            raise UnlogitError(f"no training images under {src.describe('train/<wnid>/images/')}. {HOW}")
        files = interleave_classes(files)  # data.train_size=N then keeps N/200 images of every class
    else:
        if not src.exists("val/val_annotations.txt"):
            raise UnlogitError(f"{src.describe('val/val_annotations.txt')} is missing; the layout is partial. {HOW}")
        for line in src.read("val/val_annotations.txt").decode().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[1] in index:
                files.append((f"val/images/{parts[0]}", index[parts[1]]))
        missing = [rel for rel, _ in files[:50] if not src.exists(rel)]
        if missing:
            raise UnlogitError(f"val image {src.describe(missing[0])} is listed in val_annotations.txt but missing")
    it = progress(files) if progress else files
    images = np.stack([_decode(src, rel) for rel, _ in it]).transpose(0, 3, 1, 2)
    labels = torch.tensor([k for _, k in files], dtype=torch.long)
    return ImageDataset(
        torch.from_numpy(np.ascontiguousarray(images)), labels, classes, "tinyimagenet", split, source=where
    )


def class_wnids(data_root=None) -> list[str]:
    """The sorted wnids (class id -> wnid)."""
    src, _ = _locate(data_root)
    return sorted(w.strip() for w in src.read("wnids.txt").decode().splitlines() if w.strip())
