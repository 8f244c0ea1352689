"""Device policy for training: where the data lives, autocast, and how G and D are wrapped (DDP, compile)."""

from __future__ import annotations

import contextlib
import warnings
from typing import Protocol

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

from .dist import DistInfo


def autocast_for(mode: str, device: torch.device):
    """``train.amp``: bf16 autocast (``bf16``, or ``auto`` on CUDA) or nothing (``off``)."""
    if mode == "bf16" or (mode == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class DeviceData(Protocol):
    """A dataset that lives in one tensor and can move (``ImageDataset``)."""

    images: torch.Tensor

    def to(self, device: torch.device) -> DeviceData: ...


def place_dataset(ds: DeviceData, device: torch.device, choice: str) -> bool:
    """``train.data_on_device``: keep the uint8 training images on the GPU (batches, augmentation and the
    logit cache then never cross PCIe). ``auto`` does so when they take < 25% of the free GPU memory."""
    if device.type != "cuda" or choice == "off":
        return False
    if choice == "auto":
        free, _ = torch.cuda.mem_get_info(device)
        if ds.images.numel() * ds.images.element_size() > 0.25 * free:
            return False
    ds.to(device)
    return True


def wrap_for_training(
    G: nn.Module, D: nn.Module | None, compile_: bool, dist: DistInfo
) -> tuple[nn.Module, nn.Module | None, nn.Module | None]:
    """G and D as the training steps call them: DDP-wrapped and/or compiled.

    Returns (G, D, D_local): D_local is D without DDP (G's adversarial loss needs no D all-reduce).
    """
    G_out: nn.Module = DDP(G) if dist.enabled else G
    D_out, D_local = D, D
    if dist.enabled and D is not None:
        with warnings.catch_warnings():  # torch >= 2.14 renames it; 2.11 only has broadcast_buffers
            warnings.filterwarnings("ignore", message=".*broadcast_buffers.*deprecated", category=FutureWarning)
            D_out = DDP(D, broadcast_buffers=False)  # real+fake in one D forward; SN buffers stay rank-local
    if compile_:
        G_out = torch.compile(G_out)
        if D is not None:
            D_local = torch.compile(D)
            D_out = torch.compile(D_out) if dist.enabled else D_local
    return G_out, D_out, D_local
