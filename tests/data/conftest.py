"""Shared fixtures of the data tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import unlogit.data.prepare as prepare


@pytest.fixture
def kill_prepare(monkeypatch) -> Callable[[int], Callable[[], None]]:
    """``kill_prepare(n)``: the next prepare saves its position after every batch of 3 images and is killed
    (KeyboardInterrupt) right after the ``n``-th save, between two saved positions; returns a function that
    restores the real save, so the same command can then resume."""

    def arm(n: int = 3) -> Callable[[], None]:
        monkeypatch.setattr(prepare, "BATCH", 3)
        monkeypatch.setattr(prepare, "FLUSH_EVERY", 1)
        real, calls = prepare._flush, []

        def killed(writers, progress) -> None:
            real(writers, progress)
            calls.append(1)
            if len(calls) == n:
                raise KeyboardInterrupt

        monkeypatch.setattr(prepare, "_flush", killed)
        return lambda: monkeypatch.setattr(prepare, "_flush", real)

    return arm
