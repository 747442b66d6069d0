"""The report puts each model beside the published leaderboard and ranks it."""

import pandas as pd

from biotag.benchmark import Settings, run_benchmark
from biotag.benchmark.report import leaderboard_rank, write_report
from toy import TOY_REG  # noqa: F401 - registers the toy tasks


def test_leaderboard_rank_counts_strictly_better_entries():
    board = pd.DataFrame({"mean": [0.276, 0.285, 0.3]})
    assert leaderboard_rank(0.25, board, higher_is_better=False) == 1
    assert leaderboard_rank(0.29, board, higher_is_better=False) == 3
    assert leaderboard_rank(0.29, board, higher_is_better=True) == 2
    assert leaderboard_rank(0.5, board, higher_is_better=False) == 4


def test_report_writes_markdown_and_plot(tmp_path, data_dir):
    run_benchmark(["toy_regression"], ["rf_morgan"], tmp_path, seeds=(1, 2), settings=Settings(n_jobs=1),
                  isolate=False, progress=False)
    report = write_report([tmp_path], tmp_path / "report", data_path=data_dir)
    text = report.read_text()
    assert "| **rf_morgan** | 2 |" in text and "toy_regression" in text
    assert (tmp_path / "report" / "report.png").stat().st_size > 10_000
