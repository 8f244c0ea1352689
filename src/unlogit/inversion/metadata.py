"""The typed schema of an inverter run's ``model.json``, checked before any network is built.

Every field is read through :func:`unlogit.config.from_dict` (types, unknown keys) and bounded here, so a
damaged or hostile file is one :class:`~unlogit.errors.CheckpointError` naming the file and the field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import from_dict
from ..errors import CheckpointError, ConfigError
from .methods import METHODS

ENVELOPE_KEYS = ("format", "format_version", "kind", "unlogit_version", "tensor_file", "tensor_bytes",
                 "tensor_sha256")  # fmt: skip
LEGACY_KEYS = {"generator": "net"}  # model.json of unlogit <= 0.1 stored every net's spec under "generator"
MAX_CLASSES = 100_000


def _bounded(key: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(f"'net.{key}' must be in [{low}, {high}], got {value}")


@dataclass
class NetSpecSchema:
    """What ``model.json`` stores under ``net`` (the spec :attr:`Method.build_net` reads)."""

    method: str
    num_classes: int
    resolution: int
    channels: int
    encoder: Literal["none", "standardize", "log-softmax", "temperature"]
    ch_g: int = 64
    dim_z: int = 120
    attention: list[int] = field(default_factory=list)
    shared_dim: int = 0
    temperature: float = 1.0
    sn_g: bool = True
    cbn_hidden: int | None = None
    g_channels: list[int] | None = None
    opt_steps: int = 200
    opt_lr: float = 0.1
    opt_tv: float = 0.05
    opt_l2: float = 0.01

    def __post_init__(self) -> None:
        METHODS.get(self.method)
        if self.resolution not in (28, 32, 64, 128):
            raise ConfigError(f"'net.resolution' must be one of [28, 32, 64, 128], got {self.resolution}")
        if self.channels not in (1, 3):
            raise ConfigError(f"'net.channels' must be 1 or 3, got {self.channels}")
        _bounded("num_classes", self.num_classes, 1, MAX_CLASSES)
        for key, top in (("ch_g", 1024), ("dim_z", 4096), ("shared_dim", 4096), ("cbn_hidden", 4096),
                         ("opt_steps", 100_000)):  # fmt: skip
            _bounded(key, getattr(self, key), 0 if key in ("dim_z", "shared_dim", "opt_steps") else 1, top)
        for key in ("g_channels", "attention"):
            for v in getattr(self, key) or []:
                _bounded(key, v, 1, 1024)
        _bounded("temperature", self.temperature, 1e-6, 1e6)


@dataclass
class InverterMeta:
    """``model.json`` of ``unlogit train`` (without the checkpoint envelope)."""

    method: str
    net: NetSpecSchema
    classifier: str
    classes: list[str] = field(default_factory=list)
    classifier_digest: str | None = None
    classifier_convention: dict[str, Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method != self.net.method:
            raise ConfigError(f"'method' is {self.method!r} but 'net.method' is {self.net.method!r}")
        if self.classes and len(self.classes) != self.net.num_classes:
            k = self.net.num_classes
            raise ConfigError(f"'classes' names {len(self.classes)} classes, 'net.num_classes' is {k}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_inverter_meta(raw: dict[str, Any], where: Path) -> InverterMeta:
    """``raw`` (a loaded model.json) as :class:`InverterMeta` (legacy keys renamed), or an error naming
    ``where`` and the field."""
    body = {k: v for k, v in raw.items() if k not in ENVELOPE_KEYS}
    for old, new in LEGACY_KEYS.items():
        if old in body and new not in body:
            body[new] = body.pop(old)
    try:
        return from_dict(InverterMeta, body)
    except ConfigError as exc:
        raise CheckpointError(f"{where}: {exc}; the file is damaged or not written by unlogit") from exc
