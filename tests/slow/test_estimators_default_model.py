"""Slow: TagLLMRegressor (defaults except 3 epochs) on the real default model, TDC Caco2 (ADMET group)."""

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
    model = make_pipeline(SmilesFeaturizer(), TagLLMRegressor(function_tag="<Caco2>", epochs=3, random_state=0, verbose=0))
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
    print(f"\nCaco2_Wang (reconstructed ADMET split): test MAE {mae:.3f} vs mean predictor {mean_mae:.3f}; "
          f"fit {fit_s:.0f} s on {len(train)} molecules, predict {predict_s:.0f} s on {len(test)}; "
          f"history {model[-1].history_.epochs}")
    # Clearly better than the mean. Measured 2026-11-21 with 3 epochs: 0.451 vs 0.565 (lr 1e-3: 0.438).
    # Ten epochs at lr 3e-3 gave 0.490 here but 0.588 on CI's machine (the scaffold test set punishes
    # the longer schedule's variance), so the test uses the short one; the epoch lever is benchmarked.
    assert mae < 0.9 * mean_mae
