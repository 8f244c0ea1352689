"""The study's claim stage: inverter A vs inverter B under the protocol, with a gate and a verdict per endpoint.

Primary endpoints, fixed before any run (:func:`endpoints_for`):

- ``true_label_agreement@E`` for every independent evaluator E (chance 1/K printed beside it);
- instance retrieval ``retrieval@S`` and ``retrieval_class@S`` in pixels and in every evaluator's
  feature space (0.5 by chance);
- on ``shapes``, the colour-blind factor errors of :mod:`unlogit.scoring.shapes_factors`.

Everything else is secondary (Holm-corrected). The gate: an inverter enters the comparison only if
its true-label agreement under every evaluator is above chance by ``gate_margin`` (95% interval) and
the two inverters' realism is comparable (KID in the first evaluator's features within
``kid_ratio`` of each other). Per-image values are paired across inverters by image and seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..classifiers.normalized import NormalizedClassifier
from ..config import check_positive
from ..scoring.endpoints import endpoint_values, retrieval_summary
from ..scoring.measure import quantity_of
from ..scoring.metrics import ClassifierFeatures, kernel_distance
from .protocol import Comparison, Endpoint, compare_all, interval

SECONDARY = ("psnr", "ssim", "colour_error", "own_label_agreement", "logit_kl")


@dataclass
class ClaimConfig:
    """Which inverters are compared, and the protocol's fixed settings.

    a, b: inverter stage names; the claim is that A reconstructs more faithfully than B.
    statement: the claim in words (the report's heading).
    noise_draws: reconstructions per image (values are averaged over them).
    distractors: same-class images each original is ranked against (``retrieval_class``).
    agreement_margin / retrieval_margin / psnr_margin / ssim_margin / factor_margin: absolute
        equivalence margins, in each endpoint's units, below which a difference is a ``tie``.
    gate_margin: how far above chance true-label agreement must be (lower 95% bound) to be compared.
    kid_ratio: realism is comparable when the two KIDs are within this factor of each other.
    resamples: bootstrap replicates.
    """

    a: str = "robust"
    b: str = "standard"
    statement: str = "the robust classifier's inverter reconstructs more faithfully than the standard one's"
    noise_draws: int = 4
    distractors: int = 10
    agreement_margin: float = 0.03
    retrieval_margin: float = 0.02
    psnr_margin: float = 0.25
    ssim_margin: float = 0.02
    factor_margin: float = 0.02
    gate_margin: float = 0.05
    kid_ratio: float = 4.0
    resamples: int = 2000
    evaluators: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for key in ("noise_draws", "resamples", "kid_ratio"):
            check_positive(getattr(self, key), f"claim.{key}")
        for key in ("agreement_margin", "retrieval_margin", "psnr_margin", "ssim_margin", "factor_margin",
                    "gate_margin", "distractors"):  # fmt: skip
            check_positive(getattr(self, key), f"claim.{key}", allow_zero=True)


def endpoints_for(cfg: ClaimConfig, evaluators: Sequence[str], num_classes: int,
                  factor_keys: Sequence[str] = ()) -> list[Endpoint]:  # fmt: skip
    """The fixed list of endpoints for these evaluators (primary first)."""
    out = [Endpoint(f"true_label_agreement@{e}", f"true-label agreement, evaluator {e}", True, True,
                    cfg.agreement_margin, 1.0 / num_classes) for e in evaluators]  # fmt: skip
    for space in ("pixels", *evaluators):
        where = "8x8 pixels" if space == "pixels" else f"{space}'s features"
        out.append(Endpoint(f"retrieval@{space}", f"retrieval among all images, {where}", True, True,
                            cfg.retrieval_margin, 0.5))  # fmt: skip
        out.append(Endpoint(f"retrieval_class@{space}", f"retrieval among same-class images, {where}", True, True,
                            cfg.retrieval_margin, 0.5))  # fmt: skip
    for k in factor_keys:
        out.append(Endpoint(k, k.replace("_", " "), k.endswith("iou"), True, cfg.factor_margin))
    margins = {"psnr": cfg.psnr_margin, "ssim": cfg.ssim_margin}
    for q in SECONDARY:
        out.append(Endpoint(q, q.replace("_", " ") + (" (own classifier)" if q.startswith(("own", "logit")) else ""),
                            quantity_of(q).higher_is_better, False, margins.get(q, cfg.agreement_margin)))  # fmt: skip
    return out


@dataclass
class InverterScores:
    """One inverter's per-image values, stacked over seeds: key -> (S seeds, N images)."""

    name: str
    values: dict[str, torch.Tensor]
    kid: dict[str, float]


def score_inverter(name: str, inverters_by_seed: Sequence, x: torch.Tensor, y: torch.Tensor | None,
                   evaluators: Mapping[str, NormalizedClassifier], cfg: ClaimConfig, seed: int,
                   extra: Any = None) -> InverterScores:  # fmt: skip
    """Endpoint values of every seed's inverter on the same images and noise; KID of the first seed.

    ``extra(inv, x, y, seed) -> {key: (N,)}`` adds dataset-specific endpoints (shapes factors)."""
    per_seed: list[dict[str, torch.Tensor]] = []
    kid: dict[str, float] = {}
    for i, inv in enumerate(inverters_by_seed):
        values = endpoint_values(inv, x, y, evaluators, cfg.noise_draws, seed, cfg.distractors)
        if extra is not None:
            values.update(extra(inv, x, y, seed))
        per_seed.append(values)
        if i == 0 and evaluators:
            first = next(iter(evaluators.values()))
            x_hat = inv.reconstruct(x, samples=1, seed=seed)[:, 0].cpu()
            kid = kernel_distance(x, x_hat, ClassifierFeatures(first), seed=seed)
    keys = set.intersection(*(set(v) for v in per_seed))
    return InverterScores(name, {k: torch.stack([v[k] for v in per_seed]) for k in keys}, kid)


def gate(scores: InverterScores, evaluators: Sequence[str], chance: float, cfg: ClaimConfig) -> dict[str, Any]:
    """Whether an inverter works well enough to be compared: its agreement is above chance + margin."""
    reasons, rows = [], {}
    for e in evaluators:
        key = f"true_label_agreement@{e}"
        mean, lo, hi = interval(scores.values[key], 0.95, cfg.resamples)
        rows[e] = {"mean": mean, "ci_low": lo, "ci_high": hi}
        if lo <= chance + cfg.gate_margin:
            reasons.append(f"true-label agreement under {e} is {mean:.1%} (95% CI {lo:.1%}-{hi:.1%}), not above "
                           f"chance {chance:.1%} + {cfg.gate_margin:.0%}")  # fmt: skip
    return {"passed": not reasons, "reasons": reasons, "agreement": rows, "kid": scores.kid}


def realism_comparable(a: InverterScores, b: InverterScores, cfg: ClaimConfig) -> tuple[bool, str]:
    """KIDs within ``kid_ratio`` of each other (or overlapping intervals)."""
    if not a.kid or not b.kid:
        return True, "no evaluator features: realism not compared"
    ka, kb = max(a.kid["kid"], 1e-9), max(b.kid["kid"], 1e-9)
    overlap = a.kid["ci_low"] <= b.kid["ci_high"] and b.kid["ci_low"] <= a.kid["ci_high"]
    ok = overlap or max(ka / kb, kb / ka) <= cfg.kid_ratio
    text = f"KID {a.name} {a.kid['kid']:.4f} vs {b.name} {b.kid['kid']:.4f}"
    return ok, text + ("" if ok else f": more than {cfg.kid_ratio:g}x apart")


def decide(a: InverterScores, b: InverterScores, evaluators: Sequence[str], num_classes: int, cfg: ClaimConfig,
           factor_keys: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    """The claim's outcome: gates, realism check, and one :class:`Comparison` per endpoint."""
    chance = 1.0 / num_classes
    gates = {s.name: gate(s, evaluators, chance, cfg) for s in (a, b)}
    comparable, realism = realism_comparable(a, b, cfg)
    result: dict[str, Any] = {"a": a.name, "b": b.name, "statement": cfg.statement, "gates": gates,
                              "realism": realism, "realism_comparable": comparable,
                              "n_seeds": int(next(iter(a.values.values())).shape[0]),
                              "n_images": int(next(iter(a.values.values())).shape[1]),
                              "retrieval": {a.name: retrieval_summary(_first_seed(a)),
                                            b.name: retrieval_summary(_first_seed(b))}}  # fmt: skip
    excluded = [f"{name}: {'; '.join(g['reasons'])}" for name, g in gates.items() if not g["passed"]]
    if not comparable:
        excluded.append(realism)
    result["excluded"] = excluded
    rows: list[Comparison] = compare_all(endpoints_for(cfg, evaluators, num_classes, factor_keys), a.values,
                                         b.values, cfg.resamples)  # fmt: skip
    result["endpoints"] = [r.to_dict() for r in rows]
    result["verdict"] = overall_verdict(rows) if not excluded else "not compared"
    return result


def _first_seed(s: InverterScores) -> dict[str, torch.Tensor]:
    return {k: v[0] for k, v in s.values.items()}


def overall_verdict(rows: Sequence[Comparison]) -> str:
    """One line over the primary endpoints: how many hold, reverse, tie or stay undecided."""
    primary = [r.verdict for r in rows if r.primary]
    counts = {w: primary.count(w) for w in ("holds", "reversed", "tie", "undecided") if w in primary}
    return ", ".join(f"{n} {w}" for w, n in counts.items()) + f" (of {len(primary)} primary endpoints)"


def save_values(path: Path, scores: Sequence[InverterScores]) -> None:
    """The per-image values behind the claim (``name/key`` -> (S, N)), as safetensors."""
    from safetensors.torch import save_file

    from ..runtime.atomic import write_atomic

    tensors = {f"{s.name}/{k}": v.contiguous() for s in scores for k, v in s.values.items()}
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp)))
