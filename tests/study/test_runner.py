from __future__ import annotations

import json

import pytest
import yaml

from unlogit.errors import ConfigError
from unlogit.study.runner import load_study, run_study

from ..conftest import mini_study_spec


def _study_file(tmp_path):
    spec = mini_study_spec(analyze=False)
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_study_runs_and_resumes_without_redoing_finished_stages(tmp_path, monkeypatch, capsys):
    import unlogit.scoring.held_out as held_out

    cfg = load_study(str(_study_file(tmp_path)))
    out = tmp_path / "study"
    calls = []
    original = held_out.train_and_score

    def interrupted(icfg, run, resume=False):
        calls.append((run.name, resume))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the machine stops during the second inverter
        return original(icfg, run, resume)

    monkeypatch.setattr(held_out, "train_and_score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_study(cfg, out)

    def recorded(icfg, run, resume=False):
        calls.append((run.name, resume))
        return original(icfg, run, resume)

    monkeypatch.setattr(held_out, "train_and_score", recorded)
    capsys.readouterr()
    summary = run_study(cfg, out)
    log = capsys.readouterr().out
    for stage in ("standard", "robust", "evaluator"):
        assert f"classifier {stage}: complete, skipped" in log
    assert "inverter standard: complete, skipped" in log
    redone = [("robust", False), ("standard-ridge", False), ("robust-ridge", False), ("control-ridge", False)]
    assert calls[2:] == redone  # standard: not redone
    assert set(summary["inverters"]) == {"standard", "robust", "standard-ridge", "robust-ridge", "control-ridge"}
    judged = {k for k in summary["inverters"]["standard"] if k.startswith("evaluator_label_agreement@")}
    assert judged == {"evaluator_label_agreement@evaluator", "evaluator_label_agreement@robust-evaluator"}
    assert (out / "figure1_reconstructions.png").is_file() and (out / "summary.md").is_file()
    assert json.loads((out / "summary.json").read_text())["study"] == "mini"
    import hashlib

    claim = json.loads((out / "claim.json").read_text())  # the claim names the study.yaml it belongs to
    assert claim["study_yaml_sha256"] == hashlib.sha256((out / "study.yaml").read_bytes()).hexdigest()
    (control,) = claim["controls"]  # the control family's probe against both arms' reference decoders
    assert control["stage"] == "control-ridge" and control["reference_decoder"]
    assert control["vs_a"]["arm"] == "robust-ridge" and control["vs_b"]["arm"] == "standard-ridge"
    images = claim["images"]  # the confirmatory claim scored fresh images, past the pilot set, and says which
    assert images["index_range"] == [40, 79] and images["pilot_images"] == 40 and images["confirmatory"]
    ran = summary["stage_seconds"]
    assert {"inverter/robust", "inverter/robust-ridge", "claim+findings"} <= set(ran)
    again = run_study(cfg, out)  # every stage finished: skipped, and their times are kept, not lost
    assert calls[2:] == redone and again["stage_seconds"] == ran


def test_a_folder_written_before_analyze_draws_existed_still_resumes(tmp_path):
    from unlogit.runtime.rundir import StudyLayout
    from unlogit.study.runner import settle_study_yaml

    cfg = load_study(_study_file(tmp_path))
    layout = StudyLayout(tmp_path / "out")
    settle_study_yaml(layout, cfg)
    stored = yaml.safe_load(layout.study_yaml.read_text())
    del stored["analyze"]["draws"]  # the study.yaml of an earlier version
    layout.study_yaml.write_text(yaml.safe_dump(stored, sort_keys=False))
    settle_study_yaml(layout, cfg)  # resumes: no "holds another study"
    cfg.analyze.draws = 32
    with pytest.raises(Exception, match="analyze.draws: None -> 32"):
        settle_study_yaml(layout, cfg)


def test_a_confirmatory_claim_refuses_the_pilot_images_and_scores_the_fresh_range(tmp_path):
    import torch

    spec = mini_study_spec(analyze=False)
    spec["compare"] = {"n": 4, "eval_size": 40, "first": 20, "pilot_images": 40}
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="test images 20-59 include the pilot set.*set compare.first=40"):
        load_study(str(path))
    spec["claim"]["confirmatory"] = False  # an exploratory claim may look at them
    path.write_text(yaml.safe_dump(spec))
    cfg = load_study(str(path))
    scored, whole = cfg.test_data(40), cfg.data_config(test_size=60).load("test")
    assert torch.equal(scored.images, whole.images[20:60]) and torch.equal(scored.labels, whole.labels[20:60])


def test_c8_s_surrogate_must_belong_to_neither_arm_and_judge_nothing(tmp_path):
    spec = mini_study_spec(analyze=False)
    path = tmp_path / "mini.yaml"
    for bad, why in (
        ("robust", "an arm's classifier or a judge"),
        ("evaluator", "an arm's classifier or a judge"),
        ("nope", "not a classifier stage"),
    ):
        spec["findings"]["surrogate"] = bad
        path.write_text(yaml.safe_dump(spec))
        with pytest.raises(ConfigError, match=why):
            load_study(str(path))


def test_bad_study_files_are_explained(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "inverters": {"a": {"preset": "tiny"}}}))
    with pytest.raises(ConfigError, match="classifier"):
        load_study(str(path))
    path.write_text(yaml.safe_dump({"name": "x", "stages": []}))
    with pytest.raises(ConfigError, match="unknown config key 'stages'"):
        load_study(str(path))
    with pytest.raises(ConfigError, match="unknown study 'nope'.*demo"):
        load_study("nope")
    spec = mini_study_spec()
    spec["analyze"]["experiments"] = ["reconstruct", "telepathy"]
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="unknown experiment 'telepathy'"):
        load_study(str(path))


def test_a_claims_arms_must_train_for_the_same_steps(tmp_path):
    spec = mini_study_spec(analyze=False)
    spec["inverters"]["robust"]["steps"] = 12
    path = tmp_path / "unequal.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="same stated number of G steps"):
        load_study(str(path))


def test_c7_s_reference_decoder_must_read_the_other_architecture_s_logits(tmp_path):
    path = tmp_path / "c7.yaml"
    spec = mini_study_spec(analyze=False)
    spec["findings"]["architecture"] = "standard"  # the stage whose classifier C7 compares with arm B's
    spec["findings"]["architecture_reference"] = "robust-ridge"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="must invert findings.architecture's classifier .* it inverts 'robust'"):
        load_study(str(path))
    spec["findings"]["architecture_reference"] = "robust"  # the right logits, but a GAN
    spec["findings"]["architecture"] = "robust"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="must be a reference decoder \\(method: ridge\\)"):
        load_study(str(path))
    spec["findings"]["architecture_reference"] = "robust-ridge"
    path.write_text(yaml.safe_dump(spec))
    from unlogit.study.findings.stage import reference_stages

    cfg = load_study(str(path))  # the references tools/finding_references.py trains: C7's too
    assert cfg.findings.architecture_reference == "robust-ridge"
    assert reference_stages(cfg) == ["robust-ridge", "standard-ridge", "robust-ridge"]


def test_a_claims_reference_decoder_must_read_its_arms_logits(tmp_path):
    path = tmp_path / "crossed.yaml"
    spec = mini_study_spec(analyze=False)
    spec["claim"]["reference_a"], spec["claim"]["reference_b"] = "standard-ridge", "robust-ridge"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="reference 'standard-ridge' inverts 'standard', not arm 'robust'"):
        load_study(str(path))
    spec["claim"]["reference_a"] = "ridge"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="reference 'ridge', which is not a stage"):
        load_study(str(path))


def test_scoped_overrides_reach_their_stages_and_are_checked_before_anything_runs(tmp_path):
    from unlogit.study.config import scoped_overrides
    from unlogit.study.stages import plan_study

    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(mini_study_spec(analyze=False)))
    scoped = scoped_overrides(
        ["inverters.*.steps=3", "classifiers.robust.train.epochs=2", "seeds=2", "train.threads=1"]
    )
    cfg = scoped.apply(load_study(str(path), scoped.study))
    assert {s.steps for s in cfg.inverters.values()} == {3} and cfg.seeds == 2
    plan = plan_study(cfg, tmp_path / "out", scoped.every)
    assert plan.classifiers["robust"][0].cfg.train.epochs == 2 and plan.classifiers["standard"][0].cfg.train.epochs == 1
    runs = plan.inverters["robust"][0]
    assert runs[1].run.name == "robust-seed1"
    seeds = [r.cfg.train.seed for rows in plan.inverters.values() for row in rows for r in row]
    assert len(set(seeds)) == len(seeds) > 4  # no seed shared across units (arms, seeds, reference stages)
    assert all(r.cfg.train.threads == 1 and r.cfg.train.steps == 3 for r in runs)
    bad = scoped_overrides(["inverters.*.train.stepz=3"])
    with pytest.raises(
        ConfigError, match="inverters.(standard|robust|control-ridge): unknown config key 'train.stepz'"
    ):
        plan_study(bad.apply(load_study(str(path))), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing was written
    with pytest.raises(ConfigError, match="no such stage"):
        scoped_overrides(["inverters.nope.steps=3"]).apply(load_study(str(path)))


def test_a_study_file_may_not_name_code_to_run(tmp_path):
    from unlogit.errors import UnlogitError
    from unlogit.study.stages import plan_study

    spec = mini_study_spec(analyze=False)
    spec["classifiers"]["standard"] = {"spec": "os:abort"}
    path = tmp_path / "evil.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(UnlogitError, match="--trust-code"):
        plan_study(load_study(str(path)), tmp_path / "out")


@pytest.mark.parametrize("name", ["demo", "demo-cifar10", "cifar10-replication", "cifar10", "tinyimagenet"])
def test_shipped_studies_build_every_stage(name, tmp_path):
    from unlogit.inversion.methods import get_method
    from unlogit.study.stages import plan_study

    cfg = load_study(name)
    assert {"standard", "robust"} <= set(cfg.inverters) and cfg.evaluators[0] in cfg.classifiers
    plan = plan_study(cfg, tmp_path / name, from_scratch=True)  # every classifier and inverter config built
    methods = {r.cfg.model.method for r in plan.runs() if r.kind == "inverter"}
    assert "gan" in methods and len(methods) >= 2  # the paper's GAN and a baseline
    arms = [r for r in plan.runs() if r.kind == "inverter" and r.stage in (cfg.claim.a, cfg.claim.b)]
    assert len({r.cfg.train.steps for r in arms}) == 1  # equal G steps
    assert len({r.cfg.train.seed for r in arms}) == len(arms)  # a seed of its own per (arm, classifier, seed)
    assert get_method("gan").needs_d(plan.runs()[-1].cfg.train)


def test_a_study_scores_the_validation_split_when_asked_and_never_more_of_it_than_exists(tmp_path):
    """``compare.split=val`` scores validation images (for choices made before the test split is touched)."""
    import torch

    spec = mini_study_spec(analyze=False)
    spec["data"] = {"name": "shapes", "val_size": 50}
    spec["claim"]["confirmatory"] = False  # a choice made on validation is not a confirmatory claim
    spec["compare"].update(first=0, pilot_images=0)
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    test = load_study(str(path)).test_data(40)
    spec["compare"]["split"] = "val"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    val = load_study(str(path)).test_data(40)
    assert len(test) == len(val) == 40
    assert not torch.equal(test.batch(torch.arange(40))[0], val.batch(torch.arange(40))[0])
    with pytest.raises(ConfigError, match="data.val_size"):
        load_study(str(path)).test_data(60)
    spec["compare"]["split"] = "train"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(ConfigError, match="compare.split"):
        load_study(str(path))


def test_rank_0_failing_before_the_claim_still_tells_the_other_ranks_to_stop(tmp_path, monkeypatch):
    """Under a launcher that does not kill the other ranks when one fails (srun, a bare WORLD_SIZE), rank 0's
    error in any stage it runs alone (training, the comparison's figures) still announces the end of scoring, so
    no rank waits in its next collective until the process group's timeout."""
    import torch

    import unlogit.study.claim.stage as stage
    import unlogit.study.runner as runner
    from unlogit.runtime.dist import DistInfo

    events = []
    rank0 = runner.Scorers(torch.device("cpu"), DistInfo(rank=0, world_size=2))
    monkeypatch.setattr(runner.Scorers, "of", classmethod(lambda cls, *args: rank0))
    monkeypatch.setattr(stage, "end_of_scoring", lambda: events.append("end of scoring"))
    monkeypatch.setattr(runner, "cleanup", lambda info: events.append(f"cleanup rank {info.rank}"))

    def fails(plan, timings):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runner, "run_plan", fails)
    with pytest.raises(RuntimeError, match="disk full"):
        run_study(load_study(str(_study_file(tmp_path))), tmp_path / "study")
    assert events == ["end of scoring", "cleanup rank 0"]
