"""Tasks: the registry agrees with PyTDC, splits come from PyTDC, metrics are TDC's."""

import numpy as np
import pandas as pd
import pytest

from biotag.benchmark import ADMET_TASKS, evaluate, get_task, load_split
from biotag.benchmark.suite import SMALL_LIMIT, select_tasks
from biotag.benchmark.tasks import metric_value, reconstructed_split


def test_registry_covers_the_admet_group_with_tdc_metrics():
    tdc = pytest.importorskip("tdc")
    from tdc.metadata import admet_metrics

    assert set(ADMET_TASKS) == set(admet_metrics) and len(ADMET_TASKS) == 22
    for name, metric in admet_metrics.items():
        assert ADMET_TASKS[name].metric == metric, name
    assert tdc is not None


def test_registry_sizes_match_the_data(data_dir):
    for task in ADMET_TASKS.values():
        folder = data_dir / "tdc" / "admet_group" / task.name
        n = len(pd.read_csv(folder / "train_val.csv")) + len(pd.read_csv(folder / "test.csv"))
        assert task.size == n, task.name


def test_task_groups():
    small = select_tasks("small")
    assert "caco2_wang" in small and "bbb_martins" in small and "cyp3a4_veith" not in small
    assert all(get_task(t).size <= SMALL_LIMIT for t in small)
    assert len(select_tasks("admet")) == 22
    assert select_tasks("Caco2_Wang,hia_hou,caco2_wang") == ["caco2_wang", "hia_hou"]
    with pytest.raises(KeyError, match="unknown task 'nope'"):
        select_tasks("nope")


def test_splits_come_from_pytdc_per_seed(data_dir):
    pytest.importorskip("tdc")
    a, b = load_split("caco2_wang", 1, path=data_dir), load_split("caco2_wang", 2, path=data_dir)
    assert len(a.X_train) + len(a.X_valid) == 728 and len(a.X_test) == 182
    assert a.X_test == b.X_test  # the test set is fixed; the train/valid split moves with the seed
    assert set(a.X_valid) != set(b.X_valid)
    assert a.notes == ["on the reconstructed split"] and reconstructed_split(data_dir)


def test_evaluate_uses_tdc_and_checks_the_predictions(data_dir):
    pytest.importorskip("tdc")
    task = get_task("caco2_wang")
    split = load_split(task, 1, path=data_dir)
    pred = np.full(len(split.y_test), split.y_train.mean())
    value = evaluate(task, split, pred, path=data_dir)
    assert value == round(float(np.abs(split.y_test - pred).mean()), 3)
    with pytest.raises(ValueError, match="181 predictions for 182 test rows"):
        evaluate(task, split, pred[:-1], path=data_dir)
    with pytest.raises(ValueError, match="non-finite"):
        evaluate(task, split, np.full(len(pred), np.nan), path=data_dir)


@pytest.mark.parametrize("metric,expected", [("mae", 0.5), ("mse", 0.25), ("spearman", 1.0), ("pcc", 1.0),
                                             ("roc-auc", 1.0), ("pr-auc", 1.0)])
def test_metric_values(metric, expected):
    y = np.array([0.0, 0.0, 1.0, 1.0])
    pred = y + 0.5 if metric in ("mae", "mse") else y * 0.8 + 0.1
    assert metric_value(metric, y, pred) == pytest.approx(expected)
