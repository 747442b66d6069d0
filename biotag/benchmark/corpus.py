"""The stage-1 corpus of the benchmark's domain tags: in-domain sequences that no evaluated task tests on.

SMILES come from the 22 ADMET tables (``tdc/<name>.tab``). Every test molecule of
every task in the registry (every seed's, where the test set varies with the seed)
is removed first, compared after the same standardization the estimators apply (so
a salt form of a test molecule is removed too). Protein sequences come from the
beta-lactamase train/valid files, with every registered task's test sequences removed. The corpus, its provenance and the counts are written next to the
trained tags (``corpus.json``) and checked by tests/benchmark/test_corpus.py.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from biotag.benchmark.isolation import in_child_process
from biotag.benchmark.standardize import first_standardized, standardize_or_none
from biotag.benchmark.tasks import ADMET_TASKS, SEEDS, TASKS, load_split
from biotag.data import data_dir
from biotag.files import atomic_write_text

__all__ = ["test_smiles", "test_sequences", "smiles_corpus", "protein_corpus", "ensure_domain_tags"]


def test_smiles(path: str | Path | None = None) -> set[str]:
    """Standardized SMILES of every test molecule of every SMILES task in the registry."""
    return set(_test_smiles(None if path is None else str(path), tuple(sorted(TASKS))))


def _test_column(domain: str, path: str | None) -> list[str]:
    """The raw test inputs of ``domain`` over every registered task (every seed where the test set varies)."""
    out: list[str] = []
    for task in TASKS.values():
        if domain not in task.domains:
            continue
        for seed in (SEEDS[:1] if task.fixed_test else SEEDS):
            X = load_split(task, seed, path=path).X_test
            out += list(X) if len(task.domains) == 1 else [row[task.domains.index(domain)] for row in X]
    return out


@functools.lru_cache(maxsize=2)
def _test_smiles(path: str | None, _registry: tuple[str, ...]) -> frozenset[str]:  # keyed on the registry too
    return frozenset(s for s in standardize_or_none(list(dict.fromkeys(_test_column("smiles", path)))) if s)


def test_sequences(path: str | Path | None = None) -> set[str]:
    """Standardized sequences of every test protein of every protein task in the registry."""
    from biotag.domains import ProteinFeaturizer

    raw = list(dict.fromkeys(_test_column("protein", None if path is None else str(path))))
    return set(ProteinFeaturizer(nonstandard="keep").transform(raw))


def protein_corpus(n: int | None, *, seed: int = 0, path: str | Path | None = None) -> tuple[list[str], dict]:
    """``n`` sequences (None: all) from the beta-lactamase train and valid files, none of them a test sequence of
    any task.

    The only unlabeled protein pool in the offline data: single and multiple mutants of
    one 286-residue enzyme, so the corpus teaches the protein alphabet and grammar of
    one family rather than the diversity of DAVIS's kinases.
    """
    from biotag.domains import ProteinFeaturizer

    folder = data_dir(path) / "proteins"
    pool = pd.unique(pd.concat([pd.read_csv(folder / f"beta_lactamase_{part}.csv")["primary"]
                                for part in ("train", "valid")]).astype(str))
    pool = ProteinFeaturizer(nonstandard="keep").transform(list(pool))
    excluded = test_sequences(path)
    kept = [s for s in dict.fromkeys(pool) if s not in excluded]
    order = np.random.default_rng(seed).permutation(len(kept))[:n]
    corpus = [kept[i] for i in order]
    info = {"source": "proteins/beta_lactamase_{train,valid}.csv, deduplicated",
            "excluded": "every test sequence of every registered task", "n_test_sequences": len(excluded),
            "candidates_dropped_as_test": len(set(pool)) - len(kept), "n": len(corpus), "seed": seed,
            "sha256": hashlib.sha256("\n".join(corpus).encode()).hexdigest()}
    return corpus, info


def smiles_corpus(n: int | None, *, seed: int = 0, path: str | Path | None = None) -> tuple[list[str], dict]:
    """``n`` standardized SMILES (None: all, 30,481 in the offline data) from the ADMET tables, none of them a
    test molecule; and their provenance. The QED task's molecules are drawn from these tables, and every DAVIS
    drug is a DAVIS test molecule, so the tables hold every candidate there is."""
    tables = sorted(data_dir(path).joinpath("tdc").glob("*.tab"))
    admet = {f"{name}.tab" for name in ADMET_TASKS}
    pool = pd.unique(pd.concat([pd.read_csv(t, sep="\t")["Drug"] for t in tables if t.name in admet]).astype(str))
    excluded = test_smiles(path)
    corpus, dropped = first_standardized(pool[np.random.default_rng(seed).permutation(len(pool))], n,
                                         exclude=excluded)
    info = {"source": "ADMET tables tdc/<name>.tab (22 sets), deduplicated after standardization",
            "excluded": "every test molecule of every registered task", "n_test_molecules": len(excluded),
            "candidates_dropped_as_test": dropped, "n": len(corpus), "seed": seed,
            "sha256": hashlib.sha256("\n".join(corpus).encode()).hexdigest()}
    return corpus, info


CORPORA = {"smiles": smiles_corpus, "protein": protein_corpus}


def ensure_domain_tags(out_dir: str | Path, sizes: dict[str, int | None], *, epochs: int = 1, seed: int = 0,
                       path: str | Path | None = None, model: str | None = None, progress: bool = True,
                       isolate: bool = False, dtype: str = "float32", p: int = 10) -> Path:
    """Stage-1 tags for the benchmark, one per domain in ``sizes`` (domain -> corpus size), in one library.

    Trained once and reused while the corpora are unchanged: reuse is keyed on each
    corpus's checksum, so registering a task (whose test inputs then leave the
    corpus) retrains the tags. ``dtype`` is the frozen model's precision while they train (the tags
    train in float32); ``p`` is each tag's length in vectors; a size of None takes every candidate.
    The corpora are drawn here, against this process's task registry; with ``isolate`` the training runs
    in a fresh process, so the model it loads (gigabytes, on a GPU too) is freed before anything else runs.
    """
    folder = Path(out_dir)
    corpora = {domain: CORPORA[domain](n, seed=seed, path=path) for domain, n in sorted(sizes.items())}
    wanted = {"epochs": epochs, "seed": seed, "model": model, "batches": "by length",  # random batches before
              "corpora": {d: {"n": info["n"], "sha256": info["sha256"]} for d, (_, info) in corpora.items()}}
    if dtype != "float32":  # libraries trained before the precision was a choice trained in float32
        wanted["dtype"] = dtype
    if p != 10:  # libraries trained before the length was a choice have 10-vector tags
        wanted["p"] = p
    meta = folder / "corpus.json"
    if meta.is_file() and (folder / "library.json").is_file():
        known = json.loads(meta.read_text())
        known["corpora"] = {d: {"n": c.get("n"), "sha256": c.get("sha256")}
                            for d, c in (known.get("corpora") or {}).items()}
        if {k: known.get(k) for k in wanted} == wanted and known.get("p", 10) == p:
            return folder
    train = functools.partial(_train_domain_tags, folder, corpora, wanted, progress=progress)
    if isolate:
        in_child_process(train)
    else:
        train()
    return folder


def _train_domain_tags(folder: Path, corpora: dict, wanted: dict, *, progress: bool) -> None:
    from biotag.parallel import single_process

    with single_process():  # one library, trained by one process (the main one, under a launcher)
        _train_domain_tags_here(folder, corpora, wanted, progress=progress)


def _train_domain_tags_here(folder: Path, corpora: dict, wanted: dict, *, progress: bool) -> None:
    from biotag.training import pretrain_library

    library, histories = pretrain_library(wanted["model"], {d: corpus for d, (corpus, _) in corpora.items()},
                                          dtype=wanted.get("dtype", "float32"), epochs=wanted["epochs"],
                                          seed=wanted["seed"], p=wanted.get("p", 10), progress=progress)
    record = dict(wanted, corpora={d: dict(info, history=histories[d].epochs) for d, (_, info) in corpora.items()})
    library.save(folder)
    atomic_write_text(folder / "corpus.json", json.dumps(record, indent=2))
