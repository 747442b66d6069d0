"""Toy task groups for runner tests: no PyTDC, no data directory, milliseconds.

Importing this module registers nothing: :func:`register_toy_tasks` does (the benchmark tests' conftest
calls it for their session).
"""

import numpy as np

from biotag.benchmark.runner import run_cell
from biotag.benchmark.tasks import LOADERS, TASKS, Split, Task, register_task

SMILES = ["CCO", "CCN", "CCC", "c1ccccc1", "c1ccccc1O", "c1ccccc1N", "CC(=O)O", "CC(=O)N", "CCCl", "CCBr",
          "CCCCO", "CCCCN", "OCCO", "NCCN", "c1ccncc1", "c1ccoc1", "C1CCCCC1", "C1CCNCC1", "CC(C)O", "CC(C)N"]


def toy_loader(task: Task, seed: int, path) -> Split:
    rng = np.random.default_rng(seed)
    y = np.array([len(s) + (1.0 if "N" in s else 0.0) for s in SMILES])
    if task.kind == "classification":
        y = (y > np.median(y)).astype(float)
    order = rng.permutation(14)
    train, valid = order[:11], order[11:]
    X, test = SMILES[:14], list(range(14, 20))
    return Split([X[i] for i in train], y[train], [X[i] for i in valid], y[valid],
                 [SMILES[i] for i in test], y[test], ["toy"])


TOY_REG = Task("toy_regression", "regression", "mae", group="toy", size=20)
TOY_BIN = Task("toy_binary", "classification", "roc-auc", group="toy", size=20)

PROTEINS = ["MKTAYIAKQR", "MKTAYIAKQK", "MKTAYLAKQR", "MKTGYIAKQR", "MKSAYIAKQR", "MKTAYIAKER", "MKTAYIGKQR",
            "MRTAYIAKQR", "MKTAYIAKQH", "MKTAWIAKQR", "MKTAYIVKQR", "MKTDYIAKQR", "MKTAYIAKDR", "MKTAYIAEQR",
            "MKTPYIAKQR", "MKTAYIAKQW", "MKTAYIAMQR", "MKTAYFAKQR", "MKTAYIAKNR", "MKTCYIAKQR"]


def toy_protein_loader(task: Task, seed: int, path) -> Split:
    """Aligned single mutants: the target counts charged residues (a linear function of the one-hot code)."""
    rng = np.random.default_rng(seed)
    y = np.array([sum(s.count(a) for a in "KRDEH") + 0.1 * i % 3 for i, s in enumerate(PROTEINS)], dtype=float)
    order = rng.permutation(14)
    train, valid = order[:11], order[11:]
    return Split([PROTEINS[i] for i in train], y[train], [PROTEINS[i] for i in valid], y[valid],
                 PROTEINS[14:], y[14:], ["toy"])


TOY_PROTEIN = Task("toy_protein", "regression", "mae", ("protein",), group="toy_protein", size=20)


def toy_dti_loader(task: Task, seed: int, path) -> Split:
    """Drug-target pairs as DAVIS has them: few proteins, each paired with many molecules; random split per seed."""
    rng = np.random.default_rng(seed)
    pairs = [(p, s) for p in PROTEINS[:3] for s in SMILES[:8]]
    y = np.array([sum(p.count(a) for a in "KRDEH") + len(s) / 4 for p, s in pairs])
    order = rng.permutation(len(pairs))
    train, valid, test = order[:16], order[16:19], order[19:]
    return Split([pairs[i] for i in train], y[train], [pairs[i] for i in valid], y[valid],
                 [pairs[i] for i in test], y[test], ["toy"])


TOY_DTI = Task("toy_dti", "regression", "mse", ("protein", "smiles"), "toy_dti", None, size=24, fixed_test=False)


# scikit-learn warns from its forest's worker threads that its configuration cannot reach them (harmless here).
FOREST_THREADS_WARNING = "ignore:`sklearn.utils.parallel.delayed` should be used:UserWarning"


TOY_TASKS = [(TOY_REG, toy_loader), (TOY_BIN, toy_loader), (TOY_PROTEIN, toy_protein_loader), (TOY_DTI, toy_dti_loader)]


def register_toy_tasks() -> None:
    for task, loader in TOY_TASKS:
        register_task(task, loader)


def unregister_toy_tasks() -> None:
    for task, _ in TOY_TASKS:
        TASKS.pop(task.name, None)
        LOADERS.pop(task.group, None)


def run_toy_cell(*args, **kwargs) -> dict:
    """``run_cell`` in a fresh process that knows the toy tasks (what the runner isolates, tests swap in)."""
    register_toy_tasks()
    return run_cell(*args, **kwargs)
