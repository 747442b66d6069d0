"""The runner: records every cell, resumes, keeps failures, refuses mixed settings."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biotag.benchmark import Settings, run_benchmark, summarize
from biotag.benchmark import models as models_module
from biotag.benchmark.models.experts import RandomForestMorgan
from biotag.benchmark.runner import RESULTS, read_results
from toy import FOREST_THREADS_WARNING


class Exploding(models_module.BenchmarkModel):
    name = "exploding"

    def fit(self, split):
        raise RuntimeError("boom on purpose")


@pytest.fixture
def exploding(monkeypatch):
    monkeypatch.setitem(models_module.MODELS, "exploding", Exploding)


def run(out, models=("rf_morgan",), seeds=(1, 2), **kw):
    return run_benchmark(["toy_regression", "toy_binary"], list(models), out, seeds=seeds,
                         settings=Settings(n_jobs=1), isolate=False, progress=False, **kw)


def test_cells_are_recorded_with_metric_time_params_and_memory(tmp_path):
    results = run(tmp_path)
    assert len(results) == 4 and set(results["status"]) == {"ok"}
    for col in ["value", "metric", "wall_s", "fit_s", "predict_s", "trainable_params", "peak_rss_mb", "n_test"]:
        assert results[col].notna().all(), col
    assert (tmp_path / "results.csv").is_file() and (tmp_path / "run.json").is_file()
    from biotag.benchmark.runner import read_predictions

    every = read_predictions(tmp_path)
    pred = every[(every.task == "toy_binary") & (every.model == "rf_morgan") & (every.seed == 1)]
    assert list(every.columns) == ["task", "model", "seed", "row", "y_pred"]  # no labels out of the data directory
    assert len(every) == 4 * 6 and pred["row"].tolist() == list(range(6))
    # A rerun of a cell appends its new predictions; the reader keeps those of the cell's latest record.
    from biotag.benchmark.runner import _append_predictions

    record = read_results(tmp_path).query("task == 'toy_binary' and model == 'rf_morgan' and seed == 1").iloc[0]
    _append_predictions(tmp_path, {**record.to_dict(), "started_at": "earlier"}, np.zeros(6))
    assert read_predictions(tmp_path).equals(every)


def test_held_out_validation_is_scored_for_models_that_keep_it_out_and_every_cell_records_cpu_and_precision(
        tmp_path, tiny_model_dir):
    from biotag.benchmark.tasks import get_task, load_split, metric_value
    from biotag.hardware import cpu_description, resolve_placement

    results = run_benchmark(["toy_regression"], ["rf_morgan", "tagllm", "linear_probe"], tmp_path, seeds=(1,),
                            settings=Settings(model=tiny_model_dir, epochs=1, p=2, n_jobs=1), isolate=False,
                            progress=False).set_index("model")
    assert (results["cpu"] == cpu_description()).all()
    assert pd.isna(results.loc["rf_morgan", "valid_value"])  # trained on train + valid: no held-out score
    assert pd.isna(results.loc["rf_morgan", "dtype"])  # no LLM
    import torch

    auto = resolve_placement(torch.device("cpu"), "auto").dtype
    for model in ["tagllm", "linear_probe"]:
        assert results.loc[model, "dtype"] == auto
        assert np.isfinite(results.loc[model, "valid_value"]) and results.loc[model, "valid_value"] > 0  # an MAE
    # the recorded score is the model's, on the validation rows
    from biotag.benchmark.models import make_model

    task = get_task("toy_regression")
    split = load_split(task, 1)
    probe = make_model("linear_probe", task, 1, Settings(model=tiny_model_dir, n_jobs=1)).fit(split)
    assert results.loc["linear_probe", "valid_value"] == pytest.approx(
        metric_value(task.metric, split.y_valid, probe.predict(split.X_valid)), abs=1e-4)


def test_a_rerun_skips_finished_cells_and_resumes_an_interrupted_one(tmp_path):
    run(tmp_path)
    lines = (tmp_path / RESULTS).read_text().splitlines()
    # An interruption: the last record is cut short mid-write.
    (tmp_path / RESULTS).write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    assert len(read_results(tmp_path)) == 3  # the cut line is ignored
    run(tmp_path)
    kept = (tmp_path / RESULTS).read_text().splitlines()
    assert kept[:3] == lines[:3]  # earlier records untouched
    assert len(kept) == 5  # 3 kept + the cut line + the one cell that ran again
    assert json.loads(kept[-1])["status"] == "ok" and len(read_results(tmp_path)) == 4
    with pytest.warns(UserWarning, match=r"line\(s\) 4 are not cell records"):  # what the report reads
        assert len(read_results(tmp_path, warn=True)) == 4
    with open(tmp_path / RESULTS, "a") as f:
        f.write('null\n{"foo": 1}\n')  # edited by hand: skipped and named, never a traceback
    with pytest.warns(UserWarning, match=r"line\(s\) 4, 6, 7 are not cell records"):
        assert len(read_results(tmp_path, warn=True)) == 4


def test_a_failing_cell_is_recorded_and_the_rest_go_on(tmp_path, exploding):
    results = run(tmp_path, models=("exploding", "rf_morgan"), seeds=(1,))
    failed = results[results["status"] == "failed"]
    assert len(failed) == 2 and all("boom on purpose" in e for e in failed["error"])
    assert (results[results["model"] == "rf_morgan"]["status"] == "ok").all()
    # Failed cells run again on the next call; finished ones do not.
    again = run(tmp_path, models=("exploding", "rf_morgan"), seeds=(1,))
    assert len((tmp_path / RESULTS).read_text().splitlines()) == 6 and len(again) == 4


class SideBySide(RandomForestMorgan):
    """While it fits seed 1, a second process into the same folder finishes seed 2."""

    name = "side_by_side"
    fitted: list = []

    def fit(self, split):
        SideBySide.fitted.append(self.seed)
        if self.seed == 1:
            from biotag.benchmark.runner import _append

            _append(self.out_dir / RESULTS, {"task": self.task.name, "model": self.name, "seed": 2, "status": "ok",
                                             "metric": "mae", "value": 0.5})
        return super().fit(split)


def test_a_cell_finished_meanwhile_by_a_run_side_by_side_is_not_run_again(tmp_path, monkeypatch):
    monkeypatch.setitem(models_module.MODELS, "side_by_side", SideBySide)
    monkeypatch.setattr(SideBySide, "out_dir", tmp_path, raising=False)
    monkeypatch.setattr(SideBySide, "fitted", [])
    results = run_benchmark(["toy_regression"], ["side_by_side"], tmp_path, seeds=(1, 2, 3),
                            settings=Settings(n_jobs=1), isolate=False, progress=False)
    assert SideBySide.fitted == [1, 3]
    assert sorted(results["seed"]) == [1, 2, 3] and (results["status"] == "ok").all()
    assert len((tmp_path / RESULTS).read_text().splitlines()) == 3  # seed 2's record once, the other run's


class Interrupting(models_module.BenchmarkModel):
    name = "interrupting"

    def fit(self, split):
        raise KeyboardInterrupt  # Ctrl-C mid-run: not recorded as a failure, the run stops


def test_an_interrupted_run_leaves_the_table_in_step_with_the_finished_cells(tmp_path, monkeypatch):
    monkeypatch.setitem(models_module.MODELS, "interrupting", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, models=("rf_morgan", "interrupting"), seeds=(1,))
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(zip(table["task"], table["model"])) == [("toy_regression", "rf_morgan")]
    assert table["status"].tolist() == ["ok"] and "traceback" not in table.columns


def test_resuming_with_other_settings_is_refused(tmp_path):
    """Other LLM settings refuse a run that has an LLM model; expert models alone read none of them."""
    run(tmp_path, seeds=(1,))
    with pytest.raises(ValueError, match="other settings"):
        run_benchmark(["toy_regression"], ["rf_morgan", "tagllm"], tmp_path, seeds=(1,),
                      settings=Settings(epochs=3, n_jobs=1), isolate=False, progress=False)
    run_benchmark(["toy_regression"], ["rf_morgan"], tmp_path, seeds=(1,), settings=Settings(epochs=3, n_jobs=1),
                  isolate=False, progress=False)
    assert json.loads((tmp_path / "run.json").read_text())["settings"]["epochs"] == Settings().epochs


@pytest.mark.filterwarnings(FOREST_THREADS_WARNING)
def test_a_resume_may_change_the_experts_threads_and_each_cell_records_its_own(tmp_path):
    run(tmp_path, seeds=(1,))  # one thread
    results = run_benchmark(["toy_regression", "toy_binary"], ["rf_morgan"], tmp_path, seeds=(1, 2),
                            settings=Settings(n_jobs=2), isolate=False, progress=False)
    threads = {(r.task, r.seed): r.threads for r in results.itertuples()}
    assert threads == {("toy_regression", 1): 1, ("toy_binary", 1): 1, ("toy_regression", 2): 2, ("toy_binary", 2): 2}
    assert "n_jobs" not in json.loads((tmp_path / "run.json").read_text())["settings"]
    assert set(summarize(results)["threads"]) == {"1-2"}
    assert summarize(results.drop(columns="threads"))["threads"].tolist() == ["", ""]  # records made before


@pytest.mark.filterwarnings(FOREST_THREADS_WARNING)
def test_a_setting_added_later_counts_as_its_default_in_older_runs(tmp_path):
    run(tmp_path, seeds=(1,))
    meta = json.loads((tmp_path / "run.json").read_text())
    del meta["settings"]["model"]  # as if the run began before the setting existed
    (tmp_path / "run.json").write_text(json.dumps(meta))
    run(tmp_path, seeds=(1, 2))  # resumes: the default is what that run used
    with pytest.raises(ValueError, match="'model'"):
        run_benchmark(["toy_regression"], ["rf_morgan", "tagllm"], tmp_path, seeds=(1,),
                      settings=Settings(n_jobs=1, model="another/model"), isolate=False, progress=False)


def test_summary_is_mean_and_population_std_over_seeds(tmp_path):
    results = run(tmp_path, seeds=(1, 2, 3))
    summary = summarize(results)
    row = summary[(summary["task"] == "toy_regression") & (summary["model"] == "rf_morgan")].iloc[0]
    values = results[(results["task"] == "toy_regression")]["value"].to_numpy()
    assert row["seeds"] == 3
    assert row["mean"] == round(values.mean(), 3) and row["std"] == round(values.std(), 3)


def test_unknown_task_fails_before_any_work(tmp_path):
    with pytest.raises(KeyError, match="caco2_wang"):
        run_benchmark(["no_such_task"], ["rf_morgan"], tmp_path, progress=False)


def test_a_model_has_no_cells_on_tasks_whose_inputs_it_does_not_take(tmp_path):

    results = run_benchmark(["toy_regression", "toy_protein"], ["rf_morgan", "ridge_protein"], tmp_path,
                            seeds=(1,), settings=Settings(n_jobs=1), isolate=False, progress=False)
    assert sorted(zip(results["task"], results["model"])) == [
        ("toy_protein", "rf_morgan"), ("toy_protein", "ridge_protein"), ("toy_regression", "rf_morgan")]
    assert set(results["status"]) == {"ok"}
    with pytest.raises(KeyError, match="unknown models"):
        run_benchmark(["toy_regression"], ["nope"], tmp_path, settings=Settings(n_jobs=1), progress=False)


def test_tagllm_seeds_share_cached_prefixes_and_each_task_cleans_up(tmp_path, tiny_model_dir, computed_prefixes):
    seen = computed_prefixes
    scratch = tmp_path / "prefixes"
    settings = Settings(model=tiny_model_dir, epochs=1, p=2, prefix_cache=str(scratch), prefix_memory=0.0)
    cached = run_benchmark(["toy_regression"], ["tagllm"], tmp_path / "a", seeds=(1, 2),
                           settings=settings, isolate=False, progress=False)
    assert seen and len(seen) == len(set(seen))  # every input's prefix computed once, over both seeds
    assert not any(scratch.iterdir())  # the task's folder went when its cells were done
    run_benchmark(["toy_regression", "toy_binary"], ["tagllm"], tmp_path / "a", seeds=(1, 2),
                  settings=settings, isolate=False, progress=False)
    assert not any(scratch.iterdir())
    recorded = json.loads((tmp_path / "a" / "run.json").read_text())["settings"]
    assert "prefix_cache" not in recorded and "prefix_memory" not in recorded  # speed settings
    seen.clear()
    plain = run_benchmark(["toy_regression"], ["tagllm"], tmp_path / "b", seeds=(1, 2),
                          settings=Settings(model=tiny_model_dir, epochs=1, p=2), isolate=False, progress=False)
    assert len(seen) > len(set(seen))  # without the cache, seed 2 recomputes seed 1's prefixes
    cached = read_results(tmp_path / "a").query("task == 'toy_regression'")
    assert (cached["status"] == "ok").all() and (plain["status"] == "ok").all()
    assert cached["value"].to_numpy() == pytest.approx(plain["value"].to_numpy(), abs=1e-3)
    # the cache's folder is a speed setting: resuming with another one (or none) is not "other settings"
    run_benchmark(["toy_regression"], ["tagllm"], tmp_path / "a", seeds=(1, 2, 3),
                  settings=Settings(model=tiny_model_dir, epochs=1, p=2), isolate=False, progress=False)


def test_tagllm_on_drug_target_pairs_keeps_each_protein_once_in_the_prefix_cache(tmp_path, tiny_model_dir):
    """DAVIS's shape: a few proteins, each paired with many molecules, a test set that moves with the seed."""
    from safetensors import safe_open


    kept = tmp_path / "prefixes"
    settings = Settings(model=tiny_model_dir, epochs=1, p=2, prefix_cache=str(kept))
    cached = run_benchmark(["toy_dti"], ["tagllm_paper"], tmp_path / "a", seeds=(1, 2), settings=settings,
                           isolate=False, progress=False, keep_prefixes=True)  # the prefixes alone, no pooled states
    assert (cached["status"] == "ok").all() and len(cached) == 2
    parts = []
    for file in kept.rglob("*.safetensors"):
        with safe_open(str(file), framework="pt") as f:
            parts.append(f.metadata()["part"])
    assert sorted(set(parts)) == ["rest", "whole"]
    assert parts.count("whole") == 3 and parts.count("rest") == 24  # 3 proteins once; each of the 24 pairs once
    plain = run_benchmark(["toy_dti"], ["tagllm_paper"], tmp_path / "b", seeds=(1, 2),
                          settings=Settings(model=tiny_model_dir, epochs=1, p=2), isolate=False, progress=False)
    assert cached["value"].to_numpy() == pytest.approx(plain["value"].to_numpy(), rel=1e-3, abs=1e-3)


def test_tagllm_in_bfloat16_is_recorded_and_a_resume_in_another_precision_is_refused(tmp_path, tiny_model_dir):
    from biotag.benchmark.suite import benchmark

    settings = Settings(model=tiny_model_dir, epochs=1, p=2, dtype="bfloat16")
    results = run_benchmark(["toy_regression"], ["tagllm"], tmp_path, seeds=(1,), settings=settings, isolate=False,
                            progress=False)
    assert (results["status"] == "ok").all() and results["value"].notna().all()
    assert json.loads((tmp_path / "run.json").read_text())["settings"]["dtype"] == "bfloat16"
    with pytest.raises(ValueError, match="other settings"):
        run_benchmark(["toy_regression"], ["tagllm"], tmp_path, seeds=(1, 2),
                      settings=Settings(model=tiny_model_dir, epochs=1, p=2), isolate=False, progress=False)
    with pytest.raises(ValueError, match="PEFT baselines .*float32 only"):
        benchmark(tmp_path / "peft", tasks=["toy_regression"], models=["tagllm", "lora"], dtype="bfloat16",
                  pretrain=False, report=False, progress=False)
    assert not (tmp_path / "peft").exists()


def test_each_tagllm_cell_records_which_stage1_library_it_ran_on(tmp_path, tiny_model_dir):
    """A stage-1 library retrained mid-run (another machine, the same corpus) differs in its last digits,
    so every cell says which one it used; models without stage-1 tags record nothing of the kind."""
    import hashlib

    from biotag.tags import TagLibrary, TagSpec
    from biotag.backbone.load import load_base_model

    model, _ = load_base_model(tiny_model_dir)
    library = TagLibrary.for_model(model)
    library.ensure_tag(TagSpec("<SMILES>", "domain", p=2), model)
    folder = library.save(tmp_path / "stage1")
    settings = Settings(model=tiny_model_dir, epochs=1, p=2, n_jobs=1, domain_tags={"smiles": str(folder)})
    results = run_benchmark(["toy_regression"], ["tagllm", "rf_morgan"], tmp_path / "run", seeds=(1,),
                            settings=settings, isolate=False, progress=False).set_index("model")
    assert (results["status"] == "ok").all()
    digest = hashlib.sha256((folder / "tags.safetensors").read_bytes()).hexdigest()[:16]
    assert results.loc["tagllm", "domain_tags_sha256"] == digest
    assert pd.isna(results.loc["rf_morgan", "domain_tags_sha256"])
    assert "domain_tags_sha256" in pd.read_csv(tmp_path / "run" / "results.csv").columns


def test_the_results_folder_keeps_the_record_of_every_stage1_library_its_cells_used(tmp_path, tiny_model_dir):
    """Retrained between two sessions, a stage-1 library gets a new digest; the results folder's corpus file
    names both, so each cell's ``domain_tags_sha256`` leads to its library's training record."""
    from biotag.benchmark.suite import record_stage1
    from biotag.tags import TagLibrary, TagSpec
    from biotag.backbone.load import load_base_model
    from biotag.tags.library import library_digest

    model, _ = load_base_model(tiny_model_dir)
    out = tmp_path / "run"
    out.mkdir()
    legacy = {"corpora": {"smiles": {"n": 8, "history": [{"epoch": 1, "val_loss": 3.0}]}}}
    (out / "domain_tags_corpus.json").write_text(json.dumps(legacy))  # written before the digests were kept
    digests = []
    for p, loss in [(2, 2.5), (3, 2.4)]:
        library = TagLibrary.for_model(model)
        library.ensure_tag(TagSpec("<SMILES>", "domain", p=p), model)
        folder = library.save(tmp_path / f"stage1-{p}")
        (folder / "corpus.json").write_text(json.dumps(
            {"corpora": {"smiles": {"n": 8, "history": [{"epoch": 1, "val_loss": loss}]}}}))
        record_stage1(out, folder)
        record_stage1(out, folder)  # a resume with the same library adds nothing
        digests.append(library_digest(folder))
    written = json.loads((out / "domain_tags_corpus.json").read_text())
    assert written["corpora"]["smiles"]["history"][0]["val_loss"] == 2.4  # the latest, where the report reads it
    assert list(written["libraries"]) == ["unrecorded", *digests] and len(set(digests)) == 2
    assert written["libraries"]["unrecorded"] == legacy
    assert written["libraries"][digests[0]]["corpora"]["smiles"]["history"][0]["val_loss"] == 2.5
    (out / "domain_tags_corpus.json").write_text("{not json")
    with pytest.raises(ValueError, match="domain_tags_corpus.json is not valid JSON"):
        record_stage1(out, folder)


def test_the_suite_gives_tagllm_a_scratch_prefix_cache_only_when_seeds_can_share_it(tmp_path, monkeypatch):

    from biotag.benchmark import suite

    seen = []

    def fake_run(tasks, models, out_dir, *, seeds, settings, data_path, progress, keep_prefixes, devices=None):
        seen.append(settings.prefix_cache)
        kept.append(keep_prefixes)
        assert settings.prefix_cache is None or keep_prefixes or Path(settings.prefix_cache).is_dir()
        return pd.DataFrame()

    kept: list = []

    monkeypatch.setattr(suite, "run_benchmark", fake_run)
    kw = dict(tasks=["toy_regression"], pretrain=False, report=False, progress=False)
    suite.benchmark(tmp_path, models=["tagllm"], seeds=[1, 2], **kw)
    suite.benchmark(tmp_path, models=["tagllm"], seeds=[1], **kw)
    suite.benchmark(tmp_path, models=["tagllm"], seeds=[1, 2], prefix_cache=False, **kw)
    suite.benchmark(tmp_path, models=["rf_morgan"], seeds=[1, 2], **kw)
    assert seen[0] is not None and not Path(seen[0]).exists()  # removed when the run ended
    assert seen[1:] == [None, None, None]
    # a folder the user names is used with any number of seeds, kept task by task and after the run
    (tmp_path / "mine").mkdir()
    suite.benchmark(tmp_path, models=["tagllm"], seeds=[1], prefix_cache=tmp_path / "mine", **kw)
    assert seen[-1] == str((tmp_path / "mine").resolve()) and kept == [False] * 4 + [True]
    assert (tmp_path / "mine").is_dir()


def test_a_kept_prefix_cache_serves_a_resumed_run(tmp_path, tiny_model_dir, computed_prefixes):
    folder = tmp_path / "prefixes"
    settings = Settings(model=tiny_model_dir, epochs=1, p=2, prefix_cache=str(folder))
    run_benchmark(["toy_regression"], ["tagllm"], tmp_path / "a", seeds=(1,), settings=settings, isolate=False,
                  progress=False, keep_prefixes=True)
    assert any(folder.rglob("*.safetensors"))
    computed_prefixes.clear()
    resumed = run_benchmark(["toy_regression"], ["tagllm"], tmp_path / "a", seeds=(1, 2), settings=settings,
                            isolate=False, progress=False, keep_prefixes=True)
    assert computed_prefixes == [] and (resumed["status"] == "ok").all()


def test_a_terminated_benchmark_command_removes_its_scratch_prefix_cache(tmp_path):
    """`kill` (SIGTERM, as batch schedulers send at a time limit) exits through the cleanup, as Ctrl-C does."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
import toy
toy.register_toy_tasks()
from biotag import cli
from biotag.benchmark import suite

def slow_run(tasks, models, out_dir, *, settings, **kw):
    print(settings.prefix_cache, flush=True)
    time.sleep(60)

suite.run_benchmark = slow_run
sys.exit(cli.main(["benchmark", "run", "--tasks", "toy_regression", "--models", "tagllm", "--seeds", "1,2",
                   "--no-pretrain", "--out", {str(tmp_path / "out")!r}]))
""")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    scratch = Path(proc.stdout.readline().strip())
    assert scratch.name.startswith("biotag-prefixes-") and scratch.is_dir()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM  # it has exited, so its cleanup has run
    assert not scratch.exists()


SLEEPY = """
import os, sys, time
sys.path.insert(0, {tests!r})
import numpy as np
import toy
toy.register_toy_tasks()
from biotag.benchmark.models.base import BenchmarkModel, register


@register
class Sleepy(BenchmarkModel):
    name = "sleepy"

    def fit(self, split):
        if self.seed > 1:  # seed 1 finishes; later seeds work until they are stopped
            open({pid_file!r}, "w").write(str(os.getpid()))
            time.sleep(120)
        return self

    def predict(self, X):
        return np.zeros(len(X))


if __name__ == "__main__":
    from biotag import cli
    sys.exit(cli.main(["benchmark", "run", "--tasks", "toy_regression", "--models", "sleepy", "--seeds", "1,2,3",
                       "--out", {out!r}]))
"""


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_benchmark_within_seconds_keeps_finished_cells_and_a_rerun_resumes(tmp_path, signum):
    """SIGTERM (kill, a scheduler's limit) or SIGINT (Ctrl-C) mid-cell: the cell's child process is stopped within
    seconds, every finished cell stays, one line says so, no traceback, the exit status is 128 + the signal."""
    import signal
    import subprocess
    import sys
    import time

    out, pid_file = tmp_path / "out", tmp_path / "child.pid"
    script = tmp_path / "run.py"
    script.write_text(SLEEPY.format(tests=str(Path(__file__).parent), pid_file=str(pid_file), out=str(out)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:  # seed 1 done, seed 2's child at work
        time.sleep(0.2)
    child = int(pid_file.read_text())
    sent = time.monotonic()
    proc.send_signal(getattr(signal, signum))
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 15
    assert proc.returncode == 128 + getattr(signal, signum)
    assert f"stopped by {signum}" in err and "Traceback" not in err
    with pytest.raises(ProcessLookupError):  # the cell's child has gone with it
        for _ in range(50):
            os.kill(child, 0)
            time.sleep(0.1)
    done = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["seed"], r["status"]) for r in done] == [(1, "ok")]


def test_the_suite_passes_the_share_of_memory_for_prefixes_and_refuses_one_outside_0_to_1(tmp_path, monkeypatch):
    from biotag.benchmark import suite

    seen = []
    monkeypatch.setattr(suite, "run_benchmark", lambda *a, settings, **kw: seen.append(settings) or pd.DataFrame())
    kw = dict(tasks=["toy_regression"], models=["tagllm"], pretrain=False, report=False, progress=False)
    suite.benchmark(tmp_path, prefix_memory=0.2, **kw)
    assert seen[-1].prefix_memory == 0.2
    with pytest.raises(ValueError, match="prefix_memory must be between 0 and 1, got 1.5"):
        suite.benchmark(tmp_path, prefix_memory=1.5, **kw)


def test_quick_runs_without_stage1_as_the_estimators_start_unless_asked(tmp_path, monkeypatch, capsys):
    """--quick gives Tag-LLM the shipped domain tags (what TagLLMRegressor() starts from); --pretrain or a corpus
    size brings stage 1 back; the full preset keeps it, unless --shipped-tags; --no-pretrain leaves the tags
    untrained; a corpus size with either of those is refused."""
    from biotag import cli
    from biotag.benchmark import suite

    stage1 = []
    monkeypatch.setattr(suite, "_stage1_everywhere", lambda settings, out, tasks, n, *a: stage1.append(n) or {})
    shipped = suite.pretrained_library(None)
    monkeypatch.setattr(suite, "_library_tags", lambda folder, settings, out, tasks: stage1.append(
        "shipped" if folder == shipped else folder) or {})
    monkeypatch.setattr(suite, "run_benchmark", lambda *a, **kw: pd.DataFrame())
    base = ["benchmark", "run", "--tasks", "toy_regression", "--models", "tagllm[head_init=probe]", "--out", str(tmp_path)]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "library.json").write_text("{}")
    cases = ((["--quick"], ["shipped"]), (["--quick", "--pretrain"], [160]), (["--quick", "--corpus", "50"], [50]),
             ([], [2000]), (["--no-pretrain"], []), (["--quick", "--no-pretrain"], []),
             (["--shipped-tags"], ["shipped"]), (["--domain-tags", str(tmp_path / "mine")], [tmp_path / "mine"]))
    for extra, expected in cases:
        stage1.clear()
        assert cli.main(base + extra) == 0
        assert stage1 == expected, extra
    for extra in (["--no-pretrain"], ["--shipped-tags"]):  # a corpus trains tags, which these leave out
        assert cli.main(base + extra + ["--corpus", "50"]) == 2 and stage1 == expected
        assert "a stage-1 corpus (50) trains domain tags" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # a folder without a library: argparse's usage error, before any work
        cli.main(base + ["--domain-tags", str(tmp_path)])
    assert exit_.value.code == 2 and "is not a saved tag library" in capsys.readouterr().err


def test_a_librarys_tags_are_used_where_they_hold_every_domain_at_the_runs_length(tmp_path):
    from biotag.benchmark import suite

    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "library.json").write_text(json.dumps({"tags": [{"name": "<SMILES>", "kind": "domain", "p": 3}]}))
    (folder / "tags.safetensors").write_bytes(b"tensors")
    (folder / "corpus.json").write_text(json.dumps({"corpora": {"smiles": {"n": 1234}}}))
    for settings, tasks, used in ((Settings(p=3), ["caco2_wang"], True), (Settings(p=10), ["caco2_wang"], False),
                                  (Settings(p=3), ["caco2_wang", "davis"], False)):  # no <Protein> in it
        changes = suite._library_tags(folder, settings, tmp_path / "out", tasks)
        assert settings == type(settings)(**vars(settings))  # the caller's settings are left as they were
        assert bool(changes.get("domain_tags")) == used and changes.get("stage1_corpus", 0) == (1234 if used else 0)
    record = json.loads((tmp_path / "out" / "domain_tags_corpus.json").read_text())
    assert record["corpora"]["smiles"]["n"] == 1234
    assert suite.pretrained_library("other/model") is None  # biotag ships tags for its default model only
    # a library that does not say what it learned from is used all the same, and recorded by where it is
    (folder / "corpus.json").unlink()
    changes = suite._library_tags(folder, Settings(p=3), tmp_path / "out2", ["caco2_wang"])
    assert changes["stage1_corpus"] is None and changes["domain_tags"] == {"smiles": str(folder)}
    assert json.loads((tmp_path / "out2" / "domain_tags_corpus.json").read_text())["library"] == str(folder.resolve())


def test_a_runs_stage1_corpus_counts_the_corpora_of_its_own_domains(tmp_path, monkeypatch):
    from biotag.benchmark import corpus, suite

    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "library.json").write_text(json.dumps({"tags": []}))
    (folder / "corpus.json").write_text(json.dumps({"corpora": {"smiles": {"n": 30}, "protein": {"n": 7}}}))
    asked = []
    monkeypatch.setattr(corpus, "ensure_domain_tags", lambda out, sizes, **kw: asked.append(sizes) or folder)
    for tasks, n, expected in ((["descriptor"], "all", 7), (["caco2_wang"], "all", 30), (["davis"], "all", 37),
                               (["descriptor"], 500, 500)):  # a size caps the proteins
        settings = Settings(p=3)
        changes = suite._with_stage1_tags(settings, tmp_path / "out", tasks, n, None, False, record=False)
        assert changes["stage1_corpus"] == expected and set(changes["domain_tags"].values()) == {str(folder)}
        assert settings.domain_tags == {}  # the caller's settings are left as they were
    assert asked == [{"protein": None}, {"smiles": None}, {"protein": None, "smiles": None},
                     {"protein": suite.PROTEIN_CORPUS}]


def test_the_command_passes_the_experts_threads_and_refuses_a_count_that_is_not_one(tmp_path, monkeypatch, capsys):
    from biotag import cli
    from biotag.benchmark import suite

    seen = []
    monkeypatch.setattr(suite, "run_benchmark", lambda *a, settings, **kw: seen.append(settings) or pd.DataFrame())
    base = ["benchmark", "run", "--tasks", "toy_regression", "--models", "rf_morgan", "--out", str(tmp_path)]
    for jobs in ("4", "-1"):
        cli.main(base + ["--jobs", jobs])
        assert seen[-1].n_jobs == int(jobs)
    with pytest.raises(SystemExit):
        cli.main(base + ["--jobs", "0"])
    assert "argument --n-jobs/--jobs: '0' is not a number of threads" in capsys.readouterr().err


def test_tag_length_and_learning_rate_reach_the_cells_and_a_folder_keeps_its_own(tmp_path, monkeypatch, capsys):
    """--p, --domain-p and --lr set the Tag-LLM cells' tag length and learning rate; a results folder made with other values
    refuses to resume (as for every recorded setting); values that are no length or rate are refused."""
    from biotag import cli
    from biotag.benchmark import suite
    from biotag.benchmark.run_settings import check_run_settings

    seen = []
    monkeypatch.setattr(suite, "run_benchmark", lambda *a, settings, **kw: seen.append(settings) or pd.DataFrame())
    base = ["benchmark", "run", "--tasks", "toy_regression", "--models", "tagllm", "--no-pretrain", "--out",
            str(tmp_path / "a")]
    assert cli.main(base) == 0 and (seen[-1].p, seen[-1].lr, seen[-1].prompt_tokens) == (3, 3e-3, 20)
    assert cli.main(base + ["--prompt-tokens", "8"]) == 0 and seen[-1].prompt_tokens == 8
    assert cli.main(base + ["--p", "2", "--lr", "0.01"]) == 0 and (seen[-1].p, seen[-1].lr) == (2, 0.01)
    assert seen[-1].domain_p is None
    assert cli.main(base + ["--domain-p", "1"]) == 0 and (seen[-1].p, seen[-1].domain_p) == (3, 1)
    check_run_settings(tmp_path / "b", seen[2])  # p=2, lr=0.01
    with pytest.raises(ValueError, match=r"other settings \{'p': \(2, 3\)\}"):
        check_run_settings(tmp_path / "b", Settings(lr=0.01))
    # Expert models read no LLM setting: a run of them alone resumes the folder, which keeps its LLM record.
    check_run_settings(tmp_path / "b", Settings(lr=0.01, n_jobs=1), llm=False)
    assert json.loads((tmp_path / "b" / "run.json").read_text())["settings"]["p"] == 2
    # Probes and PEFT read none of Tag-LLM's own settings: a run without Tag-LLM resumes past them, and keeps them.
    check_run_settings(tmp_path / "b", Settings(p=5, stage1_corpus=7), tagllm=False)
    with pytest.raises(ValueError, match=r"other settings \{'epochs': \(10, 4\)\}"):
        check_run_settings(tmp_path / "b", Settings(epochs=4), tagllm=False)  # the PEFT baselines read epochs
    kept = json.loads((tmp_path / "b" / "run.json").read_text())["settings"]
    assert (kept["p"], kept["lr"], kept["stage1_corpus"]) == (2, 0.01, 0)
    for option, bad in (("--p", "0"), ("--p", "1.5"), ("--domain-p", "0"), ("--lr", "0"), ("--lr", "-0.001"), ("--lr", "inf")):
        with pytest.raises(SystemExit):
            cli.main(base + [option, bad])
        assert f"argument {option}: {bad!r} is not" in capsys.readouterr().err


def test_stage1_trains_domain_tags_of_the_cells_domain_length(tmp_path, monkeypatch):
    """Stage 1 trains each domain tag at --domain-p's length (else --p's), in a library of its own per length."""
    from biotag.benchmark import corpus, suite

    asked = []

    def ensure(folder, sizes, **kw):
        asked.append((Path(folder).name, kw["p"]))
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "corpus.json").write_text(json.dumps({"corpora": {"smiles": {"n": 5}}}))
        return Path(folder)

    monkeypatch.setattr(corpus, "ensure_domain_tags", ensure)
    monkeypatch.setattr(suite, "cache_root", lambda: tmp_path / "cache")
    for settings in (Settings(p=10, dtype="float32"), Settings(dtype="float32"), Settings(domain_p=1, dtype="float32")):
        changes = suite._with_stage1_tags(settings, tmp_path / "out", ["caco2_wang"], 5, None, False, record=False)
        assert changes["domain_tags"] == {"smiles": str(tmp_path / "cache" / "benchmark-domain-tags" / asked[-1][0])}
    assert asked == [("smiles-5", 10), ("smiles-5-p3", 3), ("smiles-5-p1", 1)]


def test_cells_spread_over_devices_land_in_one_folder_as_one_at_a_time_does(tmp_path, tiny_model_dir, monkeypatch):
    import toy
    from biotag.benchmark import runner

    monkeypatch.setattr(runner, "run_cell", toy.run_toy_cell)  # the isolated cells' processes learn the toy tasks
    settings = Settings(model=tiny_model_dir, epochs=1, p=2, n_jobs=1, dtype="float32")  # the same on every CPU
    kw = dict(seeds=(1, 2), progress=False)  # each cell in its own process, as several devices need
    with pytest.raises(ValueError, match="own processes"):
        run_benchmark(["toy_regression"], ["rf_morgan"], tmp_path / "x", settings=settings, devices=["cpu", "cpu"],
                      isolate=False, **kw)
    alone = run_benchmark(["toy_regression"], ["rf_morgan", "tagllm[head_init=probe]"], tmp_path / "alone",
                          settings=settings, isolate=False, **kw)
    spread = run_benchmark(["toy_regression"], ["rf_morgan", "tagllm[head_init=probe]"], tmp_path / "spread",
                           settings=settings, devices=["cpu", "cpu"], **kw)
    assert len(spread) == 4 and set(spread["status"]) == {"ok"} and set(spread["device"]) == {"cpu"}
    key = ["task", "model", "seed"]
    merged = alone.merge(spread, on=key, suffixes=("_alone", "_spread"))
    assert len(merged) == 4
    np.testing.assert_allclose(merged["value_spread"], merged["value_alone"], rtol=1e-5)
    assert run_benchmark(["toy_regression"], ["rf_morgan"], tmp_path / "spread", settings=settings,
                         devices=["cpu", "cpu"], **kw)["status"].eq("ok").all()  # resumed: nothing reran
    assert len(read_results(tmp_path / "spread")) == 4


def test_under_torchrun_each_process_runs_its_share_of_the_cells_into_one_folder(tmp_path):
    import subprocess
    import sys

    from test_distributed import TIMEOUT, _env, _free_port, _torchrun

    env = _env()
    env["PYTHONPATH"] = str(Path(__file__).parent) + ":" + env["PYTHONPATH"]
    done = subprocess.run(_torchrun("--nproc-per-node", "2", "--master-port", str(_free_port()),
                                    str(Path(__file__).with_name("distributed_cells.py")), str(tmp_path)),
                          env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = (tmp_path / RESULTS).read_text().splitlines()
    cells = [(r["task"], r["seed"]) for r in map(json.loads, lines)]
    assert sorted(cells) == sorted((t, s) for t in ("toy_regression", "toy_binary") for s in (1, 2, 3))  # each once
    assert len({json.loads(line)["started_at"] for line in lines}) >= 1
    assert (tmp_path / "results.csv").is_file() and len(pd.read_csv(tmp_path / "results.csv")) == 6
