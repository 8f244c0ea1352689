"""Errors the user can act on.

Every error raised for bad input is an :class:`UnlogitError` whose message names the problem and
the fix. The CLI prints the message (no traceback) and exits with status 2.
"""

from __future__ import annotations


class UnlogitError(Exception):
    """A problem with the user's input, data or files, with a message that says how to fix it."""


class ConfigError(UnlogitError, ValueError):
    """An invalid configuration key or value."""


class DataNotFoundError(UnlogitError, FileNotFoundError):
    """A dataset could not be found in any of the places searched."""


class CheckpointError(UnlogitError):
    """A checkpoint or run directory is missing, truncated, foreign or of the wrong kind."""


class TrainingDivergedError(UnlogitError):
    """Training produced NaN/Inf; the last good checkpoint is kept."""
