"""One registry idiom for every named choice: methods, experiments, architectures, datasets, classifier
sources, quantities and claim endpoints.

::

    METHODS: Registry[Method] = Registry("inversion method")
    METHODS.register("gan", Method(...))        # or as a decorator: @EXPERIMENTS.register("noise")
    METHODS.get("gna")   # ConfigError: unknown inversion method 'gna'; did you mean 'gan'? choose one of [...]
    METHODS.names()      # registration order

Entries are kept in registration order (that order is meaningful where sources are matched in turn).
A name is registered once; registering it again is a programming error, not a user error.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from ..errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> entry, with a did-you-mean error for unknown names.

    Args:
        kind: what the entries are, in words (``"inversion method"``); every error message names it.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...
    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name: str, entry: T | None = None):  # type: ignore[no-untyped-def]
        """Add ``entry`` under ``name`` (returns it); without ``entry``, a decorator that registers what it
        decorates."""
        if entry is None:
            return lambda item: self.register(name, item)
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry for ``name``, or a :class:`~unlogit.errors.ConfigError` that suggests the nearest names and
        lists them all."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ConfigError(self.unknown(name)) from None

    def unknown(self, name: object) -> str:
        """The message for an unknown ``name``: nearest names first, then every name."""
        close = difflib.get_close_matches(str(name), list(self._entries), n=2, cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        return f"unknown {self.kind} {name!r}; {hint}choose one of {self.names()}"

    def unregister(self, name: str) -> T:
        """Remove ``name`` (a plug-in that is unloaded, a test that cleans up); returns its entry."""
        return self._entries.pop(name)

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def values(self) -> list[T]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
