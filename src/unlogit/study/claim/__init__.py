"""The claim a study decides: arm A vs arm B on one primary endpoint fixed before the run.

- :mod:`.config`: :class:`ClaimConfig` (arms, primary endpoint and reason, margins, gate);
- :mod:`.endpoints`: :data:`ENDPOINTS`, the families of endpoints a claim compares;
- :mod:`.verdict`: gates, the comparison of every endpoint and the verdict; :func:`recompute` rebuilds a
  released claim's table from its per-image values;
- :mod:`.stage`: the study stage that scores the arms and writes claim.json.
"""

from .config import ClaimConfig
from .endpoints import ENDPOINTS, EndpointFamily, claim_endpoints, endpoint_keys
from .verdict import decide, dose_response, gate, realism_comparable, recompute, save_values

__all__ = [
    "ENDPOINTS",
    "ClaimConfig",
    "EndpointFamily",
    "claim_endpoints",
    "decide",
    "dose_response",
    "endpoint_keys",
    "gate",
    "realism_comparable",
    "recompute",
    "save_values",
]
