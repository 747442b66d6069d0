"""Tag-LLM's prefix cache: a benchmark seed with its prefixes read from disk, against the same seed computed.

Seeds of a TDC task share their molecules (only the train/valid split moves), so the frozen prefixes
that seed 1 computed serve seeds 2-5. In one run, on the default model: seed 2 without the cache
(baseline), seed 1 with an empty cache (writes it), seed 2 with the filled cache. Writes seconds
(fit + predict), the speedup of the cached seed over its baseline, the largest prediction difference
between the two and the cache's size on disk.

    python benchmarks/results/prefix-cache/prefix_cache.py --task hia_hou --out benchmarks/results/prefix-cache/prefix-cache.json

The cells run the benchmark's ``tagllm_paper`` model with 10-vector tags (the setting these figures were first
measured with: the head reading the function tag alone, started at random; 3 epochs at lr 3e-3).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from biotag.benchmark import Settings, get_task, load_split, make_model


def seed_run(task, seed: int, args, prefix_cache: str | None) -> tuple[float, np.ndarray]:
    """One benchmark cell of ``tagllm_paper`` (10-vector tags): seconds (fit + predict) and test predictions."""
    split = load_split(task, seed)
    if args.n is not None:
        split = dataclasses.replace(split, X_train=split.X_train[: args.n], y_train=split.y_train[: args.n])
    domain_tags = {d: args.domain_tags for d in task.domains} if args.domain_tags else {}
    settings = Settings(epochs=args.epochs, p=10, lr=3e-3, domain_tags=domain_tags, prefix_cache=prefix_cache)
    start = time.perf_counter()
    pred = make_model("tagllm_paper", task, seed, settings).fit(split).predict(split.X_test)
    return time.perf_counter() - start, pred


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hia_hou")
    parser.add_argument("--n", type=int, default=None, help="training rows (default: all)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--domain-tags", default=None, help="stage-1 tag library, as the benchmark uses")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    task = get_task(args.task)
    with tempfile.TemporaryDirectory(prefix="biotag-prefix-bench-") as cache:
        baseline, expected = seed_run(task, 2, args, None)
        cold, _ = seed_run(task, 1, args, cache)
        size = sum(f.stat().st_size for f in Path(cache).rglob("*.safetensors"))
        warm, got = seed_run(task, 2, args, cache)
    result = {
        "args": vars(args), "cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
        "seconds": {"seed2_no_cache": round(baseline, 1), "seed1_fills_cache": round(cold, 1),
                    "seed2_from_cache": round(warm, 1)},
        "speedup_seed2": round(baseline / warm, 2),
        "max_abs_prediction_difference": float(np.max(np.abs(got - expected))),
        "cache_mb": round(size / 2**20, 1),
    }
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
