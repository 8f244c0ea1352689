"""Copy a classifier run's final weights into the package as ``unlogit:NAME`` (maintainers only).

    python tools/ship_weights.py RUN_DIR NAME "what it is"

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
        "bytes": (folder / "model.safetensors").stat().st_size,
        "arch": meta["arch"],
        "summary": meta["summary"],
    }
    manifest_path = WEIGHTS / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"classifiers": {}}
    manifest["classifiers"][name] = entry
    write_json_atomic(manifest_path, manifest)
    return entry


if __name__ == "__main__":
    run_dir, shipped_name, description = sys.argv[1:4]
    print(json.dumps(ship(Path(run_dir), shipped_name, description), indent=2))
