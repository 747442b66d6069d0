"""Where Tag-LLM loses to a baseline: what each obvious lever changes, one change at a time.

Fits the benchmark's ``tagllm`` configuration on one task and seed (TDC's train/valid split, test
scored with TDC's metric, exactly as ``biotag benchmark run`` does), then again with one setting
changed per variant: learning rate, epochs, tag length, tokenization, stage-1 corpus, enrichment, and
the head's start (random, or the linear probe's solution: LP-FT).
Results append to a JSON-lines file; a rerun skips the variants already recorded.

    python benchmarks/results/levers/levers.py --task caco2_wang --seed 1 --domain-tags <stage-1 library> \\
        --out benchmarks/results/levers/caco2.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from biotag.hardware import peak_rss_mb
from biotag.benchmark import get_task, load_split
from biotag.benchmark.standardize import standardized_columns
from biotag.benchmark.tasks import evaluate
from biotag.tags.library import library_digest

BASE = {"epochs": 3, "lr": 3e-3, "p": 10, "batch_size": 16, "tokenization": "model", "enrich": False,
        "head_init": "random"}
# name -> the one change from BASE ("domain_tags": None drops the stage-1 tag)
VARIANTS = {
    "base": {},
    "lr_1e-3": {"lr": 1e-3},
    "lr_1e-2": {"lr": 1e-2},
    "epochs_6": {"epochs": 6},
    "p_20": {"p": 20},
    "p_4": {"p": 4},
    "char_tokens": {"tokenization": "char"},
    "no_stage1": {"domain_tags": None},
    "enrich": {"enrich": True},
    "probe_head": {"head_init": "probe"},
    # a follow-up, two changes: the probe start, then gentler fine-tuning (LP-FT fine-tunes at a low rate)
    "probe_head_lr_3e-4": {"head_init": "probe", "lr": 3e-4},
}


def fit_predict(task, split, params: dict, seed: int, prefix_cache: str | None = None):
    """Fit the estimator with ``params`` on the split's train (early stopping on valid); return it, its test
    predictions (the positive class's probability for classifiers) and the seconds fit + predict took."""
    from biotag import TagLLMClassifier, TagLLMRegressor

    cls = TagLLMClassifier if task.kind == "classification" else TagLLMRegressor
    est = cls(domains=task.domains, random_state=seed, verbose=0, prefix_cache=prefix_cache, **params)
    start = time.perf_counter()
    est.fit(standardized_columns(split.X_train, task.domains), split.y_train,
            X_val=standardized_columns(split.X_valid, task.domains), y_val=split.y_valid)
    X_test = standardized_columns(split.X_test, task.domains)
    pred = est.predict_proba(X_test)[:, 1] if task.kind == "classification" else est.predict(X_test)
    return est, pred, time.perf_counter() - start


def run_variant(task_name: str, seed: int, change: dict, domain_tags: str | None, data: str | None,
                prefix_cache: str | None = None) -> dict:
    task = get_task(task_name)
    split = load_split(task, seed, path=data)
    params = {**BASE, "domain_tags": domain_tags, **change}
    est, pred, seconds = fit_predict(task, split, params, seed, prefix_cache)
    return {"task": task.name, "seed": seed, "metric": task.metric, "value": evaluate(task, split, pred, path=data),
            "wall_s": round(seconds, 1), "best_epoch": est.history_.best_epoch,
            "trainable_params": int(est.n_trainable_params_), "peak_rss_mb": round(peak_rss_mb()),
            "params": {k: v for k, v in params.items()},
            **({"domain_tags_sha256": library_digest(params["domain_tags"])} if params["domain_tags"] else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="caco2_wang")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--domain-tags", default=None, help="stage-1 tag library (as the benchmark run used)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated; known: {', '.join(VARIANTS)}")
    parser.add_argument("--data", default=None)
    parser.add_argument("--prefix-cache", default=None,
                        help="folder for the frozen prefixes, shared by seeds and by variants that keep them "
                             "(the learning rate, tag length, head); speed only")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    done = set()
    if out.is_file():
        done = {(r["variant"], r["task"], r["seed"]) for r in map(json.loads, out.read_text().splitlines()) if r}
    for name in args.variants.split(","):
        if (name, get_task(args.task).name, args.seed) in done:
            continue
        record = {"variant": name, **run_variant(args.task, args.seed, VARIANTS[name], args.domain_tags, args.data,
                                                    args.prefix_cache)}
        print(json.dumps(record), flush=True)
        with out.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
