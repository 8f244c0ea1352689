"""tools/results_page.py, the markdown tables of docs/results pages, on a finished mini study."""

import runpy
from pathlib import Path

RESULTS_PAGE = Path(__file__).resolve().parents[2] / "tools" / "results_page.py"


def test_the_results_page_lays_out_the_claim_its_reference_decoders_controls_and_findings(mini_study_dir, capsys):
    import json

    page = runpy.run_path(str(RESULTS_PAGE))
    page["main"](mini_study_dir)
    text = capsys.readouterr().out
    claim = json.loads((mini_study_dir / "claim.json").read_text())
    assert f"**Verdict: {claim['verdict']}**" in text
    reference = claim["reference"]
    assert f"Reference decoder: {reference['summary']}" in text
    assert f"| {claim['a']} / {reference['a']} |" in text  # each arm beside its reference
    for control in claim["controls"]:
        assert f"| {control['stage']} |" in text
    findings = json.loads((mini_study_dir / "findings.json").read_text())["findings"]
    for f in findings:
        assert f"| {f['id']} |" in text
    assert "#finding-" not in text  # the HTML page's anchors are not links on a markdown page
    draws = json.loads((mini_study_dir / "analysis" / "draw-mean" / "metrics.json").read_text())
    assert draws["versus_reference"]  # each GAN beside the ridge decoders of its classifier
    for pair, spaces in draws["versus_reference"].items():
        for space, by_k in spaces.items():
            last = by_k[str(draws["draws"][-1])]
            assert f"| {pair} | {space} |" in text and f"{last['estimate']:+.3f} [{last['ci_low']:+.3f}" in text
