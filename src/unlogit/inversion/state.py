"""``TrainState``: G, D, G_ema, optimizers, counters and RNG — saved and restored exactly.

Optimizers live here, not inside the modules (BigGAN kept them in the nn.Module; we don't).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..runtime.checkpoint import (
    flatten_state,
    load_checkpoint,
    prefixed,
    save_checkpoint,
    split_prefixed,
    unflatten_state,
)
from ..runtime.seeding import rng_state, set_rng_state
from .baselines import UpConvDecoder
from .config import InverterRunConfig
from .discriminator import ProjectionDiscriminator
from .generator import Generator
from .logit_encoder import LogitEncoder

STATE_KIND = "unlogit.inverter-train-state"


def build_generator(spec: dict[str, Any]) -> nn.Module:
    """The trainable inverter network from its JSON spec (what model.json stores)."""
    encoder = LogitEncoder(spec["num_classes"], spec["encoder"], spec.get("temperature", 1.0))
    if spec.get("method", "gan") in ("pixel", "dosovitskiy"):
        return UpConvDecoder(spec["num_classes"], spec["resolution"], spec["channels"], spec["ch_g"], encoder)
    return Generator(
        num_classes=spec["num_classes"], resolution=spec["resolution"], out_channels=spec["channels"],
        ch=spec["ch_g"], dim_z=spec["dim_z"], attention=tuple(spec.get("attention", ())), encoder=encoder,
        shared_dim=spec.get("shared_dim", 0), sn=spec.get("sn_g", True), cbn_hidden=spec.get("cbn_hidden"),
        channel_mults=tuple(spec["g_channels"]) if spec.get("g_channels") else None,
    )  # fmt: skip


def generator_spec(cfg: InverterRunConfig, num_classes: int, channels: int, resolution: int) -> dict[str, Any]:
    m = cfg.model
    return {
        "method": m.method,
        "num_classes": num_classes, "resolution": resolution, "channels": channels, "ch_g": m.ch_g,
        "dim_z": m.dim_z, "attention": list(m.attention), "shared_dim": m.shared_dim, "encoder": m.encoder,
        "temperature": m.temperature, "sn_g": m.sn_g, "cbn_hidden": m.cbn_hidden, "g_channels": m.g_channels,
    }  # fmt: skip


def adam_kernel(choice: str, device: torch.device) -> dict[str, bool]:
    """Adam keyword arguments for ``train.optimizer`` (auto: fused on CUDA, foreach elsewhere)."""
    if choice == "auto":
        choice = "fused" if device.type == "cuda" else "foreach"
    return {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[choice]


@dataclass
class TrainState:
    """Everything a GAN run needs to continue exactly where it stopped."""

    G: nn.Module  # Generator (gan) or UpConvDecoder (pixel / dosovitskiy)
    D: ProjectionDiscriminator | None  # None for the pixel baseline
    G_ema: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    step: int = 0  # completed G steps
    batches_drawn: int = 0  # data position (batches consumed, all epochs)
    elapsed: float = 0.0  # training seconds so far (for max_minutes across resumes)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, cfg: InverterRunConfig, gspec: dict[str, Any], device: torch.device) -> TrainState:
        t = cfg.train
        G = build_generator(gspec).to(device)
        method = gspec.get("method", "gan")
        D = None
        if method == "gan" or (method == "dosovitskiy" and t.lambda_adv > 0):
            m = cfg.model
            D = ProjectionDiscriminator(
                gspec["num_classes"],
                gspec["resolution"],
                gspec["channels"],
                m.ch_d,
                tuple(m.attention),
                channel_mults=tuple(m.d_channels) if m.d_channels else None,
            ).to(device)
        G_ema = copy.deepcopy(G).eval() if t.ema and method == "gan" else None
        if G_ema is not None:
            for p in G_ema.parameters():
                p.requires_grad_(False)
        fused = adam_kernel(t.optimizer, device)
        opt_g = torch.optim.Adam(G.parameters(), t.lr_g, betas=(t.beta1, t.beta2), eps=t.adam_eps, **fused)
        d_params = list(D.parameters()) if D is not None else [torch.nn.Parameter(torch.zeros(1, device=device))]
        opt_d = torch.optim.Adam(d_params, t.lr_d, betas=(t.beta1, t.beta2), eps=t.adam_eps, **fused)
        return cls(G, D, G_ema, opt_g, opt_d)

    def use_channels_last(self) -> None:
        """NHWC for G, D and G_ema, with the optimisers' moment buffers laid out like their parameters.

        A restored checkpoint gives the buffers back in NCHW; fused Adam steps parameter and state
        memory in lockstep, so mismatched layouts would break exact resume.
        """
        for module in (self.G, self.D, self.G_ema):
            if module is not None:
                module.to(memory_format=torch.channels_last)
        for opt in (self.opt_g, self.opt_d):
            for param, state in opt.state.items():
                for key, value in state.items():
                    if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                        state[key] = torch.empty_like(param).copy_(value)

    @property
    def eval_generator(self) -> nn.Module:
        """The generator used for evaluation: the EMA copy when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def save(self, stem: Path, meta: dict[str, Any]) -> None:
        """Write the full state (atomic; tensors in safetensors, the rest in JSON)."""
        skeleton, tensors = flatten_state(
            {"opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "rng": rng_state()}, "state"
        )
        tensors.update(prefixed("G", self.G.state_dict()))
        if self.D is not None:
            tensors.update(prefixed("D", self.D.state_dict()))
        if self.G_ema is not None:
            tensors.update(prefixed("G_ema", self.G_ema.state_dict()))
        info = {"step": self.step, "batches_drawn": self.batches_drawn, "elapsed": self.elapsed,
                "extra": self.extra, "state": skeleton, **meta}  # fmt: skip
        save_checkpoint(stem, tensors, info, STATE_KIND)

    def restore(self, stem: Path) -> dict[str, Any]:
        """Load what :meth:`save` wrote (weights, optimizers, RNG, counters); returns the metadata."""
        tensors, meta = load_checkpoint(stem, STATE_KIND)
        _load(self.G, split_prefixed(tensors, "G"))
        if self.D is not None:
            _load(self.D, split_prefixed(tensors, "D"))
        if self.G_ema is not None:
            _load(self.G_ema, split_prefixed(tensors, "G_ema"))
        state = unflatten_state(meta["state"], tensors)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        set_rng_state(state["rng"])
        self.step, self.batches_drawn = int(meta["step"]), int(meta["batches_drawn"])
        self.elapsed, self.extra = float(meta["elapsed"]), dict(meta.get("extra", {}))
        return meta


def _load(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    device = next(module.parameters()).device
    module.load_state_dict({k: v.to(device) for k, v in tensors.items()})
