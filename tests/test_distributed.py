"""Data-parallel training under torchrun, on the CPU with gloo, 127.0.0.1 only: the same results as one process.

Each case runs ``distributed_worker.py`` alone and under ``torchrun`` (two processes on one machine, or two
"machines" of one process each on loopback) and compares the fitted tags, heads and predictions.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

WORKER = str(Path(__file__).with_name("distributed_worker.py"))
TIMEOUT = 240  # seconds a launch may take before the test calls it a hang


def _env() -> dict[str, str]:
    env = dict(os.environ, BIOTAG_DIST_TIMEOUT="60", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    env.pop("WORLD_SIZE", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--master-addr", "127.0.0.1", *args]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)


def _alone(model: str, out: Path, case: str) -> Path:
    out.mkdir()
    done = _run([sys.executable, WORKER, model, str(out), case])
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def alone(tiny_model_dir, tmp_path_factory):
    """``alone(case)``: the folder of that case's single-process run, run once for the module's tests."""
    runs: dict[str, Path] = {}

    def run(case: str) -> Path:
        if case not in runs:
            runs[case] = _alone(tiny_model_dir, tmp_path_factory.mktemp(f"alone-{case}") / "one", case)
        return runs[case]
    return run


def _two_processes(model: str, out: Path, case: str, *extra: str) -> subprocess.CompletedProcess:
    out.mkdir()
    return _run(_torchrun("--nproc-per-node", "2", "--master-port", str(_free_port()), WORKER, model, str(out),
                          case, *extra))


def _same(one: Path, two: Path) -> None:
    run_one, run_two = (json.loads((p / "run.json").read_text()) for p in (one, two))
    assert run_two["world"] == 2 and run_one["world"] == 1
    # the same steps, the same early-stopping choice, the same losses (summed in another order)
    assert run_two["steps"] == run_one["steps"] and run_two["best_epoch"] == run_one["best_epoch"]
    for a, b in zip(run_one["history"], run_two["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    tags_one = load_file(str(one / "estimator" / "tags.safetensors"))
    tags_two = load_file(str(two / "estimator" / "tags.safetensors"))
    assert tags_one.keys() == tags_two.keys()
    for name, value in tags_one.items():
        np.testing.assert_allclose(tags_two[name], value, rtol=1e-5, atol=1e-5, err_msg=name)
    trained = [k for k in tags_one if k.startswith("tags.<Task>")]
    assert trained and not np.array_equal(tags_one[trained[0]], 0)
    # every row once, in input order: the single-process predictions, row for row
    pred_one, pred_two = np.load(one / "predictions.npy"), np.load(two / "predictions.npy")
    assert pred_two.shape == pred_one.shape and len(pred_one) % 2 == 1
    np.testing.assert_allclose(pred_two, pred_one, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", ["prefix", "enrich", "classify", "refit"])
def test_two_processes_train_and_predict_as_one(tiny_model_dir, tmp_path, alone, case):
    one = alone(case)
    done = _two_processes(tiny_model_dir, tmp_path / "two", case)
    assert done.returncode == 0, done.stderr[-3000:]
    _same(one, tmp_path / "two")


def test_two_machines_on_loopback_train_as_one(tiny_model_dir, tmp_path, alone):
    one = alone("prefix")
    two = tmp_path / "two"
    two.mkdir()
    port = str(_free_port())
    nodes = [subprocess.Popen(_torchrun("--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node", "1",
                                        "--master-port", port, WORKER, tiny_model_dir, str(two), "prefix"),
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    for node in nodes:
        out, _ = node.communicate(timeout=TIMEOUT)
        assert node.returncode == 0, out[-3000:]
    _same(one, two)


def test_a_crashed_process_ends_the_run_with_its_error_not_a_hang(tiny_model_dir, tmp_path):
    start = time.monotonic()
    done = _two_processes(tiny_model_dir, tmp_path / "two", "prefix", "crash")
    assert done.returncode != 0
    assert "simulated failure on process 1" in done.stdout + done.stderr
    assert time.monotonic() - start < TIMEOUT
    assert not (tmp_path / "two" / "estimator").exists()


def test_alone_is_a_world_of_one(monkeypatch):
    from biotag.parallel import current, is_main_process, launched, single_process

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not launched() and current() is None and is_main_process()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launched()
    with single_process():
        assert current() is None  # one task per process: no process group is joined


def test_rows_belong_to_one_process_each():
    import torch

    from biotag.parallel import DataParallel

    shards = [DataParallel(rank, 3, torch.device("cpu")).shard(10) for rank in range(3)]
    assert sorted(np.concatenate(shards).tolist()) == list(range(10))
    batch = np.array([7, 2, 9, 4, 0])
    owned = [DataParallel(rank, 3, torch.device("cpu")).own(batch) for rank in range(3)]
    assert [o.tolist() for o in owned] == [[9, 0], [7, 4], [2]]
