"""The learning-curve benchmark's derived numbers: the plateau step, the chosen learning rate, the recommended
G steps (the training itself is the time-to-quality benchmark's, tested there)."""

from benchmarks.learning_curves import derive, plateau_step


def _records(values, every=1000):
    return [{"step": every * (i + 1), "retrieval@layout": v} for i, v in enumerate(values)]


def test_plateau_is_the_first_step_after_which_the_curve_rises_less_than_flat():
    rising_then_flat = _records([0.55, 0.60, 0.64, 0.655, 0.66, 0.658, 0.661])
    assert plateau_step(rising_then_flat, "retrieval@layout", flat=0.01) == 4000


def test_a_curve_still_rising_at_the_end_has_no_plateau():
    assert plateau_step(_records([0.55, 0.58, 0.61, 0.64, 0.67]), "retrieval@layout", flat=0.01) is None


def test_a_dip_at_the_last_evaluation_does_not_fake_an_early_plateau():
    # on the raw values 0.60 - 0.58 < flat would call 2000 the plateau; the isotonic fit pools the dip with the
    # evaluation before it (quality is not taken to fall with training)
    dip = _records([0.55, 0.58, 0.61, 0.64, 0.60])
    assert plateau_step(dip, "retrieval@layout", flat=0.01) == 4000


def test_derive_chooses_each_arms_best_scale_and_the_later_plateau():
    runs = [
        {"arm": "robust", "lr_scale": 1.0, "records": _records([0.55, 0.62, 0.66, 0.665, 0.667])},
        {"arm": "robust", "lr_scale": 2.0, "records": _records([0.50, 0.55, 0.58, 0.60, 0.61])},
        {"arm": "standard", "lr_scale": 1.0, "records": _records([0.52, 0.55, 0.58, 0.60, 0.605])},
        {"arm": "standard", "lr_scale": 2.0, "records": _records([0.55, 0.60, 0.62, 0.63, 0.632])},
    ]
    out = derive({"runs": runs}, "retrieval@layout", last=2, flat=0.01, margin=0.02)
    assert out["arms"]["robust"]["chosen_scale"] == 1.0
    assert out["arms"]["standard"]["chosen_scale"] == 2.0  # beats the preset by 0.026 > flat
    assert out["arms"]["robust"]["plateau_step"] == 3000 and out["arms"]["standard"]["plateau_step"] == 4000
    assert out["recommended_steps"] == 4000  # the later arm decides
    assert abs(out["gap"]["gap"] - (0.665 - 0.63)) < 1e-12 and out["gap"]["exceeds_margin"]


def test_a_scale_that_beats_the_preset_by_less_than_flat_does_not_replace_it():
    runs = [
        {"arm": "robust", "lr_scale": 1.0, "records": _records([0.60, 0.70, 0.740, 0.741])},
        {"arm": "robust", "lr_scale": 2.0, "records": _records([0.62, 0.72, 0.744, 0.745])},
    ]
    out = derive({"runs": runs}, "retrieval@layout", last=2, flat=0.01, margin=0.02)
    assert out["arms"]["robust"]["chosen_scale"] == 1.0  # 0.004 better: within noise
