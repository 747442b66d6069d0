"""The benchmark report's figure: each task's scores beside the published leaderboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from biotag.benchmark.models import is_tagllm
from biotag.benchmark.tasks import get_task

__all__ = ["plot_scores"]


def plot_scores(summary: pd.DataFrame, references: dict[str, pd.DataFrame], file: Path) -> None:
    """One panel per task: our models' mean ± std over seeds, then the published rows, written to ``file``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(summary["task"]))
    cols = min(4, len(tasks))
    rows = int(np.ceil(len(tasks) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, tasks):
        task = get_task(name)
        ours = summary[summary["task"] == name].sort_values("mean", ascending=not task.higher_is_better)
        reference = references[name].sort_values("rank")
        labels = list(ours["model"]) + [f"#{r} {m}"[:22] for r, m in zip(reference["rank"], reference["model"])]
        means = list(ours["mean"]) + list(reference["mean"].astype(float))
        stds = list(ours["std"]) + list(reference["std"].fillna(0).astype(float))
        colors = ["tab:red" if is_tagllm(m) else "tab:blue" for m in ours["model"]] + ["0.7"] * len(reference)
        y = np.arange(len(labels))[::-1]
        ax.barh(y, means, xerr=stds, color=colors, height=0.7)
        ax.set_yticks(y, labels, fontsize=7)
        lo = min(means) - max(stds + [0]) - 0.02
        if task.metric in ("roc-auc", "pr-auc"):  # bounded scores: zoom in on the range that differs
            ax.set_xlim(max(0.0, lo), 1.0)
        ax.set_title(f"{task.leaderboard or name}", fontsize=9)
        ax.set_xlabel(f"{task.metric.upper()} ({'higher' if task.higher_is_better else 'lower'} is better)",
                      fontsize=8)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.suptitle("Test score per task, mean ± std over seeds (red: Tag-LLM, blue: our baselines, "
                 "grey: published figures)", fontsize=10)
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)
