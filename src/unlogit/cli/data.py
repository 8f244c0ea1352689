"""``unlogit datasets``."""

from __future__ import annotations

import argparse

from .options import AddCommand


def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data.registry import list_datasets

    for name, summary in list_datasets().items():
        print(f"{name:18s} {summary}")
    return 0


def register(add: AddCommand) -> None:
    add("datasets", cmd_datasets, "list the dataset registry", "unlogit datasets")
