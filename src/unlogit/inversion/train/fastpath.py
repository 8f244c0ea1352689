"""``train.amp=auto``, ``train.channels_last=auto``, ``train.compile=auto``: the fast path chosen by measurement,
per machine.

On the CPU every candidate (fp32 or bf16 autocast, NCHW or channels_last) trains a few steps from copies of
the run's own modules, batches and noise (its own RNG: the run itself is untouched), and is timed; the
fastest whose outputs after those steps match fp32 within the tolerances of tests/benchmarks/test_fast_paths.py
wins (exact paths: relative gap < 1e-5 for G in train mode and D; bf16: < 0.05 and under a quarter of what
the steps moved). ``compile`` is turned on only where the projected run is long enough for compilation to
pay back. The choice, its timings and its reason are logged; a resumed run keeps its choice, and choices are
cached per CPU model, torch version, threads and net (``~/.cache/unlogit/fastpath.json``). On CUDA, ``auto``
means bf16 autocast and channels_last.
"""

from __future__ import annotations

import copy
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from ...runtime.atomic import write_json_atomic
from ...runtime.device import compile_toolchain_missing
from ...runtime.placement import autocast_for
from ..net_spec import NetSpec
from ..steps import StepContext

TRIAL_STEPS, WARMUP_STEPS = 6, 2
EXACT_GAP, BF16_GAP, BF16_SHARE = 1e-5, 0.05, 0.25
# compile costs 26 s (AMD EPYC, AVX2) to about a minute (earlier machines) on 2 CPU cores, and saves 15% of a
# step against the fastest eager path on cifar10-cpu (1.18x over fp32 NHWC; 1.35x over fp32 NCHW,
# docs/performance.md). It is turned on where even the pessimistic pair (a minute, 15%) pays it back.
COMPILE_COST_S, COMPILE_SAVING = 60.0, 0.15
COMPILE_PAYBACK_S = COMPILE_COST_S / COMPILE_SAVING  # 400 s (6.7 min) of projected eager training
CANDIDATES = (("off", False), ("off", True), ("bf16", False), ("bf16", True))  # (amp, channels_last)


@dataclass
class FastPath:
    """The resolved switches and why."""

    amp: Literal["off", "bf16"]
    channels_last: bool
    compile: bool
    reason: str
    seconds_per_step: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def parse(cls, recorded: Any, where: str) -> FastPath:
        """A fast path recorded in a file (a checkpoint, the measurement cache), type-checked field by field."""
        from ...config import from_dict
        from ...errors import CheckpointError, ConfigError

        if not isinstance(recorded, dict):
            raise CheckpointError(f"{where}: the recorded fast path is a {type(recorded).__name__}, not a mapping")
        try:
            return from_dict(cls, recorded, "fast_path.")
        except ConfigError as exc:
            raise CheckpointError(f"{where}: {exc}; the file is damaged or was edited") from exc


def needs_choice(train: Any) -> bool:
    return "auto" in (train.amp, train.channels_last, train.compile)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_file() -> Path:
    from ...data.search import cache_root

    return cache_root().parent / "fastpath.json"


def cache_key(spec: NetSpec, train: Any, method: str) -> str:
    return json.dumps(
        [
            cpu_model(),
            torch.__version__,
            torch.get_num_threads(),
            method,
            train.batch_size,
            train.n_dis,
            spec.to_dict(),
        ],
        sort_keys=True,
    )


def resolve(
    train: Any, device: torch.device, trial: Callable[[str, bool], tuple[float, dict]] | None, key: str
) -> FastPath:
    """The fast path for this run: fixed switches as given, ``auto`` ones measured (CPU) or bf16/NHWC (CUDA)."""
    if device.type == "cuda":
        amp = "bf16" if train.amp == "auto" else train.amp
        cl = True if train.channels_last == "auto" else bool(train.channels_last)
        return FastPath(amp, cl, bool(train.compile) if train.compile != "auto" else False, "CUDA: bf16 and NHWC")
    key = f"{key}|candidates={train.amp},{train.channels_last}"  # a fixed-switch run measures fewer paths
    cached = _read_cache().get(key)
    if cached is not None:
        path = FastPath.parse(cached, str(cache_file()))
        path.reason = "cached: " + path.reason
    else:
        path = _measure(train, trial)
        _write_cache(key, path)
    return _with_fixed(path, train)


def _measure(train: Any, trial) -> FastPath:
    amps = ("off", "bf16") if train.amp == "auto" else (train.amp,)
    layouts = (False, True) if train.channels_last == "auto" else (bool(train.channels_last),)
    candidates = list(dict.fromkeys([("off", False), *((a, c) for a in amps for c in layouts)]))
    measured = {c: trial(*c) for c in candidates}
    reference = measured[("off", False)][1]
    name = {c: f"{c[0]}/{'nhwc' if c[1] else 'nchw'}" for c in candidates}
    ok = {c: _matches(out, reference, reference["moved"], c[0] == "bf16") for c, (_, out) in measured.items()}
    eligible = [c for c in candidates if ok[c] and c[0] in amps and c[1] in layouts] or [("off", False)]
    best = min(eligible, key=lambda c: measured[c][0])
    timings = {name[c]: measured[c][0] for c in candidates}
    reason = "fastest of " + ", ".join(f"{name[c]} {measured[c][0] * 1000:.0f} ms/step" for c in candidates)
    rejected = [name[c] for c in candidates if not ok[c]]
    if rejected:
        reason += f"; rejected (outputs differ from fp32 beyond tolerance): {rejected}"
    return FastPath(best[0], best[1], False, reason, timings)


def _with_fixed(path: FastPath, train: Any) -> FastPath:
    """Switches the config fixed override the measured ones; compile only when the run is long enough."""
    out = copy.copy(path)
    if train.amp != "auto":
        out.amp = train.amp
    if train.channels_last != "auto":
        out.channels_last = bool(train.channels_last)
    if train.compile != "auto":
        out.compile = bool(train.compile)
    else:
        # the cache is keyed by the candidate set, so the chosen path was always among those timed
        step = path.seconds_per_step.get(f"{out.amp}/{'nhwc' if out.channels_last else 'nchw'}", 0.0)
        projected = step * train.steps
        pays = projected > COMPILE_PAYBACK_S
        missing = compile_toolchain_missing(torch.device("cpu")) if pays else None  # asked only where it would pay
        out.compile = pays and missing is None
        needs = f"; needs {missing}" if missing else ""
        out.reason += f"; compile {'on' if out.compile else 'off'} (projected run {projected / 60:.1f} min{needs})"
    return out


def _matches(out: dict, ref: dict, moved: dict, bf16: bool) -> bool:
    """Whether a candidate's outputs at the initial weights match fp32's: exact paths within EXACT_GAP, bf16
    within BF16_GAP and under BF16_SHARE of what two fp32 steps move them."""
    out, ref = out["init"], ref["init"]
    gaps = {k: float((out[k].float() - ref[k].float()).norm() / (ref[k].float().norm() + 1e-8)) for k in ("G", "D")}
    if not bf16:
        return all(g < EXACT_GAP for g in gaps.values())
    return all(g < BF16_GAP and g < BF16_SHARE * moved[k] for k, g in gaps.items())


def _read_cache() -> dict:
    try:
        return json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, path: FastPath) -> None:
    try:
        data = _read_cache()
        data[key] = path.to_dict()
        write_json_atomic(cache_file(), data)
    except OSError:  # a read-only home: measure again next time
        pass


def trial_runner(
    ctx_for: Callable[[str, bool], StepContext],
    step: Callable[[StepContext], Any],
    probe: Callable[[StepContext], dict],
) -> Callable[[str, bool], tuple[float, dict]]:
    """``trial(amp, channels_last) -> (seconds per step, outputs)``: a fresh copy of the run's state (the same
    initial weights for every candidate) trains on the same batches and noise (a forked RNG). ``probe`` reads
    G's (train mode) and D's outputs on fixed inputs at the initial weights (``init``: what a candidate's
    arithmetic does to the same computation) and after WARMUP steps (``moved``: how far two steps move them,
    the scale a bf16 error is judged against), then TRIAL more steps are timed. GAN trajectories diverge
    chaotically from rounding noise within a few steps, so candidates are compared at equal weights."""

    def trial(amp: str, channels_last: bool) -> tuple[float, dict]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(12345)
            ctx = ctx_for(amp, channels_last)
            before = probe(ctx)
            for _ in range(WARMUP_STEPS):
                step(ctx)
            after = probe(ctx)
            t0 = time.perf_counter()
            for _ in range(TRIAL_STEPS):
                step(ctx)
            seconds = (time.perf_counter() - t0) / TRIAL_STEPS
        moved = {
            k: float((after[k].float() - before[k].float()).norm() / (before[k].float().norm() + 1e-8)) for k in after
        }
        return seconds, {"init": before, "moved": moved}

    return trial


__all__ = ["FastPath", "autocast_for", "needs_choice", "resolve", "trial_runner"]
