"""Every benchmark model fits and predicts through the same surface."""

import numpy as np
import pytest

from biotag.benchmark import Settings, make_model
from biotag.benchmark.models import TargetScaler, standardized_text
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
def test_llm_baselines_on_a_tiny_lm(name, task, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOTAG_CACHE_DIR", str(tmp_path))  # the probe's feature cache
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


def test_linear_probe_features_are_computed_once_per_model_and_input(tiny_model_dir, tmp_path, monkeypatch):
    from biotag.benchmark.llm_baselines import FeatureCache, LinearProbe

    monkeypatch.setenv("BIOTAG_CACHE_DIR", str(tmp_path))
    split = toy_loader(TOY_REG, 1, None)
    first = make_model("linear_probe", TOY_REG, 1, Settings(model=tiny_model_dir))
    first.fit(split)
    expected = first.predict(split.X_test)  # caches the test set's features too
    texts = standardized_text(split.X_test, TOY_REG.domains)
    fresh = first._hidden([first.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts])
    (cache_file,) = (tmp_path / "probe-features").glob("*.npz")
    assert cache_file == first.cache.path

    def no_forward(self, ids):  # every feature must now come from the cache
        raise AssertionError(f"recomputed {len(ids)} features")

    monkeypatch.setattr(LinearProbe, "_hidden", no_forward)
    second = make_model("linear_probe", TOY_REG, 2, Settings(model=tiny_model_dir))
    second.fit(toy_loader(TOY_REG, 2, None))
    np.testing.assert_allclose(second.embed(texts), fresh, atol=1e-5)
    np.testing.assert_allclose(first.predict(split.X_test), expected, atol=1e-9)

    # Another model (here: one weight changed) has its own cache; a damaged file is recomputed, not trusted.
    monkeypatch.undo()
    monkeypatch.setenv("BIOTAG_CACHE_DIR", str(tmp_path))
    import torch

    from biotag.benchmark.llm_baselines import weights_key

    with torch.no_grad():
        second.model.model.norm.weight[0] += 1.0
    assert weights_key(second.model) != weights_key(first.model)
    cache_file.write_bytes(b"not an npz")
    assert FeatureCache("x", tmp_path / "probe-features").path.parent == cache_file.parent
    assert first.cache.load() == {}
    assert first.embed(texts[:3]).shape == (3, first.model.config.hidden_size)
    assert len(first.cache.load()) == 3
