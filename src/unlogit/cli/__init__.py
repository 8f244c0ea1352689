"""The ``unlogit`` command line: one console script, one subcommand per job.

One module per command group (:mod:`.classifier`, :mod:`.inversion`, :mod:`.measure`, :mod:`.study`,
:mod:`.serve`, :mod:`.data`); each registers its subcommands and its handlers only parse arguments
and call the library. Nothing here imports torch at module level, so ``unlogit --help`` is instant.
Errors the user can fix (:class:`~unlogit.errors.UnlogitError`) are printed without a traceback and
exit with status 2.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from ..errors import UnlogitError
from ..version import __version__
from . import classifier, data, inversion, measure, serve, study
from .options import Handler

COMMAND_GROUPS = (classifier, inversion, measure, data, study, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unlogit",
        description="Reconstruct images from a frozen classifier's logits and measure what the logits keep.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Start with `unlogit demo`. Each subcommand has --help with an example.",
    )
    parser.add_argument("--version", action="version", version=f"unlogit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, handler: Handler, help_: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler)
        return p

    for group in COMMAND_GROUPS:
        group.register(add)
    parser.set_defaults(subparsers=sub.choices)
    return parser


# What the machine refused when a file was written, and what to do (every write is atomic: nothing half-made).
WRITE_ERRNOS = {
    errno.ENOSPC: "free some disk space and run the command again",
    errno.EDQUOT: "the disk quota is full: free some space and run the command again",
    errno.EROFS: "the file system is read-only: choose another --out",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``unlogit`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse takes one run of positionals: KEY=VALUE overrides after an option (``--out RUN
    # train.lr=1e-4``) arrive here and are still overrides; anything else is an error.
    if extra and hasattr(args, "overrides") and all("=" in tok and not tok.startswith("-") for tok in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:  # the subcommand's own usage, not the top level's
        sub = args.subparsers.get(args.command, parser)
        hint = " (config keys go as KEY=VALUE, e.g. train.epochs=1)" if any(e.startswith("--") for e in extra) else ""
        sub.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    try:
        return int(args.handler(args) or 0)
    except UnlogitError as exc:
        print(f"unlogit: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        print(
            f"unlogit: error: cannot write {exc.filename or 'a file'}: {exc.strerror}; {WRITE_ERRNOS[exc.errno]}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("unlogit: interrupted; resume with --resume --out RUN_DIR", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
