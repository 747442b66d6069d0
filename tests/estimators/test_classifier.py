import pickle
import random

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from biotag import SmilesFeaturizer, TagLLMClassifier


def toy(n, seed=0):
    rng = random.Random(seed)
    smiles = ["".join(rng.choice(["C", "N", "O", "CC"]) for _ in range(rng.randint(2, 6))) for _ in range(n)]
    return smiles


def fast(tiny_model_dir, **kw):
    params = dict(model=tiny_model_dir, p=2, epochs=6, lr=3e-2, batch_size=8, random_state=0, verbose=0)
    params.update(kw)
    return TagLLMClassifier(**params)


def test_binary_string_labels(tiny_model_dir):
    X = toy(80)
    y = np.where([s.count("N") > 0 for s in X], "active", "inactive")
    clf = fast(tiny_model_dir).fit(X, y)
    assert clf.classes_.tolist() == ["active", "inactive"]
    proba = clf.predict_proba(X[:10])
    assert proba.shape == (10, 2) and np.allclose(proba.sum(1), 1)
    pred = clf.predict(X)
    assert set(pred) <= {"active", "inactive"} and len(pred) == 80
    assert (pred == y).mean() > max((y == "active").mean(), (y == "inactive").mean())  # beats the majority class


def test_multiclass_int_labels(tiny_model_dir):
    X = toy(60)
    y = np.array([min(s.count("C"), 2) for s in X]) * 10
    clf = fast(tiny_model_dir).fit(X, y)
    assert clf.classes_.tolist() == [0, 10, 20]
    assert clf.predict_proba(X).shape == (60, 3)
    assert clf.predict(X).dtype == clf.classes_.dtype


def test_class_weight(tiny_model_dir):
    X = toy(40)
    y = np.array([1] * 34 + [0] * 6)
    clf = fast(tiny_model_dir, class_weight="balanced", epochs=1).fit(X, y)
    weights = clf.library_.heads["<Task>"].class_weight
    assert weights[0] > weights[1]
    clf = fast(tiny_model_dir, class_weight={0: 5.0}, epochs=1).fit(X, y)
    assert clf.library_.heads["<Task>"].class_weight.tolist() == [5.0, 1.0]


def test_bad_labels(tiny_model_dir):
    with pytest.raises(ValueError, match="single class"):
        fast(tiny_model_dir).fit(["CC", "CN"], [1, 1])
    with pytest.raises(ValueError, match=r"missing labels \(None/NaN\) in row\(s\) 1"):
        fast(tiny_model_dir).fit(["CC", "CN", "CO"], [1, None, 0])
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        fast(tiny_model_dir).fit(["CC", "CN", "CO"], [1, 0])
    with pytest.raises(ValueError, match=r"validation labels \['7'\]"):
        fast(tiny_model_dir).fit(toy(10), [0, 1] * 5, X_val=["CC"], y_val=[7])


def test_save_load_and_pickle(tiny_model_dir, tmp_path):
    X = toy(40)
    y = np.where([s.count("N") > 0 for s in X], "yes", "no")
    clf = fast(tiny_model_dir, epochs=2).fit(X, y)
    loaded = TagLLMClassifier.load(clf.save(tmp_path / "clf"))
    assert loaded.classes_.tolist() == ["no", "yes"]
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert np.array_equal(pickle.loads(pickle.dumps(clf)).predict(X), clf.predict(X))


def test_in_pipeline_and_cross_validation(tiny_model_dir):
    X = toy(45)
    y = np.array([int("N" in s) for s in X])
    pipe = make_pipeline(SmilesFeaturizer(), fast(tiny_model_dir, epochs=2))
    scores = cross_val_score(pipe, X, y, cv=3, scoring="accuracy")
    assert scores.shape == (3,)


def test_label_and_class_weight_mistakes_are_refused(tiny_model_dir):
    X = toy(12)
    with pytest.raises(ValueError, match="mixes text and number labels"):
        fast(tiny_model_dir).fit(X, [1, "1", 0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"class_weight names class\(es\) \['c'\]"):
        fast(tiny_model_dir, class_weight={"a": 1.0, "c": 3.0}).fit(X, ["a", "b"] * 6)


def test_the_validation_split_keeps_every_class_in_training(tiny_model_dir):
    X = toy(40)
    y = [1] * 4 + [0] * 36  # a random 25 % validation draw can take every positive
    est = fast(tiny_model_dir, epochs=1, validation_fraction=0.25)
    train, val = est._split(X, np.random.RandomState(0), np.array(y))
    assert sorted(np.asarray(y)[train].tolist()).count(1) == 3 and np.asarray(y)[val].tolist().count(1) == 1
    with pytest.warns(UserWarning, match="too few rows to appear in both"):
        est._split(X, np.random.RandomState(0), np.array([1] + [0] * 39))
