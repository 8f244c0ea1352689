"""``NormalizedClassifier``: [0,1] images in, logits out, with class names and provenance."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import UnlogitError


class AdaptedModel(nn.Module):
    """Resizes and/or permutes normalised NCHW images into what the wrapped model takes."""

    def __init__(self, model: nn.Module, layout: str = "nchw", size: int | None = None) -> None:
        super().__init__()
        self.model, self.layout, self.size = model, layout, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        if self.layout == "nhwc":
            x = x.permute(0, 2, 3, 1).contiguous()
        return self.model(x)


class NormalizedClassifier(nn.Module):
    """Normalisation + network in one module that takes images in [0,1].

    Args:
        model: maps normalised images (N,C,H,W) to logits (N,K).
        classes: K class names.
        mean, std: per-channel normalisation applied to [0,1] inputs (length C).
        input_shape: expected (C,H,W); ``None`` accepts any size (e.g. global-pooling nets).
        info: provenance (``spec``, ``arch``, training summary...), stored in metric records.

    ``forward(x)``: x (N,C,H,W) float in [0,1] -> logits (N,K) float.
    ``features(x)``: penultimate activations (N,D) when the network exposes them.
    """

    def __init__(
        self,
        model: nn.Module,
        classes: Sequence[str],
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
        input_shape: tuple[int, int, int] | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.classes = list(classes)
        c = len(mean)
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, c, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, c, 1, 1), persistent=False)
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.info: dict[str, Any] = dict(info or {})

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def adopt_class_names(self, names: Sequence[str]) -> None:
        """Take ``names`` (the data's classes) when this classifier only has numbered placeholders ("0".."K-1")
        and the counts match; a classifier with its own names (or another count) keeps them."""
        numbered = self.classes == [str(i) for i in range(self.num_classes)]
        if numbered and len(names) == self.num_classes:
            self.classes = list(names)

    @property
    def in_channels(self) -> int:
        return int(self.mean.shape[1])

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error for images of the wrong rank, channels or size."""
        if x.ndim != 4:
            raise UnlogitError(f"classifier expects images (N,C,H,W), got a tensor of shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise UnlogitError(
                f"classifier expects {self.in_channels}-channel images, got {x.shape[1]} channels; "
                f"convert the data (data.channels={self.in_channels})"
            )
        if self.input_shape is not None and tuple(x.shape[2:]) != tuple(self.input_shape[1:]):
            h, w = self.input_shape[1:]
            raise UnlogitError(
                f"classifier expects {h}x{w} images, got {x.shape[2]}x{x.shape[3]}; resize (data.image_size={h})"
            )

    def probe(self, shape: tuple[int, int, int]) -> None:
        """Run one blank image of ``shape`` (C,H,W) through the network, or raise an error naming the spec and
        the input convention (a wrong ``size=`` or layout fails here, not inside training)."""
        native = self.info.get("native_size")
        if native and min(shape[1:]) < native:
            raise UnlogitError(
                f"classifier {self.info.get('spec', '?')} was trained on {native}x{native} images, but the data is "
                f"{shape[1]}x{shape[2]}: its logits on these would not be the ones it gives to real inputs. Add "
                f"size={native} to the spec (each image resized to {native} px before it is classified), or "
                f"size={shape[1]} to feed them as they are on purpose"
            )
        x = torch.zeros(1, *shape, device=self.mean.device)
        self.check_input(x)
        try:
            with torch.no_grad():
                out = self.eval()(x)
        except Exception as exc:  # any failure of a foreign network on this input
            raise UnlogitError(
                f"classifier {self.info.get('spec', '?')} cannot take {shape[1]}x{shape[2]} images with "
                f"{shape[0]} channels ({type(exc).__name__}: {str(exc)[:200]}); check its input convention "
                "(size=, layout=) or resize the data (data.image_size)"
            ) from exc
        if out.ndim != 2 or out.shape[1] != self.num_classes:
            raise UnlogitError(
                f"classifier {self.info.get('spec', '?')} returned {tuple(out.shape)} for one image, "
                f"not (1, {self.num_classes}) logits"
            )

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.model(self.normalize(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N,D): the network's own ``features`` method (built-in architectures), else
        the input of its final ``nn.Linear`` with K outputs (torchvision, timm, ONNX-converted networks);
        raises for networks that expose neither (TorchScript, torch.export programs)."""
        self.check_input(x)
        own = self._own_features()
        if own is not None:
            return own(self.normalize(x))
        head = self._final_linear()
        if head is None:
            raise UnlogitError(
                f"classifier {self.info.get('spec', '?')} does not expose penultimate features (no features() "
                "method and no final nn.Linear with one output per class); use a built-in architecture, a "
                "torchvision/timm/ONNX network, or an evaluator that does"
            )
        captured: list[torch.Tensor] = []
        handle = head.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0]))
        try:
            self.model(self.normalize(x))
        finally:
            handle.remove()
        return captured[-1].flatten(1)

    def has_features(self) -> bool:
        """Whether :meth:`features` works for this network."""
        return self._own_features() is not None or self._final_linear() is not None

    def _own_features(self):
        """The network's own ``features`` method (built-in architectures), or None; a ``features`` submodule
        (e.g. VGG's convolutional trunk) is not penultimate activations and does not count."""
        own = getattr(self.model, "features", None)
        return own if callable(own) and not isinstance(own, nn.Module) else None

    def _final_linear(self) -> nn.Linear | None:
        """The last ``nn.Linear`` with ``num_classes`` outputs in an eager network (None for scripted ones)."""
        if isinstance(self.model, torch.jit.ScriptModule) or not hasattr(self.model, "modules"):
            return None
        heads = [m for m in self.model.modules() if isinstance(m, nn.Linear) and m.out_features == self.num_classes]
        return heads[-1] if heads else None

    def train(self, mode: bool = True) -> NormalizedClassifier:
        """Set train/eval mode; ``torch.export`` programs keep the mode they were exported in."""
        self.training = mode
        try:
            self.model.train(mode)
        except NotImplementedError:  # exported programs do not support .train()/.eval()
            pass
        return self

    def frozen(self) -> NormalizedClassifier:
        """Eval mode and no parameter gradients (what inversion and attacks use)."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def weights_digest(self) -> str:
        """SHA-256 over the network's state dict (names, dtypes, shapes, values), whatever its source.

        Two classifiers are the same judge exactly when their digests are equal: this is how evaluator
        independence is checked (never by path), and how stored logits are matched to a classifier. An input
        adapter (``size=``, ``layout=``) holds no weights and does not change it. Computed once and cached in
        ``info``.
        """
        if "weights_digest" not in self.info:
            h = hashlib.sha256()
            net = self.model.model if isinstance(self.model, AdaptedModel) else self.model
            for name, tensor in sorted(net.state_dict().items()):
                t = tensor.detach().cpu().contiguous()
                h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
            self.info["weights_digest"] = h.hexdigest()
        return self.info["weights_digest"]

    @torch.no_grad()
    def predict_logits(self, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Logits for many images in batches, eval mode, no grads: (N,K) float32 on x's device."""
        was_training = self.training
        self.eval()
        out = [self(part).float() for part in x.split(batch_size)]
        self.train(was_training)
        return torch.cat(out) if out else torch.empty(0, self.num_classes, device=x.device)

    def extra_repr(self) -> str:
        return f"classes={self.num_classes}, input_shape={self.input_shape}, spec={self.info.get('spec')!r}"
