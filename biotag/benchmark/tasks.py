"""Benchmark tasks: the TDC ADMET group (through PyTDC), DAVIS, beta-lactamase fitness, and the Tag-LLM
paper's QED and Descriptor tasks; their per-seed splits and metrics."""

from __future__ import annotations

import contextlib
import functools
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from biotag.benchmark.rounding import rounded
from biotag.data import data_dir

__all__ = ["Task", "Split", "TASKS", "ADMET_TASKS", "get_task", "load_split", "evaluate", "metric_value",
           "register_task", "require_tdc", "SEEDS", "OTHER_TASKS"]

SEEDS = (1, 2, 3, 4, 5)  # TDC's benchmark-group seeds


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    ``metric`` uses TDC's metric names; ``domains`` are the input columns' domains,
    in order; ``log_target`` marks skewed targets that MapLight models in log10.
    """

    name: str
    kind: str  # "regression" | "classification"
    metric: str  # TDC names: "mae", "mse", "spearman", "pcc" (Pearson), "roc-auc", "pr-auc"
    domains: tuple[str, ...] = ("smiles",)
    group: str = "admet"
    leaderboard: str | None = None  # benchmark name in the published leaderboard table
    log_target: bool = False
    size: int = 0  # train_val + test rows, for ordering and selection
    fixed_test: bool = True  # False: the test set changes with the seed (DAVIS: TDC's random split)
    paper_column: str | None = None  # column of the Tag-LLM paper's Table 2 (reference/tag_llm_paper_table2.csv)
    # Features that are the label's own formula (RDKit's qed descriptor on QED, ProtParam's gravy on
    # Descriptor): the feature-based baselines leave them out, or they would read the answer off their input.
    label_features: tuple[str, ...] = ()

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in ("mae", "mse")


def _admet(name, kind, metric, leaderboard, size, log_target=False) -> Task:
    return Task(name, kind, metric, ("smiles",), "admet", leaderboard, log_target, size)


# TDC's ADMET benchmark group: the metric of each task is TDC's (tdc.metadata.admet_metrics).
ADMET_TASKS: dict[str, Task] = {t.name: t for t in [
    _admet("caco2_wang", "regression", "mae", "Caco2_Wang", 910),
    _admet("hia_hou", "classification", "roc-auc", "HIA_Hou", 578),
    _admet("pgp_broccatelli", "classification", "roc-auc", "Pgp_Broccatelli", 1218),
    _admet("bioavailability_ma", "classification", "roc-auc", "Bioavailability_Ma", 640),
    _admet("lipophilicity_astrazeneca", "regression", "mae", "Lipophilicity_AstraZeneca", 4200),
    _admet("solubility_aqsoldb", "regression", "mae", "Solubility_AqSolDB", 9982),
    _admet("bbb_martins", "classification", "roc-auc", "BBB_Martins", 2030),
    _admet("ppbr_az", "regression", "mae", "PPBR_AZ", 1614),
    _admet("vdss_lombardo", "regression", "spearman", "VDss_Lombardo", 1130, log_target=True),
    _admet("cyp2d6_veith", "classification", "pr-auc", "CYP2D6_Veith", 13130),
    _admet("cyp3a4_veith", "classification", "pr-auc", "CYP3A4_Veith", 12328),
    _admet("cyp2c9_veith", "classification", "pr-auc", "CYP2C9_Veith", 12092),
    _admet("cyp2d6_substrate_carbonmangels", "classification", "pr-auc", "CYP2D6_Substrate_CarbonMangels", 667),
    _admet("cyp3a4_substrate_carbonmangels", "classification", "roc-auc", "CYP3A4_Substrate_CarbonMangels", 670),
    _admet("cyp2c9_substrate_carbonmangels", "classification", "pr-auc", "CYP2C9_Substrate_CarbonMangels", 669),
    _admet("half_life_obach", "regression", "spearman", "Half_Life_Obach", 667, log_target=True),
    _admet("clearance_microsome_az", "regression", "spearman", "Clearance_Microsome_AZ", 1102, log_target=True),
    _admet("clearance_hepatocyte_az", "regression", "spearman", "Clearance_Hepatocyte_AZ", 1213, log_target=True),
    _admet("herg", "classification", "roc-auc", "hERG", 655),
    _admet("ames", "classification", "roc-auc", "AMES", 7278),
    _admet("dili", "classification", "roc-auc", "DILI", 475),
    _admet("ld50_zhu", "regression", "mae", "LD50_Zhu", 7385),
]}

# Beyond the ADMET group: no TDC leaderboard; the paper's two tasks have its Table 2 figures.
OTHER_TASKS: dict[str, Task] = {t.name: t for t in [
    Task("davis", "regression", "mse", ("protein", "smiles"), "dti", None, size=25772, fixed_test=False),
    Task("beta_lactamase", "regression", "spearman", ("protein",), "protein", None, size=5198),
    Task("qed", "regression", "mse", ("smiles",), "qed", size=5000, paper_column="qed_mse",
         label_features=("qed",)),
    Task("descriptor", "regression", "mse", ("protein",), "descriptor", size=379, paper_column="descriptor_mse",
         label_features=("gravy",)),
]}

TASKS: dict[str, Task] = {**ADMET_TASKS, **OTHER_TASKS}
#: The tasks biotag defines, all read from the data directory (tasks registered later bring their own data).
BUILT_IN = frozenset(TASKS)


def get_task(name: str) -> Task:
    key = name.lower()
    if key not in TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[key]


@dataclass
class Split:
    """One seed's data. ``X_*`` are lists of strings (one domain) or of tuples (several, in task order)."""

    X_train: list
    y_train: np.ndarray
    X_valid: list
    y_valid: np.ndarray
    X_test: list
    y_test: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def X_train_valid(self) -> list:
        return list(self.X_train) + list(self.X_valid)

    @property
    def y_train_valid(self) -> np.ndarray:
        return np.concatenate([self.y_train, self.y_valid])


def require_tdc():
    """Import PyTDC, or say which extra installs it."""
    try:
        import tdc  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "the TDC benchmark tasks need PyTDC: pip install 'biotag[tdc]' (see scripts/setup.sh)"
        ) from err


def tdc_dir(path: str | Path | None = None) -> Path:
    """Where PyTDC reads its files: ``<data dir>/tdc``. There is no fallback that PyTDC would download into."""
    return data_dir(path) / "tdc"


def reconstructed_split(path: str | Path | None = None) -> bool:
    """Whether the ADMET-group folder is the offline reconstruction (its data README says so)."""
    try:
        readme = data_dir(path) / "README.md"
    except FileNotFoundError:
        return False
    return readme.is_file() and "reconstruct" in readme.read_text().lower()


@functools.lru_cache(maxsize=4)
def _admet_group(folder: str):
    require_tdc()
    from tdc.benchmark_group import admet_group

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return admet_group(path=folder)


def _load_admet(task: Task, seed: int, path: str | Path | None) -> Split:
    group = _admet_group(str(tdc_dir(path)))
    benchmark = group.get(task.name)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        train, valid = group.get_train_valid_split(seed=seed, benchmark=task.name)
    test = benchmark["test"]
    notes = ["on the reconstructed split"] if reconstructed_split(path) else []
    return Split(train["Drug"].tolist(), train["Y"].to_numpy(float), valid["Drug"].tolist(),
                 valid["Y"].to_numpy(float), test["Drug"].tolist(), test["Y"].to_numpy(float), notes)


# ---- beyond the ADMET group: DTI, protein fitness and the paper's two synthetic tasks --------------------


def _frame_split(X, y: str, *, train, valid, test, notes) -> Split:
    def cols(part):
        return part[X].tolist() if isinstance(X, str) else list(part[list(X)].itertuples(index=False, name=None))

    return Split(cols(train), train[y].to_numpy(float), cols(valid), valid[y].to_numpy(float),
                 cols(test), test[y].to_numpy(float), notes)


def _load_davis(task: Task, seed: int, path: str | Path | None) -> Split:
    """DAVIS as PyTDC's DTI loader gives it: pKd (``convert_to_log(form="binding")``), TDC's random split for this
    seed. Built from the utilities ``tdc.multi_pred.DTI`` itself calls, since importing ``tdc.multi_pred`` pulls in
    PyTDC's single-cell dependencies, which the benchmark environment leaves out; a test checks both agree."""
    require_tdc()
    import pandas as pd
    from tdc.metadata import dataset_names
    from tdc.utils import convert_to_log, create_fold, interaction_dataset_load

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        drug, target, y, drug_id, target_id, *_ = interaction_dataset_load(
            "davis", str(tdc_dir(path)), None, dataset_names["DTI"], aux_column=None)
        frame = pd.DataFrame({"Drug_ID": drug_id, "Drug": drug, "Target_ID": target_id, "Target": target,
                              "Y": convert_to_log(y)})
        parts = create_fold(frame, seed, [0.7, 0.1, 0.2])
    # Columns in the task's domain order: protein (Target), then SMILES (Drug).
    return _frame_split(("Target", "Drug"), "Y", **parts, notes=["TDC random split, this seed"])


def _load_beta_lactamase(task: Task, seed: int, path: str | Path | None) -> Split:
    """TAPE/PEER beta-lactamase fitness: the given train/valid/test files (the same for every seed)."""
    import pandas as pd

    folder = data_dir(path) / "proteins"
    parts = {}
    for part in ("train", "valid", "test"):
        file = folder / f"beta_lactamase_{part}.csv"
        if not file.is_file():
            raise FileNotFoundError(f"beta-lactamase {part} split not found at {file}")
        parts[part] = pd.read_csv(file)
    return _frame_split("primary", "scaled_effect1", **parts, notes=["given split"])


QED_POOL = 5000  # molecules drawn from the ADMET tables for the QED task
_TEST_SEED = 42  # fixed test sets, as the ADMET group's (per-seed train/valid within the rest)


@functools.lru_cache(maxsize=2)
def _qed_frame(path: str | None):
    """QED task data: standardized unique SMILES drawn from the 22 ADMET tables, labelled by RDKit's QED."""
    import pandas as pd
    from rdkit import Chem
    from rdkit.Chem.QED import qed

    tables = [data_dir(path) / "tdc" / f"{name}.tab" for name in ADMET_TASKS]
    missing = [str(t) for t in tables if not t.is_file()]
    if missing:
        raise FileNotFoundError(f"the QED task draws from the ADMET tables; missing: {missing[:3]}")
    raw = pd.unique(pd.concat([pd.read_csv(t, sep="\t")["Drug"] for t in tables]).astype(str))
    from biotag.benchmark.standardize import first_standardized

    smiles, _ = first_standardized(raw[np.random.default_rng(0).permutation(len(raw))], QED_POOL)
    return pd.DataFrame({"Drug": smiles, "Y": [qed(Chem.MolFromSmiles(s)) for s in smiles]})


def _load_qed(task: Task, seed: int, path: str | Path | None) -> Split:
    """QED (the paper's task): a fixed scaffold test split (20 %), then TDC's scaffold train/valid split per seed."""
    require_tdc()
    from tdc.utils.split import create_scaffold_split

    frame = _qed_frame(None if path is None else str(path))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        outer = create_scaffold_split(frame, _TEST_SEED, [0.8, 0.0, 0.2], "Drug")
        inner = create_scaffold_split(outer["train"], seed, [0.875, 0.125, 0.0], "Drug")
    return _frame_split("Drug", "Y", train=inner["train"], valid=inner["valid"], test=outer["test"],
                        notes=[f"{len(frame)} ADMET molecules, RDKit QED labels, scaffold split"])


@functools.lru_cache(maxsize=2)
def _descriptor_frame(path: str | None):
    """Descriptor task data: DAVIS's distinct kinase sequences, labelled by Biopython's GRAVY (Kyte-Doolittle)."""
    import pandas as pd
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    file = data_dir(path) / "tdc" / "davis.tab"
    if not file.is_file():
        raise FileNotFoundError(f"the Descriptor task's sequences come from DAVIS; not found at {file}")
    sequences = sorted(pd.read_csv(file, sep="\t")["X2"].astype(str).str.upper().unique())
    # GRAVY's scale has no value for X (unknown residue): average over the standard letters only.
    values = [ProteinAnalysis("".join(c for c in s if c in "ACDEFGHIKLMNPQRSTVWY")).gravy() for s in sequences]
    return pd.DataFrame({"Target": sequences, "Y": values})


def _load_descriptor(task: Task, seed: int, path: str | Path | None) -> Split:
    """Descriptor (the paper's task): a fixed random test split (20 %), a per-seed random valid split (1/8 of the rest)."""
    frame = _descriptor_frame(None if path is None else str(path))
    order = np.random.default_rng(_TEST_SEED).permutation(len(frame))
    n_test = int(round(0.2 * len(frame)))
    rest = order[n_test:][np.random.default_rng(seed).permutation(len(order) - n_test)]
    n_valid = int(round(0.125 * len(rest)))
    return _frame_split("Target", "Y", train=frame.iloc[np.sort(rest[n_valid:])],
                        valid=frame.iloc[np.sort(rest[:n_valid])], test=frame.iloc[np.sort(order[:n_test])],
                        notes=[f"{len(frame)} DAVIS kinase sequences, Biopython GRAVY labels, random split"])


# Task group -> loader(task, seed, path) -> Split. New groups register here.
LOADERS: dict[str, Callable[[Task, int, Any], Split]] = {
    "admet": _load_admet, "dti": _load_davis, "protein": _load_beta_lactamase, "qed": _load_qed,
    "descriptor": _load_descriptor,
}


def register_task(task: Task, loader: Callable[[Task, int, Any], Split] | None = None) -> Task:
    """Add a task (and, for a new group, its loader) to the registry."""
    if loader is not None:
        LOADERS[task.group] = loader
    if task.group not in LOADERS:
        raise KeyError(f"no loader for task group {task.group!r}; pass one")
    TASKS[task.name] = task
    return task


def load_split(task: Task | str, seed: int, *, path: str | Path | None = None) -> Split:
    """The train / valid / test data of ``task`` for one seed (for ADMET: TDC's ``get_train_valid_split``)."""
    task = get_task(task) if isinstance(task, str) else task
    if task.group not in LOADERS:
        raise KeyError(f"no loader for task group {task.group!r}")
    return LOADERS[task.group](task, seed, path)


def metric_value(metric: str, y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """A metric by TDC's name, through TDC's Evaluator when PyTDC is installed."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if not np.all(np.isfinite(y_pred)):
        raise ValueError(f"predictions hold {int((~np.isfinite(y_pred)).sum())} non-finite values")
    try:
        from tdc import Evaluator

        return float(Evaluator(name=metric)(y_true, y_pred))
    except ImportError:
        pass
    from scipy import stats
    from sklearn import metrics

    fns: dict[str, Any] = {
        "mae": metrics.mean_absolute_error, "mse": metrics.mean_squared_error,
        "roc-auc": metrics.roc_auc_score, "pr-auc": metrics.average_precision_score,
        "spearman": lambda a, b: stats.spearmanr(a, b)[0], "pcc": lambda a, b: stats.pearsonr(a, b)[0],
    }
    return float(fns[metric](y_true, y_pred))


def evaluate(task: Task, split: Split, y_pred: Sequence[float], *, path: str | Path | None = None) -> float:
    """The test metric of one seed: TDC's ``group.evaluate`` for ADMET tasks (rounded to 3 places, as TDC does);
    other tasks' rounded alike, or to 3 significant figures below 0.01 (``biotag.benchmark.rounding``)."""
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    if len(y_pred) != len(split.y_test):
        raise ValueError(f"{len(y_pred)} predictions for {len(split.y_test)} test rows of {task.name}")
    if not np.all(np.isfinite(y_pred)):
        raise ValueError(f"predictions for {task.name} hold {int((~np.isfinite(y_pred)).sum())} non-finite values")
    if task.group == "admet":
        group = _admet_group(str(tdc_dir(path)))
        out = group.evaluate({task.name: y_pred}, benchmark=task.name, save_dict=False)
        return float(out[task.name][task.metric])
    return rounded(metric_value(task.metric, split.y_test, y_pred))
