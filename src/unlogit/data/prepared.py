"""``prepared:DIR``: a dataset that ``unlogit prepare-data`` decoded once, opened as a memory map.

A prepared folder holds, per split, one uint8 array of images (N, C, S, S) and one int64 array of labels as
``.npy`` files, and ``prepared.json``, written last, that says what they are: the source and options, the class
ids and names, and each file's size and SHA-256. Without ``prepared.json`` (a prepare still running, or killed)
the folder is not a dataset.

Opening one maps the image file read-only into the process (copy-on-write, so nothing can write back to it):
the images are a :class:`torch.Tensor` over the page cache, so 8 ranks on one node share one copy, a process's
own (anonymous) memory does not grow with the dataset's size, and a subset (``data.train_size``, the test
split's first N, the training split minus validation) is a view, not a copy. ImageNet's ``val/`` is the
``test`` split. Logits stored by ``prepare-data --logits`` (``logits-<digest>.<split>.npy``, listed under the
manifest's ``logits``) are mapped the same way (:mod:`.stored_logits`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UnlogitError
from .base import ImageDataset
from .stored_logits import StoredLogits

MANIFEST = "prepared.json"
FORMAT = "unlogit.prepared"
FORMAT_VERSION = 1
PREPARED_SPLITS = ("train", "test")
WORK = ".prepare"  # DIR/.prepare/progress.json while a prepare runs (the folder is not a dataset yet)


def images_file(split: str) -> str:
    return f"{split}.images.npy"


def labels_file(split: str) -> str:
    return f"{split}.labels.npy"


FILE_ENTRY = {
    "type": "object",
    "required": ["file", "bytes", "sha256"],
    "properties": {
        "file": {"type": "string", "pattern": r"^[A-Za-z0-9._-]+$"},
        "bytes": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    },
}
LOGITS_ENTRY = {
    "type": "object",
    "required": ["spec", "size", "origin", "dtype", "num_classes", "splits"],
    "properties": {
        "spec": {"type": "string", "minLength": 1},
        "size": {"type": "integer", "minimum": 1},
        "origin": {"enum": ["source", "stored"]},
        "dtype": {"enum": ["float16", "float32"]},
        "num_classes": {"type": "integer", "minimum": 1},
        "splits": {"type": "object", "additionalProperties": FILE_ENTRY},
    },
}
SCHEMA = {
    "type": "object",
    "required": ["format", "format_version", "source", "options", "classes", "class_names", "splits"],
    "properties": {
        "logits": {
            "type": "object",
            "propertyNames": {"pattern": "^[0-9a-f]{64}$"},
            "additionalProperties": LOGITS_ENTRY,
        },
        "format": {"const": FORMAT},
        "format_version": {"type": "integer"},
        "source": {"type": "string"},
        "options": {"type": "object"},
        "classes": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 100_000},
        "class_names": {"type": "array", "items": {"type": "string"}},
        "splits": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": False,
            "patternProperties": {
                "^(train|test)$": {
                    "type": "object",
                    "required": ["n", "shape", "images", "labels"],
                    "properties": {
                        "n": {"type": "integer", "minimum": 1},
                        "shape": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 4},
                        "images": FILE_ENTRY,
                        "labels": FILE_ENTRY,
                        "skipped": {"type": "array", "items": {"type": "string"}},
                    },
                }
            },
        },
    },
}


def read_manifest(folder: Path) -> dict[str, Any]:
    """``folder/prepared.json``, checked: one named error for a folder that is not (yet) a prepared dataset, one
    from another program or a newer unlogit, or a damaged manifest."""
    from ..runtime.checkpoint import read_json
    from ..runtime.json_schema import first_problem

    path = folder / MANIFEST
    if not path.is_file():
        hint = (
            "a prepare-data run into it has not finished: run the same command again to resume it"
            if any(folder.glob("*.partial")) or (folder / WORK).is_dir()
            else "make one with `unlogit prepare-data --dataset SPEC --size N --out DIR`"
        )
        raise UnlogitError(f"{folder} is not a prepared dataset (no {MANIFEST}): {hint}")
    manifest = read_json(path, "prepared-data manifest")  # a CheckpointError (an UnlogitError) names a bad file
    if isinstance(manifest, dict) and manifest.get("format") == FORMAT:
        if isinstance(manifest.get("format_version"), int) and manifest["format_version"] > FORMAT_VERSION:
            raise UnlogitError(
                f"{path} was written by a newer unlogit (format {manifest['format_version']}); upgrade unlogit"
            )
    problem = first_problem(manifest, SCHEMA)
    if problem is not None:
        raise UnlogitError(
            f"{path} is not a prepared-data manifest of this unlogit ({problem}); prepare the data again with "
            "`unlogit prepare-data`"
        )
    return manifest


def _open_array(folder: Path, entry: dict, dtype: type, shape: tuple[int, ...], n: int) -> np.ndarray:
    """The first ``n`` rows of one of a split's arrays as a copy-on-write memory map, checked against the
    manifest (size on disk, ``dtype``, ``shape``); the SHA-256 is checked by ``unlogit prepare-data --verify``,
    which reads every byte."""
    path = folder / entry["file"]
    if not path.is_file() or path.stat().st_size != entry["bytes"]:
        found = path.stat().st_size if path.is_file() else "missing"
        raise UnlogitError(
            f"{path} does not match {folder / MANIFEST} (size {found}, recorded {entry['bytes']}); the folder "
            "was changed after it was prepared: prepare it again"
        )
    try:
        array = np.load(path, mmap_mode="c", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UnlogitError(f"{path} is not a .npy array ({exc}); prepare the data again") from exc
    if array.dtype != dtype or array.shape != shape or array.shape[0] < n:
        raise UnlogitError(
            f"{path} holds {array.dtype} {array.shape}, not the {np.dtype(dtype)} {shape} its manifest records; "
            "prepare the data again"
        )
    return array[:n]


def load_prepared(folder: Path, split: str, name: str) -> ImageDataset:
    """The ``split`` of a prepared folder: images as a memory-mapped uint8 tensor (N, C, S, S), labels in memory."""
    manifest = read_manifest(folder)
    entry = manifest["splits"].get(split)
    if entry is None:
        raise UnlogitError(
            f"{folder} was prepared without its {split} split (it has {sorted(manifest['splits'])}); run "
            f"`unlogit prepare-data` with --splits {','.join(PREPARED_SPLITS)}"
        )
    shape, n = tuple(entry["shape"]), entry["n"]
    images = _open_array(folder, entry["images"], np.uint8, shape, n)
    labels = np.array(_open_array(folder, entry["labels"], np.int64, shape[:1], n))  # small: read into memory
    classes = manifest["classes"]
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise UnlogitError(f"{folder}: {split} labels span [{labels.min()}, {labels.max()}] for {len(classes)} classes")
    ds = ImageDataset(_tensor(images), torch.from_numpy(labels), list(classes), name, split, source=str(folder))
    ds.stored_logits = _stored_logits(folder, manifest, split, n)
    return ds


def _tensor(array: np.ndarray) -> torch.Tensor:
    with warnings.catch_warnings():  # a copy-on-write map is writable; torch's warning is for read-only ones
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


def _stored_logits(folder: Path, manifest: dict[str, Any], split: str, n: int) -> dict[str, StoredLogits]:
    """The logits stored for ``split``, by classifier digest, memory-mapped (N, K)."""
    out, rows = {}, manifest["splits"][split]["shape"][0]
    for digest, entry in manifest.get("logits", {}).items():
        file = entry["splits"].get(split)
        if file is None:
            continue
        values = _open_array(folder, file, np.dtype(entry["dtype"]).type, (rows, entry["num_classes"]), n)
        out[digest] = StoredLogits(_tensor(values), entry["spec"], digest, entry["size"], entry["origin"])
    return out


def prepared_files(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every array a manifest records, as (what it is, its file entry)."""
    files = [
        (f"{split} {key}", entry[key]) for split, entry in manifest["splits"].items() for key in ("images", "labels")
    ]
    for entry in manifest.get("logits", {}).values():
        files += [(f"{split} logits of {entry['spec']}", f) for split, f in entry["splits"].items()]
    return files


def verify_prepared(folder: Path) -> dict[str, Any]:
    """Read every byte of a prepared folder and compare each file's SHA-256 with its manifest; returns the
    manifest, or raises naming the first file that differs."""
    from ..runtime.checkpoint import file_sha256

    manifest = read_manifest(folder)
    for what, entry in prepared_files(manifest):
        path = folder / entry["file"]
        digest = file_sha256(path) if path.is_file() else "missing"
        if digest != entry["sha256"]:
            raise UnlogitError(
                f"{path} ({what}) does not match its SHA-256 in {folder / MANIFEST}: the file was changed "
                "or damaged after it was prepared; prepare the data again"
            )
    return manifest
