"""Atomic file writes: write to a temporary file in the same folder, fsync, then ``os.replace``."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step.

    If the body raises, the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike[str]) -> Iterator[list[Path]]:
    """Temporary paths next to each of ``paths``; when the body succeeds they replace their targets in the
    order given, one rename after the other (renames need no space: a full disk fails while the temporary
    files are written, and then no target is touched). If the body raises, every temporary file is removed."""
    with contextlib.ExitStack() as stack:
        temps = []
        for path in paths:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            temps.append(Path(tmp))
            stack.callback(lambda tmp_path=Path(tmp): tmp_path.unlink(missing_ok=True))
        yield temps
        for tmp in temps:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike[str], writer: Callable[[Path], Any]) -> None:
    """Call ``writer(tmp_path)`` then move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically."""
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write a JSON file atomically (indented, keys in insertion order)."""
    write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def open_own_file(path: str | os.PathLike[str], flags: int, mode: int = 0o644, purpose: str = "") -> int:
    """``os.open`` for a file a run or study owns (its lock, its log): never through a symlink, and only a
    regular file, so a folder shared by someone else cannot make unlogit write elsewhere or block on a FIFO.
    Refused with an :class:`~unlogit.errors.UnlogitError` that names the file (and ``purpose``, what opening it
    was for)."""
    from ..errors import UnlogitError

    path = Path(path)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode)
    except OSError as exc:
        if path.is_symlink():
            raise UnlogitError(
                f"{path} is a symbolic link; unlogit writes only a run's own files, never through a link "
                "(remove the link, or choose another --out)"
            ) from exc
        doing = purpose or f"open {path}"
        raise UnlogitError(f"cannot {doing}: {exc}; check its permissions, or choose another --out") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnlogitError(f"{path} is not a regular file; remove it, or choose another --out")
    os.set_blocking(fd, True)
    return fd
