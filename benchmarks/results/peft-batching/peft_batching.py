"""PEFT baselines: one epoch with batches grouped by length against random batches, same rows and seed.

Random batches of SMILES carry about twice their real length in padding, and PEFT's prompt tuning runs
the full model over every padded position. Writes seconds per mode and their ratio (same run, same
machine).

    python benchmarks/results/peft-batching/peft_batching.py --task hia_hou --n 96 --out benchmarks/results/peft-batching/peft-batching.json
"""

from __future__ import annotations

import argparse
import json
import time

from biotag.benchmark import Settings, get_task, load_split, make_model
from biotag.benchmark.tasks import Split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hia_hou")
    parser.add_argument("--n", type=int, default=96, help="training rows")
    parser.add_argument("--model", default="prompt_tuning")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    task = get_task(args.task)
    s = load_split(task, 1)
    n = args.n
    sub = Split(s.X_train[:n], s.y_train[:n], s.X_valid[:16], s.y_valid[:16], s.X_test[:16], s.y_test[:16])
    seconds = {}
    for mode in ("random", "grouped"):
        model = make_model(args.model, task, 1, Settings(epochs=1))
        model.group_by_length = mode == "grouped"
        start = time.perf_counter()
        model.fit(sub)
        seconds[mode] = round(time.perf_counter() - start, 1)
        print(mode, seconds[mode], "s", flush=True)
    result = {"task": task.name, "model": args.model, "rows": n, "epochs": 1, "seconds": seconds,
              "speedup": round(seconds["random"] / seconds["grouped"], 2)}
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
