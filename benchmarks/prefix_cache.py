"""Tag-LLM's prefix cache: a benchmark seed with its prefixes read from disk, against the same seed computed.

Seeds of a TDC task share their molecules (only the train/valid split moves), so the frozen prefixes
that seed 1 computed serve seeds 2-5. In one run, on the default model: seed 2 without the cache
(baseline), seed 1 with an empty cache (writes it), seed 2 with the filled cache. Writes seconds
(fit + predict), the speedup of the cached seed over its baseline, the largest prediction difference
between the two and the cache's size on disk.

    python benchmarks/prefix_cache.py --task hia_hou --out benchmarks/results/prefix-cache.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from biotag.benchmark import get_task, load_split
from biotag.benchmark.models import standardized_columns


def fit_predict(task, seed: int, n: int | None, args, prefix_cache: str | None) -> tuple[float, np.ndarray]:
    from biotag import TagLLMClassifier, TagLLMRegressor

    s = load_split(task, seed)
    cls = TagLLMClassifier if task.kind == "binary" else TagLLMRegressor
    est = cls(domains=task.domains, epochs=args.epochs, p=10, batch_size=16, lr=3e-3, random_state=seed, verbose=0,
              domain_tags=args.domain_tags, prefix_cache=prefix_cache)
    X = standardized_columns(s.X_train[:n], task.domains)
    start = time.perf_counter()
    est.fit(X, s.y_train[:n], X_val=standardized_columns(s.X_valid, task.domains), y_val=s.y_valid)
    X_test = standardized_columns(s.X_test, task.domains)
    pred = est.predict_proba(X_test)[:, 1] if task.kind == "binary" else est.predict(X_test)
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
        baseline, expected = fit_predict(task, 2, args.n, args, None)
        cold, _ = fit_predict(task, 1, args.n, args, cache)
        size = sum(f.stat().st_size for f in Path(cache).rglob("*.safetensors"))
        warm, got = fit_predict(task, 2, args.n, args, cache)
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
