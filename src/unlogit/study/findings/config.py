"""``FindingsConfig``: which of the paper's findings a study decides, and on what."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import check_positive


@dataclass
class FindingsConfig:
    """The findings beyond the main claim (:data:`unlogit.study.findings.FINDINGS`), each decided under the
    claim's protocol with the claim's arms (A robust, B standard) on the same images.

    ids: which findings (default: every one whose inputs the study has).
    n: test images per finding (C3 and C8 use the eligible ones among them: the common misclassified set,
        the common successful attacks).
    baseline: the inverter stage of the C4 comparison (the paper's Dosovitskiy & Brox baseline on arm A's
        classifiers); architecture: the inverter stage of C7 (another architecture, arm B's recipe).
    ood: datasets of C9 (converted to the inverters' image shape; labels are not used).
    attack: C8's targeted attack, ``pgd-l2:EPS:STEPS`` (target class y+1).
    """

    ids: list[str] = field(default_factory=list)
    n: int = 500
    baseline: str | None = None
    architecture: str | None = None
    ood: list[str] = field(default_factory=list)
    attack: str = "pgd-l2:1.0:20"

    def __post_init__(self) -> None:
        check_positive(self.n, "findings.n")
