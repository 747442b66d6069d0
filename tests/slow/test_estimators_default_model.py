"""Slow: TagLLMRegressor (defaults except 1 epoch) on the real default model, TDC Caco2 (ADMET group)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from biotag import SmilesFeaturizer, TagLLMRegressor

pytestmark = pytest.mark.slow


def test_caco2_train_val_to_test_beats_the_mean(data_dir, record_property):
    folder = data_dir / "tdc" / "admet_group" / "caco2_wang"
    train, test = pd.read_csv(folder / "train_val.csv"), pd.read_csv(folder / "test.csv")
    model = make_pipeline(SmilesFeaturizer(), TagLLMRegressor(function_tag="<Caco2>", epochs=1, random_state=0, verbose=0))
    start = time.perf_counter()
    model.fit(train["Drug"], train["Y"])
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = model.predict(test["Drug"])
    predict_s = time.perf_counter() - start
    assert len(pred) == len(test)
    mae = float(np.mean(np.abs(pred - test["Y"])))
    mean_mae = float(np.mean(np.abs(train["Y"].mean() - test["Y"])))
    record_property("caco2_test_mae", round(mae, 3))
    record_property("mean_predictor_mae", round(mean_mae, 3))
    record_property("fit_s", round(fit_s))
    record_property("predict_s", round(predict_s))
    record_property("best_epoch", model[-1].history_.best_epoch)
    print(f"\nCaco2_Wang (reconstructed ADMET split): test MAE {mae:.3f} vs mean predictor {mean_mae:.3f}; "
          f"fit {fit_s:.0f} s on {len(train)} molecules, predict {predict_s:.0f} s on {len(test)}; "
          f"history {model[-1].history_.epochs}, start {model[-1].history_.start_val_loss}, "
          f"kept epoch {model[-1].history_.best_epoch}")
    # Clearly better than the mean. In float32 on an AVX2-only CPU, 1, 2 and 3 epochs all gave 0.490 vs 0.565:
    # none beat the head's probe start on the held-out rows, so the start was kept each time (as on the benchmark's
    # tasks, where the epoch lever is measured). One epoch still runs the whole training path, at a third of its cost.
    assert mae < 0.9 * mean_mae


def test_the_estimators_start_from_the_shipped_smiles_tag_and_none_means_untrained(data_dir):
    """The package's pretrained ``<SMILES>`` tag loads on the default model (a library is refused on any other) and
    is where ``TagLLMRegressor()`` starts; ``domain_tags=None`` starts from an untrained tag."""
    import json

    import torch

    from biotag.tags import TagLibrary, load_base_model
    from biotag.tags.pretrained import SHIPPED

    record = json.loads((SHIPPED / "corpus.json").read_text())
    assert record["p"] == 3 and record["corpora"]["smiles"]["n"] == 30481
    model, _ = load_base_model()
    shipped = TagLibrary.load(SHIPPED, model).tags["<SMILES>"]
    train = pd.read_csv(data_dir / "tdc" / "admet_group" / "caco2_wang" / "train_val.csv").head(48)
    est = TagLLMRegressor(epochs=1, random_state=0, verbose=0).fit(train["Drug"], train["Y"])
    assert est.domain_tags == "pretrained" and torch.equal(est.library_.tags["<SMILES>"], shipped)
    fresh = TagLLMRegressor(domain_tags=None, epochs=1, random_state=0, verbose=0).fit(train["Drug"], train["Y"])
    assert fresh.library_.specs["<SMILES>"].p == 3 and not torch.equal(fresh.library_.tags["<SMILES>"], shipped)
