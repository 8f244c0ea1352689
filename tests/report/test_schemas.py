"""The report's input schemas: what unlogit writes passes them, what a hostile or hand-edited file holds is one
named error that says where, and what is shown from a file is shown as text (the template escapes)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from unlogit.errors import UnlogitError
from unlogit.report import schemas
from unlogit.report.page import build_report

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
SCHEMA_OF = {
    "claim.json": schemas.CLAIM,
    "findings.json": schemas.FINDINGS,
    "summary.json": schemas.SUMMARY,
    "evaluate.json": schemas.EVALUATE,
}


# Written by an early unlogit, before a claim recorded its design per arm: the report refuses it by name (as it
# did before the schemas, when the page failed on its missing keys).
LEGACY = {"cifar10-cpu/claim.json"}


@pytest.mark.parametrize("name", sorted(SCHEMA_OF))
def test_every_committed_result_passes_its_schema(name):
    files = sorted(RESULTS.rglob(name))
    assert files, f"no committed {name} to check"
    for path in files:
        data = json.loads(path.read_text())
        if path.relative_to(RESULTS).as_posix() in LEGACY:
            with pytest.raises(UnlogitError, match="is malformed at"):
                schemas.check_input(data, SCHEMA_OF[name], path)
        else:
            schemas.check_input(data, SCHEMA_OF[name], path)


def _claim() -> dict:
    return json.loads((RESULTS / "shapes-demo-offline" / "claim.json").read_text())


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c["endpoints"].append({**c["endpoints"][0]}), "$.endpoints"),  # two primary endpoints
        (lambda c: c["endpoints"][0].update(primary=False), "$.endpoints"),  # none
        (lambda c: c["endpoints"][1].update(ci_low="0.1"), "$.endpoints[1].ci_low"),
        (lambda c: c.update(n_images=-3), "$.n_images"),
        (lambda c: c.update(a=""), "$.a"),
        (lambda c: c.pop("statement"), "$"),
        (lambda c: c["n_seeds"].update(robust=1.5), "$.n_seeds.robust"),
    ],
)
def test_a_malformed_claim_is_refused_with_its_place(change, where):
    claim = _claim()
    schemas.check_input(copy.deepcopy(claim), schemas.CLAIM, Path("claim.json"))  # the original passes
    change(claim)
    with pytest.raises(UnlogitError) as info:
        schemas.check_input(claim, schemas.CLAIM, Path("claim.json"))
    assert f"claim.json is malformed at {where}:" in str(info.value)


def _findings() -> dict:
    return json.loads((RESULTS / "cifar10-demo" / "findings.json").read_text())


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda f: f["findings"][1]["reference"]["gap"].update(ci_low="0.1"), "$.findings[1].reference.gap.ci_low"),
        (lambda f: f["findings"][1]["reference"]["b_within"].pop("verdict"), "$.findings[1].reference.b_within"),
        (lambda f: f["findings"][0]["reference"].update(a=""), "$.findings[0].reference.a"),
        (lambda f: f["findings"][1].pop("b"), "$.findings[1]"),  # a within-arm row names arm B
        (lambda f: f["findings"][1]["b_within"].update(estimate=[1]), "$.findings[1].b_within.estimate"),
    ],
)
def test_a_malformed_finding_or_its_reference_is_refused_with_its_place(change, where):
    findings = _findings()
    assert findings["findings"][1]["id"] == "C3" and "b_within" in findings["findings"][1]["reference"]
    schemas.check_input(copy.deepcopy(findings), schemas.FINDINGS, Path("findings.json"))  # the original passes
    change(findings)
    with pytest.raises(UnlogitError) as info:
        schemas.check_input(findings, schemas.FINDINGS, Path("findings.json"))
    assert f"findings.json is malformed at {where}:" in str(info.value)


def test_a_refusal_stays_one_short_line_whatever_the_value():
    claim = _claim()
    claim["statement"] = {"x" * 10_000: "\n" * 50}
    with pytest.raises(UnlogitError) as info:
        schemas.check_input(claim, schemas.CLAIM, Path("claim.json"))
    message = str(info.value)
    assert "\n" not in message and len(message) < 600


def test_every_text_from_a_claim_or_summary_is_shown_as_text(tmp_path):
    """Arm names, the statement, the reason, the gate's exclusions and the summary's header all reach the page;
    none of them as markup."""
    folder = tmp_path / "study"
    shutil.copytree(RESULTS / "shapes-demo-offline", folder)
    xss = "<script>alert(1)</script>"
    claim = json.loads((folder / "claim.json").read_text())
    claim.update(statement=xss, reason=xss, excluded=[xss], inference=xss, verdict=xss)
    claim["endpoints"][0]["label"] = xss
    (folder / "claim.json").write_text(json.dumps(claim))
    summary = json.loads((folder / "summary.json").read_text())
    summary.update(header=xss, note=xss, columns=[xss])
    (folder / "summary.json").write_text(json.dumps(summary))
    page = build_report([folder], tmp_path / "report", title=xss).read_text()
    assert "<script>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8  # each text is there, escaped
