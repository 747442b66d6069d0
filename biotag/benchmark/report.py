"""The benchmark report: every model beside the published leaderboard, as markdown and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from biotag.benchmark.rounding import figure
from biotag.benchmark.models import (EXPERT_MODELS, MODELS, PEFT_MODELS, Settings, group_of, is_llm_baseline,
                                     is_tagllm, split_label)
from biotag.benchmark.leaderboard import leaderboard, leaderboard_rank, published
from biotag.benchmark.models.tagllm import parse_options
from biotag.benchmark.plots import plot_scores
from biotag.benchmark.run_settings import LLM_SETTINGS, RUN, UNRECORDED
from biotag.benchmark.runner import read_results, summarize
from biotag.benchmark.standing import TAGLLM_CHOICE, standing_section
from biotag.benchmark.tasks import SEEDS, get_task
from biotag.benchmark.validation_scores import training_table, validation_table

__all__ = ["leaderboard", "published", "leaderboard_rank", "format_score", "coverage", "read_runs", "run_settings",
           "write_report"]

def format_score(mean: float, std: float, seeds: int = len(SEEDS)) -> str:
    """``mean ± std``; a figure from fewer seeds than the protocol's says how many (one seed has no spread)."""
    if (seeds := int(seeds)) == 1:
        return f"{figure(mean)} (1 seed)"
    return f"{figure(mean)} ± {figure(std, mean)}" + ("" if seeds >= len(SEEDS) else f" ({seeds} seeds)")


def _ordered_models(names) -> list[str]:
    """The distinct models in the registry's order of their methods (a method's variants after it), unknown ones
    last."""
    order = {name: i for i, name in enumerate(MODELS)}
    return sorted(set(names), key=lambda m: (order.get(split_label(m)[0], len(order)), m))


def coverage(results: pd.DataFrame) -> tuple[list[str], list[str]]:
    """What ran: a markdown table of finished seeds per task and model, and one line per failed cell. A cell counts
    once (a rerun's record replaces the earlier one), so a failure that a rerun fixed is no longer listed."""
    if results.empty:
        return [], []
    models = _ordered_models(results["model"])
    tasks = list(dict.fromkeys(results["task"]))
    ok = results[results["status"] == "ok"].groupby(["task", "model"]).size()
    failed = results[results["status"] != "ok"]
    n_failed = failed.groupby(["task", "model"]).size()
    table = ["| task | " + " | ".join(models) + " |", "|---" * (len(models) + 1) + "|"]
    for task in tasks:
        cells = []
        for model in models:
            done, bad = int(ok.get((task, model), 0)), int(n_failed.get((task, model), 0))
            cell = "-" if not done and not bad else (str(done) if done >= len(SEEDS) else f"{done} of {len(SEEDS)}")
            cells.append(cell + (f" ({bad} failed)" if bad else ""))
        name = get_task(task).leaderboard or task
        table.append(f"| {name} | " + " | ".join(cells) + " |")
    lines = []
    for r in failed.sort_values(["task", "model", "seed"]).itertuples():
        message = (str(getattr(r, "error", "") or "").strip().splitlines() or ["no error recorded"])[0]
        lines.append(f"- {r.task} / {r.model} / seed {int(r.seed)}: "
                     + (message if len(message) <= 200 else message[:197] + "..."))
    return table, lines


def read_runs(results_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """The records of several results directories in one table, with a ``run`` column (the directory).

    A cell found in two directories is refused: it would count twice in the mean, and the two runs
    may differ in their settings.
    """
    frames = [(d, read_results(d, warn=True)) for d in results_dirs]
    frames = [f.assign(run=str(d)) for d, f in frames if not f.empty]
    if not frames:
        raise FileNotFoundError(f"no results in {', '.join(map(str, results_dirs))}")
    results = pd.concat(frames, ignore_index=True)
    twice = results[results.duplicated(["task", "model", "seed"], keep=False)]
    if not twice.empty:
        first = twice.iloc[0]
        runs = sorted(set(twice[(twice["task"] == first["task"]) & (twice["model"] == first["model"])]["run"]))
        raise ValueError(
            f"{len(twice.drop_duplicates(['task', 'model', 'seed']))} cells appear in more than one results "
            f"directory, e.g. {first['task']} / {first['model']} / seed {int(first['seed'])} in {' and '.join(runs)}; "
            "report each run on its own, or give the runs' cells distinct tasks or models"
        )
    _check_settings_agree(results, {str(d): run_settings(d) for d in results_dirs})
    return results



def _run_record(results_dir: str | Path) -> dict | None:
    """A results directory's ``run.json``; None where there is none, a clear error where it is unreadable."""
    file = Path(results_dir) / RUN
    if not file.is_file():
        return None
    try:
        meta = json.loads(file.read_text())
        if not isinstance(meta["settings"], dict):
            raise TypeError("its settings are not a mapping")
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{file} is not a readable run record: {err}") from err
    return meta


def run_settings(results_dir: str | Path) -> dict | None:
    """The settings a results directory's ``run.json`` records, with the defaults of settings added since;
    None where it records none."""
    meta = _run_record(results_dir)
    if meta is None:
        return None
    recorded = meta["settings"]
    defaults = {k: v for k, v in Settings().as_dict().items() if k not in UNRECORDED}
    return {**defaults, **recorded}


def _check_settings_agree(results: pd.DataFrame, settings: dict[str, dict | None]) -> None:
    """One LLM model's seeds of one task, split across runs, must share the settings that change scores."""
    llm = results[results["model"].map(group_of).isin(("tagllm", "probe", "peft")) & (results["status"] == "ok")]
    for (task, model), group in llm.groupby(["task", "model"]):
        runs = sorted(set(group["run"]))
        if len(runs) < 2:
            continue
        seen = {run: {k: (settings.get(run) or {}).get(k) for k in LLM_SETTINGS} for run in runs}
        for run in runs:  # "auto" precision: what the cells ran in
            seen[run]["dtype"] = _precision(seen[run]["dtype"], group[group["run"] == run])
        first = seen[runs[0]]
        for run in runs[1:]:
            differ = {k: (first[k], seen[run][k]) for k in LLM_SETTINGS if first[k] != seen[run][k]}
            if differ:
                raise ValueError(
                    f"{task} / {model} has seeds in {runs[0]} and {run}, made with different settings {differ}; "
                    "a mean over them would mix two experiments: report the runs separately, or rerun the seeds "
                    "with one setting"
                )


def _on_threads(threads: str) -> str:
    """The threads beside a wall time, as in " (2 threads)"; nothing where the records do not say."""
    return "" if not threads else f" ({threads} thread{'' if threads == '1' else 's'})"


def _runs_table(results: pd.DataFrame, results_dirs: Sequence[str | Path]) -> list[str]:
    """One row per results directory: its models and the settings its LLM models ran with."""
    lines = ["| results | models | epochs | precision | stage-1 corpus | lr | batch | tag length |",
             "|---|---|---|---|---|---|---|---|"]
    for d in results_dirs:
        ran = results[results["run"] == str(d)]
        if ran.empty:
            continue
        models = _ordered_models(ran["model"])
        settings = run_settings(d)
        if not any(group_of(m) != "expert" for m in models):
            cells = ["-"] * 6  # the experts take none of these settings
        elif settings is None:
            cells = ["not recorded"] * 6
        else:
            cells = [str(settings["epochs"]), _precision(settings["dtype"], ran), _stage1(d, settings),
                     _rates(models, settings),
                     str(settings["batch_size"]), _tag_length(settings)]
        lines.append(f"| `{Path(d).name}` | {', '.join(models)} | " + " | ".join(cells) + " |")
    return lines


def _tag_length(settings: dict) -> str:
    """A run's tag length, as "3", or "3 (domain 1)" where its domain tags had another."""
    p, domain_p = settings["p"], settings.get("domain_p")
    return str(p) if domain_p in (None, p) else f"{p} (domain {domain_p})"


def _precision(dtype: str | None, cells: pd.DataFrame) -> str | None:
    """A run's precision setting; for ``"auto"``, the precisions its cells record, e.g. ``"auto (bfloat16)"``."""
    if dtype != "auto" or "dtype" not in cells:
        return dtype if dtype is None else str(dtype)
    ran = sorted(set(cells["dtype"].dropna()))
    return f"auto ({', '.join(ran)})" if ran else "auto"


def _rates(models: list[str], settings: dict) -> str:
    """The learning rate of each model that trains: Tag-LLM the run's (or its own search's); PEFT keeps its own."""
    def rate(model: str) -> str:  # a search inside fit: the rates it chooses from
        own = parse_options(split_label(model)[1]).get("lr", settings["lr"]) if is_tagllm(model) else None
        grid = (MODELS[model].lr,) if model in PEFT_MODELS else own if isinstance(own, tuple) else (own,)
        return f"{grid[0]:g}" if len(grid) == 1 else "chosen from " + "/".join(f"{r:g}" for r in grid)
    rates = {m: rate(m) for m in models if is_tagllm(m) or m in PEFT_MODELS}
    if not rates:
        return "-"  # the linear probe's strength is chosen on validation; it has no rate
    if len(set(rates.values())) == 1:
        return next(iter(rates.values()))
    return ", ".join(f"{m} {r}" for m, r in rates.items())


def _stage1(results_dir: str | Path, settings: dict) -> str:
    """The stage-1 corpora, per domain, as the run's ``domain_tags_corpus.json`` records them."""
    if settings.get("stage1_corpus", 0) is None:  # a library given to the run, which does not say what it learned
        return "the tags of " + ", ".join(sorted(set((settings.get("domain_tags") or {}).values())))
    if not settings.get("stage1_corpus"):
        return "none"
    file = Path(results_dir) / "domain_tags_corpus.json"
    try:
        corpora = json.loads(file.read_text())["corpora"]
        return ", ".join(f"{domain} {int(c['n'])}" for domain, c in sorted(corpora.items()))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return f"up to {settings['stage1_corpus']} per domain"


def write_report(
    results_dirs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    data_path: str | Path | None = None,
    title: str = "biotag benchmark report",
) -> Path:
    """Write ``report.md`` and ``report.png`` into ``out_dir`` from the results in ``results_dirs``."""
    results = read_runs(results_dirs)
    summary = summarize(results)
    board = leaderboard(data_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    lines = [f"# {title}", ""]
    notes = sorted({n for n, t in zip(summary["notes"], summary["task"]) if n and get_task(t).group == "admet"})
    if notes:
        lines += [f"ADMET figures are {', '.join(notes)}: the offline ADMET-group folder is a faithful "
                  "reconstruction of TDC's scaffold split, whose test sets may differ from the official ones "
                  "by a row or so. Leaderboard rows are the published ones (TDC, Feb 2025).", ""]
    lines += ["Mean ± std over seeds, computed as TDC's `evaluate_many` does. *Rank* is the place the mean "
              "would take on the published leaderboard (top 10-13 entries shown there). Wall time is per seed "
              "(fit + predict) on this machine.", ""]

    references = {t: published(get_task(t), board, data_path) for t in summary["task"].unique()}
    headline, sections = _summary(results, summary, references)
    lines += ["## Summary", ""] + headline + [""] + standing_section(summary)
    table, failures = coverage(results)
    lines += ["## Coverage", "", f"Finished seeds per task and model (the protocol runs {len(SEEDS)}); "
              "\"-\": not run. A rerun of the same command resumes the missing cells.", ""] + table + [""]
    if failures:
        lines += ["Failed cells (recorded with their error; a rerun tries them again):", ""] + failures + [""]
    lines += ["## Runs", "", "The settings each results directory ran with (`run.json`); epochs, precision, stage-1 "
              "corpus, learning rate, batch and tag length apply to the LLM models only.", ""]
    lines += _runs_table(results, results_dirs) + [""]
    lines += sections
    validation = validation_table(results)
    if validation:
        lines += ["## Validation", "", "Each seed's validation score (mean ± std (seeds)), from the models that keep "
                  "those rows out of training: what defaults are chosen on, never the test scores.", ""]
        lines += validation + [""]
    training = training_table(results)
    if training:
        lines += ["## Tag-LLM training", "", "Whether stage 2's training moved past the start it is validated against "
                  "(the start is kept when no epoch beats it on validation), and whether the optimizer lowered its "
                  "own training loss over the first epoch (every training row, parameters fixed).", ""]
        lines += training + [""]
    plot_scores(summary, references, out_dir / "report.png")
    lines += ["![scores per task beside the leaderboard](report.png)", ""]
    (out_dir / "report.md").write_text("\n".join(lines))
    return out_dir / "report.md"


def summary_table(results_dirs: Sequence[str | Path], *, data_path: str | Path | None = None) -> list[str]:
    """The report's summary table (a row per task: Tag-LLM, the best expert and LLM baseline, the leaderboard's
    first) and its line of counts, from the results in ``results_dirs``: what the README shows."""
    results = read_runs(results_dirs)
    summary = summarize(results)
    board = leaderboard(data_path)
    references = {t: published(get_task(t), board, data_path) for t in summary["task"].unique()}
    counts = [line for line in standing_section(summary) if line.startswith("Tag-LLM beats")]
    return _summary(results, summary, references)[0] + [""] + counts


def _summary(results: pd.DataFrame, summary: pd.DataFrame, references: dict) -> tuple[list[str], list[str]]:
    """The summary table's lines and each task's section."""
    headline = ["| task | metric | Tag-LLM (which, in brackets) | best expert | best LLM baseline | published #1 |",
                "|---|---|---|---|---|---|"]
    sections = []
    ok = results[results["status"] == "ok"]
    runs = {key: sorted({Path(d).name for d in group}) for key, group in ok.groupby(["task", "model"])["run"]}
    for task_name, rows in summary.groupby("task", sort=False):
        section, headline_row = _task_section(task_name, rows, references[task_name], runs)
        sections += section
        headline.append(headline_row)
    return headline, sections


def _task_section(task_name: str, rows: pd.DataFrame, reference: pd.DataFrame, runs: dict) -> tuple[list[str], str]:
    """A task's section of the report (its models beside the leaderboard) and its row of the summary."""
    task = get_task(task_name)
    sections = [f"## {task.leaderboard or task.name} ({task.metric.upper()}, "
                f"{'higher' if task.higher_is_better else 'lower'} is better)", ""]
    task_notes = sorted({n for n in rows["notes"] if n})
    if task.group != "admet" and task_notes:
        sections += [f"Data: {'; '.join(task_notes)}.", ""]
    if len(reference) and task.paper_column:
        sections += ["Published rows are the Tag-LLM paper's Table 2 (LLaMA-7B and its own data): context "
                     "for scale, not a like-for-like comparison.", ""]
    elif not len(reference):
        sections += ["No published leaderboard for this task in the reference data.", ""]
    sections += ["| model | seeds | " + task.metric + " | leaderboard rank | wall s / seed | trainable params "
                 "| peak MB | results |", "|---|---|---|---|---|---|---|---|"]
    for r in rows.sort_values("mean", ascending=not task.higher_is_better).itertuples():
        rank = (f"{leaderboard_rank(r.mean, reference, task.higher_is_better)} of {len(reference) + 1}"
                if len(reference) else "-")
        sections.append(f"| **{r.model}** | {r.seeds} | {format_score(r.mean, r.std, r.seeds)} | {rank} "
                        f"| {r.wall_s:.0f}{_on_threads(r.threads)} | {r.trainable_params:,} | {r.peak_rss_mb:.0f} "
                        f"| {', '.join(f'`{run}`' for run in runs.get((task_name, r.model), []))} |")
    for r in reference.itertuples():
        std = "" if pd.isna(r.std) else f" ± {figure(r.std, r.mean)}"
        sections.append(f"| {r.model} (published #{r.rank}) | | {figure(r.mean)}{std} | {r.rank} | | | | |")
    sections.append("")

    def best(names):
        pick = rows[rows["model"].isin(names)]
        if pick.empty:
            return "-"
        row = pick.sort_values("mean", ascending=not task.higher_is_better).iloc[0]
        return f"{format_score(row['mean'], row['std'], row['seeds'])} ({row['model']})"

    top = reference.sort_values("rank").iloc[0] if len(reference) else None
    ours = next(([m] for m in TAGLLM_CHOICE if m in set(rows["model"])), [])  # a fixed choice, never the best
    headline = (f"| {task.leaderboard or task.name} | {task.metric} | " + best(ours) + " | "
                + best(EXPERT_MODELS) + " | " + best([m for m in set(rows["model"]) if is_llm_baseline(m)]) + " | "
                + (f"{figure(top['mean'])} ({top['model']})" if top is not None else "-") + " |")
    return sections, headline
