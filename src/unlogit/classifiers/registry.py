"""Classifier registry: one spec string -> a frozen :class:`NormalizedClassifier`.

Accepted specs:
    ``runs/clf-shapes``                     a run directory written by ``unlogit train-classifier``
    ``torchvision:resnet18`` or ``resnet18`` a torchvision model; weights only from the local torch
                                            hub cache (``$TORCH_HOME/hub/checkpoints``), never downloaded
    ``export:PATH`` or ``PATH.pt2``         a ``torch.export`` program taking [0,1] images
    ``torchscript:PATH``                    a TorchScript file taking [0,1] images
    ``pkg.module:factory@STATE.pt``         ``factory()`` builds the network, the state dict is read
                                            with ``torch.load(weights_only=True)``

Third-party models are assumed to take [0,1] inputs; pass ``mean``/``std`` if they expect
normalised ones, and ``classes`` to name their outputs.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, UnlogitError
from ..runtime.checkpoint import load_checkpoint, save_checkpoint
from .archs import build_arch
from .normalized import NormalizedClassifier

CLASSIFIER_KIND = "unlogit.classifier"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_classifier(
    spec: str,
    device: str | torch.device = "cpu",
    classes: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    num_classes: int | None = None,
) -> NormalizedClassifier:
    """Resolve ``spec`` (see module docstring) into a frozen classifier on ``device``."""
    path = Path(spec).expanduser()
    if path.is_dir():
        clf = load_run_classifier(path)
    elif spec.startswith("torchscript:"):
        clf = _external(_load_torchscript(Path(spec[len("torchscript:") :])), spec, classes, mean, std, num_classes)
    elif spec.startswith("export:") or spec.endswith(".pt2"):
        file = Path(spec[len("export:") :] if spec.startswith("export:") else spec)
        clf = _external(_load_export(file), spec, classes, mean, std, num_classes)
    elif spec.startswith("torchvision:") or _is_torchvision_name(spec):
        clf = _load_torchvision(spec.removeprefix("torchvision:"), mean, std)
    elif _looks_like_factory(spec):
        clf = _external(_load_factory(spec), spec, classes, mean, std, num_classes)
    elif "/" in spec or spec.startswith("."):
        raise UnlogitError(f"classifier run directory {spec!r} does not exist; check the path")
    else:
        raise UnlogitError(
            f"cannot resolve classifier {spec!r}: not a run directory, torchvision name, .pt2/export:PATH, "
            "torchscript:PATH or pkg.module:factory@weights.pt"
        )
    return clf.to(device).frozen()


# --- the project's own run directories -----------------------------------------------------------
def save_run_classifier(run: Path, clf: NormalizedClassifier, arch_spec: dict[str, Any], summary: dict) -> None:
    """Write ``RUN/model.{safetensors,json}`` (what :func:`load_run_classifier` reads)."""
    save_checkpoint(
        run / "model",
        clf.model.state_dict(),
        {
            "arch": arch_spec,
            "classes": clf.classes,
            "mean": clf.mean.flatten().tolist(),
            "std": clf.std.flatten().tolist(),
            "input_shape": list(clf.input_shape) if clf.input_shape else None,
            "summary": summary,
        },
        kind=CLASSIFIER_KIND,
    )


def load_run_classifier(run: Path) -> NormalizedClassifier:
    """Rebuild a classifier from a run directory (no pickles)."""
    if not (run / "model.json").is_file():
        kind = _run_kind(run)
        hint = f" (it is a {kind!r} run)" if kind else ""
        raise CheckpointError(
            f"{run} is not a classifier run directory{hint}: no model.json; "
            "train one with `unlogit train-classifier` or give another classifier spec"
        )
    tensors, meta = load_checkpoint(run / "model", CLASSIFIER_KIND)
    net = build_arch(meta["arch"])
    try:
        net.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {run} do not fit architecture {meta['arch']}: {exc}") from exc
    info = {"spec": str(run), "arch": meta["arch"], "summary": meta.get("summary", {}),
            "weights_sha256": meta.get("tensor_sha256")}  # fmt: skip
    shape = tuple(meta["input_shape"]) if meta.get("input_shape") else None
    return NormalizedClassifier(net, meta["classes"], meta["mean"], meta["std"], shape, info)


def _run_kind(run: Path) -> str | None:
    import json

    try:
        return json.loads((run / "run.json").read_text()).get("kind")
    except (OSError, ValueError):
        return None


# --- third-party models ---------------------------------------------------------------------------
def _external(
    model: torch.nn.Module,
    spec: str,
    classes: Sequence[str] | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    num_classes: int | None,
) -> NormalizedClassifier:
    channels = len(mean) if mean is not None else 3
    if classes is None:
        k = num_classes
        if k is None:
            raise UnlogitError(f"classifier {spec!r}: pass its class names (or the dataset) so outputs can be named")
        classes = [str(i) for i in range(k)]
    mean = mean if mean is not None else (0.0,) * channels
    std = std if std is not None else (1.0,) * channels
    return NormalizedClassifier(model, classes, mean, std, None, {"spec": spec, "arch": "external"})


def _load_torchscript(path: Path) -> torch.nn.Module:
    if not path.is_file():
        raise UnlogitError(f"TorchScript file {path} not found")
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise UnlogitError(
            f"{path} is not a TorchScript file ({exc}); export with torch.jit.script/trace+save"
        ) from exc


def _load_export(path: Path) -> torch.nn.Module:
    if not path.is_file():
        raise UnlogitError(f"torch.export program {path} not found")
    try:
        return torch.export.load(str(path)).module()
    except Exception as exc:  # torch.export raises many kinds for foreign files
        raise UnlogitError(f"{path} is not a torch.export program ({type(exc).__name__}: {exc})") from exc


def _looks_like_factory(spec: str) -> bool:
    mod, _, fn = spec.partition(":")
    return bool(fn) and all(p.isidentifier() for p in mod.split(".")) and fn.split("@")[0].isidentifier()


def _load_factory(spec: str) -> torch.nn.Module:
    target, _, weights = spec.partition("@")
    module_name, _, fn_name = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), fn_name)
    except (ImportError, AttributeError) as exc:
        raise UnlogitError(f"cannot import factory {target!r}: {exc}") from exc
    model = factory()
    if weights:
        wpath = Path(weights).expanduser()
        if not wpath.is_file():
            raise UnlogitError(f"state-dict file {wpath} not found")
        try:
            state = torch.load(str(wpath), map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling refused or corrupt file
            raise UnlogitError(
                f"cannot load state dict {wpath} safely (weights_only=True): {exc}. "
                "Save it with torch.save(model.state_dict()) or as safetensors"
            ) from exc
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise UnlogitError(f"state dict {wpath} does not fit {target}(): {exc}") from exc
    return model


def _is_torchvision_name(name: str) -> bool:
    try:
        import torchvision.models as tvm

        return name in tvm.list_models(module=tvm)
    except Exception:  # pragma: no cover - very old torchvision
        return False


def _load_torchvision(name: str, mean: Sequence[float] | None, std: Sequence[float] | None) -> NormalizedClassifier:
    import torchvision.models as tvm

    try:
        weights_enum = tvm.get_model_weights(name)
    except (ValueError, KeyError) as exc:
        raise UnlogitError(f"unknown torchvision model {name!r}; see torchvision.models.list_models()") from exc
    weights = weights_enum.DEFAULT
    cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cache.is_file():
        raise UnlogitError(
            f"weights for torchvision:{name} are not in the local cache ({cache}). unlogit never downloads "
            f"weights; fetch them once with `python -c \"import torchvision; torchvision.models.get_model('{name}', "
            f"weights='DEFAULT')\"` on a machine that is online, then copy the file there"
        )
    model = tvm.get_model(name, weights=None)
    state = torch.load(str(cache), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    classes = list(weights.meta.get("categories") or [str(i) for i in range(1000)])
    return NormalizedClassifier(
        model, classes, mean or IMAGENET_MEAN, std or IMAGENET_STD, None,
        {"spec": f"torchvision:{name}", "arch": name, "weights_sha256": None, "weights": str(cache)},
    )  # fmt: skip
