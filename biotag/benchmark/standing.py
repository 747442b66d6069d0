"""Where Tag-LLM stands on each task: against the best LLM baseline of the same frozen model (linear probes, prompt
tuning, LoRA) and against the Morgan-fingerprint random forest, with the counts over tasks.

The Tag-LLM figure of a task is the estimators' defaults (``tagllm``) where they ran, else the paper's setting
(``tagllm_paper``): a fixed choice, never the best test score among Tag-LLM's variants. The forest ratio is
oriented so that 1 is level and more is better for Tag-LLM: forest / Tag-LLM for errors, Tag-LLM / forest for
scores where higher is better; it is left out where a figure is not positive (a Spearman of zero or below).
"""

from __future__ import annotations

import math

import pandas as pd

from biotag.benchmark.rounding import figure
from biotag.benchmark.models import is_llm_baseline
from biotag.benchmark.tasks import get_task

__all__ = ["TAGLLM_CHOICE", "FOREST", "forest_ratio", "standing", "standing_section"]

# The first that ran on a task speaks for Tag-LLM there.
TAGLLM_CHOICE = ("tagllm", "tagllm_earlier", "tagllm_paper")
FOREST = "rf_morgan"
NEAR = 0.9  # "reaches 0.9 of the forest's score"


def forest_ratio(tagllm: float, forest: float, higher_is_better: bool) -> float:
    """Tag-LLM's score relative to the forest's, 1 = level, more = Tag-LLM better; NaN where not positive."""
    if not (tagllm > 0 and forest > 0):
        return math.nan
    return tagllm / forest if higher_is_better else forest / tagllm


def standing(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per task that has a Tag-LLM figure (``summary`` as :func:`~biotag.benchmark.runner.summarize`
    gives it): the Tag-LLM model and mean, the best LLM baseline and its mean, the forest's mean and the ratio."""
    rows = []
    for task_name, group in summary.groupby("task", sort=False):
        task = get_task(task_name)
        means = dict(zip(group["model"], group["mean"]))
        chosen = next((m for m in TAGLLM_CHOICE if m in means), None)
        if chosen is None:
            continue
        ours = means[chosen]
        ran = {m: mean for m, mean in means.items() if is_llm_baseline(m)}
        best = (max if task.higher_is_better else min)(ran, key=ran.get) if ran else None
        forest = means.get(FOREST, math.nan)
        beats = (lambda other: ours > other) if task.higher_is_better else (lambda other: ours < other)
        rows.append({"task": task_name, "metric": task.metric, "tagllm": chosen, "tagllm_mean": ours,
                     "baseline": best, "baseline_mean": ran.get(best, math.nan),
                     "beats_baseline": beats(ran[best]) if best else None, "forest_mean": forest,
                     "forest_ratio": forest_ratio(ours, forest, task.higher_is_better),
                     "beats_forest": beats(forest) if not math.isnan(forest) else None})
    return pd.DataFrame(rows)


def standing_section(summary: pd.DataFrame) -> list[str]:
    """The report's section: a table per task and one line of counts. Empty where no Tag-LLM cell finished."""
    table = standing(summary)
    if table.empty:
        return []

    def yes(flag) -> str:
        return "-" if flag is None else ("yes" if flag else "no")

    lines = ["## Tag-LLM's standing", "",
             f"Tag-LLM ({' where it ran, else '.join(TAGLLM_CHOICE)}) against the best LLM baseline of the same frozen "
             f"model and against `{FOREST}`. Forest ratio: 1 is level, more is better for Tag-LLM (forest / "
             "Tag-LLM for errors, Tag-LLM / forest otherwise).", "",
             "| task | metric | Tag-LLM | best LLM baseline | beats it | forest | forest ratio | beats forest |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        baseline = f"{figure(r.baseline_mean)} ({r.baseline})" if r.baseline else "-"
        forest = "-" if math.isnan(r.forest_mean) else figure(r.forest_mean)
        ratio = "-" if math.isnan(r.forest_ratio) else f"{r.forest_ratio:.3f}"  # 0.899 must not read as 0.90
        lines.append(f"| {r.task} | {r.metric} | {figure(r.tagllm_mean)} ({r.tagllm}) | {baseline} "
                     f"| {yes(r.beats_baseline)} | {forest} | {ratio} | {yes(r.beats_forest)} |")
    with_baseline = table[table["beats_baseline"].notna()]
    with_forest = table[table["beats_forest"].notna()]
    near = int((with_forest["forest_ratio"] >= NEAR).sum())
    lines += ["", f"Tag-LLM beats the best LLM baseline on {int(with_baseline['beats_baseline'].sum())} of "
              f"{len(with_baseline)} tasks that have one; it reaches {NEAR} of the forest's score on {near} of "
              f"{len(with_forest)} and beats the forest on {int(with_forest['beats_forest'].sum())}.", ""]
    return lines
