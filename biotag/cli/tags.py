"""`biotag tags`: stage 1 (`pretrain`) and a tag library's contents (`inspect`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from biotag.cli.exit_codes import EXIT_OK
from biotag.cli.inputs import positive_int, read_sequences
from biotag.config import DTYPE_CHOICES, Stage1Config, TagLLMConfig


def cmd_tags_pretrain(args: argparse.Namespace) -> int:
    """Stage 1: train a domain tag on unlabeled sequences and write a tag library."""
    from biotag.domains import DOMAIN_TAGS
    from biotag.training import pretrain_library, stage1_corpus

    path = Path(args.input)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {str(path)!r}")
    sequences = stage1_corpus(read_sequences(path, args.column), args.domain, max_samples=args.max_samples,
                              seed=args.seed, max_length=args.max_length)  # raises, naming every bad row
    tag = args.tag or DOMAIN_TAGS[args.domain]
    library, histories = pretrain_library(
        args.model, {args.domain: sequences}, init=args.init, tags={args.domain: tag}, dtype=args.dtype,
        device=args.device, tokenization=args.tokenization, p=args.p, epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, val_fraction=args.val_fraction, seed=args.seed)
    n_val = int(round(len(sequences) * args.val_fraction))
    out = library.save(args.out)
    print(f"stage 1 on {len(sequences) - n_val} {args.domain} sequences ({n_val} validation): {tag} p={args.p}")
    for rec in histories[args.domain].epochs:
        print("  " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()))
    print(f"tag library written to {out}")
    return EXIT_OK


def cmd_tags_inspect(args: argparse.Namespace) -> int:
    """Show a tag library: tags, shapes, base model, nearest vocabulary tokens."""
    from biotag.tags import TagLibrary
    from biotag.backbone import load_base_model
    from biotag.tags.nearest import nearest_tokens

    library = TagLibrary.load(args.library)
    meta = library.metadata()
    print(f"tag library {args.library}")
    print(f"  base model: {meta['base_model']['id']} (embedding fingerprint "
          f"{meta['base_model']['embedding_fingerprint']}, width {meta['base_model']['hidden_size']})")
    print(f"  written by biotag {meta['biotag_version']}")
    for spec in library.specs.values():
        norms = library.tags[spec.name].detach().norm(dim=1)
        print(f"  {spec.name:<20} {spec.kind:<8} shape {tuple(library.tags[spec.name].shape)}  "
              f"vector norms {norms.min():.3f}..{norms.max():.3f}")
    for name, head in library.heads.items():
        print(f"  head {name}: {head.config()}")
    if args.neighbors:
        model, tokenizer = load_base_model(args.model or meta["base_model"]["id"])
        for name, rows in nearest_tokens(library, model, tokenizer, k=args.neighbors).items():
            print(f"  nearest tokens of {name}:")
            for i, row in enumerate(rows):
                print(f"    vector {i}: " + ", ".join(f"{tok!r} ({cos:.2f})" for tok, cos in row))
    return EXIT_OK


def add_tags_commands(sub) -> None:
    tags = sub.add_parser("tags", help="train and inspect tag libraries").add_subparsers(dest="tags_command",
                                                                                        required=True)
    pre = tags.add_parser("pretrain", help="stage 1: train a domain tag on unlabeled sequences")
    pre.add_argument("--domain", choices=["smiles", "protein"], required=True)
    pre.add_argument("--input", required=True, help="text file (one sequence a line), CSV/TSV (--column) or FASTA")
    pre.add_argument("--column", help="column of a CSV/TSV input")
    pre.add_argument("--out", required=True, help="directory for the tag library")
    pre.add_argument("--model", default=None, help="Hugging Face id or path (default: the offline default model)")
    pre.add_argument("--tag", default=None, help="tag name (default <SMILES> / <Protein>)")
    pre.add_argument("--init", default=None, help="start from this tag library (adds to it)")
    stage1 = Stage1Config()
    pre.add_argument("--p", type=positive_int, default=stage1.p, metavar="N",
                     help=f"vectors per tag (default {stage1.p}, as the estimators' new tags; the paper's is 10)")
    pre.add_argument("--epochs", type=positive_int, default=stage1.epochs)
    pre.add_argument("--lr", type=float, default=stage1.lr)
    pre.add_argument("--batch-size", type=positive_int, default=stage1.batch_size)
    pre.add_argument("--val-fraction", type=float, default=stage1.val_fraction)
    pre.add_argument("--max-samples", type=int, default=None, help="use a random subset of this size")
    pre.add_argument("--max-length", type=int, default=1000, help="protein: truncate longer sequences (warns)")
    pre.add_argument("--tokenization", choices=["model", "char"], default="model")
    pre.add_argument("--seed", type=int, default=stage1.seed)
    pre.add_argument("--dtype", choices=DTYPE_CHOICES, default=TagLLMConfig.dtype,
                     help="the frozen model's precision (default auto: bfloat16 where the hardware runs it natively, "
                          "else float32); the tag trains in float32")
    pre.add_argument("--device", default=TagLLMConfig.device, help="torch device (default auto: the GPU if there is one)")
    pre.set_defaults(func=cmd_tags_pretrain)

    ins = tags.add_parser("inspect", help="show a tag library's tags, base model and nearest tokens")
    ins.add_argument("library", help="tag library directory")
    ins.add_argument("--neighbors", type=int, default=5, help="nearest vocabulary tokens per vector (0: skip)")
    ins.add_argument("--model", default=None, help="base model to load (default: the one the library names)")
    ins.set_defaults(func=cmd_tags_inspect)
