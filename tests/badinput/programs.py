"""What the archive tests build: a small honest ``torch.export`` program, and a pickle that leaves a mark when it
is unpickled (the proof that code ran)."""

from __future__ import annotations

from pathlib import Path

import torch


class LinearNet(torch.nn.Module):
    """32x32 RGB images -> 10 logits, one linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3 * 32 * 32, 10)

    def forward(self, x):
        return self.lin(x.flatten(1))


def export_linear(path: Path) -> Path:
    """``path``: a ``.pt2`` of :class:`LinearNet` (exported for one image: its weights are plain tensors)."""
    torch.export.save(torch.export.export(LinearNet(), (torch.zeros(1, 3, 32, 32),)), str(path))
    return path


class Marker:
    """Unpickling it creates the file ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))
