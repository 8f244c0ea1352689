"""Checkpoints: tensors in safetensors, everything else in a JSON file beside it.

A checkpoint ``NAME`` is two files, ``NAME.safetensors`` and ``NAME.json``, each written atomically;
the JSON is written last and records the tensor file's size and SHA-256, both checked on load (one
streaming pass), so a truncated, edited or mismatched pair — including one left by a crash between the
two writes — is refused. Nothing is ever unpickled.

Arbitrary nested state (optimizer ``state_dict()``, RNG states, counters) is stored with
:func:`flatten_state`: tensors go to safetensors under generated keys and the structure with plain
values goes to JSON.
"""

from __future__ import annotations

import copy
import hashlib
import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError
from ..version import __version__
from .atomic import _json_default, atomic_paths

FORMAT = "unlogit-checkpoint"
FORMAT_VERSION = 1
_TENSOR = "__tensor__"
_TUPLE = "__tuple__"


def flatten_state(obj: Any, prefix: str = "s") -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a nested structure into (JSON-able skeleton, {key: tensor})."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(node: Any, key: str) -> Any:
        if isinstance(node, torch.Tensor):
            tensors[key] = node.detach().contiguous().cpu()
            return {_TENSOR: key}
        if isinstance(node, dict):
            if not all(isinstance(k, (str, int)) for k in node):
                raise TypeError(f"cannot store dict with keys {list(node)[:3]} at {key}")
            return {"__dict__": [[k, walk(v, f"{key}.{k}")] for k, v in node.items()]}
        if isinstance(node, tuple):
            return {_TUPLE: [walk(v, f"{key}.{i}") for i, v in enumerate(node)]}
        if isinstance(node, list):
            return [walk(v, f"{key}.{i}") for i, v in enumerate(node)]
        if isinstance(node, (str, int, float, bool)) or node is None:
            return node
        raise TypeError(f"cannot store {type(node).__name__} at {key} in a checkpoint")

    return walk(obj, prefix), tensors


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, dict):
        if _TENSOR in skeleton:
            return tensors[skeleton[_TENSOR]]
        if _TUPLE in skeleton:
            return tuple(unflatten_state(v, tensors) for v in skeleton[_TUPLE])
        if "__dict__" in skeleton:
            return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
        return {k: unflatten_state(v, tensors) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    return skeleton


def save_checkpoint(
    path_stem: str | Path,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, Any],
    kind: str,
) -> None:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` atomically (tensors first, JSON last)."""
    _write_snapshot(Path(path_stem), host_snapshot(tensors), metadata, kind)


def host_snapshot(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies of ``tensors``: what a checkpoint writes, safe from later in-place updates."""
    return {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}


def _write_snapshot(stem: Path, plain: dict[str, torch.Tensor], metadata: dict[str, Any], kind: str) -> None:
    tensor_path, meta_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    try:
        with atomic_paths(tensor_path, meta_path) as (tensor_tmp, meta_tmp):
            save_file(plain, str(tensor_tmp))
            meta = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": kind,
                "unlogit_version": __version__,
                "tensor_file": tensor_path.name,
                "tensor_bytes": tensor_tmp.stat().st_size,
                "tensor_sha256": _sha256(tensor_tmp),
                **metadata,
            }
            meta_tmp.write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(
            f"cannot write the checkpoint {stem} ({type(exc).__name__}: {exc}); free some disk space or check the "
            "folder's permissions. An earlier checkpoint there is left as it was"
        ) from exc


class CheckpointWriter:
    """:func:`save_checkpoint` off the caller's thread, one write at a time.

    :meth:`save` copies the tensors to host memory and returns while a worker thread writes and hashes the
    files, so a training loop is not held for the disk (2.2 GB at 128 px); the files stay atomic (a reader
    sees the previous checkpoint until the new one is complete). A write's error surfaces at the next
    :meth:`save` or at :meth:`wait`, which every caller runs before it reads the checkpoint or ends.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="unlogit-checkpoint")
        self._pending: Future[None] | None = None

    def save(self, path_stem: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any], kind: str):
        """Snapshot ``tensors`` and ``metadata`` now; write them in the background."""
        self.wait()  # one write at a time: the previous one lands (or raises) first
        plain, meta = host_snapshot(tensors), copy.deepcopy(metadata)
        self._pending = self._pool.submit(_write_snapshot, Path(path_stem), plain, meta, kind)

    def wait(self) -> None:
        """Block until the pending write is on disk; raise its :class:`CheckpointError` if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """:meth:`wait`, then stop the worker thread."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def load_checkpoint(
    path_stem: str | Path, kind: str | tuple[str, ...], map_location: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`, checking format, kind and integrity."""
    stem = Path(path_stem)
    if stem.suffix in {".json", ".safetensors"}:
        stem = stem.with_suffix("")
    meta_path, tensor_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not meta_path.is_file():
        raise CheckpointError(f"no checkpoint metadata at {meta_path}; is this an unlogit run directory?")
    meta = read_json(meta_path, "checkpoint metadata")
    _check_envelope(meta, meta_path)
    kinds = (kind,) if isinstance(kind, str) else kind
    if meta.get("kind") not in kinds:
        raise CheckpointError(
            f"{stem} holds a {meta.get('kind')!r} checkpoint, but a {' or '.join(map(repr, kinds))} is needed"
        )
    if not tensor_path.is_file():
        raise CheckpointError(f"checkpoint tensors {tensor_path} are missing")
    size = tensor_path.stat().st_size
    if size != meta.get("tensor_bytes"):
        raise CheckpointError(
            f"checkpoint tensors {tensor_path} have {size} bytes, the metadata says {meta.get('tensor_bytes')}: "
            "the file is truncated or from another run"
        )
    if _sha256(tensor_path) != meta.get("tensor_sha256"):
        raise CheckpointError(
            f"checkpoint tensors {tensor_path} do not match the SHA-256 recorded in {meta_path.name}: the file was "
            "changed, copied from another run, or written by a run that stopped between its two files. Restore "
            "both files from one save (or retrain)"
        )
    try:
        tensors = load_file(str(tensor_path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {tensor_path}: {exc}") from exc
    return tensors, meta


def check_shapes(module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Refuse when ``module``'s state (built on the meta device: no memory) and ``tensors`` differ in names or
    shapes, naming the first difference and ``where`` the spec came from."""
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(set(shapes) - set(tensors))
    extra = sorted(set(tensors) - set(shapes))
    wrong = [k for k in shapes if k in tensors and tuple(tensors[k].shape) != shapes[k]]
    if missing or extra or wrong:
        first = (
            f"{wrong[0]} is {tuple(tensors[wrong[0]].shape)} in the weights, {shapes[wrong[0]]} in the spec"
            if wrong
            else f"missing {missing[:3]}"
            if missing
            else f"unexpected {extra[:3]}"
        )
        raise CheckpointError(
            f"the architecture recorded in {where} does not fit its weights ({first}); the files "
            "are damaged or were edited"
        )


MAX_JSON_BYTES = 64 * 1024 * 1024  # metadata larger than this is not unlogit's


def read_json(path: Path, what: str = "metadata") -> Any:
    """A JSON file, or a :class:`CheckpointError` naming it: invalid JSON, not text, too large, or nested
    too deep to parse (JSON 200,000 levels deep would otherwise end in a RecursionError)."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(
                f"{what} {path} is {path.stat().st_size:,} bytes; unlogit's metadata is far "
                "smaller, so this file is not one of its own"
            )
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{what} {path} is not valid JSON ({exc}); the file is damaged") from exc
    except RecursionError as exc:
        raise CheckpointError(f"{what} {path} is nested too deeply to be unlogit's; the file is damaged") from exc
    except OSError as exc:
        raise CheckpointError(f"cannot read {what} {path}: {exc}") from exc


ENVELOPE = {
    "format": str,
    "format_version": int,
    "kind": str,
    "tensor_file": str,
    "tensor_bytes": int,
    "tensor_sha256": str,
}


def checkpoint_body(meta: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's metadata without the envelope :func:`save_checkpoint` adds (format, kind, version, the
    tensor file's name, size and SHA-256): what the caller saved, to read against its schema or save again."""
    return {k: v for k, v in meta.items() if k not in ENVELOPE and k != "unlogit_version"}


def _check_envelope(meta: Any, meta_path: Path) -> None:
    """The checkpoint fields every metadata file has, with their types (before any value is used)."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path} is not an unlogit checkpoint (no format={FORMAT!r} field)")
    for key, tp in ENVELOPE.items():
        value = meta.get(key)
        if not isinstance(value, tp) or isinstance(value, bool):
            raise CheckpointError(
                f"{meta_path}: field {key!r} is {value!r}, not a {tp.__name__}; the file is "
                "damaged or from another program"
            )
    if meta["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path} was written by a newer unlogit (format {meta['format_version']}); upgrade unlogit"
        )


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (used to identify weights in metric records)."""
    return _sha256(Path(path))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def split_prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Tensors whose key starts with ``prefix + '/'``, with the prefix removed."""
    p = prefix + "/"
    return {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Add ``prefix + '/'`` to every key."""
    return {f"{prefix}/{k}": v for k, v in tensors.items()}


def check_finite(tensors: dict[str, torch.Tensor], where: str) -> None:
    """Refuse weights holding NaN or infinity (a diverged or damaged save would make up every number computed
    from it): a :class:`CheckpointError` naming ``where`` and the first such tensor."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{where}: the weights {name!r} hold NaN or infinite values; the run diverged or the file was "
                "damaged, so nothing computed from it would mean anything (retrain, or restore an earlier copy)"
            )
