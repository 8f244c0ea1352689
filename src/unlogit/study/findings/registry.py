"""The paper's findings beyond the main claim, each decided like it: a stated direction, one primary endpoint
named (with its reason) before any run, secondaries with Holm, a margin, the crossed-design interval of
:mod:`.protocol` over the claim's arms, and a verdict word.

========  ===================================================  ==============================================
id        the finding (arm A robust, arm B standard)            primary endpoint (per image, on the same images)
========  ===================================================  ==============================================
C2        noise changes B's reconstructions more than A's       noise variance as a share of the unit's total
                                                                variance of reconstructions (lower)
C3        within A: on images the classifiers get wrong, the    retrieval of x (layout) from G(f(x)) minus from
          reconstruction shows the image, not the predicted     a same-prediction image's reconstruction, A
          class (B's own result reported beside it)             against 0 (higher)
C4        the GAN is more faithful than Dosovitskiy & Brox on    true-label agreement of the standard evaluator
          the same logits                                       (higher)
C6a       a logit shift changes A's contrast more than B's       |contrast response| per sigma of shift (higher)
C6b       after scaling the logits A's reconstructions still    retrieval of x (layout) from the edited
          show their images more than B's                       reconstructions (higher)
C6c       the same after Gaussian logit noise                   the same (higher)
C7        another architecture at B's objective gives another   the claim's primary endpoint, retrieval in layout
          fidelity                                              (higher for the other architecture)
C8        A's reconstruction of a successful targeted attack    the standard evaluator labels it with the source
          keeps the source class more than B's                  class (higher)
C9        A's inverter generalises better to other images       the arm x domain interaction: OOD minus
                                                                in-distribution retrieval (layout), A vs B
========  ===================================================  ==============================================

An undecided verdict with less than 50% power for the observed effect says so: ``undecided (power 0.31)``.
A finding whose eligible set is too small to decide (fewer than :data:`MIN_IMAGES` images) is reported
``undecided (n = ...)``, never dropped; one whose inputs the study lacks says which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...runtime.registry import Registry
from ...scoring.measure import PIXELS, QUANTITIES, Quantity, quantity_margin
from ..arms import NOT_COMPARABLE, training_differences
from ..protocol import UNDECIDED, Endpoint, compare, compare_to_zero, holm, power
from . import values as fv

MIN_IMAGES = 20


@dataclass(frozen=True)
class Finding:
    """One finding: ``primary(ctx)`` names its primary key (some depend on the study's evaluators); the key's
    quantity (:func:`finding_quantity`) gives the direction that favours arm A and the margin."""

    id: str
    title: str
    statement: str
    primary: Callable[[fv.FindingContext], str]
    reason: str
    values: Callable[[fv.FindingContext], fv.FindingValues]
    a_label: str = "robust"
    b_label: str = "standard"
    within: bool = False  # the statement is within arm A (values are already a difference): A against 0
    co_primary: Callable[[fv.FindingContext], str] | None = None  # a second primary (Holm over the two)
    no_reference: str = ""  # why the arms' reference decoders cannot answer it (empty: they can; .reference)
    reference_extra: str = ""  # an extra arm the references can answer it with when the study has its reference


# The findings' own quantities: whether a higher value favours arm A's side of its statement, and the margin in
# the quantity's unit (the scoring quantities, retrieval, errors, ranks, KL, are in
# unlogit.scoring.measure.QUANTITIES).
FINDING_QUANTITIES: Registry[Quantity] = Registry("finding quantity")
for _q in (
    Quantity(
        "noise_spread",
        "RMS distance between two noise draws' reconstructions of an image",
        "",
        False,
        "pixels",
        margin=0.005,
    ),
    Quantity(
        "noise_share",
        "noise variance over noise plus the unit's between-image variance of its mean reconstructions",
        "fraction",
        False,
        "pixels",
        margin=0.01,
    ),
    Quantity(
        "identity_over_prediction",
        "retrieval of x from G(f(x)) minus from G(f(x')), x' another image predicted as the same class (0: the "
        "reconstruction shows only the predicted class)",
        "score",
        True,
        "pixels",
        margin=0.02,
    ),
    Quantity(
        "judge_true_vs_original",
        "the judge labels G(f(x)) with the true class, minus it labels x so",
        "fraction",
        True,
        "evaluator",
        margin=0.03,
    ),
    Quantity(
        "edited_retrieval",
        "retrieval of x among the scored images from G(edited f(x)), averaged over the edits",
        "score",
        True,
        "pixels",
        margin=0.02,
    ),
    Quantity(
        "edited_minus_unedited",
        "edited_retrieval minus the unedited reconstruction's retrieval (0: the edit loses nothing)",
        "score",
        True,
        "pixels",
        margin=0.02,
    ),
    Quantity(
        "ood_minus_id",
        "retrieval among out-of-distribution images minus among as many in-distribution ones (paired by index)",
        "score",
        True,
        "pixels",
        margin=0.02,
    ),
    Quantity(
        "source_retrieval",
        "retrieval of the source x among the attacked sources from G(f(x_adv)) (layout)",
        "score",
        True,
        "pixels",
        margin=0.02,
    ),
    Quantity(
        "bias2", "squared error of the mean reconstruction (over noise draws) to x", "", False, "pixels", margin=0.002
    ),
    Quantity("variance", "variance of the reconstructions over noise draws", "", False, "pixels", margin=0.002),
    Quantity(
        "content_change",
        "feature distance a logit edit moves the reconstruction, over the distance between images",
        "",
        False,
        "features",
        margin=0.02,
    ),
    Quantity(
        "contrast_change",
        "|change of the reconstruction's contrast| under a logit edit",
        "",
        False,
        "pixels",
        margin=0.002,
    ),
    Quantity(
        "pixel_change", "RMS pixel change a logit edit makes to the reconstruction", "", False, "pixels", margin=0.005
    ),
    Quantity(
        "follows_target",
        "the judge labels G(f(x_adv)) with the attack's target",
        "fraction",
        False,
        "evaluator",
        margin=0.03,
    ),
    Quantity(
        "keeps_source", "the judge labels G(f(x_adv)) with the source class", "fraction", True, "evaluator", margin=0.03
    ),
    Quantity(
        "true_minus_predicted",
        "judge says the true class minus judge says the predicted class",
        "fraction",
        True,
        "evaluator",
        margin=0.03,
    ),
    *(
        Quantity(
            f"{stat}_{kind}",
            f"the reconstruction's {stat} per sigma of logit shift" + (" (absolute)" if kind == "response" else ""),
            "per sigma",
            True,
            "pixels",
            margin=0.002,
        )
        for stat in ("contrast", "sharpness", "brightness")
        for kind in ("response", "slope")
    ),
):
    FINDING_QUANTITIES.register(_q.name, _q)


def finding_quantity(key: str) -> Quantity:
    """A value key's quantity (``name``, ``name@judge`` or ``name@judge:dataset``), from the findings' own
    quantities or the scoring registry; a key in neither is an error that names the known ones."""
    name = key.split("@")[0]
    return FINDING_QUANTITIES.get(name) if name in FINDING_QUANTITIES else QUANTITIES.get(name)


def higher_is_better(key: str) -> bool:
    """Whether a higher value of ``key`` favours arm A (its quantity's direction)."""
    return finding_quantity(key).higher_is_better


def margin_of(key: str) -> float:
    """``key``'s equivalence margin, in its quantity's unit."""
    return quantity_margin(finding_quantity(key))


FINDINGS: Registry[Finding] = Registry("finding")
for _f in (
    Finding(
        id="C2",
        title="noise resampling",
        statement="resampling G's noise with the logits fixed changes the standard inverter's reconstructions more "
        "than the robust one's",
        primary=lambda c: f"noise_share@{PIXELS}",
        reason="judge-free and per image: the noise draws' variance as a share of the arm's total variance of "
        "reconstructions, so a blander or lower-contrast arm does not show less spread for that reason alone",
        values=fv.noise_spread,
        no_reference="the reference decoder is deterministic: it has no noise to resample",
    ),
    Finding(
        id="C3",
        title="misclassified images",
        statement="on images the classifiers get wrong, the robust inverter's reconstructions resemble the "
        "original, not the predicted class (within the arm; the standard arm is reported beside it)",
        primary=lambda c: "identity_over_prediction@layout",
        reason="the paper's statement, within the arm and judge-free: G(f(x)) retrieves x better than a "
        "reconstruction of another image the classifier predicts as the same class does",
        within=True,
        values=fv.misclassified,
    ),
    Finding(
        id="C4",
        title="GAN vs Dosovitskiy & Brox",
        statement="on the same (robust) logits the paper's GAN is more faithful than the D&B decoder",
        primary=lambda c: f"true_label_agreement@{c.judge}",
        reason="an independent standard judge reads the object; a blur loses it, a pixel loss does not see it",
        values=fv.gan_vs_baseline,
        a_label="GAN",
        b_label="D&B",
        no_reference="it compares two decoders of arm A's logits, not the arms; the claim puts the reference "
        "decoder beside both",
    ),
    Finding(
        id="C6a",
        title="logit shift",
        statement="adding one constant to every logit changes the robust inverter's contrast more than the "
        "standard one's",
        primary=lambda c: "contrast_response",
        reason="the paper's observation is about contrast; the response per sigma is scale-free across classifiers",
        values=fv.logit_shift,
    ),
    Finding(
        id="C6b",
        title="logit scale",
        statement="after scaling the logits, the robust inverter's reconstructions still show their own images more "
        "than the standard one's (standard logits are more clustered relative to the distances between images)",
        primary=lambda c: "edited_retrieval@layout",
        reason="judge-free: after the edit, does the reconstruction still identify its original? (raw content "
        "change measures how strongly G uses its logits, which favours the arm the main claim favours)",
        values=fv.logit_scale,
    ),
    Finding(
        id="C6c",
        title="Gaussian logit perturbation",
        statement="after Gaussian noise on the logits, the robust inverter's reconstructions still show their own "
        "images more than the standard one's",
        primary=lambda c: "edited_retrieval@layout",
        reason="judge-free: after the edit, does the reconstruction still identify its original? (raw content "
        "change measures how strongly G uses its logits, which favours the arm the main claim favours)",
        values=fv.logit_perturb,
    ),
    Finding(
        id="C7",
        title="architecture",
        statement="at the same (standard) objective, fidelity differs by architecture, and the more faithful "
        "inverter is the less realistic one (the paper: ResNet more faithful, Inception more realistic)",
        primary=lambda c: "retrieval@layout",
        reason="two-sided: the main claim's primary endpoint, judge-free; realism (KID per image in the standard "
        "judge's features) is the co-primary of the trade-off, Holm over the two",
        co_primary=lambda c: f"kid@{c.judge}",
        values=fv.architecture,
        a_label="other architecture",
        b_label="small CNN",
        no_reference="the study fits no reference decoder to the other architecture's logits "
        "(findings.architecture_reference)",
        reference_extra="architecture",
    ),
    Finding(
        id="C8",
        title="adversarial examples",
        statement="the robust inverter's reconstruction of a successful targeted attack keeps the source class more "
        "often than the standard one's",
        primary=lambda c: f"keeps_source@{c.judge}",
        reason="an independent standard judge decides which class the reconstruction shows",
        values=fv.adversarial,
    ),
    Finding(
        id="C9",
        title="out-of-distribution images",
        statement="the robust inverter's advantage grows (or shrinks less) on images unlike its training data: it "
        "generalises better than the standard one",
        primary=lambda c: f"ood_minus_id@layout:{next(iter(c.ood), '')}",
        reason="'generalises better' is the arm x domain interaction: (A - B) out of distribution minus (A - B) "
        "in distribution, on matched image counts and one rank scale",
        values=fv.out_of_distribution,
    ),
):
    FINDINGS.register(_f.id, _f)


def decide_finding(finding: Finding, ctx: fv.FindingContext) -> tuple[dict[str, Any], fv.FindingValues]:
    """One finding's row (id, verdict, estimate, ci_low, ci_high, n_images, secondaries) and its values."""
    vals = finding.values(ctx)
    primary = finding.primary(ctx)
    row: dict[str, Any] = {
        "id": finding.id,
        "title": finding.title,
        "statement": finding.statement,
        "primary": primary,
        "reason": finding.reason,
        "a": finding.a_label,
        "b": finding.b_label,
        "n_images": vals.n_eligible,
        "note": vals.note,
        "secondary": [],
    }
    if vals.n_eligible < MIN_IMAGES or primary not in vals.a or primary not in vals.b:
        undecided = f"{UNDECIDED} (n = {vals.n_eligible})"
        why = vals.note or "too few eligible images"
        row.update({"verdict": undecided, "estimate": None, "ci_low": None, "ci_high": None, "why": why})
        return _unless_unequal(row, ctx), vals
    higher, margin = higher_is_better(primary), margin_of(primary)
    endpoint = Endpoint(primary, finding.title, higher, True, margin, None, finding.reason)
    if finding.within:
        main = compare_to_zero(endpoint, vals.a[primary])
        row["b_within"] = _within_row(compare_to_zero(endpoint, vals.b[primary]))
    else:
        main = compare(endpoint, vals.a[primary], vals.b[primary], vals.borrowed(primary))
    row.update(
        {
            "verdict": with_power(main),
            "estimate": main.estimate,
            "ci_low": main.ci_low,
            "ci_high": main.ci_high,
            "a_mean": main.a_mean,
            "b_mean": main.b_mean,
            "n_classifiers": main.n_classifiers,
            "n_seeds": main.n_seeds,
            "inference": main.inference,
            "margin": margin,
            "higher_is_better": higher,
            "power": power(main),
            "within": finding.within,
        }
    )
    if vals.realism:
        row["realism"] = vals.realism
    if finding.co_primary is not None:
        _add_co_primary(row, finding, vals, main, finding.co_primary(ctx))
    row["secondary"] = _secondaries(finding, vals, None if finding.within else primary)
    return _unless_unequal(row, ctx), vals


LOW_POWER = 0.5  # an undecided verdict with less power than this says so: the design could not have decided


def with_power(c) -> str:
    """The verdict word; an undecided one with its power for the observed effect when that is under 50%
    ("undecided (power 0.31)"): the design, not the data, left it open."""
    p = power(c)
    return f"{UNDECIDED} (power {p:.2f})" if c.verdict == UNDECIDED and p < LOW_POWER else c.verdict


def _add_co_primary(row: dict[str, Any], finding: Finding, vals: fv.FindingValues, main, key: str) -> None:
    """The co-primary's comparison, Holm over the two primaries, and the trade-off in words: whether the arm
    that is more faithful (primary) is the less realistic one (co-primary)."""
    if key not in vals.a or key not in vals.b:
        row["co_primary"] = {"endpoint": key, "verdict": f"{UNDECIDED} (no values)"}
        return
    endpoint = Endpoint(key, key, higher_is_better(key), True, margin_of(key))
    co = compare(endpoint, vals.a[key], vals.b[key], vals.borrowed(key))
    p_main, p_co = holm([main.p_value, co.p_value])
    keep = ("endpoint", "estimate", "ci_low", "ci_high", "a_mean", "b_mean", "higher_is_better", "margin")
    row["co_primary"] = {**{k: getattr(co, k) for k in keep}, "verdict": with_power(co), "p_holm": p_co}
    row["p_holm"] = p_main
    decided = {"holds", "reversed"}
    if main.verdict in decided and co.verdict in decided and max(p_main, p_co) < 0.05:
        opposite = main.verdict != co.verdict
        more = finding.a_label if main.verdict == "holds" else finding.b_label
        row["trade_off"] = f"{more} is more faithful and " + ("less" if opposite else "also more") + " realistic"
    else:
        row["trade_off"] = "undecided: fidelity or realism does not differ decidedly (Holm over the two)"


def _within_row(c) -> dict[str, Any]:
    """Arm B's own within-arm result, beside arm A's (the primary)."""
    return comparison_entry(c, ("estimate", "ci_low", "ci_high", "a_mean", "n_classifiers", "n_seeds"))


def comparison_entry(c, keep: tuple[str, ...]) -> dict[str, Any]:
    """The ``keep`` fields of a comparison, its verdict word (:func:`with_power`) and its power: one result
    beside a finding's primary (arm B's within-arm result, a reference decoder's)."""
    return {**{k: getattr(c, k) for k in keep}, "verdict": with_power(c), "power": power(c)}


def _unless_unequal(row: dict[str, Any], ctx: fv.FindingContext) -> dict[str, Any]:
    """``row`` with its verdict withheld (``not comparable``, and why) when the arms did not train alike; the
    interval stays for the reader."""
    unequal = training_differences(ctx.a, ctx.b)
    if unequal:
        row.update({"verdict": NOT_COMPARABLE, "why": "; ".join(unequal)})
    return row


def _secondaries(finding: Finding, vals: fv.FindingValues, primary: str | None) -> list[dict[str, Any]]:
    """Every other key both arms have (A vs B; for a within-arm finding the primary's key too), each compared
    under its own quantity's direction and margin, with Holm-adjusted p-values. Keys whose quantity no claim
    compares (no margin: the raw ranks behind ``retrieval``) are summaries, not endpoints, and are skipped."""
    keys = [k for k in vals.a if k != primary and k in vals.b and finding_quantity(k).margin is not None]
    rows = [
        compare(Endpoint(k, k, higher_is_better(k), False, margin_of(k)), vals.a[k], vals.b[k], vals.borrowed(k))
        for k in keys
    ]
    out = []
    for r, p in zip(rows, holm([r.p_value for r in rows])):
        r.p_holm = p
        keep = (
            "endpoint",
            "estimate",
            "ci_low",
            "ci_high",
            "verdict",
            "a_mean",
            "b_mean",
            "higher_is_better",
            "margin",
        )
        out.append({**{k: getattr(r, k) for k in keep}, "p_holm": p})
    return out
