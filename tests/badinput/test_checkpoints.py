"""Bad input, surface: checkpoint files. Edited, swapped or half-written pairs are refused by hash."""

from __future__ import annotations

import shutil

import pytest

import unlogit
from unlogit.errors import CheckpointError


def _flip_bytes(path, offset: int, count: int = 64) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + count, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_overwritten_weights_of_the_same_size_are_refused(tmp_path, tiny_inverter_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_inverter_run, run)
    size = (run / "model.safetensors").stat().st_size
    _flip_bytes(run / "model.safetensors", size // 2)
    assert (run / "model.safetensors").stat().st_size == size
    with pytest.raises(CheckpointError, match="SHA-256"):
        unlogit.load_inverter(run)


def test_tensors_from_another_save_beside_this_json_are_refused(tmp_path, tiny_inverter_run):
    """What a crash between the two writes leaves: the step-N JSON beside other tensors of equal size."""
    run = tmp_path / "run"
    shutil.copytree(tiny_inverter_run, run)
    other = run / "checkpoints" / "last.safetensors"
    original = other.read_bytes()
    _flip_bytes(other, len(original) - 200, 8)
    from unlogit.runtime.checkpoint import load_checkpoint

    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(run / "checkpoints" / "last", "unlogit.inverter-train-state")
