"""The package version (one place; ``unlogit --version`` and run.json read it)."""

__version__ = "0.1.0"
