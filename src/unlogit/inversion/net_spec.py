"""``NetSpec``: what an inverter's net is, the one description that the config produces, the method's
builder reads and ``model.json`` stores (under ``net``, field by field).

Adding a generator hyperparameter is three typed edits: a field here, the same field in
:class:`~unlogit.inversion.config.InverterModelConfig` (copied over by name), and its use in the method's
builder (:mod:`unlogit.inversion.methods`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError
from .nets.logit_encoder import EncoderMode

RESOLUTIONS = (28, 32, 64, 128)
MAX_CLASSES = 100_000
MAX_WIDTH = 1024  # a channel width, multiplier or attention resolution
# Upper bounds of the sizes a spec may ask for: far above any net here, far below an allocation failure.
SIZE_LIMITS = {
    "ch_g": (1, MAX_WIDTH),
    "dim_z": (0, 4096),
    "shared_dim": (0, 4096),
    "cbn_hidden": (1, 4096),
    "opt_steps": (0, 100_000),
    "ridge_anchors": (16, 20_000),
}


def _bounded(key: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(f"'net.{key}' must be in [{low}, {high}], got {value}")


@dataclass(frozen=True)
class NetSpec:
    """An inverter's net: its method, the classifier's class count, the image shape and the method's sizes.

    Attributes:
        method: a :data:`~unlogit.inversion.methods.METHODS` name.
        num_classes: K, the length of the logit vector; resolution: 28, 32, 64 or 128; channels: 1 or 3.
        encoder, temperature: how raw logits are encoded (:class:`~unlogit.inversion.nets.logit_encoder.LogitEncoder`).
        ch_g, dim_z, attention, shared_dim, shared_sn, sn_g, cbn_hidden, g_channels: the generator's (and the
            decoders' ``ch_g``) sizes; see :class:`~unlogit.inversion.nets.generator.Generator`.
        opt_steps, opt_lr, opt_tv, opt_l2: the optimisation baseline's settings.
        ridge_anchors: the most training images the kernel-ridge reference decoder is fitted on.
    """

    method: str
    num_classes: int
    resolution: int
    channels: int
    encoder: EncoderMode = "standardize"
    temperature: float = 1.0
    ch_g: int = 64
    dim_z: int = 120
    attention: tuple[int, ...] = ()
    shared_dim: int = 0
    shared_sn: bool = False
    sn_g: bool = True
    cbn_hidden: int | None = None
    g_channels: tuple[int, ...] | None = None
    opt_steps: int = 200
    opt_lr: float = 0.1
    opt_tv: float = 0.05
    opt_l2: float = 0.01
    ridge_anchors: int = 2048

    def __post_init__(self) -> None:
        object.__setattr__(self, "attention", tuple(self.attention))
        if self.g_channels is not None:
            object.__setattr__(self, "g_channels", tuple(self.g_channels))
        if self.resolution not in RESOLUTIONS:
            raise ConfigError(f"'net.resolution' must be one of {list(RESOLUTIONS)}, got {self.resolution}")
        if self.channels not in (1, 3):
            raise ConfigError(f"'net.channels' must be 1 or 3, got {self.channels}")
        _bounded("num_classes", self.num_classes, 1, MAX_CLASSES)
        for key, (low, high) in SIZE_LIMITS.items():
            _bounded(key, getattr(self, key), low, high)
        for key in ("g_channels", "attention"):
            for v in getattr(self, key) or ():
                _bounded(key, v, 1, MAX_WIDTH)
        _bounded("temperature", self.temperature, 1e-6, 1e6)

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> NetSpec:
        """A stored spec (model.json's ``net``), every field type-checked and bounded."""
        from ..config import from_dict

        return from_dict(cls, spec, "net.")

    @classmethod
    def from_fields(cls, source: object, **given: Any) -> NetSpec:
        """A spec whose fields are copied by name from ``source`` (a model config), ``given`` winning."""
        shared = {f.name: getattr(source, f.name) for f in fields(cls) if hasattr(source, f.name)}
        return cls(**{**shared, **given})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (tuples as lists), as model.json stores it."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
