"""Bad input, surface: dataset files. Loaders read data only, bound what a label can make them allocate,
and name the file and the fix."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from unlogit.data import get_dataset
from unlogit.errors import UnlogitError

from ..conftest import write_idx


def _cifar_folder(root, evil: bool = False):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {b"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
        with (folder / name).open("wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    with (folder / "batches.meta").open("wb") as fh:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, fh, protocol=2)
    if evil:

        class Boom:
            def __reduce__(self):
                return (print, ("code from a data file ran",))

        with (folder / "test_batch").open("wb") as fh:
            pickle.dump({b"data": Boom()}, fh)
    return root


def test_a_cifar_folder_is_read_without_running_code(tmp_path, capsys):
    ds = get_dataset("cifar10", "test", data_root=_cifar_folder(tmp_path / "ok"))
    assert ds.image_shape == (3, 32, 32) and ds.labels.tolist() == [0, 1, 2, 3]
    with pytest.raises(UnlogitError, match="refused to load builtins.print.*test_batch|test_batch.*refused"):
        get_dataset("cifar10", "test", data_root=_cifar_folder(tmp_path / "evil", evil=True))
    assert "code from a data file ran" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "y, message",
    [
        (np.array([2**40, 0]), "would make 1099511627777 classes"),
        (np.array(["cat", "dog"]), "must be integers"),
        (np.array([0.7, 1.0]), "must be integers"),
        (np.array([-1, 0]), "must be >= 0"),
    ],
)
def test_npz_labels_are_checked(tmp_path, y, message):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((2, 8, 8, 3), np.uint8), y=y)
    with pytest.raises(UnlogitError, match=message):
        get_dataset(f"npz:{path}", "train")


def test_a_truncated_idx_header_is_named(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(5))
    import gzip

    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(bytes([0, 0, 8, 3, 0, 0]))  # a header cut off after 6 bytes
    with pytest.raises(UnlogitError, match="truncated header"):
        get_dataset("mnist", "test", data_root=tmp_path)
