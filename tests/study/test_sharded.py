"""A study's claim and findings decided by 2 gloo processes under torchrun: the other rank scores its share of
every stage rank 0 announces, and with the same scoring batches every per-image value equals one process's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import torch
from safetensors.torch import load_file

from unlogit.runtime.rundir import StudyLayout


def _undecided(src, dst):
    shutil.copytree(src, dst)
    layout = StudyLayout(dst)
    for path in (layout.claim, layout.claim_values, layout.findings, layout.findings_values):
        path.unlink(missing_ok=True)
    return layout


def test_two_processes_decide_the_claim_one_process_decides(tmp_path, mini_study_dir):
    config = mini_study_dir.parent / "mini.yaml"
    one, two = _undecided(mini_study_dir, tmp_path / "one"), _undecided(mini_study_dir, tmp_path / "two")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLOGIT_THREADS": "1"}  # the same kernels in every process
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    study = ["-m", "unlogit", "study", str(config), "--device", "cpu", "--batch-size", "8"]  # 5 batches of 40 images
    for launcher, layout in (([sys.executable], one), (torchrun, two)):
        done = subprocess.run(
            [*launcher, *study, "--out", str(layout.path)], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode in (0, 3), done.stdout[-2000:] + done.stderr[-3000:]
    claims = [json.loads(layout.claim.read_text()) for layout in (one, two)]
    assert claims[0]["verdict"] == claims[1]["verdict"] and claims[0]["n_images"] == claims[1]["n_images"]
    for values in ("claim_values", "findings_values"):
        a, b = (load_file(getattr(layout, values)) for layout in (one, two))
        assert set(a) == set(b) and a
        for key in a:  # the same batches, dealt to two processes: the same bits
            assert torch.equal(a[key], b[key]), (values, key, (a[key].double() - b[key].double()).abs().max())
    rows = [json.loads(layout.findings.read_text()) for layout in (one, two)]
    assert [r.get("verdict") for r in rows[0]["findings"]] == [r.get("verdict") for r in rows[1]["findings"]]
    assert [r.get("estimate") for r in rows[0]["findings"]] == [r.get("estimate") for r in rows[1]["findings"]]
