"""The GAN training loop: n_dis hinge D steps per G step, EMA, AMP, DDP, exact resume.

The frozen classifier computes logits on the fly (eval mode, no grads), or once per image when
augmentation is off (``train.logit_cache``). Real and fake images go through D in one forward
(so DDP sees one forward per backward, and D's work is batched).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from ..classifiers.normalized import NormalizedClassifier
from ..classifiers.registry import load_classifier
from ..data.base import ImageDataset
from ..data.batching import augment, batches_per_epoch, epoch_indices
from ..errors import TrainingDivergedError, UnlogitError
from ..figures import comparison_grid, eval_curve_figure, save_figure, save_png
from ..runtime.atomic import write_json_atomic
from ..runtime.device import configure_cpu, resolve_device
from ..runtime.dist import DistInfo, cleanup, init_distributed, local_device
from ..runtime.progress import progress
from ..runtime.rundir import RunDir, read_evaluations
from ..runtime.seeding import seed_everything
from .baselines import OptimizationInverter
from .config import InverterRunConfig
from .ema import ema_update, standing_stats
from .evaluation import reconstruction_summary
from .inverter import save_inverter
from .layers import spectral_sigmas
from .state import TrainState, generator_spec
from .steps import STEPS, StepContext

SHEET_SIZE = 16


def check_compatible(clf: NormalizedClassifier, ds: ImageDataset) -> None:
    """The classifier must accept the dataset's images and have one logit per class."""
    c, h, w = ds.image_shape
    clf.check_input(torch.zeros(1, c, h, w, device=clf.mean.device))
    if clf.num_classes != ds.num_classes:
        raise UnlogitError(
            f"classifier has {clf.num_classes} logits but dataset {ds.name} has {ds.num_classes} classes; "
            "train the inverter on the data the classifier was trained for"
        )


class _Batches:
    """Deterministic batch stream; position = ``batches_drawn`` (saved in checkpoints)."""

    def __init__(self, ds: ImageDataset, logits: torch.Tensor | None, batch: int, seed: int, dist: DistInfo):
        self.ds, self.logits, self.batch, self.seed, self.dist = ds, logits, batch, seed, dist
        self.per_epoch = batches_per_epoch(len(ds), batch, dist.world_size)
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def get(self, drawn: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        epoch, pos = divmod(drawn, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = epoch_indices(len(self.ds), self.seed, epoch, self.dist.rank, self.dist.world_size)
        idx = self._order[pos * self.batch : (pos + 1) * self.batch]
        x, _ = self.ds.batch(idx, device)
        cached = self.logits[idx.to(self.logits.device)].to(device) if self.logits is not None else None
        return x, cached


def train_inverter(cfg: InverterRunConfig, out: str | Path, resume: bool = False) -> dict[str, Any]:
    """Train a logit inverter for ``cfg.classifier`` into run directory ``out``; returns the summary."""
    t = cfg.train
    if not cfg.classifier:
        raise UnlogitError("no classifier to invert: pass --classifier RUN_DIR_OR_SPEC")
    configure_cpu(t.threads)
    device = resolve_device(t.device)
    dist = init_distributed(device)
    device = local_device(device, dist)
    try:
        return _train(cfg, Path(out), resume, device, dist)
    finally:
        cleanup(dist)


def _train(cfg: InverterRunConfig, out: Path, resume: bool, device: torch.device, dist: DistInfo) -> dict:
    t, method = cfg.train, cfg.model.method
    run = RunDir(out, "inverter", cfg, resume=resume) if dist.is_main else None
    train_ds, test_ds = cfg.data.load("train"), cfg.data.load("test")
    place_dataset(train_ds, device, t.data_on_device)
    clf = load_classifier(cfg.classifier, device=device, classes=train_ds.classes)
    check_compatible(clf, train_ds)
    c, h, _ = train_ds.image_shape
    resolution = cfg.model.resolution or h
    if resolution != h:
        raise UnlogitError(
            f"model.resolution={resolution} but the images are {h}x{h}; set data.image_size={resolution}"
        )
    if method == "optimize":
        return _optimize_only(cfg, run, clf, test_ds, c, resolution, device) if run is not None else {}
    use_cache = t.logit_cache and t.augment == "none"
    cached = _all_logits(clf, train_ds, device) if use_cache else None
    fit_logits = cached if cached is not None else _all_logits(clf, train_ds.subset(10_000), device)
    gspec = generator_spec(cfg, clf.num_classes, c, resolution)
    seed_everything(t.seed)  # identical initial weights on every rank
    state = TrainState.create(cfg, gspec, device)
    state.G.encoder.fit(fit_logits)
    if state.G_ema is not None:
        state.G_ema.encoder.load_state_dict(state.G.encoder.state_dict())
    if resume:
        state.restore(out / "checkpoints" / "last")
        if run is not None:
            run.truncate_log("step", state.step)
    else:
        seed_everything(t.seed + 1 + 1000 * dist.rank)  # different noise per rank, same weights
    G, D, D_local = training_modules(state, t, dist)
    batches = _Batches(train_ds, cached, t.batch_size, t.seed, dist)
    sheet_x = test_ds.batch(torch.arange(min(SHEET_SIZE, len(test_ds))), device)[0]
    sheet_l = clf.predict_logits(sheet_x)
    sheet_z = state.G.sample_noise(2 * len(sheet_x), "cpu", torch.Generator().manual_seed(1234)).to(device)

    def logits_of(x: torch.Tensor, cache: torch.Tensor | None) -> torch.Tensor:
        if cache is not None:
            return cache
        with torch.no_grad():
            return clf(x).float()

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        x, cache = batches.get(state.batches_drawn, device)
        state.batches_drawn += 1
        x = augment(x, t.augment)
        l = logits_of(x, cache)
        return (x.contiguous(memory_format=torch.channels_last) if t.channels_last else x), l

    ctx = StepContext(state, G, D, clf, draw, autocast_for(t.amp, device), t, device, D_local)
    step_fn = STEPS[method]
    budget = t.max_minutes * 60 if t.max_minutes else float("inf")
    window = _Window(state.batches_drawn)
    bar = progress(range(state.step, t.steps), t.progress and dist.is_main, desc=f"train {method}",
                   initial=state.step, total=t.steps)  # fmt: skip
    t_start = time.perf_counter() - state.elapsed
    stopped_early = False
    for _ in bar:
        numbers = step_fn(ctx)
        state.step += 1
        if state.G_ema is not None:
            ema_update(state.G_ema, state.G, t.ema_decay if state.step > t.ema_start else 0.0)
        bad = {k: float(v) for k, v in numbers.items() if not torch.isfinite(v)}
        if bad:
            raise TrainingDivergedError(
                f"losses became non-finite at step {state.step} ({bad}); the last good checkpoint is kept in "
                f"{out / 'checkpoints'}. Lower train.lr_g/lr_d ({t.lr_g}/{t.lr_d}) or use train.amp=off"
            )
        window.add(numbers)
        state.elapsed = time.perf_counter() - t_start
        last = state.step == t.steps
        out_of_time = state.elapsed >= budget
        if run is not None and (state.step % t.log_every == 0 or last or out_of_time):
            rec = _log_record(state, window, t, dist)
            run.log(rec)
            bar.set_postfix(g=f"{rec['loss_g']:.3f}", ips=f"{rec['images_per_s']:.0f}")
        if run is not None and (state.step % t.sample_every == 0 or last or out_of_time):
            _sample_sheet(run, state, sheet_x, sheet_l, sheet_z)
        if run is not None and t.eval_every and state.step % t.eval_every == 0 and not (last or out_of_time):
            t_eval = time.perf_counter()
            run.log(_periodic_eval(state, clf, train_ds, cached, test_ds, t, device))
            t_start += time.perf_counter() - t_eval  # the time budget counts training only
        if run is not None and (state.step % t.checkpoint_every == 0 or last or out_of_time):
            state.save(run.checkpoints / "last", {"gspec": gspec})
        if out_of_time and not last:
            stopped_early = True
            print(f"time budget of {t.max_minutes} min reached at step {state.step}/{t.steps}", flush=True)
            break
    if dist.enabled:
        _write_rank_digest(out, state, dist)
    if run is None:
        return {}
    Gev = state.eval_generator
    summary = evaluate_generator(Gev, clf, train_ds, cached, test_ds, t, device)
    summary.update({"method": method, "steps": state.step, "stopped_early": stopped_early,
                    "train_minutes": state.elapsed / 60, "classifier": cfg.classifier, "dataset": cfg.data.name,
                    "logit_loss": t.logit_loss})  # fmt: skip
    save_inverter(run.path, Gev, gspec, cfg.classifier, summary)
    run.log({"step": state.step, "final": True, **{k: v for k, v in summary.items() if isinstance(v, (int, float))}})
    curve = read_evaluations(run.path)
    if len(curve) > 1:
        save_figure(eval_curve_figure({"EMA G, held-out images": curve}), run.figures / "eval_curve.png")
    return summary


def evaluate_generator(G, clf: NormalizedClassifier, train_ds: ImageDataset, cached: torch.Tensor | None,
                       test_ds: ImageDataset, t, device: torch.device) -> dict[str, Any]:  # fmt: skip
    """Standing BN statistics (``t.standing_stats_batches`` batches of training logits) on ``G``, then
    :func:`reconstruction_summary` on the first ``t.eval_size`` test images.

    Batches and noise come from generators seeded by ``t.seed``, never from the global RNG, so an
    evaluation during training leaves the training stream (and exact resume) untouched.
    """
    stand_gen = torch.Generator().manual_seed(t.seed + 7)

    def standing_inputs() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(train_ds), (t.batch_size,), generator=stand_gen)
        if cached is not None:
            l = cached[idx.to(cached.device)].to(device)
        else:
            l = clf.predict_logits(train_ds.batch(idx, device)[0])
        return l, G.sample_noise(len(idx), "cpu", stand_gen).to(device)

    standing_stats(G, standing_inputs, t.standing_stats_batches)
    return reconstruction_summary(G, clf, test_ds, t.eval_size, device, seed=t.seed)


def _periodic_eval(state: TrainState, clf, train_ds, cached, test_ds, t, device) -> dict[str, Any]:
    """``train.eval_every``: the numbers of the final evaluation, now, on a copy of the EMA G."""
    G = copy.deepcopy(state.eval_generator)
    summary = evaluate_generator(G, clf, train_ds, cached, test_ds, t, device)
    numbers = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and k != "seed"}
    return {"step": state.step, "eval": True, "elapsed_s": state.elapsed, **numbers}


def _optimize_only(cfg: InverterRunConfig, run: RunDir, clf, test_ds, channels: int, resolution: int, device) -> dict:
    """``method: optimize`` trains nothing: record the settings and measure on held-out images."""
    m = cfg.model
    inv = OptimizationInverter(clf, resolution, channels, m.opt_steps, m.opt_lr, m.opt_tv, m.opt_l2).to(device)
    start = time.perf_counter()
    summary = reconstruction_summary(inv, clf, test_ds, cfg.train.eval_size, device, seed=cfg.train.seed)
    summary.update({"method": "optimize", "steps": 0, "train_minutes": 0.0,
                    "seconds_per_image": (time.perf_counter() - start) / summary["n"],
                    "classifier": cfg.classifier, "dataset": cfg.data.name, **inv.settings()})  # fmt: skip
    spec = {"method": "optimize", "num_classes": clf.num_classes, "resolution": resolution, "channels": channels,
            **inv.settings()}  # fmt: skip
    save_inverter(run.path, None, spec, cfg.classifier, summary)
    run.log({"step": 0, "final": True, **{k: v for k, v in summary.items() if isinstance(v, (int, float))}})
    return summary


class _Window:
    """Running means of the step numbers between two log lines."""

    def __init__(self, drawn: int) -> None:
        self.reset(drawn)

    def reset(self, drawn: int) -> None:
        self.n, self.t, self.drawn, self.sums = 0, time.perf_counter(), drawn, {}

    def add(self, numbers: dict[str, torch.Tensor]) -> None:
        for key, value in numbers.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.n += 1

    def means(self) -> dict[str, float]:
        return {k: v / max(self.n, 1) for k, v in self.sums.items()}


def _all_logits(clf: NormalizedClassifier, ds: ImageDataset, device: torch.device) -> torch.Tensor:
    """Logits of every image of ``ds`` (N,K) float32 on ``device`` (the logit cache)."""
    parts = [clf.predict_logits(ds.batch(idx, device)[0]) for idx in torch.arange(len(ds)).split(1024)]
    return torch.cat(parts)


def autocast_for(mode: str, device: torch.device):
    """``train.amp``: bf16 autocast (``bf16``, or ``auto`` on CUDA) or nothing (``off``)."""
    if mode == "bf16" or (mode == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def place_dataset(ds: ImageDataset, device: torch.device, choice: str) -> bool:
    """``train.data_on_device``: keep the uint8 training images on the GPU (batches, augmentation and the
    logit cache then never cross PCIe). ``auto`` does so when they take < 25% of the free GPU memory."""
    if device.type != "cuda" or choice == "off":
        return False
    if choice == "auto":
        free, _ = torch.cuda.mem_get_info(device)
        if ds.images.numel() * ds.images.element_size() > 0.25 * free:
            return False
    ds.to(device)
    return True


def training_modules(state: TrainState, t, dist: DistInfo):
    """G and D as the steps call them: channels_last, DDP-wrapped and/or compiled per the config.

    Returns (G, D, D_local): D_local is D without DDP (G's adversarial loss needs no D all-reduce).
    """
    if t.channels_last:
        state.use_channels_last()
    G: torch.nn.Module = DDP(state.G) if dist.enabled else state.G
    D, D_local = state.D, state.D
    if dist.enabled and D is not None:
        with warnings.catch_warnings():  # torch >= 2.14 renames it; 2.11 only has broadcast_buffers
            warnings.filterwarnings("ignore", message=".*broadcast_buffers.*deprecated", category=FutureWarning)
            D = DDP(D, broadcast_buffers=False)  # real+fake in one D forward; SN buffers stay rank-local
    if t.compile:
        G = torch.compile(G)
        if D is not None:
            D_local = torch.compile(state.D)
            D = torch.compile(D) if dist.enabled else D_local
    return G, D, D_local


def _log_record(state: TrainState, window: _Window, t, dist: DistInfo) -> dict[str, Any]:
    now = time.perf_counter()
    images = (state.batches_drawn - window.drawn) * t.batch_size * dist.world_size  # real images consumed
    rec: dict[str, Any] = {"step": state.step, **window.means(), "images_per_s": images / max(now - window.t, 1e-9)}
    rec["sigma_g_max"] = max(spectral_sigmas(state.G).values(), default=0.0)
    if state.D is not None:
        sig_d = spectral_sigmas(state.D)
        rec["sigma_d_max"] = max(sig_d.values(), default=0.0)
        rec["sigma_d_mean"] = sum(sig_d.values()) / max(len(sig_d), 1)
    rec["elapsed_s"] = state.elapsed
    window.reset(state.batches_drawn)
    return rec


@torch.no_grad()
def _sample_sheet(run: RunDir, state: TrainState, x: torch.Tensor, logits: torch.Tensor, z: torch.Tensor) -> None:
    G = state.eval_generator
    was = G.training
    G.eval()
    n = len(x)
    recon = [G(logits, z[i * n : (i + 1) * n]) for i in range(2)]
    G.train(was)
    grid = comparison_grid([x, *recon], upscale=2)
    save_png(grid, run.figures / f"samples_step{state.step:06d}.png")
    save_png(grid, run.figures / "samples_latest.png")


def _write_rank_digest(out: Path, state: TrainState, dist: DistInfo) -> None:
    h = hashlib.sha256()
    for module in (state.G, state.D):
        for p in module.parameters() if module is not None else ():
            h.update(p.detach().cpu().numpy().tobytes())
    write_json_atomic(
        out / "checkpoints" / f"rank{dist.rank}_params.json", {"rank": dist.rank, "sha256": h.hexdigest()}
    )
