"""The report puts each model beside the published leaderboard and ranks it."""

import pandas as pd
import pytest

from biotag.benchmark import Settings, run_benchmark
from biotag.benchmark.report import format_score, leaderboard_rank, write_report


def test_leaderboard_rank_counts_strictly_better_entries():
    board = pd.DataFrame({"mean": [0.276, 0.285, 0.3]})
    assert leaderboard_rank(0.25, board, higher_is_better=False) == 1
    assert leaderboard_rank(0.29, board, higher_is_better=False) == 3
    assert leaderboard_rank(0.29, board, higher_is_better=True) == 2
    assert leaderboard_rank(0.5, board, higher_is_better=False) == 4


def test_scores_print_to_three_places_or_three_significant_figures_below_a_hundredth():
    assert format_score(0.28, 0.007) == "0.280 ± 0.007"
    assert format_score(0.00322, 0.00009) == "0.00322 ± 0.00009"  # Descriptor's MSE: 0.003 ± 0.000 says nothing
    assert format_score(0.0, 0.0) == "0.000 ± 0.000"
    assert format_score(0.014, 0.0031, seeds=3) == "0.014 ± 0.003 (3 seeds)"
    assert format_score(0.0074, 0.00049) == "0.0074 ± 0.0005"  # no zeros past the third place that say nothing
    assert format_score(0.003, 0.0) == "0.003 ± 0.000"


def test_report_writes_markdown_and_plot(tmp_path, data_dir):
    run_benchmark(["toy_regression"], ["rf_morgan"], tmp_path, seeds=(1, 2), settings=Settings(n_jobs=1),
                  isolate=False, progress=False)
    report = write_report([tmp_path], tmp_path / "report", data_path=data_dir)
    text = report.read_text()
    assert "| **rf_morgan** | 2 |" in text and "toy_regression" in text
    assert (tmp_path / "report" / "report.png").stat().st_size > 10_000


def test_paper_tasks_are_shown_beside_the_papers_table(data_dir):
    from biotag.benchmark import get_task
    from biotag.benchmark.report import leaderboard, published

    board = leaderboard(data_dir)
    rows = published(get_task("qed"), board, data_dir)
    paper = pd.read_csv(data_dir / "reference" / "tag_llm_paper_table2.csv").dropna(subset=["qed_mse"])
    assert len(rows) == len(paper) and rows["source"].eq("Tag-LLM paper, Table 2").all()
    assert list(rows["rank"]) == list(range(1, len(rows) + 1)) and rows["mean"].is_monotonic_increasing
    caco2 = published(get_task("caco2_wang"), board, data_dir)
    assert len(caco2) >= 10 and (caco2["benchmark"] == "Caco2_Wang").all()
    assert published(get_task("beta_lactamase"), board, data_dir).empty


def test_split_notes_go_with_their_tasks(tmp_path, data_dir):
    import json

    base = {"metric": "mae", "higher_is_better": False, "status": "ok", "wall_s": 1.0, "trainable_params": 1,
            "peak_rss_mb": 1.0, "model": "rf_morgan"}
    records = [{**base, "task": "caco2_wang", "seed": 1, "value": 0.3, "notes": "on the reconstructed split"},
               {**base, "task": "descriptor", "seed": 1, "metric": "mse", "value": 0.01,
                "notes": "379 DAVIS kinase sequences, Biopython GRAVY labels"}]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    text = write_report([tmp_path], tmp_path / "report", data_path=data_dir).read_text()
    header = text.split("## Summary")[0]
    assert "on the reconstructed split" in header and "GRAVY" not in header
    assert "Data: 379 DAVIS kinase sequences, Biopython GRAVY labels." in text.split("## descriptor")[1]


def test_a_figure_from_fewer_seeds_says_so(tmp_path, data_dir):
    import json

    base = {"task": "caco2_wang", "metric": "mae", "higher_is_better": False, "status": "ok", "wall_s": 1.0,
            "trainable_params": 1, "peak_rss_mb": 1.0, "notes": ""}
    records = ([{**base, "model": "lora", "seed": 1, "value": 0.475}]
               + [{**base, "model": "rf_morgan", "seed": s, "value": 0.3 + s / 100} for s in (1, 2)]
               + [{**base, "model": "catboost_maplight", "seed": s, "value": 0.28} for s in range(1, 6)])
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    text = write_report([tmp_path], tmp_path / "report", data_path=data_dir).read_text()
    assert "| **lora** | 1 | 0.475 (1 seed) |" in text  # no "± 0.000" for a single seed
    assert "| **rf_morgan** | 2 | 0.315 ± 0.005 (2 seeds) |" in text
    assert "| **catboost_maplight** | 5 | 0.280 ± 0.000 |" in text
    assert "0.475 (1 seed) (lora)" in text.split("## Summary")[1].split("##")[0]  # the headline too


def test_the_summary_gives_tagllms_defaults_not_its_best_variant_on_test(tmp_path, data_dir):
    import json

    base = {"task": "caco2_wang", "metric": "mae", "higher_is_better": False, "status": "ok", "wall_s": 1.0,
            "trainable_params": 1, "peak_rss_mb": 1.0, "notes": ""}
    records = [{**base, "model": model, "seed": s, "value": value} for s in range(1, 6)
               for model, value in [("tagllm_pool_probe_select", 0.45), ("tagllm_pool_probe", 0.40), ("tagllm", 0.3)]]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = write_report([tmp_path], tmp_path / "report", data_path=data_dir).read_text().split("## Summary")[1]
    # recorded under earlier names (no options recorded): read as the method and options they ran, the earlier
    # defaults under their own name
    assert "| Caco2_Wang | mae | 0.450 ± 0.000 (tagllm_earlier) |" in summary.split("##")[0]
    assert "tagllm_earlier[head_init=probe]" in summary.split("## Coverage")[1]


def test_tagllm_cells_are_read_as_the_defaults_they_ran_under():
    from biotag.benchmark.models import read_as

    # options recorded, the whole setting not: the earlier defaults, with those options
    assert read_as({"model": "tagllm[head_lr=0]", "options": {"head_lr": "0"}}) == "tagllm_earlier[head_lr=0]"
    assert read_as({"model": "tagllm", "options": {}}) == "tagllm_earlier"
    # the whole setting recorded: as it is named
    assert read_as({"model": "tagllm", "options": {}, "config": {"head_init": "probe"}}) == "tagllm"
    assert read_as({"model": "tagllm_paper", "options": {}}) == "tagllm_paper"
    assert read_as({"model": "rf_morgan"}) == "rf_morgan"


def test_results_only_models_are_refused_before_any_work():
    from biotag.benchmark.runner import check_models

    with pytest.raises(KeyError, match="does not run"):
        check_models(["rf_morgan", "tagllm_earlier"])


def test_coverage_shows_what_ran_and_lists_failed_cells(tmp_path, data_dir):
    import json

    base = {"metric": "mae", "higher_is_better": False, "wall_s": 1.0, "trainable_params": 1, "peak_rss_mb": 1.0,
            "notes": ""}
    records = ([{**base, "task": "caco2_wang", "model": "catboost_maplight", "seed": s, "status": "ok",
                 "value": 0.28} for s in range(1, 6)]
               + [{**base, "task": "caco2_wang", "model": "tagllm", "options": {}, "config": {}, "seed": s, "status": "ok", "value": 0.45}
                  for s in (1, 2)]
               + [{**base, "task": "caco2_wang", "model": "tagllm", "options": {}, "config": {}, "seed": 3, "status": "failed",
                   "error": "MemoryError: out of memory\nsecond line"},
                  # failed, then fixed by a rerun: the later record of the cell replaces the earlier one
                  {**base, "task": "hia_hou", "model": "rf_morgan", "seed": 1, "status": "failed",
                   "error": "ValueError: flaky"},
                  {**base, "task": "hia_hou", "model": "rf_morgan", "seed": 1, "status": "ok", "value": 0.95,
                   "metric": "roc-auc", "higher_is_better": True},
                  # a task whose only cell failed still shows up
                  {**base, "task": "dili", "model": "lora", "seed": 2, "status": "failed",
                   "error": "RuntimeError: " + "x" * 300}])
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    text = write_report([tmp_path], tmp_path / "report", data_path=data_dir).read_text()
    section = text.split("## Coverage")[1].split("\n## ")[0]
    assert "| task | rf_morgan | catboost_maplight | tagllm | lora |" in section
    assert "| Caco2_Wang | - | 5 | 2 of 5 (1 failed) | - |" in section
    assert "| HIA_Hou | 1 of 5 | - | - | - |" in section
    assert "| DILI | - | - | - | 0 of 5 (1 failed) |" in section
    assert "- caco2_wang / tagllm / seed 3: MemoryError: out of memory\n" in section
    assert "flaky" not in section and "second line" not in section
    assert "- dili / lora / seed 2: RuntimeError: " + "x" * 183 + "..." in section


def test_a_cell_in_two_results_directories_is_refused(tmp_path, data_dir):
    import json

    import pytest

    record = {"task": "caco2_wang", "model": "tagllm", "options": {}, "config": {}, "seed": 1, "metric": "mae", "higher_is_better": False,
              "status": "ok", "value": 0.45, "wall_s": 1.0, "trainable_params": 1, "peak_rss_mb": 1.0, "notes": ""}
    for run, value in (("base", 0.45), ("lr-1e-2", 0.52)):
        (tmp_path / run).mkdir()
        (tmp_path / run / "results.jsonl").write_text(json.dumps({**record, "value": value}) + "\n")
    with pytest.raises(ValueError, match=r"caco2_wang / tagllm / seed 1 in .*base and .*lr-1e-2"):
        write_report([tmp_path / "base", tmp_path / "lr-1e-2"], tmp_path / "report", data_path=data_dir)
    # each on its own is fine
    assert "0.520 (1 seed)" in write_report([tmp_path / "lr-1e-2"], tmp_path / "r2", data_path=data_dir).read_text()


def _write_run(folder, records, settings=None, corpora=None):
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if settings is not None:
        (folder / "run.json").write_text(json.dumps({"settings": settings}))
    if corpora is not None:
        (folder / "domain_tags_corpus.json").write_text(json.dumps({"corpora": corpora}))


def test_the_report_says_which_run_and_settings_each_figure_comes_from(tmp_path, data_dir):
    base = {"metric": "mae", "higher_is_better": False, "status": "ok", "wall_s": 1.0, "trainable_params": 1,
            "peak_rss_mb": 1.0, "notes": ""}
    _write_run(tmp_path / "experts", [{**base, "task": "caco2_wang", "model": "rf_morgan", "seed": 1, "value": 0.3,
                                       "threads": 2}], settings={"epochs": 10})
    _write_run(tmp_path / "tagllm-fp32", [{**base, "task": "caco2_wang", "model": "tagllm", "options": {}, "config": {}, "seed": 1,
                                           "value": 0.45}],
               settings={"epochs": 3, "lr": 0.003, "stage1_corpus": 500, "dtype": "float32", "p": 10},
               corpora={"smiles": {"n": 500}})
    _write_run(tmp_path / "davis-bf16", [{**base, "task": "davis", "metric": "mse", "model": "tagllm", "options": {}, "config": {}, "seed": 1,
                                          "value": 0.5}],
               settings={"epochs": 1, "dtype": "bfloat16", "stage1_corpus": 500, "p": 3, "domain_p": 1},
               corpora={"smiles": {"n": 500}, "protein": {"n": 200}})
    # the PEFT baselines keep their own learning rates; the probe has none
    _write_run(tmp_path / "peft", [{**base, "task": "caco2_wang", "model": m, "seed": 1, "value": 0.46}
                                   for m in ("linear_probe", "prompt_tuning", "lora")],
               settings={"epochs": 3, "lr": 0.003, "dtype": "float32"})
    dirs = [tmp_path / "experts", tmp_path / "tagllm-fp32", tmp_path / "davis-bf16", tmp_path / "peft"]
    text = write_report(dirs, tmp_path / "report", data_path=data_dir).read_text()
    runs = text.split("## Runs")[1].split("\n## ")[0]
    assert "| `experts` | rf_morgan | - | - | - | - | - | - |" in runs
    assert "| `tagllm-fp32` | tagllm | 3 | float32 | smiles 500 | 0.003 | 16 | 10 |" in runs
    assert "| `davis-bf16` | tagllm | 1 | bfloat16 | protein 200, smiles 500 | 0.003 | 16 | 3 (domain 1) |" in runs
    assert ("| `peft` | linear_probe, prompt_tuning, lora | 3 | float32 | none | prompt_tuning 0.003, lora 0.0005 |"
            in runs)
    caco2 = text.split("## Caco2_Wang")[1].split("\n## ")[0]
    assert "| 0.450 (1 seed) |" in caco2 and caco2.split("**tagllm**")[1].splitlines()[0].endswith("| `tagllm-fp32` |")
    # Threads beside the wall time: the forest's as its cell recorded them, none said for tagllm.
    assert "| 1 (2 threads) | " in caco2.split("**rf_morgan**")[1].splitlines()[0]
    assert "thread" not in caco2.split("**tagllm**")[1].splitlines()[0]


def test_seeds_of_one_model_from_runs_with_other_settings_are_refused(tmp_path, data_dir):
    import pytest

    base = {"task": "caco2_wang", "model": "tagllm", "options": {}, "config": {}, "metric": "mae", "higher_is_better": False, "status": "ok",
            "value": 0.45, "wall_s": 1.0, "trainable_params": 1, "peak_rss_mb": 1.0, "notes": ""}
    _write_run(tmp_path / "a", [{**base, "seed": 1}], settings={"epochs": 3, "dtype": "float32"})
    _write_run(tmp_path / "b", [{**base, "seed": 2}], settings={"epochs": 3, "dtype": "bfloat16"})
    _write_run(tmp_path / "c", [{**base, "seed": 3}], settings={"epochs": 3, "dtype": "float32", "n_jobs": 1})
    with pytest.raises(ValueError, match=r"caco2_wang / tagllm has seeds in .*a and .*b.*'dtype': \('float32', "
                                         r"'bfloat16'\)"):
        write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "report", data_path=data_dir)
    text = write_report([tmp_path / "a", tmp_path / "c"], tmp_path / "r2", data_path=data_dir).read_text()
    assert "| **tagllm** | 2 |" in text and "| `a`, `c` |" in text


def test_an_unreadable_run_record_is_named(tmp_path, data_dir):
    import pytest

    record = {"task": "caco2_wang", "model": "tagllm", "options": {}, "config": {}, "seed": 1, "metric": "mae", "higher_is_better": False,
              "status": "ok", "value": 0.45, "wall_s": 1.0, "trainable_params": 1, "peak_rss_mb": 1.0, "notes": ""}
    _write_run(tmp_path / "a", [record])
    (tmp_path / "a" / "run.json").write_text('{"settings": {"epochs": 3')  # cut short
    with pytest.raises(ValueError, match=r"run\.json is not a readable run record"):
        write_report([tmp_path / "a"], tmp_path / "report", data_path=data_dir)


def test_validation_scores_are_tabulated_and_ranked_per_task_never_from_test_scores():
    from biotag.benchmark.validation_scores import validation_summary, validation_table

    rows = []
    for seed, (a, b, c, d) in enumerate([(0.40, 0.50, 0.90, 0.80), (0.42, 0.48, 0.92, 0.70)], start=1):
        rows += [{"task": "caco2_wang", "model": "tagllm", "options": {}, "config": {}, "seed": seed, "status": "ok", "value": 9.0, "valid_value": a},
                 {"task": "caco2_wang", "model": "tagllm_pool", "seed": seed, "status": "ok", "value": 0.0,
                  "valid_value": b},
                 {"task": "hia_hou", "model": "tagllm", "options": {}, "config": {}, "seed": seed, "status": "ok", "value": 0.0, "valid_value": c},
                 {"task": "hia_hou", "model": "tagllm_pool", "seed": seed, "status": "ok", "value": 1.0,
                  "valid_value": d}]
    rows.append({"task": "hia_hou", "model": "rf_morgan", "seed": 1, "status": "ok", "value": 0.99, "valid_value": None})
    rows.append({"task": "hia_hou", "model": "tagllm", "options": {}, "config": {}, "seed": 3, "status": "failed", "value": None, "valid_value": None})
    results = pd.DataFrame(rows)
    summary = validation_summary(results).set_index(["task", "model"])
    assert summary.loc[("caco2_wang", "tagllm"), "mean"] == pytest.approx(0.41)
    assert summary.loc[("caco2_wang", "tagllm"), "std"] == pytest.approx(0.01)  # population std, as TDC's
    assert summary.loc[("hia_hou", "tagllm"), "seeds"] == 2 and ("hia_hou", "rf_morgan") not in summary.index
    table = validation_table(results)
    # MAE: lower is better (tagllm first); ROC-AUC: higher is better (tagllm first); the test values play no part
    assert table[2] == "| tagllm | 0.410 ± 0.010 (2) | 0.910 ± 0.010 (2) | 1.00 |"
    assert table[3] == "| tagllm_pool | 0.490 ± 0.010 (2) | 0.750 ± 0.050 (2) | 2.00 |"
    assert validation_table(results.drop(columns="valid_value")) == []


def test_tagllms_standing_is_oriented_per_metric_and_counted():
    """The estimators' defaults speak for Tag-LLM where they ran (never the best of its variants' test scores), the
    best LLM baseline is any probe or PEFT model, and the forest ratio is 1 at level, more when Tag-LLM is better."""
    from biotag.benchmark.standing import forest_ratio, standing, standing_section

    assert forest_ratio(0.5, 0.25, higher_is_better=False) == pytest.approx(0.5)  # MAE twice the forest's
    assert forest_ratio(0.9, 1.0, higher_is_better=True) == pytest.approx(0.9)
    assert pd.isna(forest_ratio(-0.1, 0.5, higher_is_better=True))
    summary = pd.DataFrame([
        {"task": "caco2_wang", "model": "tagllm[head_init=probe]", "mean": 0.30},  # better, but a variant: not shown
        {"task": "caco2_wang", "model": "tagllm", "options": {}, "config": {}, "mean": 0.45},
        {"task": "caco2_wang", "model": "linear_probe", "mean": 0.46},
        {"task": "caco2_wang", "model": "linear_probe_pooled", "mean": 0.42},
        {"task": "caco2_wang", "model": "rf_morgan", "mean": 0.40},
        {"task": "hia_hou", "model": "tagllm_paper", "mean": 0.95},  # the paper's setting where the defaults did not run
        {"task": "hia_hou", "model": "lora", "mean": 0.85},
        {"task": "hia_hou", "model": "rf_morgan", "mean": 0.94},
        {"task": "dili", "model": "rf_morgan", "mean": 0.90},  # no Tag-LLM: no row
    ])
    table = standing(summary).set_index("task")
    assert list(table.index) == ["caco2_wang", "hia_hou"]
    assert table.loc["caco2_wang", "tagllm"] == "tagllm" and table.loc["hia_hou", "tagllm"] == "tagllm_paper"
    assert table.loc["caco2_wang", "baseline"] == "linear_probe_pooled" and not table.loc["caco2_wang", "beats_baseline"]
    assert table.loc["caco2_wang", "forest_ratio"] == pytest.approx(0.40 / 0.45)
    assert table.loc["hia_hou", "baseline"] == "lora" and table.loc["hia_hou", "beats_forest"]
    both = pd.DataFrame([{"task": "dili", "model": "tagllm_paper", "mean": 0.95},
                         {"task": "dili", "model": "tagllm", "options": {}, "config": {}, "mean": 0.80}])
    assert standing(both).loc[0, "tagllm"] == "tagllm"  # the defaults speak, not the best score
    lines = standing_section(summary)
    assert "| caco2_wang | mae | 0.450 (tagllm) | 0.420 (linear_probe_pooled) | no | 0.400 | 0.889 | no |" \
        in lines
    assert lines[-2] == ("Tag-LLM beats the best LLM baseline on 1 of 2 tasks that have one; it reaches 0.9 of the "
                         "forest's score on 1 of 2 and beats the forest on 1.")
    assert standing_section(summary[summary["task"] == "dili"]) == []


def test_the_report_says_how_often_tag_training_beat_its_start_and_lowered_its_training_loss(tmp_path, data_dir):
    import json

    base = {"task": "caco2_wang", "metric": "mae", "higher_is_better": False, "status": "ok", "wall_s": 1.0,
            "trainable_params": 1, "peak_rss_mb": 1.0, "notes": "", "options": {}, "config": {}, "value": 0.4}
    records = [{**base, "model": "tagllm", "seed": s, "best_epoch": b, "start_train_loss": 0.2,
                "first_epoch_train_loss": f} for s, b, f in ((1, 0, 0.3), (2, 3, 0.19), (3, 1, 0.2))]
    records += [{**base, "model": "rf_morgan", "seed": 1}]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    text = write_report([tmp_path], tmp_path / "report", data_path=data_dir).read_text()
    section = text.split("## Tag-LLM training")[1].split("##")[0]
    assert "| tagllm | 2 of 3 | 2 of 3 |" in section and "rf_morgan" not in section
