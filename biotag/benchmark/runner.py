"""Run benchmark cells (task x model x seed), each in its own process, into a resumable results file.

One cell = fit on the seed's split, predict the test set, score it with TDC's
metric. Every finished cell appends one JSON line to ``results.jsonl`` (written
and flushed as it ends), so an interrupted run resumes where it stopped; a failed
cell is recorded with its error and retried on the next run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from biotag.benchmark.rounding import figure, places, rounded
from biotag.benchmark.isolation import in_child_process, on_devices
from biotag.benchmark.models import MODELS, Settings, group_of, make_model, read_as, split_label
from biotag.benchmark.run_settings import check_run_settings
from biotag.benchmark.tasks import SEEDS, evaluate, get_task, load_split, metric_value
from biotag.hardware import cpu_description, peak_rss_mb

__all__ = ["Cell", "run_cell", "run_benchmark", "read_results", "read_predictions", "summarize"]

RESULTS = "results.jsonl"
PREDICTIONS = "predictions.csv"


@dataclass(frozen=True)
class Cell:
    task: str
    model: str
    seed: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task, self.model, self.seed)

    def __str__(self) -> str:
        return f"{self.task} / {self.model} / seed {self.seed}"


def check_models(models: Sequence[str]) -> None:
    """Unknown model names fail before any work, naming the known ones."""
    runnable = [name for name, cls in MODELS.items() if not cls.results_only]
    unknown = [m for m in models if split_label(m)[0] not in MODELS]
    if unknown:
        raise KeyError(f"unknown models {unknown}; known models: {', '.join(runnable)}")
    if past := [m for m in models if MODELS[split_label(m)[0]].results_only]:
        raise KeyError(f"{', '.join(past)} names committed results of earlier defaults and does not run; "
                       f"known models: {', '.join(runnable)}")


def run_cell(cell: Cell, settings: Settings, out_dir: str | Path, *, data_path: str | Path | None = None) -> dict:
    """Fit, predict and score one cell in this process; write its test predictions; return its record.

    A cell is one process's task, also under a launcher (``torchrun`` spreads cells, not a cell's rows)."""
    from biotag.parallel import single_process  # torch: loaded by running, not by reading results

    with single_process():
        return _run_cell(cell, settings, Path(out_dir), data_path)


def _run_cell(cell: Cell, settings: Settings, out_dir: Path, data_path: str | Path | None) -> dict:
    task = get_task(cell.task)
    record: dict[str, Any] = {
        "task": task.name, "model": cell.model, "seed": cell.seed, "metric": task.metric,
        "higher_is_better": task.higher_is_better, "status": "failed",
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu_description(),
    }
    start = time.perf_counter()
    try:
        split = load_split(task, cell.seed, path=data_path)
        record.update(n_train=len(split.X_train), n_valid=len(split.X_valid), n_test=len(split.X_test),
                      notes="; ".join(split.notes))
        model = make_model(cell.model, task, cell.seed, settings)
        t0 = time.perf_counter()
        model.fit(split)
        t1 = time.perf_counter()
        y_pred = np.asarray(model.predict(split.X_test), dtype=float).ravel()
        t2 = time.perf_counter()
        value = evaluate(task, split, y_pred, path=data_path)
        if model.holds_out_valid and len(split.y_valid):  # the score defaults are chosen on, never the test's
            y_valid = np.asarray(model.predict(split.X_valid), dtype=float).ravel()
            record["valid_value"] = round(valid := metric_value(task.metric, split.y_valid, y_valid), places(valid) + 1)
        _append_predictions(Path(out_dir), record, y_pred)
        record.update(status="ok", value=value, fit_s=round(t1 - t0, 2), predict_s=round(t2 - t1, 2),
                      trainable_params=int(model.trainable_params), **getattr(model, "provenance", {}))
        if (threads := model.threads) is not None:
            record["threads"] = threads
        if settings.device != "auto":
            record["device"] = settings.device
    except Exception as err:  # noqa: BLE001 - a failed cell is recorded and the run goes on
        record["error"] = f"{type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc(limit=8)
    record["wall_s"] = round(time.perf_counter() - start, 2)
    record["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return record


PREDICTION_COLUMNS = ["task", "model", "seed", "started_at", "row", "y_pred"]


def _append_predictions(out_dir: Path, record: dict, y_pred: np.ndarray) -> None:
    """Append a cell's test predictions (rows in the test set's order; labels stay in the data directory) to
    the run's ``predictions.csv``, in one write: cells running side by side never interleave their rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PREDICTIONS
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        os.write(fd, (",".join(PREDICTION_COLUMNS) + "\n").encode())
        os.close(fd)
    except FileExistsError:
        pass
    rows = pd.DataFrame({"task": record["task"], "model": record["model"], "seed": record["seed"],
                         "started_at": record["started_at"], "row": np.arange(len(y_pred)), "y_pred": y_pred})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, rows.to_csv(index=False, header=False).encode())
    finally:
        os.close(fd)


def read_predictions(out_dir: str | Path) -> pd.DataFrame:
    """The test predictions of every finished cell in ``out_dir`` (those of a cell's latest record, when it
    ran more than once): columns ``task, model, seed, row, y_pred``."""
    path = Path(out_dir) / PREDICTIONS
    results = read_results(out_dir)
    if not path.is_file() or results.empty:
        return pd.DataFrame(columns=[c for c in PREDICTION_COLUMNS if c != "started_at"])
    rows = pd.read_csv(path, dtype={"task": str, "model": str, "started_at": str})
    rows = rows[rows["task"] != "task"].astype({"seed": int, "row": int, "y_pred": float})  # headers of racing writers
    latest = results[results["status"] == "ok"].astype({"seed": int})
    recorded = latest["recorded_as"].fillna(latest["model"]) if "recorded_as" in latest else latest["model"]
    latest = latest.assign(recorded=recorded)[["task", "model", "recorded", "seed", "started_at"]]
    kept = rows.rename(columns={"model": "recorded"}).merge(latest, on=["task", "recorded", "seed", "started_at"])
    return kept.drop(columns=["started_at", "recorded"])[[c for c in PREDICTION_COLUMNS if c != "started_at"]] \
        .reset_index(drop=True)


def _run_isolated(cell: Cell, settings: Settings, out_dir: Path, data_path: str | Path | None) -> dict:
    """The cell in a fresh Python process: its peak memory is its own, and a crash stays contained."""
    try:
        return in_child_process(run_cell, cell, settings, out_dir, data_path=data_path)
    except ChildProcessError as err:
        return {"task": cell.task, "model": cell.model, "seed": cell.seed, "status": "failed", "error": str(err)}


def _append(path: Path, record: dict) -> None:
    """Append one record as a line, durably; a line cut short by an earlier interruption stays on its own."""
    cut = False
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            cut = handle.read(1) != b"\n"
    with path.open("a") as handle:
        handle.write(("\n" if cut else "") + json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_results(out_dir: str | Path, *, warn: bool = False) -> pd.DataFrame:
    """Every record in ``results.jsonl``; a rerun's record replaces the earlier one of its cell. With ``warn``,
    lines that are not cell records (cut short by an interruption, or edited) are named in a warning."""
    path = Path(out_dir) / RESULTS
    if not path.is_file():
        return pd.DataFrame()
    records, unreadable = {}, []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if (named := read_as(rec)) != rec["model"]:
                # recorded under an earlier name, or under defaults that have changed since: what it ran, named now
                rec["recorded_as"], rec["model"] = rec["model"], named
            key = (str(rec["task"]), str(rec["model"]), int(rec["seed"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):  # e.g. cut short by an interruption
            unreadable.append(n)
            continue
        records[key] = rec
    if unreadable and warn:
        import warnings

        warnings.warn(f"{path}: line(s) {', '.join(map(str, unreadable[:10]))} are not cell records (cut short by an "
                      "interruption, or edited) and are skipped; a rerun of their cells writes them again",
                      stacklevel=2)
    return pd.DataFrame(list(records.values()))


def _finished(out_dir: Path) -> set[tuple[str, str, int]]:
    """The cells with an ``ok`` record in ``out_dir``."""
    done = read_results(out_dir)
    return set() if done.empty else {(r.task, r.model, int(r.seed)) for r in done.itertuples() if r.status == "ok"}


def run_benchmark(
    tasks: Sequence[str],
    models: Sequence[str],
    out_dir: str | Path,
    *,
    seeds: Iterable[int] = SEEDS,
    settings: Settings | None = None,
    data_path: str | Path | None = None,
    isolate: bool = True,
    progress: bool = True,
    keep_prefixes: bool = False,
    devices: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Run every missing or failed cell of ``tasks x models x seeds``; return all records of the directory.

    ``out_dir`` receives ``results.jsonl`` (one record per cell), ``results.csv`` (the same, tidy), ``run.json``
    (settings) and ``predictions.csv`` (every cell's test predictions). Each task's part of
    ``settings.prefix_cache`` is removed once its cells are done, unless ``keep_prefixes``. With ``devices``
    (``["cuda:0", "cuda:1"]``) as many cells run at once, each in its own process on its own device; under a
    launcher (``torchrun``, several machines too) each process takes every N-th cell, on its own GPU.
    """
    from tqdm.auto import tqdm

    from biotag.parallel import current, is_main_process

    settings = settings or Settings()
    out_dir = Path(out_dir)
    parallel = current()
    _prepare(out_dir, settings, tasks, models, parallel, devices if not isolate else None)
    todo = _todo(out_dir, tasks, models, seeds, parallel)
    left = {t: sum(c.task == t for c in todo) for t in {c.task for c in todo}}  # a task's prefixes go after its last
    lock = threading.Lock()
    bar = tqdm(total=len(todo), disable=not progress or not is_main_process(), unit="cell", desc="benchmark")

    def run(cell: Cell, device: str | None) -> None:
        # Seeds run side by side as separate processes into one folder: a cell another one finished while
        # this run worked on earlier cells is not run twice.
        record = None
        if cell.key not in _finished(out_dir):
            bar.set_postfix_str(str(cell))
            cell_settings = settings if device is None else dataclasses.replace(settings, device=device)
            record = (_run_isolated(cell, cell_settings, out_dir, data_path) if isolate
                      else run_cell(cell, cell_settings, out_dir, data_path=data_path))
        elif progress:
            bar.write(f"{cell}: finished meanwhile by another run into {out_dir}; skipped")
        with lock:
            left[cell.task] -= 1
            if settings.prefix_cache and not keep_prefixes and left[cell.task] == 0:
                shutil.rmtree(Path(settings.prefix_cache) / cell.task, ignore_errors=True)  # the task is done
            bar.update(1)
            if record is not None:
                _keep(out_dir, cell, record, device, bar if progress else None)

    on_devices(todo, run, devices)
    bar.close()
    if parallel is not None:
        parallel.barrier()  # every process's cells are in before the table is read
    return write_csv(out_dir)


def _prepare(out_dir: Path, settings: Settings, tasks: Sequence[str], models: Sequence[str], parallel,
             in_process_devices: Sequence[str] | None) -> None:
    """Check the names and the folder's settings (the main process) before any process starts a cell."""
    if in_process_devices and len(in_process_devices) > 1:
        # Models load in the cells: transformers patches torch globally while it builds one, so two loads at
        # once in one process can leave those patches behind. Several devices mean several processes.
        raise ValueError(f"cells on several devices ({', '.join(map(str, in_process_devices))}) run in their own "
                         "processes: isolate=False runs them one at a time in this one, so it takes one device at most")
    for name in tasks:
        get_task(name)  # unknown names fail before any work
    check_models(models)
    if parallel is None or parallel.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        check_run_settings(out_dir, settings, llm=any(group_of(m) != "expert" for m in models),
                           tagllm=any(group_of(m) == "tagllm" for m in models))
    if parallel is not None:
        parallel.barrier()


def _todo(out_dir: Path, tasks: Sequence[str], models: Sequence[str], seeds: Iterable[int], parallel) -> list[Cell]:
    """The cells without an ``ok`` record; under a launcher, this process's share of them."""
    finished = _finished(out_dir)
    # A model that does not take a task's inputs (a protein baseline on SMILES) has no cells there.
    cells = [Cell(get_task(t).name, m, s) for t in tasks for m in models for s in seeds
             if MODELS[split_label(m)[0]].applies_to(get_task(t)) and (get_task(t).name, m, s) not in finished]
    return cells if parallel is None else cells[parallel.rank :: parallel.world]


def _keep(out_dir: Path, cell: Cell, record: dict, device: str | None, bar) -> None:
    """File a cell's record; keep the table in step cell by cell, so an interrupted run leaves no stale one."""
    _append(out_dir / RESULTS, record)
    write_csv(out_dir)
    if bar is not None:
        what = (f"{record['metric']} {figure(record['value'])}  ({record['wall_s']:.0f} s)"
                if record["status"] == "ok" else f"FAILED: {record.get('error', '')[:200]}")
        bar.write(f"{cell}: {what}" + (f" [{device}]" if device else ""))


def write_csv(out_dir: str | Path) -> pd.DataFrame:
    """Rewrite ``results.csv`` (the tidy table, tracebacks left out) from ``results.jsonl``; return all records."""
    results = read_results(out_dir)
    if not results.empty:
        columns = [c for c in results.columns if c != "traceback"]
        results[columns].to_csv(Path(out_dir) / "results.csv", index=False)
    return results


def _threads(group: pd.DataFrame) -> str:
    """The threads a model's seeds ran on ("2", or "1-4" where they differ); "" where no record says."""
    if "threads" not in group:
        return ""
    counts = sorted({int(n) for n in group["threads"].dropna()})
    return "" if not counts else str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per task and model, as TDC's ``evaluate_many`` computes them (population std).
    ``ValueError`` naming a failed cell if no cell finished."""
    ok = results[results["status"] == "ok"]
    if ok.empty and not results.empty:
        first = results.iloc[0]
        raise ValueError(f"no cell finished: {len(results)} failed, e.g. {first['task']} / {first['model']} / seed "
                         f"{int(first['seed'])}: {first.get('error', 'no error recorded')}")
    rows = []
    for (task, model), group in ok.groupby(["task", "model"], sort=False):
        values = group["value"].astype(float).to_numpy()
        rows.append({"task": task, "model": model, "metric": group["metric"].iloc[0], "seeds": len(values),
                     "mean": rounded(np.mean(values)), "std": rounded(np.std(values), like=np.mean(values)),
                     "wall_s": float(group["wall_s"].mean()),
                     "threads": _threads(group),
                     "trainable_params": int(group["trainable_params"].median()),
                     "peak_rss_mb": float(group["peak_rss_mb"].max()),
                     "notes": group.get("notes", pd.Series([""])).iloc[0] or ""})
    return pd.DataFrame(rows)
