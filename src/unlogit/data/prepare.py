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

With classifiers (:class:`~.stored_logits.LogitWriters`, ``--logits SPEC``), the same pass stores each one's
logits of every image kept, row for row with the images: of the ``--logit-size`` center crop of the original
file, cut from the same decode (the paper's 224-px crop while the GAN's images are 64 px), or of the stored
image. A finished folder rerun with more ``--logits`` gets only theirs, and its images are kept as they are.
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
from .base import resize_images
from .files import FolderListing, list_imagefolder, load_image_sizes
from .imagenet import readable_classes
from .partial import open_partial
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
from .stored_logits import LogitWriters

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
    """Items ``(index, images or None, label, error text)`` of a folder listing, where ``images`` holds one uint8
    (S,S,3) array per entry of ``sizes`` (the stored image, the crop a classifier sees), decoded once; an
    unreadable file is returned as its error, so the writer decides whether to stop or skip."""

    def __init__(self, files: list[tuple[Path, int]], sizes: tuple[int, ...], start: int) -> None:
        self.files, self.sizes, self.start = files, sizes, start

    def __len__(self) -> int:
        return len(self.files) - self.start

    def __getitem__(self, i: int) -> tuple[int, list[np.ndarray] | None, int, str]:
        index = self.start + i
        path, label = self.files[index]
        try:
            return index, load_image_sizes(path, "RGB", self.sizes), label, ""
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

    def __init__(self, out: Path, options: dict[str, Any]) -> None:
        self.path = out / WORK / "progress.json"
        self.options = options
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
            arrays.append(open_partial(out / file, dtype, shp))
        return cls(*arrays)

    def flush(self) -> None:
        self.images.flush()
        self.labels.flush()


@dataclass
class Writers:
    """What one pass over a split writes: the images and labels (None when only logits are added to a finished
    folder) and the logits of each classifier, row ``i`` for the ``i``-th image kept."""

    images: SplitArrays | None
    logits: LogitWriters

    def write(self, row: int, decoded: list[np.ndarray], label: int) -> np.ndarray:
        """Store one image's arrays at ``row``; returns what the classifiers see (the crop, or the image)."""
        if self.images is not None:
            self.images.images[row] = decoded[0].transpose(2, 0, 1)
            self.images.labels[row] = label
        return decoded[-1]

    def flush(self) -> None:
        if self.images is not None:
            self.images.flush()
        self.logits.flush()


def _flush(writers: Writers, progress: Progress) -> None:
    """Save the position: the arrays' pages first, then the record that says how far they go."""
    writers.flush()
    progress.save()


def _prepare_folder_split(
    listing: FolderListing, split: str, options: PrepareOptions, out: Path, progress: Progress, workers: int,
    logits: LogitWriters, images: bool = True,
) -> None:  # fmt: skip
    """Decode the listing once (in ``workers`` processes) into the split's arrays; ``images=False``: only the
    logits (added to a finished folder, whose images are kept)."""
    from ..runtime.progress import progress as bar

    state = progress.split(split, fingerprint(listing), len(listing.files))
    if state.get("done"):
        return
    n = len(listing.files)
    writers = Writers(SplitArrays.open(out, split, (n, 3, options.size, options.size)) if images else None, logits)
    logits.open(out, split, n)
    crop = logits.size is not None and (logits.size != options.size or not images)
    sizes = ((options.size,) if images else ()) + ((logits.size,) if crop else ())
    loader = torch.utils.data.DataLoader(
        DecodeFiles(listing.files, sizes, state["next"]),
        batch_size=BATCH,
        num_workers=workers,
        collate_fn=_as_list,
        persistent_workers=False,
    )
    for count, batch in enumerate(bar(loader, total=len(loader), desc=f"prepare {split}", unit="batch"), 1):
        _write_batch(batch, listing, state, writers, options.skip_bad, progress, split)
        if count % FLUSH_EVERY == 0:
            _flush(writers, progress)
    state["done"] = True
    _flush(writers, progress)


def _write_batch(
    batch: list, listing: FolderListing, state: dict[str, Any], writers: Writers, skip_bad: bool, progress: Progress,
    split: str,
) -> None:  # fmt: skip
    """One decoded batch into the arrays (the classifiers run once on the batch's crops); an unreadable image
    stops the prepare, after what came before it is saved, unless ``skip_bad``."""
    first, crops, error = state["written"], [], ""
    for index, decoded, label, problem in batch:
        if decoded is None:
            if not skip_bad:
                error = problem
                break
            state["skipped"].append(str(listing.files[index][0]))
        else:
            crops.append(writers.write(state["written"], decoded, label))
            state["written"] += 1
        state["next"] = index + 1
    writers.logits.write(split, first, crops)
    if error:
        _flush(writers, progress)
        raise UnlogitError(f"{error} (or pass --skip-bad to leave unreadable images out and list them)")


def _prepare_loaded_split(
    split: str, options: PrepareOptions, out: Path, progress: Progress, logits: LogitWriters, images: bool = True
) -> list[str]:
    """A source that loads whole (npz, a named dataset): center square resized, written in one go."""
    from .registry import get_dataset

    ds = get_dataset(options.dataset, split, options.data_root)
    state = progress.split(split, f"{options.dataset}:{len(ds)}", len(ds))
    if not state.get("done"):
        square = center_square_tensor(ds.images)
        stored = resize_images(square, options.size)
        writers = Writers(SplitArrays.open(out, split, tuple(stored.shape)) if images else None, logits)
        if writers.images is not None:
            writers.images.images[:] = stored.numpy()
            writers.images.labels[:] = ds.labels.numpy()
        logits.open(out, split, len(ds))
        seen = resize_images(square, logits.size) if logits.size is not None else stored
        for start in range(0, len(ds), BATCH):
            logits.write(split, start, list(seen[start : start + BATCH].permute(0, 2, 3, 1).numpy()))
        state.update(written=len(ds), next=len(ds), done=True)
        _flush(writers, progress)
    return list(ds.classes)


def center_square_tensor(x: torch.Tensor) -> torch.Tensor:
    """The central square (N,C,s,s) of images (N,C,H,W), cut from the long edge."""
    side = min(x.shape[2], x.shape[3])
    top, left = (x.shape[2] - side) // 2, (x.shape[3] - side) // 2
    return x[:, :, top : top + side, left : left + side]


def _stored_image_logits(out: Path, split: str, manifest: dict[str, Any], logits: LogitWriters) -> None:
    """Logits of a finished folder's own images (added without a ``--logit-size``): read back in batches."""
    entry = manifest["splits"][split]
    images = np.load(out / entry["images"]["file"], mmap_mode="r", allow_pickle=False)
    logits.open(out, split, images.shape[0])
    for start in range(0, entry["n"], BATCH):
        stop = min(start + BATCH, entry["n"])
        logits.write(split, start, list(images[start:stop].transpose(0, 2, 3, 1)))
    logits.flush()


def _final_file(out: Path, file: str) -> dict[str, Any]:
    """Give a finished ``.partial`` array its final name (unless a run killed after the rename did) and describe
    it for the manifest (name, size, SHA-256)."""
    from ..runtime.checkpoint import file_sha256

    partial, final = out / f"{file}.partial", out / file
    if partial.is_file():
        os.replace(partial, final)
    return {"file": file, "bytes": final.stat().st_size, "sha256": file_sha256(final)}


def _split_entries(out: Path, options: PrepareOptions, progress: Progress) -> dict[str, Any]:
    splits = {}
    for split in options.splits:
        state = progress.splits[split]
        if state["written"] == 0:
            raise UnlogitError(f"none of the {state['n']} {split} images could be read; nothing was prepared")
        entry: dict[str, Any] = {"n": state["written"], "skipped": state["skipped"]}
        entry["images"], entry["labels"] = _final_file(out, images_file(split)), _final_file(out, labels_file(split))
        entry["shape"] = list(np.load(out / images_file(split), mmap_mode="r", allow_pickle=False).shape)
        splits[split] = entry
    return splits


def _finish(
    out: Path, options: PrepareOptions, progress: Progress, classes: list[str], logits: LogitWriters,
    before: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Hash each array, give it its final name, then write ``prepared.json`` (last). ``before``: the manifest of a
    finished folder whose images are kept (only logits were added)."""
    splits = before["splits"] if before is not None else _split_entries(out, options, progress)
    stored = dict(before.get("logits", {})) if before is not None else {}
    stored.update(logits.entries(lambda file: _final_file(out, file), options.splits, options.size))
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
    if stored:
        manifest["logits"] = stored
    write_json_atomic(out / MANIFEST, manifest)
    shutil.rmtree(out / WORK, ignore_errors=True)
    return manifest


def prepare_data(
    options: PrepareOptions, out: str | Path, workers: int = 2, logits: LogitWriters | None = None
) -> dict[str, Any]:
    """Prepare ``options.dataset`` into ``out`` (see the module docstring) with the ``logits`` of each classifier
    given; returns the manifest. A folder that is already prepared with the same options is returned as it is,
    with any classifier's logits it lacks added; with other options, refused."""
    out, logits = Path(out), logits if logits is not None else LogitWriters(())
    if workers < 0:
        raise UnlogitError(f"--workers {workers}: give 0 (decode in this process) or more")
    before = None
    if (out / MANIFEST).is_file():
        before = read_manifest(out)
        changed = changed_keys(before["options"], options.record())
        if changed:
            raise UnlogitError(
                f"{out} is already a prepared dataset with other options ({', '.join(changed)} differ); choose "
                "another --out"
            )
        logits = logits.missing_from(before, out)
        if not logits.models:
            return before
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(out, {**options.record(), "logits": logits.record()})
    classes = _each_split(options, out, progress, workers, logits, before)
    return _finish(out, options, progress, classes, logits, before)


def _each_split(
    options: PrepareOptions, out: Path, progress: Progress, workers: int, logits: LogitWriters,
    before: dict[str, Any] | None,
) -> list[str]:  # fmt: skip
    """One pass per split (images and logits, or only the logits a finished folder lacks); returns the classes."""
    classes: list[str] | None = None
    for split in options.splits:
        if before is not None and logits.size is None:
            _stored_image_logits(out, split, before, logits)
            found = before["classes"]
        elif options.dataset.startswith("imagefolder:"):
            listing = list_imagefolder(Path(options.dataset[len("imagefolder:") :]).expanduser(), split)
            _prepare_folder_split(listing, split, options, out, progress, workers, logits, images=before is None)
            found = listing.classes
        else:
            found = _prepare_loaded_split(split, options, out, progress, logits, images=before is None)
        if classes is not None and found != classes:
            raise UnlogitError(f"the {split} split of {options.dataset} has other classes than the first split")
        classes = found
    return classes or []
