"""The draw-mean experiment: the mean of K draws is what it says, and a GAN is set beside the regression of the
same classifier at every K."""

from __future__ import annotations

import json

import pytest
import torch

from unlogit import load_inverter
from unlogit.analysis import AnalyzeConfig, run_experiment
from unlogit.analysis.draws import DRAWS, SPACES, draw_curve
from unlogit.data import get_dataset
from unlogit.scoring.measure import Originals, retrieval_scores


@pytest.fixture(scope="module")
def ridge_run(tmp_path_factory, tiny_classifier_run):
    """The reference decoder (kernel ridge from the logits) of the tiny GAN's classifier."""
    from unlogit import train_inverter
    from unlogit.config import build_config
    from unlogit.inversion.config import InverterRunConfig

    from ..conftest import RIDGE

    cfg = build_config(
        InverterRunConfig, "inverter", "tiny", [*RIDGE, "model.method=ridge"], {"classifier": str(tiny_classifier_run)}
    )
    out = tmp_path_factory.mktemp("runs") / "ridge"
    train_inverter(cfg, out)
    return out


def test_the_draw_counts_double_up_to_the_most():
    from unlogit.analysis.draws import draw_counts

    assert draw_counts(16) == DRAWS == (1, 2, 4, 8, 16)
    assert draw_counts(1) == (1,) and draw_counts(12) == (1, 2, 4, 8, 12)


def test_the_interval_is_the_t_interval_of_the_mean():
    from scipy import stats

    from unlogit.analysis.draws import mean_interval

    values = torch.tensor([0.2, 0.4, 0.6, 0.8], dtype=torch.float64)
    iv = mean_interval(values)
    half = stats.t.ppf(0.975, 3) * float(values.std()) / 2
    assert iv == pytest.approx({"mean": 0.5, "ci_low": 0.5 - half, "ci_high": 0.5 + half})


def test_the_mean_of_k_draws_is_scored_as_the_mean_of_those_reconstructions(tiny_inverter_run):
    inv = load_inverter(tiny_inverter_run, device="cpu")
    x, _ = get_dataset("shapes", "test", size=50).batch(torch.arange(50))
    logits = inv.logits(x).cpu()
    curve = draw_curve(inv, logits, Originals(x), seed=5, draws=(1, 3))
    draws = torch.stack([inv.generate(logits, inv.sample_noise(50, 5 + d)).cpu() for d in range(3)])
    for k in (1, 3):
        want = retrieval_scores(x, draws[:k].double().mean(0).float(), None, {}, 0, 0)
        for s in SPACES:
            torch.testing.assert_close(curve.draw_mean[k][s], want[f"retrieval@{s}"])
    one = sum(retrieval_scores(x, d, None, {}, 0, 0)["retrieval@layout"] for d in draws) / 3
    torch.testing.assert_close(curve.one_draw["layout"], one)


def test_a_gan_is_compared_with_the_regression_of_its_classifier_at_every_k(tmp_path, tiny_inverter_run, ridge_run):
    cfg = AnalyzeConfig(dataset="shapes", n=6, pool=120, draws=4)  # K = 1, 2, 4
    result = run_experiment("draw-mean", [tiny_inverter_run, ridge_run], cfg, tmp_path)
    metrics = json.loads((tmp_path / "draw-mean" / "metrics.json").read_text())
    gan, ridge = tiny_inverter_run.name, ridge_run.name
    assert set(metrics["inverters"][ridge]) == {"one draw", "its one image"}  # deterministic: one image per logit
    assert metrics["inverters"][ridge]["one draw"] == metrics["inverters"][ridge]["its one image"]
    versus = metrics["versus_reference"][f"{gan} - {ridge}"]
    assert metrics["draws"] == [1, 2, 4]
    assert set(versus) == set(SPACES) and all(set(v) == {"1", "2", "4"} for v in versus.values())
    for s in SPACES:
        row = metrics["inverters"][gan]["mean of 4 draws"]
        c = versus[s]["4"]
        assert row[s] - metrics["inverters"][ridge]["its one image"][s] == pytest.approx(c["estimate"])
        assert c["ci_low"] < c["estimate"] < c["ci_high"]
        assert row[f"{s} minus {ridge}"].startswith(f"{c['estimate']:+.3f}")
    assert {"draw_mean", f"draws_{gan}"} == set(result.figures)
    # every number recomputes from the per-image values written beside it
    from safetensors.torch import load_file

    from unlogit.analysis.draws import mean_interval

    assert metrics["values"] == "experiment_values.safetensors"
    values = load_file(str(tmp_path / "draw-mean" / "experiment_values.safetensors"))
    for s in SPACES:
        diff = values[f"{gan}/mean_of_4/{s}"] - values[f"{ridge}/one_draw/{s}"]
        again = mean_interval(diff)
        c = versus[s]["4"]
        assert (again["mean"], again["ci_low"], again["ci_high"]) == (c["estimate"], c["ci_low"], c["ci_high"])
        assert mean_interval(values[f"{gan}/one_draw/{s}"])["mean"] == metrics["inverters"][gan]["one draw"][s]
