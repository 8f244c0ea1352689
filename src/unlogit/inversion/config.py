"""Config of ``unlogit train`` (the logit inverter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..config import check_at_most, check_positive
from ..data.config import DataConfig
from ..errors import ConfigError
from .methods import METHODS
from .net_spec import MAX_WIDTH, RESOLUTIONS, SIZE_LIMITS, NetSpec
from .nets.logit_encoder import EncoderMode


@dataclass
class InverterModelConfig:
    """Generator/discriminator shapes (BigGAN conventions; ``ch`` is BigGAN's channel multiplier).

    ``method``: a name in :data:`unlogit.inversion.methods.METHODS` (``gan``, the paper's, by default;
    the decoder baselines use width ``ch_g``, the optimiser the ``opt_*`` settings).
    """

    method: str = "gan"
    resolution: int | None = None  # default: the dataset's image size
    ch_g: int = 64
    ch_d: int = 64
    dim_z: int = 120
    g_channels: list[int] | None = None  # per-layer width multipliers overriding the table (see Generator)
    d_channels: list[int] | None = None
    attention: list[int] = field(default_factory=list)
    shared_dim: int = 0
    shared_sn: bool = False  # spectral norm on G's shared embedding (BigGAN's is plain)
    cbn_hidden: int | None = None
    encoder: EncoderMode = "standardize"
    temperature: float = 1.0
    sn_g: bool = True
    opt_steps: int = 200
    opt_lr: float = 0.1
    opt_tv: float = 0.05
    opt_l2: float = 0.01
    ridge_anchors: int = 2048

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"config key 'model.method': {METHODS.unknown(self.method)}")
        if self.resolution is not None and self.resolution not in RESOLUTIONS:
            raise ConfigError(
                f"config key 'model.resolution' must be one of {list(RESOLUTIONS)}, got {self.resolution}"
            )
        for key in ("ch_g", "ch_d", "dim_z"):
            check_positive(getattr(self, key), f"model.{key}")
        for key in ("g_channels", "d_channels", "attention"):
            for i, v in enumerate(getattr(self, key) or []):
                check_positive(v, f"model.{key}[{i}]")
                check_at_most(v, f"model.{key}[{i}]", MAX_WIDTH)
        for key, (_low, high) in {**SIZE_LIMITS, "ch_d": (1, MAX_WIDTH)}.items():
            if getattr(self, key, None) is not None:  # the net spec's limits, stated before any data is read
                check_at_most(getattr(self, key), f"model.{key}", high)

    def net_spec(self, num_classes: int, channels: int, resolution: int) -> NetSpec:
        """The net's spec (what model.json stores under ``net`` and ``Method.build_net`` reads): every
        field of :class:`NetSpec` this config has, by name, plus the data's shape."""
        return NetSpec.from_fields(self, num_classes=num_classes, channels=channels, resolution=resolution)


# Sizes that allocate memory, bounded before anything runs (far above any run here, far below a crash).
TRAIN_LIMITS = {"batch_size": 65_536, "accumulate": 1_024, "n_dis": 100, "eval_size": 1_000_000,
                "standing_stats_batches": 10_000, "steps": 10**9}  # fmt: skip


@dataclass
class InverterTrainConfig:
    """GAN optimisation (hinge loss, Adam beta1=0, n_dis D steps per G step, EMA of G)."""

    steps: int = 10_000  # G steps
    max_minutes: float | None = None  # stop early (cleanly, with a checkpoint) after this wall time
    batch_size: int = 64
    n_dis: int = 2
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.999
    adam_eps: float = 1e-8
    accumulate: int = 1
    ema: bool = True
    ema_decay: float = 0.999
    ema_start: int = 1000
    standing_stats_batches: int = 16
    amp: Literal["auto", "off", "bf16"] = "auto"  # auto: measured on the CPU (train/fastpath.py), bf16 on CUDA
    augment: Literal["none", "flip", "crop", "crop-flip"] = "none"
    logit_cache: bool = True  # classifier forward once per image (when augment is none)
    # Fast paths (docs/performance.md); each is switchable and tested for equal results.
    channels_last: Literal["auto"] | bool = "auto"  # NHWC memory format for G, D and the real images
    compile: Literal["auto"] | bool = "auto"  # torch.compile G and D (needs a C++ compiler on CPU)
    optimizer: Literal["auto", "for-loop", "foreach", "fused"] = "auto"  # Adam kernel; auto: fused on CUDA
    data_on_device: Literal["auto", "on", "off"] = "auto"  # uint8 training set on the GPU; auto: if it fits
    logit_loss: float = 0.0
    lambda_img: float = 1.0  # decoder baselines: pixel MSE weight
    lambda_feat: float = 0.0  # feature MSE weight (classifier penultimate features)
    lambda_adv: float = 0.0  # adversarial (hinge) weight
    log_every: int = 100
    sample_every: int = 500
    checkpoint_every: int = 500
    eval_size: int = 500  # validation images of the held-out numbers (during and after training)
    eval_every: int = 0  # also measure the EMA G on eval_size held-out images every N G steps (0: only at the end)
    evaluators: list[str] = field(default_factory=list)  # independent classifier specs that judge held-out numbers
    logger: Literal["none", "tensorboard"] = "none"  # also write metrics and sample sheets as TensorBoard events
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for key in (
            "steps",
            "batch_size",
            "n_dis",
            "lr_g",
            "lr_d",
            "accumulate",
            "log_every",
            "sample_every",
            "checkpoint_every",
            "eval_size",
            "adam_eps",
            "ema_start",
        ):
            check_positive(getattr(self, key), f"train.{key}", allow_zero=key == "ema_start")
        if self.max_minutes is not None:
            check_positive(self.max_minutes, "train.max_minutes")
        for key, top in TRAIN_LIMITS.items():
            check_at_most(getattr(self, key), f"train.{key}", top)
        check_positive(self.eval_every, "train.eval_every", allow_zero=True)
        check_positive(self.standing_stats_batches, "train.standing_stats_batches", allow_zero=True)
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"config key 'train.ema_decay' must be in [0, 1), got {self.ema_decay}")
        for key in ("logit_loss", "lambda_img", "lambda_feat", "lambda_adv"):
            check_positive(getattr(self, key), f"train.{key}", allow_zero=True)


@dataclass
class InverterRunConfig:
    """Everything ``unlogit train`` needs: the classifier to invert, data, model and training."""

    classifier: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: InverterModelConfig = field(default_factory=InverterModelConfig)
    train: InverterTrainConfig = field(default_factory=InverterTrainConfig)
