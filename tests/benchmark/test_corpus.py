"""The stage-1 corpus holds no test molecule of any task being evaluated."""

import json

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


def test_protein_corpus_excludes_every_test_sequence(data_dir):
    pytest.importorskip("tdc")
    from biotag.benchmark.corpus import protein_corpus

    corpus, info = protein_corpus(50, seed=0, path=data_dir)
    assert len(corpus) == 50 == len(set(corpus))
    # Independently: the test sequences of beta-lactamase, DAVIS (all seeds) and Descriptor.
    from biotag.benchmark import load_split

    tests = set(pd.read_csv(data_dir / "proteins" / "beta_lactamase_test.csv")["primary"])
    for seed in (1, 2, 3, 4, 5):
        tests |= {p for p, _ in load_split("davis", seed, path=data_dir).X_test}
    tests |= set(load_split("descriptor", 1, path=data_dir).X_test)
    assert not set(corpus) & tests
    # Other registered tasks (the suite's toy tasks, a user's own) may add test sequences of their own.
    assert info["n_test_sequences"] >= len(tests)


def test_stage1_tags_are_reused_only_while_the_corpus_is_unchanged(data_dir, tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("tdc")
    from biotag.benchmark import corpus as corpus_module

    folder = corpus_module.ensure_domain_tags(tmp_path / "tags", {"smiles": 8}, path=data_dir,
                                              model=tiny_model_dir, progress=False)
    stamp = (folder / "library.json").stat().st_mtime_ns
    assert corpus_module.ensure_domain_tags(tmp_path / "tags", {"smiles": 8}, path=data_dir, model=tiny_model_dir,
                                            progress=False) == folder
    assert (folder / "library.json").stat().st_mtime_ns == stamp  # reused
    first = corpus_module.smiles_corpus(8, seed=0, path=data_dir)[0]
    # A newly evaluated task that tests on a corpus molecule changes the corpus: the tags are retrained.
    monkeypatch.setattr(corpus_module, "test_smiles", lambda path=None: {first[0]})
    corpus_module.ensure_domain_tags(tmp_path / "tags", {"smiles": 8}, path=data_dir, model=tiny_model_dir,
                                     progress=False)
    assert (folder / "library.json").stat().st_mtime_ns != stamp
    assert json.loads((folder / "corpus.json").read_text())["corpora"]["smiles"]["candidates_dropped_as_test"] >= 1


def test_stage1_can_train_in_a_child_process_on_the_corpus_drawn_here(data_dir, tiny_model_dir, tmp_path,
                                                                      monkeypatch):
    """The suite trains stage 1 in a fresh process (its model is freed before the cells start); the corpus is
    drawn in the calling process, against its task registry, which a spawned process would not share."""

    pytest.importorskip("tdc")
    from biotag.benchmark import corpus as corpus_module

    first = corpus_module.smiles_corpus(8, seed=0, path=data_dir)[0]
    monkeypatch.setattr(corpus_module, "test_smiles", lambda path=None: {first[0]})  # only in this process
    folder = corpus_module.ensure_domain_tags(tmp_path / "tags", {"smiles": 8}, path=data_dir,
                                              model=tiny_model_dir, progress=False, isolate=True)
    record = json.loads((folder / "corpus.json").read_text())["corpora"]["smiles"]
    here = corpus_module.smiles_corpus(8, seed=0, path=data_dir)[1]
    assert record["sha256"] == here["sha256"] and record["candidates_dropped_as_test"] >= 1
    assert (folder / "library.json").is_file() and len(record["history"]) == 1


def test_stage1_tags_have_the_length_asked_for_and_a_new_length_retrains_them(data_dir, tiny_model_dir, tmp_path):
    pytest.importorskip("tdc")
    from biotag.benchmark import corpus as corpus_module

    def length(folder):
        return {t["name"]: t["p"] for t in json.loads((folder / "library.json").read_text())["tags"]}["<SMILES>"]

    folder = corpus_module.ensure_domain_tags(tmp_path / "tags", {"smiles": 8}, path=data_dir,
                                              model=tiny_model_dir, progress=False, p=3)
    assert length(folder) == 3 and json.loads((folder / "corpus.json").read_text())["p"] == 3
    corpus_module.ensure_domain_tags(tmp_path / "tags", {"smiles": 8}, path=data_dir, model=tiny_model_dir,
                                     progress=False)
    assert length(folder) == 10 and "p" not in json.loads((folder / "corpus.json").read_text())
