"""Which logits of real images a classifier is paired with: stored ones matched by the weights' digest (never the
spec), used by training (cache, encoder fit), held-out scoring and ``evaluate``; ``data.logits`` chooses, and a
folder holding the same spec's logits from other weights is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.synthetic_imagenet import make_imagenet_tree
from unlogit.classifiers.registry import load_classifier
from unlogit.classifiers.stored import ClassifierLogits, dataset_logits, logits_record, stored_logits_for
from unlogit.data.config import DataConfig
from unlogit.data.prepare import PrepareOptions, prepare_data
from unlogit.data.stored_logits import LogitWriters
from unlogit.errors import ConfigError, UnlogitError
from unlogit.inversion.edits import LogitUnits

ROBUST, OTHER = "unlogit:cifar10-robust-s0", "unlogit:cifar10-robust-s1"


class Doubled:
    """A LogitModel with ``spec``'s weights whose stored logits are twice the classifier's: what training reads
    can then be told apart from what it would compute."""

    def __init__(self, spec: str) -> None:
        self.inner = ClassifierLogits(spec, 32, torch.device("cpu"))
        self.spec, self.digest, self.num_classes = spec, self.inner.digest, self.inner.num_classes

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return 2 * self.inner(images)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stored")
    tree = make_imagenet_tree(root / "tree", classes=4, train=12, val=4)
    prepare_data(PrepareOptions(f"imagefolder:{tree}", 32), root / "prep", 0, LogitWriters([Doubled(ROBUST)]))
    return root / "prep"


def test_stored_logits_are_matched_by_weights_and_chosen_by_data_logits(prepared):
    clf = load_classifier(ROBUST)
    test = DataConfig(name=f"prepared:{prepared}").load("test")
    computed = clf.predict_logits(test.batch(torch.arange(len(test)))[0])
    assert torch.allclose(dataset_logits(clf, test), 2 * computed, atol=5e-3, rtol=2e-3)  # auto: stored
    assert logits_record(clf, test)["source"] == "stored"
    adapted = load_classifier(f"{ROBUST}?layout=nchw&size=32")  # an input adapter: the same weights
    assert adapted.weights_digest() == clf.weights_digest() and stored_logits_for(adapted, test) is not None
    ignored = DataConfig(name=f"prepared:{prepared}", logits="computed").load("test")
    assert torch.equal(dataset_logits(clf, ignored), computed) and logits_record(clf, ignored)["source"] == "computed"
    other = load_classifier(OTHER)  # no logits stored for it: auto computes, stored refuses
    assert stored_logits_for(other, test) is None
    with pytest.raises(UnlogitError, match="data.logits=stored.*no logits of unlogit:cifar10-robust-s1.*--logits"):
        stored_logits_for(other, DataConfig(name=f"prepared:{prepared}", logits="stored").load("test"))
    other.info["spec"] = ROBUST  # the same spec, other weights (a retrained or replaced file)
    with pytest.raises(UnlogitError, match="computed by other weights"):
        dataset_logits(other, test)
    with pytest.raises(ConfigError, match="data.logits"):
        DataConfig(logits="cached")


def test_training_reads_the_stored_logits(prepared, tmp_path):
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig
    from unlogit.inversion.train.trainer import build_training
    from unlogit.runtime.dist import DistInfo

    from ..conftest import TINY_GAN_OVERRIDES

    overrides = [o for o in TINY_GAN_OVERRIDES if not o.startswith("data.")]
    data = [f"data.name=prepared:{prepared}", "data.val_size=8", "train.batch_size=8", "train.eval_size=8"]
    cfg = build_config(InverterRunConfig, "inverter", "tiny", [*overrides, *data], {"classifier": ROBUST})
    tr = build_training(cfg, tmp_path / "inv", False, torch.device("cpu"), DistInfo())
    train = DataConfig(name=f"prepared:{prepared}", val_size=8).load("train")
    stored = train.stored_logits[load_classifier(ROBUST).weights_digest()].values
    assert tr.data.cached.dtype == torch.float16 and torch.equal(tr.data.cached, stored)  # as stored, not computed
    units = LogitUnits.streamed(stored)
    assert torch.allclose(tr.state.encoder.mean, units.mean) and torch.allclose(tr.state.encoder.std, units.std)
    _, logits = tr.ctx.draw()
    assert logits.dtype == torch.float32 and logits.shape == (8, 10)
    with pytest.raises(UnlogitError, match="train.augment"):
        bad = build_config(
            InverterRunConfig, "inverter", "tiny", [*overrides, *data, "data.logits=stored", "train.augment=flip"],
            {"classifier": ROBUST},
        )  # fmt: skip
        build_training(bad, tmp_path / "bad", False, torch.device("cpu"), DistInfo())


def test_streamed_units_equal_the_in_memory_ones():
    logits = torch.randn(3000, 7) * torch.arange(1, 8) + 5
    a, b = LogitUnits.of(logits), LogitUnits.streamed(logits.half(), chunk=256)
    assert torch.allclose(a.mean, b.mean, atol=1e-2) and torch.allclose(a.std, b.std, rtol=1e-3)
