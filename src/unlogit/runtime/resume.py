"""What ``--resume`` may change: the new config is compared with the run's before anything is written.

A change that keeps the run exact (a longer budget, a different log cadence, the progress bar) is
allowed and recorded in ``metrics.jsonl``; any other change is refused with the keys named, because the
resumed run would no longer be the run its checkpoint belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import UnlogitError

# key -> check(old, new) returning None when the change is safe, else the reason it is not
SafeChanges = Mapping[str, Callable[[Any, Any], str | None]]


def always(_old: Any, _new: Any) -> str | None:
    return None


def not_shorter(old: Any, new: Any) -> str | None:
    if old is not None and (new is None or new < old):
        return f"it may only grow ({old} -> {new})"
    return None


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> {dotted.key: leaf}."""
    if not isinstance(tree, Mapping):
        return {prefix.rstrip("."): tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(flatten(v, f"{prefix}{k}."))
    return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (old value, new value) for every leaf that differs."""
    a, b = flatten(old), flatten(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def check_resume(changes: Mapping[str, tuple[Any, Any]], safe: SafeChanges) -> None:
    """Raise a clear error listing every change that would break an exact resume."""
    refused = []
    for key, (old, new) in changes.items():
        why = safe[key](old, new) if key in safe else "it changes what the checkpoint was trained with"
        if why:
            refused.append(f"{key}: {old!r} -> {new!r} ({why})")
    if refused:
        raise UnlogitError(
            "cannot resume with a different config; these changes would make the resumed run no longer exact:\n  "
            + "\n  ".join(refused)
            + "\nResume with the run's own settings (its config.yaml), or start a new run with another --out"
        )
