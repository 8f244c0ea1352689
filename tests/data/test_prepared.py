"""``prepared:DIR`` is a memory map: reading every image leaves a process's own memory where it was, and subsets
(the training split minus validation, ``data.train_size``, the test split's first N) are views."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from unlogit.data.prepare import PrepareOptions, prepare_data

READ_ALL = """
import json, sys, torch
from unlogit.data.config import DataConfig

def anon():
    return int(next(l for l in open('/proc/self/status') if l.startswith('RssAnon')).split()[1]) * 1024

cfg = DataConfig(name='prepared:' + sys.argv[1], val_size=100)
before = anon()
train, test = cfg.load('train'), DataConfig(name='prepared:' + sys.argv[1], test_size=50).load('test')
total = 0
for start in range(0, len(train), 256):
    x, _ = train.batch(torch.arange(start, min(start + 256, len(train))))
    total += float(x.sum())
del x
print(json.dumps({'growth': anon() - before, 'n': len(train), 'test': len(test), 'sum': total}))
"""


def test_reading_every_image_adds_no_anonymous_copy(tmp_path):
    n, side = 2000, 96
    x = np.random.default_rng(0).integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    np.savez(tmp_path / "train.npz", x=x, y=np.arange(n) % 10)
    np.savez(tmp_path / "test.npz", x=x[:200], y=np.arange(200) % 10)
    prepare_data(PrepareOptions(f"npz:{tmp_path}", side), tmp_path / "prep")
    array_bytes = n * 3 * side * side  # 55 MB
    # glibc keeps freed batch buffers in its heap once its dynamic mmap threshold has grown (tens of MB that are
    # the allocator's, not the data's); a fixed threshold hands every large buffer back when it is freed
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run(
        [sys.executable, "-c", READ_ALL, str(tmp_path / "prep")], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["n"] == n - 100 and result["test"] == 50 and result["sum"] > 0
    assert result["growth"] < 0.2 * array_bytes, result  # an in-memory copy would add the whole array


def test_a_classifier_and_an_inverter_train_from_prepared_data(tmp_path):
    from benchmarks.synthetic_imagenet import make_imagenet_tree
    from unlogit import train_inverter
    from unlogit.classifiers.config import ClassifierRunConfig
    from unlogit.classifiers.training import train_classifier
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig

    from ..conftest import TINY_GAN_OVERRIDES

    tree = make_imagenet_tree(tmp_path / "tree", classes=4, train=10, val=3)
    prepare_data(PrepareOptions(f"imagefolder:{tree}", 32), tmp_path / "prep", workers=0)
    data = [f"data.name=prepared:{tmp_path / 'prep'}", "data.val_size=8"]
    clf_cfg = build_config(
        ClassifierRunConfig,
        "classifier",
        "tiny",
        [*data, "model.width=4", "train.epochs=2", "train.batch_size=8", "train.progress=false"],
    )
    train_classifier(clf_cfg, tmp_path / "clf")
    overrides = [o for o in TINY_GAN_OVERRIDES if not o.startswith("data.")]
    inv_cfg = build_config(
        InverterRunConfig,
        "inverter",
        "tiny",
        [*overrides, *data, "train.batch_size=8", "train.eval_size=8"],
        {"classifier": str(tmp_path / "clf")},
    )
    summary = train_inverter(inv_cfg, tmp_path / "inv")
    assert summary["steps"] == 6 and summary["logits"]["source"] == "computed"  # none stored: from the images
    assert json.loads((tmp_path / "inv" / "model.json").read_text())["kind"] == "unlogit.inverter"
