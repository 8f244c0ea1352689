"""``unlogit study --launcher submitit``: one job per run, then the decision; failures named with their logs."""

from __future__ import annotations

import json

import pytest
import yaml

from unlogit.errors import UnlogitError
from unlogit.study.launcher import LauncherConfig, StudyCall, StudyJob, launch_study, unfinished_runs

from ..conftest import mini_study_spec

ON_THIS_MACHINE = {"gpus_per_job": 0, "cpus_per_task": 1, "timeout_min": 30}


def _mini(tmp_path):
    path = tmp_path / "mini.yaml"  # without the analysis and report: the claim is the same, in less time
    path.write_text(yaml.safe_dump(mini_study_spec(analyze=False), sort_keys=False))
    return path


@pytest.mark.slow
@pytest.mark.timeout(1200)  # ten processes, each importing torch
def test_the_mini_study_as_local_jobs_decides_the_claim_a_plain_run_decides(tmp_path, mini_study_dir):
    import shutil

    call = StudyCall(str(_mini(tmp_path)), str(tmp_path / "out"))
    shutil.copytree(mini_study_dir / "classifiers", tmp_path / "out" / "classifiers")  # done: only inverters run
    runs = unfinished_runs(call)
    assert runs and {kind for kind, _ in runs} == {"inverter"}
    summary = launch_study(call, LauncherConfig(cluster="local", **ON_THIS_MACHINE))
    assert summary["claim"]["verdict"] == json.loads((mini_study_dir / "claim.json").read_text())["verdict"]
    ours, plain = (json.loads((d / "claim.json").read_text()) for d in (tmp_path / "out", mini_study_dir))
    for key in ("verdict", "endpoints", "retrieval", "realism", "n_images", "training"):
        assert ours[key] == plain[key], key  # each run trained in its own process: the same numbers
    jobs = {p.name.split("_")[0] for p in (tmp_path / "out" / "submitit").glob("*_log.out")}
    assert len(jobs) == len(runs) + 1  # one job per unfinished run, then one that decides
    assert unfinished_runs(call) == []


@pytest.mark.parametrize("failing", ["classifiers/robust", "inverters/robust"])
def test_a_failed_job_is_named_with_its_log_and_nothing_that_needs_it_runs(tmp_path, monkeypatch, failing):
    call = StudyCall(str(_mini(tmp_path)), str(tmp_path / "out"))
    ran = []

    def fake_run(self, only=None):
        ran.append(only)
        if only == [failing]:
            raise RuntimeError(  # worded as submitit's FailedJobError wraps a job's traceback
                "Job (task=0) failed during processing with trace:\n----------------------\nTraceback (most recent "
                "call last):\ntorch.OutOfMemoryError: CUDA out of memory\n----------------------\nYou can check "
                "full logs with 'job.stderr(0)' and 'job.stdout(0)'or at paths:\n  - /tmp/1_0_log.err"
            )
        return {}

    monkeypatch.setattr(StudyCall, "run", fake_run)
    monkeypatch.setattr("pdb.post_mortem", lambda *_a: None)  # the debug executor opens a debugger on failure
    expected = rf"(?s)1 of \d+ jobs failed:\n  {failing} .*out of memory; log .*rerun the same command"
    with pytest.raises(UnlogitError, match=expected) as error:
        launch_study(call, LauncherConfig(cluster="debug", **ON_THIS_MACHINE))
    assert f"{failing} (job " in str(error.value) and "job.stderr" not in str(error.value)  # the cause, not the wrapper
    assert None not in ran  # no decision without every run
    inverters = [only for only in ran if only[0].startswith("inverters/")]
    if failing.startswith("classifiers/"):
        assert ["classifiers/standard"] in ran and not inverters  # the inverter wave waits for every classifier
    else:
        assert ["inverters/standard"] in inverters  # the other runs of the wave still ran
    assert (tmp_path / "out" / "study.yaml").is_file()  # settled once, before any job


def test_a_preempted_job_requeues_the_same_run_which_resumes_from_its_checkpoint():
    job = StudyJob(StudyCall("mini.yaml", "out"), "inverters/robust")
    again = job.checkpoint()
    assert isinstance(again.function, StudyJob) and (again.function.call, again.function.label) == (job.call, job.label)


def test_launcher_settings_are_checked_and_passed_to_the_scheduler():
    from unlogit.errors import ConfigError

    with pytest.raises(ConfigError, match="cluster 'kubernetes'"):
        LauncherConfig(cluster="kubernetes")
    params = LauncherConfig(gpus_per_job=4, partition="gpu", mem_gb=64).parameters("unlogit-x")
    assert params["tasks_per_node"] == 4 and params["gpus_per_node"] == 4  # one DDP rank per GPU
    assert params["slurm_partition"] == "gpu" and params["mem_gb"] == 64 and params["timeout_min"] == 240
    single = LauncherConfig(gpus_per_job=4).parameters("unlogit-x-decide", ranks=False)
    assert single["tasks_per_node"] == 1 and single["gpus_per_node"] == 1  # classifier runs, the decision


def test_a_local_job_s_failure_is_reported_by_the_last_line_of_its_traceback():
    from unlogit.study.launcher import _cause

    message = (  # how submitit's FailedJobError wraps a job's traceback
        "Job (task=0) failed during processing with trace:\n----------------------\nTraceback (most recent call "
        'last):\n  File "x.py", line 1, in <module>\nunlogit.errors.CheckpointError: shipped file does not match'
        "\n\n----------------------\nYou can check full logs with 'job.stderr(0)' and 'job.stdout(0)'or at paths:\n"
        "  - /tmp/1_0_log.err\n  - /tmp/1_0_log.out"
    )
    assert _cause(RuntimeError(message)) == "unlogit.errors.CheckpointError: shipped file does not match"
    assert _cause(RuntimeError("plain")) == "plain"


def test_the_cli_refuses_a_launcher_with_only(tmp_path, capsys):
    from unlogit.cli import main

    mini = _mini(tmp_path)
    args = ["study", str(mini), "--out", str(tmp_path / "o"), "--launcher", "submitit", "--only", "inverters/robust"]
    assert main(args) != 0
    assert "either --launcher or --only" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before anything was written
