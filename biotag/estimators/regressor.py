"""TagLLMRegressor: Tag-LLM as a scikit-learn regressor."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import RegressorMixin

from biotag.estimators._base import TagLLMBase
from biotag.estimators._inputs import check_y_regression
from biotag.heads import RegressionHead
from biotag.heads.readout import Readout


class TagLLMRegressor(RegressorMixin, TagLLMBase):
    """Predict numeric properties of molecules or proteins with learned tags on a frozen LLM.

    The input is tagged as ``<SMILES> smiles <Task>`` (or one tag and value per
    domain for several columns). A linear head reads the final hidden state at
    the function tag's last position together with the input's tokens mean-pooled
    at three depths (``readout="tag+pool"``), and starts at the linear probe's
    solution (``head_init="probe-select"``); targets are standardized for training and
    predictions come back in original units. Only the function tag (and the
    domain tags with ``enrich=True``) and the head train.

    Training uses the exact prefix-reuse path: the frozen prefix (domain tags and sequence) is computed once, then
    each step runs only the function tag's positions.

{parameters}
{attributes}
    Examples
    --------
    On the default model, leave out ``model=`` (here: a tiny model, for speed).

    >>> from sklearn.pipeline import make_pipeline
    >>> from biotag import SmilesFeaturizer, TagLLMRegressor
    >>> pipe = make_pipeline(SmilesFeaturizer(), TagLLMRegressor(tiny_model, epochs=2, verbose=0, random_state=0))
    >>> pipe.fit(smiles, values).predict(["CCO", "CCN"]).shape
    (2,)
    """

    _task = "regression"

    def _targets(self, y: Any, n_rows: int, state: Any) -> np.ndarray:
        return check_y_regression(y, n_rows)

    def _build_head(self, hidden_size: int, y: np.ndarray, state: Any, readout: Readout) -> RegressionHead:
        return RegressionHead.for_targets(hidden_size, torch.as_tensor(y), readout)

    def _set_fitted_targets(self, y: np.ndarray, state: Any) -> None:
        self._y_ndim = y.ndim

    def predict(self, X: Any) -> np.ndarray:
        """Predictions in the targets' original units: shape (n,) or (n, n_outputs), one per input row."""
        out = self._head_outputs(X)
        return out[:, 0] if self._y_ndim == 1 else out

    def _extra_state(self) -> dict[str, Any]:
        return {"y_ndim": self._y_ndim}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        self._y_ndim = state["y_ndim"]
