import math
import pickle
import random

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.ensemble import RandomForestRegressor, StackingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from biotag import SmilesFeaturizer, TagLLMClassifier, TagLLMRegressor
from biotag.estimators._search import best_val_loss, learning_rates
from biotag.training import History


def toy(n, seed=0):
    rng = random.Random(seed)
    smiles = ["".join(rng.choice(["C", "N", "O", "CC", "c1ccccc1"]) for _ in range(rng.randint(2, 6))) for _ in range(n)]
    y = np.array([s.count("C") + 0.5 * s.count("N") for s in smiles], dtype=float)
    return smiles, y


def fast(tiny_model_dir, **kw):
    params = dict(model=tiny_model_dir, p=2, epochs=4, lr=2e-2, batch_size=8, random_state=0, verbose=0)
    params.update(kw)
    return TagLLMRegressor(**params)


def test_init_stores_params_verbatim_and_does_no_work():
    est = TagLLMRegressor("some/model-that-does-not-exist", domains=("protein", "smiles"), p=3, lr=0.5)
    assert est.model == "some/model-that-does-not-exist" and est.domains == ("protein", "smiles")
    assert est.get_params()["p"] == 3
    assert clone(est).get_params() == est.get_params()
    est.set_params(p=7, epochs=2)
    assert est.p == 7 and est.epochs == 2
    with pytest.raises(TypeError):
        TagLLMRegressor(None, "smiles")  # keyword-only after the first


def test_sklearn_tags_declare_string_input():
    assert TagLLMRegressor().__sklearn_tags__().input_tags.string


def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        TagLLMRegressor().predict(["CCO"])


def test_fit_predict_learns_and_keeps_every_row(tiny_model_dir):
    X, y = toy(80)
    X_test, y_test = toy(30, seed=1)
    est = fast(tiny_model_dir).fit(X, y)
    pred = est.predict(X_test)
    assert pred.shape == (30,)
    assert np.mean(np.abs(pred - y_test)) < np.mean(np.abs(y.mean() - y_test))  # beats the mean
    assert est.n_trainable_params_ == 2 * 32 + 3 * 32 + 1  # function tag + head (the tag, tokens pooled at 2 depths)
    assert len(est.history_.epochs) >= 1 and "val_loss" in est.history_.epochs[0]
    assert not hasattr(est, "n_features_in_")  # strings in, as scikit-learn's text vectorizers (see MAPIE's test)


def test_probe_head_init_learns_and_keeps_the_sklearn_contract(tiny_model_dir):
    X, y = toy(80)
    X_test, y_test = toy(30, seed=1)
    est = fast(tiny_model_dir, head_init="probe").fit(X, y)
    assert est.get_params()["head_init"] == "probe" and clone(est).head_init == "probe"
    pred = est.predict(X_test)
    assert np.mean(np.abs(pred - y_test)) < np.mean(np.abs(y.mean() - y_test))
    with pytest.raises(ValueError, match="'head_init' parameter"):
        fast(tiny_model_dir, head_init="ridge").fit(X, y)


@pytest.mark.parametrize("readout", ["tag+pool", "pool"])
def test_pooled_readouts_learn_save_and_load(tiny_model_dir, tmp_path, readout):
    X, y = toy(80)
    X_test, y_test = toy(30, seed=1)
    est = fast(tiny_model_dir, readout=readout).fit(X, y)
    pred = est.predict(X_test)
    assert np.mean(np.abs(pred - y_test)) < np.mean(np.abs(y.mean() - y_test))
    head = est.library_.heads["<Task>"]
    assert head.readout.layers == (1, 2) and head.readout.tag is (readout == "tag+pool")
    assert head.linear.in_features == 32 * (2 + (readout == "tag+pool"))
    loaded = TagLLMRegressor.load(est.save(tmp_path / "est"))
    assert np.array_equal(loaded.predict(X_test), pred)
    cached = fast(tiny_model_dir, readout=readout, prefix_cache=str(tmp_path / "cache")).fit(X, y)
    np.testing.assert_allclose(cached.predict(X_test), pred, rtol=1e-4, atol=1e-4)  # same, through the cache


def test_same_random_state_same_predictions(tiny_model_dir):
    X, y = toy(40)
    a = fast(tiny_model_dir).fit(X, y).predict(X[:10])
    b = fast(tiny_model_dir).fit(X, y).predict(X[:10])
    assert np.array_equal(a, b)


def test_multi_output(tiny_model_dir):
    X, y = toy(40)
    Y = np.c_[y, -2 * y + 100]
    pred = fast(tiny_model_dir).fit(X, Y).predict(X[:5])
    assert pred.shape == (5, 2)
    assert 50 < pred[:, 1].mean() < 150  # original units, not standardized


def test_explicit_validation_set(tiny_model_dir):
    X, y = toy(40)
    Xv, yv = toy(10, seed=3)
    est = fast(tiny_model_dir, validation_fraction=0.0).fit(X, y, X_val=Xv, y_val=yv)
    assert est.history_.best_epoch is not None
    with pytest.raises(ValueError, match="pass both X_val and y_val"):
        fast(tiny_model_dir).fit(X, y, X_val=Xv)


def test_two_column_input(tiny_model_dir):
    rng = random.Random(0)
    df = pd.DataFrame({"target": ["".join(rng.choice("MKAG") for _ in range(5)) for _ in range(40)],
                       "ligand": toy(40)[0], "unused": 1})
    y = df["target"].str.count("K") + df["ligand"].str.count("C")
    est = fast(tiny_model_dir, domains=("protein", "smiles"), columns=["target", "ligand"]).fit(df, y)
    assert est.predict(df.head(7)).shape == (7,)
    assert est.feature_names_in_.tolist() == ["target", "ligand"]
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['ligandz'\]"):
        fast(tiny_model_dir, domains=("protein", "smiles"), columns=["target", "ligandz"]).fit(df, y)
    with pytest.raises(ValueError, match="X has 3 column"):
        fast(tiny_model_dir, domains=("protein", "smiles")).fit(df, y)


def test_dataframe_columns_are_checked_by_name_not_matched_by_position(tiny_model_dir):
    rng = random.Random(0)
    df = pd.DataFrame({"protein": ["".join(rng.choice("MKAG") for _ in range(5)) for _ in range(30)],
                       "smiles": toy(30)[0]})
    y = df["protein"].str.count("K") + df["smiles"].str.count("C")
    est = fast(tiny_model_dir, domains=("protein", "smiles"), epochs=1).fit(df[["protein", "smiles"]], y)
    with pytest.raises(ValueError, match=r"fitted with \['protein', 'smiles'\], got \['smiles', 'protein'\] "
                                         r"\(the same names in another order\)"):
        est.predict(df[["smiles", "protein"]])
    with pytest.raises(ValueError, match="should match those passed during fit"):
        est.predict(df.rename(columns={"smiles": "ligand"}))
    with pytest.warns(UserWarning, match="does not have feature names"):
        assert est.predict(df.to_numpy()).shape == (30,)  # a bare array: taken in the fitted order, with a warning
    with pytest.raises(ValueError, match="X_val should match"):
        fast(tiny_model_dir, domains=("protein", "smiles"), epochs=1).fit(
            df, y, X_val=df[["smiles", "protein"]], y_val=y)


@pytest.mark.parametrize(
    "X, y, match",
    [
        (["CC", "CN", "CO"], [1.0, np.nan, 2.0], r"NaN or infinite values in row\(s\) 1"),
        (["CC", "CN", "CO"], [1.0, 2.0, np.inf], r"row\(s\) 2"),
        (["CC", "CN", "CO"], [1.0, 2.0], "X has 3 rows but y has 2"),
        (["CC", None, "CO", ""], [1, 2, 3, 4], r"row\(s\) 1, 3"),
        (["CC", 5, "CO"], [1, 2, 3], r"row\(s\) 1"),
        (["CC"], [1.0], "at least 2 training rows"),
        (["CC", "CN", "CO"], [[[1.0]], [[2.0]], [[3.0]]], "shape"),
        (["CC", "CN", "CO"], ["a", "b", "c"], "numeric"),
        ("CCO", [1.0], "single string"),
    ],
)
def test_bad_input_is_named(tiny_model_dir, X, y, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fast(tiny_model_dir).fit(X, y)


def test_bad_params_are_named(tiny_model_dir):
    X, y = toy(10)
    with pytest.raises(ValueError, match="'lr' parameter"):
        fast(tiny_model_dir, lr=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="unknown domain"):
        fast(tiny_model_dir, domains="dna").fit(X, y)
    with pytest.raises(ValueError, match="invalid tag name"):
        fast(tiny_model_dir, function_tag="Caco2").fit(X, y)
    with pytest.raises(FileNotFoundError, match="domain_tags="):
        fast(tiny_model_dir, domain_tags="/no/such/library").fit(X, y)


def test_predict_never_drops_rows_and_names_bad_ones(tiny_model_dir):
    X, y = toy(30)
    est = fast(tiny_model_dir).fit(X, y)
    assert len(est.predict(X * 3)) == 90
    with pytest.raises(ValueError, match=r"row\(s\) 2"):
        est.predict(["CC", "CO", float("nan")])


def test_pipeline_with_featurizer(tiny_model_dir):
    X, y = toy(40)
    pipe = Pipeline([("smiles", SmilesFeaturizer()), ("model", fast(tiny_model_dir))])
    pipe.fit(X, y)
    assert pipe.predict(X[:4]).shape == (4,)


def test_grid_search_and_cross_val(tiny_model_dir):
    X, y = toy(48)
    grid = GridSearchCV(fast(tiny_model_dir, epochs=2), {"p": [1, 2], "lr": [1e-2, 3e-2]}, cv=2,
                        scoring="neg_mean_absolute_error")
    grid.fit(X, y)
    assert set(grid.best_params_) == {"p", "lr"} and len(grid.cv_results_["params"]) == 4
    scores = cross_val_score(fast(tiny_model_dir, epochs=2), X, y, cv=KFold(3), scoring="neg_mean_absolute_error")
    assert scores.shape == (3,) and np.isfinite(scores).all()


def morgan_counts(smiles):
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=256)
    return np.array([gen.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles], dtype=float)


def test_stacking_next_to_a_fingerprint_model(tiny_model_dir):
    X, y = toy(48)
    fingerprint_rf = make_pipeline(FunctionTransformer(morgan_counts), RandomForestRegressor(50, random_state=0))
    stack = StackingRegressor([("tagllm", fast(tiny_model_dir, epochs=2)), ("rf", fingerprint_rf)],
                              final_estimator=RidgeCV(), cv=2)
    stack.fit(X, y)
    assert stack.predict(X[:6]).shape == (6,)


def test_save_load_identical_predictions(tiny_model_dir, tmp_path):
    X, y = toy(40)
    est = fast(tiny_model_dir).fit(X, y)
    path = est.save(tmp_path / "est")
    files = {f.name for f in path.iterdir()}
    assert files == {"library.json", "tags.safetensors", "estimator.json"}
    assert sum(f.stat().st_size for f in path.iterdir()) < 100_000
    loaded = TagLLMRegressor.load(path)
    assert loaded.get_params() == est.get_params()
    assert np.array_equal(loaded.predict(X), est.predict(X))
    assert loaded.history_.epochs == est.history_.epochs


def test_pickle_and_joblib_round_trips_without_base_weights(tiny_model_dir, tmp_path):
    X, y = toy(40)
    pipe = make_pipeline(SmilesFeaturizer(), fast(tiny_model_dir)).fit(X, y)
    blob = pickle.dumps(pipe)
    assert len(blob) < 5_000_000
    assert b"model.embed_tokens" not in blob and b"lm_head" not in blob
    again = pickle.loads(blob)
    assert np.array_equal(again.predict(X), pipe.predict(X))
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    assert np.array_equal(joblib.load(tmp_path / "pipe.joblib").predict(X), pipe.predict(X))


def test_unpickled_estimator_verifies_its_base_model(tiny_model_dir, tmp_path):
    from biotag import IncompatibleBaseModelError
    from tiny import make_tiny_lm

    X, y = toy(20)
    est = fast(tiny_model_dir, epochs=1).fit(X, y)
    other, tok = make_tiny_lm(seed=9)
    other.save_pretrained(tmp_path / "other")
    tok.save_pretrained(tmp_path / "other")
    moved = pickle.loads(pickle.dumps(est))
    moved.model = str(tmp_path / "other")  # the reference now resolves to another model
    with pytest.raises(IncompatibleBaseModelError):
        moved.predict(X)


def test_corrupt_saved_estimator(tiny_model_dir, tmp_path):
    from biotag import CorruptFileError

    X, y = toy(20)
    path = fast(tiny_model_dir, epochs=1).fit(X, y).save(tmp_path / "est")
    good = (path / "estimator.json").read_text()
    (path / "estimator.json").write_text("{oops")
    with pytest.raises(CorruptFileError, match="not valid JSON"):
        TagLLMRegressor.load(path)
    for damaged, match in [(good.replace('"params"', '"parameters"'), "field 'params' is missing"),
                           (good.replace('"n_trainable_params_": ', '"n_trainable_params_": "many", "x": '),
                            "not a valid saved"),
                           (good.replace('"p": 2', '"p": -3'), "not a valid saved estimator.*'p'")]:
        (path / "estimator.json").write_text(damaged)
        with pytest.raises(CorruptFileError, match=match):
            TagLLMRegressor.load(path)
    with pytest.raises(FileNotFoundError, match="no saved biotag estimator"):
        TagLLMRegressor.load(tmp_path / "nothing")


def test_dtype_auto_holds_the_base_model_in_bf16_only_where_the_cpu_has_native_bf16(tiny_model_dir, tmp_path,
                                                                                      monkeypatch):
    from biotag import hardware

    X, y = toy(40)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))  # an AVX512 CPU without BF16
    fp32 = fast(tiny_model_dir, device="cpu").fit(X, y)
    assert fp32.dtype == "auto" and fp32.dtype_ == "float32"
    assert fp32._tagged_lm().model.dtype == torch.float32
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    bf16 = fast(tiny_model_dir, device="cpu").fit(X, y)
    assert bf16.dtype_ == "bfloat16" and bf16._tagged_lm().model.dtype == torch.bfloat16
    assert all(t.dtype == torch.float32 for t in bf16.library_.tags.values())  # tags and head stay float32
    # the same training in the two precisions lands close: on average within a twentieth of the targets' spread, and
    # every row within a fifth (bf16 kernels differ between CPUs: on one with AVX2 only, the largest row's gap was
    # 0.10 of the spread)
    gap = np.abs(bf16.predict(X) - fp32.predict(X))
    assert gap.mean() < 0.05 * y.std() and gap.max() < 0.2 * y.std()
    loaded = TagLLMRegressor.load(bf16.save(tmp_path / "est"))
    assert loaded.dtype_ == "bfloat16" and loaded.dtype == "auto"
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2"}))  # moved to an AVX2-only machine
    assert loaded._tagged_lm().model.dtype == torch.float32  # "auto" decides where the model loads


def test_an_overlong_input_is_named_by_its_row_in_x_before_any_computing(tiny_model_dir):
    X, y = toy(40)
    long = "C" * 80
    with pytest.raises(ValueError, match=r"1 row\(s\) of X longer than max_length=40 positions .*row 37: "):
        fast(tiny_model_dir, max_length=40).fit(X[:37] + [long] + X[38:], y)
    est = fast(tiny_model_dir, max_length=40, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"2 row\(s\) of X .*row 40: .*row 41: "):
        est.predict(X + [long, long])  # not "row 8" of the last batch


def test_fit_and_predict_validate_each_column_by_its_domain_listing_every_bad_row(tiny_model_dir):
    from biotag import InvalidSequenceError, InvalidSmilesError

    X, y = toy(30)
    est = fast(tiny_model_dir, epochs=1).fit(X, y)
    with pytest.raises(InvalidSmilesError, match=r"X \(smiles\): 2 invalid SMILES: row 1: 'not a smiles'.*row 2: "):
        est.predict(["CCO", "not a smiles", "日本語🙂"])
    with pytest.raises(InvalidSmilesError, match="row 0: 'C1CC'"):
        est.predict(["C1CC", "CCO"])
    with pytest.raises(InvalidSequenceError, match=r"X \(protein\): .*row 0"):
        fast(tiny_model_dir, domains="protein").fit(["CC(=O)O"] + ["MKTAYG"] * 5, np.arange(6.0))
    rng = random.Random(0)
    pairs = pd.DataFrame({"protein": ["".join(rng.choice("MKAG") for _ in range(5)) for _ in range(6)],
                          "smiles": X[:6]})
    pairs.loc[3, "smiles"] = "C(("
    with pytest.raises(InvalidSmilesError, match=r"column 1 \(smiles\) of X: .*row 3: 'C\(\('"):
        fast(tiny_model_dir, domains=("protein", "smiles")).fit(pairs, np.arange(6.0))


def test_a_featurizer_before_the_estimator_validates_once(tiny_model_dir, monkeypatch):
    from biotag.domains import smiles as smiles_module

    X, y = toy(30)
    calls = []
    real = smiles_module._canonicalize
    monkeypatch.setattr(smiles_module, "_canonicalize", lambda value, **kw: calls.append(value) or real(value, **kw))
    model = make_pipeline(SmilesFeaturizer(), fast(tiny_model_dir, epochs=1)).fit(X, y)
    assert len(calls) == len(X)  # the featurizer's pass only; the estimator trusted its output
    model.predict(X[:5])
    assert len(calls) == len(X) + 5
    fast(tiny_model_dir, epochs=1).fit(X, y)  # a plain list: the estimator validates it itself
    assert len(calls) == 2 * len(X) + 5


def test_domain_p_sets_an_untrained_domain_tags_length_and_a_pretrained_one_keeps_its_own(tiny_model_dir, tmp_path):
    from biotag import TagLibrary, TagSpec, load_base_model

    X, y = toy(40)
    est = fast(tiny_model_dir, p=3, domain_p=1, epochs=1).fit(X, y)
    specs = est.library_.specs
    assert (specs["<SMILES>"].p, specs["<Task>"].p) == (1, 3)
    assert tuple(est.library_.tags["<SMILES>"].shape) == (1, 32)
    assert fast(tiny_model_dir, p=3, epochs=1).fit(X, y).library_.specs["<SMILES>"].p == 3  # default: p
    model, _ = load_base_model(tiny_model_dir)
    library = TagLibrary.for_model(model)
    library.ensure_tag(TagSpec("<SMILES>", "domain", p=2), model)
    library.save(tmp_path / "lib")
    pretrained = fast(tiny_model_dir, p=3, domain_p=1, epochs=1, domain_tags=str(tmp_path / "lib")).fit(X, y)
    assert (pretrained.library_.specs["<SMILES>"].p, pretrained.library_.specs["<Task>"].p) == (2, 3)
    with pytest.raises(ValueError, match="domain_p"):
        fast(tiny_model_dir, domain_p=0).fit(X, y)
    restored = TagLLMRegressor.load(est.save(tmp_path / "est"))
    assert restored.domain_p == 1


def test_pretrained_domain_tags_are_the_shipped_ones_where_the_model_has_some_else_fresh(tiny_model_dir, tmp_path,
                                                                                         monkeypatch):
    """``domain_tags="pretrained"`` starts from the tags biotag ships for the model; a model (or a domain) that has
    none starts fresh, where a library you name must hold every domain tag."""
    from biotag import TagLibrary, TagSpec, load_base_model
    from biotag.estimators import _library

    X, y = toy(40)
    assert fast(tiny_model_dir, epochs=1, domain_tags="pretrained").fit(X, y).library_.specs["<SMILES>"].p == 2
    model, _ = load_base_model(tiny_model_dir)
    library = TagLibrary.for_model(model)
    library.ensure_tag(TagSpec("<SMILES>", "domain", p=5), model)
    library.save(tmp_path / "shipped")
    monkeypatch.setattr(_library, "pretrained_library", lambda name: tmp_path / "shipped")  # as if shipped for it
    est = fast(tiny_model_dir, epochs=1, domain_tags="pretrained").fit(X, y)
    assert est.library_.specs["<SMILES>"].p == 5
    assert torch.equal(est.library_.tags["<SMILES>"], library.tags["<SMILES>"])  # frozen in stage 2
    pairs = [["MKTAYIAKQR", s] for s in X]
    both = fast(tiny_model_dir, epochs=1, domains=("protein", "smiles"), domain_tags="pretrained").fit(pairs, y)
    assert (both.library_.specs["<SMILES>"].p, both.library_.specs["<Protein>"].p) == (5, 2)
    with pytest.raises(ValueError, match="lacks"):
        fast(tiny_model_dir, epochs=1, domains=("protein", "smiles"), domain_tags=str(tmp_path / "shipped")).fit(
            pairs, y)
    library.ensure_tag(TagSpec("<Protein>", "domain", p=4), model)  # shipped for both domains: each takes its own
    library.save(tmp_path / "shipped")
    assert "<Protein>" not in fast(tiny_model_dir, epochs=1, domain_tags="pretrained").fit(X, y).library_.specs
    both = fast(tiny_model_dir, epochs=1, domains=("protein", "smiles"), domain_tags="pretrained").fit(pairs, y)
    assert (both.library_.specs["<SMILES>"].p, both.library_.specs["<Protein>"].p) == (5, 4)
    assert torch.equal(both.library_.tags["<Protein>"], library.tags["<Protein>"])


# ---- a learning-rate search inside fit: lr lists several rates, fit keeps the lowest validation loss ----

RATES = (1e-3, 2e-2, 1e-1)


def test_learning_rates_accepts_one_or_several_positive_rates():
    assert learning_rates(3e-3) == (3e-3,)
    assert learning_rates([1e-3, 1e-2]) == (1e-3, 1e-2)
    assert learning_rates(np.array([1e-3, 1e-2])) == (1e-3, 1e-2)
    for bad, match in [([], "empty"), ([1e-3, 0.0], "0.0 is not"), ([1e-3, "fast"], "'fast' is not"),
                       ([True], "True is not"), ([1e-3, math.inf], "inf is not"), ([1e-3, 1e-3], "twice")]:
        with pytest.raises(ValueError, match=match):
            learning_rates(bad)


def test_best_val_loss_is_the_kept_parameters_loss():
    history = History(epochs=[{"train_loss": 1.0, "val_loss": 0.8}, {"train_loss": 0.5, "val_loss": 0.9}])
    assert best_val_loss(history) == 0.8
    history.start_val_loss = 0.7  # a fitted start that no epoch beat
    assert best_val_loss(history) == 0.7
    assert best_val_loss(History(epochs=[{"train_loss": 1.0, "val_loss": math.nan}])) == math.inf
    assert best_val_loss(History(epochs=[{"train_loss": 1.0}])) == math.inf


def test_a_search_keeps_the_rate_with_the_lowest_validation_loss_and_equals_that_rate_alone(tiny_model_dir,
                                                                                             computed_prefixes):
    X, y = toy(60)
    X_test, _ = toy(20, seed=1)
    searched = fast(tiny_model_dir, lr=list(RATES)).fit(X, y)
    assert set(searched.lr_search_) == set(RATES)
    assert searched.lr_ == min(RATES, key=searched.lr_search_.get)
    assert searched.lr_search_[searched.lr_] == best_val_loss(searched.history_)
    searched_prefixes = list(computed_prefixes)
    computed_prefixes.clear()
    alone = fast(tiny_model_dir, lr=searched.lr_).fit(X, y)
    # The search ran the model once over each prefix that one fit runs over, for all three rates.
    assert len(searched_prefixes) == len(set(searched_prefixes)) and set(searched_prefixes) == set(computed_prefixes)
    assert alone.lr_ == searched.lr_ and list(alone.lr_search_) == [searched.lr_]
    np.testing.assert_array_equal(searched.predict(X_test), alone.predict(X_test))
    assert clone(searched).get_params()["lr"] == list(RATES)


def test_a_search_saves_loads_and_pickles_its_choice(tiny_model_dir, tmp_path):
    import pickle

    X, y = toy(40)
    est = TagLLMClassifier(model=tiny_model_dir, p=2, epochs=2, lr=(1e-3, 3e-2), batch_size=8, random_state=0,
                           verbose=0).fit(X, y > np.median(y))
    loaded = TagLLMClassifier.load(est.save(tmp_path / "clf"))
    assert loaded.lr_ == est.lr_ and loaded.lr_search_ == est.lr_search_ and loaded.lr == [1e-3, 3e-2]
    np.testing.assert_array_equal(loaded.predict_proba(X[:5]), est.predict_proba(X[:5]))
    assert pickle.loads(pickle.dumps(est)).lr_search_ == est.lr_search_


def test_a_search_needs_validation_rows_and_refuses_bad_rates(tiny_model_dir):
    X, y = toy(30)
    with pytest.raises(ValueError, match="chooses its rate on validation rows"):
        fast(tiny_model_dir, lr=[1e-3, 1e-2], validation_fraction=0).fit(X, y)
    with pytest.raises(ValueError, match="lr lists a rate twice"):
        fast(tiny_model_dir, lr=[1e-3, 1e-3]).fit(X, y)
    with pytest.raises(ValueError, match="'lr' parameter"):
        fast(tiny_model_dir, lr="fast").fit(X, y)
    est = fast(tiny_model_dir, lr=[1e-2, 2e-2], validation_fraction=0).fit(X, y, X_val=X[:8], y_val=y[:8])
    assert est.lr_ in (1e-2, 2e-2)  # a validation set of its own serves too


def test_the_search_is_a_benchmark_model():
    from biotag.benchmark import MODELS
    from biotag.benchmark.report import _rates

    assert "tagllm" in MODELS and "tagllm_pool_probe_select_lr" not in MODELS  # a variant is options, not a model
    assert _rates(["tagllm[lr=0.001/0.003/0.01]"], {"lr": 3e-3}) == "chosen from 0.001/0.003/0.01"
    assert _rates(["tagllm[head_init=probe]", "lora"], {"lr": 3e-3}).startswith("tagllm[head_init=probe] 0.003, lora ")
    assert isinstance(TagLLMRegressor().lr, float)
