"""What the worked examples share: an untrained classifier saved as a run directory (no training needed)."""

from __future__ import annotations

from pathlib import Path


def untrained_classifier_run(folder: Path) -> Path:
    """A small CNN for shapes' 32x32 RGB images and 10 classes, saved like `unlogit train-classifier` saves."""
    import torch

    from unlogit.classifiers.archs import ArchSpec, build_arch
    from unlogit.classifiers.normalized import NormalizedClassifier
    from unlogit.classifiers.runs import save_run_classifier
    from unlogit.data.shapes import SHAPE_CLASSES

    torch.manual_seed(0)
    spec = ArchSpec("small-cnn", num_classes=10, in_channels=3, image_size=32, width=4)
    clf = NormalizedClassifier(build_arch(spec), SHAPE_CLASSES, (0.5,) * 3, (0.25,) * 3, (3, 32, 32))
    save_run_classifier(folder, clf, spec, {"note": "untrained, for the examples"})
    return folder


QUICK_TRAIN = [
    "train.progress=false",
    "data.train_size=256",
    "data.val_size=32",
    "train.eval_size=16",
    "train.amp=off",
    "train.channels_last=false",
    "train.compile=false",
]  # a few seconds of the `tiny` inverter preset on CPU, without the measured fast path


def quick_inverter_config(classifier_run: Path, *overrides: str):
    """The `tiny` inverter preset for ``classifier_run`` with :data:`QUICK_TRAIN` and ``overrides``."""
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig

    return build_config(
        InverterRunConfig, "inverter", "tiny", [*overrides, *QUICK_TRAIN], {"classifier": str(classifier_run)}
    )
