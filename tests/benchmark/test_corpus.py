"""The stage-1 corpus holds no test molecule of any task being evaluated."""

import pandas as pd
import pytest

from biotag.benchmark import ADMET_TASKS
from biotag.benchmark.corpus import smiles_corpus
from biotag.domains import SmilesFeaturizer


def test_corpus_excludes_every_test_molecule(data_dir):
    pytest.importorskip("tdc")
    corpus, info = smiles_corpus(300, seed=0, path=data_dir)
    assert len(corpus) == 300 == len(set(corpus)) and info["n"] == 300
    # Checked independently of the corpus code: read every ADMET test file directly.
    tests = pd.concat([pd.read_csv(data_dir / "tdc" / "admet_group" / name / "test.csv") for name in ADMET_TASKS])
    standardized = set(SmilesFeaturizer(errors="nan").transform(tests["Drug"].tolist()))
    raw = set(tests["Drug"])
    assert not set(corpus) & standardized
    assert not set(corpus) & raw
    assert info["n_test_molecules"] >= 0.9 * len(raw)
    again, info2 = smiles_corpus(300, seed=0, path=data_dir)
    assert again == corpus and info2["sha256"] == info["sha256"]  # reproducible from the data and the seed
