"""The estimators' parameters, declared once: their defaults (from :class:`~biotag.config.TagLLMConfig`), their
constraints (scikit-learn's ``_parameter_constraints``) and the ``__init__`` that stores them.

Each estimator's ``__init__`` is built from :data:`PARAMETERS` (an estimator adds its own, as the classifier's
``class_weight``), so scikit-learn's ``get_params``, ``clone`` and ``set_params`` see an ordinary signature.
"""

from __future__ import annotations

import inspect
import os
from numbers import Integral, Real
from typing import Any

from sklearn.utils._param_validation import Interval, StrOptions

from biotag.config import (DTYPE_CHOICES, HEAD_FITS, HEAD_INITS, PREFIX_MEMORY, READOUTS, TOKENIZATIONS,
                           TagLLMConfig)

__all__ = ["PARAMETERS", "PARAMETER_CONSTRAINTS", "init_storing"]

_DEFAULTS = TagLLMConfig()

#: Every parameter of both estimators and its default, in signature order (``model`` is the one positional).
PARAMETERS: dict[str, Any] = {
    "model": _DEFAULTS.model,
    "domains": "smiles",  # the input's columns: one domain each
    "columns": None,
    "function_tag": None,
    **{name: getattr(_DEFAULTS, name) for name in TagLLMConfig.fields() if name != "model"},
    "prefix_cache": None,  # how a fit runs: never its result
    "prefix_memory": PREFIX_MEMORY,
    "random_state": None,
    "verbose": 1,
}

PARAMETER_CONSTRAINTS: dict = {
    "model": [str, os.PathLike, None],
    "domains": [str, tuple, list],
    "columns": [list, tuple, None],
    "function_tag": [str, None],
    "p": [Interval(Integral, 1, None, closed="left")],
    "domain_p": [Interval(Integral, 1, None, closed="left"), None],
    "domain_tags": [str, os.PathLike, None],
    "enrich": ["boolean"],
    "head_init": [StrOptions(set(HEAD_INITS))],
    "head_fit": [StrOptions(set(HEAD_FITS))],
    "readout": [StrOptions(set(READOUTS))],
    "epochs": [Interval(Integral, 1, None, closed="left")],
    "max_steps": [Interval(Integral, 1, None, closed="left"), None],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither"), "array-like"],
    "head_lr": [Interval(Real, 0, None, closed="left"), None],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "warmup_ratio": [Interval(Real, 0, 1, closed="left")],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "patience": [Interval(Integral, 1, None, closed="left"), None],
    "tokenization": [StrOptions(set(TOKENIZATIONS))],
    "max_length": [Interval(Integral, 1, None, closed="left"), None],
    "device": [str],
    "dtype": [StrOptions(set(DTYPE_CHOICES))],
    "prefix_cache": [str, os.PathLike, None],
    "prefix_memory": [Interval(Real, 0, 1, closed="both")],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def init_storing(parameters: dict[str, Any]):
    """An ``__init__`` that stores each of ``parameters`` verbatim (scikit-learn's rule), with their defaults, and
    whose signature names them all: ``model`` positional, the rest keyword-only."""

    def __init__(self, model: Any = parameters["model"], **given: Any) -> None:
        unknown = sorted(set(given) - set(parameters))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s) {unknown}; its "
                            f"parameters: {', '.join(parameters)}")
        self.model = model
        for name, default in parameters.items():
            if name != "model":
                setattr(self, name, given.get(name, default))

    kind = inspect.Parameter
    __init__.__signature__ = inspect.Signature(
        [kind("self", kind.POSITIONAL_OR_KEYWORD), kind("model", kind.POSITIONAL_OR_KEYWORD, default=parameters["model"])]
        + [kind(name, kind.KEYWORD_ONLY, default=default) for name, default in parameters.items() if name != "model"])
    return __init__
