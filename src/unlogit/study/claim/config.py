"""``ClaimConfig``: the claim a study decides, fixed in its config before any run."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import check_positive
from ...errors import ConfigError
from ...scoring.measure import QUANTITIES


@dataclass
class ClaimConfig:
    """Which arms are compared, the one primary endpoint and the protocol's fixed settings.

    a, b: inverter stage names; the claim is that A reconstructs more faithfully than B. Each stage may
        invert a family of classifiers (K replicates of one recipe); every classifier is inverted
        ``seeds`` times (the study's ``seeds``).
    statement: the claim in words (the report's heading).
    primary: the one primary endpoint (a key of :func:`unlogit.study.claim.endpoints.endpoint_keys`); the claim's
        verdict is its verdict. ``reason``: why it is the primary, in one line (recorded with the verdict).
    noise_draws: reconstructions per image (values are averaged over them).
    distractors: same-class images each original is ranked against (``retrieval_class``).
    margins: per-quantity equivalence margins (quantity name -> margin in its unit, e.g. ``{psnr: 0.5}``) that
        replace the registry's (:data:`unlogit.scoring.measure.QUANTITIES`); inside its margin a difference is
        a ``tie``.
    gate_margin: how far above chance true-label agreement must be (lower 95% bound) to be compared.
    kid_ratio: realism is comparable when the two KIDs are within this factor of each other (or their 95%
        intervals, from the jackknife standard error, overlap).
    dose_response: inverter stages of one classifier each (e.g. PGD-L2 eps 0.25 and 1.0), compared with B
        on the primary endpoint; ``dose_values`` are their doses (eps), ``dose_a`` the dose of arm A.
    controls: inverter stages of control recipes (the epoch-matched and noise-augmented standard families), each
        compared on the primary endpoint with arm A and with arm B, or with their reference decoders when the
        control is one (``method: ridge``: the seconds-long probe that screens which control family to invert).
        They inform; they do not change the verdict.
    calibration_images: training images each inverter's colour recalibration is fitted on
        (``retrieval_recalibrated@pixels``; 0: none).
    confirmatory: the claim is confirmatory: its images must lie outside the pilot set (``compare.first`` at or
        after ``compare.pilot_images``; the study refuses otherwise before anything runs).
    reference_a, reference_b: the reference decoder's stages (``method: ridge``) on arm A's and arm B's
        classifiers. Every endpoint is then reported for them beside the arms: the references' own A-vs-B
        difference (how much of the gap a regression already reads from the logits) and each arm against its
        reference (whether the inverter beats the simplest instrument). They inform; they do not change the
        verdict.
    """

    a: str = "robust"
    b: str = "standard"
    statement: str = "the robust classifier's inverter reconstructs more faithfully than the standard one's"
    primary: str = "retrieval@pixels"
    reason: str = (
        "judge-free: instance retrieval in 8x8 pixels needs no classifier, so neither arm's "
        "recipe can favour its own inverter"
    )
    noise_draws: int = 4
    distractors: int = 10
    margins: dict[str, float] = field(default_factory=dict)
    gate_margin: float = 0.05
    kid_ratio: float = 4.0
    dose_response: list[str] = field(default_factory=list)
    dose_values: list[float] = field(default_factory=list)
    dose_a: float | None = None
    reference_a: str | None = None
    reference_b: str | None = None
    confirmatory: bool = False
    calibration_images: int = 500
    controls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (self.reference_a is None) != (self.reference_b is None):
            raise ConfigError("give both claim.reference_a and claim.reference_b (one reference decoder per arm)")
        for key in ("noise_draws", "kid_ratio"):
            check_positive(getattr(self, key), f"claim.{key}")
        for key in ("gate_margin", "distractors", "calibration_images"):
            check_positive(getattr(self, key), f"claim.{key}", allow_zero=True)
        for name, margin in self.margins.items():
            if name not in QUANTITIES:
                raise ConfigError(
                    f"claim.margins names {name!r}, which is not a quantity; known: {', '.join(QUANTITIES.names())}"
                )
            check_positive(margin, f"claim.margins.{name}", allow_zero=True)
        if not self.reason.strip():
            raise ConfigError("claim.reason must say in one line why claim.primary is the primary endpoint")
        if len(self.dose_values) != len(self.dose_response):
            raise ConfigError(
                f"claim.dose_values needs one dose per claim.dose_response stage "
                f"({len(self.dose_response)}), got {len(self.dose_values)}"
            )
