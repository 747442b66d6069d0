"""Benchmarks the way the TDC leaderboard runs them: tasks, models, a resumable runner and a report."""

from biotag.benchmark.models import EXPERT_MODELS, LLM_MODELS, MODELS, Settings, make_model
from biotag.benchmark.runner import Cell, read_results, run_benchmark, run_cell, summarize
from biotag.benchmark.tasks import ADMET_TASKS, SEEDS, TASKS, Split, Task, evaluate, get_task, load_split

__all__ = ["Task", "Split", "TASKS", "ADMET_TASKS", "SEEDS", "get_task", "load_split", "evaluate",
           "Settings", "MODELS", "EXPERT_MODELS", "LLM_MODELS", "make_model",
           "Cell", "run_cell", "run_benchmark", "read_results", "summarize"]
