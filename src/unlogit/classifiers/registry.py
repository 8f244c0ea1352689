"""Classifier registry: one spec string -> a frozen :class:`NormalizedClassifier`.

Accepted specs:
    ``unlogit:NAME``                        project-trained weights shipped in the package
                                            (``unlogit/weights/NAME``; list: :func:`shipped_classifiers`)
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

import functools
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, UnlogitError
from ..runtime.checkpoint import load_checkpoint, save_checkpoint
from ..runtime.rundir import RunLayout
from .archs import build_arch
from .normalized import NormalizedClassifier
from .sources import (
    AdaptedModel,
    InputConvention,
    load_onnx,
    load_robustbench,
    load_state,
    load_timm,
    parse_convention,
    split_options,
)

CLASSIFIER_KIND = "unlogit.classifier"
SHIPPED_PREFIX = "unlogit:"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def shipped_classifiers() -> dict[str, dict[str, Any]]:
    """Name -> manifest entry (what it is, the command that trained it, its SHA-256) of the shipped weights."""
    import json

    manifest = WEIGHTS_DIR / "MANIFEST.json"
    return json.loads(manifest.read_text())["classifiers"] if manifest.is_file() else {}


def shipped_path(name: str) -> Path:
    """The folder of shipped classifier ``name``, after checking its tensors against the manifest's SHA-256."""
    from ..runtime.checkpoint import file_sha256

    known = shipped_classifiers()
    if name not in known:
        raise UnlogitError(f"no shipped classifier {name!r}; the package has {sorted(known)}")
    folder = WEIGHTS_DIR / name
    digest = file_sha256(folder / "model.safetensors")
    if digest != known[name]["sha256"]:
        raise CheckpointError(f"shipped weights {folder} do not match their recorded SHA-256; reinstall unlogit")
    return folder


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_classifier(
    spec: str,
    device: str | torch.device = "cpu",
    classes: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    num_classes: int | None = None,
    from_data: bool = False,
) -> NormalizedClassifier:
    """Resolve ``spec`` (see module docstring) into a frozen classifier on ``device``.

    ``from_data``: the spec was read from a file (a run directory's ``model.json``), not typed by the user.
    Such a spec may only name data — a run directory, a file for a safe loader, a registry name — never a
    ``pkg.module:factory`` that would import and run code; pass that explicitly (``--classifier``) instead.
    """
    if from_data and _looks_like_factory(spec) and not spec.startswith(SHIPPED_PREFIX):
        raise UnlogitError(
            f"the classifier spec {spec!r} recorded in this run directory names code (a module and a factory); "
            "unlogit never imports code named by a file. If you trust it, pass it explicitly: --classifier SPEC"
        )
    path = Path(spec).expanduser()
    base, options = split_options(spec)
    ext = functools.partial(_external, classes=classes, mean=mean, std=std, num_classes=num_classes)
    if spec.startswith(SHIPPED_PREFIX):
        clf = load_run_classifier(shipped_path(spec[len(SHIPPED_PREFIX) :]))
        clf.info["spec"] = spec
    elif path.is_dir():
        clf = load_run_classifier(path)
    elif base.startswith("torchscript:"):
        clf = ext(_load_torchscript(Path(base[len("torchscript:") :])), spec, parse_convention(options, spec))
    elif base.startswith("export:") or base.endswith(".pt2"):
        file = Path(base[len("export:") :] if base.startswith("export:") else base)
        clf = ext(_load_export(file), spec, parse_convention(options, spec))
    elif base.startswith("onnx:"):
        clf = ext(load_onnx(Path(base[len("onnx:") :]).expanduser()), spec, parse_convention(options, spec))
    elif base.startswith("timm:"):
        clf = _timm(base[len("timm:") :], spec, options, ext)
    elif base.startswith("robustbench:"):
        clf = _robustbench(base[len("robustbench:") :], spec, options, ext)
    elif base.startswith("torchvision:") or _is_torchvision_name(base):
        clf = _load_torchvision(base.removeprefix("torchvision:"), spec, options, ext)
    elif _looks_like_factory(base):
        clf = ext(_load_factory(base), spec, parse_convention(options, spec))
    elif "/" in spec or spec.startswith("."):
        raise UnlogitError(f"classifier run directory {spec!r} does not exist; check the path")
    else:
        raise UnlogitError(
            f"cannot resolve classifier {spec!r}: not a run directory, unlogit:NAME, torchvision name, "
            ".pt2/export:PATH, torchscript:PATH, onnx:PATH, timm:NAME, robustbench:NAME or pkg.module:factory@w.pt"
        )
    return clf.to(device).frozen()


def _timm(name: str, spec: str, options: dict[str, str], ext) -> NormalizedClassifier:
    """``timm:NAME?weights=FILE&num_classes=K`` (+ convention options; mean/std default to timm's config)."""
    conv = parse_convention(options, spec, allowed=("weights", "num_classes"))
    k = int(options["num_classes"]) if options.get("num_classes", "").isdigit() else None
    model, cfg = load_timm(name, options.get("weights"), k or (len(conv.classes) if conv.classes else None))
    return ext(model, spec, conv, default_mean=cfg.get("mean"), default_std=cfg.get("std"), arch=f"timm:{name}")


def _robustbench(name: str, spec: str, options: dict[str, str], ext) -> NormalizedClassifier:
    """``robustbench:NAME?dataset=cifar10&threat=Linf&model_dir=DIR`` (DIR also from $UNLOGIT_ROBUSTBENCH_DIR)."""
    import os

    conv = parse_convention(options, spec, allowed=("dataset", "threat", "model_dir"))
    model_dir = Path(options.get("model_dir") or os.environ.get("UNLOGIT_ROBUSTBENCH_DIR") or "models").expanduser()
    model = load_robustbench(name, model_dir, options.get("dataset", "cifar10"), options.get("threat", "Linf"))
    return ext(model, spec, conv, arch=f"robustbench:{name}")  # RobustBench models take [0,1] images


# --- the project's own run directories -----------------------------------------------------------
def save_run_classifier(run: Path, clf: NormalizedClassifier, arch_spec: dict[str, Any], summary: dict) -> None:
    """Write ``RUN/model.{safetensors,json}`` (what :func:`load_run_classifier` reads)."""
    save_checkpoint(
        RunLayout(run).model,
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
    layout = RunLayout(run)
    if not layout.model_json.is_file():
        kind = _run_kind(run)
        hint = f" (it is a {kind!r} run)" if kind else ""
        raise CheckpointError(
            f"{run} is not a classifier run directory{hint}: no model.json; "
            "train one with `unlogit train-classifier` or give another classifier spec"
        )
    tensors, meta = load_checkpoint(layout.model, CLASSIFIER_KIND)
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
        return json.loads(RunLayout(run).run_json.read_text()).get("kind")
    except (OSError, ValueError):
        return None


# --- third-party models ---------------------------------------------------------------------------
def _external(model: torch.nn.Module, spec: str, conv: InputConvention, classes: Sequence[str] | None,
              mean: Sequence[float] | None, std: Sequence[float] | None, num_classes: int | None,
              default_mean: Sequence[float] | None = None, default_std: Sequence[float] | None = None,
              arch: str = "external") -> NormalizedClassifier:  # fmt: skip
    """A third-party network under its input convention: the spec's options first, then the caller's
    ``mean``/``std``/``classes``, then the source's defaults; class names numbered when nothing names them."""
    mean = conv.mean or mean or default_mean
    std = conv.std or std or default_std
    channels = len(mean) if mean is not None else len(std) if std is not None else 3
    mean = tuple(mean) if mean is not None else (0.0,) * channels
    std = tuple(std) if std is not None else (1.0,) * channels
    if conv.layout != "nchw" or conv.size is not None:
        model = AdaptedModel(model, conv.layout, conv.size)
    names = list(conv.classes or classes or [])
    if not names:
        k = num_classes or _count_outputs(model, spec, channels, conv.size)
        names = [str(i) for i in range(k)]
    info = {"spec": spec, "arch": arch, "convention": {**conv.to_dict(), "mean": list(mean), "std": list(std)}}
    return NormalizedClassifier(model, names, mean, std, None, info)


def _count_outputs(model: torch.nn.Module, spec: str, channels: int, size: int | None) -> int:
    """The number of logits, from one forward pass on a blank image (32 px unless the spec gives size)."""
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, channels, size or 32, size or 32))
    except Exception as exc:  # the model may need another input size
        raise UnlogitError(f"classifier {spec!r}: cannot tell how many classes it has ({type(exc).__name__}: {exc}); "
                           "give classes=K or classes=FILE in the spec, or size=PIXELS") from exc  # fmt: skip
    return int(out.shape[-1])


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


def _load_torchvision(name: str, spec: str, options: dict[str, str], ext) -> NormalizedClassifier:
    """A torchvision model: weights from the local torch hub cache (never downloaded), or from a local file
    (``?weights=PATH``: a state dict, safetensors or ``weights_only``); ImageNet normalisation and class
    names from torchvision's weights metadata unless the spec says otherwise."""
    import torchvision.models as tvm

    conv = parse_convention(options, spec, allowed=("weights",))
    try:
        weights_enum = tvm.get_model_weights(name)
    except (ValueError, KeyError) as exc:
        raise UnlogitError(f"unknown torchvision model {name!r}; see torchvision.models.list_models()") from exc
    weights = weights_enum.DEFAULT
    file = Path(options["weights"]).expanduser() if "weights" in options else None
    if file is None:
        file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not file.is_file():
            raise UnlogitError(
                f"weights for torchvision:{name} are not in the local cache ({file}). unlogit never downloads "
                f'weights; fetch them once with `python -c "import torchvision; '
                f"torchvision.models.get_model('{name}', weights='DEFAULT')\"` on a machine that is online and "
                "copy the file there, or give ?weights=FILE"
            )
    model = tvm.get_model(name, weights=None)
    try:
        model.load_state_dict(load_state(file))
    except RuntimeError as exc:
        raise UnlogitError(f"weights {file} do not fit torchvision's {name}: {exc}") from exc
    categories = list(weights.meta.get("categories") or [])
    clf = ext(model, spec, conv, classes=None, default_mean=IMAGENET_MEAN, default_std=IMAGENET_STD, arch=name,
              num_classes=None if categories else 1000)  # fmt: skip
    if not conv.classes and len(categories) == clf.num_classes:
        clf.classes = categories
    clf.info["weights"] = str(file)
    return clf
