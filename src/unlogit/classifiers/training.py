"""Standard and PGD-adversarial classifier training with exact resume."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import to_dict
from ..data.base import ImageDataset
from ..data.batching import augment, batches_per_epoch, epoch_indices, gaussian_noise
from ..errors import ConfigError, TrainingDivergedError
from ..runtime.checkpoint import flatten_state, load_checkpoint, save_checkpoint, unflatten_state
from ..runtime.device import configure_cpu, resolve_device
from ..runtime.progress import progress
from ..runtime.resume import SafeChanges, always, not_shorter
from ..runtime.rundir import RunDir
from ..runtime.seeding import rng_state, seed_everything, set_rng_state
from .archs import ArchSpec, build_arch
from .attacks import PGD
from .config import ClassifierRunConfig
from .evaluation import accuracy
from .normalized import NormalizedClassifier
from .runs import save_run_classifier

STATE_KIND = "unlogit.classifier-train-state"
ONECYCLE_MIN_STEPS = 5  # fewer leaves OneCycleLR's warm-up phase empty (a division by zero inside torch)


def channel_stats(ds: ImageDataset, max_samples: int = 10_000) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of a dataset's images in [0,1]."""
    x = ds.images[:max_samples].float().div(255.0)
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()


def build_classifier(cfg: ClassifierRunConfig, train_ds: ImageDataset) -> tuple[NormalizedClassifier, ArchSpec]:
    """A fresh classifier for ``train_ds`` and its architecture spec."""
    c, h, w = train_ds.image_shape
    m = cfg.model
    spec = ArchSpec(m.arch, train_ds.num_classes, c, h, m.width, m.depth, m.widen, m.dropout)
    mean, std = channel_stats(train_ds)
    info = {"arch": spec.to_dict(), "dataset": train_ds.name, "spec": None}
    return NormalizedClassifier(build_arch(spec), train_ds.classes, mean, std, (c, h, w), info), spec


def _optimizer(cfg: ClassifierRunConfig, params) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adam":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, nesterov=t.nesterov, weight_decay=t.weight_decay)


def _scheduler(cfg: ClassifierRunConfig, opt: torch.optim.Optimizer, total_steps: int):
    t = cfg.train
    if t.schedule == "onecycle":
        if total_steps < ONECYCLE_MIN_STEPS:
            raise ConfigError(
                f"the one-cycle schedule needs at least {ONECYCLE_MIN_STEPS} optimiser steps, this run has "
                f"{total_steps} (epochs x batches per epoch); train longer, use more data, a smaller "
                "train.batch_size, or train.schedule=constant"
            )
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=t.lr, total_steps=total_steps, pct_start=0.25)
    if t.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


@dataclass
class EpochContext:
    """What one classifier epoch needs (built once by :func:`train_classifier`)."""

    cfg: ClassifierRunConfig
    clf: NormalizedClassifier
    train_ds: ImageDataset
    opt: torch.optim.Optimizer
    sched: Any
    attack: PGD | None
    device: torch.device
    run: RunDir


def train_one_epoch(ctx: EpochContext, epoch: int) -> dict[str, float]:
    """One pass over the training data (PGD examples when adversarial); returns loss and accuracy."""
    t, clf = ctx.cfg.train, ctx.clf
    steps = batches_per_epoch(len(ctx.train_ds), t.batch_size)
    clf.train()
    order = epoch_indices(len(ctx.train_ds), t.seed, epoch)
    loss_sum, correct, seen = 0.0, 0, 0
    bar = progress(range(steps), t.progress, desc=f"epoch {epoch + 1}/{t.epochs}")
    for step in bar:
        x, y = ctx.train_ds.batch(order[step * t.batch_size : (step + 1) * t.batch_size], ctx.device)
        x = augment(x, t.augment)
        x = gaussian_noise(x, t.noise_std)
        if ctx.attack is not None:
            _warm_up(ctx.attack, t, epoch + step / steps)
            clf.eval()
            x = ctx.attack(x, y)
            clf.train()
        logits = clf(x)
        loss = F.cross_entropy(logits, y, label_smoothing=t.label_smoothing)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"classifier loss became {loss.item()} at epoch {epoch + 1}, step {step}; the last good "
                f"checkpoint is {ctx.run.layout.last}. Lower train.lr (now {t.lr})"
            )
        ctx.opt.zero_grad(set_to_none=True)
        loss.backward()
        ctx.opt.step()
        ctx.sched.step()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
    return {"train_loss": loss_sum / seen, "train_acc": correct / seen}


def validate(
    clf: NormalizedClassifier,
    ds: ImageDataset,
    attack: PGD,
    n_robust: int,
    device: torch.device,
    seed: int,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Clean accuracy on ``ds`` and accuracy under ``attack`` on its first ``n_robust`` images. The attack's
    random starts come from ``seed`` inside a forked RNG, so measuring never moves the training stream."""
    clean = accuracy(clf, ds, device=device, show_progress=show_progress)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        robust = accuracy(clf, ds, attack, n=n_robust, device=device, show_progress=show_progress)
    return {"acc": clean["accuracy"], "robust_acc": robust["accuracy"], "attack": robust["attack"]}


def train_classifier(cfg: ClassifierRunConfig, out: str | Path, resume: bool = False) -> dict[str, Any]:
    """Train a classifier into run directory ``out``; returns the final summary.

    After every epoch: clean validation accuracy, PGD accuracy on the first ``train.eval_robust_size``
    validation images (its own RNG: validating never changes the training stream), a line in metrics.jsonl
    and ``checkpoints/last`` (model, optimizer, scheduler, RNG, epoch). The test split is touched once, at the
    end: clean accuracy and robust accuracy under ``train.final_eval_attack`` (an upper bound, as under any
    one attack). ``resume=True`` continues from the checkpoint and reproduces an uninterrupted run.
    """
    t = cfg.train
    configure_cpu(t.threads)
    device = resolve_device(t.device)
    train_ds, val_ds = cfg.data.load("train"), cfg.data.load("val")  # checked before the run directory exists
    with RunDir(out, "classifier", cfg, resume=resume, safe_changes=_safe_changes(t.schedule)) as run:
        if device.type == "cuda":  # GPU-resident data: no host->device copies per step
            train_ds.to(device)
            val_ds.to(device)
        ctx, spec = _epoch_context(cfg, train_ds, device, run)
        start_epoch, history = 0, []
        if run.resume:
            start_epoch, history = _restore(run.layout.last, ctx.clf, ctx.opt, ctx.sched, device)
            run.truncate_log("epoch", start_epoch)
        eval_attack = t.robust_eval_attack.build(ctx.clf)
        sink = _sink(t.logger, run)
        for epoch in range(start_epoch, t.epochs):
            record = _run_epoch(ctx, epoch, val_ds, eval_attack)
            history.append(record)
            run.log(record)
            if sink is not None:
                sink.record({"step": epoch + 1, **record}, "classifier")
            _save_state(run.layout.last, ctx.clf, ctx.opt, ctx.sched, epoch + 1, history)
        test_ds = cfg.data.load("test").to(device)
        final_attack = t.final_eval_attack.build(ctx.clf)
        t0 = time.perf_counter()
        test = validate(ctx.clf, test_ds, final_attack, t.eval_robust_size, device, t.seed + 10_000, t.progress)
        summary = _summary(cfg, history, test, len(test_ds))
        seconds = sum(r["seconds"] for r in history) + time.perf_counter() - t0  # every epoch (resumed too) + test
        run.log(
            {
                "epoch": t.epochs,
                "final": True,
                "test_acc": test["acc"],
                "test_robust_acc": test["robust_acc"],
                "elapsed_s": seconds,
            }
        )
        save_run_classifier(run.path, ctx.clf, spec, summary)
        if sink is not None:
            sink.close()
    return summary


def _run_epoch(ctx: EpochContext, epoch: int, val_ds: ImageDataset, eval_attack: PGD) -> dict[str, Any]:
    """One training epoch and its validation: the record metrics.jsonl gets (and the line printed)."""
    t, t0 = ctx.cfg.train, time.perf_counter()
    record = {"epoch": epoch + 1, **train_one_epoch(ctx, epoch)}
    val = validate(ctx.clf, val_ds, eval_attack, t.eval_robust_size, ctx.device, t.seed + epoch, t.progress)
    record.update(
        {
            "val_acc": val["acc"],
            "val_robust_acc": val["robust_acc"],
            "val_attack": val["attack"],
            "lr": ctx.opt.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
        }
    )
    print(
        f"epoch {epoch + 1}/{t.epochs}  loss {record['train_loss']:.3f}  train {record['train_acc']:.1%}  "
        f"val {record['val_acc']:.1%}  pgd {record['val_robust_acc']:.1%}  ({record['seconds']:.1f}s)",
        flush=True,
    )
    return record


def _sink(logger: str, run: RunDir):
    """``train.logger=tensorboard``: the epoch records as TensorBoard events in ``RUN/tensorboard``."""
    if logger != "tensorboard":
        return None
    from ..runtime.tensorboard import TensorBoardSink

    return TensorBoardSink(run.layout.tensorboard)


def _epoch_context(
    cfg: ClassifierRunConfig, train_ds: ImageDataset, device: torch.device, run: RunDir
) -> tuple[EpochContext, ArchSpec]:
    """A fresh classifier (weights from ``train.seed``), its optimiser, schedule and training attack."""
    t = cfg.train
    seed_everything(t.seed)
    clf, spec = build_classifier(cfg, train_ds)
    clf.to(device)
    opt = _optimizer(cfg, clf.parameters())
    sched = _scheduler(cfg, opt, batches_per_epoch(len(train_ds), t.batch_size) * t.epochs)
    attack = t.attack.build(clf) if t.adversarial else None
    return EpochContext(cfg, clf, train_ds, opt, sched, attack, device, run), spec


def _safe_changes(schedule: str) -> SafeChanges:
    """What ``--resume`` may change: more epochs only with a constant learning rate (the one-cycle and
    cosine schedules have a fixed length)."""

    def epochs(old: Any, new: Any) -> str | None:
        if schedule != "constant":
            return f"the {schedule} schedule's length is fixed when training starts"
        return not_shorter(old, new)

    return {
        "train.epochs": epochs,
        "train.progress": always,
        "train.device": always,
        "train.threads": always,
        "train.eval_robust_size": always,
    }


def _summary(
    cfg: ClassifierRunConfig, history: list[dict[str, Any]], test: dict[str, Any], n_test: int
) -> dict[str, Any]:
    t = cfg.train
    return {
        "clean_acc": test["acc"],
        "robust_acc": test["robust_acc"],
        "robust_acc_is": "an upper bound: accuracy under this one attack (stronger attacks can only lower it)",
        "robust_attack": to_dict(t.final_eval_attack),
        "n_robust": min(t.eval_robust_size, n_test),
        "val_acc": history[-1]["val_acc"],
        "val_robust_acc": history[-1]["val_robust_acc"],
        "adversarial_training": t.adversarial,
        "train_attack": to_dict(t.attack) if t.adversarial else None,
        "epochs": t.epochs,
        "dataset": cfg.data.name,
        "n_test": n_test,
    }


def _warm_up(attack: PGD, t, progress_epochs: float) -> None:
    """Scale the training attack's eps and step size by min(1, progress / eps_warmup_epochs)."""
    scale = 1.0 if t.eps_warmup_epochs <= 0 else min(1.0, progress_epochs / t.eps_warmup_epochs)
    attack.eps = t.attack.eps * scale
    attack.step_size = (t.attack.step_size or 2.5 * t.attack.eps / max(t.attack.steps, 1)) * scale


def _save_state(stem: Path, clf, opt, sched, epoch: int, history: list) -> None:
    skeleton, tensors = flatten_state(
        {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": rng_state()}, "state"
    )
    tensors.update({f"model/{k}": v for k, v in clf.model.state_dict().items()})
    save_checkpoint(stem, tensors, {"epoch": epoch, "history": history, "state": skeleton}, STATE_KIND)


def _restore(stem: Path, clf, opt, sched, device) -> tuple[int, list]:
    tensors, meta = load_checkpoint(stem, STATE_KIND)
    clf.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    state = unflatten_state(meta["state"], tensors)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    clf.to(device)
    return int(meta["epoch"]), list(meta["history"])
