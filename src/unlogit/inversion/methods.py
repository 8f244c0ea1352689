"""The inversion methods, one registry entry each: ``METHODS[name] -> Method``.

A method says how to build its :class:`~unlogit.inversion.nets.net.InverterNet` from the spec stored in
``model.json``, which optimisation step trains it (none: nothing to train), whether it needs a
discriminator and whether it keeps an EMA copy of the net. The trainer, the train state, the
inverter loader and the evaluators ask the registry; none of them branches on a method name.

Adding a method is one entry here plus, if it trains, a step function in :mod:`.steps` and a preset
in ``configs/inverter/methods/NAME.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..runtime.registry import Registry
from .net_spec import NetSpec
from .nets.baselines import OptimizationInverter, UpConvDecoder
from .nets.discriminator import ProjectionDiscriminator
from .nets.generator import Generator
from .nets.logit_encoder import LogitEncoder
from .nets.net import InverterNet
from .nets.ridge import KernelRidgeDecoder
from .steps import StepContext, StepSettings, decoder_step, gan_step

StepFn = Callable[[StepContext], dict[str, torch.Tensor]]
FitFn = Callable[[InverterNet, torch.Tensor, torch.Tensor], None]
"""``(net, encoded logits (N,K), images (N,C,H,W) in [0,1]) -> None``: a closed-form fit on training images."""
NetBuilder = Callable[[NetSpec, NormalizedClassifier, LogitEncoder], InverterNet]


def _never(_train: StepSettings) -> bool:
    return False


@dataclass(frozen=True)
class Method:
    """One way of inverting logits.

    Attributes:
        name: the registry key (``model.method``).
        summary: one line for help texts and reports.
        build_net: ``(spec, classifier, encoder) -> InverterNet`` (the classifier and encoder are
            there for nets that use them at inference, like the optimiser).
        step: one optimisation step on a :class:`~unlogit.inversion.steps.StepContext`; ``None``
            for methods that learn nothing.
        needs_d: whether a discriminator is trained, given the training config.
        ema: whether an exponential moving average of the net is kept and used for evaluation.
        d_features: whether D's trunk also sees the frozen classifier's penultimate features (not the
            paper's method: D is handed the classifier instead of distilling it).
        fit: a closed-form fit on training images instead of optimisation steps (the kernel-ridge decoder).
    """

    name: str
    summary: str
    build_net: NetBuilder
    step: StepFn | None = None
    needs_d: Callable[[StepSettings], bool] = field(default=_never)
    ema: bool = False
    d_features: bool = False
    fit: FitFn | None = None

    @property
    def trains(self) -> bool:
        """Whether the method learns weights by optimisation steps."""
        return self.step is not None

    @property
    def has_weights(self) -> bool:
        """Whether the method's net has tensors to save (learned, or fitted in closed form)."""
        return self.trains or self.fit is not None


def build_encoder(spec: NetSpec) -> LogitEncoder:
    """The inverter's logit encoder from a net spec (statistics are loaded or fitted afterwards)."""
    return LogitEncoder(spec.num_classes, spec.encoder, spec.temperature)


def build_discriminator(
    spec: NetSpec, ch: int, attention: Sequence[int] = (), channel_mults: Sequence[int] | None = None, side_dim: int = 0
) -> ProjectionDiscriminator:
    """The projection discriminator for the images of a net spec, of width ``ch``, with ``side_dim`` side
    features per image (``gan-features``)."""
    return ProjectionDiscriminator(
        spec.num_classes,
        spec.resolution,
        spec.channels,
        ch,
        tuple(attention),
        channel_mults=tuple(channel_mults) if channel_mults else None,
        side_dim=side_dim,
    )


def _generator(spec: NetSpec, _clf: NormalizedClassifier, _enc: LogitEncoder) -> Generator:
    return Generator(
        num_classes=spec.num_classes,
        resolution=spec.resolution,
        out_channels=spec.channels,
        ch=spec.ch_g,
        dim_z=spec.dim_z,
        attention=spec.attention,
        shared_dim=spec.shared_dim,
        shared_sn=spec.shared_sn,
        sn=spec.sn_g,
        cbn_hidden=spec.cbn_hidden,
        channel_mults=spec.g_channels,
    )


def _decoder(spec: NetSpec, _clf: NormalizedClassifier, _enc: LogitEncoder) -> UpConvDecoder:
    return UpConvDecoder(spec.num_classes, spec.resolution, spec.channels, spec.ch_g)


def _optimizer(spec: NetSpec, clf: NormalizedClassifier, enc: LogitEncoder) -> OptimizationInverter:
    return OptimizationInverter(
        clf, spec.resolution, spec.channels, spec.opt_steps, spec.opt_lr, spec.opt_tv, spec.opt_l2, encoder=enc
    )


def _ridge(spec: NetSpec, _clf: NormalizedClassifier, _enc: LogitEncoder) -> KernelRidgeDecoder:
    return KernelRidgeDecoder(spec.num_classes, (spec.channels, spec.resolution, spec.resolution))


def _fit_ridge(net: InverterNet, cond: torch.Tensor, images: torch.Tensor) -> None:
    if not isinstance(net, KernelRidgeDecoder):
        raise TypeError(f"the ridge fit needs a KernelRidgeDecoder, got {type(net).__name__}")
    net.fit(cond, images)


def classifier_features(clf: NormalizedClassifier) -> Callable[[torch.Tensor], torch.Tensor]:
    """images (N,C,H,W) in [0,1] -> the classifier's penultimate features (N,D), or its logits (N,K)
    where the network exposes no features (the side input of the ``gan-features`` discriminator)."""
    return clf.features if clf.has_features() else clf


def feature_dim(clf: NormalizedClassifier, image_shape: tuple[int, int, int]) -> int:
    """Length of :func:`classifier_features` for images of ``image_shape``."""
    with torch.no_grad():
        return int(classifier_features(clf)(torch.zeros(1, *image_shape, device=clf.mean.device)).shape[1])


def _adversarial_weight(train: StepSettings) -> bool:
    return train.lambda_adv > 0


METHODS: Registry[Method] = Registry("inversion method")
for _method in (
    Method(
        name="gan",
        summary="the paper: logit-conditioned BigGAN, projection discriminator, one hinge loss",
        build_net=_generator,
        step=gan_step,
        needs_d=lambda _t: True,
        ema=True,
    ),
    Method(
        name="gan-features",
        summary="gan, with D's trunk also fed the frozen classifier's penultimate features (an accelerator; "
        "not the paper's method)",
        build_net=_generator,
        step=gan_step,
        needs_d=lambda _t: True,
        ema=True,
        d_features=True,
    ),
    Method(
        name="pixel",
        summary="up-conv decoder, pixel MSE only (Dosovitskiy & Brox 2016b; Yang et al. 2019)",
        build_net=_decoder,
        step=decoder_step,
    ),
    Method(
        name="dosovitskiy",
        summary="up-conv decoder, pixel + feature + adversarial losses (D&B 2016a)",
        build_net=_decoder,
        step=decoder_step,
        needs_d=_adversarial_weight,
    ),
    Method(
        name="ridge",
        summary="no training: kernel ridge regression from the encoded logits to the pixels, in closed form "
        "(the reference every inverter must beat)",
        build_net=_ridge,
        fit=_fit_ridge,
    ),
    Method(
        name="optimize",
        summary="no training: gradient descent on the image (Mahendran & Vedaldi 2015)",
        build_net=_optimizer,
    ),
):
    METHODS.register(_method.name, _method)


def get_method(name: str) -> Method:
    """The registry entry for ``name``, or a clear error listing the methods."""
    return METHODS.get(name)
