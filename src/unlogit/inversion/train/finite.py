"""Non-finite losses, noticed on the training device without a host sync every step.

Reading a loss on the host (``float(loss)``, ``bool(torch.isfinite(loss))``) makes the host wait for the
device. :class:`FiniteWatch` keeps the first non-finite step and its numbers as device tensors;
:meth:`FiniteWatch.first_bad` reads them (one sync) only at the cadences where the run would log, sample,
evaluate or save anyway, and always before a checkpoint, so a diverged state is never saved.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

NO_STEP = -1


class FiniteWatch:
    """The first step whose numbers were not all finite, kept on ``device``."""

    def __init__(self, device: torch.device | str) -> None:
        self.step = torch.full((), NO_STEP, dtype=torch.long, device=device)
        self.values: dict[str, torch.Tensor] = {}  # the numbers of that step (float32 scalars)

    def observe(self, step: int, numbers: Mapping[str, torch.Tensor]) -> None:
        """Record ``numbers`` (name -> scalar tensor on the device) of ``step``; no host sync."""
        if not numbers:
            return
        now = {k: v.detach().float().reshape(()) for k, v in numbers.items()}
        first = ~torch.isfinite(torch.stack(list(now.values()))).all() & (self.step == NO_STEP)
        self.step = torch.where(first, step, self.step)
        for k, v in now.items():
            self.values[k] = torch.where(first, v, self.values[k]) if k in self.values else v

    def first_bad(self) -> tuple[int, dict[str, float]] | None:
        """(step, its numbers) of the first non-finite step seen so far, or None (one host sync)."""
        step = int(self.step)
        if step == NO_STEP:
            return None
        return step, dict(zip(self.values, torch.stack(list(self.values.values())).tolist()))
