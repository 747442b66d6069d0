"""Every benchmark model fits and predicts through the same surface."""

import numpy as np
import pytest

from biotag.benchmark import Settings, make_model
from biotag.benchmark.models import split_label
from biotag.benchmark.models.experts import TargetScaler
from biotag.benchmark.standardize import standardized_text
from toy import FOREST_THREADS_WARNING, TOY_BIN, TOY_REG, toy_loader


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
    if task.kind == "classification":
        assert np.all((pred >= 0) & (pred <= 1))
    assert model.trainable_params > 0


def test_expert_models_are_seeded():
    split = toy_loader(TOY_REG, 1, None)
    a = make_model("rf_morgan", TOY_REG, 3, Settings(n_jobs=1)).fit(split).predict(split.X_test)
    b = make_model("rf_morgan", TOY_REG, 3, Settings(n_jobs=1)).fit(split).predict(split.X_test)
    c = make_model("rf_morgan", TOY_REG, 4, Settings(n_jobs=1)).fit(split).predict(split.X_test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.filterwarnings(FOREST_THREADS_WARNING)
def test_a_forest_grows_the_same_trees_on_any_number_of_threads():
    from joblib import cpu_count

    split = toy_loader(TOY_BIN, 1, None)
    preds = {}
    for n_jobs in (1, 2, -1):
        model = make_model("rf_morgan", TOY_BIN, 2, Settings(n_jobs=n_jobs)).fit(split)
        preds[n_jobs] = model.predict(split.X_test)
        assert model.threads == (cpu_count() if n_jobs == -1 else n_jobs) == model.estimator.n_jobs
    np.testing.assert_array_equal(preds[1], preds[2])
    np.testing.assert_array_equal(preds[1], preds[-1])


@pytest.mark.parametrize("n_jobs", [0, -2, 1.5, True])
def test_a_thread_count_that_is_not_one_or_more_or_minus_one_is_refused(n_jobs):
    with pytest.raises(ValueError, match=f"n_jobs must be .* got {n_jobs!r}"):
        Settings(n_jobs=n_jobs)


@pytest.mark.parametrize("name, head_init, readout", [
    ("tagllm_paper", "random", "tag"), ("tagllm[head_init=probe,readout=tag]", "probe", "tag"),
    ("tagllm[head_init=random]", "random", "tag+pool"), ("tagllm[head_init=probe]", "probe", "tag+pool"),
    ("tagllm", "probe-select", "tag+pool"), ("tagllm[lr=0.001/0.003/0.01]", "probe-select", "tag+pool")])
@pytest.mark.parametrize("task", [TOY_REG, TOY_BIN], ids=["regression", "binary"])
def test_tagllm_model_on_a_tiny_lm(task, name, head_init, readout, tiny_model_dir):
    split = toy_loader(task, 1, None)
    model = make_model(name, task, 1, Settings(model=tiny_model_dir, epochs=1, p=2)).fit(split)
    assert model.estimator.head_init == head_init and model.estimator.readout == readout
    assert model.provenance["options"] == split_label(name)[1]  # the variant, recorded with the cell
    if "lr=" in name:  # the rate chosen on validation, recorded with the cell
        assert tuple(model.estimator.lr) == (1e-3, 3e-3, 1e-2)
        assert model.provenance["lr"] == model.estimator.lr_ and len(model.estimator.lr_search_) == 3
    pred = model.predict(split.X_test)
    assert pred.shape == (len(split.X_test),) and np.all(np.isfinite(pred))
    assert model.trainable_params > 0
    assert model.provenance["best_epoch"] == model.estimator.history_.best_epoch in (0, 1)  # recorded with the cell
    losses = model.provenance["val_losses"]  # the start's (a probe start only), then each epoch's
    assert len(losses) == 1 + len(model.estimator.history_.epochs) and all(np.isfinite(v) for v in losses[1:])
    assert (losses[0] is None) == (head_init == "random")
    assert len(model.provenance["train_losses"]) == len(model.estimator.history_.epochs)
    assert ("start_train_loss" in model.provenance) == (head_init != "random")  # the optimizer's check, recorded


def test_an_unknown_or_run_level_option_is_refused_by_name(tiny_model_dir):
    split = toy_loader(TOY_REG, 1, None)
    for name, match in [("tagllm[head=probe]", "unknown Tag-LLM option"), ("tagllm[p=10]", "the run sets"),
                        ("tagllm[readout=mean]", "readout must be one of"), ("rf_morgan[n=3]", "takes no options")]:
        with pytest.raises(ValueError, match=match):
            make_model(name, TOY_REG, 1, Settings(model=tiny_model_dir, epochs=1)).fit(split)


@pytest.mark.parametrize("name", ["tagllm[inner_validation=True]", "tagllm[inner_validation=True,lr=0.001/0.003]"])
def test_the_inner_variants_never_fit_on_the_splits_validation_rows(name, tiny_model_dir, monkeypatch):
    from biotag.estimators._base import TagLLMBase

    seen = []
    real = TagLLMBase.fit

    def spy(self, X, y, **kw):
        seen.append((len(X), kw))
        return real(self, X, y, **kw)

    monkeypatch.setattr(TagLLMBase, "fit", spy)
    split = toy_loader(TOY_REG, 1, None)
    model = make_model(name, TOY_REG, 1, Settings(model=tiny_model_dir, epochs=1, p=2)).fit(split)
    assert seen == [(len(split.X_train), {})]  # its own validation rows come out of the training rows
    assert model.estimator.validation_fraction > 0 and model.predict(split.X_valid).shape == (len(split.X_valid),)


def test_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match="rf_morgan"):
        make_model("nope", TOY_REG, 1, Settings())


@pytest.mark.parametrize("name", ["linear_probe", "linear_probe_pooled", "prompt_tuning", "lora"])
@pytest.mark.parametrize("task", [TOY_REG, TOY_BIN], ids=["regression", "binary"])
def test_llm_baselines_on_a_tiny_lm(name, task, tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIOTAG_CACHE_DIR", str(tmp_path))  # the probe's feature cache
    if not name.startswith("linear_probe"):
        pytest.importorskip("peft")
    split = toy_loader(task, 1, None)
    verbose = task.kind == "regression"
    settings = Settings(model=tiny_model_dir, epochs=2, p=2, prompt_tokens=4, verbose=verbose)
    model = make_model(name, task, 1, settings).fit(split)
    shown = capsys.readouterr().err  # the feature extraction's or the fit's progress bar, under verbose only
    assert ((f"{name} features" if name.startswith("linear_probe") else name) in shown) == verbose
    pred = model.predict(split.X_test)
    assert pred.shape == (len(split.X_test),) and np.all(np.isfinite(pred))
    if task.kind == "classification":
        assert np.all((pred >= 0) & (pred <= 1))
    assert model.trainable_params > 0
    if name == "prompt_tuning":  # prompt_tokens virtual tokens of width d, plus the one-output head
        d = model.model.config.hidden_size
        assert model.trainable_params == 4 * d + d


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
    from biotag.benchmark.models.llm import FeatureCache, LinearProbe

    monkeypatch.setenv("BIOTAG_CACHE_DIR", str(tmp_path))
    split = toy_loader(TOY_REG, 1, None)
    first = make_model("linear_probe", TOY_REG, 1, Settings(model=tiny_model_dir))
    first.fit(split)
    expected = first.predict(split.X_test)  # caches the test set's features too
    texts = standardized_text(split.X_test, TOY_REG.domains)
    fresh = np.stack([f["h"] for f in first._hidden([first.tokenizer(t, add_special_tokens=False)["input_ids"]
                                                     for t in texts], ("h",))])
    files = sorted((tmp_path / "probe-features").rglob("*.safetensors"))
    every_input = standardized_text(split.X_train + split.X_valid + split.X_test, TOY_REG.domains)
    assert len(files) == len(set(every_input))  # one file per distinct input
    assert all(f.is_relative_to(first.cache.files.folder) for f in files)

    def no_forward(self, ids, kinds):  # every feature must now come from the cache
        raise AssertionError(f"recomputed {len(ids)} features")

    monkeypatch.setattr(LinearProbe, "_hidden", no_forward)
    second = make_model("linear_probe", TOY_REG, 2, Settings(model=tiny_model_dir))
    second.fit(toy_loader(TOY_REG, 2, None))
    np.testing.assert_allclose(second.embed(texts)["h"], fresh, atol=1e-5)
    np.testing.assert_allclose(first.predict(split.X_test), expected, atol=1e-9)

    # Another model (here: one weight changed) has its own cache; a damaged file is recomputed, not trusted.
    monkeypatch.undo()
    monkeypatch.setenv("BIOTAG_CACHE_DIR", str(tmp_path))
    import torch

    with torch.no_grad():
        second.model.model.norm.weight[0] += 1.0
    assert FeatureCache(second.model).files.folder != first.cache.files.folder
    ids = first.tokenizer(texts[0], add_special_tokens=False)["input_ids"]
    first.cache.files.file(FeatureCache.key(ids)).write_bytes(b"not safetensors")
    assert first.cache.get(ids) is None
    assert first.embed(texts[:3])["h"].shape == (3, first.model.config.hidden_size)
    np.testing.assert_allclose(first.cache.get(ids)["h"], fresh[0], atol=1e-5)  # recomputed and written back


def test_the_pooled_probe_chooses_its_readout_on_validation_and_pools_the_real_tokens(tiny_model_dir, tmp_path,
                                                                                    monkeypatch):
    import torch

    monkeypatch.setenv("BIOTAG_CACHE_DIR", str(tmp_path))
    split = toy_loader(TOY_REG, 1, None)
    probe = make_model("linear_probe_pooled", TOY_REG, 1, Settings(model=tiny_model_dir, dtype="float32")).fit(split)
    assert probe.readout in ("last", "pool", "last+pool") and probe.provenance["readout"] == probe.readout
    kind = probe._pooled_kind()
    assert kind == "pooled1,2"  # a third, two thirds and the end of the tiny model's 2 layers
    texts = standardized_text(split.X_test[:4], TOY_REG.domains)
    pooled = probe.embed(texts)[kind]
    for text, row in zip(texts, pooled):  # batched with left padding = each text alone, padding left out
        ids = torch.tensor([probe.tokenizer(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            states = probe.model.base_model(input_ids=ids, output_hidden_states=True).hidden_states
        alone = torch.cat([states[1][0].mean(dim=0), states[2][0].mean(dim=0)]).numpy()
        np.testing.assert_allclose(row, alone, atol=1e-5, rtol=1e-4)
    plain = make_model("linear_probe", TOY_REG, 1, Settings(model=tiny_model_dir))
    plain.fit(split)  # reads the same files; it needs only the last state
    assert plain.readout == "last"


def test_feature_baselines_never_see_the_label_formula_of_the_paper_tasks():
    from rdkit import Chem
    from rdkit.Chem import QED, Descriptors

    from biotag.benchmark import features
    from biotag.benchmark.models import MODELS
    from biotag.benchmark.tasks import TASKS

    assert TASKS["qed"].label_features == ("qed",) and TASKS["descriptor"].label_features == ("gravy",)
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
    full, without = features.maplight_features(smiles), features.maplight_features(smiles, exclude=("qed",))
    assert full.shape[1] == without.shape[1] + 1
    qed = np.array([QED.qed(Chem.MolFromSmiles(s)) for s in smiles], dtype=np.float32)
    column = 2048 + 315 + [n for n, _ in Descriptors._descList].index("qed")
    np.testing.assert_allclose(full[:, column], qed, rtol=1e-6)  # where the label sat
    assert not any(np.allclose(without[:, j], qed) for j in range(without.shape[1]))
    model = MODELS["catboost_maplight"](TASKS["qed"], 1, Settings())
    assert model.smiles_features(smiles).shape == without.shape

    seqs = ["MKTAYIAKQR", "GAVLIPFWMGSTE"]  # unequal lengths: composition features, not one-hot
    assert features.protein_composition(seqs).shape[1] == features.protein_composition(seqs, ("gravy",)).shape[1] + 1
    for name in ("ridge_protein", "rf_morgan"):
        assert MODELS[name](TASKS["descriptor"], 1, Settings()).protein_features(seqs).shape[1] == 426
    with pytest.raises(ValueError, match="no RDKit descriptor named \\['QED'\\]"):
        features.maplight_features(smiles, exclude=("QED",))
    with pytest.raises(ValueError, match="ProtParam"):
        features.protein_composition(seqs, exclude=("hydropathy",))


def test_feature_baselines_featurize_each_distinct_input_once_in_row_order(monkeypatch):
    """A drug-target task repeats drugs and proteins across rows (DAVIS: 68 drugs x 379 kinases); the
    features are computed once per distinct value and land on the right rows."""
    from biotag.benchmark import features
    from biotag.benchmark.tasks import Task
    from biotag.exceptions import InvalidSmilesError
    from toy import PROTEINS, SMILES

    task = Task("toy_pairs", "regression", "mse", ("protein", "smiles"), group="toy", size=12)
    X = [(PROTEINS[i % 3], SMILES[i % 4]) for i in range(12)]
    model = make_model("rf_morgan", task, 1, Settings(n_jobs=1))
    calls = []
    originals = {name: getattr(features, name) for name in ("morgan_counts", "protein_composition")}
    for name, original in originals.items():
        monkeypatch.setattr(features, name, lambda values, *a, _f=original, **k: calls.append(len(values)) or
                            _f(values, *a, **k))
    F = model.featurize(X)
    assert sorted(calls) == [3, 4]
    row_by_row = [np.concatenate([originals["protein_composition"]([p]), originals["morgan_counts"]([s])], axis=1)
                  for p, s in X]
    np.testing.assert_array_equal(F, np.concatenate(row_by_row))

    bad = [(p, "not-a-smiles" if i in (2, 7) else s) for i, (p, s) in enumerate(X)]
    with pytest.raises(InvalidSmilesError) as err:
        model.featurize(bad)
    assert err.value.indices == [2, 7] and "row 7: 'not-a-smiles'" in str(err.value)


def test_the_linear_probe_in_bfloat16_keeps_its_own_feature_cache(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOTAG_CACHE_DIR", str(tmp_path))
    split = toy_loader(TOY_REG, 1, None)
    fp32 = make_model("linear_probe", TOY_REG, 1, Settings(model=tiny_model_dir)).fit(split)
    bf16 = make_model("linear_probe", TOY_REG, 1, Settings(model=tiny_model_dir, dtype="bfloat16")).fit(split)
    assert bf16.cache.files.folder != fp32.cache.files.folder  # features of the bf16 model are never read as the fp32 model's
    assert np.all(np.isfinite(bf16.predict(split.X_test)))
    with pytest.raises(ValueError, match="float32 only"):
        make_model("lora", TOY_REG, 1, Settings(model=tiny_model_dir, dtype="bfloat16")).fit(split)


@pytest.mark.parametrize("name", ["linear_probe", "lora"])
def test_the_llm_baselines_run_on_the_device_the_run_gives_them(name, tiny_model_dir, tmp_path, monkeypatch):
    """As the runner spreads cells over --devices (each cell's Settings.device): here a device this machine lacks,
    asked for and recorded; the spy places the model on the CPU."""
    import torch

    from biotag import backbone, hardware

    if name == "lora":
        pytest.importorskip("peft")
    monkeypatch.setenv("BIOTAG_CACHE_DIR", str(tmp_path))
    asked = []
    real_load, real_place = backbone.load_base_model, hardware.resolve_placement

    def load(name_or_path, *, dtype, device):
        asked.append(device)
        return real_load(name_or_path, dtype=dtype, device="cpu")

    def place(device="auto", dtype="auto"):
        asked.append(device)
        return real_place("cpu", dtype)._replace(device=torch.device("cpu"))

    monkeypatch.setattr(backbone, "load_base_model", load)
    monkeypatch.setattr(hardware, "resolve_placement", place)
    split = toy_loader(TOY_REG, 1, None)
    model = make_model(name, TOY_REG, 1, Settings(model=tiny_model_dir, epochs=1, device="cuda:1")).fit(split)
    assert asked == ["cuda:1"] and model.provenance["device"] == "cpu"
    assert np.all(np.isfinite(model.predict(split.X_test)))
