"""The project's own classifiers: run directories of ``unlogit train-classifier`` and the weights shipped in
the package (``unlogit:NAME``, checked against the manifest's SHA-256). Both are data only: safetensors
tensors and a JSON schema, rebuilt into an architecture of :data:`~unlogit.classifiers.archs.ARCHS`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, UnlogitError
from ..runtime.checkpoint import load_checkpoint, save_checkpoint
from ..runtime.rundir import RunLayout
from .archs import ArchSpec, build_arch
from .metadata import read_classifier_meta
from .normalized import NormalizedClassifier
from .spec import SourceRequest

CLASSIFIER_KIND = "unlogit.classifier"


SHIPPED_PREFIX = "unlogit:"


WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def _manifest() -> dict[str, Any]:
    manifest = WEIGHTS_DIR / "MANIFEST.json"
    return json.loads(manifest.read_text()) if manifest.is_file() else {}


def shipped_classifiers() -> dict[str, dict[str, Any]]:
    """Name -> manifest entry (what it is, the command that trained it, its SHA-256) of the shipped weights."""
    return _manifest().get("classifiers", {})


def shipped_aliases() -> dict[str, str]:
    """Old names that still load (``cifar10-robust`` -> ``cifar10-robust-s0``, the first of its family)."""
    return _manifest().get("aliases", {})


def shipped_path(name: str) -> Path:
    """The folder of shipped classifier ``name``, after checking its tensors against the manifest's SHA-256."""
    from ..runtime.checkpoint import file_sha256

    known = shipped_classifiers()
    name = shipped_aliases().get(name, name)
    if name not in known:
        raise UnlogitError(
            f"no shipped classifier {name!r}; the package has {sorted(known)} (`unlogit models` lists them)"
        )
    folder, entry = WEIGHTS_DIR / name, known[name]
    layout = RunLayout(folder)
    files = ((layout.model.with_suffix(".safetensors"), "sha256"), (layout.model_json, "json_sha256"))
    for file, key in files:  # the tensors, and the metadata they are read with (mean, std, class order)
        if key not in entry or file_sha256(file) != entry[key]:
            raise CheckpointError(f"shipped file {file} does not match its recorded SHA-256; reinstall unlogit")
    return folder


def load_shipped(req: SourceRequest) -> NormalizedClassifier:
    clf = load_run_classifier(shipped_path(req.target))
    clf.info["spec"] = req.spec
    return clf


def save_run_classifier(run: Path, clf: NormalizedClassifier, arch: ArchSpec, summary: dict) -> None:
    """Write ``RUN/model.{safetensors,json}`` (what :func:`load_run_classifier` reads)."""
    meta = {
        "arch": arch.to_dict(),
        "classes": clf.classes,
        "mean": clf.mean.flatten().tolist(),
        "std": clf.std.flatten().tolist(),
        "input_shape": list(clf.input_shape) if clf.input_shape else None,
        "summary": summary,
    }
    save_checkpoint(RunLayout(run).model, clf.model.state_dict(), meta, kind=CLASSIFIER_KIND)


def load_run_classifier(run: Path) -> NormalizedClassifier:
    """Rebuild a classifier from a run directory (no pickles): the metadata is validated against its schema
    and the architecture checked against the tensors' shapes before anything is allocated."""
    layout = RunLayout(run)
    if not layout.model_json.is_file():
        kind = _run_kind(run)
        hint = f" (it is a {kind!r} run)" if kind else ""
        raise CheckpointError(
            f"{run} is not a classifier run directory{hint}: no model.json; "
            "train one with `unlogit train-classifier` or give another classifier spec"
        )
    layout.check_inside(layout.model_json, layout.model.with_suffix(".safetensors"))
    tensors, raw = load_checkpoint(layout.model, CLASSIFIER_KIND)
    meta = read_classifier_meta(raw, layout.model_json)
    net = build_arch(meta.arch, expected=tensors, where=str(layout.model_json))
    try:
        net.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CheckpointError(f"weights in {run} do not fit architecture {meta.arch}: {exc}") from exc
    info = {"spec": str(run), "arch": meta.arch.to_dict(), "summary": meta.summary}
    info["weights_sha256"] = raw["tensor_sha256"]
    return NormalizedClassifier(net, meta.classes, meta.mean, meta.std, meta.shape(), info)


def load_run(req: SourceRequest) -> NormalizedClassifier:
    return load_run_classifier(Path(req.base).expanduser())


def _run_kind(run: Path) -> str | None:
    try:
        kind = json.loads(RunLayout(run).run_json.read_text()).get("kind")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return kind if isinstance(kind, str) else None


def is_run_dir(base: str) -> bool:
    """Whether a spec (without options) names an existing folder (a run directory)."""
    return Path(base).expanduser().is_dir()
