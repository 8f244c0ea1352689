"""The reference decoder beside every finding: an instrument must beat its simplest reference.

A finding that the claim's kernel-ridge decoders (``claim.reference_a`` and ``claim.reference_b``: a closed-form
regression from each arm's logits to the pixels) can answer is computed for them too, on the same images, logit
edits, attacks and datasets (the same :class:`~.values.FindingContext` with its arms swapped), and reported beside
the inverters' row on the finding's primary endpoint:

- ``gap``: the reference decoders' own arm A vs arm B comparison (for a within-arm finding, arm A's reference
  against 0, and ``b_within`` arm B's): what a regression from the same logits already shows;
- ``a_over_reference`` / ``b_over_reference``: each arm's inverter against its own reference: whether the GAN
  adds to what the regression reads;
- ``summary``: all of it in one line, with intervals and verdicts.

It informs and decides nothing: the finding's verdict is the inverters'. A finding the references cannot answer
says why (``Finding.no_reference``: C2, the reference has no noise to resample; C4, it compares two decoders of
one arm; C7, unless the study names the other architecture's reference, ``findings.architecture_reference``);
one they can answer on too few images says ``undecided (n = ...)`` and why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..arms import ArmScores
from ..protocol import Comparison, Endpoint, compare, compare_to_zero
from .registry import MIN_IMAGES, Finding, comparison_entry, higher_is_better, margin_of, with_power
from .values import FindingContext, FindingValues


def reference_context(
    ctx: FindingContext, ref_a: ArmScores, ref_b: ArmScores, extra: dict[str, ArmScores] | None = None
) -> FindingContext:
    """``ctx`` with the reference decoders as its arms (and ``extra``: the references of its extra arms, C7's
    ``architecture``); the cached features, logit units and attacks are shared, so the references see exactly
    what the inverters saw."""
    return replace(ctx, a=ref_a, b=ref_b, extra_arms=dict(extra or {}))


def reference_row(
    finding: Finding, primary: str, vals: FindingValues, ref_ctx: FindingContext
) -> tuple[dict[str, Any], FindingValues | None]:
    """The reference decoders' entry of a finding's row (see the module docstring) and their per-image values
    (None where the finding does not apply to them). ``vals``: the inverters' values of the finding."""
    names = {"a": ref_ctx.a.name, "b": ref_ctx.b.name}
    has_extra = bool(finding.reference_extra) and finding.reference_extra in ref_ctx.extra_arms
    if finding.no_reference and not has_extra:
        return {**names, "applies": False, "why": finding.no_reference}, None
    if has_extra:  # C7: the other architecture's reference against arm B's
        names["a"] = ref_ctx.extra_arms[finding.reference_extra].name
    ref = finding.values(ref_ctx)
    sides = (("reference A", ref.a), ("reference B", ref.b), ("inverter A", vals.a), ("inverter B", vals.b))
    missing = [side for side, v in sides if primary not in v]
    if ref.n_eligible < MIN_IMAGES or missing:
        why = (
            f"fewer than {MIN_IMAGES} eligible images"
            if ref.n_eligible < MIN_IMAGES
            else f"no values of {primary} for {', '.join(missing)}"
        )
        return {**names, "applies": True, "verdict": f"undecided (n = {ref.n_eligible})", "why": why}, ref
    endpoint = Endpoint(primary, finding.title, higher_is_better(primary), True, margin_of(primary), None)
    if finding.within:
        gap = compare_to_zero(endpoint, ref.a[primary])
    else:
        gap = compare(endpoint, ref.a[primary], ref.b[primary])
    over_a = compare(endpoint, vals.a[primary], ref.a[primary])
    over_b = compare(endpoint, vals.b[primary], ref.b[primary])
    row = {
        **names,
        "applies": True,
        "n_images": ref.n_eligible,
        "gap": _entry(gap),
        "a_over_reference": _entry(over_a),
        "b_over_reference": _entry(over_b),
    }
    b_within = compare_to_zero(endpoint, ref.b[primary]) if finding.within else None
    if b_within is not None:  # B's reference against 0, as the inverters' row gives B's own result
        row["b_within"] = _entry(b_within)
    row["summary"] = _summary(finding, gap, over_a, over_b, b_within)
    return row, ref


ENTRY = ("estimate", "ci_low", "ci_high", "a_mean", "b_mean", "n_classifiers", "n_seeds", "margin")


def _entry(c: Comparison) -> dict[str, Any]:
    return comparison_entry(c, ENTRY)


def _summary(
    finding: Finding, gap: Comparison, over_a: Comparison, over_b: Comparison, b_within: Comparison | None = None
) -> str:
    """One line on the primary endpoint: each arm's inverter minus its reference decoder, then the references'
    own result (each reference against 0 for a within-arm finding), each with its interval and verdict."""
    lead = f"{finding.a_label} inverter minus its reference decoder {_text(over_a)}, {finding.b_label} {_text(over_b)}"
    if b_within is None:
        return f"{lead}; the reference decoders' own difference {_text(gap)}"
    return f"{lead}; against 0, the {finding.a_label} reference {_text(gap)}, the {finding.b_label} {_text(b_within)}"


def _text(c: Comparison) -> str:
    return f"{c.estimate:+.3g} [{c.ci_low:+.3g}, {c.ci_high:+.3g}] ({with_power(c)})"


__all__ = ["reference_context", "reference_row"]
