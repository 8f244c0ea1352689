"""The claim's endpoints, one registry of *families*: which per-image values a claim compares and (for
dataset-specific ones) how the values are computed. An endpoint's direction and equivalence margin are its
quantity's (:data:`unlogit.scoring.measure.QUANTITIES`, in the quantity's own unit), never a family's guess.

A family turns the study's evaluators into endpoint keys (``true_label_agreement@E`` for every evaluator
E, ``retrieval@S`` for every space S...). The claim's **primary** endpoint is one of these keys, named in
the study config with a one-line reason before any run; every other endpoint is secondary (Holm).

Adding an endpoint is one :class:`~unlogit.scoring.measure.Quantity` (direction, unit, margin) and one
:class:`EndpointFamily` registered in :data:`ENDPOINTS` (worked example: ``docs/examples/add_endpoint.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from ...data.base import ImageDataset
from ...runtime.registry import Registry
from ...scoring.measure import PIXEL_SPACES, PIXELS, margin_of, quantity_of
from ...scoring.per_image import ValuesFn
from ..protocol import Endpoint


@dataclass(frozen=True)
class EndpointFamily:
    """A family of endpoints.

    Attributes:
        name: the registry key.
        keys: ``(evaluator names, data) -> [(key, label, chance)]``, the endpoints it gives (each key's quantity,
            :func:`~unlogit.scoring.measure.quantity_of`, says its direction and margin).
        values: ``(x, x_hat, y) -> {key: (N,)}`` for families the scoring core does not compute
            (``None``: the values come from :func:`unlogit.scoring.stream.stream_unit`).
        applies: whether the family exists for this dataset.
    """

    name: str
    keys: Callable[[Sequence[str], ImageDataset], list[tuple[str, str, float | None]]]
    values: ValuesFn | None = None
    applies: Callable[[ImageDataset], bool] = lambda _data: True


def _agreement(evaluators: Sequence[str], data: ImageDataset) -> list[tuple[str, str, float | None]]:
    chance = 1.0 / data.num_classes
    return [(f"true_label_agreement@{e}", f"true-label agreement, evaluator {e}", chance) for e in evaluators]


def _where(space: str) -> str:
    return PIXEL_SPACES.get(space).where if space in PIXEL_SPACES else f"{space}'s features"


def _retrieval(evaluators: Sequence[str], data: ImageDataset) -> list[tuple[str, str, float | None]]:
    spaces = (*PIXEL_SPACES.names(), *evaluators)
    return [(f"retrieval@{s}", f"retrieval among all images, {_where(s)}", 0.5) for s in spaces]


def _retrieval_class(evaluators: Sequence[str], data: ImageDataset) -> list[tuple[str, str, float | None]]:
    spaces = (*PIXEL_SPACES.names(), *evaluators)
    return [(f"retrieval_class@{s}", f"retrieval among same-class images, {_where(s)}", 0.5) for s in spaces]


def _recalibrated(evaluators: Sequence[str], data: ImageDataset) -> list[tuple[str, str, float | None]]:
    label = "retrieval among all images, 8x8 pixels, after each inverter's colour recalibration"
    return [(f"retrieval_recalibrated@{PIXELS}", label, 0.5)]


def _draw_mean(evaluators: Sequence[str], data: ImageDataset) -> list[tuple[str, str, float | None]]:
    return [
        (f"retrieval_draw_mean@{s}", f"retrieval among all images, {_where(s)}, of the mean of the noise draws", 0.5)
        for s in PIXEL_SPACES.names()
    ]


def _realism(evaluators: Sequence[str], data: ImageDataset) -> list[tuple[str, str, float | None]]:
    return [(f"kid@{e}", f"realism: KID per image, {e}'s features (lower is more realistic)", None) for e in evaluators]


def _quantities(*names: str):
    def keys(_evaluators: Sequence[str], _data: ImageDataset) -> list[tuple[str, str, float | None]]:
        own = " (own classifier)"
        return [(q, q.replace("_", " ") + (own if quantity_of(q).judge == "own" else ""), None) for q in names]

    return keys


def _shapes_factor_values(x: torch.Tensor, x_hat: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
    from ...scoring.shapes_factors import factor_errors, read_factors

    return factor_errors(read_factors(x, y), read_factors(x_hat, y), y)


def _shapes_factor_keys(_evaluators: Sequence[str], _data: ImageDataset) -> list[tuple[str, str, float | None]]:
    from ...scoring.shapes_factors import FACTOR_ENDPOINTS

    return [(k, k.replace("_", " "), None) for k in FACTOR_ENDPOINTS]


ENDPOINTS: Registry[EndpointFamily] = Registry("claim endpoint family")
for _family in (
    EndpointFamily("true_label_agreement", _agreement),
    EndpointFamily("retrieval", _retrieval),
    EndpointFamily("retrieval_class", _retrieval_class),
    EndpointFamily("recalibrated", _recalibrated),
    EndpointFamily("draw_mean", _draw_mean),
    EndpointFamily("realism", _realism),
    EndpointFamily(
        "shapes_factors", _shapes_factor_keys, _shapes_factor_values, applies=lambda data: bool(data.factors)
    ),
    EndpointFamily("pixels", _quantities("psnr", "ssim", "colour_error")),
    EndpointFamily("own_classifier", _quantities("own_label_agreement", "logit_kl")),
):
    ENDPOINTS.register(_family.name, _family)


def claim_endpoints(
    primary: str, reason: str, margins: Mapping[str, float], evaluators: Sequence[str], data: ImageDataset
) -> list[Endpoint]:
    """Every endpoint of every family that applies, the ``primary`` key first (with its ``reason``), the
    others secondary; each with its quantity's direction and margin (``margins``: the claim's per-quantity
    overrides, quantity name -> margin in its unit)."""
    out: list[Endpoint] = []
    for family in ENDPOINTS.values():
        if not family.applies(data):
            continue
        for key, label, chance in family.keys(evaluators, data):
            is_primary, q = key == primary, quantity_of(key)
            margin = margin_of(key, margins)
            out.append(
                Endpoint(key, label, q.higher_is_better, is_primary, margin, chance, reason if is_primary else "")
            )
    if not any(e.primary for e in out):
        raise ValueError(f"the primary endpoint {primary!r} is not among {[e.key for e in out]}")
    return sorted(out, key=lambda e: not e.primary)


def extra_values(data: ImageDataset) -> list[ValuesFn]:
    """The value functions of the families that apply to ``data`` and are not computed by the scoring core."""
    return [f.values for f in ENDPOINTS.values() if f.values is not None and f.applies(data)]


def endpoint_keys(evaluators: Sequence[str], data: ImageDataset) -> list[str]:
    """Every endpoint key a claim on ``data`` with these evaluators has (what ``claim.primary`` may name)."""
    return [k for f in ENDPOINTS.values() if f.applies(data) for k, *_ in f.keys(evaluators, data)]
