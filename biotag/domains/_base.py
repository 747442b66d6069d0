"""What the SMILES and protein featurizers share: input coercion and the error policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from biotag.exceptions import InputIssue, InvalidInputError
from biotag.checks import is_missing

ERROR_POLICIES = ("raise", "nan")


class RowError(ValueError):
    """Raised by a normalizer for one value; the featurizer collects these into one error."""


def check_text(value: Any) -> str:
    """Return ``value`` if it is a non-empty string, else raise :class:`RowError` saying why."""
    if is_missing(value):
        raise RowError("missing value (None/NaN)")
    if not isinstance(value, str):
        raise RowError(f"not a string but {type(value).__name__}")
    if not value.strip():
        raise RowError("empty string")
    return value


def as_column(X: Any) -> tuple[list[Any], pd.Index | None, str | None]:
    """Coerce a 1-D input to a list, keeping the pandas index (if any) to restore alignment.

    Accepts a list/tuple, a 1-D (or n x 1) numpy array, a pandas Series or a
    one-column DataFrame. A bare string is refused: it is almost always a bug
    (``transform("CCO")`` would otherwise iterate over characters).
    """
    if isinstance(X, (str, bytes, bytearray)):
        what = "string" if isinstance(X, str) else "bytes value"
        raise TypeError(
            f"expected a list-like of strings, got the single {what} {X!r}; wrap it in a list: [{X!r}]"
            + ("" if isinstance(X, str) else " (decoded to str)")
        )
    if isinstance(X, Mapping):  # iterating it would featurize its keys and drop its values
        raise TypeError(f"expected a list-like of strings, got a {type(X).__name__}; pass its values or keys "
                        "explicitly (e.g. list(d.values()))")
    if isinstance(X, (set, frozenset)):  # no order: the output could not be aligned with anything
        raise TypeError(f"expected an ordered list-like of strings, got a {type(X).__name__}; pass a sorted list")
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"expected a one-column DataFrame, got {X.shape[1]} columns {list(X.columns)}; "
                "select the column to featurize, e.g. df['smiles']"
            )
        return X.iloc[:, 0].tolist(), X.index, str(X.columns[0])
    if isinstance(X, pd.Series):
        return X.tolist(), X.index, None if X.name is None else str(X.name)
    if isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim != 1:
            raise ValueError(f"expected a 1-D array or one column, got an array of shape {X.shape}")
        return X.tolist(), None, None
    if isinstance(X, Iterable):
        return list(X), None, None
    raise TypeError(f"expected a list, array, Series or one-column DataFrame, got {type(X).__name__}")


def apply_rowwise(
    values: Sequence[Any],
    normalize: Callable[[Any], str],
    *,
    errors: str,
    error_type: type[InvalidInputError],
) -> list[Any]:
    """Apply ``normalize`` to every value; collect every failure before raising once.

    With ``errors="nan"`` a failed row becomes ``float("nan")`` in place, so the
    output stays aligned with the input.
    """
    if errors not in ERROR_POLICIES:
        raise ValueError(f"errors must be one of {ERROR_POLICIES}, got {errors!r}")
    out: list[Any] = []
    issues: list[InputIssue] = []
    for index, value in enumerate(values):
        try:
            out.append(normalize(value))
        except RowError as exc:
            issues.append(InputIssue(index, value, str(exc)))
            out.append(float("nan"))
    if issues and errors == "raise":
        raise error_type(issues)
    return out


class ValidatedColumn(list):
    """A featurizer's output with no invalid row: strings its domain's featurizer has validated, which biotag's
    estimators take without validating them again (so a Pipeline pays for validation once)."""

    def __init__(self, values, domain: str):
        super().__init__(values)
        self.domain = domain


#: Where a featurizer marks a Series it returned with no invalid row (``Series.attrs``), as ValidatedColumn does.
VALIDATED_ATTR = "biotag_validated_domain"


def validated_domain(X: Any) -> str | None:
    """The domain whose featurizer produced ``X`` with every row valid, or None."""
    if isinstance(X, ValidatedColumn):
        return X.domain
    if isinstance(X, pd.Series):
        return X.attrs.get(VALIDATED_ATTR)
    return None


class BaseFeaturizer(TransformerMixin, BaseEstimator):
    """Stateless string-to-string transformer: ``fit`` learns nothing and returns ``self``.

    Subclasses implement ``_normalizer()``, returning a one-value function that
    raises :class:`RowError` for a bad value.
    """

    _error_type: type[InvalidInputError] = InvalidInputError
    _domain: str = ""

    def fit(self, X: Any, y: Any = None) -> "BaseFeaturizer":
        """Do nothing (the featurizer is stateless) and return ``self``."""
        self._normalizer()  # validates the parameters early, with a clear message
        return self

    def transform(self, X: Any) -> list[Any] | pd.Series:
        """Normalize every value, in input order.

        Returns a list for list/array input, and a Series with the input's index
        for pandas input. With ``errors="nan"`` invalid rows are ``NaN``.
        """
        return self._transform(X, self._normalizer())

    def _transform(self, X: Any, normalize: Callable[[Any], str]) -> list[Any] | pd.Series:
        values, index, name = as_column(X)
        out = apply_rowwise(values, normalize, errors=self.errors, error_type=self._error_type)
        clean = all(isinstance(v, str) for v in out)  # with errors="nan", invalid rows are NaN
        if index is not None:
            series = pd.Series(out, index=index, name=name, dtype=object)
            if clean:
                series.attrs[VALIDATED_ATTR] = self._domain
            return series
        return ValidatedColumn(out, self._domain) if clean else out

    def _normalizer(self) -> Callable[[Any], str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"X_types": ["string"], "requires_fit": False, "stateless": True}
