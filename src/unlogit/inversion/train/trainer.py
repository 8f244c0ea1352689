"""The inverter training loop, in the style of torchvision's references::

    tr = build_training(cfg, out, resume, device, dist)     # data, classifier, state, modules
    for each step: numbers = train_step(tr); every hook(tr, numbers, tick)
    summary = finish(tr)                                    # evaluation, model.{safetensors,json}

The frozen classifier computes logits on the fly (eval mode, no grads), or once per image when
augmentation is off (``train.logit_cache``). What a step does is the method's (:mod:`.methods`);
the cadences (log, sample, eval, checkpoint, stop) are :mod:`.hooks`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ...classifiers.normalized import NormalizedClassifier
from ...classifiers.registry import load_classifier
from ...classifiers.stored import computed_logits, dataset_logits, logits_record, stored_logits_for
from ...data.base import ImageDataset
from ...data.batching import batches_per_epoch
from ...errors import TrainingDivergedError, UnlogitError
from ...runtime.atomic import write_json_atomic
from ...runtime.checkpoint import read_json
from ...runtime.device import configure_cpu, resolve_device
from ...runtime.dist import DistInfo, cleanup, init_distributed, local_device
from ...runtime.figures import eval_curve_figure, save_figure
from ...runtime.placement import autocast_for, place_dataset, wrap_for_training
from ...runtime.progress import progress
from ...runtime.resume import SafeChanges, always, not_shorter
from ...runtime.rundir import RunDir, RunLayout, read_evaluations
from ...runtime.seeding import seed_everything
from ..config import InverterRunConfig
from ..edits import LogitUnits
from ..inverter import save_inverter
from ..methods import Method, classifier_features, get_method
from ..net_spec import NetSpec
from ..steps import StepContext
from .batches import BatchStream
from .ema import ema_update
from .fastpath import FastPath, cache_key, needs_choice, resolve, trial_runner
from .hooks import CheckpointHook, EvalHook, Hook, LogHook, SampleHook, StopHook, Tick
from .standing import refresh_standing_stats
from .state import TrainState, check_fits, restore_rank_rng
from .training import Clock, HeldOutEvaluation, Training, TrainingData

ENCODER_FIT_IMAGES = 10_000  # training images whose logits fit the encoder when there is no logit cache


def check_compatible(clf: NormalizedClassifier, ds: ImageDataset) -> None:
    """The classifier must accept the dataset's images. Labels are optional: the inverter needs only
    images and logits (label-dependent numbers are computed when the data's labels are the classifier's)."""
    clf.probe(ds.image_shape)


def train_inverter(
    cfg: InverterRunConfig, out: str | Path, resume: bool = False, evaluation: HeldOutEvaluation | None = None
) -> dict[str, Any]:
    """Train a logit inverter for ``cfg.classifier`` into run directory ``out``; returns the summary.

    ``evaluation`` measures the evaluation net on held-out images (``train.eval_every`` and the final
    summary): :class:`unlogit.scoring.held_out.HeldOutScoring`, which :func:`unlogit.train_inverter`, the
    CLI and studies pass. Without it the summary holds the run's counters only."""
    if not cfg.classifier:
        raise UnlogitError("no classifier to invert: pass --classifier RUN_DIR_OR_SPEC")
    if cfg.train.evaluators and evaluation is None:
        raise UnlogitError(
            "train.evaluators needs a held-out evaluation; train through unlogit.train_inverter "
            "or the CLI, or pass evaluation=HeldOutScoring()"
        )
    configure_cpu(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    dist = init_distributed(device)
    device = local_device(device, dist)
    tr = None
    try:
        tr = build_training(cfg, Path(out), resume, device, dist, evaluation)
        if tr.method.trains:
            run_loop(tr)
        return finish(tr)
    finally:
        if tr is not None:
            tr.writer.close()  # a checkpoint being written lands (atomically) before the run ends, even on error
            if tr.run is not None:
                tr.run.close()
        cleanup(dist)


def _load_data(cfg: InverterRunConfig, device: torch.device):
    train_ds, eval_ds = cfg.data.load("train"), cfg.data.load("val")  # tuning never sees the test split
    batches_per_epoch(len(train_ds), cfg.train.batch_size)  # at least one batch, or a clear error now
    place_dataset(train_ds, device, cfg.train.data_on_device)
    clf = load_classifier(cfg.classifier, device=device)
    if train_ds.labelled:
        clf.adopt_class_names(train_ds.classes)  # a bare network's outputs get the data's class names
    check_compatible(clf, train_ds)
    c, h, _ = train_ds.image_shape
    resolution = cfg.model.resolution or h
    if resolution != h:
        raise UnlogitError(
            f"model.resolution={resolution} but the images are {h}x{h}; set data.image_size={resolution}"
        )
    return train_ds, eval_ds, clf, cfg.model.net_spec(clf.num_classes, c, resolution)


SAFE_RESUME_CHANGES: SafeChanges = {
    "train.steps": not_shorter,
    "train.max_minutes": always,
    "train.progress": always,
    "train.device": always,
    "train.threads": always,
    "train.log_every": always,
    "train.sample_every": always,
    "train.checkpoint_every": always,
    "train.eval_every": always,
    "train.eval_size": always,
    "train.evaluators": always,
}


# long: one straight sequence of setup steps whose order matters (checks before the run directory, the
# seed before the weights, the restore after the encoder fit)
def build_training(
    cfg: InverterRunConfig,
    out: Path,
    resume: bool,
    device: torch.device,
    dist: DistInfo,
    evaluation: HeldOutEvaluation | None = None,
) -> Training:
    """Data, classifier, logit cache, the fitted encoder, the (restored) state and the step context.

    The data, the classifier and the evaluators are checked before the run directory is created, so a
    bad config leaves nothing behind."""
    t, method = cfg.train, get_method(cfg.model.method)
    train_ds, eval_ds, clf, spec = _load_data(cfg, device)
    if evaluation is not None:
        evaluation.prepare(t.evaluators, clf, eval_ds, out)
    check_fits(cfg, spec, device, clf)  # G and D counted on the meta device, before the run directory exists
    layout = RunLayout(out)
    run = RunDir(out, "inverter", cfg, resume=resume, safe_changes=SAFE_RESUME_CHANGES) if dist.is_main else None
    resume = run.resume if run is not None else resume and layout.last_json.is_file()
    cached = _logit_cache(cfg, method, clf, train_ds, device)
    seed_everything(t.seed)  # identical initial weights on every rank
    state = TrainState.create(cfg, spec, device, clf)
    if state.encoder.needs_fit:
        _fit_encoder(state, clf, train_ds, cached, device)
    if method.fit is not None:
        _fit_closed_form(state, method, spec.ridge_anchors, clf, train_ds, device)
    data = TrainingData(clf, train_ds, eval_ds, cached, eval_ds.labels_for(clf.classes))
    fast = _fast_path(cfg, spec, method, device, data, state, layout if resume else None) if method.trains else None
    if resume:
        _resume(state, layout, run, dist, t.seed)
    else:
        seed_everything(t.seed + 1 + 1000 * dist.rank)  # different noise per rank, same weights
    tr = Training(
        cfg,
        method,
        spec,
        layout,
        run,
        dist,
        device,
        data,
        state,
        evaluation=evaluation,
        clock=Clock(state.elapsed),
        fast=fast,
    )
    if fast is not None and run is not None:
        _announce(run, state.step, fast)
    if method.trains:
        tr.ctx = _step_context(tr)
    if run is not None and t.logger == "tensorboard":
        from ...runtime.tensorboard import TensorBoardSink

        tr.sink = TensorBoardSink(run.layout.tensorboard)
    return tr


def _logit_cache(
    cfg: InverterRunConfig, method: Method, clf: NormalizedClassifier, train_ds: ImageDataset, device: torch.device
) -> torch.Tensor | None:
    """The training images' logits, read once: the stored ones (N,K, memory-mapped on the CPU; a rank reads
    only its own batches' rows) when the data carries them, else computed (N,K) float32 on ``device`` when
    ``train.logit_cache`` is on. None with augmentation (the classifier sees each augmented batch)."""
    t = cfg.train
    if not method.trains or t.augment != "none":
        if train_ds.logit_policy == "stored" and method.trains:
            raise UnlogitError(
                f"data.logits=stored, but train.augment={t.augment!r} changes the images after their logits were "
                "stored; set train.augment=none or data.logits=auto"
            )
        return None
    stored = stored_logits_for(clf, train_ds)
    if stored is not None:
        return stored.values
    return computed_logits(clf, train_ds, device=device) if t.logit_cache else None


def _fit_encoder(
    state: TrainState,
    clf: NormalizedClassifier,
    train_ds: ImageDataset,
    cached: torch.Tensor | None,
    device: torch.device,
) -> None:
    """Standardise with the classifier's logit units on the training images (the cache when there is one)."""
    fit = cached if cached is not None else computed_logits(clf, train_ds.subset(ENCODER_FIT_IMAGES), device=device)
    units = LogitUnits.streamed(fit) if fit.dtype != torch.float32 else LogitUnits.of(fit)
    state.encoder.check(fit[:ENCODER_FIT_IMAGES].float())
    state.encoder.fit(units.mean, units.std)


def _fit_closed_form(
    state: TrainState,
    method: Method,
    anchors: int,
    clf: NormalizedClassifier,
    train_ds: ImageDataset,
    device: torch.device,
) -> None:
    """A closed-form method (the kernel-ridge decoder) fitted on up to ``model.ridge_anchors`` training images
    spread evenly over the split, with their encoded logits (the stored ones when the data carries them)."""
    n = min(len(train_ds), anchors)
    index = torch.linspace(0, len(train_ds) - 1, n).round().long()
    logits = dataset_logits(clf, train_ds, index, device)
    with torch.no_grad():
        method.fit(state.G, state.encoder(logits), train_ds.batch(index, device)[0])


def _announce(run: RunDir, step: int, fast: FastPath) -> None:
    """The chosen fast path, in metrics.jsonl and on the console."""
    run.log({"step": step, "fast_path": fast.to_dict()})
    print(
        f"fast path: amp={fast.amp} channels_last={fast.channels_last} compile={fast.compile} ({fast.reason})",
        flush=True,
    )


def _step_context(tr: Training) -> StepContext:
    return step_context(tr.cfg, tr.method, tr.state, tr.data, tr.device, tr.dist, tr.fast)


def step_context(
    cfg: InverterRunConfig,
    method: Method,
    st: TrainState,
    d: TrainingData,
    device: torch.device,
    dist: DistInfo,
    fast: FastPath,
    position: list[int] | None = None,
) -> StepContext:
    """What a step needs, on the fast path ``fast``; batches are drawn at ``st.batches_drawn`` (or from a private
    ``position`` counter, for fast-path trials that must not move the run's stream)."""
    t = cfg.train
    if fast.channels_last:
        st.use_channels_last()
    G, D, D_local = wrap_for_training(st.G, st.D, fast.compile, dist)
    stream = BatchStream(d.train_ds, d.clf, d.cached, t.batch_size, t.seed, dist, t.augment, fast.channels_last)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        if position is not None:
            position[0] += 1
            return stream.draw(position[0] - 1, device)
        batch = stream.draw(st.batches_drawn, device)
        st.batches_drawn += 1
        return batch

    side = classifier_features(d.clf) if method.d_features else None
    return StepContext(st, G, D, d.clf, draw, autocast_for(fast.amp, device), t, device, D_local, side)


def _resume(state: TrainState, layout: RunLayout, run: RunDir | None, dist: DistInfo, seed: int) -> None:
    """Restore the last checkpoint: weights, optimisers, counters and rank 0's RNG streams on every rank, then each
    other rank's own streams (``checkpoints/rankR_rng``), so no two ranks draw the same noise after a resume."""
    state.restore(layout.last)
    if run is not None:
        run.truncate_log("step", state.step)
    elif not restore_rank_rng(layout.rank_rng(dist.rank), state.step):
        warnings.warn(
            f"rank {dist.rank} has no RNG state of step {state.step} (a checkpoint of another world size or an "
            "older unlogit): its noise is reseeded, so this resume is not bit-exact",
            stacklevel=2,
        )
        seed_everything(seed + 1 + 1000 * dist.rank + state.step)


def _fast_path(
    cfg: InverterRunConfig,
    spec: NetSpec,
    method: Method,
    device: torch.device,
    data: TrainingData,
    state: TrainState,
    resumed: RunLayout | None,
) -> FastPath:
    """The run's fast path: recorded in its checkpoint when resuming, fixed by the config, or measured."""
    t = cfg.train
    if resumed is not None and resumed.last_json.is_file():
        recorded = read_json(resumed.last_json).get("fast_path")
        if recorded:
            return FastPath.parse(recorded, str(resumed.last_json))
    if not needs_choice(t):
        return FastPath(t.amp, bool(t.channels_last), bool(t.compile), "as configured")
    single = DistInfo()

    def ctx_for(amp: str, channels_last: bool) -> StepContext:
        seed_everything(t.seed)
        trial_state = TrainState.create(cfg, spec, device, data.clf)
        trial_state.encoder.load_state_dict(state.encoder.state_dict())
        return step_context(
            cfg, method, trial_state, data, device, single, FastPath(amp, channels_last, False, "trial"), position=[0]
        )

    return resolve(t, device, trial_runner(ctx_for, method.step, _probe(data, device)), cache_key(spec, t, method.name))


def _probe(data: TrainingData, device: torch.device):
    """G's (train mode) and D's outputs on the first 8 training images and fixed noise."""
    first = torch.arange(min(8, len(data.train_ds)))
    x, _ = data.train_ds.batch(first, device)
    logits = dataset_logits(data.clf, data.train_ds, first, device)

    @torch.no_grad()
    def probe(ctx: StepContext) -> dict[str, torch.Tensor]:
        c = ctx.state.encoder(logits)
        z = ctx.state.G.sample_noise(len(x), "cpu", torch.Generator().manual_seed(3)).to(device)
        ctx.state.G.train()
        out = {"G": ctx.state.G(c, z).float()}
        if ctx.state.D is not None:
            side = ctx.side(x) if ctx.side is not None else None
            out["D"] = ctx.state.D(x, c, side).float()
        else:
            out["D"] = out["G"]
        return out

    return probe


def train_step(tr: Training) -> dict[str, torch.Tensor]:
    """One optimisation step of the method and the EMA update; its numbers go to the run's
    :class:`~.finite.FiniteWatch` on the device (read at the sync cadences by :func:`stop_if_diverged`)."""
    st, t = tr.state, tr.cfg.train
    numbers = tr.method.step(tr.ctx)
    st.step += 1
    if st.G_ema is not None:
        ema_update(st.G_ema, st.G, t.ema_decay if st.step > t.ema_start else 0.0)
    tr.watch.observe(st.step, numbers)
    st.elapsed = tr.clock.elapsed()
    return numbers


def stop_if_diverged(tr: Training, now: int) -> None:
    """Raise :class:`TrainingDivergedError` when a step up to ``now`` had non-finite numbers (one host sync);
    the checkpoint hook runs after this, so the last checkpoint on disk is the last good one."""
    bad = tr.watch.first_bad()
    if bad is None:
        return
    tr.writer.wait()  # the last good checkpoint is on disk before the error names it
    step, numbers = bad
    t, last = tr.cfg.train, tr.layout.last_json
    kept = (
        f"the last good checkpoint (step {json.loads(last.read_text())['step']}) is kept in {last.parent}"
        if last.is_file()
        else "no checkpoint was written yet"
    )
    seen = "" if step == now else f", noticed at step {now} (the loop reads losses only at its log cadence)"
    bad_numbers = {k: v for k, v in numbers.items() if not math.isfinite(v)}
    raise TrainingDivergedError(
        f"losses became non-finite at step {step} ({bad_numbers}){seen}; {kept}. Lower train.lr_g/lr_d "
        f"({t.lr_g}/{t.lr_d}) or use train.amp=off"
    )


def default_hooks(tr: Training, bar=None) -> list[Hook]:
    """Log, sample, eval, checkpoint, stop (in that order: a stopping step is logged and saved first)."""

    def show(record: dict[str, Any]) -> None:
        if bar is not None:
            bar.set_postfix(g=f"{record['loss_g']:.3f}", ips=f"{record['images_per_s']:.0f}")
        if tr.sink is not None:
            tr.sink.record(record)

    return [LogHook(tr, show), SampleHook(tr), EvalHook(), CheckpointHook(), StopHook()]


def run_loop(tr: Training, hooks: Sequence[Hook] | None = None) -> None:
    """Steps until ``train.steps`` or the time budget, calling every hook after each step."""
    t, st = tr.cfg.train, tr.state
    budget = t.max_minutes * 60 if t.max_minutes else float("inf")
    bar = progress(
        range(st.step, t.steps),
        t.progress and tr.dist.is_main,
        desc=f"train {tr.method.name}",
        initial=st.step,
        total=t.steps,
    )
    hooks = hooks if hooks is not None else default_hooks(tr, bar)
    tr.clock = Clock(st.elapsed)
    for _ in bar:
        numbers = train_step(tr)
        tick = Tick(st.step, st.step == t.steps, st.elapsed >= budget)
        if any(tick.every(n) for n in tr.sync_cadences):
            stop_if_diverged(tr, st.step)
        for hook in hooks:
            hook(tr, numbers, tick)
        if tick.stop:
            break


def finish(tr: Training) -> dict[str, Any]:
    """Measure the evaluation net on held-out images, write ``model.*`` and the final log line."""
    tr.writer.wait()  # the final checkpoint is on disk before the model files that mark the run done
    if tr.dist.enabled:
        _write_rank_digest(tr)
    if tr.run is None:
        return {}
    t, st = tr.cfg.train, tr.state
    net = st.eval_generator
    if tr.method.trains:
        refresh_standing_stats(net, st.encoder, tr.data, t, tr.device)
    start = time.perf_counter()
    summary: dict[str, Any] = {}
    if tr.evaluation is not None:
        summary = tr.evaluation(net, st.encoder, tr.data, t.eval_size, tr.device, t.seed)
        if not tr.method.trains:
            summary["seconds_per_image"] = (time.perf_counter() - start) / summary["n"]
    summary.update(
        {
            "method": tr.method.name,
            "steps": st.step,
            "steps_planned": t.steps,
            "capped": tr.stopped_early,
            "stopped_early": tr.stopped_early,
            "train_minutes": st.elapsed / 60,
            "classifier": tr.cfg.classifier,
            "dataset": tr.cfg.data.name,
            "logit_loss": t.logit_loss,
            "logits": logits_record(tr.data.clf, tr.data.train_ds),  # stored (which) or computed
        }
    )
    save_inverter(tr.run.path, st.encoder, net, tr.spec, tr.cfg.classifier, tr.data.clf, summary)
    final = {"step": st.step, "final": True, **{k: v for k, v in summary.items() if isinstance(v, (int, float))}}
    tr.run.log(final)
    if tr.sink is not None:
        tr.sink.record(final, "held_out")
        tr.sink.close()
    curve = read_evaluations(tr.run.path)
    if len(curve) > 1:
        save_figure(eval_curve_figure({"EMA G, held-out images": curve}), tr.run.figures / "eval_curve.png")
    return summary


def _write_rank_digest(tr: Training) -> None:
    h = hashlib.sha256()
    for name in ("G", "D"):
        module = tr.state.modules.get(name)
        for p in module.parameters() if module is not None else ():
            h.update(p.detach().cpu().numpy().tobytes())
    rank = tr.dist.rank
    write_json_atomic(tr.layout.rank_digest(rank), {"rank": rank, "sha256": h.hexdigest()})
