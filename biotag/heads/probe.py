"""How a head starts training: its target and input standardization, its first weights, LP-FT's probe.

Every stage that trains a head starts it here (:func:`initialize_head`), once; the loop itself never
touches a head's parameters or buffers.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from biotag.heads.modules import ClassificationHead, RegressionHead

__all__ = ["initialize_head", "probe_init", "probe_columns", "PROBE_STRENGTHS"]

#: Readouts the input standardization is fitted on, at most.
SCALER_ROWS = 1024


def initialize_head(
    head: RegressionHead | ClassificationHead,
    readouts: Callable[[str, int | None], torch.Tensor | None],
    train_targets: torch.Tensor,
    *,
    head_init: str = "random",
) -> None:
    """Start ``head`` for a stage on its training rows.

    A regression head built without targets is given its training targets' standardization. A fresh head
    (never trained) draws its linear layer from the stage's seed (its constructor drew from whatever the
    global RNG held), fits its input standardization on the initial readouts, and with
    ``head_init="probe"`` starts at the linear probe's solution on them (LP-FT); ``"probe-select"`` at the
    better of that probe and the probe of the pooled states alone (the function tag's features then start at
    weight zero, and the tag learns only once the head has grown them), for a readout that has both. The probe's
    strength and columns are chosen by cross-validation on the training rows alone: the validation rows that
    early stopping compares every epoch against the start with never choose the start. ``readouts(part, limit)``
    gives the initial readouts (N, d) of ``"train"``, at most ``limit`` rows (None: all); a head that is not fresh
    keeps its weights.
    """
    if isinstance(head, RegressionHead) and not head.has_target_scale:
        head.fit_scaler(train_targets)
    if not head.is_fresh:
        return
    probe = head_init != "random"
    h = readouts("train", None if probe else SCALER_ROWS)
    head.start(h[:SCALER_ROWS])
    if probe:
        probe_init(head, h, train_targets, columns=probe_columns(head, head_init))


def probe_columns(head: RegressionHead | ClassificationHead, head_init: str) -> tuple[slice, ...]:
    """The readout's features a probe start may read: all of them, or with ``"probe-select"`` (for a readout of
    the tag's state and pooled states) also the pooled states alone."""
    everything, pooled_only = slice(None), slice(head.hidden_size, None)  # the tag's state comes first
    if head_init == "probe-select" and head.readout.tag and head.readout.pools:
        return everything, pooled_only
    return (everything,)


PROBE_STRENGTHS = tuple(10.0**k for k in range(-2, 5))


@torch.no_grad()
def probe_init(head: RegressionHead | ClassificationHead, h: torch.Tensor, y: torch.Tensor,
               h_val: torch.Tensor | None = None,
               y_val: torch.Tensor | None = None, strengths: tuple[float, ...] = PROBE_STRENGTHS,
               columns: tuple[slice, ...] = (slice(None),)) -> float:
    """Set a fitted-scaler head's linear layer to the best L2-regularized linear fit on readouts ``h``.

    The linear-probe step of LP-FT (Kumar et al., 2022): the head starts at the ridge
    (regression) or logistic-regression (classification) solution on the frozen
    readouts instead of at random, so the tags' first updates are not spent undoing
    a random head. The strength is chosen by the head's own loss on ``(h_val, y_val)``,
    else by 5-fold cross-validation on the training readouts, and so is which of ``columns`` (slices of the
    readout's features) the fit reads; the other features start at weight zero. Returns the chosen strength.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    device = head.linear.weight.device  # the readouts come from the host; the head may sit on a GPU
    h, y = h.cpu(), y.cpu()
    Z = head.scaler(h.to(device, torch.float64)).cpu().numpy()
    fits = {i: _on_columns(_linear_fit(head, Z[:, cols], y), cols, Z.shape[1]) for i, cols in enumerate(columns)}

    def score(coef, bias, h_eval, y_eval):
        head.set_linear(coef, bias)
        return float(head.loss(h_eval.to(device, head.linear.weight.dtype), y_eval.to(device)))

    everything = np.arange(len(Z))
    choices = [(a, i) for i in fits for a in strengths]
    if h_val is not None and len(h_val):
        results = [(score(*fits[i](a, everything), h_val, y_val), a, i) for a, i in choices]
    else:
        classification = not isinstance(head, RegressionHead)
        labels = y.long().reshape(-1).numpy() if classification else None
        smallest = np.bincount(labels).min(initial=len(Z)) if classification else len(Z)
        k = min(5, int(smallest) if classification else len(Z))
        if k < 2:  # too few rows (of some class) to cross-validate: a middling strength on everything
            results = [(0.0, 1.0, 0)]
        else:
            cv = (StratifiedKFold if classification else KFold)(n_splits=k, shuffle=True, random_state=0)
            folds = list(cv.split(Z, labels if classification else None))
            results = [(np.mean([score(*fits[i](a, tr), h[te], y[te]) for tr, te in folds]), a, i)
                       for a, i in choices]
    _, best, block = min(results)
    head.set_linear(*fits[block](best, everything))
    return best


def _on_columns(fit, columns: slice, width: int):
    """``fit`` on some of the readout's features, as a fit on all ``width`` of them (the others at weight zero)."""
    if columns == slice(None):
        return fit

    def fit_all(alpha, rows):
        coef, bias = fit(alpha, rows)
        full = np.zeros((coef.shape[0], width))
        full[:, columns] = coef
        return full, bias
    return fit_all


def _linear_fit(head: RegressionHead | ClassificationHead, Z: np.ndarray, y: torch.Tensor):
    """``fit(strength, rows) -> (weight, bias)``: the ridge (regression) or logistic-regression
    (classification) fit of ``y`` on standardized readouts ``Z``, as the head's linear layer."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if isinstance(head, RegressionHead):
        mean, std = head.y_mean.double().cpu(), head.y_std.double().cpu()
        T = ((y.reshape(len(y), head.n_outputs).to(torch.float64) - mean) / std).numpy()

        def fit(alpha, rows):
            est = Ridge(alpha=alpha).fit(Z[rows], T[rows])
            return est.coef_.reshape(head.n_outputs, -1), est.intercept_.reshape(head.n_outputs)
        return fit
    labels = y.long().reshape(-1).numpy()
    weights = {c: float(w) for c, w in enumerate(head.class_weight)}

    def fit(alpha, rows):
        est = LogisticRegression(C=1.0 / alpha, class_weight=weights, max_iter=2000).fit(Z[rows], labels[rows])
        coef, bias = est.coef_, est.intercept_
        if head.n_classes == 2:  # one logit difference -> two logits with that difference
            coef, bias = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-bias / 2, bias / 2])
        full_coef = np.zeros((head.n_classes, Z.shape[1]))
        full_bias = np.full(head.n_classes, -1e4)  # a class absent from these rows: never predicted
        full_coef[est.classes_ if head.n_classes > 2 else [0, 1]] = coef
        full_bias[est.classes_ if head.n_classes > 2 else [0, 1]] = bias
        return full_coef, full_bias
    return fit
