"""unlogit: reconstruct images from a frozen classifier's logits, and measure what the logits keep.

Data flows one way: dataset -> classifier -> logits -> inverter -> images -> metrics -> report.

Quick use::

    import unlogit
    clf = unlogit.load_classifier("unlogit:cifar10-robust-s0")  # [0,1] images (N,C,H,W) -> logits (N,K)
    inv = unlogit.load_inverter("runs/demo/inverters/robust")    # bound to the classifier it inverts
    x_hat = inv.reconstruct(images, samples=4)                   # (N,4,C,H,W) in [0,1]
    unlogit.list_models()                                         # the shipped classifiers

Classifier specs (wherever a classifier is expected): ``unlogit:NAME`` (shipped weights), a run directory of
``unlogit train-classifier``, ``onnx:PATH``, ``timm:NAME?weights=FILE``, ``robustbench:NAME?model_dir=DIR``,
``torchvision:NAME`` (or a bare torchvision name; weights from the local cache or ``?weights=FILE``),
``torchscript:PATH``, ``export:PATH`` / ``PATH.pt2`` and ``pkg.module:factory@weights.pt``; options after
``?`` give the input convention (``mean=``, ``std=``, ``layout=nhwc``, ``size=N``, ``classes=FILE|K``).
The last three carry or run code: they load only when you name them, never because a file points at them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .version import __version__

__all__ = [
    "__version__",
    "evaluate",
    "list_datasets",
    "list_models",
    "load_classifier",
    "load_inverter",
    "reconstruct",
    "run_study",
    "train_classifier",
    "train_inverter",
]

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import torch

    from .classifiers.config import ClassifierRunConfig
    from .classifiers.normalized import NormalizedClassifier
    from .inversion.config import InverterRunConfig
    from .inversion.inverter import Inverter


def load_classifier(spec: str, device: str = "cpu", **kwargs: Any) -> NormalizedClassifier:
    """A frozen classifier from a spec (see the module docstring for every form): [0,1] images in, logits out.

    ``classes``, ``mean``, ``std``, ``num_classes``: defaults for a third-party network's convention."""
    from .classifiers.registry import load_classifier as _load

    return _load(spec, device=device, **kwargs)


def load_inverter(run: str | Path, device: str = "cpu", classifier: str | None = None) -> Inverter:
    """A trained inverter (GAN or baseline) from its run directory; ``classifier`` replaces the recorded one
    (how to use a code-carrying classifier, which a run directory may not select)."""
    from .inversion.inverter import load_inverter as _load

    return _load(run, device=device, classifier=classifier)


def train_classifier(cfg: ClassifierRunConfig, out: str | Path, resume: bool = False) -> dict[str, Any]:
    """Train a classifier (standard or PGD adversarial) into run directory ``out``; returns its summary."""
    from .classifiers.training import train_classifier as _train

    return _train(cfg, out, resume)


def train_inverter(cfg: InverterRunConfig, out: str | Path, resume: bool = False) -> dict[str, Any]:
    """Train an inverter (``cfg``: :class:`~unlogit.inversion.config.InverterRunConfig`) into run directory
    ``out``, with the held-out numbers of :class:`~unlogit.scoring.held_out.HeldOutScoring`; returns its summary."""
    from .scoring.held_out import train_and_score

    return train_and_score(cfg, out, resume)


def reconstruct(run: str | Path, images: torch.Tensor, samples: int = 4, seed: int = 0) -> torch.Tensor:
    """Reconstructions (N, samples, C, H, W) in [0,1] of ``images`` (N,C,H,W) in [0,1] by the inverter in ``run``."""
    return load_inverter(run).reconstruct(images, samples=samples, seed=seed)


def evaluate(
    runs: Sequence[str | Path],
    dataset: str,
    evaluators: Sequence[str],
    n: int = 1000,
    seed: int = 0,
    out: str | Path | None = None,
    data_root: str | None = None,
) -> dict[str, Any]:
    """Every inverter in ``runs`` on the first ``n`` test images of ``dataset`` with the same noise, judged by
    independent ``evaluators`` (classifier specs): the table of ``unlogit evaluate`` (written to ``out``)."""
    from pathlib import Path as _Path

    from .data.config import DataConfig
    from .scoring.evaluate import evaluate as _evaluate

    data = DataConfig(name=dataset, root=data_root, test_size=n).load("test")
    return _evaluate(list(runs), data, list(evaluators), seed=seed, out=_Path(out) if out else None)


def run_study(
    config: str | Path, out: str | Path, overrides: Sequence[str] = (), smoke: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """Run (or resume) a study — a name in ``configs/study`` or a YAML path — into ``out``, with the report;
    ``overrides`` are scoped ``KEY=VALUE`` items as on the command line. Returns the summary (claim verdict...)."""
    from pathlib import Path as _Path

    from .report.page import build_report
    from .study.config import open_study
    from .study.runner import run_study as _run

    study = open_study(str(config), overrides, smoke=smoke)
    return _run(study.cfg, _Path(out), study.every, source=study.source, reporter=build_report, **kwargs)


def list_models() -> dict[str, dict[str, Any]]:
    """The shipped classifiers (``unlogit:NAME``): what each is, its recipe, accuracy, size, SHA-256, command."""
    from .classifiers.runs import shipped_classifiers

    return shipped_classifiers()


def list_datasets() -> dict[str, str]:
    """Dataset names and ``PREFIX:PATH`` forms, each with one line on what it is."""
    from .data.registry import list_datasets as _list

    return _list()
