"""Every benchmark model fits and predicts through the same surface."""

import numpy as np
import pytest

from biotag.benchmark import Settings, make_model
from biotag.benchmark.models import TargetScaler
from toy import TOY_BIN, TOY_REG, toy_loader


@pytest.mark.parametrize("log", [False, True])
def test_target_scaler_round_trips(log):
    y = np.array([-2.0, 0.0, 3.5, 100.0])
    scaler = TargetScaler(log).fit(y)
    z = scaler.transform(y)
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9
    np.testing.assert_allclose(scaler.inverse_transform(z), y, atol=1e-9)


@pytest.mark.parametrize("task", [TOY_REG, TOY_BIN], ids=["regression", "binary"])
@pytest.mark.parametrize("name", ["rf_morgan", "catboost_maplight"])
def test_expert_models_fit_and_predict(name, task):
    if name == "catboost_maplight":
        pytest.importorskip("catboost")
    split = toy_loader(task, 1, None)
    model = make_model(name, task, 1, Settings(n_jobs=1)).fit(split)
    pred = model.predict(split.X_test)
    assert pred.shape == (len(split.X_test),) and np.all(np.isfinite(pred))
    if task.kind == "binary":
        assert np.all((pred >= 0) & (pred <= 1))
    assert model.trainable_params > 0


def test_expert_models_are_seeded():
    split = toy_loader(TOY_REG, 1, None)
    a = make_model("rf_morgan", TOY_REG, 3, Settings(n_jobs=1)).fit(split).predict(split.X_test)
    b = make_model("rf_morgan", TOY_REG, 3, Settings(n_jobs=1)).fit(split).predict(split.X_test)
    c = make_model("rf_morgan", TOY_REG, 4, Settings(n_jobs=1)).fit(split).predict(split.X_test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("task", [TOY_REG, TOY_BIN], ids=["regression", "binary"])
def test_tagllm_model_on_a_tiny_lm(task, tiny_model_dir):
    split = toy_loader(task, 1, None)
    model = make_model("tagllm", task, 1, Settings(model=tiny_model_dir, epochs=1, p=2)).fit(split)
    pred = model.predict(split.X_test)
    assert pred.shape == (len(split.X_test),) and np.all(np.isfinite(pred))
    assert model.trainable_params > 0


def test_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match="rf_morgan"):
        make_model("nope", TOY_REG, 1, Settings())


@pytest.mark.parametrize("name", ["linear_probe", "prompt_tuning", "lora"])
@pytest.mark.parametrize("task", [TOY_REG, TOY_BIN], ids=["regression", "binary"])
def test_llm_baselines_on_a_tiny_lm(name, task, tiny_model_dir):
    if name != "linear_probe":
        pytest.importorskip("peft")
    split = toy_loader(task, 1, None)
    model = make_model(name, task, 1, Settings(model=tiny_model_dir, epochs=2, p=2)).fit(split)
    pred = model.predict(split.X_test)
    assert pred.shape == (len(split.X_test),) and np.all(np.isfinite(pred))
    if task.kind == "binary":
        assert np.all((pred >= 0) & (pred <= 1))
    assert model.trainable_params > 0
    if name == "prompt_tuning":  # 2p virtual tokens of width d, plus the one-output head
        d = model.model.config.hidden_size
        assert model.trainable_params == 2 * 2 * d + d


def test_protein_baseline_uses_aligned_one_hot_and_applies_only_to_protein_regression():
    from toy import TOY_PROTEIN, toy_protein_loader

    from biotag.benchmark.models import MODELS

    split = toy_protein_loader(TOY_PROTEIN, 1, None)
    model = make_model("ridge_protein", TOY_PROTEIN, 1, Settings()).fit(split)
    pred = model.predict(split.X_test)
    assert pred.shape == (6,) and np.all(np.isfinite(pred)) and model.length == 10
    assert model.trainable_params == 10 * 21 + 1
    with pytest.raises(ValueError, match="aligned 10-residue"):
        model.predict(["MKTAYIAKQRA"])
    assert MODELS["ridge_protein"].applies_to(TOY_PROTEIN)
    assert not MODELS["ridge_protein"].applies_to(TOY_REG) and MODELS["rf_morgan"].applies_to(TOY_PROTEIN)
