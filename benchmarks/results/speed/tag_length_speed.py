"""How long a fit takes at each tag length, against the paper's p = 10, measured in one run.

``TagLLMRegressor`` as users run it (the defaults, ``dtype="auto"``), on the same Caco2_Wang molecules, with a
fixed number of epochs (no early stopping, no validation rows) so that every length does the same work. Each fit
includes its one-off prefix computation, as a user's does. Each length is timed ``--repeats`` times (median).

    python benchmarks/results/speed/tag_length_speed.py --out benchmarks/results/speed/tag-length.json

The last line gives each length's fit time as a ratio to p = 10's (``speedup_p3=...``); the JSON records the
CPU, its flags and the precision ``dtype="auto"`` chose.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from biotag.data import data_dir
from biotag.hardware import cpu_description, resolve_placement

#: (name, p, domain_p): function and untrained domain tag lengths.
LENGTHS = [("p10", 10, None), ("p3", 3, None), ("p1", 1, None), ("domain1_p3", 3, 1), ("domain1_p10", 10, 1)]


def fit_seconds(smiles, y, p: int, domain_p: int | None, args) -> float:
    from biotag import TagLLMRegressor

    est = TagLLMRegressor(model=args.model, p=p, domain_p=domain_p, domain_tags=None, epochs=args.epochs,
                          patience=None, validation_fraction=0.0, random_state=0, verbose=0)
    start = time.perf_counter()
    est.fit(smiles, y)
    return time.perf_counter() - start


def caco2(n: int) -> tuple[list[str], np.ndarray]:
    """The first ``n`` Caco2_Wang training molecules, canonical, and their targets."""
    from biotag import SmilesFeaturizer

    frame = pd.read_csv(data_dir() / "tdc" / "admet_group" / "caco2_wang" / "train_val.csv").iloc[:n]
    return SmilesFeaturizer().transform(frame["Drug"].tolist()), frame["Y"].to_numpy(dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="Caco2_Wang molecules (default 256)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", default=None, help="base model id or folder (default: biotag's default model)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    smiles, y = caco2(args.n)  # the molecules benchmarks/speed.py times
    fit_seconds(smiles[:32], y[:32], 10, None, args)  # the model's one-off conversion and load, untimed
    results = {}
    for name, p, domain_p in LENGTHS:
        times = [fit_seconds(smiles, y, p, domain_p, args) for _ in range(args.repeats)]
        results[name] = {"p": p, "domain_p": domain_p, "fit_s": statistics.median(times), "fit_s_all": times}
        print(f"{name}: fit {results[name]['fit_s']:.1f} s", flush=True)
    base = results["p10"]["fit_s"]
    for r in results.values():
        r["speedup_vs_p10"] = base / r["fit_s"]
    record = {"cpu": cpu_description(), "dtype": resolve_placement(torch.device("cpu"), "auto").dtype, "n": args.n,
              "epochs": args.epochs, "repeats": args.repeats, "results": results}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(" ".join(f"speedup_{name.removeprefix('p') if name.startswith('p') else name}={r['speedup_vs_p10']:.1f}"
                   for name, r in results.items() if name != "p10"))


if __name__ == "__main__":
    main()
