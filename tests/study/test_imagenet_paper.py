"""``configs/study/imagenet-paper.yaml`` end to end on CPU, as its README walk-through runs it: a synthetic
ImageNet-layout tree (20 wnid classes of mixed-size JPEGs, val/ as the test split) is prepared once with both arms'
logits of the 224-px crops, one arm trains under a 2-process gloo ``torchrun``, and the study scores both arms,
decides the claim and writes the report. The arms are randomly initialised ResNet-50s (torchvision's shapes) and
the judge a ResNet-18, from local files; only paths, sizes and step counts are overridden."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.synthetic_imagenet import make_imagenet_tree
from unlogit.cli import main


def _weights(folder: Path) -> dict[str, str]:
    """Random torchvision ResNet-50s (the arms) and a ResNet-18 (the judge) saved as safetensors; their specs."""
    import torchvision.models as tvm
    from safetensors.torch import save_file

    specs = {}
    for name, arch, seed in (("robust", "resnet50", 0), ("standard", "resnet50", 1), ("judge", "resnet18", 2)):
        torch.manual_seed(seed)
        state = {k: v.contiguous() for k, v in tvm.get_model(arch, weights=None).state_dict().items()}
        save_file(state, folder / f"{name}.safetensors")
        specs[name] = f"torchvision:{arch}?weights={folder / name}.safetensors&size=224"
    return specs


@pytest.mark.timeout(900)
def test_the_paper_study_runs_from_imagenet_folders_to_the_report(tmp_path):
    tree = make_imagenet_tree(tmp_path / "ILSVRC2012", classes=20, train=6, val=2)
    specs = _weights(tmp_path)
    prep = tmp_path / "imagenet64"
    args = ["prepare-data", "--dataset", f"imagefolder:{tree}", "--size", "64", "--out", str(prep), "--workers", "2"]
    assert main([*args, "--logit-size", "224", "--logits", specs["robust"], "--logits", specs["standard"]]) == 0
    manifest = json.loads((prep / "prepared.json").read_text())
    assert sorted((e["size"], e["origin"]) for e in manifest["logits"].values()) == [(224, "source")] * 2

    overrides = [
        f"data.name=prepared:{prep}",
        "data.val_size=20",
        f'classifiers.robust.specs=["{specs["robust"]}"]',
        f'classifiers.standard.specs=["{specs["standard"]}"]',
        f"classifiers.eval-standard.spec={specs['judge']}",
        "evaluators=[eval-standard]",
        "inverters.*.steps=2",
        "inverters.*.model.ch_g=8",
        "inverters.*.model.ch_d=8",
        "inverters.*.train.batch_size=4",
        "inverters.*.train.eval_size=8",
        "inverters.*.train.amp=off",
        "inverters.*.train.channels_last=false",
        "inverters.*.train.compile=false",
        "compare.eval_size=20",
        "claim.calibration_images=8",  # each inverter's colour map: 8 reconstructions, not every training image
    ]
    out = tmp_path / "study"
    study = ["-m", "unlogit", "study", "imagenet-paper", "--out", str(out)]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLOGIT_THREADS": "1"}
    proc = subprocess.run(
        [*torchrun, *study, "--only", "inverters/robust", *overrides],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    digests = [json.loads((out / "inverters/robust/checkpoints" / f"rank{r}_params.json").read_text()) for r in (0, 1)]
    assert digests[0]["sha256"] == digests[1]["sha256"]  # two ranks, one model

    assert main(["study", "imagenet-paper", "--out", str(out), *overrides]) in (0, 3)
    for arm, spec in (("robust", specs["robust"]), ("standard", specs["standard"])):
        used = json.loads((out / "inverters" / arm / "model.json").read_text())["summary"]["logits"]
        assert (used["source"], used["spec"], used["size"], used["origin"]) == ("stored", spec, 224, "source")
    claim = json.loads((out / "claim.json").read_text())
    assert claim["dataset"] == f"prepared:{prep}" and claim["n_images"] == 20  # ImageNet's val/, 2 per class
    assert "eval-standard" in claim["gates"]["robust"]["agreement"]  # wnid labels mean the torchvision names
    assert (out / "report" / "index.html").is_file()
