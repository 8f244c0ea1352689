"""Device selection and CPU hygiene."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

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


def compile_toolchain_missing(device: torch.device) -> str | None:
    """What ``torch.compile`` lacks here, or None when it can build kernels: on the CPU, inductor needs a C++
    compiler (``$CXX``, ``g++`` or ``c++``) and the Python headers (``Python.h``); on CUDA, Triton ships with
    torch."""
    if device.type == "cuda":
        return None
    if not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++")):
        return "a C++ compiler (install g++, or set CXX)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "the Python headers, Python.h (install python3-dev for this Python)"
    return None


def device_memory_bytes(device: torch.device) -> int | None:
    """The memory of ``device``, in bytes: a GPU's total memory, or the machine's physical memory for the CPU
    (None where the system does not say)."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None
