"""Datasets by name: ``get_dataset(name, split, ...)``.

Two registries: :data:`DATASETS` (named datasets: ``shapes``, ``fashion-mnist``, ``mnist``, ``cifar10``,
``cifar100``, ``svhn``, ``tinyimagenet``) and :data:`DATA_SOURCES` (a prefix and a path: ``npz:PATH``,
``imagefolder:PATH``, ``images:PATH``, ``prepared:DIR``). A name is resolved by its prefix first, then as a
dataset name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..runtime.registry import Registry
from .base import ImageDataset
from .files import from_torchvision, load_idx_pair, load_image_collection, load_imagefolder, load_npz
from .search import first_existing, not_found, search_roots
from .shapes import load_shapes
from .tinyimagenet import load_tinyimagenet

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
MNIST_CLASSES = [str(i) for i in range(10)]
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about a dataset before loading it."""

    name: str
    loader: Callable[..., ImageDataset]
    how_to_get: str
    summary: str
    procedural: bool = False  # rendered on demand: every split (train, val, test) at any size


@dataclass(frozen=True)
class DataSource:
    """Data named by a path: ``PREFIX:PATH`` -> ``load(path, split, options) -> ImageDataset``."""

    prefix: str
    summary: str
    load: Callable[[Path, str, dict], ImageDataset]


def is_procedural(name: str) -> bool:
    """Whether ``name`` is rendered on demand (it then has its own validation split)."""
    return name in DATASETS and DATASETS.get(name).procedural


def source_of(name: str) -> DataSource | None:
    """The path source a name's prefix selects (``npz:``...), or None for a dataset name."""
    return next((s for s in DATA_SOURCES.values() if name.startswith(s.prefix)), None)


def get_dataset(
    name: str,
    split: str = "train",
    data_root: str | os.PathLike[str] | None = None,
    size: int | None = None,
    seed: int = 0,
    download: bool = False,
    start: int = 0,
    skip_bad: bool = False,
    image_size: int | None = None,
) -> ImageDataset:
    """Load a dataset by name (see the module docstring).

    Args:
        name: a dataset name or ``PREFIX:PATH``.
        split: ``train`` or ``test``.
        data_root: extra folder searched first (``--data-root``).
        size: keep only the first ``size`` samples (for ``shapes``: generate that many).
        seed: the procedural seed (``shapes`` only).
        download: allow torchvision to download when the files are not found locally.
        start: procedural datasets: the first sample index rendered.
        skip_bad: ``images:PATH`` only: leave unreadable files out (counted).
        image_size: ``images:`` and ``imagefolder:``: center-crop and resize each image while decoding.

    File datasets have the splits ``train`` and ``test``; :class:`~unlogit.data.config.DataConfig`
    carves the validation split from ``train``. Procedural ones render ``val`` too.
    """
    source = source_of(name)
    info = None if source is not None else _named(name)
    allowed = ("train", "val", "test") if info is not None and info.procedural else SPLITS
    if split not in allowed:
        raise ConfigError(f"unknown split {split!r} for {name}; choose one of {list(allowed)}")
    if source is not None:
        path = Path(name[len(source.prefix) :]).expanduser()
        ds = source.load(path, split, {"skip_bad": skip_bad, "image_size": image_size, "name": name})
    elif info.procedural:
        return info.loader(split, size=size, seed=seed, start=start)
    else:
        ds = info.loader(split, data_root, download)
    if size is not None and size < len(ds):
        ds = ds.subset(size)
    if len(ds) == 0:
        raise ConfigError(f"dataset {name} ({split}) holds no images; give a file or folder with at least one")
    return ds


def _named(name: str) -> DatasetInfo:
    if name not in DATASETS:
        forms = ", ".join(f"{s.prefix}PATH" for s in DATA_SOURCES.values())
        raise ConfigError(f"{DATASETS.unknown(name)}, or {forms}")
    return DATASETS.get(name)


def list_datasets() -> dict[str, str]:
    """Dataset name or ``PREFIX:PATH`` -> one-line summary."""
    out = {n: info.summary for n, info in DATASETS.items()}
    out.update({f"{s.prefix}PATH": s.summary for s in DATA_SOURCES.values()})
    return out


# --- loaders --------------------------------------------------------------------------------------
def _load_npz_spec(path: Path, split: str, opts: dict, classes: list[str] | None = None) -> ImageDataset:
    name = opts["name"]
    if path.is_dir():
        file = path / f"{split}.npz"
        if not file.is_file():
            raise not_found(name, [file], f"put {split}.npz (x uint8 N,H,W,C; y N) in {path}")
        return load_npz(file, name, split, classes)
    if not path.is_file():
        raise not_found(name, [path], "give the path of an .npz file with arrays x (uint8 N,H,W,C) and y (N,)")
    return load_npz(path, name, split, classes)


def _mnist_family(name: str, folders: list[str], tv_class: str, classes: list[str], extra: list[Path]):
    prefix = {"train": "train", "test": "t10k"}

    def load(split: str, data_root, download: bool) -> ImageDataset:
        looked: list[Path] = []
        for root in [*search_roots(data_root), *extra]:
            for folder in [*(root / f for f in folders), root]:
                img = first_existing(folder / f"{prefix[split]}-images-idx3-ubyte{ext}" for ext in (".gz", ""))
                lab = first_existing(folder / f"{prefix[split]}-labels-idx1-ubyte{ext}" for ext in (".gz", ""))
                looked.append(folder)
                if img and lab:
                    return load_idx_pair(img, lab, name, split, classes)
        if download:
            import torchvision.datasets as tvd

            root = search_roots(data_root)[0]
            ds = getattr(tvd, tv_class)(str(root), train=split == "train", download=True)
            return load_idx_pair(*_tv_raw_files(Path(ds.raw_folder), prefix[split]), name, split, classes)
        raise not_found(
            name,
            looked,
            (
                f"apt-get install dataset-fashion-mnist (Debian) puts it in {DEBIAN_FASHION}; or "
                if name == "fashion-mnist"
                else ""
            )
            + f"place the IDX files ({prefix[split]}-images-idx3-ubyte.gz, ...) in DIR/{name}/; "
            "or allow torchvision's download with data.download=true (needs internet)",
        )

    return load


def _tv_raw_files(raw: Path, prefix: str) -> tuple[Path, Path]:
    img = first_existing(raw / f"{prefix}-images-idx3-ubyte{e}" for e in ("", ".gz"))
    lab = first_existing(raw / f"{prefix}-labels-idx1-ubyte{e}" for e in ("", ".gz"))
    assert img and lab, f"torchvision download left no IDX files in {raw}"
    return img, lab


def _torchvision_family(name: str, tv_class: str, folders: list[str], tv_folder: str, classes: list[str] | None):
    def load(split: str, data_root, download: bool) -> ImageDataset:
        looked: list[Path] = []
        roots = search_roots(data_root)
        for root in roots:
            for folder in [*(root / f for f in folders), root]:
                npz = folder / f"{split}.npz"
                looked.append(npz)
                if npz.is_file():
                    return load_npz(npz, name, split, classes)
            looked.append(root / tv_folder)
            if (root / tv_folder).is_dir():
                return _torchvision_load(root, split, download=False)
        if download:
            return _torchvision_load(roots[0], split, download=True)
        raise not_found(
            name,
            looked,
            f"torchvision's format ({tv_folder}/ under DIR), or {split}.npz with x uint8 (N,H,W,C) and y "
            f"in DIR/{folders[0]}/; or allow torchvision's download with data.download=true (needs internet)",
        )

    def _torchvision_load(root: Path, split: str, download: bool) -> ImageDataset:
        import torchvision.datasets as tvd

        cls = getattr(tvd, tv_class)
        if tv_class != "SVHN" and not download:  # a folder on disk: read its pickles without running code
            from .cifar_batches import load_cifar_folder

            ds = load_cifar_folder(root, name, split)
            return ds if classes is None else ImageDataset(ds.images, ds.labels, classes, name, split, source=ds.source)
        if tv_class == "SVHN":
            ds = cls(str(root / tv_folder), split=split, download=download)
            names = [str(i) for i in range(10)]
        else:
            ds = cls(str(root), train=split == "train", download=download)
            names = list(ds.classes)
        return from_torchvision(ds, name, split, classes or names, str(root))

    return load


def _load_images(root: Path, split: str, opts: dict) -> ImageDataset:
    if not root.is_dir():
        raise not_found(opts["name"], [root], "give a folder of PNG/JPEG files (searched recursively; no labels)")
    ds = load_image_collection(root, opts["image_size"], opts["skip_bad"])
    ds.split = split
    return ds


def _load_imagefolder(root: Path, split: str, opts: dict) -> ImageDataset:
    if not root.is_dir():
        raise not_found(opts["name"], [root], "give the folder that holds one subfolder of images per class")
    return load_imagefolder(root, split, opts["image_size"])


def _load_prepared(root: Path, split: str, opts: dict) -> ImageDataset:
    from .prepared import load_prepared

    return load_prepared(root, split, opts["name"])


DATA_SOURCES: Registry[DataSource] = Registry("data source")
for _source in (
    DataSource(
        "npz:", "any .npz with x uint8 (N,H,W,C) and y (N,), or a folder with train.npz/test.npz", _load_npz_spec
    ),
    DataSource(
        "imagefolder:", "your own images, PATH/<class>/<image> (or PATH/<split>/<class>/<image>)", _load_imagefolder
    ),
    DataSource(
        "images:", "any folder of PNG/JPEG images, no labels (inversion needs only images and logits)", _load_images
    ),
    DataSource(
        "prepared:",
        "a folder made by `unlogit prepare-data` (ImageNet scale): memory-mapped, shared by every process",
        _load_prepared,
    ),
):
    DATA_SOURCES.register(_source.prefix, _source)

_DATASETS: dict[str, DatasetInfo] = {
    "shapes": DatasetInfo(
        "shapes",
        load_shapes,
        "built in (procedural)",
        "procedural 32x32 RGB shapes, 10 classes, known nuisance factors (the default)",
        procedural=True,
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        _mnist_family(
            "fashion-mnist",
            ["fashion-mnist", "FashionMNIST/raw", "fashion_mnist"],
            "FashionMNIST",
            FASHION_CLASSES,
            [DEBIAN_FASHION],
        ),
        "apt-get install dataset-fashion-mnist",
        "Fashion-MNIST, 28x28 greyscale, 10 classes (IDX files)",
    ),
    "mnist": DatasetInfo(
        "mnist",
        _mnist_family("mnist", ["mnist", "MNIST/raw"], "MNIST", MNIST_CLASSES, []),
        "torchvision download",
        "MNIST digits, 28x28 greyscale (IDX files)",
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        _torchvision_family("cifar10", "CIFAR10", ["cifar10", "cifar-10"], "cifar-10-batches-py", CIFAR10_CLASSES),
        "torchvision download or train.npz/test.npz",
        "CIFAR-10, 32x32 RGB, 10 classes",
    ),
    "cifar100": DatasetInfo(
        "cifar100",
        _torchvision_family("cifar100", "CIFAR100", ["cifar100", "cifar-100"], "cifar-100-python", None),
        "torchvision download or train.npz/test.npz",
        "CIFAR-100, 32x32 RGB, 100 classes",
    ),
    "tinyimagenet": DatasetInfo(
        "tinyimagenet",
        lambda split, root, download: load_tinyimagenet(split, root, download),
        "the official tiny-imagenet-200 folder or zip",
        "Tiny ImageNet, 64x64 RGB, 200 classes (val as test)",
    ),
    "svhn": DatasetInfo(
        "svhn",
        _torchvision_family("svhn", "SVHN", ["svhn"], "svhn", [str(i) for i in range(10)]),
        "torchvision download or train.npz/test.npz",
        "SVHN house numbers, 32x32 RGB, 10 classes",
    ),
}

DATASETS: Registry[DatasetInfo] = Registry("dataset")
for _name, _info in _DATASETS.items():
    DATASETS.register(_name, _info)
