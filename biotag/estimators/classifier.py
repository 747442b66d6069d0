"""TagLLMClassifier: Tag-LLM as a scikit-learn classifier."""

from __future__ import annotations

import warnings

from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from biotag.estimators._base import TagLLMBase
from biotag.estimators._inputs import check_y_classification
from biotag.heads import ClassificationHead
from biotag.heads.readout import Readout


class TagLLMClassifier(ClassifierMixin, TagLLMBase):
    """Classify molecules or proteins with learned tags on a frozen LLM (binary or multiclass).

    The input is tagged as ``<SMILES> smiles <Task>``; a linear head reads the tagged model's states as
    :class:`TagLLMRegressor`'s does and gives class probabilities. Only the tags and the head train.

{parameters}
    class_weight : "balanced", dict or None, default=None
        Weights of the classes in the cross-entropy loss, for imbalanced data.
        ``"balanced"`` weights each class by ``n_samples / (n_classes * count)``.
{attributes}
    classes_ : ndarray
        The original labels (strings, ints or bools), in sorted order.

    Examples
    --------
    >>> clf = TagLLMClassifier(tiny_model, epochs=2, class_weight="balanced", verbose=0, random_state=0)
    >>> clf.fit(smiles, labels).predict_proba(["CCO", "c1ccccc1O"]).shape
    (2, 2)
    >>> clf.classes_.tolist()
    [False, True]
    """

    _task = "classification"
    _own_parameters = {"class_weight": None}
    _parameter_constraints: dict = {
        **TagLLMBase._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def _target_state(self, y: Any) -> np.ndarray:
        """The classes, in sorted order: the head's outputs, and what labels are encoded as."""
        labels = check_y_classification(y, None)
        given = y.tolist() if hasattr(y, "tolist") else list(y)  # as passed: numpy would turn 1 into "1"
        kinds = {("text" if isinstance(v, str) else "number") for v in np.ravel(np.asarray(given, dtype=object))}
        if len(kinds) > 1:  # scikit-learn refuses them too: "Mix of label input types (string and number)"
            raise ValueError("y mixes text and number labels (e.g. 1 and '1'); use one type for every label")
        check_classification_targets(labels)  # a continuous target is refused: "Unknown label type: continuous"
        classes = np.unique(labels)
        if len(classes) < 2:
            raise ValueError(f"y has a single class {classes.tolist()}; classification needs at least 2")
        if isinstance(self.class_weight, dict):
            absent = [c for c in self.class_weight if c not in set(classes.tolist())]
            if absent:
                raise ValueError(f"class_weight names class(es) {absent} that y does not have; its classes are "
                                 f"{classes.tolist()}")
        return classes

    def _split(self, rows: list, rng: np.random.RandomState, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The validation rows drawn class by class (stratified), so training keeps every class; a class too
        small to share (one row) stays in training, with a warning."""
        train, val = super()._split(rows, rng, y)
        if len(val) == 0:
            return train, val
        from sklearn.model_selection import StratifiedShuffleSplit

        counts = np.bincount(y)  # y: the classes' indices
        if counts[counts > 0].min() < 2 or len(val) < np.count_nonzero(counts):
            warnings.warn(f"some class has too few rows to appear in both training and validation (class counts "
                          f"{counts.tolist()}); the validation rows are drawn at random", stacklevel=3)
            return train, val
        split = StratifiedShuffleSplit(n_splits=1, test_size=len(val), random_state=rng.randint(0, 2**31 - 1))
        train, val = next(split.split(np.zeros(len(y)), y))
        return np.sort(train), np.sort(val)

    def _targets(self, y: Any, n_rows: int, classes: np.ndarray) -> np.ndarray:
        labels = check_y_classification(y, n_rows)
        unknown = sorted({str(v) for v in labels.tolist()} - {str(c) for c in classes})
        if unknown:
            raise ValueError(f"validation labels {unknown} do not occur in the training labels {classes.tolist()}")
        return np.searchsorted(classes, labels)

    def _build_head(self, hidden_size: int, y: np.ndarray, classes: np.ndarray,
                    readout: Readout) -> ClassificationHead:
        head = ClassificationHead(hidden_size, len(classes), readout)
        if self.class_weight is not None:
            weights = compute_class_weight(self.class_weight, classes=np.arange(len(classes)), y=y) \
                if self.class_weight == "balanced" else \
                np.array([float(self.class_weight.get(c, 1.0)) for c in classes])
            head.class_weight.copy_(torch.as_tensor(weights, dtype=torch.float32))
        return head

    def _set_fitted_targets(self, y: np.ndarray, classes: np.ndarray) -> None:
        self.classes_ = classes

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in the order of ``classes_``."""
        return self._head_outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable original label for each input row."""
        check_is_fitted(self, "classes_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def _extra_state(self) -> dict[str, Any]:
        return {"classes": self.classes_.tolist(), "classes_dtype": str(self.classes_.dtype)}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        dtype = state["classes_dtype"]
        self.classes_ = np.asarray(state["classes"], dtype=object if dtype == "object" else dtype)


__all__ = ["TagLLMClassifier"]
