"""The stage-1 corpus of the benchmark's domain tags: in-domain sequences that no evaluated task tests on.

SMILES come from the 22 ADMET tables (``tdc/<name>.tab``). Every test molecule of
every task in the registry is removed first, compared after the same
standardization the estimators apply (so a salt form of a test molecule is
removed too). The corpus, its provenance and the counts are written next to the
trained tags (``corpus.json``) and checked by tests/benchmark/test_corpus.py.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from biotag.benchmark.tasks import ADMET_TASKS, TASKS, load_split
from biotag.data import data_dir

__all__ = ["test_smiles", "smiles_corpus", "ensure_domain_tags"]


def _standardize(smiles: list[str]) -> list[str | None]:
    from biotag.domains import SmilesFeaturizer

    out = SmilesFeaturizer(errors="nan").transform(smiles)
    return [s if isinstance(s, str) else None for s in out]


def test_smiles(path: str | Path | None = None) -> set[str]:
    """Standardized SMILES of every test molecule of every SMILES task in the registry."""
    return set(_test_smiles(None if path is None else str(path), tuple(sorted(TASKS))))


@functools.lru_cache(maxsize=2)
def _test_smiles(path: str | None, _registry: tuple[str, ...]) -> frozenset[str]:  # keyed on the registry too
    found: set[str] = set()
    for task in TASKS.values():
        if "smiles" not in task.domains:
            continue
        split = load_split(task, 1, path=path)  # the test set is the same for every seed
        column = split.X_test if len(task.domains) == 1 else [row[task.domains.index("smiles")] for row in split.X_test]
        found.update(s for s in _standardize(list(column)) if s)
    return frozenset(found)


def smiles_corpus(n: int, *, seed: int = 0, path: str | Path | None = None) -> tuple[list[str], dict]:
    """``n`` standardized SMILES from the ADMET tables, none of them a test molecule; and their provenance."""
    tables = sorted(data_dir(path).joinpath("tdc").glob("*.tab"))
    admet = {f"{name}.tab" for name in ADMET_TASKS}
    pool = pd.unique(pd.concat([pd.read_csv(t, sep="\t")["Drug"] for t in tables if t.name in admet]).astype(str))
    excluded = test_smiles(path)
    rng = np.random.default_rng(seed)
    corpus: list[str] = []
    seen: set[str] = set()
    dropped = 0
    order = rng.permutation(len(pool))
    for start in range(0, len(pool), 4 * n):  # standardize candidates in shuffled chunks until n are found
        chunk = [pool[i] for i in order[start : start + 4 * n]]
        for s in _standardize(chunk):
            if s is None or s in seen:
                continue
            if s in excluded:
                dropped += 1
                continue
            seen.add(s)
            corpus.append(s)
            if len(corpus) == n:
                break
        if len(corpus) == n:
            break
    info = {"source": "ADMET tables tdc/<name>.tab (22 sets), deduplicated after standardization",
            "excluded": "every test molecule of every registered task", "n_test_molecules": len(excluded),
            "candidates_dropped_as_test": dropped, "n": len(corpus), "seed": seed,
            "sha256": hashlib.sha256("\n".join(corpus).encode()).hexdigest()}
    return corpus, info


def ensure_domain_tags(out_dir: str | Path, *, n: int, epochs: int = 1, seed: int = 0,
                       path: str | Path | None = None, model: str | None = None, progress: bool = True) -> Path:
    """Stage-1 ``<SMILES>`` tags for the benchmark, trained once and reused while the corpus is unchanged."""
    from biotag.tags import TaggedLM, TagLibrary, load_base_model
    from biotag.training import pretrain_domain_tag

    folder = Path(out_dir)
    wanted = {"n": n, "epochs": epochs, "seed": seed, "model": model}
    meta = folder / "corpus.json"
    if meta.is_file() and (folder / "library.json").is_file():
        known = json.loads(meta.read_text())
        if {k: known.get(k) for k in wanted} == wanted:
            return folder
    corpus, info = smiles_corpus(n, seed=seed, path=path)
    base, tokenizer = load_base_model(model)
    library = TagLibrary.for_model(base)
    tlm = TaggedLM(base, tokenizer, library)
    history = pretrain_domain_tag(tlm, corpus, "smiles", epochs=epochs, seed=seed, progress=progress)
    library.save(folder)
    info.update(wanted, history=history.epochs)
    meta.write_text(json.dumps(info, indent=2))
    return folder
