"""Conformal prediction on top of the estimators: MAPIE's intervals and sets, scikit-learn's calibration.

Split conformal prediction promises coverage of at least the nominal level on exchangeable data, averaged over
calibration sets; with n calibration rows the coverage of one draw has a standard deviation of about
sqrt(a (1 - a) / (n + 2)) around it, plus the test rows' own sampling error. The tests allow three of those.
"""

import math
import random
import warnings

import numpy as np
import pytest

from biotag import TagLLMClassifier, TagLLMRegressor

mapie = pytest.importorskip("mapie", minversion="1.0")


def toy(n, seed):
    """SMILES as an array (MAPIE reads the width of X from its shape; a plain list has none) and noisy targets."""
    rng = random.Random(seed)
    smiles = ["".join(rng.choice(["C", "N", "O", "CC", "c1ccccc1"]) for _ in range(rng.randint(2, 6))) for _ in range(n)]
    y = np.array([s.count("C") + 0.5 * s.count("N") + rng.gauss(0, 0.5) for s in smiles])
    return np.asarray(smiles, dtype=object), y


def _slack(n_calibration: int, n_test: int, level: float) -> float:
    spread = level * (1 - level)
    return 3 * math.sqrt(spread / (n_calibration + 2) + spread / n_test)


def _fast(Estimator, model):
    return Estimator(model=model, p=2, epochs=4, lr=2e-2, batch_size=8, random_state=0, verbose=0)


def test_split_conformal_intervals_cover_at_the_nominal_rate(tiny_model_dir):
    from mapie.regression import SplitConformalRegressor

    (X, y), (X_cal, y_cal), (X_test, y_test) = toy(80, 0), toy(100, 1), toy(300, 2)
    fitted = _fast(TagLLMRegressor, tiny_model_dir).fit(X, y)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimator does not appear fitted")  # MAPIE's guess, on a list X
        conformal = SplitConformalRegressor(fitted, confidence_level=0.9, prefit=True).conformalize(X_cal, y_cal)
    pred, intervals = conformal.predict_interval(X_test)
    low, high = intervals[:, 0, 0], intervals[:, 1, 0]
    assert pred.shape == (300,) and np.all(low <= pred) and np.all(pred <= high) and np.all(high > low)
    np.testing.assert_allclose(pred, fitted.predict(X_test), rtol=1e-6)  # the model's own predictions, widened
    coverage = np.mean((low <= y_test) & (y_test <= high))
    assert coverage >= 0.9 - _slack(100, 300, 0.9), coverage


def test_conformal_sets_and_calibration_work_on_the_classifier(tiny_model_dir):
    from mapie.classification import SplitConformalClassifier
    from sklearn.calibration import CalibratedClassifierCV

    (X, y), (X_cal, y_cal), (X_test, y_test) = toy(80, 0), toy(100, 1), toy(300, 2)
    threshold = np.median(y)
    label = lambda v: np.where(v > threshold, "high", "low")  # noqa: E731 - string classes, as users have them
    fitted = _fast(TagLLMClassifier, tiny_model_dir).fit(X, label(y))
    conformal = SplitConformalClassifier(fitted, confidence_level=0.9, prefit=True).conformalize(X_cal, label(y_cal))
    pred, sets = conformal.predict_set(X_test)
    truth = np.searchsorted(fitted.classes_, label(y_test))
    coverage = np.mean(sets[np.arange(len(truth)), truth, 0])
    assert coverage >= 0.9 - _slack(100, 300, 0.9), coverage
    assert set(pred) <= {"high", "low"}

    try:  # scikit-learn >= 1.6 freezes a fitted model; older releases take cv="prefit"
        from sklearn.frozen import FrozenEstimator

        calibrated = CalibratedClassifierCV(FrozenEstimator(fitted), method="sigmoid")
    except ImportError:
        calibrated = CalibratedClassifierCV(fitted, cv="prefit", method="sigmoid")
    proba = calibrated.fit(X_cal, label(y_cal)).predict_proba(X_test)
    assert proba.shape == (300, 2) and np.allclose(proba.sum(axis=1), 1)
