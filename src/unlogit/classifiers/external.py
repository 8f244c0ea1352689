"""Third-party classifier formats, one loader per format with its helpers: ONNX (onnx2torch), timm,
RobustBench, torchvision, TorchScript, ``torch.export`` and Python factories.

Each ``load_*`` loader takes the :class:`~unlogit.classifiers.spec.SourceRequest` of a spec and returns a
:class:`NormalizedClassifier` (registered in :data:`unlogit.classifiers.registry.SOURCES`). Weights are read
only through safe loaders (safetensors, ``torch.load(weights_only=True)``, onnx2torch's graph conversion);
nothing is downloaded. TorchScript, ``torch.export`` and factories carry or run code: the registry lets only
the user name them.
"""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import UnlogitError
from .normalized import NormalizedClassifier
from .spec import InputConvention, SourceRequest

IMAGENET_MEAN = (0.485, 0.456, 0.406)


IMAGENET_STD = (0.229, 0.224, 0.225)


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a ``torch.save`` file (``weights_only=True``), unwrapped from the
    usual containers (``state_dict``, ``model_state_dict``, ``model``) and DataParallel's ``module.``."""
    if not path.is_file():
        raise UnlogitError(f"weights file {path} not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, or a corrupt file
        raise UnlogitError(
            f"cannot load {path} safely ({type(exc).__name__}: {exc}); save it as safetensors or "
            "with torch.save(model.state_dict())"
        ) from exc
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UnlogitError(f"{path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


# --- ONNX ------------------------------------------------------------------------------------------
class PerSample(nn.Module):
    """Runs a model whose graph has a fixed batch dimension of 1 one image at a time."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.model(x[i : i + 1]) for i in range(len(x))])


def constants_as_initializers(model):  # onnx.ModelProto -> onnx.ModelProto
    """``Constant`` nodes holding a tensor become graph initializers (the same values, by the same names).

    onnx2torch converts ``Constant`` only up to opset 13, and exporters at opset 19+ (torch's among them)
    write normalisation constants and reshape targets as ``Constant`` nodes; an initializer is the same
    value in the form every converter reads."""
    from onnx import numpy_helper

    graph = model.graph
    keep = []
    for node in graph.node:
        value = next((a for a in node.attribute if a.name == "value"), None)
        if node.op_type == "Constant" and not node.domain and value is not None and len(node.attribute) == 1:
            tensor = numpy_helper.from_array(numpy_helper.to_array(value.t), name=node.output[0])
            graph.initializer.append(tensor)
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    return model


def onnx_model(path: Path) -> nn.Module:
    """An ONNX file as a torch module (onnx2torch), gradients and all; fixed batch-1 graphs run per image."""
    if not path.is_file():
        raise UnlogitError(f"ONNX file {path} not found")
    try:
        import onnx
        import onnx2torch
    except ImportError as exc:
        raise UnlogitError("onnx: specs need the onnx extra: pip install 'unlogit[onnx]' (onnx, onnx2torch)") from exc
    try:
        graph = onnx.load(str(path))
        model = onnx2torch.convert(constants_as_initializers(graph))
    except Exception as exc:  # onnx raises many kinds for foreign or unsupported files
        raise UnlogitError(f"cannot convert {path} from ONNX ({type(exc).__name__}: {exc})") from exc
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    return PerSample(model) if dims and dims[0].dim_value == 1 else model


def load_onnx(req: SourceRequest) -> NormalizedClassifier:
    conv = req.convention()  # options are checked before any file is read
    return req.external(onnx_model(Path(req.target).expanduser()), conv)


# --- timm ------------------------------------------------------------------------------------------
def timm_model(name: str, weights: str | None, num_classes: int | None) -> tuple[nn.Module, dict[str, Any]]:
    """``timm.create_model(name)`` without a download, weights from a local file; returns it and its
    pretrained config (mean, std, input size)."""
    try:
        import timm
    except ImportError as exc:
        raise UnlogitError("timm: specs need timm: pip install 'unlogit[timm]'") from exc
    kwargs = {"num_classes": num_classes} if num_classes else {}
    try:
        model = timm.create_model(name, pretrained=False, **kwargs)
    except Exception as exc:  # RuntimeError for unknown names
        raise UnlogitError(f"timm cannot build {name!r}: {exc}; see timm.list_models()") from exc
    if weights:
        try:
            model.load_state_dict(load_state(Path(weights).expanduser()))
        except RuntimeError as exc:
            raise UnlogitError(f"weights {weights} do not fit timm's {name}: {exc}") from exc
    return model, dict(getattr(model, "pretrained_cfg", {}) or {})


def load_timm(req: SourceRequest) -> NormalizedClassifier:
    """``timm:NAME?weights=FILE&num_classes=K`` (+ convention options; mean/std default to timm's config)."""
    conv = req.convention(allowed=("weights", "num_classes"))
    k = int(req.options["num_classes"]) if req.options.get("num_classes", "").isdigit() else None
    weights = req.options.get("weights")
    model, cfg = timm_model(req.target, weights, k or (len(conv.classes) if conv.classes else None))
    if not weights:
        raise UnlogitError(
            f"timm:{req.target} has no weights: unlogit never downloads them and will not invert a randomly "
            "initialised network; save the weights once (timm.create_model(NAME, pretrained=True).state_dict(), "
            "as safetensors) on a machine that is online and give ?weights=FILE"
        )
    clf = req.external(model, conv, default_mean=cfg.get("mean"), default_std=cfg.get("std"), arch=f"timm:{req.target}")
    return with_native_size(clf, conv, (cfg.get("input_size") or (3, None))[1])


def with_native_size(clf: NormalizedClassifier, conv: InputConvention, size: int | None) -> NormalizedClassifier:
    """Record the image size a network was trained at (224 for ImageNet models), unless the spec says which size
    it is fed (``size=``): :meth:`NormalizedClassifier.probe` then refuses smaller data instead of letting a
    224-px network classify 64-px images silently."""
    if size and conv.size is None:
        clf.info["native_size"] = int(size)
    return clf


# --- RobustBench -----------------------------------------------------------------------------------
def robustbench_checkpoint(model_dir: Path, dataset: str, threat: str, name: str) -> Path:
    """Where RobustBench keeps a model's weights: ``MODEL_DIR/DATASET/THREAT/NAME.pt``."""
    return model_dir / dataset / threat / f"{name}.pt"


def import_robustbench_zoo():
    """RobustBench's model zoo and its enums. A missing package is a missing extra; a package that is installed
    but fails to import (robustbench imports ``pkg_resources``, which setuptools >= 81 no longer ships) is that
    failure, named."""
    try:
        from robustbench.model_zoo import model_dicts
        from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "robustbench":
            raise UnlogitError(
                "robustbench: specs need the robustbench package: pip install 'unlogit[robustbench]'"
            ) from exc
        raise UnlogitError(
            f"robustbench is installed but cannot be imported: {type(exc).__name__}: {exc}"
            + (
                "; robustbench imports pkg_resources, which setuptools >= 81 removed: pip install 'setuptools<81'"
                if exc.name == "pkg_resources"
                else ""
            )
        ) from exc
    return model_dicts, BenchmarkDataset, ThreatModel


# RobustBench wraps ImageNet models as Sequential(normalize=ImageNormalizer(mean, std), model=net): the checkpoints
# hold the net's keys (RobustBench adds the "model." prefix as it loads) and the normaliser's constant buffers are
# set by the wrapper itself, so a checkpoint may lack them.
WRAPPER_PREFIX = "model."
WRAPPER_OWN_KEYS = {"normalize.mean", "normalize.std"}


def robustbench_state(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """A RobustBench checkpoint's state dict in the key layout of ``model`` (either layout RobustBench writes)."""
    state = load_state(path)  # containers and DataParallel's "module." removed
    expected = model.state_dict()
    wrapped = any(k.startswith(WRAPPER_PREFIX) for k in expected)
    if wrapped and not any(k.startswith(WRAPPER_PREFIX) for k in state):
        state = {WRAPPER_PREFIX + k: v for k, v in state.items()}
    missing = [k for k in expected if k not in state and k not in WRAPPER_OWN_KEYS]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise UnlogitError(
            f"{path} does not fit RobustBench's model: {len(missing)} key(s) missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]}); is it the checkpoint of this model name?"
        )
    return state


def robustbench_model(name: str, model_dir: Path, dataset: str, threat: str) -> nn.Module:
    """A RobustBench model from a local model directory (its own layout), weights read with
    ``weights_only=True``; never downloaded (RobustBench's own loader would fetch missing weights)."""
    model_dicts, BenchmarkDataset, ThreatModel = import_robustbench_zoo()
    path = robustbench_checkpoint(model_dir, dataset, threat, name)
    if not path.is_file():
        raise UnlogitError(
            f"RobustBench weights for {name} are not at {path}. unlogit never downloads them; on a machine that "
            f"is online run `python -c \"from robustbench.utils import load_model; load_model('{name}', "
            f"model_dir='{model_dir}', dataset='{dataset}', threat_model='{threat}')\"` and copy {model_dir} here"
        )
    try:
        entry = model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat)][name]
    except (KeyError, ValueError) as exc:
        raise UnlogitError(f"RobustBench has no model {name!r} for {dataset}/{threat}") from exc
    model = entry["model"]()
    try:
        model.load_state_dict(robustbench_state(path, model), strict=False)  # strict except WRAPPER_OWN_KEYS
    except RuntimeError as exc:
        raise UnlogitError(f"{path} does not fit RobustBench's {name}: {exc}") from exc
    return model


IMAGENET_SIZE = 224  # the crop ImageNet classifiers are trained and evaluated at


def load_robustbench(req: SourceRequest) -> NormalizedClassifier:
    """``robustbench:NAME?dataset=cifar10&threat=Linf&model_dir=DIR`` (DIR also from $UNLOGIT_ROBUSTBENCH_DIR)."""
    import os

    o = req.options
    conv = req.convention(allowed=("dataset", "threat", "model_dir"))
    model_dir = Path(o.get("model_dir") or os.environ.get("UNLOGIT_ROBUSTBENCH_DIR") or "models").expanduser()
    dataset = o.get("dataset", "cifar10")
    model = robustbench_model(req.target, model_dir, dataset, o.get("threat", "Linf"))
    clf = req.external(model, conv, arch=f"robustbench:{req.target}")  # RobustBench models take [0,1] images
    if dataset == "imagenet" and not conv.classes and clf.num_classes == 1000:
        from ..data.imagenet import imagenet_names

        clf.classes = list(imagenet_names())  # the labels of torchvision's ImageNet models, in the same order
    return with_native_size(clf, conv, IMAGENET_SIZE if dataset == "imagenet" else None)


# --- torchvision -----------------------------------------------------------------------------------
def is_torchvision_name(name: str) -> bool:
    try:
        import torchvision.models as tvm

        return name in tvm.list_models(module=tvm)
    except Exception:  # pragma: no cover - very old torchvision
        return False


def load_torchvision(req: SourceRequest) -> NormalizedClassifier:
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
    clf = req.external(
        model,
        conv,
        classes=None,
        default_mean=IMAGENET_MEAN,
        default_std=IMAGENET_STD,
        arch=name,
        num_classes=None if categories else 1000,
    )
    if not conv.classes and len(categories) == clf.num_classes:
        clf.classes = categories
    clf.info["weights"] = str(file)
    return with_native_size(clf, conv, (getattr(weights.transforms, "keywords", {}) or {}).get("crop_size"))


# --- programs that carry code: TorchScript, torch.export, factories ------------------------------
def load_torchscript(req: SourceRequest) -> NormalizedClassifier:
    conv = req.convention()
    path = Path(req.target).expanduser()
    if not path.is_file():
        raise UnlogitError(f"TorchScript file {path} not found")
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise UnlogitError(f"{path} is not a TorchScript file ({exc}); save one with torch.jit.script + save") from exc
    return req.external(model, conv)


MAX_ARCHIVE_GB = 2.0  # what a .pt2 may decompress to before it is refused; `export:PATH?max_gb=N` raises it
SAFE_PAYLOADS = {"weights": "weight_", "constants": "tensor_"}  # the path_name prefixes torch reads as raw bytes
CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD", "EXT1", "EXT2",
                "EXT4"}  # fmt: skip  # the pickle opcodes that import or call


def check_export_archive(path: Path, max_bytes: float = MAX_ARCHIVE_GB * 1024**3) -> None:
    """Refuse a ``.pt2`` archive before ``torch.export.load`` reads it if any part of it would be unpickled.

    torch chooses how to read a payload from its config's ``path_name`` *prefix* (``weight_``/``tensor_``: raw
    bytes; ``custom_obj_``/``opaque_obj_``: an unpickle) and its ``use_pickle`` flag, and loads embedded
    ``torch.save`` payloads. So: the archive must be a zip; every payload config entry must be a raw tensor
    (``use_pickle`` false, a ``path_name`` of the raw prefix, one file-name component); no member may sit
    under a pickled-object name; every member that starts like a pickle is scanned, opcode by opcode, for
    imports and calls; every ``.pt``/``.pkl`` member must load with ``weights_only=True``. Members are read as
    bounded streams: more than ``max_bytes`` in all, declared or decompressed, is refused before it is read."""
    import zipfile

    if not zipfile.is_zipfile(path):
        raise UnlogitError(f"{path} is not a torch.export archive (not a zip file); save one with torch.export.save")
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        declared = sum(i.file_size for i in infos)
        if declared > max_bytes:
            raise UnlogitError(_too_large(path, declared, max_bytes))
        read = 0
        for info in infos:
            read = _check_member(path, archive, info, read, max_bytes)


def _too_large(path: Path, size: float, max_bytes: float) -> str:
    return (
        f"{path} decompresses to more than {size / 1024**3:.2f} GB, over the {max_bytes / 1024**3:g} GB unlogit reads "
        "from an archive; if you expect a model that large, raise it: export:PATH?max_gb=N"
    )


def _check_member(path: Path, archive, info, read: int, max_bytes: float) -> int:
    """One archive member: its name, its payload config (if it is one), its pickle opcodes. ``read``: the bytes
    decompressed so far; returns it with this member's added."""
    name = info.filename
    if any(part.startswith(("opaque_obj_", "custom_obj_")) for part in name.split("/")):
        raise UnlogitError(f"{path} holds a pickled object ({name}); unlogit refuses archives that would be unpickled")
    data, read = _read_bounded(path, archive, info, read, max_bytes)
    if name.endswith("_config.json") and "/data/" in f"/{name}":
        _check_payload_config(path, name, data)
    elif name.endswith((".pt", ".pkl")) or _pickle_calls(data):
        try:
            torch.load(io.BytesIO(data), weights_only=True)
        except Exception as exc:  # the restricted unpickler refused something: torch would unpickle it
            raise UnlogitError(
                f"{path}: {name} is not plain tensor data ({type(exc).__name__}); torch would unpickle it and "
                "could run code, so unlogit refuses the archive"
            ) from exc
    return read


def _read_bounded(path: Path, archive, info, read: int, max_bytes: float) -> tuple[bytes, int]:
    """A member read in chunks, ``read`` bytes of the archive already decompressed, against ``max_bytes`` in all
    (a member that lies about its size in the zip directory is stopped as it passes the limit). Its bytes are
    kept only where they are checked further (a payload config, a ``.pt``/``.pkl`` payload, anything that starts
    like a pickle); raw tensor data is counted and dropped, so memory stays at one chunk."""
    chunks, keep = [], None
    with archive.open(info) as fh:
        while chunk := fh.read(1 << 20):
            if keep is None:
                pickled = chunk[:1] == b"\x80"
                keep = pickled or info.filename.endswith(("_config.json", ".pt", ".pkl"))
            read += len(chunk)
            if read > max_bytes:
                raise UnlogitError(_too_large(path, read, max_bytes))
            if keep:
                chunks.append(chunk)
    return b"".join(chunks), read


def _check_payload_config(path: Path, name: str, data: bytes) -> None:
    """Every entry of a weights or constants config is a raw tensor that torch reads without unpickling."""
    try:
        config = json.loads(data).get("config", {})
    except (ValueError, AttributeError) as exc:
        raise UnlogitError(f"{path}: {name} is not a payload config ({exc})") from exc
    prefix = SAFE_PAYLOADS["weights" if "/data/weights/" in f"/{name}" else "constants"]
    for key, entry in config.items() if isinstance(config, dict) else [("?", config)]:
        path_name = entry.get("path_name") if isinstance(entry, dict) else None
        raw = isinstance(path_name, str) and path_name.startswith(prefix) and "/" not in path_name
        if not raw or entry.get("use_pickle") is not False:
            raise UnlogitError(
                f"{path}: {name} stores {key!r} as {path_name!r} (use_pickle {entry.get('use_pickle')!r}), which "
                f"torch would unpickle and could run code; unlogit reads only raw {prefix}* tensors (re-export "
                "plain tensors)"
            )


def _pickle_calls(data: bytes) -> bool:
    """Whether ``data`` is a complete pickle whose opcodes import or call something (raw tensor bytes that
    happen to start like a pickle do not parse as one)."""
    import pickletools

    if len(data) < 2 or data[0] != 0x80 or data[1] not in (2, 3, 4, 5):
        return False
    try:
        return any(op.name in CODE_OPCODES for op, _arg, _pos in pickletools.genops(data))
    except Exception:  # not a well-formed pickle: torch would not unpickle it either
        return False


def _positive_number(value: object, key: str, spec: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise UnlogitError(f"classifier {spec!r}: {key} must be a positive number, got {value!r}")
    return number


def load_export(req: SourceRequest) -> NormalizedClassifier:
    path = Path(req.target).expanduser()
    if not path.is_file():
        raise UnlogitError(f"torch.export program {path} not found")
    conv = req.convention(allowed=("max_gb",))
    max_gb = _positive_number(req.options.get("max_gb", MAX_ARCHIVE_GB), "max_gb", req.spec)
    check_export_archive(path, max_gb * 1024**3)  # refuses pickled entries before torch reads anything
    try:
        model = torch.export.load(str(path)).module()
    except Exception as exc:  # torch.export raises many kinds for foreign files
        raise UnlogitError(f"{path} is not a torch.export program ({type(exc).__name__}: {exc})") from exc
    return req.external(_batched(model, conv), conv)


def _batched(model: nn.Module, conv: InputConvention) -> nn.Module:
    """A program exported with a fixed batch of one (``torch.export`` specialises to its example input unless
    told otherwise) runs one image at a time; a batch-agnostic one is returned as it is."""
    channels = len(conv.mean or conv.std or (0, 0, 0))
    size = conv.size or 32
    shape = (size, size, channels) if conv.layout == "nhwc" else (channels, size, size)
    with torch.no_grad():
        try:
            model(torch.zeros(2, *shape))
            return model
        except Exception:  # a graph guard on the batch size, or another input size altogether
            pass
        try:
            model(torch.zeros(1, *shape))
        except Exception:
            return model  # not a batch problem: let the first real call name what the graph needs
    return PerSample(model)


def looks_like_factory(base: str) -> bool:
    mod, _, fn = base.partition(":")
    return bool(fn) and all(p.isidentifier() for p in mod.split(".")) and fn.split("@")[0].isidentifier()


def load_factory(req: SourceRequest) -> NormalizedClassifier:
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
