"""benchmarks/contention.py's bookkeeping: the overlap of two timing windows and the ratios it reports (the timing
itself runs fresh processes, measured by hand: docs/results/contention)."""

from __future__ import annotations

import argparse

import pytest

from benchmarks import contention


def test_overlap_is_the_shared_part_of_the_longer_window():
    a, b = {"start": 0.0, "end": 10.0}, {"start": 2.0, "end": 14.0}
    assert contention.overlap([a, b]) == pytest.approx(8 / 12)
    assert contention.overlap([a, {"start": 11.0, "end": 12.0}]) == 0.0


def test_the_ratios_are_each_case_over_the_default(monkeypatch):
    planted = {  # (policy, threads) -> seconds per iteration alone, then of each of two at once
        (None, None): (0.1, (0.3, 0.5)),
        ("PASSIVE", None): (0.2, (0.3, 0.3)),
        (None, "half"): (0.15, (0.2, 0.2)),
    }
    launched = []

    def launch(policy, threads, args):
        launched.append((policy, threads))
        return (policy, threads)

    def collect(procs):
        alone, pair = planted[procs[0]]
        times = [alone] if len(procs) == 1 else list(pair)
        return [{"seconds_per_iter": t, "start": 0.0, "end": 1.0} for t in times]

    monkeypatch.setattr(contention, "_launch", launch)
    monkeypatch.setattr(contention, "_collect", collect)
    result = contention.measure(argparse.Namespace())
    assert len(launched) == 9  # each case alone, then two at once
    assert result["over_default_alone"] == pytest.approx({"default": 1.0, "passive": 2.0, "half_threads": 1.5})
    assert result["over_default_two_at_once"] == pytest.approx({"default": 1.0, "passive": 0.75, "half_threads": 0.5})
    assert result["cases"]["default"]["slowdown_two_at_once"] == pytest.approx(4.0)
