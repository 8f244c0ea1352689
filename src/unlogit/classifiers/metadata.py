"""The typed schema of a classifier run's ``model.json``: checked field by field before anything is built.

A file from elsewhere may hold anything where a number belongs; every field is read through
:func:`unlogit.config.from_dict` (types, unknown keys) and bounded here, so a bad file is one
:class:`~unlogit.errors.CheckpointError` naming the file and the field, never a traceback or a huge
allocation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import from_dict
from ..errors import CheckpointError, ConfigError
from ..runtime.checkpoint import checkpoint_body
from .archs import ArchSpec


@dataclass
class ClassifierMeta:
    """``model.json`` of ``unlogit train-classifier`` (without the checkpoint envelope)."""

    arch: ArchSpec
    classes: list[str]
    mean: list[float]
    std: list[float]
    input_shape: list[int] | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        a = self.arch
        if len(self.classes) != a.num_classes:
            raise ConfigError(f"'classes' names {len(self.classes)} classes but arch.num_classes is {a.num_classes}")
        for key, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != a.in_channels or not all(math.isfinite(v) for v in values):
                raise ConfigError(f"{key!r} must be {a.in_channels} finite numbers (one per channel), got {values}")
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"'std' values must be > 0, got {self.std}")
        if self.input_shape is not None and (
            len(self.input_shape) != 3
            or self.input_shape[0] != a.in_channels
            or not all(8 <= s <= 1024 for s in self.input_shape[1:])
        ):
            raise ConfigError(
                f"'input_shape' must be [{a.in_channels}, H, W] with 8 <= H, W <= 1024, got {self.input_shape}"
            )

    def shape(self) -> tuple[int, int, int] | None:
        return tuple(self.input_shape) if self.input_shape else None  # type: ignore[return-value]


def read_classifier_meta(raw: dict[str, Any], where: Path) -> ClassifierMeta:
    """``raw`` (a loaded model.json) as a :class:`ClassifierMeta`, or an error naming ``where`` and the field."""
    body = checkpoint_body(raw)
    try:
        return from_dict(ClassifierMeta, body)
    except ConfigError as exc:
        raise CheckpointError(f"{where}: {exc}; the file is damaged or not written by unlogit") from exc
