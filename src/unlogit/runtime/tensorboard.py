"""``train.logger=tensorboard``: the scalars of metrics.jsonl and the sample sheets, also as TensorBoard events.

metrics.jsonl stays the source of truth; the event files (``RUN/tensorboard/``) are a view of it for the
tool the field uses. Needs the ``tensorboard`` extra.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import torch

from ..errors import UnlogitError


class TensorBoardSink:
    """Writes records (their numeric values) and images to ``folder`` with torch's SummaryWriter."""

    def __init__(self, folder: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # tensorboard is not installed
            raise UnlogitError(
                "train.logger=tensorboard needs the tensorboard extra: pip install 'unlogit[tensorboard]'"
            ) from exc
        self.writer = SummaryWriter(str(folder))

    def record(self, rec: dict[str, Any], prefix: str = "train") -> None:
        step = int(rec.get("step", 0))
        for key, value in rec.items():
            if key != "step" and isinstance(value, numbers.Real) and not isinstance(value, bool):
                self.writer.add_scalar(f"{prefix}/{key}", float(value), step)
        self.writer.flush()

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        """image: (3,H,W) in [0,1]."""
        self.writer.add_image(tag, image.clamp(0, 1), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
