from __future__ import annotations

import json

import pytest
import yaml

from unlogit.errors import ConfigError
from unlogit.study.runner import load_study, run_study

from .conftest import mini_study_spec


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
    assert calls[-1] == ("robust", False)  # only the unfinished stage ran again
    assert set(summary["inverters"]) == {"standard", "robust"}
    assert "evaluator_label_agreement@robust" in summary["inverters"]["standard"]
    assert "evaluator_label_agreement@evaluator" in summary["inverters"]["standard"]
    assert "evaluator_label_agreement@standard" not in summary["inverters"]["standard"]  # never its own judge
    assert (out / "figure1_reconstructions.png").is_file() and (out / "summary.md").is_file()
    assert json.loads((out / "summary.json").read_text())["study"] == "mini"


def test_bad_study_files_are_explained(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "inverters": {"a": {"preset": "tiny"}}}))
    with pytest.raises(ConfigError, match="needs 'classifier'"):
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


@pytest.mark.parametrize("name", ["demo", "demo-cifar10", "cifar10-cpu", "cifar10", "tinyimagenet"])
def test_shipped_studies_build_every_stage(name):
    from unlogit.classifiers.config import ClassifierRunConfig
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig

    cfg = load_study(name)
    assert {"standard", "robust"} <= set(cfg.inverters) and cfg.evaluator in cfg.classifiers
    for spec in cfg.classifiers.values():
        if spec.preset is not None:  # a stage may use an existing classifier (spec) instead
            build_config(ClassifierRunConfig, "classifier", spec.preset, spec.overrides, {"data": cfg.data})
    methods = set()
    for spec in cfg.inverters.values():
        icfg = build_config(InverterRunConfig, "inverter", spec.preset, spec.overrides, {"data": cfg.data})
        methods.add(icfg.model.method)
    from unlogit.inversion.methods import get_method

    assert any(get_method(m).needs_d for m in methods) and len(methods) >= 2  # the paper's GAN and a baseline
