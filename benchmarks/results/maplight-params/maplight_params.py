"""Why biotag's ``catboost_maplight`` differs from MapLight's published figures: CatBoost's parameters.

biotag's model follows MapLight's features and target scaling but keeps CatBoost's defaults. MapLight's own
submission (github.com/maplightrx/MapLight-TDC, ``submission.ipynb``) sets ``random_strength=2`` and, for
regression, ``loss_function="MAE"``. This fits both on the same features, split and target scaling (the
features computed once, exactly as the benchmark runner's ``catboost_maplight`` computes them) and scores
the test set with TDC's metric. Results append to a JSON-lines file; a rerun skips what is recorded.

    python benchmarks/results/maplight-params/maplight_params.py --task lipophilicity_astrazeneca --seed 1 \\
        --out benchmarks/results/maplight-params/maplight-params.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from biotag.hardware import peak_rss_mb
from biotag.benchmark import get_task, load_split
from biotag.benchmark.models import Settings
from biotag.benchmark.models.experts import CatBoostMapLight
from biotag.benchmark.tasks import evaluate

# name -> CatBoost parameters on top of biotag's (regression-only ones are dropped for classifiers)
VARIANTS = {
    "biotag (CatBoost defaults)": {},
    "MapLight's parameters": {"random_strength": 2, "loss_function": "MAE"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    task = get_task(args.task)
    out = Path(args.out)
    done = set()
    if out.is_file():
        done = {(r["variant"], r["task"], r["seed"]) for r in map(json.loads, out.read_text().splitlines()) if r}
    todo = [name for name in VARIANTS if (name, task.name, args.seed) not in done]
    if not todo:
        return
    split = load_split(task, args.seed, path=args.data)
    start = time.perf_counter()
    features: dict[tuple, object] = {}

    class Variant(CatBoostMapLight):
        params: dict = {}

        def featurize(self, X):  # the runner's features, computed once for every variant
            key = tuple(map(str, X))
            if key not in features:
                features[key] = super().featurize(X)
            return features[key]

        def make(self):
            estimator = super().make()
            extra = {k: v for k, v in self.params.items() if task.kind == "regression" or k != "loss_function"}
            return estimator.set_params(**extra)

    warm = Variant(task, args.seed, Settings(n_jobs=args.threads))
    warm.featurize(split.X_train_valid), warm.featurize(split.X_test)  # so that each variant times its fit alone
    feature_s = time.perf_counter() - start
    for name in todo:
        model = Variant(task, args.seed, Settings(n_jobs=args.threads))
        model.params = VARIANTS[name]
        start = time.perf_counter()
        pred = model.fit(split).predict(split.X_test)
        record = {"variant": name, "task": task.name, "seed": args.seed, "metric": task.metric,
                  "value": evaluate(task, split, pred, path=args.data),
                  "fit_predict_s": round(time.perf_counter() - start, 1),
                  "features_s": round(feature_s, 1), "threads": args.threads, "peak_rss_mb": round(peak_rss_mb()),
                  "catboost_params": model.estimator.get_params()}
        print(json.dumps(record), flush=True)
        with out.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
