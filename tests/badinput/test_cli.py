"""Bad input, surface: the command line. Each mistake exits 2 with a message that names the problem (and
usually the fix), without a traceback and without creating the run directory."""

from __future__ import annotations

import re

import pytest

from unlogit.cli import main


def _files(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "unclosed.yaml").write_text("name: [unclosed\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00name")


CASES = {
    "unknown preset": (["train-classifier", "--preset", "nosuch"], r"unknown classifier preset 'nosuch'; choose one"),
    "override without =": (["train-classifier", "--preset", "tiny", "train.epochs"], r"not of the form key.path=value"),
    "override of the wrong type": (
        ["train-classifier", "--preset", "tiny", "train.epochs=abc"],
        r"'train.epochs' expects an integer, got 'abc'",
    ),
    "unknown override key": (["train-classifier", "--preset", "tiny", "train.lrr=1"], r"unknown config key"),
    "study YAML that does not parse": (["study", "{tmp}/unclosed.yaml"], r"not valid YAML \(line 2, column 1\)"),
    "study YAML that is a list": (["study", "{tmp}/list.yaml"], r"must hold a YAML mapping .* not a list"),
    "study YAML that is not text": (["study", "{tmp}/binary.yaml"], r"(cannot read|not valid YAML)"),
    "unknown study": (["study", "nosuch-study"], r"unknown study 'nosuch-study'; choose one of"),
    "unknown dataset": (
        ["eval-classifier", "unlogit:cifar10-standard", "--dataset", "nosuchdata"],
        r"unknown dataset 'nosuchdata'; choose one of",
    ),
    "missing ONNX file": (
        ["eval-classifier", "onnx:{tmp}/none.onnx", "--dataset", "shapes"],
        r"ONNX file .* not found",
    ),
    "mean and std of different lengths": (
        ["eval-classifier", "torchvision:resnet18?mean=0.5,0.5&std=1", "--dataset", "shapes"],
        r"mean has 2 values but std 1",
    ),
    "not an inverter": (["reconstruct", "--inverter", "{tmp}"], r"not an inverter run directory"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_mistake_exits_2_with_a_named_error_and_no_run_directory(case, tmp_path, capsys):
    _files(tmp_path)
    argv, message = CASES[case]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    out = tmp_path / "out"
    needs_out = argv[0] in {"train-classifier", "study"}
    assert main([*argv, *(["--out", str(out)] if needs_out else [])]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err and not out.exists()


def test_out_naming_a_file_is_refused_and_the_file_kept(tmp_path, capsys):
    _files(tmp_path)
    assert main(["train-classifier", "--preset", "tiny", "--out", str(tmp_path / "afile")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("argv", [["analyze", "nosuch-experiment"], ["evaluate"], ["no-such-command"]])
def test_argparse_mistakes_exit_2_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and "usage: unlogit" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("only", "message"),
    [
        ([], r"under torchrun a study decides only once every run is trained; not yet: \['inverters/"),
        (["--only", "classifiers/standard"], r"\['classifiers/standard'\] train in one process, not under torchrun"),
    ],
)
def test_a_study_under_torchrun_trains_only_inverter_runs(only, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets in every process
    out = tmp_path / "study"
    assert main(["study", "demo", "--out", str(out), *only]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()
