"""Loaders for files on disk: IDX (MNIST family), ``.npz`` arrays, torchvision formats, image folders."""

from __future__ import annotations

import functools
import gzip
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import UnlogitError
from .base import ImageDataset

T = TypeVar("T")

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a NumPy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise UnlogitError(f"cannot read IDX file {path}: {exc}; the file is damaged, download it again") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UnlogitError(f"{path} is not a uint8 IDX file (bad magic number)")
    ndim = data[3]
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise UnlogitError(f"IDX file {path} has a truncated header ({len(data)} bytes); download it again")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise UnlogitError(f"IDX file {path} is truncated: expected {int(np.prod(shape))} values, found {body.size}")
    return body.reshape(shape)


MAX_CLASSES = 100_000  # more classes than this from one label array is a broken file, not a dataset


@functools.lru_cache(maxsize=4)
def _read_npz(path: str, _mtime_ns: int, _size: int) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """The validated arrays of an npz, decoded once per file version (CIFAR-10's train.npz takes ~7 s)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            members = set(z.files)
            if not {"x", "y"} <= members:
                raise UnlogitError(
                    f"{path} must contain arrays 'x' (uint8 N,H,W,C) and 'y' (N,); found {sorted(members)}"
                )
            x, y = z["x"], z["y"]
            if "classes" in members and z["classes"].ndim != 1:
                raise UnlogitError(
                    f"{path}: 'classes' must be a 1-D array of class names, got shape {z['classes'].shape}"
                )
            file_classes = [str(c) for c in z["classes"]] if "classes" in members else None
    except UnlogitError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, lzma/zlib errors, pickled members, truncation
        raise UnlogitError(
            f"cannot read {path}: {type(exc).__name__}: {exc}; the file is damaged or not an npz"
        ) from exc
    if x.dtype != np.uint8:
        raise UnlogitError(f"{path}: 'x' must be uint8 in [0,255], got {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise UnlogitError(f"{path}: 'x' must be (N,H,W,C) with C in {{1,3}}, got {x.shape}")
    if y.shape != (x.shape[0],):
        raise UnlogitError(f"{path}: 'y' has shape {y.shape}, expected ({x.shape[0]},)")
    if not np.issubdtype(y.dtype, np.integer):
        raise UnlogitError(
            f"{path}: labels 'y' must be integers 0..K-1, got dtype {y.dtype}; map class names or float labels "
            "to integer ids (and store the names as 'classes')"
        )
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y.astype(np.int64), file_classes


def load_npz(path: Path, name: str, split: str, classes: list[str] | None = None) -> ImageDataset:
    """An ``.npz`` with ``x`` uint8 (N,H,W,C) or (N,H,W) and integer ``y`` (N,) (optional ``classes``)."""
    stat = path.stat()
    x, y, file_classes = _read_npz(str(path), stat.st_mtime_ns, stat.st_size)
    if y.size and y.min() < 0:
        raise UnlogitError(f"{path}: labels must be >= 0, found {y.min()}")
    names = file_classes or classes
    if names is None:
        k = int(y.max()) + 1 if y.size else 0
        if k > MAX_CLASSES:
            raise UnlogitError(
                f"{path}: the largest label is {k - 1}, which would make {k} classes (limit {MAX_CLASSES}); "
                "labels must be class ids 0..K-1"
            )
        names = [str(i) for i in range(k)]
    if y.size and y.max() >= len(names):
        raise UnlogitError(f"{path}: labels span [{y.min()}, {y.max()}] but there are {len(names)} class names")
    return ImageDataset(
        torch.from_numpy(x.copy()), torch.from_numpy(y.copy()), list(names), name, split, source=str(path)
    )


MAX_IMAGE_PIXELS = 4096 * 4096  # an image file declaring more is refused before decoding (decompression bombs)
HIGH_DEPTH = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535}  # mode -> full scale


def scale_to_8_bits(arr: np.ndarray, mode: str) -> np.ndarray:
    """High-depth integer pixels (H,W) -> uint8, rounded to nearest, in integer arithmetic in place: about 8 bytes
    per pixel at the peak, where float64 copies took 32 (a 4096x4096 16-bit upload: 134 MB, not 540)."""
    full = 255 if mode == "I" and arr.max(initial=0) <= 255 else HIGH_DEPTH[mode]  # "I": 32-bit storage of 8 bits
    out = np.clip(arr, 0, full).astype(np.uint32)
    out *= 255
    out += full // 2
    out //= full
    return out.astype(np.uint8)


def to_mode(im: Image.Image, mode: str, name: str) -> Image.Image:
    """``im`` converted to ``mode`` ("L" or "RGB") with 16-bit greyscale scaled to 8 bits (Pillow's own
    ``convert`` clips 16-bit values, turning nearly every pixel white); float images are refused by name."""
    if im.mode in HIGH_DEPTH:
        im = Image.fromarray(scale_to_8_bits(np.asarray(im), im.mode), mode="L")
    elif im.mode == "F":
        raise UnlogitError(
            f"image {name} holds floating-point pixels (mode F), which have no fixed range; save it "
            "as an 8- or 16-bit PNG"
        )
    return im.convert(mode)


def center_square(im: Image.Image, size: int) -> Image.Image:
    """The central square of ``im`` (cut from its long edge) resized to ``size`` x ``size``: Pillow's bicubic
    resize, which widens its kernel by the reduction factor, so downscaling is antialiased. The aspect ratio
    is kept (a 500x375 photo loses 62 columns on each side), as in ImageNet's usual center crop."""
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    if (w, h) == (size, size):
        return im
    return im.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side))


DRAFT_MARGIN = 2  # a JPEG is decoded at a reduced scale only while its short edge stays >= 2x the target size


def reduce_while_decoding(im: Image.Image, size: int) -> None:
    """Let libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale (Pillow's draft mode) when the short edge still keeps
    at least ``DRAFT_MARGIN`` x ``size`` pixels, so the antialiased resize that follows decides the result; a
    500x375 photo for 64 px decodes at 250x188, several times faster. Other formats are decoded whole."""
    if im.format != "JPEG":
        return
    w, h = im.size
    side = min(w, h)
    want = DRAFT_MARGIN * size
    if side >= 2 * want:
        im.draft(im.mode, (-(-w * want // side), -(-h * want // side)))


def load_image_file(
    path: Path | bytes, mode: str = "RGB", size: int | None = None, name: str | None = None
) -> np.ndarray:
    """Open one image (a path, or a file's bytes named ``name``) as uint8 (H,W,C), converting to ``mode``; with
    ``size``, its center square resized to ``size`` x ``size``.

    A broken or unreadable image raises an error that names the file.
    """
    return load_image_sizes(path, mode, (size,), name)[0]


def load_image_sizes(
    path: Path | bytes, mode: str = "RGB", sizes: tuple[int | None, ...] = (None,), name: str | None = None
) -> list[np.ndarray]:
    """One image decoded once, as uint8 (H,W,C) arrays: per entry of ``sizes``, its center square resized to
    that side (``None``: the whole image). A JPEG is decoded at a reduced scale only as far as the largest size
    allows (what ``prepare-data`` uses for the stored 64-px image and the 224-px crop a classifier sees)."""
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    name = name or str(path)
    wanted = [s for s in sizes if s is not None]
    try:
        with Image.open(source) as im:
            if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                raise UnlogitError(
                    f"image {name} declares {im.size[0]}x{im.size[1]} pixels, more than the "
                    f"{MAX_IMAGE_PIXELS:,} unlogit decodes; downscale it first"
                )
            if wanted and None not in sizes:
                reduce_while_decoding(im, max(wanted))
            im.load()
            im = to_mode(im, mode, name)
            arrays = [np.asarray(im if s is None else center_square(im, s), dtype=np.uint8) for s in sizes]
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnlogitError(f"cannot read image {name}: {exc}; remove or replace the file") from exc
    return [a[..., None] if a.ndim == 2 else a for a in arrays]


def interleave_classes(files: list[tuple[T, int]]) -> list[tuple[T, int]]:
    """Reorder (item, label) pairs round-robin over classes (the first of each class, then the second ...),
    keeping each class's own order, so that keeping the first N (``data.train_size``) stays class-balanced."""
    seen: dict[int, int] = {}
    ranked = []
    for item, label in files:
        ranked.append((seen.get(label, 0), label, item))
        seen[label] = seen.get(label, 0) + 1
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [(item, label) for _, label, item in ranked]


SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val")}  # ImageNet's val/ is its test split
SPLIT_FOLDER_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class FolderListing:
    """The image files of one split of a class-per-folder tree, before anything is decoded.

    Attributes:
        root: the folder whose subfolders are the classes.
        classes: the class folder names, sorted (ImageNet: wnids, so index k is output k of an ImageNet model).
        files: (path, label) pairs in :func:`interleave_classes` order.
    """

    root: Path
    classes: list[str]
    files: list[tuple[Path, int]]


def split_folder(root: Path, split: str) -> Path:
    """The folder that holds ``split``'s classes: ``root/train`` and ``root/test`` (or ImageNet's ``root/val``)
    when ``root`` has split folders, else ``root`` itself (a small folder is both splits). Pointing at one split
    folder of a tree that has others is refused: its test split would be its training images."""
    names = [f for f in SPLIT_FOLDER_NAMES if (root / f).is_dir()]
    if names:
        for folder in SPLIT_FOLDERS[split]:
            if (root / folder).is_dir():
                return root / folder
        raise UnlogitError(
            f"image folder {root} has split folders {names} but none for the {split} split "
            f"(looked for {list(SPLIT_FOLDERS[split])}); add one, or point at a folder of class folders"
        )
    siblings = [f for f in SPLIT_FOLDER_NAMES if f != root.name and (root.parent / f).is_dir()]
    if root.name in SPLIT_FOLDER_NAMES and siblings:
        raise UnlogitError(
            f"image folder {root} is one split of {root.parent} (which also has {siblings}); point at "
            f"{root.parent} instead, so that {root.name}/ and {siblings[0]}/ are read as separate splits"
        )
    return root


def class_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_imagefolder(root: Path, split: str) -> FolderListing:
    """The files of ``split`` under ``root`` (see :func:`split_folder`), without decoding any. An empty class
    folder, or a test split whose classes differ from the training split's, is refused by name."""
    folder = split_folder(root, split)
    classes = class_folders(folder)
    if not classes:
        raise UnlogitError(f"image folder {folder} has no class subfolders; expected {folder}/<class>/<image files>")
    if split == "test" and folder != root:
        train = class_folders(split_folder(root, "train"))
        if train != classes:
            extra, missing = sorted(set(classes) - set(train)), sorted(set(train) - set(classes))
            raise UnlogitError(
                f"the classes of {folder} differ from those of {root / 'train'} (only in {folder.name}/: "
                f"{extra[:5]}, missing there: {missing[:5]}); both splits need the same class folders"
            )
    files: list[tuple[Path, int]] = []
    for k, cls in enumerate(classes):
        found = [p for p in sorted((folder / cls).rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
        if not found:
            raise UnlogitError(
                f"class folder {folder / cls} holds no images ({sorted(IMAGE_EXTENSIONS)}); remove it or add images"
            )
        files += [(p, k) for p in found]
    return FolderListing(folder, classes, interleave_classes(files))


def stack_images(decoded: list[tuple[Path, np.ndarray]]) -> torch.Tensor:
    """Decoded images ((path, (H,W,C) uint8), all one size) as one (N,C,H,W) uint8 tensor. An image of another
    size is refused, naming it, the first image and the fix."""
    first_path, first = decoded[0]
    for path, arr in decoded:
        if arr.shape != first.shape:
            raise UnlogitError(
                f"image {path} is {arr.shape[1]}x{arr.shape[0]} but {first_path} is {first.shape[1]}x{first.shape[0]}; "
                "set data.image_size=N to center-crop and resize every image to N x N"
            )
    return torch.from_numpy(np.stack([arr for _, arr in decoded]).transpose(0, 3, 1, 2).copy())


def load_imagefolder(root: Path, split: str, size: int | None = None) -> ImageDataset:
    """``root/<class>/<image>`` or ImageNet's ``root/train/<class>/...`` + ``root/val/<class>/...`` (see
    :func:`list_imagefolder`), decoded into memory: each image center-cropped to ``size`` when given. For
    ImageNet-scale folders, ``unlogit prepare-data`` decodes once, in parallel, into a memory map instead."""
    listing = list_imagefolder(root, split)
    x = stack_images([(path, load_image_file(path, "RGB", size)) for path, _ in listing.files])
    y = torch.tensor([k for _, k in listing.files])
    return ImageDataset(x, y, listing.classes, f"imagefolder:{root}", split, source=str(listing.root))


def load_image_collection(root: Path, size: int | None = None, skip_bad: bool = False) -> ImageDataset:
    """Every PNG/JPEG under ``root`` (recursively, sorted), without labels: ``images:PATH``.

    All images are converted to RGB and must share one size unless ``size`` resizes them. An unreadable
    file is an error that names it; with ``skip_bad`` it is left out and the count is reported."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise UnlogitError(f"no images under {root} ({sorted(IMAGE_EXTENSIONS)}); give a folder of image files")
    decoded, skipped = [], []
    for path in files:
        try:
            decoded.append((path, load_image_file(path, "RGB", size)))
        except UnlogitError:
            if not skip_bad:
                raise
            skipped.append(path)
    if skipped:
        print(f"skipped {len(skipped)} unreadable image(s) under {root} (--skip-bad), e.g. {skipped[0]}", flush=True)
    if not decoded:
        raise UnlogitError(f"none of the {len(files)} files under {root} could be read")
    x = stack_images(decoded)
    return ImageDataset(
        x,
        torch.zeros(len(x), dtype=torch.long),
        ["unlabelled"],
        f"images:{root}",
        "train",
        source=str(root),
        labelled=False,
    )


def from_torchvision(ds, name: str, split: str, classes: list[str], source: str) -> ImageDataset:
    """Convert a torchvision CIFAR/SVHN dataset object (``data`` + targets) to an ImageDataset."""
    data = np.asarray(ds.data)
    if data.ndim == 4 and data.shape[-1] == 3:  # CIFAR: N,H,W,C
        data = data.transpose(0, 3, 1, 2)
    labels = np.asarray(getattr(ds, "targets", None) if hasattr(ds, "targets") else ds.labels)
    return ImageDataset(
        torch.from_numpy(np.ascontiguousarray(data)),
        torch.from_numpy(labels.astype(np.int64)),
        classes,
        name,
        split,
        source=source,
    )


def load_idx_pair(images: Path, labels: Path, name: str, split: str, classes: list[str]) -> ImageDataset:
    """Images + labels IDX files (MNIST family) -> ImageDataset with (N,1,28,28) uint8 images."""
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise UnlogitError(f"IDX files {images} {x.shape} and {labels} {y.shape} do not match")
    return ImageDataset(
        torch.from_numpy(x[:, None].copy()),
        torch.from_numpy(y.astype(np.int64)),
        classes,
        name,
        split,
        source=str(images.parent),
    )


def load_image_files(paths: list[Path], channels: int, size: int) -> torch.Tensor:
    """Image files (PNG/JPEG, any size) -> (N,C,size,size) float in [0,1], converted and resized."""
    arrays = [load_image_file(Path(p), "L" if channels == 1 else "RGB", size=size) for p in paths]
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy()).float() / 255.0
