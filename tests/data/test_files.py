from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unlogit.data import get_dataset
from unlogit.errors import DataNotFoundError, UnlogitError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_npz_subset_of_real_cifar(cifar_npz, shared_data):
    ds = get_dataset(f"npz:{cifar_npz}", "test")
    assert ds.image_shape == (3, 32, 32) and len(ds) == 200
    with np.load(shared_data / "cifar10" / "lossless_subsets.npz") as z:
        ref = z["x_test_first1000"][5]
        assert np.array_equal(ds.images[5].permute(1, 2, 0).numpy(), ref)
        assert int(ds.labels[5]) == int(z["y_test_first1000"][5])


def test_cifar10_by_name_from_data_root(shared_data):
    ds = get_dataset("cifar10", "test", data_root=shared_data, size=100)
    assert ds.classes[0] == "airplane" and len(ds) == 100 and ds.image_shape == (3, 32, 32)


def test_npz_folder_uses_split(tmp_path):
    for split, n in (("train", 7), ("test", 3)):
        np.savez(tmp_path / f"{split}.npz", x=np.zeros((n, 8, 8, 3), np.uint8), y=np.zeros(n, np.int64))
    assert len(get_dataset(f"npz:{tmp_path}", "train")) == 7
    assert len(get_dataset(f"npz:{tmp_path}", "test")) == 3


def test_npz_with_wrong_members_or_dtype(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(UnlogitError, match="must contain arrays 'x'.*found \\['images'\\]"):
        get_dataset(f"npz:{bad}", "test")
    np.savez(bad, x=np.zeros((2, 4, 4, 3), np.float32), y=np.zeros(2))
    with pytest.raises(UnlogitError, match="uint8"):
        get_dataset(f"npz:{bad}", "test")
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UnlogitError, match="cannot read .*bad.npz"):
        get_dataset(f"npz:{bad}", "test")


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_idx_files_from_data_root(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    x = np.random.default_rng(0).integers(0, 255, (5, 28, 28))
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", x)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 9]))
    ds = get_dataset("fashion-mnist", "test", data_root=tmp_path)
    assert ds.image_shape == (1, 28, 28) and ds.labels.tolist() == [0, 1, 2, 3, 9]
    assert np.array_equal(ds.images[:, 0].numpy(), x)
    assert ds.classes[9] == "Ankle boot"


def test_truncated_idx_is_named(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28)))
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(5))
    raw = gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(raw[:-100])
    with pytest.raises(UnlogitError, match="t10k-images-idx3-ubyte.gz is truncated"):
        get_dataset("mnist", "test", data_root=tmp_path)


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_location():
    ds = get_dataset("fashion-mnist", "test")
    assert len(ds) == 10_000 and ds.image_shape == (1, 28, 28)
    assert torch.bincount(ds.labels).tolist() == [1000] * 10


def test_missing_dataset_lists_places_and_how(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        get_dataset("cifar100", "test", data_root=tmp_path / "nowhere")
    text = str(info.value)
    assert str(tmp_path / "nowhere") in text and "data.download=true" in text and "--data-root" in text


def test_unknown_dataset_lists_choices():
    with pytest.raises(UnlogitError, match="unknown dataset 'cifar11'.*shapes"):
        get_dataset("cifar11", "test")


def test_imagefolder_and_corrupt_file_is_named(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("RGB", (12, 12), (i * 100, 50, 0)).save(tmp_path / cls / f"{i}.png")
    ds = get_dataset(f"imagefolder:{tmp_path}", "train")
    assert ds.classes == ["cat", "dog"] and ds.image_shape == (3, 12, 12)
    assert ds.labels.tolist() == [0, 1, 0, 1]  # round-robin over classes: the first N stay balanced
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    with pytest.raises(UnlogitError, match=r"cannot read image .*broken\.jpg"):
        get_dataset(f"imagefolder:{tmp_path}", "train")


def test_imagefolder_mixed_sizes_says_how_to_fix(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (12, 12)).save(tmp_path / "a" / "0.png")
    Image.new("RGB", (16, 16)).save(tmp_path / "a" / "1.png")
    with pytest.raises(UnlogitError, match="data.image_size"):
        get_dataset(f"imagefolder:{tmp_path}", "train")


def test_adapt_channels_and_size():
    ds = get_dataset("shapes", "test", size=4)
    grey = ds.adapt(channels=1, size=28)
    assert grey.image_shape == (1, 28, 28)
    assert grey.adapt(channels=3).image_shape == (3, 28, 28)


def test_16_bit_pixels_scale_to_8_bits_exactly_as_the_float_formula_in_integers():
    import numpy as np

    from unlogit.data.files import scale_to_8_bits

    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    reference = np.clip(np.rint(every.astype(np.float64) * (255.0 / 65535)), 0, 255).astype(np.uint8)
    assert (scale_to_8_bits(every, "I;16") == reference).all()
    wide = np.arange(-1000, 70000, dtype=np.int32).reshape(-1, 71)  # 32-bit storage, out of range both ways
    reference = np.clip(np.rint(wide.astype(np.float64) * (255.0 / 65535)), 0, 255).astype(np.uint8)
    assert (scale_to_8_bits(wide, "I") == reference).all()
    eight = np.arange(256, dtype=np.int32).reshape(16, 16)  # 32-bit storage of 8-bit values stays as it is
    assert (scale_to_8_bits(eight, "I") == eight.astype(np.uint8)).all()
