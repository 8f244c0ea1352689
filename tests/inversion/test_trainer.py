from __future__ import annotations

import json
import math

import pytest
import torch

import unlogit
from unlogit import train_inverter
from unlogit.config import build_config
from unlogit.data import get_dataset
from unlogit.errors import CheckpointError, UnlogitError
from unlogit.inversion.config import InverterRunConfig
from unlogit.inversion.train.state import TrainState
from unlogit.runtime.checkpoint import load_checkpoint

from ..conftest import TINY_GAN_OVERRIDES, write_idx_dataset


def _cfg(classifier, *overrides):
    return build_config(
        InverterRunConfig, "inverter", "tiny", [*TINY_GAN_OVERRIDES, *overrides], {"classifier": str(classifier)}
    )


def test_run_directory_contents(tiny_inverter_run):
    for name in (
        "config.yaml",
        "run.json",
        "metrics.jsonl",
        "model.json",
        "model.safetensors",
        "checkpoints/last.json",
        "figures/samples_latest.png",
    ):
        assert (tiny_inverter_run / name).is_file(), name
    records = [json.loads(line) for line in (tiny_inverter_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "fast_path" in r] in ([], [0])  # the fast-path choice, before step 1
    steps = [r for r in records if not r.get("final") and "fast_path" not in r]
    assert [r["step"] for r in steps] == [2, 4, 6]
    for r in steps:
        for key in ("loss_d", "loss_g", "d_real", "d_fake", "images_per_s", "sigma_d_max", "sigma_g_max"):
            assert math.isfinite(r[key]), key
    assert records[-1]["final"] and 0 <= records[-1]["own_label_agreement"] <= 1


def test_one_step_changes_weights(tmp_path, tiny_classifier_run):
    cfg = _cfg(tiny_classifier_run, "train.steps=1", "train.ema=false")
    train_inverter(cfg, tmp_path / "run")
    torch.manual_seed(cfg.train.seed)
    fresh = TrainState.create(cfg, cfg.model.net_spec(10, 3, 32), torch.device("cpu"))
    trained, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last", "unlogit.inverter-train-state")
    for prefix, module in (("G", fresh.G), ("D", fresh.D)):
        changed = [
            k
            for k, v in module.state_dict().items()
            if k.endswith("original") and not torch.equal(v, trained[f"{prefix}/{k}"])
        ]
        assert changed, f"{prefix} weights did not change"


def test_resume_equals_uninterrupted(tmp_path, tiny_classifier_run, monkeypatch):
    """Resume is exact, with evaluations during training (their own RNG) before and after the cut."""
    cfg = _cfg(tiny_classifier_run, "train.eval_every=2")
    train_inverter(cfg, tmp_path / "full")
    evals = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if r.get("eval")]
    assert [r["step"] for r in evals] == [2, 4]  # the last step has the final evaluation instead
    assert all(0 <= r["own_label_agreement"] <= 1 and r["n"] == cfg.train.eval_size for r in evals)
    assert (tmp_path / "full" / "figures" / "eval_curve.png").is_file()
    original = TrainState.save

    def save_then_stop(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise KeyboardInterrupt  # interrupted right after the step-3 checkpoint

    monkeypatch.setattr(TrainState, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_inverter(cfg, tmp_path / "part")
    monkeypatch.setattr(TrainState, "save", original)
    assert json.loads((tmp_path / "part" / "checkpoints" / "last.json").read_text())["step"] == 3
    train_inverter(cfg, tmp_path / "part", resume=True)
    a, _ = load_checkpoint(tmp_path / "full" / "checkpoints" / "last", "unlogit.inverter-train-state")
    b, _ = load_checkpoint(tmp_path / "part" / "checkpoints" / "last", "unlogit.inverter-train-state")
    assert a.keys() == b.keys()
    for key in a:
        if key.startswith(("G/", "D/", "G_ema/")) or "exp_avg" in key:
            assert torch.equal(a[key], b[key]), key


def test_short_run_beats_untrained_generator(tmp_path, tiny_classifier_run):
    """After a short CPU run, reconstructions of held-out logits are far more image-like than G at init."""
    from unlogit.scoring.metrics import frechet_distance

    cfg = _cfg(
        tiny_classifier_run,
        "data.train_size=4000",
        "model.ch_g=8",
        "model.ch_d=8",
        "model.dim_z=16",
        "train.steps=400",
        "train.batch_size=32",
        "train.ema_start=200",
        "train.lr_g=1e-3",
        "train.lr_d=1e-3",
        "train.log_every=50",
        "train.sample_every=1000",
        "train.checkpoint_every=1000",
        "train.eval_size=200",
    )
    train_inverter(cfg, tmp_path / "run")
    trained = unlogit.load_inverter(tmp_path / "run")
    clf = trained.classifier
    x = get_dataset("shapes", "test", size=300).batch(torch.arange(300))[0]
    torch.manual_seed(cfg.train.seed)
    untrained = TrainState.create(cfg, cfg.model.net_spec(10, 3, 32), torch.device("cpu")).G.eval()
    logits = clf.predict_logits(x)
    with torch.no_grad():  # the untrained net, conditioned through the trained inverter's encoder
        before = untrained(trained.encoder(logits), untrained.sample_noise(300))
    after = trained.generate(logits, seed=0)
    pooled = _PooledPixels()  # realism in (8x8-pooled) pixel space: colours, layout, contrast
    fd_before, fd_after = frechet_distance(x, before, pooled), frechet_distance(x, after, pooled)
    assert fd_after < 0.5 * fd_before, (fd_before, fd_after)


class _PooledPixels(torch.nn.Module):
    num_features = 3 * 8 * 8

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 8).flatten(1)


def test_inverter_api(tiny_inverter_run):
    inv = unlogit.load_inverter(tiny_inverter_run)
    x = get_dataset("shapes", "test", size=5).batch(torch.arange(5))[0]
    rec = inv.reconstruct(x, samples=3, seed=1)
    assert rec.shape == (5, 3, 3, 32, 32) and rec.min() >= 0 and rec.max() <= 1
    assert torch.equal(rec, inv.reconstruct(x, samples=3, seed=1))  # seeded noise is reproducible
    assert not torch.equal(rec[:, 0], rec[:, 1])  # different noise draws differ
    logits = inv.logits(x)
    assert torch.allclose(inv.generate(logits, seed=4), inv.generate(logits, seed=4))


def test_a_compiled_run_saves_plain_weights_and_resumes_compiled(
    tmp_path, tiny_classifier_run, tiny_inverter_run, compile_toolchain
):
    """``train.compile=true`` (what ``auto`` picks for long runs) through the trainer: the checkpoint holds the
    same keys as an eager run's (no ``_orig_mod``), the inverter loads and reconstructs, and a resumed run
    compiles again and continues from its step."""
    cfg = _cfg(tiny_classifier_run, "train.compile=true", "train.steps=3")
    train_inverter(cfg, tmp_path / "run")
    compiled, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last", "unlogit.inverter-train-state")
    eager, _ = load_checkpoint(tiny_inverter_run / "checkpoints" / "last", "unlogit.inverter-train-state")
    assert compiled.keys() == eager.keys() and not any("_orig_mod" in k for k in compiled)
    x = get_dataset("shapes", "test", size=4).batch(torch.arange(4))[0]
    rec = unlogit.load_inverter(tmp_path / "run").reconstruct(x, seed=0)
    assert rec.shape == (4, 1, 3, 32, 32) and torch.isfinite(rec).all()  # (N, samples, C, H, W)
    longer = _cfg(tiny_classifier_run, "train.compile=true", "train.steps=5")
    train_inverter(longer, tmp_path / "run", resume=True)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["final"] and records[-1]["steps"] == 5
    assert [r["step"] for r in records if "loss_g" in r][-2:] == [4, 5]  # steps 4 and 5 trained after the resume


def test_bad_inputs_are_explained(tiny_inverter_run, tiny_classifier_run, tmp_path):
    inv = unlogit.load_inverter(tiny_inverter_run)
    with pytest.raises(UnlogitError, match=r"logits of shape \(N, 10\).*\(2, 5\)"):
        inv.generate(torch.randn(2, 5))
    with pytest.raises(UnlogitError, match="NaN"):
        inv.generate(torch.full((2, 10), float("nan")))
    with pytest.raises(UnlogitError, match=r"\(N,3,32,32\)"):
        inv.reconstruct(torch.rand(2, 3, 28, 28))
    with pytest.raises(UnlogitError, match="noise must have shape"):
        inv.generate(torch.randn(2, 10), noise=torch.randn(2, 3))
    with pytest.raises(CheckpointError, match="not an inverter run directory"):
        unlogit.load_inverter(tmp_path)
    with pytest.raises(CheckpointError, match="'unlogit.classifier', not an inverter"):
        unlogit.load_inverter(tiny_classifier_run)
    with pytest.raises(UnlogitError, match="3-channel images, got 1"):
        train_inverter(
            _cfg(
                tiny_classifier_run,
                "data.name=fashion-mnist",
                "data.image_size=32",
                f"data.root={write_idx_dataset(tmp_path / 'data')}",
                "data.channels=1",
                "data.val_size=16",
                "data.train_size=32",
                "data.test_size=16",
            ),
            tmp_path / "x",
        )


def test_non_finite_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path, tiny_classifier_run, monkeypatch):
    import unlogit.inversion.steps as steps
    from unlogit.errors import TrainingDivergedError

    calls = {"n": 0}
    original = steps.hinge_g_loss

    def nan_after_two(d_fake):
        calls["n"] += 1
        loss = original(d_fake)
        return loss * float("nan") if calls["n"] > 2 else loss

    monkeypatch.setattr(steps, "hinge_g_loss", nan_after_two)
    cfg = _cfg(tiny_classifier_run, "train.checkpoint_every=1")
    with pytest.raises(TrainingDivergedError, match="non-finite at step 3.*last good checkpoint"):
        train_inverter(cfg, tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "checkpoints" / "last.json").read_text())
    assert meta["step"] == 2
    assert not (tmp_path / "run" / "model.json").exists()


def test_a_non_finite_loss_between_cadences_is_noticed_at_the_next_one_and_never_saved(
    tmp_path, tiny_classifier_run, monkeypatch
):
    import unlogit.inversion.steps as steps
    from unlogit.errors import TrainingDivergedError

    calls = {"n": 0}
    original = steps.hinge_g_loss

    def nan_from_the_fifth(d_fake):
        calls["n"] += 1
        loss = original(d_fake)
        return loss * float("nan") if calls["n"] >= 5 else loss

    monkeypatch.setattr(steps, "hinge_g_loss", nan_from_the_fifth)
    cadences = ("train.log_every=4", "train.sample_every=4", "train.checkpoint_every=4", "train.steps=12")
    expected = "non-finite at step 5 .*noticed at step 8.*checkpoint \\(step 4\\)"
    with pytest.raises(TrainingDivergedError, match=expected):
        train_inverter(_cfg(tiny_classifier_run, *cadences), tmp_path / "run")
    assert json.loads((tmp_path / "run" / "checkpoints" / "last.json").read_text())["step"] == 4  # not the NaN state


def test_between_its_cadences_the_loop_reads_no_number_on_the_host(tmp_path, tiny_classifier_run, monkeypatch):
    import unlogit.inversion.train.trainer as trainer

    reads = {"n": 0}
    for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, **kw):
            reads["n"] += 1
            return _original(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counted)
    per_step: list[tuple[int, int]] = []
    hooks = trainer.default_hooks

    def with_counter(tr, bar=None):
        def count(tr, numbers, tick):
            per_step.append((tick.step, reads["n"]))

        return [*hooks(tr, bar), count]

    monkeypatch.setattr(trainer, "default_hooks", with_counter)
    cadences = ("train.log_every=5", "train.sample_every=5", "train.checkpoint_every=5", "train.steps=10")
    train_inverter(_cfg(tiny_classifier_run, *cadences), tmp_path / "run")
    counts = dict(per_step)
    off_cadence = [step for step in range(2, 10) if step != 5]  # a step's reads are counted at its end
    assert all(counts[s] == counts[s - 1] for s in off_cadence if s - 1 != 5), per_step  # no sync in between
    assert counts[5] > counts[4]  # the log line reads the summed numbers there
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in lines if "loss_g" in r]
    assert [r["step"] for r in logged] == [5, 10] and all(math.isfinite(r["loss_g"]) for r in logged)


def test_tensorboard_logger_mirrors_metrics_and_sheets(tmp_path, tiny_classifier_run):
    pytest.importorskip("tensorboard", reason="needs the tensorboard extra")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_inverter(_cfg(tiny_classifier_run, "train.logger=tensorboard"), tmp_path / "run")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss_g", "train/loss_d", "held_out/own_label_agreement"} <= scalars
    assert [e.step for e in events.Scalars("train/loss_g")] == [2, 4, 6]  # the log cadence, like metrics.jsonl
    assert "samples" in events.Tags()["images"]
