"""The paper's findings beyond the main claim (C2-C9), each decided like the claim.

- :mod:`.config`: :class:`FindingsConfig` (which findings, on how many images, with which extra stages);
- :mod:`.registry`: :data:`FINDINGS` (statement, primary endpoint and reason, direction, margin) and
  :func:`decide_finding`;
- :mod:`.values`: the per-image values of each finding (:class:`FindingContext` -> :class:`FindingValues`);
- :mod:`.stage`: the study stage that writes findings.json.
"""

from .config import FindingsConfig
from .registry import FINDINGS, Finding, decide_finding
from .values import FindingContext, FindingValues

__all__ = ["FINDINGS", "Finding", "FindingContext", "FindingValues", "FindingsConfig", "decide_finding"]
