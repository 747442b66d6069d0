"""Validation scores: what a benchmark's defaults are chosen on, never the test scores.

Every cell of a model that keeps the validation rows out of its training records ``valid_value``, the task's
metric on those rows. This module tabulates them per task and model, and ranks candidate models (configurations)
by their validation scores across tasks.
"""

from __future__ import annotations

import pandas as pd

from biotag.benchmark.rounding import figure
from biotag.benchmark.tasks import get_task

__all__ = ["validation_summary", "validation_table", "training_table"]


def validation_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, population std and count of ``valid_value`` per task and model (finished cells that recorded one)."""
    if "valid_value" not in results:
        return pd.DataFrame(columns=["task", "model", "mean", "std", "seeds"])
    done = results[(results["status"] == "ok") & results["valid_value"].notna()]
    grouped = done.groupby(["task", "model"], sort=False)["valid_value"]
    return grouped.agg(mean="mean", std=lambda v: v.std(ddof=0), seeds="count").reset_index()


def validation_table(results: pd.DataFrame) -> list[str]:
    """A markdown table, models by tasks, of the validation scores; with each model's mean rank over the tasks
    (1 = best on a task's validation metric, ties sharing), the figure candidate defaults are compared by.
    Empty where no cell recorded a validation score."""
    summary = validation_summary(results)
    if summary.empty:
        return []
    tasks = list(dict.fromkeys(summary["task"]))
    models = list(dict.fromkeys(summary["model"]))
    ranks = {}
    for task, rows in summary.groupby("task", sort=False):
        ascending = not get_task(task).higher_is_better
        ranks[task] = dict(zip(rows["model"], rows["mean"].rank(ascending=ascending, method="average")))
    cells = {(r.task, r.model): f"{figure(r.mean)} ± {figure(r.std, r.mean)} ({r.seeds})"
             for r in summary.itertuples()}
    header = "| model | " + " | ".join(f"{t} ({get_task(t).metric})" for t in tasks) + " | mean rank |"
    lines = [header, "|---|" + "---|" * (len(tasks) + 1)]
    for m in models:
        mine = [ranks[t][m] for t in tasks if m in ranks[t]]
        rank = f"{sum(mine) / len(mine):.2f}" if len(mine) == len(tasks) else "-"
        lines.append(f"| {m} | " + " | ".join(cells.get((t, m), "-") for t in tasks) + f" | {rank} |")
    return lines


def training_table(results: pd.DataFrame) -> list[str]:
    """A markdown table, one row per Tag-LLM model: in how many of its cells the training beat the start it was
    validated against (``best_epoch > 0``; 0 means the start was kept), and in how many the training loss after
    the first epoch was at or below the start's (the optimizer lowers its own loss). Empty where no cell says."""
    if "best_epoch" not in results:
        return []
    done = results[(results["status"] == "ok") & results["best_epoch"].notna()]
    if done.empty:
        return []
    lines = ["| model | training beat its start (best epoch > 0) | training loss not above the start after epoch 1 |",
             "|---|---|---|"]
    for model, cells in done.groupby("model", sort=True):
        checked = (cells.dropna(subset=["start_train_loss", "first_epoch_train_loss"])
                   if {"start_train_loss", "first_epoch_train_loss"} <= set(cells) else cells.iloc[:0])
        fell = int((checked["first_epoch_train_loss"] <= checked["start_train_loss"]).sum()) if len(checked) else 0
        lowered = f"{fell} of {len(checked)}" if len(checked) else "not recorded"
        lines.append(f"| {model} | {int((cells['best_epoch'] > 0).sum())} of {len(cells)} | {lowered} |")
    return lines
