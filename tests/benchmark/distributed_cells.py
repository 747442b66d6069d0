"""The benchmark under torchrun, for test_runner.py: ``python distributed_cells.py OUT_DIR`` runs the toy cells,
each process its share, into one folder."""

from __future__ import annotations

import sys

from toy import register_toy_tasks

from biotag.benchmark import Settings, run_benchmark

if __name__ == "__main__":
    register_toy_tasks()
    run_benchmark(["toy_regression", "toy_binary"], ["rf_morgan"], sys.argv[1], seeds=(1, 2, 3),
                  settings=Settings(n_jobs=1), isolate=False, progress=False)
