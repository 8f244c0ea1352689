"""What the benchmark runner measures. Every case times a *variant* against the plain eager fp32 path
of the same workload in the same process, so the ratios survive noisy machines.

Workloads use synthetic data of the right shape (uint8 images gathered per batch, random logits as the
logit cache would give): they measure compute, not disk.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from unlogit.classifiers.config import ClassifierRunConfig
from unlogit.classifiers.normalized import NormalizedClassifier
from unlogit.classifiers.training import build_classifier
from unlogit.config import build_config, merge_into
from unlogit.data.base import ImageDataset
from unlogit.inversion.config import InverterRunConfig
from unlogit.inversion.nets.baselines import OptimizationInverter
from unlogit.inversion.steps import StepContext, gan_step
from unlogit.inversion.train.ema import ema_update
from unlogit.inversion.train.state import TrainState
from unlogit.runtime.dist import DistInfo
from unlogit.runtime.placement import autocast_for, wrap_for_training

# Image shape and class count of each preset's dataset (what the synthetic data imitates).
PRESET_DATA = {
    "tiny": (10, 3, 32),
    "cifar10-cpu": (10, 3, 32),
    "cifar10": (10, 3, 32),
    "tinyimagenet64": (200, 3, 64),
    "imagenet64": (1000, 3, 64),
    "imagenet128": (1000, 3, 128),
}

# The inverter training variants; "eager-fp32" is the baseline every ratio is taken against.
TRAIN_VARIANTS: dict[str, dict[str, Any]] = {
    "eager-fp32": {"optimizer": "for-loop", "channels_last": False, "amp": "off", "compile": False},
    "foreach-adam": {"optimizer": "foreach", "channels_last": False, "amp": "off", "compile": False},
    "fused-adam": {"optimizer": "fused", "channels_last": False, "amp": "off", "compile": False},
    "channels-last": {"optimizer": "for-loop", "channels_last": True, "amp": "off", "compile": False},
    "bf16": {"optimizer": "for-loop", "channels_last": False, "amp": "bf16", "compile": False},
    "compile": {"optimizer": "for-loop", "channels_last": False, "amp": "off", "compile": True},
    # fp32 with both fp32 levers: where bf16 is emulated (AVX2 only) this is the fastest exact path
    "compile-channels-last": {"optimizer": "foreach", "channels_last": True, "amp": "off", "compile": True},
    "all": {"optimizer": "fused", "channels_last": True, "amp": "bf16", "compile": True},
}

# Dense peak FLOP/s by device name fragment (bf16 tensor cores, fp32) for model FLOP utilisation.
PEAK_FLOPS = {"H100": (989e12, 67e12), "H200": (989e12, 67e12), "A100": (312e12, 19.5e12)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, iters: int, warmup: int, repeats: int = 3) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` timed runs of ``iters`` calls (after warm-up)."""
    return statistics.median(interleaved({"fn": fn}, device, iters, warmup, repeats)["fn"])


def interleaved(
    fns: dict[str, Callable[[], Any]], device: torch.device, iters: int, warmup: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds per call of each function, timed round-robin: repeat r times every function once before
    repeat r+1, so a machine that slows down (or speeds up) during the run affects all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            sync(device)
            runs[name].append((time.perf_counter() - t0) / iters)
    return runs


def peak_flops(device: torch.device, bf16: bool) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, (p16, p32) in PEAK_FLOPS.items():
        if key in name:
            return p16 if bf16 else p32
    return None


@contextlib.contextmanager
def memory_peak(device: torch.device):
    """Yields a dict that receives ``peak_mb`` (CUDA allocator peak; None on CPU)."""
    out: dict[str, float | None] = {"peak_mb": None}
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    yield out
    if device.type == "cuda":
        out["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20


def preset_config(preset: str, overrides: dict[str, Any] | None = None) -> InverterRunConfig:
    """An inverter preset's config for its synthetic data (``overrides``: nested config updates)."""
    cfg = build_config(InverterRunConfig, "inverter", preset, [], {"classifier": "synthetic"})
    cfg = merge_into(cfg, {"model": {"resolution": PRESET_DATA[preset][2]}})
    return merge_into(cfg, overrides) if overrides else cfg


def preset_state(preset: str, cfg: InverterRunConfig, device: torch.device) -> TrainState:
    """G, D, EMA and optimisers of ``cfg`` (seeded: every variant starts from the same weights)."""
    num_classes, channels, res = PRESET_DATA[preset]
    torch.manual_seed(0)
    return TrainState.create(cfg, cfg.model.net_spec(num_classes, channels, res), device)


def synthetic_classifier(preset: str, device: torch.device) -> tuple[NormalizedClassifier, ClassifierRunConfig]:
    """A classifier preset's untrained network on 32x32 RGB, 10 classes (as ``train-classifier`` builds it)."""
    cfg = build_config(ClassifierRunConfig, "classifier", preset, [])
    g = torch.Generator().manual_seed(0)
    data = ImageDataset(
        torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8, generator=g),
        torch.arange(256) % 10,
        [str(i) for i in range(10)],
        "synthetic",
        "train",
    )
    torch.manual_seed(0)
    clf, _ = build_classifier(cfg, data)
    return clf.to(device), cfg


@dataclass
class TrainBench:
    """One D+G iteration (n_dis D steps, one G step, EMA) of a preset, ready to call."""

    step: Callable[[], dict[str, torch.Tensor]]  # returns the step's numbers (losses, D scores)
    images_per_iter: int
    flops_per_iter: float | None
    state: TrainState


def build_train_bench(
    preset: str,
    variant: dict[str, Any],
    device: torch.device,
    batch: int | None,
    count_flops: bool = True,
    overrides: dict[str, Any] | None = None,
) -> TrainBench:
    """A preset's training iteration with ``variant``'s fast paths (``overrides``: extra config)."""
    num_classes, channels, res = PRESET_DATA[preset]
    cfg = preset_config(preset, {"train": {**variant, **({"batch_size": batch} if batch else {})}})
    if overrides:
        cfg = merge_into(cfg, overrides)
    t = cfg.train
    state = preset_state(preset, cfg, device)
    if t.channels_last:
        state.use_channels_last()
    G, D, D_local = wrap_for_training(state.G, state.D, t.compile, DistInfo())
    pool = torch.randint(0, 256, (1024, channels, res, res), dtype=torch.uint8, device=device)
    logits = torch.randn(1024, num_classes, device=device) * 3
    gen = torch.Generator(device=device).manual_seed(0)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(0, 1024, (t.batch_size,), device=device, generator=gen)
        x = pool[idx].float().div_(255.0)
        return (x.contiguous(memory_format=torch.channels_last) if t.channels_last else x), logits[idx]

    ctx = StepContext(state, G, D, None, draw, autocast_for(t.amp, device), t, device, D_local)

    def step() -> dict[str, torch.Tensor]:
        numbers = gan_step(ctx)
        ema_update(state.G_ema, state.G, t.ema_decay)
        return numbers

    flops = None
    if count_flops and not t.compile:  # count FLOPs of the eager graph (identical maths in every variant)
        counter = FlopCounterMode(display=False)
        with counter:
            step()
        flops = float(counter.get_total_flops())
    return TrainBench(step, t.batch_size * t.n_dis, flops, state)


def inverter_training(
    preset: str,
    variants: list[str],
    device: torch.device,
    iters: int,
    warmup: int,
    batch: int | None = None,
    repeats: int = 5,
) -> dict[str, Any]:
    """Images/s of full D+G iterations per variant, the ratio to eager fp32 (timed round-robin), peak memory
    of each variant's first iterations and (CUDA) model FLOP utilisation."""
    names = ["eager-fp32", *[v for v in variants if v != "eager-fp32"]]
    benches, peaks = {}, {}
    for name in names:
        with memory_peak(device) as mem:
            benches[name] = build_train_bench(preset, TRAIN_VARIANTS[name], device, batch, name == "eager-fp32")
            for _ in range(warmup + (2 if TRAIN_VARIANTS[name]["compile"] else 0)):
                benches[name].step()
            sync(device)
        peaks[name] = mem["peak_mb"]
    runs = interleaved({n: b.step for n, b in benches.items()}, device, iters, 0, repeats)
    flops = benches["eager-fp32"].flops_per_iter
    base = statistics.median(runs["eager-fp32"])
    rows: dict[str, dict[str, Any]] = {}
    for name, times in runs.items():
        seconds = statistics.median(times)
        rows[name] = {
            "seconds_per_iter": seconds,
            "images_per_s": benches[name].images_per_iter / seconds,
            "speedup_vs_eager_fp32": base / seconds,
            "peak_mb": peaks[name],
        }
        peak = peak_flops(device, TRAIN_VARIANTS[name]["amp"] == "bf16")
        if flops and peak:
            rows[name]["mfu"] = flops / seconds / peak
    drift = runs["eager-fp32"][-1] / runs["eager-fp32"][0]
    return {
        "preset": preset,
        "flops_per_iter": flops,
        "repeats": repeats,
        "iters_per_repeat": iters,
        "baseline_drift": drift,
        "variants": rows,
    }


def reconstruction(
    preset: str, device: torch.device, iters: int, warmup: int, batch: int = 256, compile_too: bool = True
) -> dict[str, Any]:
    """Inference images/s of the preset's G (eval mode): eager fp32, bf16, compiled."""
    G = preset_state(preset, preset_config(preset), device).G.eval()
    l, z = torch.randn(batch, G.num_classes, device=device), G.sample_noise(batch, device)
    ways: dict[str, Callable[[], Any]] = {"eager-fp32": lambda: G(l, z)}
    ways["bf16"] = lambda: _under(autocast_for("bf16", device), lambda: G(l, z))
    if compile_too:
        Gc = torch.compile(G)
        ways["compile"] = lambda: Gc(l, z)
    with torch.no_grad():
        runs = interleaved(ways, device, iters, warmup + (2 if compile_too else 0), repeats=3)
    rows = {name: {"images_per_s": batch / statistics.median(times)} for name, times in runs.items()}
    for row in rows.values():
        row["speedup_vs_eager_fp32"] = row["images_per_s"] / rows["eager-fp32"]["images_per_s"]
    return {"preset": preset, "batch": batch, "variants": rows}


def _under(ctx, fn):
    with ctx:
        return fn()


def adversarial_training(preset: str, device: torch.device, iters: int, warmup: int) -> dict[str, Any]:
    """Images/s of one classifier SGD step: standard vs PGD adversarial training (the cost of robustness)."""
    clf, cfg = synthetic_classifier(preset, device)
    t = cfg.train
    opt = torch.optim.SGD(clf.parameters(), lr=0.01, momentum=0.9)
    x = torch.rand(t.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (t.batch_size,), device=device)
    attack = t.attack.build(clf)

    def step(adversarial: bool) -> None:
        clf.train()
        inputs = attack(x, y) if adversarial else x
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(clf(inputs), y).backward()
        opt.step()

    runs = interleaved({"std": lambda: step(False), "adv": lambda: step(True)}, device, iters, warmup, repeats=3)
    std, adv = statistics.median(runs["std"]), statistics.median(runs["adv"])
    return {
        "preset": preset,
        "attack_steps": t.attack.steps,
        "batch": t.batch_size,
        "standard_images_per_s": t.batch_size / std,
        "adversarial_images_per_s": t.batch_size / adv,
        "adversarial_cost_ratio": adv / std,
    }


def optimize_baseline(device: torch.device, steps: int = 200, n: int = 8) -> dict[str, Any]:
    """Seconds per image of the optimisation baseline against one feed-forward G call (tiny presets)."""
    clf = synthetic_classifier("tiny", device)[0].eval()
    inv = OptimizationInverter(clf, 32, 3, steps=steps).to(device)
    l = torch.randn(n, 10, device=device)
    t0 = time.perf_counter()
    inv(l, inv.sample_noise(n, device))
    sync(device)
    opt_s = (time.perf_counter() - t0) / n
    G = preset_state("tiny", preset_config("tiny"), device).G.eval()
    with torch.no_grad():
        gan_s = timed(lambda: G(l, G.sample_noise(n, device)), device, 5, 2) / n
    return {
        "steps": steps,
        "optimize_seconds_per_image": opt_s,
        "gan_seconds_per_image": gan_s,
        "gan_speedup": opt_s / gan_s,
    }


SHAPES_TARGET_IMAGES_PER_S = 2000  # procedural data must never be the bottleneck of a CPU run


def shapes_generation(n: int = 4000) -> dict[str, Any]:
    """Images/s of the procedural ``shapes`` renderer (one call of ``n`` training images)."""
    from unlogit.data import get_dataset

    start = time.perf_counter()
    get_dataset("shapes", "train", size=n)
    rate = n / (time.perf_counter() - start)
    return {
        "n": n,
        "images_per_s": rate,
        "target_images_per_s": SHAPES_TARGET_IMAGES_PER_S,
        "met": rate >= SHAPES_TARGET_IMAGES_PER_S,
    }


def step_breakdown(
    preset: str, device: torch.device, iters: int, batch: int | None = None, amp: str = "off"
) -> dict[str, Any]:
    """Where one D+G iteration of ``preset`` (the paper's gan, n_dis D steps) spends its time: data (a batch
    of images and logits), classifier (logits of a batch without the logit cache), G forward, D forward and
    backward, the optimisers, the EMA. Median milliseconds per phase over ``iters`` iterations."""
    from unlogit.inversion.losses import hinge_d_loss, hinge_g_loss

    bench = build_train_bench(preset, {**TRAIN_VARIANTS["eager-fp32"], "amp": amp}, device, batch, False)
    st, cfg = bench.state, preset_config(preset)
    clf, _ = synthetic_classifier("tiny-robust", device)
    n_dis = cfg.train.n_dis
    bsz = batch or cfg.train.batch_size
    num_classes, channels, res = PRESET_DATA[preset]
    pool = torch.rand(256, channels, res, res, device=device)
    logits = torch.randn(256, num_classes, device=device)
    cast = autocast_for(amp, device)
    phases: dict[str, list[float]] = {
        k: [] for k in ("data", "classifier", "g_forward", "d_forward", "d_backward", "g_backward", "optimizers", "ema")
    }

    @contextlib.contextmanager
    def clock(name: str):
        sync(device)
        t0 = time.perf_counter()
        yield
        sync(device)
        phases[name][-1] += time.perf_counter() - t0

    for _ in range(iters + 2):
        for v in phases.values():
            v.append(0.0)
        for _ in range(n_dis + 1):
            with clock("data"):
                idx = torch.randint(0, 256, (bsz,), device=device)
                x, c = pool[idx], st.encoder(logits[idx])
            with clock("classifier"):
                clf.predict_logits(x[: min(bsz, 64)])
        for _ in range(n_dis):
            with clock("g_forward"), torch.no_grad(), cast:
                fake = st.G(c, st.G.sample_noise(bsz, device))
            with clock("d_forward"), cast:
                real, fk = st.D(torch.cat([x, fake.to(x.dtype)]), torch.cat([c, c])).float().chunk(2)
            with clock("d_backward"):
                hinge_d_loss(real, fk).backward()
            with clock("optimizers"):
                st.opt_d.step()
                st.opt_d.zero_grad(set_to_none=True)
        with clock("g_forward"), cast:
            fake = st.G(c, st.G.sample_noise(bsz, device))
        with clock("d_forward"), cast:
            loss = hinge_g_loss(st.D(fake, c))
        with clock("g_backward"):
            loss.backward()
        with clock("optimizers"):
            st.opt_g.step()
            st.opt_g.zero_grad(set_to_none=True)
            st.opt_d.zero_grad(set_to_none=True)
        with clock("ema"):
            ema_update(st.G_ema, st.G, 0.999)
    ms = {k: 1000 * statistics.median(v[2:]) for k, v in phases.items()}
    total = sum(v for k, v in ms.items() if k != "classifier")
    return {
        "preset": preset,
        "batch": bsz,
        "amp": amp,
        "n_dis": n_dis,
        "ms_per_iteration": total,
        "ms": ms,
        "share": {k: v / total for k, v in ms.items() if k != "classifier"},
        "note": "classifier: logits of up to 64 images per batch, the cost without the logit cache",
    }
