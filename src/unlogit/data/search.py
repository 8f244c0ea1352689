"""Where datasets are looked for, and the error raised when they are not found."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import DataNotFoundError

ENV_VAR = "UNLOGIT_DATA"


def cache_root() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/unlogit/data`` (``~/.cache/unlogit/data``), on the search path."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "unlogit" / "data"


def search_roots(data_root: str | os.PathLike[str] | None) -> list[Path]:
    """Roots searched in order: ``--data-root``, ``$UNLOGIT_DATA``, ``./data``, the download cache."""
    roots: list[Path] = []
    if data_root:
        roots.append(Path(data_root).expanduser())
    if os.environ.get(ENV_VAR):
        roots.extend(Path(p).expanduser() for p in os.environ[ENV_VAR].split(os.pathsep) if p)
    roots.append(Path("data"))
    roots.append(cache_root())
    seen: list[Path] = []
    for r in roots:
        if r not in seen:
            seen.append(r)
    return seen


def first_existing(candidates: Iterable[Path]) -> Path | None:
    """The first candidate path that exists."""
    for c in candidates:
        if c.exists():
            return c
    return None


def not_found(name: str, looked: Iterable[Path], how: str) -> DataNotFoundError:
    """One clear error listing every place searched and how to get the data."""
    places = "\n".join(f"  - {p}" for p in looked)
    return DataNotFoundError(
        f"dataset {name!r} not found. Looked in:\n{places}\nHow to get it: {how}\n"
        f"Point unlogit at it with --data-root DIR or the {ENV_VAR} environment variable."
    )
