"""What a report may read and how it names what it writes: inputs only from inside the folder being reported,
output names as single file-name components (names inside claim.json or a study config come from a file)."""

from __future__ import annotations

from pathlib import Path

from ..config import NAME_CHARACTERS


def inside(folder: Path, name: object) -> Path | None:
    """``folder/name`` when it is a file of the folder being reported: a relative name, no symbolic link, resolved
    inside ``folder``. Anything else (an absolute path, ``../``, a link to elsewhere) is never embedded, so a
    shared results folder cannot put a local file into a page meant to be mailed."""
    if not isinstance(name, str) or not name or len(name) > 1024 or "\x00" in name or Path(name).is_absolute():
        return None
    path = folder / name
    try:
        if path.is_symlink() or not path.resolve().is_relative_to(folder.resolve()) or not path.is_file():
            return None
    except (OSError, RuntimeError):  # a name too long for the file system, a link loop
        return None
    return path


def safe_name(text: str) -> str:
    """``text`` as one file-name component: letters, digits, ``.``, ``_`` and ``-`` kept, the rest ``_``."""
    cleaned = "".join(c if c in NAME_CHARACTERS else "_" for c in str(text))
    return cleaned.strip(".") or "_"
