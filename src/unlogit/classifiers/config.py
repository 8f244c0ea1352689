"""Config of ``unlogit train-classifier``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ..config import check_at_most, check_positive
from ..data.config import DataConfig
from ..errors import ConfigError
from .archs import ARCH_LIMITS, ARCHS
from .attacks import AttackConfig


@dataclass
class ClassifierModelConfig:
    """Architecture: small-cnn, resnet20/32/56 (CIFAR ResNet), resnet18 (pre-act), wrn (WideResNet)."""

    arch: str = "small-cnn"  # a name in unlogit.classifiers.archs.ARCHS
    width: int | None = None
    depth: int | None = None
    widen: int | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"config key 'model.arch': {ARCHS.unknown(self.arch)}")
        for key, top in ARCH_LIMITS.items():
            if getattr(self, key) is not None:
                check_positive(getattr(self, key), f"model.{key}")
                check_at_most(getattr(self, key), f"model.{key}", top)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"config key 'model.dropout' must be in [0, 1), got {self.dropout}")


@dataclass
class ClassifierTrainConfig:
    """Optimisation, augmentation and (optionally) PGD adversarial training."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: Literal["cosine", "onecycle", "constant"] = "onecycle"
    augment: Literal["none", "flip", "crop", "crop-flip"] = "crop-flip"
    label_smoothing: float = 0.0
    # Gaussian-noise augmentation (Cohen et al. 2019): x + N(0, noise_std^2) on every training image ([0,1]
    # scale, not clipped); the "any smoothing" control of adversarial training
    noise_std: float = 0.0
    adversarial: bool = False
    attack: AttackConfig = field(default_factory=AttackConfig)
    eval_attack: AttackConfig | None = None  # per-epoch robust accuracy on the validation split
    final_attack: AttackConfig | None = None  # the reported test robust accuracy (default: see final_eval_attack)
    eps_warmup_epochs: float = 0.0  # adversarial training: ramp eps (and step size) linearly from 0 over N epochs
    eval_robust_size: int = 500
    logger: Literal["none", "tensorboard"] = "none"  # also write the epoch records as TensorBoard events
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        check_positive(self.epochs, "train.epochs")
        check_positive(self.batch_size, "train.batch_size")
        check_at_most(self.batch_size, "train.batch_size", 65_536)
        check_positive(self.lr, "train.lr")
        for key in ("momentum", "weight_decay", "eps_warmup_epochs", "noise_std"):
            check_positive(getattr(self, key), f"train.{key}", allow_zero=True)
        check_positive(self.eval_robust_size, "train.eval_robust_size")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"config key 'train.label_smoothing' must be in [0,1), got {self.label_smoothing}")

    @property
    def robust_eval_attack(self) -> AttackConfig:
        """The attack used for per-epoch robust accuracy (defaults to the training attack)."""
        return self.eval_attack or self.attack

    @property
    def final_eval_attack(self) -> AttackConfig:
        """The attack of the reported robust accuracy: ``final_attack``, or the per-epoch attack with at
        least 50 steps and 2 random restarts (robust accuracy under any one attack is an upper bound)."""
        base = self.robust_eval_attack
        return self.final_attack or replace(
            base, steps=max(50, base.steps), restarts=max(2, base.restarts), step_size=None
        )


@dataclass
class ClassifierRunConfig:
    """Everything ``unlogit train-classifier`` needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ClassifierModelConfig = field(default_factory=ClassifierModelConfig)
    train: ClassifierTrainConfig = field(default_factory=ClassifierTrainConfig)
