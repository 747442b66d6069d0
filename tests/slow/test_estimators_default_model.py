"""Slow: the estimators on the real default model, TDC Caco2 (ADMET group)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from biotag import TagLLMRegressor

pytestmark = pytest.mark.slow


def test_demo_fits_all_of_caco2_train_val_and_beats_the_mean_on_test(data_dir, tmp_path, capsys, record_property):
    """``biotag demo`` end to end on the whole training set: SmilesFeaturizer + TagLLMRegressor (defaults except 1
    epoch) in a pipeline, scored on the 182 test molecules, saved."""
    from biotag.cli import main

    assert main(["demo", "--epochs", "1", "--out", str(tmp_path / "demo"), "--data", str(data_dir)]) == 0
    shown = capsys.readouterr().out
    assert "invalid input is reported" in shown and (tmp_path / "demo" / "estimator.json").is_file()
    assert "(<Caco2> tag, 3 x 576, and a linear head)" in shown  # the estimators' default tag length, as trained
    found = re.search(r"held-out test MAE: Tag-LLM ([0-9.]+)  vs  predicting the training mean ([0-9.]+)  \(182 test", shown)
    assert found, shown
    mae, mean_mae = map(float, found.groups())
    record_property("caco2_test_mae", mae)
    record_property("mean_predictor_mae", mean_mae)
    print(shown)
    # Clearly better than the mean. In float32 on an AVX2-only CPU, 1, 2 and 3 epochs all gave 0.490 vs 0.565:
    # none beat the head's probe start on the held-out rows, so the start was kept each time (as on the benchmark's
    # tasks, where the epoch lever is measured). One epoch still runs the whole training path, at a third of its cost.
    assert mae < 0.9 * mean_mae


def test_the_estimators_start_from_the_shipped_domain_tags_and_none_means_untrained(data_dir):
    """The package's pretrained ``<SMILES>`` and ``<Protein>`` tags load on the default model (a library is refused on
    any other) and are where ``TagLLMRegressor()`` starts; ``domain_tags=None`` starts from an untrained tag."""
    import json

    import torch

    from biotag.tags import TagLibrary
    from biotag.backbone import load_base_model
    from biotag.tags.pretrained import SHIPPED

    record = json.loads((SHIPPED / "corpus.json").read_text())
    assert record["p"] == 3 and record["corpora"]["smiles"]["n"] == 30481 and record["corpora"]["protein"]["n"] == 4678
    model, _ = load_base_model()
    shipped = TagLibrary.load(SHIPPED, model).tags
    train = pd.read_csv(data_dir / "tdc" / "admet_group" / "caco2_wang" / "train_val.csv").head(48)
    est = TagLLMRegressor(epochs=1, random_state=0, verbose=0).fit(train["Drug"], train["Y"])
    assert est.domain_tags == "pretrained" and torch.equal(est.library_.tags["<SMILES>"], shipped["<SMILES>"])
    fresh = TagLLMRegressor(domain_tags=None, epochs=1, random_state=0, verbose=0).fit(train["Drug"], train["Y"])
    assert fresh.library_.specs["<SMILES>"].p == 3 and not torch.equal(fresh.library_.tags["<SMILES>"],
                                                                       shipped["<SMILES>"])
    proteins = pd.read_csv(data_dir / "proteins" / "beta_lactamase_train.csv").head(16)
    est = TagLLMRegressor(domains="protein", epochs=1, random_state=0, verbose=0).fit(
        proteins["primary"], proteins["scaled_effect1"])
    assert torch.equal(est.library_.tags["<Protein>"], shipped["<Protein>"]) and "<SMILES>" not in est.library_.specs
