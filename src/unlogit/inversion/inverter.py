"""The inverter API: ``load_inverter(run)``, ``inv.reconstruct(images)``, ``inv.generate(logits)``.

An :class:`Inverter` is the frozen classifier f, the logit encoder and an
:class:`~unlogit.inversion.nets.net.InverterNet`: ``x_hat = net(encoder(f(x)), z)``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..classifiers.registry import load_classifier
from ..errors import CheckpointError, UnlogitError
from ..runtime.checkpoint import check_finite, check_shapes, load_checkpoint, read_json, save_checkpoint
from ..runtime.rundir import RunLayout
from .metadata import InverterMeta, read_inverter_meta
from .methods import build_encoder, get_method
from .net_spec import NetSpec
from .nets.logit_encoder import LogitEncoder
from .nets.net import InverterNet

INVERTER_KIND = "unlogit.inverter"
ENCODER_PREFIX = "encoder."  # model.safetensors: the encoder's statistics beside the net's weights
CHUNK = 256  # images generated per forward


@torch.no_grad()
def generate_chunked(net: InverterNet, cond: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``net(cond, noise)`` in chunks of CHUNK images; cond (N,K) on the net's device, noise (N, dim_z)."""
    out = [net(c, z.to(cond.device)) for c, z in zip(cond.split(CHUNK), noise.split(CHUNK))]
    return torch.cat(out) if out else torch.empty(0, *net.image_shape, device=cond.device)


MAX_UPS = 3  # a classifier run this close to the inverter run is recorded relative to it (copied trees work)


def classifier_reference(classifier: str, run: Path) -> str:
    """How an inverter run records its classifier: a run directory nearby as a path relative to the run
    (``../../classifiers/robust``), farther ones absolute, any other spec as given."""
    path = Path(classifier)
    if not path.is_dir():
        return classifier
    rel = Path(os.path.relpath(path.resolve(), run.resolve()))
    return rel.as_posix() if rel.parts[: MAX_UPS + 1].count("..") <= MAX_UPS else str(path.resolve())


def save_inverter(
    run: Path,
    encoder: LogitEncoder,
    net: InverterNet,
    spec: NetSpec,
    classifier: str,
    clf: NormalizedClassifier,
    summary: dict[str, Any],
) -> None:
    """Write ``RUN/model.{safetensors,json}``: encoder statistics, the net's weights (for methods that
    learn any), its spec, the classifier spec with its weight digest and class names."""
    tensors = {ENCODER_PREFIX + k: v for k, v in encoder.state_dict().items()}
    if get_method(spec.method).has_weights:
        tensors.update(net.state_dict())
    meta = InverterMeta(
        method=spec.method,
        net=spec,
        classifier=classifier_reference(classifier, run),
        classes=list(clf.classes),
        classifier_digest=clf.weights_digest(),
        classifier_convention=clf.info.get("convention"),
        summary=summary,
    )
    save_checkpoint(RunLayout(run).model, tensors, meta.to_dict(), kind=INVERTER_KIND)


def _recorded_classifier(run: Path, meta: InverterMeta, device) -> NormalizedClassifier:
    """The classifier a run records, resolved relative to the run, checked against its weight digest."""
    ref = meta.classifier
    near = run / ref
    spec = str(near) if not Path(ref).is_absolute() and near.is_dir() else ref
    clf = load_classifier(spec, device=device, classes=meta.classes or None, from_data=True)
    digest = meta.classifier_digest
    if digest and clf.weights_digest() != digest:
        raise CheckpointError(
            f"the classifier {spec} is not the one {run} was trained on (its weights differ); pass the right one "
            "with --classifier SPEC"
        )
    return clf


class Inverter:
    """A trained logit inverter bound to the classifier it inverts.

    Attributes:
        net: the :class:`~unlogit.inversion.nets.net.InverterNet` (encoded logits, z) -> images in [0,1].
        encoder: raw logits -> the net's condition.
        classifier: the frozen classifier f whose logits are inverted.
        meta: the run's model.json (method, net spec, classifier, training summary).
        method: the method's registry name.
    """

    def __init__(
        self, net: InverterNet, encoder: LogitEncoder, classifier: NormalizedClassifier, meta: InverterMeta
    ) -> None:
        self.net = net.eval()
        self.encoder = encoder
        self.classifier = classifier
        self.meta = meta
        self.method: str = meta.method

    @property
    def device(self) -> torch.device:
        return self.encoder.mean.device

    @property
    def num_classes(self) -> int:
        return self.net.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.net.image_shape)

    @property
    def stochastic(self) -> bool:
        """Whether different noise gives different reconstructions of the same logits."""
        return self.net.stochastic

    def sample_noise(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n noise vectors (n, dim_z) on the CPU, from ``seed`` when given."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.net.sample_noise(n, "cpu", gen)

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """f(images): images (N,C,H,W) in [0,1] -> logits (N,K)."""
        self._check_images(images)
        return self.classifier.predict_logits(images.to(self.device))

    @torch.no_grad()
    def generate(
        self, logits: torch.Tensor, noise: torch.Tensor | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """net(encoder(logits), noise): logits (N,K) raw -> images (N,C,H,W) in [0,1].

        ``noise`` (N, dim_z) defaults to :meth:`sample_noise`, drawn from ``seed`` when given.
        """
        logits = torch.as_tensor(logits, dtype=torch.float32, device=self.device)
        self.encoder.check(logits)
        if noise is None:
            noise = self.sample_noise(len(logits), seed)
        elif tuple(noise.shape) != (len(logits), self.net.dim_z):
            raise UnlogitError(f"noise must have shape ({len(logits)}, {self.net.dim_z}), got {tuple(noise.shape)}")
        images = generate_chunked(self.net, self.encoder(logits), noise)
        if not bool(torch.isfinite(images).all()):
            raise UnlogitError(
                f"the inverter ({self.method}, of {self.meta.classifier}) made images with NaN or infinite pixels; "
                "its weights are damaged or the logits are far outside what it was trained on"
            )
        return images

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, samples: int = 1, seed: int | None = 0) -> torch.Tensor:
        """Images (N,C,H,W) in [0,1] -> reconstructions (N,S,C,H,W) in [0,1], S = ``samples`` noise draws."""
        return self.reconstruct_logits(self.logits(images), samples, seed)

    @torch.no_grad()
    def reconstruct_logits(self, logits: torch.Tensor, samples: int = 1, seed: int | None = 0) -> torch.Tensor:
        """Logits (N,K) already computed by :meth:`logits` -> reconstructions (N,S,C,H,W) in [0,1]: what
        :meth:`reconstruct` does after classifying, for callers that keep the logits (one classification
        per image)."""
        z = self.sample_noise(len(logits) * samples, seed)
        rep = logits.repeat_interleave(samples, dim=0)
        return self.generate(rep, z).view(len(logits), samples, *self.image_shape)

    def _check_images(self, images: torch.Tensor) -> None:
        c, h, w = self.image_shape
        if images.ndim != 4 or tuple(images.shape[1:]) != (c, h, w):
            raise UnlogitError(
                f"this inverter takes images of shape (N,{c},{h},{w}) in [0,1]; got {tuple(images.shape)}. "
                "Resize or convert the images (data.image_size / data.channels)"
            )
        if images.dtype == torch.uint8:
            raise UnlogitError("images must be float in [0,1], not uint8; divide by 255")


def read_inverter_checkpoint(run: Path) -> tuple[dict[str, torch.Tensor], InverterMeta]:
    """An inverter run's model tensors and its model.json, validated against the schema
    (:mod:`.metadata`) with clear errors for other folders and for fields missing, mistyped or out of bounds."""
    layout = RunLayout(run)
    if not layout.model_json.is_file():
        raise CheckpointError(f"{run} is not an inverter run directory (no model.json); train one with `unlogit train`")
    layout.check_inside(layout.model_json, layout.model.with_suffix(".safetensors"))
    raw = read_json(layout.model_json, "inverter metadata")
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind != INVERTER_KIND:
        raise CheckpointError(f"{run} holds a {kind!r}, not an inverter; pass the run directory of `unlogit train`")
    tensors, raw = load_checkpoint(layout.model, INVERTER_KIND)
    return tensors, read_inverter_meta(raw, layout.model_json)


def _build(spec: NetSpec, clf: NormalizedClassifier, tensors: dict[str, torch.Tensor], where: Path):
    """The encoder and the net of ``spec`` with their weights; the shapes are checked on the meta device
    first, so a spec that does not fit its tensors allocates nothing."""
    method = get_method(spec.method)
    enc_state = {k[len(ENCODER_PREFIX) :]: v for k, v in tensors.items() if k.startswith(ENCODER_PREFIX)}
    net_state = {k: v for k, v in tensors.items() if not k.startswith(ENCODER_PREFIX)}
    check_shapes(build_encoder(spec), enc_state, str(where))
    if method.trains:
        with torch.device("meta"):
            check_shapes(method.build_net(spec, clf, build_encoder(spec)), net_state, str(where))
    check_finite(tensors, str(where.with_suffix(".safetensors")))
    encoder = build_encoder(spec)
    try:
        net = method.build_net(spec, clf, encoder)
        encoder.load_state_dict(enc_state)
        if method.has_weights:
            net.load_state_dict(net_state)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"weights in {where} do not fit its recorded spec ({type(exc).__name__}: {exc})") from exc
    return encoder, net


def load_inverter(run: str | Path, device: str | torch.device = "auto", classifier: str | None = None) -> Inverter:
    """Load an inverter from its run directory (``classifier`` overrides the recorded classifier spec), with its
    classifier, on ``device`` (``auto``: CUDA when present, else the CPU)."""
    from ..runtime.device import resolve_device

    run, device = Path(run), resolve_device(device) if isinstance(device, str) else device
    tensors, meta = read_inverter_checkpoint(run)
    if classifier is None:
        clf = _recorded_classifier(run, meta, device)
    else:
        clf = load_classifier(classifier, device=device, classes=meta.classes or None)
        if meta.classifier_digest and clf.weights_digest() != meta.classifier_digest:
            warnings.warn(f"{classifier} is not the classifier {run} was trained on (its weights differ)", stacklevel=2)
    if clf.num_classes != meta.net.num_classes:
        raise CheckpointError(
            f"{run} inverts {meta.net.num_classes} logits but the classifier gives "
            f"{clf.num_classes}; pass the classifier it was trained on"
        )
    encoder, net = _build(meta.net, clf, tensors, RunLayout(run).model_json)
    return Inverter(net.to(device), encoder.to(device), clf, meta)
