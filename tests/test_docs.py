"""Docs that name the code's vocabulary stay equal to it."""

from __future__ import annotations

from pathlib import Path

from unlogit.scoring.measure import quantity_table

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_architecture_doc_lists_every_quantity_as_the_code_defines_it():
    assert quantity_table() in (DOCS / "architecture.md").read_text()


def test_the_cli_analyze_experiments_are_the_registrys():
    from unlogit.analysis import EXPERIMENTS
    from unlogit.cli.options import ANALYZE_EXPERIMENTS

    assert ANALYZE_EXPERIMENTS == tuple(EXPERIMENTS)


def test_the_cli_spec_forms_are_the_registrys():
    from unlogit.classifiers.registry import spec_forms
    from unlogit.cli.options import SPEC_FORMS

    assert SPEC_FORMS == spec_forms()


def _readme_commands() -> list[list[str]]:
    """Every ``unlogit ...`` command in the README's bash blocks, continuation lines joined, comments dropped."""
    import re
    import shlex

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("#"):
                continue
            for part in re.split(r"&&|\|", line):
                words = shlex.split(part.strip())
                while words and "=" in words[0] and not words[0].startswith("-"):
                    words = words[1:]  # VAR=value prefixes
                if words[:1] == ["time"]:
                    words = words[1:]
                if words[:1] == ["unlogit"]:
                    commands.append(words[1:])
    return commands


def test_every_readme_command_parses_in_the_current_argument_style(capsys):
    """The README's commands parse with the real parser, and none uses a deprecated positional form."""
    from unlogit.cli import build_parser

    commands = _readme_commands()
    assert len(commands) >= 15, commands
    parser = build_parser()
    for words in commands:
        args, extra = parser.parse_known_args(words)
        assert all("=" in e for e in extra), (words, extra)
        for old in ("spec", "runs"):  # the deprecated positionals of eval-classifier / evaluate
            assert not getattr(args, old, None), (
                f"README uses the deprecated positional form: unlogit {' '.join(words)}"
            )
        assert not getattr(args, "download", False), f"README uses the deprecated --download: {words}"


def test_architecture_doc_lists_every_logit_edit():
    import inspect

    from unlogit.inversion import edits

    text = (DOCS / "architecture.md").read_text()
    table = text[text.index("## The logit edits") : text.index("## Where to add")]
    public = {
        name
        for name, obj in vars(edits).items()
        if not name.startswith("_")
        and getattr(obj, "__module__", None) == edits.__name__
        and (inspect.isfunction(obj) or name == "LogitEdit")
        and name not in ("logit_units", "noise_draw")
    }
    listed = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert listed == public
