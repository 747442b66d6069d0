"""The `biotag` command: one parser, a module per command group, and one line for a user's mistake."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import pandas as pd

from biotag.cli.benchmark import add_benchmark_commands
from biotag.cli.demo import add_demo_command
from biotag.cli.exit_codes import EXIT_USAGE
from biotag.cli.tags import add_tags_commands
from biotag.cli.train import add_train_command
from biotag.cli.validate import add_validate_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="biotag", description="Tag-LLM for chemistry and biology.")
    sub = parser.add_subparsers(dest="command", required=True)

    for add in (add_validate_command, add_train_command, add_tags_commands, add_demo_command,
                add_benchmark_commands):
        add(sub)
    return parser


#: Mistakes in what a user passed (a missing or unreadable file, a malformed table, a value out of range): one
#: line on stderr and exit status 2, argparse's convention; a traceback is for biotag's own faults.
USER_ERRORS = (ValueError, KeyError, OSError, UnicodeDecodeError, pd.errors.EmptyDataError, pd.errors.ParserError)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except USER_ERRORS as err:
        if os.environ.get("BIOTAG_DEBUG"):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"biotag: error: {message}", file=sys.stderr)
        return EXIT_USAGE
