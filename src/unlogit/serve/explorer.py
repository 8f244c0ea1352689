"""What the web explorer computes, free of any web framework: edit an image, attack it, edit its logits,
reconstruct it with every inverter.

One request runs this pipeline for each inverter (all share image shape and class count)::

    x (C,H,W in [0,1]) --transform--> x_t --PGD against one classifier--> x_in
    l  = f_i(x_in)                                   raw logits (K,) of inverter i's classifier
    l' = LogitEdit.apply(l, units_i, f_i(x_other))    interpolate, scale about the class means, shift, class
                                                     deltas, noise (unlogit.inversion.edits)
    G_i(l', z_s), s = 1..S                           reconstructions, the same noise z_s for every edit

so moving one slider changes only the logits, never the noise draw. Every logit slider is in the inverted
classifier's own logit units (per-class mean and sigma on training images), the units of ``unlogit analyze``
and of the findings: a shift of 1 is one mean class sigma for every classifier.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torchvision.transforms.v2.functional as TF

from ..classifiers.attacks import AttackConfig
from ..data.base import ImageDataset
from ..errors import UnlogitError
from ..inversion.edits import LogitEdit, logit_units
from ..inversion.inverter import Inverter


@dataclass(frozen=True)
class ImageEdit:
    """An image transform applied before the classifier: horizontal flip, rotation (degrees),
    brightness factor (1 = unchanged) and a centre crop keeping ``crop`` of each side, resized back."""

    hflip: bool = False
    rotate: float = 0.0
    brightness: float = 1.0
    crop: float = 1.0


@dataclass(frozen=True)
class AttackEdit:
    """PGD against inverter ``against``'s classifier: ``eps`` in [0,1] pixel units (L-inf) or L2 norm;
    untargeted (away from its current label) unless ``target`` names a class."""

    norm: Literal["none", "linf", "l2"] = "none"
    eps: float = 0.0
    steps: int = 10
    target: int | None = None
    against: int = 0


@dataclass
class InverterView:
    """One inverter's answer: raw and edited logits (K,), reconstructions (S,C,H,W) in [0,1], and the
    classifier's label of each reconstruction (S,)."""

    name: str
    logits: torch.Tensor
    edited: torch.Tensor
    reconstructions: torch.Tensor
    reconstruction_labels: torch.Tensor


@dataclass
class Exploration:
    """The classifier's input after transform and attack (C,H,W in [0,1]) and one view per inverter."""

    input: torch.Tensor
    views: list[InverterView] = field(default_factory=list)


def apply_image_edit(x: torch.Tensor, edit: ImageEdit) -> torch.Tensor:
    """x (N,C,H,W) in [0,1] -> the edited images, same shape, in [0,1]."""
    h, w = x.shape[-2:]
    if edit.crop < 1.0:
        ch, cw = max(1, round(h * edit.crop)), max(1, round(w * edit.crop))
        x = TF.resize(TF.center_crop(x, [ch, cw]), [h, w], antialias=True)
    if edit.hflip:
        x = TF.horizontal_flip(x)
    if edit.rotate:
        x = TF.rotate(x, float(edit.rotate))
    if edit.brightness != 1.0:
        x = TF.adjust_brightness(x, float(edit.brightness))
    return x.clamp(0, 1)


def top_k(logits: torch.Tensor, classes: Sequence[str], k: int = 5) -> list[dict[str, float | int | str]]:
    """The k largest of raw logits (K,) with softmax probabilities and class names."""
    probs = logits.float().softmax(0)
    values, index = probs.topk(min(k, len(probs)))
    return [
        {"class": int(i), "name": classes[int(i)], "prob": float(p), "logit": float(logits[int(i)])}
        for p, i in zip(values, index)
    ]


class Explorer:
    """Inverters that share an image shape and class count, plus a gallery of dataset images.

    Thread-safe: one lock serialises the model work (torch modules are not re-entrant under PGD).
    """

    def __init__(
        self, inverters: Mapping[str, Inverter], gallery: ImageDataset, unit_images: torch.Tensor | None = None
    ) -> None:
        """``unit_images`` (N,C,H,W) in [0,1], training images, set each classifier's logit units (the
        sliders' units); without them the gallery's images do."""
        if not inverters:
            raise UnlogitError("give at least one inverter run (--inverter RUN)")
        self.inverters = dict(inverters)
        first = next(iter(self.inverters.values()))
        for name, inv in self.inverters.items():
            if inv.image_shape != first.image_shape or inv.num_classes != first.num_classes:
                raise UnlogitError(
                    f"inverter {name} takes {inv.image_shape} images with {inv.num_classes} logits, but the first "
                    f"takes {first.image_shape} with {first.num_classes}; serve inverters of one dataset together"
                )
        self.image_shape = first.image_shape
        self.num_classes = first.num_classes
        if gallery.image_shape != self.image_shape:
            gallery = gallery.adapt(self.image_shape[0], self.image_shape[1])
        self.gallery = gallery
        self.classes = (
            list(gallery.classes)
            if gallery.num_classes == self.num_classes
            else [str(i) for i in range(self.num_classes)]
        )
        images = unit_images if unit_images is not None else gallery.batch(torch.arange(len(gallery)))[0]
        self.units = {name: logit_units(inv.classifier, images) for name, inv in self.inverters.items()}
        self._lock = threading.Lock()

    def gallery_image(self, index: int) -> torch.Tensor:
        """Gallery image ``index`` as (C,H,W) float in [0,1]."""
        if not 0 <= index < len(self.gallery):
            raise IndexError(f"gallery index {index} is out of range; there are {len(self.gallery)} images")
        return self.gallery.images[index].float() / 255.0

    def explore(
        self,
        x: torch.Tensor,
        image_edit: ImageEdit = ImageEdit(),
        attack: AttackEdit = AttackEdit(),
        logit_edit: LogitEdit | None = None,
        other: torch.Tensor | None = None,
        samples: int = 4,
        seed: int = 0,
    ) -> Exploration:
        """x, other: (C,H,W) in [0,1]. Returns the classifier input and each inverter's view."""
        if tuple(x.shape) != self.image_shape:
            raise UnlogitError(f"image must have shape {self.image_shape}, got {tuple(x.shape)}")
        if attack.norm != "none" and not 0 <= attack.against < len(self.inverters):
            raise UnlogitError(f"attack.against must name an inverter 0..{len(self.inverters) - 1}")
        if attack.target is not None and not 0 <= attack.target < self.num_classes:
            raise UnlogitError(f"attack.target must be a class 0..{self.num_classes - 1}, got {attack.target}")
        with self._lock:
            x_in = apply_image_edit(x[None], image_edit)
            invs = list(self.inverters.items())
            if attack.norm != "none" and attack.eps > 0:
                clf = invs[attack.against][1].classifier
                x_in = x_in.to(invs[attack.against][1].device)
                targeted = attack.target is not None
                y = torch.tensor([attack.target]) if targeted else clf.predict_logits(x_in).argmax(1).cpu()
                pgd = AttackConfig(attack.norm, attack.eps, attack.steps).build(clf)
                x_in = pgd(x_in, y.to(x_in.device), targeted=targeted)
            result = Exploration(input=x_in[0].cpu())
            for name, inv in invs:
                logits = inv.logits(x_in)
                other_logits = inv.logits(other[None]) if other is not None else None
                edited = (logit_edit or LogitEdit()).apply(logits, self.units[name].to(logits.device), other_logits)
                recon = inv.generate(edited.repeat(samples, 1), seed=seed)
                labels = inv.logits(recon).argmax(1)
                result.views.append(InverterView(name, logits[0].cpu(), edited[0].cpu(), recon.cpu(), labels.cpu()))
        return result
