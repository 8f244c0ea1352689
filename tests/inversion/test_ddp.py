"""A 2-process gloo run on CPU: DDP trains, and both ranks end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ..conftest import TINY_GAN_OVERRIDES


def test_torchrun_two_processes_keep_identical_weights(tmp_path, tiny_classifier_run):
    out = tmp_path / "ddp"
    overrides = [o for o in TINY_GAN_OVERRIDES if not o.startswith("train.steps")] + [
        "train.steps=4",
        "train.accumulate=2",
    ]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "unlogit",
        "train",
        "--classifier",
        str(tiny_classifier_run),
        "--preset",
        "tiny",
        "--out",
        str(out),
        "--device",
        "cpu",
        *overrides,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLOGIT_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    digests = [json.loads((out / "checkpoints" / f"rank{r}_params.json").read_text())["sha256"] for r in (0, 1)]
    assert digests[0] == digests[1]
    assert (out / "model.json").is_file()
    # rank 0 alone logs: one line per log step, no duplicates
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum("fast_path" in r for r in records) <= 1  # the fast-path choice, once, before step 1
    assert [r["step"] for r in records if "fast_path" not in r] == [2, 4, 4]  # two log lines and the final line


def test_gradient_accumulation_all_reduces_only_on_the_last_micro_batch(tmp_path):
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from unlogit.inversion.steps import sync_gradients

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = DDP(torch.nn.Linear(3, 2))
        with sync_gradients(model, last=False):
            assert not model.require_backward_grad_sync  # inside no_sync: no all-reduce
        with sync_gradients(model, last=True):
            assert model.require_backward_grad_sync
        with sync_gradients(torch.compile(model), last=False):  # the compiled wrapper is seen through
            assert not model.require_backward_grad_sync
        with sync_gradients(torch.nn.Linear(3, 2), last=False):  # no DDP: nothing to do
            pass
    finally:
        dist.destroy_process_group()
