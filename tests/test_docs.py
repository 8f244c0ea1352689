"""Docs that name the code's vocabulary stay equal to it."""

from __future__ import annotations

from pathlib import Path

from unlogit.scoring.measure import quantity_table

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_architecture_doc_lists_every_quantity_as_the_code_defines_it():
    assert quantity_table() in (DOCS / "architecture.md").read_text()
