"""`biotag demo`: one task, end to end, on the default model."""

from __future__ import annotations

import argparse


def cmd_demo(args: argparse.Namespace) -> int:
    """A small end-to-end run on the default model (see biotag/demo.py)."""
    from biotag.demo import run_demo

    return run_demo(n_train=args.n_train, epochs=args.epochs, out=args.out, data=args.data)


def add_demo_command(sub) -> None:
    demo = sub.add_parser("demo", help="small end-to-end Tag-LLM run on the default model (Caco2 permeability)")
    demo.add_argument("--n-train", type=int, default=None, help="use a random subset of the training molecules")
    demo.add_argument("--epochs", type=int, default=6)
    demo.add_argument("--out", default="biotag-demo", help="where the trained tag library goes")
    demo.add_argument("--data", default=None, help="data directory (default: $BIOTAG_DATA_DIR)")
    demo.set_defaults(func=cmd_demo)
