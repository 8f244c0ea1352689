"""``FindingsConfig``: which of the paper's findings a study decides, and on what."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import check_positive
from ...errors import ConfigError


@dataclass
class FindingsConfig:
    """The findings beyond the main claim (:data:`unlogit.study.findings.FINDINGS`), each decided under the
    claim's protocol with the claim's arms (A robust, B standard) on the same images.

    ids: which findings (default: every one whose inputs the study has).
    n: test images per finding (C3 and C8 use the eligible ones among them: the common misclassified set,
        the common successful attacks).
    baseline: the inverter stage of the C4 comparison (the paper's Dosovitskiy & Brox baseline on arm A's
        classifiers); architecture: the inverter stage of C7 (another architecture, arm B's recipe).
    architecture_reference: the reference decoder (``method: ridge``) of the ``architecture`` stage's classifiers;
        with the claim's reference decoders, C7 then gets its reference row too (without it, C7 says why not).
    ood: datasets of C9 (converted to the inverters' image shape; labels are not used).
    attack: C8's targeted attack, ``pgd-l2:EPS:STEPS`` (target class y+1).
    surrogate: C8's surrogate, a classifier stage in neither arm and not a judge: one transferred adversarial
        image per source image is crafted against it, and every unit of both arms inverts that same x_adv (without
        one, each classifier is attacked separately and the arms see different inputs).
    attack_budgets: with a surrogate, the candidate eps of ``attack``; the smallest whose targeted attacks fool
        the surrogate on at least ``attack_success`` of ``budget_images`` validation images is used (chosen before
        the test images are touched; recorded in the finding's note).
    """

    ids: list[str] = field(default_factory=list)
    n: int = 500
    baseline: str | None = None
    architecture: str | None = None
    architecture_reference: str | None = None
    ood: list[str] = field(default_factory=list)
    attack: str = "pgd-l2:1.0:20"
    surrogate: str | None = None
    attack_budgets: list[float] = field(default_factory=list)
    attack_success: float = 0.3
    budget_images: int = 200

    def __post_init__(self) -> None:
        check_positive(self.n, "findings.n")
        check_positive(self.budget_images, "findings.budget_images")
        for eps in self.attack_budgets:
            check_positive(eps, "findings.attack_budgets")
        if not 0 < self.attack_success < 1:
            raise ConfigError(f"findings.attack_success must be in (0, 1), got {self.attack_success}")
