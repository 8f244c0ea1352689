"""Worked example: add an ``unlogit analyze`` experiment (docs/architecture.md, "Where to add").

An experiment is one function ``AnalysisContext -> ExperimentResult`` in ``EXPERIMENTS``: figures plus a
metrics dict built from the scoring core. This one, ``colour``, reconstructs the held-out images and
reports how well every inverter keeps their mean colour.
"""

from __future__ import annotations

from pathlib import Path

from unlogit.analysis import EXPERIMENTS, AnalysisContext, ExperimentResult
from unlogit.runtime.figures import comparison_grid
from unlogit.scoring.measure import score


def colour(ctx: AnalysisContext) -> ExperimentResult:
    """Mean-colour correlation and colour error of every inverter on the same images and noise."""
    x, y = ctx.images()
    metrics, columns = {}, [x]
    for name, inv in ctx.inverters.items():
        logits = inv.logits(x)
        rec = inv.generate(logits, ctx.noise(inv, len(x))).cpu()
        s = score(x, rec, y, inv.classifier, logits=logits)
        metrics[name] = {"colour_correlation": s.colour_correlation, "colour_error": float(s["colour_error"].mean())}
        columns.append(rec)
    return ExperimentResult("colour", {"n": len(x), "inverters": metrics}, {"colour": comparison_grid(columns)})


def demonstrate(folder: Path) -> None:
    """Register the experiment and run it on a freshly trained (tiny) inverter."""
    import json

    from _helpers import quick_inverter_config, untrained_classifier_run

    import unlogit
    from unlogit.analysis import AnalyzeConfig, run_experiment

    EXPERIMENTS.register("colour", colour)
    try:
        clf = untrained_classifier_run(folder / "clf")
        cfg = quick_inverter_config(clf, "model.method=pixel", "train.steps=3")
        unlogit.train_inverter(cfg, folder / "inv")
        run_experiment("colour", [folder / "inv"], AnalyzeConfig(["colour"], n=6, pool=6), folder / "analysis")
        metrics = json.loads((folder / "analysis" / "colour" / "metrics.json").read_text())
        assert metrics["experiment"] == "colour" and "colour_error" in metrics["inverters"]["inv"]
        assert (folder / "analysis" / "colour" / "colour.png").is_file()
    finally:
        EXPERIMENTS.unregister("colour")
