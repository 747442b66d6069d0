"""The learning-rate search of an estimator's fit: one training per rate from the same start on the same rows,
and the rate whose restored parameters score the lowest validation loss is kept."""

from __future__ import annotations

import copy
import math
from numbers import Real
from typing import Any, Callable, Sequence

import numpy as np

from biotag.tags import TagLibrary
from biotag.model.prefix import PrefixCache
from biotag.model.prefix.memo import PrefixMemo
from biotag.training import History

__all__ = ["learning_rates", "best_val_loss", "search_prefixes", "fit_rates", "rates_state", "rates_from_state"]


def learning_rates(lr: float | Sequence[float]) -> tuple[float, ...]:
    """``lr`` (one rate, or several to choose from on validation) as a tuple; a clear error for a rate that is not
    a positive number, for none at all and for one given twice."""
    values = [lr] if isinstance(lr, Real) else list(np.ravel(np.asarray(lr, dtype=object)))
    if not values:
        raise ValueError("lr must be a positive number or a list of them; got an empty list")
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, Real) or not 0 < v < math.inf]
    if bad:
        raise ValueError(f"lr must be a positive number or a list of them; {bad[0]!r} is not")
    rates = tuple(float(v) for v in values)
    if len(set(rates)) < len(rates):
        raise ValueError(f"lr lists a rate twice: {list(rates)}")
    return rates


def best_val_loss(history: History) -> float:
    """The validation loss of the parameters a training kept (its start's, where no epoch beat it); inf where
    it has none that is finite."""
    losses = [v for v in [history.start_val_loss, *history.val_loss] if v is not None and math.isfinite(v)]
    return min(losses, default=math.inf)


def fit_rates(rates: Sequence[float], start: TagLibrary, train: Callable[[float, TagLibrary], tuple[Any, History]]
              ) -> tuple[float, Any, History, dict[float, float]]:
    """``train(lr, library)`` once per rate, each from its own copy of ``start`` (one rate: ``start`` itself).

    Returns the chosen rate, what its training returned, its history and every rate's best validation loss. The
    lowest loss wins; on a tie, the rate listed first.
    """
    runs = {lr: train(lr, copy.deepcopy(start) if len(rates) > 1 else start) for lr in rates}
    losses = {lr: best_val_loss(history) for lr, (_, history) in runs.items()}
    chosen = min(rates, key=losses.__getitem__)
    fitted, history = runs[chosen]
    return chosen, fitted, history, losses


def search_prefixes(rates: Sequence[float], validated: bool,
                    cache: PrefixCache | None) -> PrefixCache | PrefixMemo | None:
    """Where a fit at ``rates`` finds its frozen prefixes: the estimator's own ``cache``; else, for a search, a
    :class:`~biotag.model.prefix.memo.PrefixMemo`, so that they are computed once for every rate. A search needs
    validation rows to choose by (``validated``)."""
    if len(rates) > 1 and not validated:
        raise ValueError(f"lr={list(rates)} chooses its rate on validation rows: pass X_val and y_val, or keep "
                         "validation_fraction above 0")
    return cache if cache is not None or len(rates) == 1 else PrefixMemo()


def rates_state(chosen: float, losses: dict[float, float]) -> dict[str, Any]:
    """The saved form of a fit's rate and its search: JSON, non-finite losses as null."""
    return {"lr_": chosen, "lr_search_": [[lr, loss if math.isfinite(loss) else None] for lr, loss in losses.items()]}


def rates_from_state(state: dict[str, Any], lr: float | Sequence[float]) -> tuple[float, dict[float, float]]:
    """``lr_`` and ``lr_search_`` from :func:`rates_state`'s form; an estimator saved before them had one rate."""
    if "lr_" not in state:
        return learning_rates(lr)[0], {}
    return float(state["lr_"]), {float(r): math.inf if v is None else float(v) for r, v in state["lr_search_"]}
