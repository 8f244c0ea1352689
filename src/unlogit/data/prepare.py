"""``unlogit prepare-data``: decode a dataset once, in parallel, into memory-mappable arrays (``prepared:DIR``).

One pass over the source, like BigGAN-PyTorch's ``make_hdf5.py``: each image is center-cropped on its long edge
and resized once (antialiased; JPEGs decoded at a reduced scale where that keeps at least twice the target
size), by ``workers`` decoding processes (a :class:`torch.utils.data.DataLoader`), and written in order into
one uint8 array per split (N, C, S, S). Folder sources (``imagefolder:``, ImageNet's ``train/`` + ``val/``
layout) are listed without decoding and streamed; other sources (``npz:``, ``cifar10``...) are small enough to
load and resize whole.

Interrupted and resumed: the arrays are written as ``*.partial`` files and the position so far is saved in
``DIR/.prepare/progress.json`` every ``FLUSH_EVERY`` batches, with the options and a fingerprint of the file
list; the same command continues where it stopped, a changed one is refused with the keys that differ.
``prepared.json`` is written last, after every array is complete and hashed, so a half-written DIR is never
taken for a dataset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UnlogitError
from ..runtime.atomic import write_json_atomic
from ..runtime.checkpoint import read_json
from ..version import __version__
from .files import FolderListing, list_imagefolder, load_image_file
from .imagenet import readable_classes
from .prepared import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    PREPARED_SPLITS,
    WORK,
    images_file,
    labels_file,
    read_manifest,
)

FLUSH_EVERY = 16  # batches between saved positions (a kill loses at most this much decoding)
BATCH = 64  # images a worker decodes per batch


@dataclass(frozen=True)
class PrepareOptions:
    """What decides a prepared folder's content (the number of workers does not).

    dataset: any dataset spec (``imagefolder:PATH`` for ImageNet's folders).
    size: the side of the stored square images, in pixels.
    splits: which splits to prepare (``test`` is ImageNet's ``val/``).
    skip_bad: leave unreadable images out and list them, instead of stopping at the first.
    data_root: the extra folder searched for named datasets.
    """

    dataset: str
    size: int
    splits: tuple[str, ...] = PREPARED_SPLITS
    skip_bad: bool = False
    data_root: str | None = None

    def __post_init__(self) -> None:
        from ..config import check_at_most, check_positive

        check_positive(self.size, "--size")
        check_at_most(self.size, "--size", 1024)
        unknown = [s for s in self.splits if s not in PREPARED_SPLITS]
        if unknown or not self.splits:
            raise UnlogitError(
                f"--splits {unknown or '(none)'}: choose from {list(PREPARED_SPLITS)} (ImageNet's val/ is test)"
            )

    def record(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "splits": list(self.splits)}


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in {*old, *new} if old.get(k) != new.get(k))


class DecodeFiles(torch.utils.data.Dataset):
    """Items ``(index, image (S,S,3) uint8 or None, label, error text)`` of a folder listing; an unreadable
    file is returned as its error, so the writer decides whether to stop or skip."""

    def __init__(self, files: list[tuple[Path, int]], size: int, start: int) -> None:
        self.files, self.size, self.start = files, size, start

    def __len__(self) -> int:
        return len(self.files) - self.start

    def __getitem__(self, i: int) -> tuple[int, np.ndarray | None, int, str]:
        index = self.start + i
        path, label = self.files[index]
        try:
            return index, load_image_file(path, "RGB", self.size), label, ""
        except UnlogitError as exc:
            return index, None, label, str(exc)


def _as_list(batch: list) -> list:
    return batch


def fingerprint(listing: FolderListing) -> str:
    """SHA-256 of the listing (relative paths, labels, sizes): a resumed prepare must see the same files."""
    h = hashlib.sha256()
    for path, label in listing.files:
        h.update(f"{path.relative_to(listing.root)}\t{label}\t{path.stat().st_size}\n".encode("utf-8", "replace"))
    return h.hexdigest()


class Progress:
    """``DIR/.prepare/progress.json``: the options, and per split the listing's fingerprint, the next source
    index, the images written and those skipped."""

    def __init__(self, out: Path, options: PrepareOptions) -> None:
        self.path = out / WORK / "progress.json"
        self.options = options.record()
        self.splits: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            saved = read_json(self.path, "prepare-data progress")
            if not isinstance(saved, dict):
                raise UnlogitError(f"{self.path} is damaged; delete {out / WORK} and the *.partial files to start over")
            changed = changed_keys(saved.get("options", {}), self.options)
            if changed:
                raise UnlogitError(
                    f"{out} holds an interrupted prepare with other options ({', '.join(changed)} differ: "
                    f"{ {k: saved.get('options', {}).get(k) for k in changed} }); rerun it with the same options to "
                    f"resume, or choose another --out (or delete {out / WORK} and the *.partial files to start over)"
                )
            self.splits = saved.get("splits", {})

    def split(self, name: str, fingerprint_: str, n: int) -> dict[str, Any]:
        state = self.splits.setdefault(name, {"fingerprint": fingerprint_, "n": n, "next": 0, "written": 0})
        if state["fingerprint"] != fingerprint_ or state["n"] != n:
            raise UnlogitError(
                f"the {name} images changed since this prepare began (another file list); choose another --out, "
                f"or delete {self.path.parent} and the *.partial files to start over"
            )
        state.setdefault("skipped", [])
        return state

    def save(self) -> None:
        write_json_atomic(self.path, {"options": self.options, "splits": self.splits})


@dataclass
class SplitArrays:
    """The two ``.partial`` arrays of one split, memory-mapped for writing."""

    images: np.ndarray
    labels: np.ndarray

    @classmethod
    def open(cls, out: Path, split: str, shape: tuple[int, ...]) -> SplitArrays:
        arrays = []
        for file, dtype, shp in ((images_file(split), np.uint8, shape), (labels_file(split), np.int64, shape[:1])):
            path = out / f"{file}.partial"
            mode = "r+" if path.is_file() else "w+"
            arrays.append(np.lib.format.open_memmap(path, mode=mode, dtype=dtype, shape=shp))
        return cls(*arrays)

    def flush(self) -> None:
        self.images.flush()
        self.labels.flush()


def _prepare_folder_split(
    listing: FolderListing, split: str, options: PrepareOptions, out: Path, progress: Progress, workers: int
) -> None:
    from ..runtime.progress import progress as bar

    state = progress.split(split, fingerprint(listing), len(listing.files))
    if state.get("done"):
        return
    arrays = SplitArrays.open(out, split, (len(listing.files), 3, options.size, options.size))
    loader = torch.utils.data.DataLoader(
        DecodeFiles(listing.files, options.size, state["next"]),
        batch_size=BATCH,
        num_workers=workers,
        collate_fn=_as_list,
        persistent_workers=False,
    )
    ticker = bar(loader, total=len(loader), desc=f"prepare {split}", unit="batch")
    for count, batch in enumerate(ticker, 1):
        for index, image, label, error in batch:
            if image is None:
                if not options.skip_bad:
                    arrays.flush()
                    progress.save()
                    raise UnlogitError(f"{error} (or pass --skip-bad to leave unreadable images out and list them)")
                state["skipped"].append(str(listing.files[index][0]))
            else:
                arrays.images[state["written"]] = image.transpose(2, 0, 1)
                arrays.labels[state["written"]] = label
                state["written"] += 1
            state["next"] = index + 1
        if count % FLUSH_EVERY == 0:
            _flush(arrays, progress)
    state["done"] = True
    _flush(arrays, progress)


def _flush(arrays: SplitArrays, progress: Progress) -> None:
    """Save the position: the arrays' pages first, then the record that says how far they go."""
    arrays.flush()
    progress.save()


def _prepare_loaded_split(split: str, options: PrepareOptions, out: Path, progress: Progress) -> list[str]:
    """A source that loads whole (npz, a named dataset): resized (center square) and written in one go."""
    from .registry import get_dataset

    ds = get_dataset(options.dataset, split, options.data_root)
    x = ds.images
    side = min(x.shape[2], x.shape[3])
    top, left = (x.shape[2] - side) // 2, (x.shape[3] - side) // 2
    ds.images = x[:, :, top : top + side, left : left + side]
    ds = ds.adapt(size=options.size)
    state = progress.split(split, f"{options.dataset}:{len(ds)}", len(ds))
    if not state.get("done"):
        arrays = SplitArrays.open(out, split, tuple(ds.images.shape))
        arrays.images[:] = ds.images.numpy()
        arrays.labels[:] = ds.labels.numpy()
        state.update(written=len(ds), next=len(ds), done=True)
        _flush(arrays, progress)
    return list(ds.classes)


def _finish(out: Path, options: PrepareOptions, progress: Progress, classes: list[str]) -> dict[str, Any]:
    """Hash each array, give it its final name, then write ``prepared.json`` (last)."""
    from ..runtime.checkpoint import file_sha256

    splits = {}
    for split in options.splits:
        state = progress.splits[split]
        if state["written"] == 0:
            raise UnlogitError(f"none of the {state['n']} {split} images could be read; nothing was prepared")
        entry: dict[str, Any] = {"n": state["written"], "skipped": state["skipped"]}
        for key, file in (("images", images_file(split)), ("labels", labels_file(split))):
            partial, final = out / f"{file}.partial", out / file
            if partial.is_file():  # else: moved by a run killed after the rename
                os.replace(partial, final)
            entry[key] = {"file": file, "bytes": final.stat().st_size, "sha256": file_sha256(final)}
        entry["shape"] = list(np.load(out / images_file(split), mmap_mode="r", allow_pickle=False).shape)
        splits[split] = entry
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": options.dataset,
        "options": options.record(),
        "classes": classes,
        "class_names": readable_classes(classes),
        "splits": splits,
        "unlogit_version": __version__,
    }
    write_json_atomic(out / MANIFEST, manifest)
    shutil.rmtree(out / WORK, ignore_errors=True)
    return manifest


def prepare_data(options: PrepareOptions, out: str | Path, workers: int = 2) -> dict[str, Any]:
    """Prepare ``options.dataset`` into ``out`` (see the module docstring); returns the manifest. A folder that
    is already prepared with the same options is returned as it is; with other options, refused."""
    out = Path(out)
    if (out / MANIFEST).is_file():
        manifest = read_manifest(out)
        changed = changed_keys(manifest["options"], options.record())
        if changed:
            raise UnlogitError(
                f"{out} is already a prepared dataset with other options ({', '.join(changed)} differ); choose "
                "another --out"
            )
        return manifest
    if workers < 0:
        raise UnlogitError(f"--workers {workers}: give 0 (decode in this process) or more")
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(out, options)
    classes: list[str] | None = None
    for split in options.splits:
        if options.dataset.startswith("imagefolder:"):
            listing = list_imagefolder(Path(options.dataset[len("imagefolder:") :]).expanduser(), split)
            _prepare_folder_split(listing, split, options, out, progress, workers)
            found = listing.classes
        else:
            found = _prepare_loaded_split(split, options, out, progress)
        if classes is not None and found != classes:
            raise UnlogitError(f"the {split} split of {options.dataset} has other classes than the first split")
        classes = found
    return _finish(out, options, progress, classes or [])
