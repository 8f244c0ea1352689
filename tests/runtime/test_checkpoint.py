from __future__ import annotations

import json

import pytest
import torch

from unlogit.errors import CheckpointError
from unlogit.runtime.atomic import write_text_atomic
from unlogit.runtime.checkpoint import flatten_state, load_checkpoint, save_checkpoint, unflatten_state


def test_round_trip_and_metadata(tmp_path):
    tensors = {"a": torch.arange(6.0).view(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    save_checkpoint(tmp_path / "ck", tensors, {"note": "x"}, kind="test.kind")
    loaded, meta = load_checkpoint(tmp_path / "ck", "test.kind")
    assert torch.equal(loaded["a"], tensors["a"]) and torch.equal(loaded["b"], tensors["b"])
    assert meta["note"] == "x" and meta["kind"] == "test.kind" and len(meta["tensor_sha256"]) == 64


def test_shared_storage_tensors_are_saved(tmp_path):
    base = torch.randn(4)
    save_checkpoint(tmp_path / "ck", {"w": base, "alias": base}, {}, kind="k")
    loaded, _ = load_checkpoint(tmp_path / "ck", "k")
    assert torch.equal(loaded["alias"], base)


def test_nested_state_round_trip():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.randn(3))], lr=0.1)
    opt.param_groups[0]["params"][0].grad = torch.ones(3)
    opt.step()
    state = {"opt": opt.state_dict(), "tuple": (1, "a", torch.zeros(2)), "int_keys": {0: 1.5}}
    skeleton, tensors = flatten_state(state)
    json.dumps(skeleton)  # the skeleton is plain JSON
    back = unflatten_state(json.loads(json.dumps(skeleton)), tensors)
    assert back["int_keys"] == {0: 1.5}
    assert isinstance(back["tuple"], tuple)
    assert torch.equal(back["opt"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_truncated_tensor_file(tmp_path):
    save_checkpoint(tmp_path / "ck", {"a": torch.randn(100)}, {}, kind="k")
    data = (tmp_path / "ck.safetensors").read_bytes()
    (tmp_path / "ck.safetensors").write_bytes(data[:-50])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "ck", "k")


def test_wrong_kind_and_foreign_files(tmp_path):
    save_checkpoint(tmp_path / "ck", {"a": torch.randn(2)}, {}, kind="unlogit.classifier")
    with pytest.raises(CheckpointError, match="holds a 'unlogit.classifier' checkpoint, but a 'unlogit.inverter'"):
        load_checkpoint(tmp_path / "ck", "unlogit.inverter")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not an unlogit checkpoint"):
        load_checkpoint(tmp_path / "other", "k")
    (tmp_path / "garbage.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path / "garbage", "k")
    with pytest.raises(CheckpointError, match="no checkpoint metadata"):
        load_checkpoint(tmp_path / "missing", "k")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    from unlogit.runtime.atomic import write_atomic

    target = tmp_path / "f.txt"
    write_text_atomic(target, "old")

    def failing_writer(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, failing_writer)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temp file left behind


def test_atomic_files_get_normal_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "f.txt", "x")
    finally:
        os.umask(mask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


def test_background_writer_writes_the_snapshot_taken_at_save_not_later_updates(tmp_path):
    from unlogit.runtime.checkpoint import CheckpointWriter

    w = torch.zeros(1000)
    meta = {"step": 1, "extra": {"k": [1]}}
    writer = CheckpointWriter()
    writer.save(tmp_path / "last", {"w": w}, meta, "test")
    w.add_(5.0)  # training goes on while the file is written
    meta["extra"]["k"].append(2)
    writer.save(tmp_path / "other", {"w": w}, {"step": 2}, "test")  # waits for the first write, then snapshots
    writer.close()
    first, info = load_checkpoint(tmp_path / "last", "test")
    assert torch.equal(first["w"], torch.zeros(1000)) and info["step"] == 1 and info["extra"] == {"k": [1]}
    assert torch.equal(load_checkpoint(tmp_path / "other", "test")[0]["w"], torch.full((1000,), 5.0))


def test_background_writer_reports_a_failed_write_at_wait_and_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    import unlogit.runtime.checkpoint as checkpoint

    save_checkpoint(tmp_path / "last", {"w": torch.ones(3)}, {"step": 1}, "test")
    writer = checkpoint.CheckpointWriter()

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", disk_full)
    writer.save(tmp_path / "last", {"w": torch.zeros(3)}, {"step": 2}, "test")  # returns: the write fails later
    with pytest.raises(CheckpointError, match="No space left.*earlier checkpoint there is left"):
        writer.wait()
    writer.close()
    tensors, info = load_checkpoint(tmp_path / "last", "test")
    assert info["step"] == 1 and torch.equal(tensors["w"], torch.ones(3))
