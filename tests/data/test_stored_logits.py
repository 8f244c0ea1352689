"""``prepare-data --logits``: each classifier's logits stored once per image, from the crop it is meant to see,
row for row with the stored images (skipped files included), resumable, added to a finished folder without
touching its images, and carried by ``prepared:DIR`` subsets as memory-mapped views."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.synthetic_imagenet import make_imagenet_tree
from unlogit.classifiers.registry import load_classifier
from unlogit.classifiers.stored import ClassifierLogits
from unlogit.cli import main
from unlogit.data.config import DataConfig
from unlogit.data.files import list_imagefolder, load_image_sizes
from unlogit.data.prepare import PrepareOptions, prepare_data
from unlogit.data.prepared import MANIFEST
from unlogit.data.registry import get_dataset
from unlogit.data.stored_logits import LogitWriters, logits_file
from unlogit.errors import UnlogitError

ROBUST, STANDARD = "unlogit:cifar10-robust-s0", "unlogit:cifar10-standard-s0"


class Renamed:
    """A :class:`~unlogit.data.stored_logits.LogitModel` with the weights (digest) of ``spec`` that takes any size."""

    def __init__(self, spec: str) -> None:
        self.clf = load_classifier(spec)
        self.spec, self.digest, self.num_classes = f"{spec}?renamed", self.clf.weights_digest(), self.clf.num_classes

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.clf.predict_logits(torch.nn.functional.interpolate(images.float() / 255, size=32))


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_imagenet_tree(tmp_path_factory.mktemp("imagenet"), classes=4, train=5, val=2)


def _writers(specs: list[str], size: int | None, stored: int = 16) -> LogitWriters:
    """The writers for ``specs``, classifying ``size``-px crops of the originals (None: the ``stored``-px images)."""
    return LogitWriters([ClassifierLogits(s, size or stored, torch.device("cpu")) for s in specs], size)


def test_logits_come_from_the_crop_of_each_original_file_row_for_row(tree, tmp_path):
    """Stored at 16 px, classified on the 32-px center crop of the original (the paper's 224-px setting in small):
    row i is the classifier's logits of image i's crop, within float16's rounding, and differs from what the
    classifier gives the stored 16-px image upsampled."""
    bad = tree / "train" / sorted(p.name for p in (tree / "train").iterdir())[1] / "broken.JPEG"
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    try:
        out = tmp_path / "prep"
        manifest = prepare_data(
            PrepareOptions(f"imagefolder:{tree}", 16, skip_bad=True), out, 0, _writers([ROBUST], 32)
        )
        files = [p for p, _ in list_imagefolder(tree, "train").files if p != bad]
    finally:
        bad.unlink()
    assert manifest["splits"]["train"]["skipped"] == [str(bad)]
    clf = load_classifier(ROBUST)
    entry = manifest["logits"][clf.weights_digest()]
    assert (entry["spec"], entry["size"], entry["origin"], entry["dtype"]) == (ROBUST, 32, "source", "float16")
    crops = np.stack([load_image_sizes(p, "RGB", (32,))[0] for p in files])
    expected = clf.predict_logits(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255)
    train = DataConfig(name=f"prepared:{out}", val_size=4).load("train")
    full = DataConfig(name=f"prepared:{out}", val_size=4, train_size=100).load("val")  # last 4 of the file
    stored = np.load(out / logits_file(clf.weights_digest(), "train"))
    assert stored.shape == (len(files) + 1, 10) and len(train) + len(full) == len(files)  # the skipped row: unused
    assert torch.allclose(torch.from_numpy(stored[: len(files)]).float(), expected, atol=2e-3, rtol=2e-3)
    upsampled = clf.predict_logits(torch.nn.functional.interpolate(train.batch(torch.arange(4))[0], size=32))
    assert not torch.allclose(upsampled, expected[:4], atol=0.05)  # the crop's logits are not the 16-px image's


def test_a_subset_keeps_its_rows_as_a_memory_mapped_view(tree, tmp_path):
    out = tmp_path / "prep"
    prepare_data(PrepareOptions(f"imagefolder:{tree}", 32), out, 2, _writers([ROBUST, STANDARD], None, stored=32))
    whole = DataConfig(name=f"prepared:{out}").load("test")  # class-interleaved: an index subset
    first = DataConfig(name=f"prepared:{out}", test_size=3).load("test")
    for digest, logits in whole.stored_logits.items():
        assert torch.equal(first.stored_logits[digest].values, logits.values[:3])
        assert logits.values.dtype == torch.float16 and logits.origin == "stored" and logits.size == 32
    clf = load_classifier(STANDARD)
    computed = clf.predict_logits(whole.batch(torch.arange(len(whole)))[0])
    stored = whole.stored_logits[clf.weights_digest()].rows(torch.arange(len(whole)))
    assert torch.allclose(stored, computed, atol=2e-3, rtol=2e-3)
    plain = DataConfig(name=f"prepared:{out}", val_size=4).load("train").subset(torch.tensor([3, 1]))
    assert plain.stored_logits[clf.weights_digest()].values.shape == (2, 10)


def test_logits_are_added_to_a_finished_folder_without_touching_its_images(tree, tmp_path):
    out = tmp_path / "prep"
    prepare_data(PrepareOptions(f"imagefolder:{tree}", 16), out, 0, _writers([ROBUST], 32))
    before = json.loads((out / MANIFEST).read_text())
    images = (out / "train.images.npy").read_bytes()
    args = ["prepare-data", "--dataset", f"imagefolder:{tree}", "--size", "16", "--out", str(out), "--workers", "0"]
    assert main([*args, "--logits", STANDARD, "--logits", ROBUST, "--logit-size", "32"]) == 0
    after = json.loads((out / MANIFEST).read_text())
    assert after["splits"] == before["splits"] and (out / "train.images.npy").read_bytes() == images
    assert set(after["logits"]) == set(before["logits"]) | {load_classifier(STANDARD).weights_digest()}
    assert main(["prepare-data", "--verify", str(out)]) == 0
    with pytest.raises(UnlogitError, match="from 32-px crops, not 48"):
        prepare_data(PrepareOptions(f"imagefolder:{tree}", 16), out, 0, LogitWriters([Renamed(ROBUST)], 48))
    with pytest.raises(UnlogitError, match="same weights"):
        _writers([ROBUST, ROBUST], 32)


def test_a_killed_prepare_with_logits_resumes_to_the_same_bytes(tree, tmp_path, kill_prepare):
    options = PrepareOptions(f"imagefolder:{tree}", 16)
    prepare_data(options, tmp_path / "straight", 0, _writers([ROBUST], 32))
    restore = kill_prepare(3)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        prepare_data(options, out, 0, _writers([ROBUST], 32))
    with pytest.raises(UnlogitError, match="logits differ"):
        prepare_data(options, out, 0, LogitWriters([Renamed(ROBUST)], 24))  # the same images, other crops
    restore()
    prepare_data(options, out, 0, _writers([ROBUST], 32))
    for path in sorted((tmp_path / "straight").glob("*.npy")):
        assert path.read_bytes() == (out / path.name).read_bytes(), path.name


def test_a_loaded_source_stores_logits_too(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (12, 40, 48, 3), dtype=np.uint8)
    np.savez(tmp_path / "train.npz", x=x, y=np.arange(12) % 3)
    np.savez(tmp_path / "test.npz", x=x[:6], y=np.arange(6) % 3)
    manifest = prepare_data(PrepareOptions(f"npz:{tmp_path}", 8), tmp_path / "prep", 0, _writers([ROBUST], 32))
    ds = get_dataset(f"prepared:{tmp_path / 'prep'}", "test")  # file order
    (stored,) = ds.stored_logits.values()
    crops = torch.from_numpy(x[:6, :, 4:44]).permute(0, 3, 1, 2).float()  # the central 40x40 of 40x48
    seen = torch.nn.functional.interpolate(crops, size=32, mode="bilinear", antialias=True).round() / 255
    expected = load_classifier(ROBUST).predict_logits(seen)
    assert torch.allclose(stored.rows(torch.arange(6)), expected, atol=2e-3, rtol=2e-3)
    assert manifest["logits"][stored.digest]["origin"] == "source" and ds.image_shape == (3, 8, 8)
