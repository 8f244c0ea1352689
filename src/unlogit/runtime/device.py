"""Device selection and CPU hygiene."""

from __future__ import annotations

import os

import torch

from ..errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA if available, else CPU. An explicit device that does not exist is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available; use device=cpu or device=auto")
    return dev


def configure_cpu(threads: int | None = None) -> None:
    """Flush denormals (they slow CPU training badly) and set torch's thread count deliberately.

    ``threads=None`` keeps torch's default unless ``UNLOGIT_THREADS`` is set.
    """
    torch.set_flush_denormal(True)
    env = os.environ.get("UNLOGIT_THREADS")
    if threads is None and env:
        threads = int(env)
    if threads:
        torch.set_num_threads(threads)
