"""biotag's command line: a thin layer over the public API (the library never imports it)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd

from biotag.cli.inputs import (corpus_size, devices, is_fasta, positive_float, positive_int, read_sequences, read_table,
                               seeds, threads)
from biotag.utils import DTYPE_CHOICES

# 0: done; 1: done, but some input rows were invalid or some benchmark cells failed (each is reported).
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate and canonicalize a CSV column or a FASTA file; exit 1 if any row is invalid."""
    from biotag.domains import ProteinFeaturizer, SmilesFeaturizer, read_fasta
    from biotag.exceptions import InvalidInputError

    path = Path(args.input)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {str(path)!r}")
    if args.domain == "smiles":
        featurizer = SmilesFeaturizer(max_length=args.max_length, wildcards=args.wildcards)
    else:
        featurizer = ProteinFeaturizer(nonstandard=args.nonstandard, max_length=args.max_length)

    if is_fasta(path):
        records = read_fasta(path)
        frame = pd.DataFrame(records, columns=["id", "sequence"])
        column = "sequence"
    else:
        frame, column = read_table(path, args.column)
    values = frame[column].tolist()
    reasons: dict[int, str] = {}
    try:
        canonical = featurizer.set_params(errors="raise").transform(values)
    except InvalidInputError as exc:
        reasons = {issue.index: issue.reason for issue in exc.issues}
        canonical = featurizer.set_params(errors="nan").transform(values)

    out_col = f"{column}_canonical"
    frame[out_col] = canonical
    out = Path(args.out) if args.out else path.with_name(path.stem + ".canonical.csv")
    frame.to_csv(out, index=False)
    report = Path(args.report) if args.report else path.with_name(path.stem + ".invalid.csv")
    pd.DataFrame(
        {"row": list(reasons), "value": [values[i] for i in reasons], "reason": list(reasons.values())}
    ).to_csv(report, index=False)
    print(f"{len(values)} rows, {len(values) - len(reasons)} valid, {len(reasons)} invalid")
    print(f"canonical column {out_col!r} written to {out}")
    print(f"invalid-row report written to {report}")
    for i, reason in list(reasons.items())[:10]:
        print(f"  row {i}: {values[i]!r}: {reason}")
    return EXIT_SOME_FAILED if reasons else EXIT_OK


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
    from biotag.tags import TagLibrary, load_base_model
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


def cmd_demo(args: argparse.Namespace) -> int:
    """A small end-to-end run on the default model (see biotag/demo.py)."""
    from biotag.demo import run_demo

    return run_demo(n_train=args.n_train, epochs=args.epochs, out=args.out, data=args.data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="biotag", description="Tag-LLM for chemistry and biology.")
    sub = parser.add_subparsers(dest="command", required=True)

    val = sub.add_parser("validate", help="validate and canonicalize a CSV/TSV column or a FASTA file")
    val.add_argument("input", help="CSV/TSV file (choose the column with --column) or FASTA file")
    val.add_argument("--domain", choices=["smiles", "protein"], required=True)
    val.add_argument("--column", help="column holding the SMILES/sequences (CSV input)")
    val.add_argument("--out", help="output CSV (default: INPUT.canonical.csv)")
    val.add_argument("--report", help="invalid-row report CSV (default: INPUT.invalid.csv)")
    val.add_argument("--max-length", type=int, default=None, help="reject longer values")
    val.add_argument("--wildcards", action="store_true", help="smiles: accept '*' atoms (polymer ends, R groups)")
    val.add_argument("--nonstandard", choices=["raise", "keep", "x"], default="raise",
                     help="protein: ambiguous/rare residues B, Z, J, X, U, O")
    val.set_defaults(func=cmd_validate)

    train = sub.add_parser("train", help="the Tag-LLM stages from a JSON/YAML file; alone, or under torchrun / "
                                         "accelerate launch (data-parallel); a rerun resumes")
    train.add_argument("config", help="protocol file (.json, .yaml): model, output, stages (see examples/)")
    train.add_argument("--output", default=None, help="write the stages here instead of the file's 'output'")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(func=cmd_train)

    _add_tags_commands(sub)
    _add_demo_command(sub)
    _add_benchmark_commands(sub)
    return parser


def _add_tags_commands(sub) -> None:
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
    pre.add_argument("--p", type=positive_int, default=3, metavar="N",
                     help="vectors per tag (default 3, as the estimators' new tags; the paper's is 10)")
    pre.add_argument("--epochs", type=int, default=1)
    pre.add_argument("--lr", type=float, default=1e-3)
    pre.add_argument("--batch-size", type=int, default=16)
    pre.add_argument("--val-fraction", type=float, default=0.1)
    pre.add_argument("--max-samples", type=int, default=None, help="use a random subset of this size")
    pre.add_argument("--max-length", type=int, default=1000, help="protein: truncate longer sequences (warns)")
    pre.add_argument("--tokenization", choices=["model", "char"], default="model")
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto",
                     help="the frozen model's precision (default auto: bfloat16 where the hardware runs it natively, "
                          "else float32); the tag trains in float32")
    pre.add_argument("--device", default="auto", help="torch device (default auto: the GPU if there is one)")
    pre.set_defaults(func=cmd_tags_pretrain)

    ins = tags.add_parser("inspect", help="show a tag library's tags, base model and nearest tokens")
    ins.add_argument("library", help="tag library directory")
    ins.add_argument("--neighbors", type=int, default=5, help="nearest vocabulary tokens per vector (0: skip)")
    ins.add_argument("--model", default=None, help="base model to load (default: the one the library names)")
    ins.set_defaults(func=cmd_tags_inspect)


def _add_demo_command(sub) -> None:
    demo = sub.add_parser("demo", help="small end-to-end Tag-LLM run on the default model (Caco2 permeability)")
    demo.add_argument("--n-train", type=int, default=None, help="use a random subset of the training molecules")
    demo.add_argument("--epochs", type=int, default=6)
    demo.add_argument("--out", default="biotag-demo", help="where the trained tag library goes")
    demo.add_argument("--data", default=None, help="data directory (default: $BIOTAG_DATA_DIR)")
    demo.set_defaults(func=cmd_demo)


def _add_benchmark_commands(sub) -> None:
    bench = sub.add_parser("benchmark", help="TDC benchmarks: Tag-LLM against expert and LLM baselines")
    bench_sub = bench.add_subparsers(dest="benchmark_command", required=True)
    run = bench_sub.add_parser("run", help="run or resume a benchmark; finished cells are skipped")
    run.add_argument("--quick", action="store_true",
                     help="two small tasks, one seed, two epochs, no stage 1 (a few minutes on 2 cores)")
    run.add_argument("--tasks", default=None,
                     help="comma-separated task names, or the groups small / admet / all (default: small)")
    run.add_argument("--models", default=None, help="comma-separated model names (see `biotag benchmark list`)")
    run.add_argument("--seeds", type=seeds, default=None, help="comma-separated seeds (default: 1,2,3,4,5)")
    run.add_argument("--epochs", type=int, default=None, help="epochs of the LLM models (default 10; quick 2)")
    run.add_argument("--p", type=positive_int, default=None, metavar="N",
                     help="vectors per new Tag-LLM tag, domain and function (default 3, the estimators'; paper: 10)")
    run.add_argument("--domain-p", type=positive_int, default=None, metavar="N",
                     help="vectors of each Tag-LLM domain tag, trained in stage 1 or not, if not --p's")
    run.add_argument("--prompt-tokens", type=positive_int, default=None, metavar="N",
                     help="prompt tuning's virtual tokens (default 20: the paper's two 10-vector tags)")
    run.add_argument("--lr", type=positive_float, default=None, help="Tag-LLM's learning rate (default 3e-3)")
    run.add_argument("--corpus", type=corpus_size, default=None,
                     help="stage-1 corpus size, or 'all' (every molecule in no test set; default 2000; quick 160); "
                          "implies --pretrain")
    stage1 = run.add_mutually_exclusive_group()
    stage1.add_argument("--pretrain", dest="pretrain", action="store_true", default=None,
                        help="stage-1 domain tags trained first (the default, except with --quick)")
    stage1.add_argument("--no-pretrain", dest="pretrain", action="store_false",
                        help="no stage-1 domain tags (untrained tags per task)")
    stage1.add_argument("--shipped-tags", dest="pretrain", action="store_const", const="shipped",
                        help="the domain tags biotag ships, as the estimators start (the default with --quick)")
    prefixes = run.add_mutually_exclusive_group()
    prefixes.add_argument("--no-prefix-cache", action="store_true",
                          help="recompute Tag-LLM's frozen prefixes for every seed (default: kept on disk for the run)")
    prefixes.add_argument("--prefix-cache", metavar="DIR", default=None,
                          help="keep Tag-LLM's frozen prefixes in DIR after the run, so a resumed run reuses them "
                               "(default: a temporary folder, removed task by task)")
    run.add_argument("--dtype", choices=DTYPE_CHOICES, default="auto",
                     help="the frozen model's precision in Tag-LLM and linear-probe cells (auto, the default: bfloat16 "
                          "where the hardware runs it natively, e.g. CPUs with AVX512-BF16 or AMX, about 3x faster; "
                          "float32 elsewhere; each cell records its own; PEFT baselines: float32)")
    run.add_argument("--prefix-memory", type=float, default=0.5, metavar="FRACTION",
                     help="share of the available memory a Tag-LLM cell may load its cached prefixes into; beyond "
                          "it they are read from disk per batch (default 0.5; lower it to run benchmarks side by "
                          "side, 0 always reads from disk; speed only)")
    run.add_argument("--n-jobs", "--jobs", dest="n_jobs", type=threads, default=2, metavar="N",
                     help="threads of the random forests and CatBoost (default 2; -1: every core; speed only, "
                          "recorded with each of their cells)")
    run.add_argument("--devices", type=devices, default=None, metavar="LIST",
                     help="run one cell per device at a time, e.g. cuda:0,cuda:1 (default: one cell at a time on "
                          "this process's device; under torchrun each process runs its share of the cells)")
    run.add_argument("--verbose", "-v", action="store_true",
                     help="show each cell's own progress too: prefixes, epochs, probe features, PEFT steps")
    run.add_argument("--out", default="benchmark-results", help="results directory (resumed if it exists)")
    run.add_argument("--data", default=None, help="data directory (default: $BIOTAG_DATA_DIR; else PyTDC downloads)")
    run.set_defaults(func=cmd_benchmark_run)
    rep = bench_sub.add_parser("report", help="write report.md and report.png from results directories")
    rep.add_argument("results", nargs="+", help="results directories")
    rep.add_argument("--out", required=True)
    rep.add_argument("--data", default=None)
    rep.set_defaults(func=cmd_benchmark_report)
    lst = bench_sub.add_parser("list", help="the tasks and models a benchmark can run")
    lst.set_defaults(func=cmd_benchmark_list)


@contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM (``kill``, a batch scheduler's time limit) exits like Ctrl-C does, through ``finally``: a long
    benchmark stopped that way still removes its scratch prefix cache (gigabytes) and the running cell's
    temporary folder. Python's default would end the process on the spot. The main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_benchmark_run(args: argparse.Namespace) -> int:
    """Run or resume a benchmark (see biotag/benchmark/suite.py) and write its report."""
    from biotag.benchmark.suite import benchmark

    with _sigterm_exits():
        results = benchmark(
            args.out, tasks=args.tasks, models=args.models.split(",") if args.models else None,
            seeds=args.seeds, quick=args.quick,
            epochs=args.epochs, p=args.p, domain_p=args.domain_p,
            prompt_tokens=args.prompt_tokens, lr=args.lr, corpus=args.corpus,
            pretrain=args.pretrain, data_path=args.data,
            prefix_cache=args.prefix_cache or not args.no_prefix_cache, dtype=args.dtype,
            prefix_memory=args.prefix_memory,
            n_jobs=args.n_jobs, devices=args.devices, verbose=args.verbose,
        )
    failed = results[results["status"] != "ok"] if not results.empty else results
    print(f"{len(results) - len(failed)} cells done, {len(failed)} failed; results in {args.out}")
    for row in failed.itertuples():
        print(f"  FAILED {row.task} / {row.model} / seed {row.seed}: {row.error}")
    if (Path(args.out) / "report.md").is_file():
        print(f"report: {Path(args.out) / 'report.md'}")
    return EXIT_OK if failed.empty else EXIT_SOME_FAILED


def cmd_benchmark_report(args: argparse.Namespace) -> int:
    from biotag.benchmark.report import write_report

    print(f"report: {write_report(args.results, args.out, data_path=args.data)}")
    return EXIT_OK


def cmd_benchmark_list(args: argparse.Namespace) -> int:
    from biotag.benchmark import MODELS, TASKS

    print("tasks:")
    for task in TASKS.values():
        print(f"  {task.name:<34} {task.kind:<10} {task.metric:<9} {task.size:>6} rows  {'+'.join(task.domains)}")
    print("models: " + ", ".join(MODELS))
    return EXIT_OK


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
