"""Task heads read the final hidden state at the function tag's last position."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RegressionHead", "ClassificationHead", "build_head", "InputScaler", "probe_init"]


class InputScaler(nn.Module):
    """Fixed per-feature standardization of the hidden state a head reads.

    LLM hidden states carry a few "massive" dimensions (tens of times larger
    than the rest, nearly constant across inputs), which make a linear head
    ill-conditioned: one optimizer step on those weights moves every
    prediction at once. Standardizing with statistics fitted once on the
    training set's initial readouts fixes the conditioning; it is affine, so
    scaler + linear layer is still a linear head. Saved with the head.
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.register_buffer("h_mean", torch.zeros(hidden_size))
        self.register_buffer("h_scale", torch.ones(hidden_size))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit(self, h: torch.Tensor) -> None:
        """Fit on readouts ``h`` of shape (N, d)."""
        h = h.to(torch.float64)
        var = h.var(dim=0, unbiased=False)
        # Adding the median variance keeps near-constant dimensions from being blown up.
        self.h_mean.copy_(h.mean(dim=0).to(self.h_mean))
        self.h_scale.copy_((var + var.median()).sqrt().clamp(min=1e-6).to(self.h_scale))
        self.fitted.fill_(True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return (h - self.h_mean) / self.h_scale


class RegressionHead(nn.Module):
    """Linear head for one or more numeric targets, trained on standardized targets.

    The target mean and standard deviation are buffers, so they are saved with
    the head and predictions come back in original units.
    """

    kind = "regression"

    def __init__(self, hidden_size: int, n_outputs: int = 1):
        super().__init__()
        self.hidden_size, self.n_outputs = int(hidden_size), int(n_outputs)
        self.scaler = InputScaler(self.hidden_size)
        self.linear = nn.Linear(self.hidden_size, self.n_outputs)
        self.register_buffer("y_mean", torch.zeros(self.n_outputs))
        self.register_buffer("y_std", torch.ones(self.n_outputs))

    def fit_scaler(self, y: torch.Tensor) -> None:
        """Set the standardization from training targets ``y`` of shape (N, k)."""
        y = y.reshape(len(y), self.n_outputs).to(torch.float64)
        std = y.std(dim=0, unbiased=False)
        self.y_mean.copy_(y.mean(dim=0).to(self.y_mean))
        # A constant target has std 0; keep the scale at 1 rather than divide by 0.
        self.y_std.copy_(torch.where(std > 1e-12, std, torch.ones_like(std)).to(self.y_std))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, k), standardized units
        return self.linear(self.scaler(h))

    def loss(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = (y.reshape(len(y), self.n_outputs).to(h.dtype) - self.y_mean) / self.y_std
        return F.mse_loss(self(h), z)

    def predict(self, h: torch.Tensor) -> torch.Tensor:  # (B, k), original units
        return self(h) * self.y_std + self.y_mean

    def config(self) -> dict[str, Any]:
        return {"type": self.kind, "hidden_size": self.hidden_size, "n_outputs": self.n_outputs}


class ClassificationHead(nn.Module):
    """Linear head giving class logits; binary is the two-class case."""

    kind = "classification"

    def __init__(self, hidden_size: int, n_classes: int = 2):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.hidden_size, self.n_classes = int(hidden_size), int(n_classes)
        self.scaler = InputScaler(self.hidden_size)
        self.linear = nn.Linear(self.hidden_size, self.n_classes)
        # Per-class loss weights (for imbalanced data); ones = unweighted.
        self.register_buffer("class_weight", torch.ones(self.n_classes))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, C) logits
        return self.linear(self.scaler(h))

    def loss(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(h), y.long().reshape(-1), weight=self.class_weight.to(h.dtype))

    def predict(self, h: torch.Tensor) -> torch.Tensor:  # (B, C) probabilities
        return self(h).softmax(dim=-1)

    def config(self) -> dict[str, Any]:
        return {"type": self.kind, "hidden_size": self.hidden_size, "n_classes": self.n_classes}


_HEADS = {cls.kind: cls for cls in (RegressionHead, ClassificationHead)}


PROBE_STRENGTHS = tuple(10.0**k for k in range(-2, 5))


@torch.no_grad()
def probe_init(head: nn.Module, h: torch.Tensor, y: torch.Tensor, h_val: torch.Tensor | None = None,
               y_val: torch.Tensor | None = None, strengths: tuple[float, ...] = PROBE_STRENGTHS) -> float:
    """Set a fitted-scaler head's linear layer to the best L2-regularized linear fit on readouts ``h``.

    The linear-probe step of LP-FT (Kumar et al., 2022): the head starts at the ridge
    (regression) or logistic-regression (classification) solution on the frozen
    readouts instead of at random, so the tags' first updates are not spent undoing
    a random head. The strength is chosen by the head's own loss on ``(h_val, y_val)``,
    else by 5-fold cross-validation on the training readouts. Returns the chosen strength.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold

    Z = head.scaler(h.to(torch.float64)).numpy()
    if isinstance(head, RegressionHead):
        T = ((y.reshape(len(y), head.n_outputs).to(torch.float64) - head.y_mean.double()) / head.y_std.double()).numpy()

        def fit(alpha, rows):
            est = Ridge(alpha=alpha).fit(Z[rows], T[rows])
            return est.coef_.reshape(head.n_outputs, -1), est.intercept_.reshape(head.n_outputs)
    else:
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

    def load(coef, bias):
        head.linear.weight.copy_(torch.as_tensor(coef, dtype=head.linear.weight.dtype))
        head.linear.bias.copy_(torch.as_tensor(bias, dtype=head.linear.bias.dtype))

    def score(coef, bias, h_eval, y_eval):
        load(coef, bias)
        return float(head.loss(h_eval.to(head.linear.weight.dtype), y_eval))

    everything = np.arange(len(Z))
    if h_val is not None and len(h_val):
        results = [(score(*fit(a, everything), h_val, y_val), a) for a in strengths]
    else:
        classification = not isinstance(head, RegressionHead)
        smallest = np.bincount(labels).min(initial=len(Z)) if classification else len(Z)
        k = min(5, int(smallest) if classification else len(Z))
        if k < 2:  # too few rows (of some class) to cross-validate: a middling strength
            results = [(0.0, 1.0)]
        else:
            cv = (StratifiedKFold if classification else KFold)(n_splits=k, shuffle=True, random_state=0)
            folds = list(cv.split(Z, labels if classification else None))
            results = [(np.mean([score(*fit(a, tr), h[te], y[te]) for tr, te in folds]), a) for a in strengths]
    best = min(results)[1]
    load(*fit(best, everything))
    return best


def build_head(config: dict[str, Any]) -> nn.Module:
    """Rebuild an (untrained) head from its JSON config."""
    kind = config.get("type")
    if kind not in _HEADS:
        raise ValueError(f"unknown head type {kind!r}; known: {sorted(_HEADS)}")
    args = {k: v for k, v in config.items() if k != "type"}
    return _HEADS[kind](**args)
