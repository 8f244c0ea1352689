"""``TrainState``: the logit encoder, G, D, G_ema, optimizers, counters and RNG — saved and restored exactly.

Optimizers live here, not inside the modules (BigGAN kept them in the nn.Module; we don't). Which parts
exist is the method's business (:mod:`.methods`): D and its optimizer only where the method trains one,
G_ema only where it keeps an EMA.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ...classifiers.normalized import NormalizedClassifier
from ...errors import CheckpointError
from ...runtime.checkpoint import (
    CheckpointWriter,
    flatten_state,
    load_checkpoint,
    prefixed,
    save_checkpoint,
    split_prefixed,
    unflatten_state,
)
from ...runtime.seeding import rng_state, set_rng_state
from ..config import TRAIN_LIMITS, InverterRunConfig
from ..methods import build_discriminator, build_encoder, feature_dim, get_method
from ..net_spec import NetSpec
from ..nets.discriminator import ProjectionDiscriminator
from ..nets.logit_encoder import LogitEncoder

STATE_KIND = "unlogit.inverter-train-state"


def adam_kernel(choice: str, device: torch.device) -> dict[str, bool]:
    """Adam keyword arguments for ``train.optimizer`` (auto: fused on CUDA, foreach elsewhere)."""
    if choice == "auto":
        choice = "fused" if device.type == "cuda" else "foreach"
    return {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[choice]


def _frozen_copy(module: nn.Module) -> nn.Module:
    ema = copy.deepcopy(module).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


@dataclass
class TrainState:
    """Everything a run needs to continue exactly where it stopped.

    ``encoder`` turns raw logits into the condition that both G and D see.
    """

    encoder: LogitEncoder
    G: nn.Module  # an InverterNet
    D: ProjectionDiscriminator | None
    G_ema: nn.Module | None
    opt_g: torch.optim.Optimizer | None  # None: a method with nothing to optimise (the ridge decoder)
    opt_d: torch.optim.Optimizer | None
    step: int = 0  # completed G steps
    batches_drawn: int = 0  # data position (batches consumed, all epochs)
    elapsed: float = 0.0  # training seconds so far (for max_minutes across resumes)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls, cfg: InverterRunConfig, spec: NetSpec, device: torch.device, clf: NormalizedClassifier | None = None
    ) -> TrainState:
        """Fresh modules and optimizers for ``spec`` (weights drawn from the global torch RNG)."""
        t, method = cfg.train, get_method(spec.method)
        encoder = build_encoder(spec).to(device)
        G = method.build_net(spec, clf, encoder).to(device)
        D = _discriminator(cfg, spec, clf)
        D = D.to(device) if D is not None else None
        G_ema = _frozen_copy(G) if t.ema and method.ema else None
        fused = adam_kernel(t.optimizer, device)
        betas = (t.beta1, t.beta2)
        opt_g = (
            torch.optim.Adam(G.parameters(), t.lr_g, betas=betas, eps=t.adam_eps, **fused) if method.trains else None
        )
        opt_d = torch.optim.Adam(D.parameters(), t.lr_d, betas=betas, eps=t.adam_eps, **fused) if D else None
        return cls(encoder, G, D, G_ema, opt_g, opt_d)

    @property
    def modules(self) -> dict[str, nn.Module]:
        """The trained modules that exist, by checkpoint prefix."""
        return {k: m for k, m in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)) if m is not None}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: o for k, o in (("opt_g", self.opt_g), ("opt_d", self.opt_d)) if o is not None}

    def use_channels_last(self) -> None:
        """NHWC for G, D and G_ema, with the optimisers' moment buffers laid out like their parameters.

        A restored checkpoint gives the buffers back in NCHW; fused Adam steps parameter and state
        memory in lockstep, so mismatched layouts would break exact resume.
        """
        for module in self.modules.values():
            module.to(memory_format=torch.channels_last)
        for opt in self.optimizers.values():
            for param, state in opt.state.items():
                for key, value in state.items():
                    if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                        state[key] = torch.empty_like(param).copy_(value)

    @property
    def eval_generator(self) -> nn.Module:
        """The net used for evaluation: the EMA copy when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def save(self, stem: Path, meta: dict[str, Any], writer: CheckpointWriter | None = None) -> None:
        """Write the full state (atomic; tensors in safetensors, the rest in JSON), through ``writer`` when given
        (a snapshot now, written in the background: :class:`~unlogit.runtime.checkpoint.CheckpointWriter`)."""
        plain = {k: o.state_dict() for k, o in self.optimizers.items()}
        skeleton, tensors = flatten_state({**plain, "rng": rng_state()}, "state")
        tensors.update(prefixed("encoder", self.encoder.state_dict()))
        for prefix, module in self.modules.items():
            tensors.update(prefixed(prefix, module.state_dict()))
        info = {
            "step": self.step,
            "batches_drawn": self.batches_drawn,
            "elapsed": self.elapsed,
            "extra": self.extra,
            "state": skeleton,
            **meta,
        }
        if writer is not None:
            writer.save(stem, tensors, info, STATE_KIND)
        else:
            save_checkpoint(stem, tensors, info, STATE_KIND)

    def restore(self, stem: Path) -> dict[str, Any]:
        """Load what :meth:`save` wrote (weights, optimizers, RNG, counters); returns the metadata."""
        tensors, meta = load_checkpoint(stem, STATE_KIND)
        _load(self.encoder, split_prefixed(tensors, "encoder"))
        for prefix, module in self.modules.items():
            _load(module, split_prefixed(tensors, prefix))
        state = unflatten_state(meta["state"], tensors)
        for key, opt in self.optimizers.items():
            opt.load_state_dict(state[key])
        set_rng_state(state["rng"])
        self.step, self.batches_drawn, self.elapsed = _counters(meta, stem.with_suffix(".json"))
        self.extra = dict(meta.get("extra") or {})
        return meta


RANK_RNG_KIND = "unlogit.rank-rng"


def save_rank_rng(stem: Path, step: int) -> None:
    """This DDP rank's RNG streams (CPU, CUDA, NumPy, Python) at G step ``step``: every rank but 0 writes its own
    at each checkpoint (rank 0's are in ``checkpoints/last``), so a resumed rank draws the noise it would have
    drawn without the interruption, not rank 0's."""
    skeleton, tensors = flatten_state({"rng": rng_state()}, "rng")
    save_checkpoint(stem, tensors, {"step": step, "state": skeleton}, RANK_RNG_KIND)


def restore_rank_rng(stem: Path, step: int) -> bool:
    """Restore what :func:`save_rank_rng` wrote at ``step``; False when there is none of that step (a rank killed
    before writing it, a checkpoint from another world size or an older unlogit)."""
    if not stem.with_suffix(".json").is_file():
        return False
    tensors, meta = load_checkpoint(stem, RANK_RNG_KIND)
    if meta.get("step") != step:
        return False
    set_rng_state(unflatten_state(meta["state"], tensors)["rng"])
    return True


def _load(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    device = next(iter(module.state_dict().values())).device if module.state_dict() else torch.device("cpu")
    module.load_state_dict({k: v.to(device) for k, v in tensors.items()})


MAX_STEP = TRAIN_LIMITS["steps"]


def _counters(meta: dict[str, Any], where: Path) -> tuple[int, int, float]:
    """The checkpoint's position (G steps, batches drawn, training seconds), each checked: a hand-edited
    ``last.json`` with a negative, fractional or huge step is refused instead of trusted on resume."""
    import math

    step, drawn, elapsed = meta.get("step"), meta.get("batches_drawn"), meta.get("elapsed")
    for name, value in (("step", step), ("batches_drawn", drawn)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_STEP * 1000:
            raise CheckpointError(f"{where}: '{name}' must be a whole number >= 0, got {value!r}; the file was edited")
    if not isinstance(elapsed, (int, float)) or isinstance(elapsed, bool) or not math.isfinite(elapsed) or elapsed < 0:
        raise CheckpointError(f"{where}: 'elapsed' must be a number of seconds >= 0, got {elapsed!r}")
    if step > MAX_STEP:
        raise CheckpointError(f"{where}: 'step' {step} is beyond any run ({MAX_STEP:,}); the file was edited")
    return step, drawn, float(elapsed)


def _discriminator(cfg: InverterRunConfig, spec: NetSpec, clf: NormalizedClassifier | None) -> nn.Module | None:
    """The method's D for this config (None when it trains none), built where torch's default device says; its
    side features (``gan-features``) are as long as the classifier's features."""
    method, m = get_method(spec.method), cfg.model
    if not method.needs_d(cfg.train):
        return None
    side_dim = feature_dim(clf, (spec.channels, spec.resolution, spec.resolution)) if method.d_features else 0
    return build_discriminator(spec, m.ch_d, tuple(m.attention), m.d_channels, side_dim)


def check_fits(cfg: InverterRunConfig, spec: NetSpec, device: torch.device, clf: NormalizedClassifier) -> None:
    """Build G and D on the meta device, count what training holds (weights, gradients and Adam's two moments of
    each, plus G's EMA copy) in fp32, and refuse a model that cannot fit the device's memory, before any of it
    is allocated."""
    from ...errors import UnlogitError
    from ...runtime.device import device_memory_bytes

    method = get_method(spec.method)
    if not method.trains:
        return
    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # the weights' RNG stream is left as it was
        g = sum(p.numel() for p in method.build_net(spec, clf, build_encoder(spec)).parameters())
        D = _discriminator(cfg, spec, clf)
        d = sum(p.numel() for p in D.parameters()) if D is not None else 0
    need = 4 * (g * (5 if cfg.train.ema and method.ema else 4) + d * 4)
    have = device_memory_bytes(device)
    if have is not None and need > have:
        raise UnlogitError(
            f"this inverter needs about {need / 2**30:.1f} GiB for its weights and optimiser state alone "
            f"(G {g / 1e6:.1f}M, D {d / 1e6:.1f}M parameters), more than the {have / 2**30:.1f} GiB of {device}; "
            "lower model.ch_g / model.ch_d, or use a device with more memory"
        )
