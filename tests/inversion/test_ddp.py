"""A 2-process gloo run on CPU: DDP trains, and both ranks end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

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


RANK_SCRIPT = """
import json, sys
from unlogit import train_inverter
from unlogit.config import build_config
from unlogit.inversion.config import InverterRunConfig
import unlogit.inversion.train.hooks as hooks
from unlogit.inversion.train.state import TrainState

classifier, out, mode, overrides = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
cfg = build_config(InverterRunConfig, 'inverter', 'tiny', overrides, {'classifier': classifier})
if mode == 'kill':  # every rank stops right after its step-3 checkpoint, as a preempted job would
    save, save_rng = TrainState.save, hooks.save_rank_rng

    def save_then_stop(self, *args):  # the write in the background still lands: the trainer waits on exit
        save(self, *args)
        raise SystemExit(3)

    def save_rng_then_stop(stem, step):
        save_rng(stem, step)
        raise SystemExit(3)

    TrainState.save, hooks.save_rank_rng = save_then_stop, save_rng_then_stop
train_inverter(cfg, out, resume=mode == 'resume')
"""


def test_a_killed_two_rank_run_resumes_to_the_uninterrupted_result(tmp_path, tiny_classifier_run):
    """Each rank saves and restores its own RNG streams: after a kill and a resume, rank 1 draws the noise it would
    have drawn (not rank 0's), so the resumed run ends with the uninterrupted run's weights."""
    from safetensors.torch import load_file

    overrides = [o for o in TINY_GAN_OVERRIDES if not o.startswith("train.steps")] + ["train.steps=6"]
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLOGIT_THREADS": "1"}

    def launch(out, mode):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script)]
        args = [str(tiny_classifier_run), str(out), mode, json.dumps(overrides)]
        return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=300)

    full = launch(tmp_path / "full", "fresh")
    assert full.returncode == 0, full.stderr[-3000:]
    assert launch(tmp_path / "part", "kill").returncode != 0
    assert json.loads((tmp_path / "part" / "checkpoints" / "last.json").read_text())["step"] == 3
    rank1 = json.loads((tmp_path / "part" / "checkpoints" / "rank1_rng.json").read_text())
    assert rank1["step"] == 3
    resumed = launch(tmp_path / "part", "resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "not bit-exact" not in resumed.stderr
    a = load_file(str(tmp_path / "full" / "checkpoints" / "last.safetensors"))
    b = load_file(str(tmp_path / "part" / "checkpoints" / "last.safetensors"))
    weights = [k for k in a if k.startswith(("G/", "D/"))]
    assert weights and all(torch.equal(a[k], b[k]) for k in weights)
