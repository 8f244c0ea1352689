"""Progress bars (tqdm with ETA) that stay quiet when output is not a terminal."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], enabled: bool = True, **kwargs: Any) -> tqdm:
    """``tqdm(iterable)``; disabled when ``enabled`` is false, automatic (TTY only) otherwise."""
    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, disable=None if enabled else True, **kwargs)
