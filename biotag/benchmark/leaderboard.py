"""The published figures a report sets each task beside: TDC's leaderboards (Feb 2025) and the Tag-LLM paper's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from biotag.data import data_dir

__all__ = ["leaderboard", "published", "leaderboard_rank", "LEADERBOARD_FILE", "PAPER_FILE"]

LEADERBOARD_FILE = "tdc_leaderboards_2025-02.csv"
PAPER_FILE = "tag_llm_paper_table2.csv"


def leaderboard(path: str | Path | None = None) -> pd.DataFrame:
    """The published TDC leaderboard rows (``reference/tdc_leaderboards_2025-02.csv``)."""
    file = data_dir(path) / "reference" / LEADERBOARD_FILE
    if not file.is_file():
        raise FileNotFoundError(f"leaderboard table not found at {file}")
    return pd.read_csv(file)


def published(task, board: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """The published rows to compare ``task`` with: TDC leaderboard rows, or the Tag-LLM paper's Table 2
    (LLaMA-7B backbone and the paper's own data: context, not a like-for-like comparison)."""
    if task.leaderboard:
        return board[board["benchmark"] == task.leaderboard].assign(source="TDC leaderboard")
    if task.paper_column:
        file = data_dir(path) / "reference" / PAPER_FILE
        if not file.is_file():
            raise FileNotFoundError(f"Tag-LLM paper table not found at {file}")
        table = pd.read_csv(file).dropna(subset=[task.paper_column])
        rows = pd.DataFrame({"benchmark": task.paper_column, "model": table["method"] + " (paper)",
                             "mean": table[task.paper_column].astype(float), "std": np.nan})
        rows = rows.sort_values("mean", ascending=not task.higher_is_better, kind="stable").reset_index(drop=True)
        return rows.assign(rank=np.arange(1, len(rows) + 1), source="Tag-LLM paper, Table 2")
    return board.iloc[:0].assign(source=[])


def leaderboard_rank(value: float, board: pd.DataFrame, higher_is_better: bool) -> int:
    """The rank ``value`` would take on ``board`` (1 = best): one more than the entries strictly better."""
    means = board["mean"].astype(float).to_numpy()
    better = means > value if higher_is_better else means < value
    return int(better.sum()) + 1
