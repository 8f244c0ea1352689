"""Put the reference decoders beside the findings of a study that ran before findings carried them
(maintainers only; a study run with this version writes them itself).

    python tools/finding_references.py CONFIG --out STUDY_DIR [--data-root DIR] [KEY=VALUE ...]

STUDY_DIR holds the run's study.yaml, claim.json, claim_values.safetensors, findings.json and
findings_values.safetensors (a results folder copied into a run folder will do). The reference decoders (the
claim's ``claim.reference_a`` / ``reference_b``, and C7's ``findings.architecture_reference`` where the study
names it) are trained into STUDY_DIR if they are not there (closed form), scored on the claim's images (refused
unless the claim's give the run's values on its primary endpoint), and every finding they can answer is computed
for them; the inverters' values and every verdict stay as the run wrote them
(:func:`unlogit.study.findings.stage.add_references`). Exit 2 with the reason on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unlogit.errors import UnlogitError
from unlogit.runtime.rundir import StudyLayout
from unlogit.study.claim.stage import claim_images
from unlogit.study.config import open_study
from unlogit.study.findings.stage import add_references, reference_stages
from unlogit.study.runner import settle_study_yaml, train_only
from unlogit.study.stages import plan_study, run_label


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="the study's name or YAML, as it ran")
    parser.add_argument("--out", required=True, help="the study folder (its findings.json is rewritten)")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("overrides", nargs="*", help="the overrides the study ran with")
    args = parser.parse_intermixed_args(argv)
    out = Path(args.out)
    try:
        study = open_study(args.config, args.overrides, False, args.data_root)
        cfg = study.cfg
        plan = plan_study(cfg, out, study.every)
        layout = StudyLayout(out)
        needed = (layout.study_yaml, layout.claim, layout.claim_values, layout.findings, layout.findings_values)
        missing = [p.name for p in needed if not p.is_file()]
        if missing:
            raise UnlogitError(f"{out} is not a study folder with findings: it lacks {', '.join(missing)}")
        settle_study_yaml(layout, cfg)  # refuses a study.yaml of another config
        stages = reference_stages(cfg)  # the claim's, and C7's where the study names it
        train_only(plan, [run_label(r) for r in plan.runs() if r.kind == "inverter" and r.stage in stages], {})
        rows = add_references(cfg, plan, out, claim_images(cfg, plan))
    except UnlogitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for row in rows:
        ref = row["reference"]
        print(f"{row['id']}: {ref.get('summary') or ref.get('why') or ref.get('verdict')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
