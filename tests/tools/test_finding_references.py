"""tools/finding_references.py: the reference decoders put beside the findings of a study that ran without them
give the rows the study writes itself, and leave every inverter's value and verdict as they were."""

from __future__ import annotations

import json
import math
import runpy
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

TOOL = Path(__file__).resolve().parents[2] / "tools" / "finding_references.py"


def main(argv: list[str]) -> int:
    return runpy.run_path(str(TOOL))["main"](argv)


def _close(a, b) -> bool:
    """Equal JSON values, floats to 1e-9 relative."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_references_added_after_the_run_equal_the_ones_a_run_writes(mini_study_dir, tmp_path, capsys):
    study = tmp_path / "out"
    shutil.copytree(mini_study_dir, study)
    written = json.loads((study / "findings.json").read_text())
    old = dict(written, findings=[{k: v for k, v in f.items() if k != "reference"} for f in written["findings"]])
    (study / "findings.json").write_text(json.dumps(old))
    values = load_file(str(study / "findings_values.safetensors"))
    save_file({k: v for k, v in values.items() if "/ref_" not in k}, str(study / "findings_values.safetensors"))

    assert main([str(mini_study_dir.parent / "mini.yaml"), "--out", str(study)]) == 0
    added = json.loads((study / "findings.json").read_text())
    assert "after the run" in added["reference_added"]
    for before, after in zip(written["findings"], added["findings"]):
        assert {k: v for k, v in after.items() if k != "reference"} == {
            k: v for k, v in before.items() if k != "reference"
        }  # the inverters' rows as the run wrote them
        assert _close(after["reference"], before["reference"]), (after["id"], after["reference"], before["reference"])
    again = load_file(str(study / "findings_values.safetensors"))
    assert again.keys() == values.keys()
    assert "C3:" in capsys.readouterr().out


def test_a_folder_without_findings_is_refused_with_what_it_lacks(mini_study_dir, tmp_path, capsys):
    assert main([str(mini_study_dir.parent / "mini.yaml"), "--out", str(tmp_path / "empty")]) == 2
    assert (
        "lacks study.yaml, claim.json, claim_values.safetensors, findings.json, findings_values.safetensors"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "empty").exists()


def test_references_that_are_not_the_run_s_are_refused_and_nothing_is_rewritten(mini_study_dir, tmp_path, capsys):
    study = tmp_path / "out"
    shutil.copytree(mini_study_dir, study)
    claim = json.loads((study / "claim.json").read_text())
    values = load_file(str(study / "claim_values.safetensors"))
    key = f"robust-ridge/{claim['primary']}"
    values[key] = 1 - values[key]  # as if the run's reference decoder had been another one
    save_file(values, str(study / "claim_values.safetensors"))
    before = (study / "findings.json").read_bytes()
    assert main([str(mini_study_dir.parent / "mini.yaml"), "--out", str(study)]) == 2
    assert f"robust-ridge scored now differs from the run's on {claim['primary']}" in capsys.readouterr().err
    assert (study / "findings.json").read_bytes() == before
