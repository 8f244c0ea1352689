"""``unlogit prepare-data``: one parallel pass into memory-mappable arrays, equal to decoding the folder directly,
resumable after a kill, refusing a changed rerun, and never leaving a half-written folder that reads as data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.synthetic_imagenet import make_imagenet_tree, wnids
from unlogit.cli import main
from unlogit.data.config import DataConfig
from unlogit.data.prepare import PrepareOptions, prepare_data
from unlogit.data.prepared import MANIFEST
from unlogit.errors import UnlogitError


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_imagenet_tree(tmp_path_factory.mktemp("imagenet"), classes=4, train=5, val=2)


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.load(p) for p in sorted(folder.glob("*.npy"))}


def test_prepared_data_equals_the_folder_decoded_directly_with_val_as_test(tree, tmp_path):
    out = tmp_path / "prep"
    assert main(["prepare-data", "--dataset", f"imagefolder:{tree}", "--size", "24", "--out", str(out)]) == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["classes"] == wnids(4) and manifest["class_names"][0] == "tench"
    assert {s: e["n"] for s, e in manifest["splits"].items()} == {"train": 20, "test": 8}
    for split in ("train", "test"):
        direct = DataConfig(name=f"imagefolder:{tree}", image_size=24, val_size=4).load(split)
        mapped = DataConfig(name=f"prepared:{out}", val_size=4).load(split)
        assert torch.equal(direct.images, mapped.images) and torch.equal(direct.labels, mapped.labels)
        assert mapped.classes == wnids(4) and mapped.image_shape == (3, 24, 24)
    test = DataConfig(name=f"prepared:{out}").load("test")
    files = sorted(p.name for p in (tree / "val").rglob("*.JPEG"))
    assert len(test) == len(files) == 8  # the test split is val/, not the training images


def test_one_and_two_workers_write_the_same_bytes(tree, tmp_path):
    for workers in (0, 2):
        prepare_data(PrepareOptions(f"imagefolder:{tree}", 16), tmp_path / f"w{workers}", workers=workers)
    one, two = _arrays(tmp_path / "w0"), _arrays(tmp_path / "w2")
    assert one.keys() == two.keys() and all(np.array_equal(one[k], two[k]) for k in one)


def test_a_killed_prepare_resumes_to_the_same_bytes_and_a_changed_one_is_refused(tree, tmp_path, kill_prepare):
    options = PrepareOptions(f"imagefolder:{tree}", 16)
    prepare_data(options, tmp_path / "straight", workers=0)
    restore = kill_prepare(3)  # a kill between two saved positions
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        prepare_data(options, out, workers=0)
    assert not (out / MANIFEST).exists() and list(out.glob("*.partial"))  # not a dataset yet
    with pytest.raises(UnlogitError, match="not a prepared dataset.*resume"):
        DataConfig(name=f"prepared:{out}").load("test")
    with pytest.raises(UnlogitError, match="size differ"):
        prepare_data(PrepareOptions(f"imagefolder:{tree}", 20), out, workers=0)
    restore()
    prepare_data(options, out, workers=0)
    straight, resumed = _arrays(tmp_path / "straight"), _arrays(out)
    assert all(np.array_equal(straight[k], resumed[k]) for k in straight) and not list(out.glob("*.partial"))
    assert prepare_data(options, out)["splits"]["train"]["n"] == 20  # done: returned as it is
    with pytest.raises(UnlogitError, match="already a prepared dataset with other options.*size"):
        prepare_data(PrepareOptions(f"imagefolder:{tree}", 20), out)


def test_a_prepared_folder_checks_its_files_against_the_manifest(tree, tmp_path):
    out = tmp_path / "prep"
    prepare_data(PrepareOptions(f"imagefolder:{tree}", 16, ("test",)), out, workers=0)
    with pytest.raises(UnlogitError, match="without its train split"):
        DataConfig(name=f"prepared:{out}").load("train")
    assert main(["prepare-data", "--verify", str(out)]) == 0
    images = out / "test.images.npy"
    data = bytearray(images.read_bytes())
    data[-1] ^= 0xFF  # one byte changed, same size: only the hash sees it
    images.write_bytes(bytes(data))
    assert main(["prepare-data", "--verify", str(out)]) == 2
    assert main(["prepare-data", "--out", str(out)]) == 2  # neither --verify nor --dataset/--size
    with images.open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(UnlogitError, match="does not match"):
        DataConfig(name=f"prepared:{out}").load("test")
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(UnlogitError, match="newer unlogit"):
        DataConfig(name=f"prepared:{out}").load("test")
    (out / MANIFEST).write_text(json.dumps({**manifest, "format": "other"}))
    with pytest.raises(UnlogitError, match="not a prepared-data manifest"):
        DataConfig(name=f"prepared:{out}").load("test")


def test_a_loaded_source_is_prepared_too(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (12, 20, 30, 3), dtype=np.uint8)
    np.savez(tmp_path / "train.npz", x=x, y=np.arange(12) % 3)
    np.savez(tmp_path / "test.npz", x=x[:6], y=np.arange(6) % 3)
    manifest = prepare_data(PrepareOptions(f"npz:{tmp_path}", 8), tmp_path / "prep")
    assert manifest["splits"]["train"]["shape"] == [12, 3, 8, 8]
    assert len(DataConfig(name=f"prepared:{tmp_path / 'prep'}", val_size=2).load("train")) == 10
