"""What a classifier spec asks for: the request a source receives and the input convention it states.

A spec is ``[PREFIX]TARGET[?OPTIONS]``. Any external spec may carry options after ``?``::

    onnx:model.onnx?mean=0.4914,0.4822,0.4465&std=0.2471,0.2435,0.2616&layout=nhwc&classes=names.txt

    mean, std   per-channel normalisation the model expects of [0,1] images (default: none)
    layout      nchw (default) or nhwc: the axis order the model takes
    size        resize inputs to size x size first (bilinear, antialiased)
    classes     a file with one class name per line, or a count (names are then numbered)

The resolved convention is recorded in every run that uses the spec (``NormalizedClassifier.info``).
:func:`wrap_external` wraps a third-party network under its convention into a :class:`NormalizedClassifier`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import torch

from ..errors import UnlogitError
from .normalized import AdaptedModel, NormalizedClassifier

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
        raise UnlogitError(
            f"classifier {spec!r}: unknown option {unknown[0]!r}; allowed: {sorted({*CONVENTION_KEYS, *allowed})}"
        )
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
            raise UnlogitError(
                f"classifier {spec!r}: size must be an integer from 1 to {MAX_SIZE} (pixels), got {options['size']!r}"
            )
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
        """A third-party network under its input convention (:func:`wrap_external`)."""
        kwargs = {"classes": self.classes, "mean": self.mean, "std": self.std, "num_classes": self.num_classes}
        return wrap_external(model, self.spec, conv, **{**kwargs, **defaults})


def wrap_external(
    model: torch.nn.Module,
    spec: str,
    conv: InputConvention,
    classes: Sequence[str] | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    num_classes: int | None,
    default_mean: Sequence[float] | None = None,
    default_std: Sequence[float] | None = None,
    arch: str = "external",
) -> NormalizedClassifier:
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
        raise UnlogitError(
            f"classifier {spec!r}: cannot tell how many classes it has ({type(exc).__name__}: {exc}); "
            "give classes=K or classes=FILE in the spec, or size=PIXELS"
        ) from exc
    return int(out.shape[-1])
