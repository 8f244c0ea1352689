from __future__ import annotations

import json
import shutil

import pytest

from unlogit.cli import main
from unlogit.errors import UnlogitError
from unlogit.report.claim import claim_rows, fixed_interval_text
from unlogit.report.page import build_report

from ..conftest import report_layout


def test_study_report_has_every_section(mini_study_dir):
    page = (mini_study_dir / "report" / "index.html").read_text()
    headings = [
        "Setup",
        "Classifiers",
        "Inverters",
        "The claim",
        "Against the reference decoder",
        "Figure 1",
        "Findings",
        "Experiment: transforms",
        "Experiment: leakage",
        "Experiment: factors",
        "Experiment: ceiling",
        "Evaluate (shapes",
    ]
    for heading in headings:
        assert heading in page or heading.replace("&#x27;", "'") in page, heading
    assert page.count("data:image/png;base64,") >= 10  # figures are embedded: the file stands alone
    assert 'src="runs/' not in page and "file://" not in page
    summary = json.loads((mini_study_dir / "summary.json").read_text())
    assert summary["report"].endswith("index.html")
    evaluation = json.loads((mini_study_dir / "evaluate" / "evaluate.json").read_text())
    references = {"standard-ridge", "robust-ridge", "control-ridge"}
    assert set(evaluation["inverters"]) == {"standard", "robust", *references}  # beside the GANs
    shift = json.loads((mini_study_dir / "analysis" / "logit-shift" / "metrics.json").read_text())
    assert shift["judge"] == "evaluator"


def test_claim_section_shows_every_endpoint_with_its_interval_and_the_gate(mini_study_dir):
    claim = json.loads((mini_study_dir / "claim.json").read_text())
    for e in claim["endpoints"]:
        assert {"estimate", "ci_low", "ci_high", "n_images", "n_classifiers", "n_seeds", "verdict"} <= set(e)
        assert e["ci_low"] <= e["estimate"] <= e["ci_high"] and e["verdict"] in {
            "holds",
            "reversed",
            "tie",
            "undecided",
        }
    rows = claim_rows(claim)
    assert len(rows) == len(claim["endpoints"]) and {"robust", "standard", "difference [95% CI]"} <= set(rows[0])
    page = (mini_study_dir / "report" / "index.html").read_text()
    assert "The claim:" in page and "variance components of the crossed design" in page
    assert page.index('class="verdict"') < page.index("Figure 1") < page.index("Setup")  # the answer comes first
    assert ("Gate passed" in page) != bool(claim["excluded"])  # either compared, or the reason is shown


def test_report_cli_and_errors(tmp_path, tiny_inverter_run, capsys):
    assert main(["report", str(tiny_inverter_run), "-o", str(tmp_path / "r")]) == 0
    assert "Inverters" in (tmp_path / "r" / "index.html").read_text()
    with pytest.raises(UnlogitError, match="nothing to report"):
        build_report([tmp_path / "r"], tmp_path / "r2")
    assert main(["report", str(tmp_path / "missing"), "-o", str(tmp_path / "r3")]) == 2
    assert "not found" in capsys.readouterr().err


def test_report_draws_training_curves_of_runs_that_have_them(tmp_path, tiny_inverter_run):
    run = tmp_path / "inv-with-evals"
    shutil.copytree(tiny_inverter_run, run)
    lines = [
        {"step": 2, "eval": True, "elapsed_s": 1.0, "own_label_agreement": 0.2},
        {"step": 4, "final": True, "train_minutes": 0.05, "own_label_agreement": 0.3},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    page = build_report([tiny_inverter_run], tmp_path / "without").read_text()
    assert "Training curves" not in page  # one evaluation (the final one) is not a curve
    page = build_report([run], tmp_path / "with").read_text()
    assert "Training curves" in page and (tmp_path / "with" / "training_curves.png").is_file()


def test_report_renders_in_headless_chromium(mini_study_dir, tmp_path, browser):
    """Debian's chromium driven by Playwright at 1,280 px: the page loads, every image decodes, nothing is wider
    than the window, and the verdict is on the first screen."""
    page = report_layout(browser, mini_study_dir / "report" / "index.html", tmp_path / "report.png")
    assert page["title"].startswith("unlogit study")
    assert len(page["images"]) >= 10 and all(done and w > 0 for done, w in page["images"]), page["images"]
    assert page["width"] <= 1280, f"the page is {page['width']} px wide at a 1280 px window"
    assert 0 <= page["verdict_top"] < 800


def test_fixed_interval_text_lines_up_signed_decimals_and_says_na_when_undecided():
    assert fixed_interval_text({"estimate": 0.0541, "ci_low": 0.04, "ci_high": -0.0681}) == "+0.054 [+0.040, -0.068]"
    assert fixed_interval_text({"estimate": None, "ci_low": None, "ci_high": None}) == "n/a"


def test_the_reference_decoder_sits_beside_every_endpoint_and_a_weaker_inverter_is_flagged(mini_study_dir):
    from unlogit.report.claim import reference_view

    claim = json.loads((mini_study_dir / "claim.json").read_text())
    ref = claim["reference"]
    assert (ref["a"], ref["b"]) == ("robust-ridge", "standard-ridge")
    assert {e["endpoint"] for e in ref["gap"]} == {e["endpoint"] for e in claim["endpoints"]}
    view = reference_view(claim)
    assert len(view.table.rows) == len(ref["gap"])
    reversed_ = [
        e for rows in (ref["a_over_reference"], ref["b_over_reference"]) for e in rows if e["verdict"] == "reversed"
    ]
    assert len(view.below) == len(reversed_)
    page = (mini_study_dir / "report" / "index.html").read_text()
    assert ("extracts less than the regression decoder" in page) == bool(reversed_)
    forced = {
        **claim,
        "reference": {**ref, "a_over_reference": [{**e, "verdict": "reversed"} for e in ref["a_over_reference"]]},
    }
    assert len(reference_view(forced).below) >= len(ref["a_over_reference"])
