"""Bad input as a hostile user writes it: every file is built in the test; each case exits non-zero with one
line naming the field or file, runs no payload (a marker file stays absent) and loses nothing."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from unlogit.cli import main
from unlogit.errors import UnlogitError

from .programs import Marker, export_linear

MARKER = "PAYLOAD_RAN"


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("unlogit: error:") and "Traceback" not in err, err
    return err


def _with_meta(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    meta = json.loads((dst / "model.json").read_text())
    edit(meta)
    (dst / "model.json").write_text(json.dumps(meta))
    return dst


# --- security: a run directory never chooses code ---------------------------------------------------
def test_a_factory_spec_with_options_in_model_json_is_refused_and_its_module_never_runs(tmp_path, tiny_inverter_run):
    """The check runs on the spec without its options: ``evilrun.payload:build?classes=10`` is a factory."""
    package = tmp_path / "evilrun"
    run = _with_meta(tiny_inverter_run, package, lambda m: m.update(classifier="evilrun.payload:build?classes=10"))
    (package / "__init__.py").write_text("")
    (package / "payload.py").write_text(f"open({str(tmp_path / MARKER)!r}, 'w').write('x')\ndef build(): pass\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "unlogit",
            "reconstruct",
            "--inverter",
            str(run),
            "--dataset",
            "shapes",
            "--n",
            "2",
            "--out",
            str(tmp_path / "o"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "UNLOGIT_OFFLINE": "1"},
    )
    assert out.returncode == 2 and "data file points at it" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / MARKER).exists() and not (tmp_path / "o").exists()


def _pickled_pt2(tmp_path: Path) -> Path:
    """A torch.export archive whose weight is marked ``use_pickle`` and holds a payload."""
    good = export_linear(tmp_path / "good.pt2")
    evil = tmp_path / "evil.pt2"
    payload = pickle.dumps(Marker(str(tmp_path / MARKER)))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        configs = [i for i in src.infolist() if i.filename.endswith("weights_config.json")]
        weights = set()
        for info in configs:
            config = json.loads(src.read(info))
            for entry in config["config"].values():
                entry["use_pickle"] = True
                weights.add(info.filename.rsplit("/", 1)[0] + "/" + entry["path_name"])
            dst.writestr(info, json.dumps(config))
        for info in src.infolist():
            if info in configs:
                continue
            dst.writestr(info, payload if info.filename in weights else src.read(info))
    return evil


def test_a_pickled_pt2_is_refused_before_torch_reads_it(tmp_path, tiny_inverter_run, capsys):
    evil = _pickled_pt2(tmp_path)
    with pytest.raises(UnlogitError, match="pickle"):
        torch_free = __import__("unlogit").load_classifier(f"export:{evil}")  # named explicitly: still refused
        del torch_free
    run = _with_meta(tiny_inverter_run, tmp_path / "run", lambda m: m.update(classifier=str(evil)))
    assert main(["reconstruct", "--inverter", str(run), "--dataset", "shapes", "--n", "2"]) == 2
    assert "torch.export program" in _one_line_error(capsys)
    assert not (tmp_path / MARKER).exists()


def test_export_pointing_at_garbage_is_named_without_a_torch_traceback(tmp_path, capsys):
    (tmp_path / "junk.pt2").write_bytes(b"\x80\x04junk")
    assert main(["eval-classifier", "--classifier", f"export:{tmp_path / 'junk.pt2'}", "--dataset", "shapes"]) == 2
    assert "not a torch.export archive" in _one_line_error(capsys)


def test_a_symlinked_model_file_outside_the_run_is_refused(tmp_path, tiny_inverter_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_inverter_run, run)
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(str(run / "model.safetensors"), outside)
    (run / "model.safetensors").symlink_to(outside)
    assert main(["reconstruct", "--inverter", str(run), "--dataset", "shapes", "--n", "2"]) == 2
    assert "outside the run directory" in _one_line_error(capsys)


# --- data loss: one writer per run directory --------------------------------------------------------
def test_a_second_training_into_the_same_run_is_refused_with_the_holders_pid_and_a_killed_holder_frees_it(
    tmp_path, tiny_classifier_run
):
    from ..conftest import TINY_GAN_OVERRIDES

    out = tmp_path / "inv"
    args = [
        sys.executable,
        "-m",
        "unlogit",
        "train",
        "--classifier",
        str(tiny_classifier_run),
        "--preset",
        "tiny",
        "--out",
        str(out),
        *TINY_GAN_OVERRIDES,
        "train.steps=100000",
        "train.checkpoint_every=2",
    ]
    first = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (out / "checkpoints" / "last.json").is_file() and time.time() < deadline:
            time.sleep(0.5)
        second = subprocess.run([*args, "--resume"], cwd=tmp_path, capture_output=True, text=True)
        assert second.returncode == 2 and f"process {first.pid}" in second.stderr
        assert (out / "checkpoints" / "last.json").is_file()  # nothing of the running job was deleted
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    third = subprocess.run([*args, "train.max_minutes=0.02", "--resume"], cwd=tmp_path, capture_output=True, text=True)
    assert third.returncode == 0, third.stderr  # the kernel released the killed holder's lock
    finals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"final"' in line]
    assert len(finals) == 1


def test_an_unwritable_run_directory_is_a_named_error(tmp_path, tiny_inverter_run, monkeypatch, capsys):
    """Root ignores permission bits (CI runs as root), so the refusal the kernel would give is simulated."""
    from unlogit.runtime import rundir

    run = tmp_path / "run"
    shutil.copytree(tiny_inverter_run, run)

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(rundir.os, "open", refuse)
    with pytest.raises(UnlogitError, match="cannot lock the run directory .* permissions"):
        rundir.RunDir(run, "inverter", {}, resume=True)


def test_a_full_disk_at_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    import safetensors.torch

    from unlogit.errors import CheckpointError
    from unlogit.runtime import checkpoint

    stem = tmp_path / "last"
    checkpoint.save_checkpoint(stem, {"w": torch.ones(3)}, {"step": 1}, "k")

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(CheckpointError, match="No space left.*earlier checkpoint"):
        checkpoint.save_checkpoint(stem, {"w": torch.zeros(3)}, {"step": 2}, "k")
    monkeypatch.setattr(checkpoint, "save_file", safetensors.torch.save_file)
    tensors, meta = checkpoint.load_checkpoint(stem, "k")
    assert meta["step"] == 1 and torch.equal(tensors["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.json", "last.safetensors"]  # no temporary left


# --- metadata: one typed schema, bounded sizes ------------------------------------------------------
CLASSIFIER_EDITS = {
    "arch as a list": (lambda m: m.update(arch=["small-cnn"]), "'arch' is a section"),
    "no arch": (lambda m: m.pop("arch"), "arch"),
    "no classes": (lambda m: m.pop("classes"), "classes"),
    "num_classes ten": (lambda m: m["arch"].update(num_classes="ten"), "arch.num_classes' expects an integer"),
    "num_classes -5": (lambda m: m["arch"].update(num_classes=-5), "arch.num_classes' must be in"),
    "mean abc": (lambda m: m.update(mean="abc"), "mean"),
    "mean single": (lambda m: m.update(mean=[0.5]), "'mean' must be 3 finite numbers"),
    "width 200000": (lambda m: m["arch"].update(width=200_000), "arch.width' must be in"),
    "format_version 2 as text": (lambda m: m.update(format_version="2"), "'format_version' is '2', not a int"),
}


@pytest.mark.parametrize("case", CLASSIFIER_EDITS)
def test_a_damaged_classifier_model_json_names_its_field(case, tmp_path, tiny_classifier_run, capsys):
    edit, words = CLASSIFIER_EDITS[case]
    run = _with_meta(tiny_classifier_run, tmp_path / "clf", edit)
    assert main(["eval-classifier", "--classifier", str(run), "--dataset", "shapes", "--n", "4"]) == 2
    err = _one_line_error(capsys)
    assert words in err and "model.json" in err, err


def test_a_wide_spec_that_fits_no_weights_allocates_nothing(tmp_path, tiny_classifier_run, capsys):
    run = _with_meta(tiny_classifier_run, tmp_path / "clf", lambda m: m["arch"].update(width=4000))
    assert main(["eval-classifier", "--classifier", str(run), "--dataset", "shapes", "--n", "4"]) == 2
    assert "does not fit its weights" in _one_line_error(capsys)  # checked on the meta device, no 1.4 TB


def test_a_damaged_inverter_model_json_names_its_field(tmp_path, tiny_inverter_run, capsys):
    run = _with_meta(tiny_inverter_run, tmp_path / "inv", lambda m: m["net"].update(num_classes="x"))
    assert main(["reconstruct", "--inverter", str(run), "--dataset", "shapes", "--n", "2"]) == 2
    assert "net.num_classes' expects an integer" in _one_line_error(capsys)


def test_json_nested_200k_deep_is_refused_by_name(tmp_path, tiny_inverter_run, capsys):
    run = tmp_path / "inv"
    shutil.copytree(tiny_inverter_run, run)
    (run / "model.json").write_text("[" * 200_000 + "]" * 200_000)
    assert main(["reconstruct", "--inverter", str(run), "--dataset", "shapes", "--n", "2"]) == 2
    assert "nested too deeply" in _one_line_error(capsys)


# --- configs --------------------------------------------------------------------------------------
def test_a_preset_whose_base_names_itself_is_a_named_error(tmp_path, capsys):
    (tmp_path / "loop.yaml").write_text(f"base: {tmp_path / 'loop.yaml'}\ntrain: {{epochs: 1}}\n")
    assert (
        main(
            [
                "train-classifier",
                "--preset",
                str(tmp_path / "loop.yaml"),
                "--out",
                str(tmp_path / "r"),
                "data.train_size=64",
            ]
        )
        == 2
    )
    assert "base chain loops" in _one_line_error(capsys) and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "override, words",
    [
        ("train.epochs=[1,", "not valid YAML"),
        ("train.epochs=!!python/object/apply:os.system [touch PAYLOAD_RAN]", "not valid YAML"),
    ],
)
def test_overrides_that_are_not_safe_yaml_are_named(override, words, tmp_path, capsys):
    assert main(["train-classifier", "--preset", "tiny", "--out", str(tmp_path / "r"), override]) == 2
    assert words in _one_line_error(capsys) and not (tmp_path / MARKER).exists() and not (tmp_path / "r").exists()


def test_a_billion_laughs_config_on_resume_is_refused_without_expanding(tmp_path, tiny_classifier_run, capsys):
    run = tmp_path / "clf"
    shutil.copytree(tiny_classifier_run, run)
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    (run / "config.yaml").write_text("\n".join(lines) + "\n")
    small = ["data.train_size=64", "data.val_size=16", "data.test_size=16"]
    assert main(["train-classifier", "--preset", "tiny", "--out", str(run), "--resume", *small]) == 2
    assert "refused unexpanded" in _one_line_error(capsys)


# --- datasets and specs ---------------------------------------------------------------------------
def test_an_npz_with_no_images_is_a_named_error(tmp_path, capsys):
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 8, 8, 3), np.uint8), y=np.zeros(0, np.int64))
    assert (
        main(
            [
                "eval-classifier",
                "--classifier",
                "unlogit:cifar10-standard-s0",
                "--dataset",
                f"npz:{tmp_path / 'empty.npz'}",
            ]
        )
        == 2
    )
    assert "holds no images" in _one_line_error(capsys)


def test_a_2d_classes_array_is_refused(tmp_path):
    from unlogit.data import get_dataset

    np.savez(
        tmp_path / "c.npz",
        x=np.zeros((2, 8, 8, 3), np.uint8),
        y=np.zeros(2, np.int64),
        classes=np.array([["a", "b"], ["c", "d"]]),
    )
    with pytest.raises(UnlogitError, match="1-D array of class names"):
        get_dataset(f"npz:{tmp_path / 'c.npz'}", "train")


@pytest.mark.parametrize(
    "options, words", [("size=99999", "integer from 1 to 1024"), ("classes=99999999999", "a count from 1 to")]
)
def test_spec_options_that_would_allocate_without_bound_are_refused(options, words, tmp_path, capsys):
    assert (
        main(["eval-classifier", "--classifier", f"onnx:{tmp_path / 'm.onnx'}?{options}", "--dataset", "shapes"]) == 2
    )
    assert words in _one_line_error(capsys)


def test_a_size_option_the_network_cannot_take_is_named_before_training(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    del onnx
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).eval()
    torch.onnx.export(
        net,
        torch.zeros(1, 3, 32, 32),
        str(tmp_path / "m.onnx"),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
    )
    assert (
        main(
            [
                "eval-classifier",
                "--classifier",
                f"onnx:{tmp_path / 'm.onnx'}?size=64",
                "--dataset",
                "shapes",
                "--n",
                "4",
            ]
        )
        == 2
    )
    assert "cannot take 32x32 images" in _one_line_error(capsys)


def test_a_huge_declared_png_is_refused_before_decoding(tmp_path):
    from PIL import Image

    from unlogit.data.files import load_image_file

    buf = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buf, format="PNG")  # 140 KB on disk, 144 MB decoded
    with pytest.raises(UnlogitError, match="declares 12000x12000 pixels"):
        load_image_file(buf.getvalue(), name="big.png")


def test_16_bit_greyscale_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image

    from unlogit.data import get_dataset

    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    ds = get_dataset(f"images:{tmp_path}", "train")
    x = ds.images.float() / 255
    assert abs(float(x.mean()) - 0.5) < 0.02 and float((x == 1).float().mean()) < 0.01


def test_n_robust_zero_is_not_all_images(capsys):
    assert (
        main(
            [
                "eval-classifier",
                "--classifier",
                "unlogit:cifar10-standard-s0",
                "--dataset",
                "shapes",
                "--n-robust",
                "0",
                "--attack",
                "pgd-linf:8/255",
            ]
        )
        == 2
    )
    assert "--n-robust must be a positive number" in _one_line_error(capsys)


# --- the report -----------------------------------------------------------------------------------
def test_a_final_metrics_line_without_elapsed_time_still_reports(tmp_path, tiny_inverter_run):
    from unlogit.report.page import build_report

    run = tmp_path / "inv"
    shutil.copytree(tiny_inverter_run, run)
    lines = [
        {"step": 2, "eval": True, "elapsed_s": 1.0, "own_label_agreement": 0.2},
        {"step": 4, "final": True, "own_label_agreement": 0.3},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert build_report([run], tmp_path / "report").is_file()
