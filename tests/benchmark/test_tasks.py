"""Tasks: the registry agrees with PyTDC, splits come from PyTDC, metrics are TDC's."""

import contextlib
import io

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


def test_a_score_below_a_hundredth_keeps_three_significant_figures(data_dir):
    task = get_task("descriptor")
    split = load_split(task, 1, path=data_dir)
    pred = split.y_test + 0.0567  # MSE 0.00321489: three places would say 0.003
    assert evaluate(task, split, pred, path=data_dir) == 0.00321
    assert evaluate(task, split, split.y_test + 0.5, path=data_dir) == 0.25  # others: three places, as TDC's


@pytest.mark.parametrize("metric,expected", [("mae", 0.5), ("mse", 0.25), ("spearman", 1.0), ("pcc", 1.0),
                                             ("roc-auc", 1.0), ("pr-auc", 1.0)])
def test_metric_values(metric, expected):
    y = np.array([0.0, 0.0, 1.0, 1.0])
    pred = y + 0.5 if metric in ("mae", "mse") else y * 0.8 + 0.1
    assert metric_value(metric, y, pred) == pytest.approx(expected)


def test_descriptor_task_labels_davis_kinases_with_biopython_gravy(data_dir):
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    a, b = load_split("descriptor", 1, path=data_dir), load_split("descriptor", 2, path=data_dir)
    davis = set(pd.read_csv(data_dir / "tdc" / "davis.tab", sep="\t")["X2"])
    rows = a.X_train + a.X_valid + a.X_test
    assert len(rows) == len(set(rows)) == 379 and set(rows) <= davis
    assert a.X_test == b.X_test and set(a.X_valid) != set(b.X_valid)  # fixed test, per-seed valid
    assert not set(a.X_test) & set(a.X_train + a.X_valid)
    clean = a.X_train[0]
    assert set(clean) <= set("ACDEFGHIKLMNPQRSTVWY")
    assert a.y_train[0] == pytest.approx(ProteinAnalysis(clean).gravy())


def test_beta_lactamase_task_is_the_given_split(data_dir):
    split = load_split("beta_lactamase", 3, path=data_dir)
    test = pd.read_csv(data_dir / "proteins" / "beta_lactamase_test.csv")
    assert (len(split.X_train), len(split.X_valid), len(split.X_test)) == (4158, 520, 520)
    assert split.X_test == test["primary"].tolist() and np.allclose(split.y_test, test["scaled_effect1"])
    assert get_task("beta_lactamase").metric == "spearman"


def test_qed_task_is_rdkit_qed_on_a_scaffold_split(data_dir):
    pytest.importorskip("tdc")
    from rdkit import Chem
    from rdkit.Chem.QED import qed
    from rdkit.Chem.Scaffolds import MurckoScaffold

    a, b = load_split("qed", 1, path=data_dir), load_split("qed", 2, path=data_dir)
    assert len(a.X_train) + len(a.X_valid) + len(a.X_test) == 5000
    assert a.X_test == b.X_test and set(a.X_valid) != set(b.X_valid)
    assert a.y_test[0] == pytest.approx(qed(Chem.MolFromSmiles(a.X_test[0])))

    def scaffold(s):
        return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(s), includeChirality=False)

    assert not {scaffold(s) for s in a.X_test} & {scaffold(s) for s in a.X_train + a.X_valid}


def test_davis_task_is_pkd_from_pytdc_with_protein_then_smiles(data_dir):
    pytest.importorskip("tdc")
    split = load_split("davis", 1, path=data_dir)
    assert len(split.X_train) + len(split.X_valid) + len(split.X_test) == 25772
    protein, smiles = split.X_test[0]
    assert len(protein) > 200 and _parses(smiles)
    assert 4.9 < split.y_train.min() and split.y_train.max() < 11  # pKd, not nM
    assert not get_task("davis").fixed_test and load_split("davis", 2, path=data_dir).X_test != split.X_test


def test_davis_is_what_pytdcs_own_dti_loader_gives(data_dir):
    """Where PyTDC has every dependency it declares (CI's third environment), its DTI class gives the same rows,
    labels and split as biotag's loader, which does without tdc.multi_pred."""
    pytest.importorskip("tdc")
    multi_pred = pytest.importorskip("tdc.multi_pred", reason="PyTDC without its single-cell dependencies")
    for seed in (1, 2):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            data = multi_pred.DTI(name="DAVIS", path=str(data_dir / "tdc"))
            data.convert_to_log(form="binding")
            parts = data.get_split(method="random", seed=seed, frac=[0.7, 0.1, 0.2])
        split = load_split("davis", seed, path=data_dir)
        for name, X, y in (("train", split.X_train, split.y_train), ("test", split.X_test, split.y_test)):
            assert X == list(zip(parts[name]["Target"], parts[name]["Drug"]))
            np.testing.assert_array_equal(y, parts[name]["Y"].to_numpy(float))


def _parses(smiles: str) -> bool:
    from rdkit import Chem

    return Chem.MolFromSmiles(smiles) is not None
