"""`biotag train`: the stages of a protocol file, in order; a rerun resumes."""

from __future__ import annotations

import argparse
from pathlib import Path

from biotag.cli.exit_codes import EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    """Run a protocol file's stages in order (see biotag/protocol.py); under a launcher the main process reports."""
    from biotag.parallel import is_main_process
    from biotag.protocol import load_protocol, run_protocol

    protocol = load_protocol(args.config)
    if args.output:
        protocol.output = Path(args.output).resolve()
    main = is_main_process()
    out = run_protocol(protocol, progress=main and not args.quiet, log=print if main else (lambda *a, **k: None))
    if main:
        print(f"tag library: {out}")
    return EXIT_OK


def add_train_command(sub) -> None:
    train = sub.add_parser("train", help="the Tag-LLM stages from a JSON/YAML file; alone, or under torchrun / "
                                         "accelerate launch (data-parallel); a rerun resumes")
    train.add_argument("config", help="protocol file (.json, .yaml): model, output, stages (see examples/)")
    train.add_argument("--output", default=None, help="write the stages here instead of the file's 'output'")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=cmd_train)
