"""The measured fast path: the fastest candidate whose outputs match fp32 wins, mismatches are rejected,
compile needs a long run, choices are cached and a resumed run keeps its own."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch

from unlogit.inversion.train import fastpath


def _train(**kw):
    base = {"amp": "auto", "channels_last": "auto", "compile": "auto", "steps": 100, "batch_size": 16, "n_dis": 1}
    return SimpleNamespace(**{**base, **kw})


def _trial(seconds: dict, gaps: dict):
    """A stand-in trial: fixed timings, and outputs off fp32's by ``gaps`` (relative)."""
    ref = {"G": torch.ones(4), "D": torch.ones(4)}

    def trial(amp: str, channels_last: bool):
        key = f"{amp}/{'nhwc' if channels_last else 'nchw'}"
        gap = gaps.get(key, 0.0)
        init = {k: v * (1 + gap) for k, v in ref.items()}
        return seconds[key], {"init": init, "moved": {"G": 0.5, "D": 0.5}}

    return trial


SECONDS = {"off/nchw": 0.30, "off/nhwc": 0.25, "bf16/nchw": 0.22, "bf16/nhwc": 0.15}


def test_the_fastest_matching_candidate_wins_and_mismatches_are_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = fastpath.resolve(_train(), torch.device("cpu"), _trial(SECONDS, {"bf16/nhwc": 0.2}), "k1")
    assert (path.amp, path.channels_last) == ("bf16", False)  # bf16/nhwc is faster but off by 20%
    assert "rejected" in path.reason and "bf16/nhwc" in path.reason and not path.compile


def test_fixed_switches_are_kept_and_exact_paths_need_exact_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = fastpath.resolve(_train(amp="off"), torch.device("cpu"), _trial(SECONDS, {"off/nhwc": 1e-3}), "k2")
    assert (path.amp, path.channels_last) == ("off", False)  # nhwc differs from fp32 beyond 1e-5


def test_compile_is_chosen_only_for_runs_long_enough_to_pay_it_back(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(fastpath, "compile_toolchain_missing", lambda _device: None)
    short = fastpath.resolve(_train(steps=1000), torch.device("cpu"), _trial(SECONDS, {}), "k3")
    long = fastpath.resolve(_train(steps=100_000), torch.device("cpu"), _trial(SECONDS, {}), "k3")
    assert not short.compile and long.compile and "projected run" in long.reason
    # the payback is the projected eager minutes of the fastest path: just under it stays eager
    steps = int(fastpath.COMPILE_PAYBACK_S / SECONDS["bf16/nchw"])
    under = fastpath.resolve(_train(steps=steps - 10), torch.device("cpu"), _trial(SECONDS, {"bf16/nhwc": 0.2}), "k4")
    over = fastpath.resolve(_train(steps=steps + 10), torch.device("cpu"), _trial(SECONDS, {"bf16/nhwc": 0.2}), "k4")
    assert not under.compile and over.compile


def test_compile_stays_off_without_a_toolchain_and_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(fastpath, "compile_toolchain_missing", lambda _device: "a C++ compiler (install g++)")
    path = fastpath.resolve(_train(steps=100_000), torch.device("cpu"), _trial(SECONDS, {}), "k5")
    assert not path.compile and "needs a C++ compiler" in path.reason


def test_choices_are_cached_per_machine_and_net(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def counting(amp, channels_last):
        calls.append((amp, channels_last))
        return _trial(SECONDS, {})(amp, channels_last)

    first = fastpath.resolve(_train(), torch.device("cpu"), counting, "k4")
    n = len(calls)
    again = fastpath.resolve(_train(), torch.device("cpu"), counting, "k4")
    assert (
        len(calls) == n
        and again.reason.startswith("cached")
        and (again.amp, again.channels_last) == (first.amp, first.channels_last)
    )
    assert any(k.startswith("k4|") for k in json.loads(fastpath.cache_file().read_text()))


def test_a_run_with_fixed_switches_does_not_answer_for_an_auto_run_of_the_same_net(tmp_path, monkeypatch):
    """amp=off times fp32 only; an amp=auto run of the same key must still time bf16, and a fixed bf16 run
    times its own path (the compile projection uses it, not zero)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fixed = fastpath.resolve(_train(amp="off", channels_last=False), torch.device("cpu"), _trial(SECONDS, {}), "k5")
    auto = fastpath.resolve(_train(), torch.device("cpu"), _trial(SECONDS, {}), "k5")
    assert fixed.amp == "off" and not auto.reason.startswith("cached") and "bf16/nhwc" in auto.reason
    assert (auto.amp, auto.channels_last) == ("bf16", True)
    forced = fastpath.resolve(_train(amp="bf16", channels_last=False), torch.device("cpu"), _trial(SECONDS, {}), "k6")
    assert forced.amp == "bf16" and "bf16/nchw 220 ms/step" in forced.reason and "not timed" not in forced.reason


def test_a_training_run_logs_its_choice_and_a_resume_keeps_it(tmp_path, tiny_classifier_run, monkeypatch):
    from unlogit import train_inverter
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig
    from unlogit.runtime.rundir import read_metrics

    from ..conftest import TINY_GAN_OVERRIDES

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    auto = [o for o in TINY_GAN_OVERRIDES if not o.startswith(("train.amp", "train.channels_last", "train.compile"))]
    cfg = build_config(
        InverterRunConfig, "inverter", "tiny", [*auto, "train.steps=3"], {"classifier": str(tiny_classifier_run)}
    )
    train_inverter(cfg, tmp_path / "run")
    chosen = [r["fast_path"] for r in read_metrics(tmp_path / "run") if "fast_path" in r]
    assert len(chosen) == 1 and chosen[0]["amp"] in ("off", "bf16") and chosen[0]["seconds_per_step"]
    longer = build_config(
        InverterRunConfig, "inverter", "tiny", [*auto, "train.steps=6"], {"classifier": str(tiny_classifier_run)}
    )
    train_inverter(longer, tmp_path / "run", resume=True)
    again = [r["fast_path"] for r in read_metrics(tmp_path / "run") if "fast_path" in r]
    assert again[-1] == {**chosen[0], "reason": again[-1]["reason"]}
