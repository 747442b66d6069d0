"""Checking X and y for the estimators: every problem named with its rows; nothing dropped."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biotag.checks import is_missing

_MAX_ROWS_LISTED = 10


def _rows_text(rows: Sequence[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_ROWS_LISTED])
    return shown + (f" and {len(rows) - _MAX_ROWS_LISTED} more" if len(rows) > _MAX_ROWS_LISTED else "")


def check_X(
    X: Any, domains: tuple[str, ...], columns: Sequence[str] | None
) -> tuple[list[tuple[str, ...]], list[str] | None]:
    """Return one tuple of strings per row (one string per domain) and the column names used.

    1-D input (list, array, Series) serves a single domain; 2-D input (DataFrame
    or array) has one column per domain, in order (or named by ``columns``).
    """
    if isinstance(X, str):
        raise TypeError(f"X must be list-like, got the single string {X!r}; wrap it in a list")
    if sp.issparse(X):
        raise TypeError("sparse input is not supported: X holds SMILES or protein strings, one column per domain")
    names: list[str] | None = None
    if isinstance(X, pd.DataFrame):
        if columns is not None:
            unknown = [c for c in columns if c not in X.columns]
            if unknown:
                raise ValueError(f"unknown column(s) {unknown}; X has columns {list(map(str, X.columns))}")
            X = X[list(columns)]
        names = [str(c) for c in X.columns]
        table = [list(r) for r in X.itertuples(index=False, name=None)]
        width = X.shape[1]
    elif isinstance(X, pd.Series):
        table, width = [[v] for v in X.tolist()], 1
    else:
        arr = np.asarray(X, dtype=object)
        if arr.ndim == 1:
            table, width = [[v] for v in arr.tolist()], 1
        elif arr.ndim == 2:
            table, width = arr.tolist(), arr.shape[1]
        else:
            raise ValueError(f"X must be 1-D or 2-D, got shape {arr.shape}")
        if columns is not None:
            raise ValueError("columns= selects DataFrame columns; X is not a DataFrame")
    if width != len(domains):
        raise ValueError(
            f"X has {width} column(s) but domains={domains} expects {len(domains)}: one column per domain"
            + (f" (X columns: {names})" if names else "")
        )
    if len(table) == 0:
        raise ValueError("X has no rows")
    bad = [i for i, row in enumerate(table) if any(is_missing(v) or not isinstance(v, str) or not v.strip() for v in row)]
    if bad:
        examples = "; ".join(f"row {i}: {table[i]!r}" for i in bad[:5])
        raise ValueError(
            f"X has missing (None/NaN), empty or non-string values in row(s) {_rows_text(bad)} ({examples}). "
            "Validate inputs first, e.g. with SmilesFeaturizer / ProteinFeaturizer in a Pipeline."
        )
    return [tuple(row) for row in table], names


def check_domains(X: Any, rows: list[tuple[str, ...]], domains: tuple[str, ...], what: str = "X") -> None:
    """Every column holds its domain's strings: SMILES RDKit reads, protein letters. One error lists every bad
    row of a column (the featurizers' behaviour). A 1-D input that a featurizer produced with every row valid
    (a :class:`~biotag.domains.ValidatedColumn`, or a Series it marked) is taken as it is: a Pipeline's
    featurizer has validated it already. SMILES are only read here, not standardized (that is the featurizer's
    choice to make): a fraction of a millisecond per row, against tens of milliseconds for the model."""
    from biotag.domains import ProteinFeaturizer, SmilesFeaturizer, validated_domain

    for j, domain in enumerate(domains):
        if len(domains) == 1 and validated_domain(X) == domain:
            continue
        column = [row[j] for row in rows]
        if domain == "smiles":
            checker = SmilesFeaturizer(cleanup=False, largest_fragment=False, neutralize=False)
        else:
            checker = ProteinFeaturizer(nonstandard="keep")
        try:
            checker.transform(column)
        except ValueError as err:  # the featurizer's error, every bad row listed; say which column it is
            where = f"column {j} ({domain}) of {what}" if len(domains) > 1 else f"{what} ({domain})"
            err.args = (f"{where}: {err.args[0] if err.args else err}",) + err.args[1:]
            raise


def check_feature_names(fitted: Sequence[str] | None, given: Sequence[str] | None, what: str = "X") -> None:
    """The columns of ``what`` must carry the names the estimator was fitted with, in the same order, as
    scikit-learn requires: columns are matched by position, so swapped or renamed columns would silently feed
    one domain's strings to another. Names on one side only give a warning, as in scikit-learn."""
    import warnings

    if fitted is None and given is None:
        return
    if fitted is None:
        warnings.warn(f"{what} has feature names {list(given)}, but the estimator was fitted without feature names",
                      UserWarning, stacklevel=3)
    elif given is None:
        warnings.warn(f"{what} does not have feature names, but the estimator was fitted with feature names "
                      f"{list(fitted)}: its columns are taken in that order", UserWarning, stacklevel=3)
    elif list(given) != list(fitted):
        order = " (the same names in another order)" if sorted(given) == sorted(fitted) else ""
        raise ValueError(f"the feature names of {what} should match those passed during fit: fitted with "
                         f"{list(fitted)}, got {list(given)}{order}. Columns are matched by position; "
                         f"select them in the fitted order, e.g. X[{list(fitted)}]")


def check_y_regression(y: Any, n_rows: int) -> np.ndarray:
    """Numeric targets of shape (n,) or (n, k), finite, aligned with X."""
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None.")
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y must be numeric for regression: {exc}") from None
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"y must have shape (n_samples,) or (n_samples, n_outputs), got {arr.shape}")
    _check_length(len(arr), n_rows)
    flat = arr.reshape(len(arr), -1)
    bad = np.flatnonzero(~np.isfinite(flat).all(axis=1)).tolist()
    if bad:
        raise ValueError(f"y has NaN or infinite values in row(s) {_rows_text(bad)}: {flat[bad[:5]].tolist()}")
    return arr


def check_y_classification(y: Any, n_rows: int | None) -> np.ndarray:
    """1-D labels without missing values; ``n_rows=None`` skips the length check."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        arr = np.asarray(arr)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        else:
            raise ValueError(f"y must be 1-D class labels for classification, got shape {arr.shape}")
    if n_rows is not None:
        _check_length(len(arr), n_rows)
    bad = [i for i, v in enumerate(arr.tolist()) if is_missing(v)]
    if bad:
        raise ValueError(f"y has missing labels (None/NaN) in row(s) {_rows_text(bad)}")
    return arr


def _check_length(n_y: int, n_rows: int) -> None:
    if n_y != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {n_y}: they must be aligned row for row")
