"""Classifiers from elsewhere: URL-style input conventions and the ONNX, timm and RobustBench loaders.

Any external spec may carry options after ``?``::

    onnx:model.onnx?mean=0.4914,0.4822,0.4465&std=0.2471,0.2435,0.2616&layout=nhwc&classes=names.txt

    mean, std   per-channel normalisation the model expects of [0,1] images (default: none)
    layout      nchw (default) or nhwc: the axis order the model takes
    size        resize inputs to size x size first (bilinear, antialiased)
    classes     a file with one class name per line, or a count (names are then numbered)

The resolved convention is recorded in every run that uses the spec (``NormalizedClassifier.info``).
Weights are read only through safe loaders (safetensors, ``torch.load(weights_only=True)``, onnx2torch's
graph conversion); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import UnlogitError

CONVENTION_KEYS = ("mean", "std", "layout", "size", "classes")
MAX_SIZE = 1024  # size=N resizes inputs to N x N: larger is an allocation no classifier here needs
MAX_CLASSES = 100_000


@dataclass(frozen=True)
class InputConvention:
    """How a third-party model expects its input (see the module docstring)."""

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    layout: str = "nchw"
    size: int | None = None
    classes: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["classes"] = len(self.classes) if self.classes else None  # the names are stored with the run
        return out


def split_options(spec: str) -> tuple[str, dict[str, str]]:
    """``"onnx:m.onnx?mean=0.5&layout=nhwc"`` -> (``"onnx:m.onnx"``, {"mean": "0.5", "layout": "nhwc"})."""
    base, sep, query = spec.partition("?")
    if not sep:
        return spec, {}
    parsed = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    return base, {k: v[-1] for k, v in parsed.items()}


def _floats(text: str, key: str, spec: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError as exc:
        raise UnlogitError(f"classifier {spec!r}: option {key}={text!r} must be comma-separated numbers") from exc


def parse_convention(options: dict[str, str], spec: str, allowed: Sequence[str] = ()) -> InputConvention:
    """Validate the convention options (plus source-specific ``allowed`` keys) of a spec."""
    unknown = sorted(set(options) - set(CONVENTION_KEYS) - set(allowed))
    if unknown:
        raise UnlogitError(f"classifier {spec!r}: unknown option {unknown[0]!r}; allowed: "
                           f"{sorted({*CONVENTION_KEYS, *allowed})}")  # fmt: skip
    layout = options.get("layout", "nchw").lower()
    if layout not in ("nchw", "nhwc"):
        raise UnlogitError(f"classifier {spec!r}: layout must be nchw or nhwc, got {layout!r}")
    mean = _floats(options["mean"], "mean", spec) if "mean" in options else None
    std = _floats(options["std"], "std", spec) if "std" in options else None
    if std is not None and any(s <= 0 for s in std):
        raise UnlogitError(f"classifier {spec!r}: std values must be > 0, got {std}")
    if mean is not None and std is not None and len(mean) != len(std):
        raise UnlogitError(f"classifier {spec!r}: mean has {len(mean)} values but std {len(std)}")
    size = None
    if "size" in options:
        if not options["size"].isdigit() or not 1 <= int(options["size"]) <= MAX_SIZE:
            raise UnlogitError(f"classifier {spec!r}: size must be an integer from 1 to {MAX_SIZE} (pixels), got "
                               f"{options['size']!r}")  # fmt: skip
        size = int(options["size"])
    return InputConvention(mean, std, layout, size, _classes(options.get("classes"), spec))


def _classes(value: str | None, spec: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if value.isdigit():
        if not 1 <= int(value) <= MAX_CLASSES:
            raise UnlogitError(f"classifier {spec!r}: classes={value} must be a count from 1 to {MAX_CLASSES:,}")
        return tuple(str(i) for i in range(int(value)))
    path = Path(value).expanduser()
    if not path.is_file():
        raise UnlogitError(f"classifier {spec!r}: classes={value!r} is neither a count nor a file of class names")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise UnlogitError(f"classifier {spec!r}: the class file {path} is empty")
    return tuple(names)


class AdaptedModel(nn.Module):
    """Resizes and/or permutes normalised NCHW images into what the wrapped model takes."""

    def __init__(self, model: nn.Module, layout: str = "nchw", size: int | None = None) -> None:
        super().__init__()
        self.model, self.layout, self.size = model, layout, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        if self.layout == "nhwc":
            x = x.permute(0, 2, 3, 1).contiguous()
        return self.model(x)


class PerSample(nn.Module):
    """Runs a model whose graph has a fixed batch dimension of 1 one image at a time."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.model(x[i : i + 1]) for i in range(len(x))])


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
        raise UnlogitError(f"cannot load {path} safely ({type(exc).__name__}: {exc}); save it as safetensors or "
                           "with torch.save(model.state_dict())") from exc  # fmt: skip
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UnlogitError(f"{path} does not hold a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


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


PICKLE_PROTOCOL = b"\x80"  # every pickle of protocol 2+ starts so; torch.save zip payloads start with PK


def check_export_archive(path: Path) -> None:
    """Refuse a ``.pt2`` archive before ``torch.export.load`` reads it if any part of it would be unpickled.

    torch's loader unpickles (``weights_only=False``) weights and constants marked ``use_pickle``, opaque and
    custom objects, and falls back to a full unpickle for any embedded ``torch.save`` payload that the
    restricted loader refuses. So: the archive must be a zip; no payload config may mark ``use_pickle``; no
    constant may be an opaque or custom object; and every embedded ``torch.save`` payload (sample inputs,
    legacy state dicts) must load with ``weights_only=True``."""
    import io
    import json
    import zipfile

    if not zipfile.is_zipfile(path):
        raise UnlogitError(f"{path} is not a torch.export archive (not a zip file); save one with torch.export.save")
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename
            if name.endswith("_config.json") and "/data/" in f"/{name}":
                try:
                    config = json.loads(archive.read(info)).get("config", {})
                except (ValueError, AttributeError) as exc:
                    raise UnlogitError(f"{path}: {name} is not a payload config ({exc})") from exc
                pickled = [k for k, v in config.items() if isinstance(v, dict) and v.get("use_pickle")]
                if pickled:
                    raise UnlogitError(f"{path} stores {pickled[:3]} as pickles, which torch would unpickle and "
                                       "could run code; unlogit refuses it (re-export plain tensors)")  # fmt: skip
            leaf = name.rsplit("/", 1)[-1]
            if leaf.startswith(("opaque_obj_", "custom_obj_")):
                raise UnlogitError(f"{path} holds a pickled object ({name}); unlogit refuses archives that would be "
                                   "unpickled")  # fmt: skip
            if _torch_payload(name, archive.read(info)[:1]):
                try:
                    torch.load(io.BytesIO(archive.read(info)), weights_only=True)
                except Exception as exc:  # the restricted unpickler refused something: torch would unpickle it
                    raise UnlogitError(f"{path}: {name} is not plain tensor data ({type(exc).__name__}); torch "
                                       "would unpickle it and could run code, so unlogit refuses the "
                                       "archive") from exc  # fmt: skip


def _torch_payload(name: str, head: bytes) -> bool:
    """Whether an archive member is (or may be) a ``torch.save`` payload or a pickle: ``.pt``/``.pkl`` files,
    and anything outside the raw tensor folders that starts with a pickle opcode."""
    raw = any(part in f"/{name}" for part in ("/data/weights/", "/data/constants/"))
    return name.endswith((".pt", ".pkl")) or (head == PICKLE_PROTOCOL and not raw)


def load_onnx(path: Path) -> nn.Module:
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


def load_timm(name: str, weights: str | None, num_classes: int | None) -> tuple[nn.Module, dict[str, Any]]:
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


def robustbench_checkpoint(model_dir: Path, dataset: str, threat: str, name: str) -> Path:
    """Where RobustBench keeps a model's weights: ``MODEL_DIR/DATASET/THREAT/NAME.pt``."""
    return model_dir / dataset / threat / f"{name}.pt"


def load_robustbench(name: str, model_dir: Path, dataset: str, threat: str) -> nn.Module:
    """A RobustBench model from a local model directory (its own layout), weights read with
    ``weights_only=True``; never downloaded (RobustBench's own loader would fetch missing weights)."""
    try:
        from robustbench.model_zoo import model_dicts
        from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel
    except ImportError as exc:
        raise UnlogitError(
            "robustbench: specs need the robustbench package: pip install 'unlogit[robustbench]'"
        ) from exc
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
        model.load_state_dict(load_state(path))
    except RuntimeError as exc:
        raise UnlogitError(f"{path} does not fit RobustBench's {name}: {exc}") from exc
    return model
