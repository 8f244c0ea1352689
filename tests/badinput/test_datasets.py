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


# --- ImageNet-layout folders and prepare-data ---------------------------------------------------------
def _prepare(capsys, tree, out, *extra: str) -> tuple[int, str]:
    from unlogit.cli import main

    code = main(["prepare-data", "--dataset", f"imagefolder:{tree}", "--size", "16", "--out", str(out), *extra])
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) <= 1, err
    return code, err


@pytest.fixture
def tree(tmp_path):
    from benchmarks.synthetic_imagenet import make_imagenet_tree

    return make_imagenet_tree(tmp_path / "tree", classes=3, train=3, val=1)


def test_cmyk_greyscale_and_alpha_images_are_converted_not_refused(tree, tmp_path, capsys):
    from PIL import Image

    folder = next((tree / "train").iterdir())
    Image.new("CMYK", (50, 40), (10, 200, 30, 0)).save(folder / "cmyk.JPEG")
    Image.new("L", (40, 50), 90).save(folder / "grey.JPEG")
    Image.new("RGBA", (30, 30), (1, 2, 3, 0)).save(folder / "alpha.png")
    assert _prepare(capsys, tree, tmp_path / "out")[0] == 0
    assert np.load(tmp_path / "out" / "train.images.npy").shape == (12, 3, 16, 16)


def test_a_truncated_jpeg_is_refused_by_path_or_skipped_and_listed(tree, tmp_path, capsys):
    bad = next((tree / "train").iterdir()) / "broken.JPEG"
    whole = next(bad.parent.glob("*_0.JPEG")).read_bytes()
    bad.write_bytes(whole[: len(whole) // 2])
    code, err = _prepare(capsys, tree, tmp_path / "out")
    assert code == 2 and "broken.JPEG" in err and "--skip-bad" in err
    assert not (tmp_path / "out" / "prepared.json").exists()  # nothing that reads as a dataset
    code, _ = _prepare(capsys, tree, tmp_path / "skipping", "--skip-bad")
    manifest = __import__("json").loads((tmp_path / "skipping" / "prepared.json").read_text())
    assert code == 0 and manifest["splits"]["train"]["n"] == 9
    assert [p.rsplit("/", 1)[-1] for p in manifest["splits"]["train"]["skipped"]] == ["broken.JPEG"]


def test_an_empty_class_folder_is_refused_by_name(tree, tmp_path, capsys):
    (tree / "train" / "n09999999").mkdir()
    (tree / "val" / "n09999999").mkdir()
    code, err = _prepare(capsys, tree, tmp_path / "out")
    assert code == 2 and "n09999999 holds no images" in err


def test_a_val_folder_with_other_classes_is_refused(tree, tmp_path, capsys):
    first = next((tree / "val").iterdir())
    first.rename(first.with_name("n09999999"))
    code, err = _prepare(capsys, tree, tmp_path / "out")
    assert code == 2 and "differ" in err and "n09999999" in err


def test_pointing_at_one_split_of_a_tree_is_refused(tree):
    with pytest.raises(UnlogitError, match="one split of"):
        get_dataset(f"imagefolder:{tree / 'train'}", "test")


def test_a_folder_of_another_program_is_not_a_prepared_dataset(tmp_path, capsys):
    from unlogit.cli import main

    (tmp_path / "prepared.json").write_text('{"format": "something else"}')
    assert main(["train-classifier", "--preset", "tiny", f"data.name=prepared:{tmp_path}"]) == 2
    assert "not a prepared-data manifest" in capsys.readouterr().err
