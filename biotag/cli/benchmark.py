"""`biotag benchmark`: run, report and list TDC benchmarks."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from biotag.cli.exit_codes import EXIT_OK, EXIT_SOME_FAILED
from biotag.cli.inputs import (corpus_size, devices, library_dir, options, positive_float, positive_int, seeds,
                               threads)
from biotag.config import DTYPE_CHOICES, PREFIX_MEMORY, TagLLMConfig


def add_benchmark_commands(sub) -> None:
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
    run.add_argument("--tagllm-args", type=options, default=None, metavar="NAME=VALUE,...", help="Tag-LLM options, "
                     "e.g. head_init=probe,lr=1e-3/3e-3: cells named tagllm[head_init=probe,lr=0.001/0.003]")
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
    stage1.add_argument("--domain-tags", dest="pretrain", type=library_dir, metavar="DIR",
                        help="the domain tags of a saved tag library (biotag tags pretrain's output, or a library "
                             "a knowledge stage taught)")
    prefixes = run.add_mutually_exclusive_group()
    prefixes.add_argument("--no-prefix-cache", action="store_true",
                          help="recompute Tag-LLM's frozen prefixes for every seed (default: kept on disk for the run)")
    prefixes.add_argument("--prefix-cache", metavar="DIR", default=None,
                          help="keep Tag-LLM's frozen prefixes in DIR after the run, so a resumed run reuses them "
                               "(default: a temporary folder, removed task by task)")
    run.add_argument("--dtype", choices=DTYPE_CHOICES, default=TagLLMConfig.dtype,
                     help="the frozen model's precision in Tag-LLM and linear-probe cells (auto, the default: bfloat16 "
                          "where the hardware runs it natively, e.g. CPUs with AVX512-BF16 or AMX; "
                          "float32 elsewhere; each cell records its own; PEFT baselines: float32)")
    run.add_argument("--prefix-memory", type=float, default=PREFIX_MEMORY, metavar="FRACTION",
                     help="share of the available memory a Tag-LLM cell may load its cached prefixes into; beyond "
                          "it they are read from disk per batch (default %(default)s; lower it to run benchmarks side by "
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
    run.add_argument("--data", default=None, help="data directory (default: $BIOTAG_DATA_DIR, else ../shared/data; never downloaded)")
    run.set_defaults(func=cmd_benchmark_run)
    _add_report_and_list(bench_sub)


def _add_report_and_list(bench_sub) -> None:
    rep = bench_sub.add_parser("report", help="write report.md and report.png from results directories")
    rep.add_argument("results", nargs="+", help="results directories")
    rep.add_argument("--out", required=True)
    rep.add_argument("--data", default=None)
    rep.set_defaults(func=cmd_benchmark_report)
    lst = bench_sub.add_parser("list", help="the tasks and models a benchmark can run")
    lst.set_defaults(func=cmd_benchmark_list)


class Stopped(BaseException):
    """A benchmark stopped by a signal (SIGTERM: ``kill``, a scheduler's time limit; SIGINT: Ctrl-C)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGTERM and SIGINT stop a benchmark through ``finally``: the running cell's child is stopped within seconds,
    the scratch prefix cache (gigabytes) and the cell's temporary folder are removed, every finished cell stays in
    results.jsonl. Python's default would end the process on the spot (SIGTERM) or wait for the cell (Ctrl-C). The
    main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Stopped(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def cmd_benchmark_run(args: argparse.Namespace) -> int:
    """Run or resume a benchmark (see biotag/benchmark/suite.py) and write its report."""
    from biotag.benchmark.suite import benchmark

    try:
        with _signals_stop():
            results = benchmark(
                args.out, tasks=args.tasks, models=args.models.split(",") if args.models else None,
                seeds=args.seeds, quick=args.quick,
                epochs=args.epochs, p=args.p, domain_p=args.domain_p,
                prompt_tokens=args.prompt_tokens, lr=args.lr, corpus=args.corpus,
                pretrain=args.pretrain, data_path=args.data,
                prefix_cache=args.prefix_cache or not args.no_prefix_cache, dtype=args.dtype,
                prefix_memory=args.prefix_memory,
                n_jobs=args.n_jobs, devices=args.devices, verbose=args.verbose, tagllm_args=args.tagllm_args,
            )
    except Stopped as stop:
        name = signal.Signals(stop.signum).name
        print(f"\nbiotag: stopped by {name}; every finished cell is in {args.out}, and the same command resumes",
              file=sys.stderr)
        return 128 + stop.signum
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
    print("task groups: small (ADMET tasks of about 2,000 rows at most), admet (the 22 ADMET tasks), all")
    print("models: " + ", ".join(name for name, cls in MODELS.items() if not cls.results_only))
    from biotag.benchmark.models.tagllm import OPTIONS

    print("Tag-LLM options (--tagllm-args NAME=VALUE,...): " + ", ".join(OPTIONS))
    return EXIT_OK
