"""Docs that name the code's vocabulary stay equal to it."""

from __future__ import annotations

from pathlib import Path

from unlogit.scoring.measure import quantity_table

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_architecture_doc_lists_every_quantity_as_the_code_defines_it():
    assert quantity_table() in (DOCS / "architecture.md").read_text()


def test_the_cli_spec_forms_are_the_registrys():
    from unlogit.classifiers.registry import spec_forms
    from unlogit.cli.options import SPEC_FORMS

    assert SPEC_FORMS == spec_forms()
