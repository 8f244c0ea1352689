"""Built-in classifier architectures sized for 28-64 px inputs.

Every network maps *normalised* images (N,C,H,W) to logits (N,K) and exposes
``features(x) -> (N,D)`` (the penultimate activations) and ``head`` (the final linear layer), so
that ``forward(x) == head(features(x))``. They are built from a validated
:class:`ArchSpec` (stored in ``model.json`` as ``{"arch": "resnet20", "num_classes": 10, "in_channels": 3,
"width": 16}``), so a run directory can be rebuilt without pickles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..runtime.registry import Registry


class _Classifier(nn.Module):
    head: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _PreActNet(_Classifier):
    """Pre-activation trunk (stem -> blocks) with the shared BN-ReLU-pool tail and linear head."""

    def _finish(self, blocks: list[nn.Module], channels: int, num_classes: int) -> None:
        self.layers = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(channels)
        self.head = nn.Linear(channels, num_classes)
        _kaiming(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.layers(self.stem(x))))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


# --- CIFAR ResNet (He et al. 2016, section 4.2): depth 6n+2, widths w, 2w, 4w -----------------
class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(_Classifier):
    """ResNet-20/32/44/56/110 for 32x32 inputs (depth = 6n + 2)."""

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ConfigError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for stage, mult in enumerate((1, 2, 4)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(BasicBlock(cin, width * mult, stride))
                cin = width * mult
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)
        _kaiming(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1)


# --- Pre-activation ResNet-18 (He et al. 2016b), the robustness literature's CIFAR workhorse ------
class PreActBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet18(_PreActNet):
    """ResNet-18 (pre-activation) for 32x32 (stem stride 1) or 64x64 inputs (``stem_stride=2``)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 64, stem_stride: int = 1) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, stem_stride, 1, bias=False)
        blocks, cin = [], width
        for stage, mult in enumerate((1, 2, 4, 8)):
            for i in range(2):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(PreActBlock(cin, width * mult, stride))
                cin = width * mult
        self._finish(blocks, cin, num_classes)


# --- WideResNet (Zagoruyko & Komodakis 2016): depth 6n+4, widen factor k ------------------------
class WideBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if (stride != 1 or cin != cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + skip


class WideResNet(_PreActNet):
    """WRN-depth-k; e.g. WRN-16-4 (depth=16, widen=4) or WRN-28-10."""

    def __init__(
        self, depth: int = 16, widen: int = 4, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ConfigError(f"WideResNet depth must be 6n+4 (16, 22, 28, 40), got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        blocks, cin = [], widths[0]
        for stage in range(3):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(WideBlock(cin, widths[stage + 1], stride, dropout))
                cin = widths[stage + 1]
        self._finish(blocks, cin, num_classes)


# --- Small CNN: fast on CPU, for the shapes / Fashion-MNIST presets --------------------------------
class SmallCNN(_Classifier):
    """Three conv stages (w, 2w, 4w) with BN and max-pooling, global average pool, linear head."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32) -> None:
        super().__init__()

        def stage(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        w = width
        self.body = nn.Sequential(
            *stage(in_channels, w),
            *stage(w, w),
            nn.MaxPool2d(2),
            *stage(w, 2 * w),
            *stage(2 * w, 2 * w),
            nn.MaxPool2d(2),
            *stage(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * w, num_classes)
        _kaiming(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _kaiming(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)


MAX_CLASSES = 100_000
ARCH_LIMITS = {"width": 4096, "depth": 1000, "widen": 64}  # the sizes an ArchSpec (and a config) may ask for


@dataclass(frozen=True)
class ArchSpec:
    """What ``model.json`` stores under ``arch``, validated: a registry name and bounded sizes."""

    arch: str
    num_classes: int
    in_channels: int = 3
    image_size: int = 32
    width: int | None = None
    depth: int | None = None
    widen: int | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        ARCHS.get(self.arch)
        _bounded("num_classes", self.num_classes, 1, MAX_CLASSES)
        if self.in_channels not in (1, 3):
            raise ConfigError(f"config key 'arch.in_channels' must be 1 or 3, got {self.in_channels}")
        _bounded("image_size", self.image_size, 8, 1024)
        for key, top in ARCH_LIMITS.items():
            if getattr(self, key) is not None:
                _bounded(key, getattr(self, key), 1, top)
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"config key 'arch.dropout' must be in [0, 1), got {self.dropout}")

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> ArchSpec:
        """A stored or hand-written spec mapping, validated (unknown keys and bad values name the field)."""
        from ..config import from_dict

        return from_dict(cls, spec, "arch.")

    def to_dict(self) -> dict[str, Any]:
        """The spec as stored: the options that are set (None left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None and not (k == "dropout" and v == 0.0)}


def _bounded(key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ConfigError(f"config key 'arch.{key}' must be in [{low}, {high}], got {value}")


ArchBuilder = Callable[[ArchSpec], _Classifier]
ARCHS: Registry[ArchBuilder] = Registry("classifier architecture")
ARCHS.register("small-cnn", lambda s: SmallCNN(s.num_classes, s.in_channels, s.width or 32))
ARCHS.register("resnet20", lambda s: CifarResNet(20, s.num_classes, s.in_channels, s.width or 16))
ARCHS.register("resnet32", lambda s: CifarResNet(32, s.num_classes, s.in_channels, s.width or 16))
ARCHS.register("resnet56", lambda s: CifarResNet(56, s.num_classes, s.in_channels, s.width or 16))
ARCHS.register(
    "resnet18",
    lambda s: PreActResNet18(s.num_classes, s.in_channels, s.width or 64, 2 if s.image_size >= 64 else 1),
)
ARCHS.register("wrn", lambda s: WideResNet(s.depth or 16, s.widen or 4, s.num_classes, s.in_channels, s.dropout))


def build_arch(
    spec: ArchSpec | Mapping[str, Any], expected: dict[str, torch.Tensor] | None = None, where: str = "the spec"
) -> _Classifier:
    """Build a network from its validated :class:`ArchSpec` (a mapping is validated into one first).

    With ``expected`` (the tensors a checkpoint holds) the architecture is first built on the meta device
    and its parameter shapes compared with them, so a spec that does not fit its weights (or would need far
    more memory than they hold) is refused before anything is allocated."""
    from ..runtime.checkpoint import check_shapes

    arch = spec if isinstance(spec, ArchSpec) else ArchSpec.parse(spec)
    builder = ARCHS.get(arch.arch)
    if expected is not None:
        with torch.device("meta"):
            check_shapes(builder(arch), expected, where)
    return builder(arch)
