"""The study's claim stage: arm A vs arm B under the protocol, with a gate, one primary endpoint and its verdict.

The claim's verdict is the verdict of its **one primary endpoint** (``claim.primary``, named with its reason
in the study config before the run; :mod:`.endpoints` lists the candidates), unless the arms did not train alike
(a unit stopped by its time cap, or unequal G steps): then it is ``not comparable``, with the reason. Every
other endpoint is secondary, with Holm-adjusted p-values. The gate: an arm enters the comparison only if its true-label
agreement under every evaluator is above chance by ``gate_margin`` (lower end of its 95% interval) and the
two arms' realism is comparable (KID in the first evaluator's features within ``kid_ratio`` of each
other, or overlapping 95% intervals from the jackknife standard error).

Per-image values are saved beside claim.json (``claim_values.safetensors``: ``ARM/KEY`` -> (K, S, N));
:func:`recompute` rebuilds the endpoint table from them and claim.json's settings alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...data.base import ImageDataset
from ...runtime.atomic import write_atomic
from ...runtime.checkpoint import read_json
from ...runtime.rundir import StudyLayout
from ...scoring.per_image import retrieval_summary
from ..arms import NOT_COMPARABLE, ArmScores, training_differences
from ..protocol import (
    INFERENCE,
    Comparison,
    Endpoint,
    borrow_variance,
    compare,
    compare_all,
    crossed_interval,
)
from .config import ClaimConfig
from .endpoints import claim_endpoints


def gate(arm: ArmScores, evaluators: Sequence[str], chance: float, cfg: ClaimConfig) -> dict[str, Any]:
    """Whether an arm works well enough to be compared: its agreement is above chance + margin."""
    reasons, rows = [], {}
    for e in evaluators:
        iv = crossed_interval(arm.values[f"true_label_agreement@{e}"])
        rows[e] = {"mean": iv.estimate, "ci_low": iv.ci_low, "ci_high": iv.ci_high}
        if iv.ci_low <= chance + cfg.gate_margin:
            reasons.append(
                f"true-label agreement under {e} is {iv.estimate:.1%} (95% CI {iv.ci_low:.1%}-"
                f"{iv.ci_high:.1%}), not above chance {chance:.1%} + {cfg.gate_margin:.0%}"
            )
    return {"passed": not reasons, "reasons": reasons, "agreement": rows, "kid": arm.kid}


def realism_comparable(a: ArmScores, b: ArmScores, cfg: ClaimConfig) -> tuple[bool, str]:
    """KIDs within ``kid_ratio`` of each other, or 95% intervals (from their standard errors) that overlap."""
    if not a.kid or not b.kid:
        return True, "no evaluator features: realism not compared"
    ka, kb = max(a.kid["kid"], 1e-9), max(b.kid["kid"], 1e-9)
    overlap = a.kid["ci_low"] <= b.kid["ci_high"] and b.kid["ci_low"] <= a.kid["ci_high"]
    ok = overlap or max(ka / kb, kb / ka) <= cfg.kid_ratio
    text = (
        f"KID {a.name} {a.kid['kid']:.4f} (SE {a.kid['se']:.4f}) vs {b.name} {b.kid['kid']:.4f} (SE {b.kid['se']:.4f})"
    )
    return ok, text + ("" if ok else f": more than {cfg.kid_ratio:g}x apart")


def decide(
    a: ArmScores, b: ArmScores, evaluators: Sequence[str], data: ImageDataset, cfg: ClaimConfig
) -> dict[str, Any]:
    """The claim's outcome: gates, realism, one :class:`Comparison` per endpoint, the primary's verdict."""
    endpoints = claim_endpoints(cfg.primary, cfg.reason, cfg.margins, evaluators, data)
    chance = 1.0 / data.num_classes
    gates = {arm.name: gate(arm, evaluators, chance, cfg) for arm in (a, b)}
    comparable, realism = realism_comparable(a, b, cfg)
    unequal = training_differences(a, b)
    excluded = [f"{NOT_COMPARABLE}: {reason}" for reason in unequal]
    excluded += [f"{name}: {'; '.join(g['reasons'])}" for name, g in gates.items() if not g["passed"]]
    if not comparable:
        excluded.append(realism)
    rows = compare_all(endpoints, a.values, b.values)
    primary = next(r for r in rows if r.primary)
    (k_a, s_a), (k_b, s_b) = a.shape, b.shape
    return {
        "a": a.name,
        "b": b.name,
        "statement": cfg.statement,
        "primary": primary.endpoint,
        "reason": cfg.reason,
        "verdict": NOT_COMPARABLE if unequal else "not compared" if excluded else primary.verdict,
        "inference": INFERENCE[primary.inference],
        "gates": gates,
        "realism": realism,
        "realism_comparable": comparable,
        "excluded": excluded,
        "n_classifiers": {a.name: k_a, b.name: k_b},
        "n_seeds": {a.name: s_a, b.name: s_b},
        "n_images": primary.n_images,
        "training": {a.name: a.training(), b.name: b.training()},
        "retrieval": {arm.name: retrieval_summary({k: v[0, 0] for k, v in arm.values.items()}) for arm in (a, b)},
        "endpoints": [r.to_dict() for r in rows],
    }


def reference_comparison(
    a: ArmScores,
    b: ArmScores,
    ref_a: ArmScores,
    ref_b: ArmScores,
    evaluators: Sequence[str],
    data: ImageDataset,
    cfg: ClaimConfig,
) -> dict[str, Any]:
    """The reference decoder beside the arms, on every endpoint: the references' own A-vs-B comparison (the gap a
    kernel-ridge regression already reads from the logits), and each arm against its reference (whether the
    inverter beats the simplest instrument). ``summary`` says so in words for the primary endpoint."""
    endpoints = claim_endpoints(cfg.primary, cfg.reason, cfg.margins, evaluators, data)
    gap = compare_all(endpoints, ref_a.values, ref_b.values)
    over_a = compare_all(endpoints, a.values, ref_a.values)
    over_b = compare_all(endpoints, b.values, ref_b.values)
    primary = [next(r for r in rows if r.primary) for rows in (gap, over_a, over_b)]
    return {
        "a": ref_a.name,
        "b": ref_b.name,
        "gap": [r.to_dict() for r in gap],
        "a_over_reference": [r.to_dict() for r in over_a],
        "b_over_reference": [r.to_dict() for r in over_b],
        "summary": _reference_summary(a.name, b.name, *primary),
    }


def _reference_summary(a: str, b: str, gap: Comparison, over_a: Comparison, over_b: Comparison) -> str:
    """One line on the primary endpoint: whether each arm beats its reference, and the references' own gap."""
    beats = {name: c.verdict == "holds" for name, c in ((a, over_a), (b, over_b))}
    arms = [name for name, ok in beats.items() if ok]
    lead = (
        f"both inverters beat the reference decoder on {gap.endpoint}"
        if len(arms) == 2
        else f"only {arms[0]}'s inverter beats the reference decoder on {gap.endpoint}"
        if arms
        else f"neither inverter beats the reference decoder on {gap.endpoint}: it measures what a regression reads "
        "from the logits"
    )
    return (
        f"{lead}; the reference decoders' own difference is {gap.estimate:+.4g} (95% CI {gap.ci_low:+.4g} to "
        f"{gap.ci_high:+.4g}, {gap.verdict})"
    )


def control_rows(
    controls: Sequence[tuple[str, bool, ArmScores]],
    a: ArmScores,
    b: ArmScores,
    ref_a: ArmScores | None,
    ref_b: ArmScores | None,
    endpoint: Endpoint,
) -> list[dict[str, Any]]:
    """Each control family (``(stage, is_reference_decoder, arm)``) on the primary endpoint against arm A and arm B
    (a reference-decoder control against their reference decoders): is the control recipe's inverter like the
    robust one (the gap is about any smoothing, or training length) or like the standard one?"""
    rows = []
    for stage, ridge, arm in controls:
        pa, pb = (ref_a, ref_b) if ridge else (a, b)
        if pa is None or pb is None:
            continue
        row: dict[str, Any] = {"stage": stage, "reference_decoder": ridge, "n_classifiers": arm.shape[0]}
        for side, other in (("a", pa), ("b", pb)):
            c = compare(endpoint, other.values[endpoint.key], arm.values[endpoint.key])  # positive: the arm beats it
            row[f"vs_{side}"] = {
                "arm": other.name,
                "arm_mean": c.a_mean,
                "control_mean": c.b_mean,
                "estimate": c.estimate,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "verdict": c.verdict,
            }
        rows.append(row)
    return rows


def dose_response(
    doses: Sequence[tuple[float, ArmScores]], a: ArmScores, b: ArmScores, endpoint: Endpoint, dose_a: float | None
) -> list[dict[str, Any]]:
    """The primary endpoint as a function of the dose (eps): each one-classifier arm vs arm B, borrowing the
    between-classifier variance of arm A's family (same recipe, another dose), plus arm A itself."""
    borrowed = borrow_variance(a.values[endpoint.key])  # arm A's family, independent of arm B
    rows = []
    for dose, arm in doses:
        c = compare(endpoint, arm.values[endpoint.key], b.values[endpoint.key], borrowed=borrowed)
        rows.append(_dose_row(dose, arm, c, borrowed is not None))
    if dose_a is not None:
        rows.append(_dose_row(dose_a, a, compare(endpoint, a.values[endpoint.key], b.values[endpoint.key]), False))
    return sorted(rows, key=lambda r: r["dose"])


def _dose_row(dose: float, arm: ArmScores, c: Comparison, borrowed: bool) -> dict[str, Any]:
    return {
        "dose": dose,
        "arm": arm.name,
        "n_classifiers": arm.shape[0],
        "n_seeds": arm.shape[1],
        "mean": c.a_mean,
        "estimate": c.estimate,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "verdict": c.verdict,
        "n_images": c.n_images,
        "borrowed_classifier_variance": borrowed,
    }


def save_values(path: Path, arms: Sequence[ArmScores]) -> None:
    """The per-image values behind the claim (``ARM/KEY`` -> (K, S, N)), as safetensors."""
    from safetensors.torch import save_file

    tensors = {f"{arm.name}/{k}": v.contiguous() for arm in arms for k, v in arm.values.items()}
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp)))


def recompute(folder: str | Path) -> list[dict[str, Any]]:
    """The endpoint table of a study's claim.json recomputed from ``claim_values.safetensors`` and the
    settings claim.json records (endpoints, directions, margins): what a reader runs to check the claim::

        from unlogit.study.claim import recompute
        rows = recompute("docs/results/cifar10-replication")
    """
    from safetensors.torch import load_file

    layout = StudyLayout(Path(folder))
    claim = read_json(layout.claim, "claim")
    values = load_file(str(layout.claim_values))
    endpoints = [
        Endpoint(e["endpoint"], e["label"], e["higher_is_better"], e["primary"], e["margin"], e["chance"], e["reason"])
        for e in claim["endpoints"]
    ]
    arm = {
        side: {k.split("/", 1)[1]: v for k, v in values.items() if k.split("/", 1)[0] == claim[side]}
        for side in ("a", "b")
    }
    return [r.to_dict() for r in compare_all(endpoints, arm["a"], arm["b"])]


__all__ = ["control_rows", "decide", "dose_response", "gate", "realism_comparable", "recompute", "save_values"]
