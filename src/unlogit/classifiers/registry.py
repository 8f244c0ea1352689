"""Classifier sources: one spec string -> a frozen :class:`NormalizedClassifier`.

Every source is one entry of :data:`SOURCES`, matched in registration order by its prefix (or, for the
unprefixed forms, by a test on the spec). A spec may carry URL-style options after ``?``
(:mod:`.sources`); they are split off before any source is matched.

==================================  ==================================================  =============
spec                                what it loads                                       from a file
==================================  ==================================================  =============
``unlogit:NAME``                    project weights shipped in the package              yes
``runs/clf``                        a run directory of ``unlogit train-classifier``     yes
``onnx:PATH``                       an ONNX graph (onnx2torch)                          yes
``torchvision:NAME`` or ``NAME``    a torchvision model, weights from the local cache   yes
``timm:NAME?weights=FILE``          a timm model, weights from a local file             yes
``robustbench:NAME?model_dir=DIR``  a RobustBench model in its folder layout            yes
``torchscript:PATH``                a TorchScript program                               no
``export:PATH`` or ``PATH.pt2``     a ``torch.export`` program                          no
``pkg.module:factory@STATE.pt``     ``factory()`` (code), then a state dict             no
==================================  ==================================================  =============

"From a file" is whether a spec *read from a file* (an inverter's ``model.json``, a study config) may name
the source: only sources whose loading reads data through safe loaders (safetensors,
``torch.load(weights_only=True)``, JSON, ONNX protobuf) into architectures of the installed packages.
TorchScript and ``torch.export`` programs carry their own graph (and torch's export loader would unpickle
parts of an archive), and a factory imports and runs a module: they load only when the user names them
(``--classifier SPEC`` or Python). ``.pt2`` archives are checked for pickled entries before torch reads them.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, UnlogitError
from ..runtime.checkpoint import load_checkpoint, save_checkpoint
from ..runtime.registry import Registry
from ..runtime.rundir import RunLayout
from .archs import build_arch
from .metadata import read_classifier_meta
from .normalized import NormalizedClassifier
from .sources import (
    AdaptedModel,
    InputConvention,
    check_export_archive,
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
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class SourceRequest:
    """One spec being resolved: its parts and what the caller knows about the network's outputs."""

    spec: str
    base: str  # the spec without its ``?`` options
    options: dict[str, str]
    prefix: str | None
    classes: Sequence[str] | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    num_classes: int | None = None

    @property
    def target(self) -> str:
        """The spec's base without the source's prefix (a path, a model name...)."""
        return self.base[len(self.prefix) :] if self.prefix and self.base.startswith(self.prefix) else self.base

    def convention(self, allowed: Sequence[str] = ()) -> InputConvention:
        return parse_convention(self.options, self.spec, allowed)

    def external(self, model: torch.nn.Module, conv: InputConvention, **defaults: Any) -> NormalizedClassifier:
        """A third-party network under its input convention (:func:`_external`)."""
        kwargs = {"classes": self.classes, "mean": self.mean, "std": self.std, "num_classes": self.num_classes}
        return _external(model, self.spec, conv, **{**kwargs, **defaults})


@dataclass(frozen=True)
class ClassifierSource:
    """One way of getting a classifier.

    Attributes:
        name: the registry key. summary: one line for help texts.
        load: ``SourceRequest -> NormalizedClassifier``.
        prefix: the spec prefix that selects it (``onnx:``), or None for the unprefixed forms.
        matches: ``base -> bool`` for specs without the prefix (a folder, a ``.pt2`` file, a bare name).
        from_file: whether a spec read from a file may name it (see the module docstring).
        executes: what loading it can execute, in words (docs/reliability.md's Limits).
    """

    name: str
    summary: str
    load: Callable[[SourceRequest], NormalizedClassifier]
    prefix: str | None = None
    matches: Callable[[str], bool] | None = None
    from_file: bool = False
    executes: str = "nothing: data only"
    examples: tuple[str, ...] = field(default_factory=tuple)

    def claims(self, base: str) -> bool:
        """Whether a spec (without options) is this source's."""
        if self.prefix is not None and base.startswith(self.prefix):
            return True
        return self.matches is not None and self.matches(base)


SOURCES: Registry[ClassifierSource] = Registry("classifier source")


def find_source(spec: str) -> tuple[ClassifierSource, str, dict[str, str]]:
    """The source of ``spec`` (the first that claims it, in registration order), its base and options."""
    base, options = split_options(spec)
    for source in SOURCES.values():
        if source.claims(base):
            return source, base, options
    if "/" in base or base.startswith("."):
        raise UnlogitError(f"classifier run directory {spec!r} does not exist; check the path")
    raise UnlogitError(f"cannot resolve classifier {spec!r}: not {spec_forms()}")


def spec_forms() -> str:
    """Every accepted spec form, in words (for help texts and errors)."""
    return ", ".join(e for source in SOURCES.values() for e in source.examples)


def load_classifier(
    spec: str,
    device: str | torch.device = "cpu",
    classes: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    num_classes: int | None = None,
    from_data: bool = False,
) -> NormalizedClassifier:
    """Resolve ``spec`` (see the module docstring) into a frozen classifier on ``device``.

    ``from_data``: the spec was read from a file (an inverter's ``model.json``, a study config), not named by
    the user; it may then only name a source whose loading reads data (``from_file``), never one that
    carries or runs code. The check runs on the source the spec resolves to, after its options are split off.
    """
    if not isinstance(spec, str) or not spec:
        raise UnlogitError(f"a classifier spec must be a non-empty string, got {spec!r}")
    source, base, options = find_source(spec)
    if from_data and not source.from_file:
        raise UnlogitError(
            f"the classifier spec {spec!r} read from a file names a {source.name} ({source.executes}); unlogit "
            "never loads code because a data file points at it. If you trust it, name it yourself: "
            "--classifier SPEC on the command line, or load_classifier(SPEC) in Python"
        )
    request = SourceRequest(spec, base, options, source.prefix, classes, mean, std, num_classes)
    return source.load(request).to(device).frozen()


# --- the project's own weights ---------------------------------------------------------------------
def _manifest() -> dict[str, Any]:
    manifest = WEIGHTS_DIR / "MANIFEST.json"
    return json.loads(manifest.read_text()) if manifest.is_file() else {}


def shipped_classifiers() -> dict[str, dict[str, Any]]:
    """Name -> manifest entry (what it is, the command that trained it, its SHA-256) of the shipped weights."""
    return _manifest().get("classifiers", {})


def shipped_aliases() -> dict[str, str]:
    """Old names that still load (``cifar10-robust`` -> ``cifar10-robust-s0``, the first of its family)."""
    return _manifest().get("aliases", {})


def shipped_path(name: str) -> Path:
    """The folder of shipped classifier ``name``, after checking its tensors against the manifest's SHA-256."""
    from ..runtime.checkpoint import file_sha256

    known = shipped_classifiers()
    name = shipped_aliases().get(name, name)
    if name not in known:
        raise UnlogitError(f"no shipped classifier {name!r}; the package has {sorted(known)} (`unlogit models` "
                           "lists them)")  # fmt: skip
    folder = WEIGHTS_DIR / name
    digest = file_sha256(RunLayout(folder).model.with_suffix(".safetensors"))
    if digest != known[name]["sha256"]:
        raise CheckpointError(f"shipped weights {folder} do not match their recorded SHA-256; reinstall unlogit")
    return folder


def _shipped(req: SourceRequest) -> NormalizedClassifier:
    clf = load_run_classifier(shipped_path(req.target))
    clf.info["spec"] = req.spec
    return clf


def save_run_classifier(run: Path, clf: NormalizedClassifier, arch_spec: dict[str, Any], summary: dict) -> None:
    """Write ``RUN/model.{safetensors,json}`` (what :func:`load_run_classifier` reads)."""
    meta = {"arch": arch_spec, "classes": clf.classes, "mean": clf.mean.flatten().tolist(),
            "std": clf.std.flatten().tolist(), "input_shape": list(clf.input_shape) if clf.input_shape else None,
            "summary": summary}  # fmt: skip
    save_checkpoint(RunLayout(run).model, clf.model.state_dict(), meta, kind=CLASSIFIER_KIND)


def load_run_classifier(run: Path) -> NormalizedClassifier:
    """Rebuild a classifier from a run directory (no pickles): the metadata is validated against its schema
    and the architecture checked against the tensors' shapes before anything is allocated."""
    layout = RunLayout(run)
    if not layout.model_json.is_file():
        kind = _run_kind(run)
        hint = f" (it is a {kind!r} run)" if kind else ""
        raise CheckpointError(
            f"{run} is not a classifier run directory{hint}: no model.json; "
            "train one with `unlogit train-classifier` or give another classifier spec"
        )
    layout.check_inside(layout.model_json, layout.model.with_suffix(".safetensors"))
    tensors, raw = load_checkpoint(layout.model, CLASSIFIER_KIND)
    meta = read_classifier_meta(raw, layout.model_json)
    net = build_arch(meta.arch_dict(), expected=tensors, where=str(layout.model_json))
    try:
        net.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {run} do not fit architecture {meta.arch}: {exc}") from exc
    info = {"spec": str(run), "arch": meta.arch_dict(), "summary": meta.summary, "weights_sha256": raw["tensor_sha256"]}
    return NormalizedClassifier(net, meta.classes, meta.mean, meta.std, meta.shape(), info)


def _run(req: SourceRequest) -> NormalizedClassifier:
    return load_run_classifier(Path(req.base).expanduser())


def _run_kind(run: Path) -> str | None:
    try:
        kind = json.loads(RunLayout(run).run_json.read_text()).get("kind")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return kind if isinstance(kind, str) else None


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


def _onnx(req: SourceRequest) -> NormalizedClassifier:
    conv = req.convention()  # options are checked before any file is read
    return req.external(load_onnx(Path(req.target).expanduser()), conv)


def _timm(req: SourceRequest) -> NormalizedClassifier:
    """``timm:NAME?weights=FILE&num_classes=K`` (+ convention options; mean/std default to timm's config)."""
    conv = req.convention(allowed=("weights", "num_classes"))
    k = int(req.options["num_classes"]) if req.options.get("num_classes", "").isdigit() else None
    weights = req.options.get("weights")
    model, cfg = load_timm(req.target, weights, k or (len(conv.classes) if conv.classes else None))
    if not weights:
        raise UnlogitError(
            f"timm:{req.target} has no weights: unlogit never downloads them and will not invert a randomly "
            "initialised network; save the weights once (timm.create_model(NAME, pretrained=True).state_dict(), "
            "as safetensors) on a machine that is online and give ?weights=FILE"
        )
    return req.external(model, conv, default_mean=cfg.get("mean"), default_std=cfg.get("std"),
                        arch=f"timm:{req.target}")  # fmt: skip


def _robustbench(req: SourceRequest) -> NormalizedClassifier:
    """``robustbench:NAME?dataset=cifar10&threat=Linf&model_dir=DIR`` (DIR also from $UNLOGIT_ROBUSTBENCH_DIR)."""
    import os

    o = req.options
    conv = req.convention(allowed=("dataset", "threat", "model_dir"))
    model_dir = Path(o.get("model_dir") or os.environ.get("UNLOGIT_ROBUSTBENCH_DIR") or "models").expanduser()
    model = load_robustbench(req.target, model_dir, o.get("dataset", "cifar10"), o.get("threat", "Linf"))
    return req.external(model, conv, arch=f"robustbench:{req.target}")  # RobustBench models take [0,1] images


def _is_torchvision_name(name: str) -> bool:
    try:
        import torchvision.models as tvm

        return name in tvm.list_models(module=tvm)
    except Exception:  # pragma: no cover - very old torchvision
        return False


def _torchvision(req: SourceRequest) -> NormalizedClassifier:
    """A torchvision model: weights from the local torch hub cache (never downloaded), or from a local file
    (``?weights=PATH``: a state dict, safetensors or ``weights_only``); ImageNet normalisation and class
    names from torchvision's weights metadata unless the spec says otherwise."""
    import torchvision.models as tvm

    name, conv = req.target, req.convention(allowed=("weights",))
    try:
        weights = tvm.get_model_weights(name).DEFAULT
    except (ValueError, KeyError) as exc:
        raise UnlogitError(f"unknown torchvision model {name!r}; see torchvision.models.list_models()") from exc
    file = Path(req.options["weights"]).expanduser() if "weights" in req.options else None
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
    clf = req.external(model, conv, classes=None, default_mean=IMAGENET_MEAN, default_std=IMAGENET_STD, arch=name,
                       num_classes=None if categories else 1000)  # fmt: skip
    if not conv.classes and len(categories) == clf.num_classes:
        clf.classes = categories
    clf.info["weights"] = str(file)
    return clf


def _torchscript(req: SourceRequest) -> NormalizedClassifier:
    conv = req.convention()
    path = Path(req.target).expanduser()
    if not path.is_file():
        raise UnlogitError(f"TorchScript file {path} not found")
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise UnlogitError(f"{path} is not a TorchScript file ({exc}); save one with torch.jit.script + save") from exc
    return req.external(model, conv)


def _export(req: SourceRequest) -> NormalizedClassifier:
    conv = req.convention()
    path = Path(req.target).expanduser()
    if not path.is_file():
        raise UnlogitError(f"torch.export program {path} not found")
    check_export_archive(path)  # refuses pickled entries before torch reads anything
    try:
        model = torch.export.load(str(path)).module()
    except Exception as exc:  # torch.export raises many kinds for foreign files
        raise UnlogitError(f"{path} is not a torch.export program ({type(exc).__name__}: {exc})") from exc
    return req.external(model, conv)


def _looks_like_factory(base: str) -> bool:
    mod, _, fn = base.partition(":")
    return bool(fn) and all(p.isidentifier() for p in mod.split(".")) and fn.split("@")[0].isidentifier()


def _factory(req: SourceRequest) -> NormalizedClassifier:
    target, _, weights = req.base.partition("@")
    module_name, _, fn_name = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), fn_name)
    except (ImportError, AttributeError) as exc:
        raise UnlogitError(f"cannot import factory {target!r}: {exc}") from exc
    model = factory()
    if weights:
        state = load_state(Path(weights).expanduser())
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise UnlogitError(f"state dict {weights} does not fit {target}(): {exc}") from exc
    return req.external(model, req.convention())


def _is_dir(base: str) -> bool:
    return Path(base).expanduser().is_dir()


for _source in (
    ClassifierSource("shipped", "project-trained weights shipped in the package", _shipped, SHIPPED_PREFIX,
                     from_file=True, examples=("unlogit:NAME",)),
    ClassifierSource("run directory", "a run directory of `unlogit train-classifier`", _run, None, _is_dir,
                     from_file=True, examples=("a run directory",)),
    ClassifierSource("onnx", "an ONNX graph, converted by onnx2torch", _onnx, "onnx:", from_file=True,
                     examples=("onnx:PATH",)),
    ClassifierSource("timm", "a timm architecture with weights from a local file", _timm, "timm:", from_file=True,
                     examples=("timm:NAME?weights=FILE",)),
    ClassifierSource("robustbench", "a RobustBench model in its own folder layout", _robustbench, "robustbench:",
                     from_file=True, examples=("robustbench:NAME",)),
    ClassifierSource("torchvision", "a torchvision model, weights from the local cache or a file", _torchvision,
                     "torchvision:", functools.partial(_is_torchvision_name), from_file=True,
                     examples=("torchvision:NAME (or a bare torchvision name)",)),
    ClassifierSource("torchscript program", "a TorchScript program", _torchscript, "torchscript:",
                     executes="the file's TorchScript graph", examples=("torchscript:PATH",)),
    ClassifierSource("torch.export program", "a torch.export program", _export, "export:",
                     lambda base: base.endswith(".pt2"), executes="the file's exported graph",
                     examples=("export:PATH or PATH.pt2",)),
    ClassifierSource("factory", "Python code: pkg.module:factory, then an optional state dict", _factory, None,
                     _looks_like_factory, executes="any Python code (it imports a module and calls a function)",
                     examples=("pkg.module:factory@weights.pt",)),
):  # fmt: skip
    SOURCES.register(_source.name, _source)
