from __future__ import annotations

import json
import subprocess
import sys

import pytest

from unlogit.cli import build_parser, main

SUBCOMMANDS = [
    "train-classifier",
    "eval-classifier",
    "datasets",
    "train",
    "reconstruct",
    "evaluate",
    "analyze",
    "report",
    "study",
    "demo",
]


def test_every_subcommand_has_help_with_an_example(capsys):
    parser = build_parser()
    names = set(parser._subparsers._group_actions[0].choices)
    assert set(SUBCOMMANDS) <= names
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "example:" in out and "unlogit " in out, name


def test_python_dash_m_and_version():
    proc = subprocess.run([sys.executable, "-m", "unlogit", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("unlogit ")


def test_user_errors_exit_2_with_a_message(capsys, tmp_path):
    assert main(["train-classifier", "--preset", "tiny", "train.lrr=1", "--out", str(tmp_path / "x")]) == 2
    assert "unknown config key" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing half-written
    assert main(["eval-classifier", str(tmp_path / "missing"), "--dataset", "shapes"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny", "--out", str(tmp_path / "y")]) == 2
    assert "--classifier" in capsys.readouterr().err
    assert main(["reconstruct", "--inverter", str(tmp_path)]) == 2
    assert "not an inverter run directory" in capsys.readouterr().err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="asks for CUDA where there is none")
def test_a_study_asked_to_score_on_a_missing_device_says_so_before_writing_anything(capsys, tmp_path):
    out = tmp_path / "study"
    assert main(["study", "demo", "--smoke", "--device", "cuda", "--out", str(out)]) == 2
    assert "CUDA is not available" in capsys.readouterr().err and not out.exists()


def test_a_study_asked_to_score_no_images_at_a_time_says_so_before_writing_anything(capsys, tmp_path):
    out = tmp_path / "study"
    assert main(["study", "demo", "--smoke", "--device", "cpu", "--batch-size", "0", "--out", str(out)]) == 2
    assert "--batch-size 0: give 1 or more images" in capsys.readouterr().err and not out.exists()


def test_overrides_may_follow_options(capsys, tmp_path):
    """``--out RUN key=value`` works like ``key=value --out RUN``: both runs of overrides are read."""
    out = tmp_path / "x"
    assert main(["train-classifier", "train.epochs=1", "--preset", "tiny", "--out", str(out), "train.lrr=1"]) == 2
    assert "train.lrr" in capsys.readouterr().err and not out.exists()
    with pytest.raises(SystemExit) as exit_info:  # a stray token on a command without overrides
        main(["datasets", "train.epochs=1"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: train.epochs=1" in capsys.readouterr().err


def test_eval_classifier_json_on_torchscript_export(tmp_path, tiny_classifier_run, capsys):
    """A third-party-style TorchScript model on an npz file reports the accuracy it is known to have."""
    import numpy as np
    import torch

    import unlogit
    from unlogit.data import get_dataset

    clf = unlogit.load_classifier(str(tiny_classifier_run))
    ds = get_dataset("shapes", "test", size=300)
    np.savez(tmp_path / "test.npz", x=ds.images.permute(0, 2, 3, 1).numpy(), y=ds.labels.numpy())
    traced = torch.jit.trace(clf, ds.batch(torch.arange(2))[0])
    traced.save(str(tmp_path / "model.pt"))
    known = float((clf.predict_logits(ds.batch(torch.arange(300))[0]).argmax(1) == ds.labels).float().mean())
    code = main(
        [
            "eval-classifier",
            f"torchscript:{tmp_path / 'model.pt'}",
            "--dataset",
            f"npz:{tmp_path / 'test.npz'}",
            "--attack",
            "pgd-linf:8/255:3",
            "--n-robust",
            "50",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["clean"]["accuracy"] == pytest.approx(known)
    assert result["clean"]["n"] == 300 and result["robust"]["n"] == 50
    assert result["robust"]["accuracy"] <= result["clean"]["accuracy"]


def test_train_classifier_and_reconstruct_cli(tmp_path, tiny_inverter_run, capsys):
    clf = tmp_path / "clf"
    argv = [
        "train-classifier",
        "--out",
        str(clf),
        "data.train_size=512",
        "data.test_size=64",
        "train.epochs=1",
        "model.width=4",
        "train.batch_size=64",
        "train.progress=false",
        "train.eval_robust_size=16",
    ]
    assert main(argv) == 0
    assert "done: clean accuracy" in capsys.readouterr().out
    assert json.loads((clf / "model.json").read_text())["kind"] == "unlogit.classifier"
    out = tmp_path / "rec"
    assert (
        main(
            [
                "reconstruct",
                "--inverter",
                str(tiny_inverter_run),
                "--dataset",
                "shapes",
                "--n",
                "4",
                "--samples",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    import numpy as np

    with np.load(out / "reconstructions.npz") as z:
        assert z["reconstructions"].shape == (4, 2, 3, 32, 32) and z["logits"].shape == (4, 10)
    assert (out / "reconstructions.png").stat().st_size > 0
    from PIL import Image

    img = tmp_path / "one.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(img)
    assert main(["reconstruct", "--inverter", str(tiny_inverter_run), "--images", str(img), "--out", str(out)]) == 0
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["reconstruct", "--inverter", str(tiny_inverter_run), "--images", str(bad), "--out", str(out)]) == 2
    assert "bad.png" in capsys.readouterr().err
