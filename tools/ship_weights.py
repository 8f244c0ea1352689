"""Copy a classifier run's final weights into the package as ``unlogit:NAME`` (maintainers only).

    python tools/ship_weights.py RUN_DIR NAME "what it is" [FAMILY]

Writes ``src/unlogit/weights/NAME/model.{safetensors,json}`` and records in ``MANIFEST.json`` the
command that trained it (from the run's run.json), its config, its test numbers and the SHA-256 that
``load_classifier("unlogit:NAME")`` checks on every load.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from unlogit.runtime.atomic import write_json_atomic
from unlogit.runtime.checkpoint import file_sha256

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "unlogit" / "weights"


PRIVATE_OPTIONS = ("--out", "--data-root")  # machine paths: not part of a reproducible command


def portable_command(argv: list[str]) -> str:
    """The training command without this machine's paths (CIFAR-10 comes from the dataset search path)."""
    kept, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg in PRIVATE_OPTIONS:
            skip = True
            continue
        if not arg.startswith(tuple(f"{o}=" for o in PRIVATE_OPTIONS)):
            kept.append(arg)
    return "unlogit " + shlex.join(kept)


def ship(run: Path, name: str, what: str, family: str | None = None, minutes: float | None = None) -> dict:
    folder = WEIGHTS / name
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(run / f"model{suffix}", folder / f"model{suffix}")
    argv = json.loads((run / "run.json").read_text())["argv"]
    meta = json.loads((run / "model.json").read_text())
    entry = {
        "what": what,
        "command": portable_command(argv),
        "family": family,
        "minutes_on_2_cores": minutes,
        "sha256": file_sha256(folder / "model.safetensors"),
        "json_sha256": file_sha256(folder / "model.json"),
        "bytes": (folder / "model.safetensors").stat().st_size,
        "arch": meta["arch"],
        "summary": meta["summary"],
    }
    (folder / "MODEL_CARD.md").write_text(model_card(name, entry))
    manifest_path = WEIGHTS / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"classifiers": {}}
    manifest["classifiers"][name] = entry
    write_json_atomic(manifest_path, manifest)
    return entry


def training_minutes(run: Path) -> float | None:
    """The run's wall minutes from its metrics.jsonl ``final`` line (None when it has none)."""
    lines = (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").is_file() else []
    finals = [r for r in map(json.loads, lines) if r.get("final") and "elapsed_s" in r]
    return finals[-1]["elapsed_s"] / 60 if finals else None


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson 95% interval of an accuracy p measured on n images."""
    if not n:
        return (float("nan"), float("nan"))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


# per dataset: (its name, the training data, the held-out splits, its licence line, what reproducing needs,
# its limitation)
DATASETS = {
    "cifar10": (
        "CIFAR-10",
        "CIFAR-10 training split",
        "the last 2,000 training images are the validation split\n  (never trained on); test accuracy on "
        "the first {n} test images (class-interleaved)",
        "trained on CIFAR-10 (Krizhevsky 2009)",
        "CIFAR-10 on the dataset search path, e.g. `UNLOGIT_DATA=DIR`",
        "low capacity and short training, so accuracies far below the state of the art",
    ),
    "shapes": (
        "shapes",
        "unlogit's procedural `shapes` (generated from a seed; no third-party data)",
        "validation and test images are generated\n  from their own seeds (never trained on); test accuracy on "
        "{n} test images",
        "trained on data unlogit generates",
        "nothing to download",
        "a procedural toy task (ten coloured shapes on a plain background): its accuracies say nothing\n  "
        "about natural images",
    ),
}


def _cost(minutes: float | None) -> str:
    return "not measured" if minutes is None else f"{minutes:.1f} minutes on 2 CPU cores"


def model_card(name: str, entry: dict) -> str:
    """A short model card: intended use, data, recipe, accuracy with CI, limitations, licence, command."""
    s = entry["summary"]
    title, data, held_out, licence, needs, limitation = DATASETS[s.get("dataset", "cifar10")]
    held_out = held_out.format(n=s.get("n_test"))
    lo, hi = wilson(s["clean_acc"], s.get("n_test", 0))
    attack = s.get("robust_attack") or {}
    robust = (
        f"{s['robust_acc']:.1%} under PGD-{attack.get('norm')} eps {attack.get('eps', 0):.4g} "
        f"({attack.get('steps')} steps x {attack.get('restarts')} restarts) on the first {s.get('n_robust')} "
        "test images: an upper bound, as under any one attack"
    )
    return f"""# unlogit:{name}

{entry["what"]}

- **Intended use**: a classifier to invert or to judge reconstructions in unlogit's {title} studies on CPU;
  small on purpose (trained in minutes on 2 CPU cores). Not for deployment or as a robustness benchmark.
- **Data**: {data}, {
        "part b (the half the inverted classifiers never see)"
        if "eval" in name
        else "part a (the evaluators train on part b)"
    }; {held_out}.
- **Recipe**: {s.get("epochs")} epochs, {
        "PGD adversarial training " + json.dumps(s.get("train_attack"))
        if s.get("adversarial_training")
        else "standard training"
    }; the command below.
- **Accuracy**: validation {s.get("val_acc", 0):.1%}; test {s["clean_acc"]:.1%} (95% CI {lo:.1%}-{hi:.1%},
  Wilson, n = {s.get("n_test")}); robust {robust}.
- **Training cost**: {_cost(entry.get("minutes_on_2_cores"))}.
- **Limitations**: {limitation}; one seed per name (families `-s0`, `-s1`, `-s2` are replicates of one
  recipe).
- **Licence**: MIT, as unlogit; {licence}.
- **SHA-256** of model.safetensors: `{entry["sha256"]}`, and of model.json (normalisation, class order):
  `{entry["json_sha256"]}` (both checked on every load).

Reproduce ({needs}):

```
{entry["command"]}
```
"""


if __name__ == "__main__":
    run_dir, shipped_name, description = sys.argv[1:4]
    family = sys.argv[4] if len(sys.argv) > 4 else None
    print(json.dumps(ship(Path(run_dir), shipped_name, description, family, training_minutes(Path(run_dir))), indent=2))
