"""The GPU check's dry run: every step of benchmarks/gpu_check.sh at toy size on the CPU, so the script the next
lent GPU runs cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gpu_check_dry_run_writes_every_result(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "[gpu_check] done" in run.stdout
    data = json.loads((tmp_path / "data_pipeline.json").read_text())
    assert data["throughput"]["workers_2"]["images_per_s"] > 0 and "prepared_2_gloo_ranks" in data["memory"]
    assert data["logits_224"]["images"] > 0 and data["logits_224"]["device"] == "cpu"
    metric = json.loads((tmp_path / "metric_memory.json").read_text())
    assert [row["n"] for row in metric["rows"]] == [200, 400]
    assert json.loads((tmp_path / "throughput.json").read_text())
    syncs = json.loads((tmp_path / "host_syncs.json").read_text())
    assert set(syncs["seconds_per_iter"]) == {"per_step_reads", "at_log_cadence"} and syncs["speedup"] > 0
    stages = json.loads((tmp_path / "device_stages.json").read_text())
    assert stages["all_ok"] and set(stages["scoring"]["cpu"]) == {"evaluate", "evaluate_2_processes", "analyze"}
