"""The typed schema of an inverter run's ``model.json``, checked before any network is built.

Every field is read through :func:`unlogit.config.from_dict` (types, unknown keys) and bounded here, so a
damaged or hostile file is one :class:`~unlogit.errors.CheckpointError` naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import from_dict
from ..errors import CheckpointError, ConfigError
from ..runtime.checkpoint import checkpoint_body
from .methods import METHODS
from .net_spec import NetSpec

LEGACY_KEYS = {"generator": "net"}  # model.json of unlogit <= 0.1 stored every net's spec under "generator"


@dataclass
class InverterMeta:
    """``model.json`` of ``unlogit train`` (without the checkpoint envelope)."""

    method: str
    net: NetSpec
    classifier: str
    classes: list[str] = field(default_factory=list)
    classifier_digest: str | None = None
    classifier_convention: dict[str, Any] | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        METHODS.get(self.method)
        if self.method != self.net.method:
            raise ConfigError(f"'method' is {self.method!r} but 'net.method' is {self.net.method!r}")
        if self.classes and len(self.classes) != self.net.num_classes:
            k = self.net.num_classes
            raise ConfigError(f"'classes' names {len(self.classes)} classes, 'net.num_classes' is {k}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the net spec's tuples as lists)."""
        from ..config import to_dict

        return to_dict(self)


def read_inverter_meta(raw: dict[str, Any], where: Path) -> InverterMeta:
    """``raw`` (a loaded model.json) as :class:`InverterMeta` (legacy keys renamed), or an error naming
    ``where`` and the field."""
    body = checkpoint_body(raw)
    for old, new in LEGACY_KEYS.items():
        if old in body and new not in body:
            body[new] = body.pop(old)
    net = body.get("net")
    if isinstance(net, dict) and "shared_sn" not in net:  # written before the field: G's shared linear had G's norm
        body["net"] = {**net, "shared_sn": net.get("sn_g", True)}
    try:
        return from_dict(InverterMeta, body)
    except ConfigError as exc:
        raise CheckpointError(f"{where}: {exc}; the file is damaged or not written by unlogit") from exc
