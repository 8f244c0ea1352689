"""Worked example: add a claim endpoint (docs/architecture.md, "Where to add").

An endpoint is a quantity (:class:`unlogit.scoring.measure.Quantity` in ``QUANTITIES``: its unit, direction and
equivalence margin in that unit) and a family (:class:`unlogit.study.claim.endpoints.EndpointFamily` in
``ENDPOINTS``: the keys it gives and, when the scoring core does not compute it, a per-image value function).
This one, ``brightness_error``, is |mean luminance of x_hat - of x|; a study can then name it as its primary
endpoint (``claim.primary: brightness_error``) with its reason.
"""

from __future__ import annotations

from pathlib import Path

import torch

from unlogit.scoring.measure import QUANTITIES, Quantity
from unlogit.scoring.metrics import image_statistics_per_image
from unlogit.study.claim.endpoints import ENDPOINTS, EndpointFamily


def values(x: torch.Tensor, x_hat: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
    return {
        "brightness_error": (
            image_statistics_per_image(x_hat)["brightness"] - image_statistics_per_image(x)["brightness"]
        ).abs()
    }


QUANTITY = Quantity("brightness_error", "|mean luminance of x_hat - of x|", "", False, "pixels", margin=0.01)
FAMILY = EndpointFamily(
    "brightness_error", lambda evaluators, data: [("brightness_error", "brightness error", None)], values
)


def demonstrate(folder: Path) -> None:
    """Register the family; it is then an endpoint of every claim, here the primary one."""
    from unlogit.data import get_dataset
    from unlogit.study.claim.config import ClaimConfig
    from unlogit.study.claim.endpoints import claim_endpoints, extra_values
    from unlogit.study.protocol import compare

    QUANTITIES.register(QUANTITY.name, QUANTITY)
    ENDPOINTS.register(FAMILY.name, FAMILY)
    try:
        data = get_dataset("shapes", "test", size=40)
        cfg = ClaimConfig(primary="brightness_error", reason="an example: brightness is what this claim is about")
        endpoints = claim_endpoints(cfg.primary, cfg.reason, cfg.margins, [], data)
        assert endpoints[0].key == "brightness_error" and endpoints[0].primary
        x = data.batch(torch.arange(40))[0]
        (fn,) = [f for f in extra_values(data) if f is values]
        good = fn(x, x, None)["brightness_error"].expand(3, 2, 40)  # a perfect arm
        bad = fn(x, (x + 0.2).clamp(0, 1), None)["brightness_error"]
        bad = bad + 0.01 * torch.randn(3, 2, 40, generator=torch.Generator().manual_seed(0))
        assert compare(endpoints[0], good, bad).verdict == "holds"
    finally:
        ENDPOINTS.unregister(FAMILY.name)
        QUANTITIES.unregister(QUANTITY.name)
