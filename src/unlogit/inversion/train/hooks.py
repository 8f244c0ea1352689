"""Cadence hooks of the training loop: log, sample sheet, held-out evaluation, checkpoint, stop.

After every step the loop calls each hook with the training, the step's numbers and a :class:`Tick`
(the step reached and whether it is the last or the time budget ran out). Hooks act on rank 0 only
(``tr.run`` is None elsewhere), except :class:`StopHook`, which every rank obeys.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from ...classifiers.stored import dataset_logits
from ...runtime.figures import comparison_grid, save_png
from ..nets.layers import spectral_sigmas
from .standing import refresh_standing_stats
from .state import save_rank_rng
from .training import Training

SHEET_SIZE = 16
SHEET_SEED = 1234


@dataclass
class Tick:
    """Where the loop is after a step. A hook sets ``stop`` to end the loop after this step."""

    step: int
    last: bool
    out_of_time: bool
    stop: bool = False

    @property
    def final(self) -> bool:
        """The last step the loop will run (the configured end or the time budget)."""
        return self.last or self.out_of_time

    def every(self, n: int) -> bool:
        """Whether a cadence of ``n`` steps falls on this step, or the run ends here."""
        return self.step % n == 0 or self.final


class Hook(Protocol):
    def __call__(self, tr: Training, numbers: dict[str, torch.Tensor], tick: Tick) -> None: ...


class LogHook:
    """Running means of the step numbers, one ``metrics.jsonl`` line every ``train.log_every`` steps."""

    def __init__(self, tr: Training, on_record: Callable[[dict[str, Any]], None] = lambda _rec: None) -> None:
        self.on_record = on_record
        self._reset(tr.state.batches_drawn)

    def _reset(self, drawn: int) -> None:
        self.n, self.t, self.drawn, self.sums = 0, time.perf_counter(), drawn, {}

    def __call__(self, tr: Training, numbers: dict[str, torch.Tensor], tick: Tick) -> None:
        for k, v in numbers.items():  # summed on the device: read on the host once per log line
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.n += 1
        if tr.run is None or not tick.every(tr.cfg.train.log_every):
            return
        record = self._record(tr)
        tr.run.log(record)
        self.on_record(record)
        self._reset(tr.state.batches_drawn)

    def _record(self, tr: Training) -> dict[str, Any]:
        st = tr.state
        seconds = max(time.perf_counter() - self.t, 1e-9)
        images = (st.batches_drawn - self.drawn) * tr.cfg.train.batch_size * tr.dist.world_size  # real images
        sums = torch.stack(list(self.sums.values())).tolist() if self.sums else []
        rec: dict[str, Any] = {
            "step": st.step,
            **{k: v / max(self.n, 1) for k, v in zip(self.sums, sums)},
            "images_per_s": images / seconds,
        }
        rec["sigma_g_max"] = max(spectral_sigmas(st.G).values(), default=0.0)
        if st.D is not None:
            sig_d = spectral_sigmas(st.D)
            rec["sigma_d_max"] = max(sig_d.values(), default=0.0)
            rec["sigma_d_mean"] = sum(sig_d.values()) / max(len(sig_d), 1)
        rec["elapsed_s"] = st.elapsed
        return rec


class SampleHook:
    """Sample sheets (``figures/samples_stepNNNNNN.png`` and ``samples_latest.png``): the first held-out
    images and two fixed noise draws of their reconstructions by the evaluation net."""

    def __init__(self, tr: Training) -> None:
        eval_ds = tr.data.eval_ds
        first = torch.arange(min(SHEET_SIZE, len(eval_ds)))
        self.x = eval_ds.batch(first, tr.device)[0]
        self.cond = tr.state.encoder(dataset_logits(tr.data.clf, eval_ds, first, tr.device))
        gen = torch.Generator().manual_seed(SHEET_SEED)
        self.z = tr.state.G.sample_noise(2 * len(self.x), "cpu", gen).to(tr.device)

    @torch.no_grad()
    def __call__(self, tr: Training, numbers: dict[str, torch.Tensor], tick: Tick) -> None:
        if tr.run is None or not tick.every(tr.cfg.train.sample_every):
            return
        G = tr.state.eval_generator
        was = G.training
        G.eval()
        n = len(self.x)
        recon = [G(self.cond, self.z[i * n : (i + 1) * n]) for i in range(2)]
        G.train(was)
        grid = comparison_grid([self.x, *recon], upscale=2)
        save_png(grid, tr.run.figures / f"samples_step{tick.step:06d}.png")
        save_png(grid, tr.run.figures / "samples_latest.png")
        if tr.sink is not None:
            tr.sink.image("samples", grid, tick.step)


class EvalHook:
    """``train.eval_every``: the final evaluation's numbers, now, on a copy of the evaluation net (its own
    RNG; the time it takes is excluded from ``train.max_minutes``)."""

    def __call__(self, tr: Training, numbers: dict[str, torch.Tensor], tick: Tick) -> None:
        t = tr.cfg.train
        if tr.run is None or tr.evaluation is None or not t.eval_every or tick.step % t.eval_every or tick.final:
            return
        with tr.clock.paused():
            net = copy.deepcopy(tr.state.eval_generator)
            refresh_standing_stats(net, tr.state.encoder, tr.data, t, tr.device)
            summary = tr.evaluation(net, tr.state.encoder, tr.data, t.eval_size, tr.device, t.seed)
            values = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and k != "seed"}
            record = {"step": tick.step, "eval": True, "elapsed_s": tr.state.elapsed, **values}
            tr.run.log(record)
            if tr.sink is not None:
                tr.sink.record(record, "held_out")


class CheckpointHook:
    """``checkpoints/last`` every ``train.checkpoint_every`` steps and at the end (exact resume): a snapshot at
    the step, written by the run's :class:`~unlogit.runtime.checkpoint.CheckpointWriter` while training goes on."""

    def __call__(self, tr: Training, numbers: dict[str, torch.Tensor], tick: Tick) -> None:
        if not tick.every(tr.cfg.train.checkpoint_every):
            return
        if tr.run is not None:
            fast = tr.fast.to_dict() if tr.fast is not None else None
            tr.state.save(tr.layout.last, {"spec": tr.spec.to_dict(), "fast_path": fast}, tr.writer)
        elif tr.dist.enabled:  # the other ranks keep their own noise streams
            save_rank_rng(tr.layout.rank_rng(tr.dist.rank), tr.state.step)


class StopHook:
    """Ends the loop when ``train.max_minutes`` is used up (after the checkpoint of that step)."""

    def __call__(self, tr: Training, numbers: dict[str, torch.Tensor], tick: Tick) -> None:
        if tick.out_of_time and not tick.last:
            tr.stopped_early = tick.stop = True
            print(
                f"capped: the safety cap train.max_minutes={tr.cfg.train.max_minutes} stopped the run at step "
                f"{tick.step} of {tr.cfg.train.steps}; it is marked capped",
                flush=True,
            )
