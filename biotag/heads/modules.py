"""Task heads: a standardization and a linear layer over what their :class:`~biotag.heads.readout.Readout` reads
(by default the final hidden state at the function tag's last position, as in the paper)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biotag.heads.readout import Readout

__all__ = ["RegressionHead", "ClassificationHead", "build_head", "InputScaler"]


class InputScaler(nn.Module):
    """Fixed per-feature standardization of the hidden state a head reads.

    LLM hidden states carry a few "massive" dimensions (tens of times larger
    than the rest, nearly constant across inputs), which make a linear head
    ill-conditioned: one optimizer step on those weights moves every
    prediction at once. Standardizing with statistics fitted once on the
    training set's initial readouts fixes the conditioning; it is affine, so
    scaler + linear layer is still a linear head. Saved with the head.

    A readout of several blocks (the tag's state, pooled states at several layers) is standardized block
    by block (``block`` features each), since layers differ in scale.
    """

    def __init__(self, hidden_size: int, block: int | None = None):
        super().__init__()
        self.block = int(block or hidden_size)
        if hidden_size % self.block:
            raise ValueError(f"{hidden_size} features do not split into blocks of {self.block}")
        self.register_buffer("h_mean", torch.zeros(hidden_size))
        self.register_buffer("h_scale", torch.ones(hidden_size))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit(self, h: torch.Tensor) -> None:
        """Fit on readouts ``h`` of shape (N, d)."""
        h = h.to(torch.float64)
        var = h.var(dim=0, unbiased=False).reshape(-1, self.block)
        # Adding each block's median variance keeps near-constant dimensions from being blown up.
        var = (var + var.median(dim=1, keepdim=True).values).reshape(-1)
        self.h_mean.copy_(h.mean(dim=0).to(self.h_mean))
        self.h_scale.copy_(var.sqrt().clamp(min=1e-6).to(self.h_scale))
        self.fitted.fill_(True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return (h - self.h_mean) / self.h_scale


class _LinearHead(nn.Module):
    """What both heads share: a readout, an input scaler and a linear layer, and how training starts them."""

    def __init__(self, hidden_size: int, n_out: int, readout: Readout | dict | None = None):
        super().__init__()
        self.hidden_size = int(hidden_size)  # the model's; the head reads readout.size(hidden_size) features
        self.readout = readout if isinstance(readout, Readout) else Readout.from_config(readout)
        self.scaler = InputScaler(self.readout.size(self.hidden_size), block=self.hidden_size)
        self.linear = nn.Linear(self.readout.size(self.hidden_size), n_out)

    @property
    def is_fresh(self) -> bool:
        """True until :meth:`start` has fitted its input scaler: the head has never trained."""
        return not bool(self.scaler.fitted)

    def start(self, readouts: torch.Tensor) -> None:
        """Start training afresh: draw the linear layer from the global CPU RNG (seed it first) and fit the input
        standardization on initial ``readouts`` (N, d)."""
        fresh = nn.Linear(self.linear.in_features, self.linear.out_features)  # drawn on the CPU: one seed starts
        with torch.no_grad():                                                  # the same head on any device
            self.linear.weight.copy_(fresh.weight)
            self.linear.bias.copy_(fresh.bias)
        self.scaler.fit(readouts)

    @torch.no_grad()
    def set_linear(self, weight, bias) -> None:
        """Put the linear layer at ``weight`` (k, d) and ``bias`` (k,), which act on standardized readouts."""
        self.linear.weight.copy_(torch.as_tensor(weight, dtype=self.linear.weight.dtype))
        self.linear.bias.copy_(torch.as_tensor(bias, dtype=self.linear.bias.dtype))


class RegressionHead(_LinearHead):
    """Linear head for one or more numeric targets, trained on standardized targets.

    The target mean and standard deviation are buffers, so they are saved with
    the head and predictions come back in original units. Build it with :meth:`for_targets`
    to give it its training targets' standardization; a head built without targets gets it when its
    stage starts (:func:`~biotag.heads.probe.initialize_head`).
    """

    kind = "regression"

    def __init__(self, hidden_size: int, n_outputs: int = 1, readout: Readout | dict | None = None):
        super().__init__(hidden_size, int(n_outputs), readout)
        self.n_outputs = int(n_outputs)
        # float64: targets of any scale (1e-20, 1e150, 1e10 + small changes) standardize without loss
        self.register_buffer("y_mean", torch.zeros(self.n_outputs, dtype=torch.float64))
        self.register_buffer("y_std", torch.ones(self.n_outputs, dtype=torch.float64))

    @classmethod
    def for_targets(cls, hidden_size: int, y: torch.Tensor, readout: Readout | None = None) -> "RegressionHead":
        """A head for training targets ``y`` (N,) or (N, k), standardized by their mean and deviation."""
        y = torch.as_tensor(y)
        head = cls(hidden_size, 1 if y.ndim == 1 else y.shape[1], readout)
        head.fit_scaler(y)
        return head

    @property
    def has_target_scale(self) -> bool:
        """False for a head built without targets (its standardization is the identity)."""
        return bool((self.y_mean != 0).any() or (self.y_std != 1).any())

    def fit_scaler(self, y: torch.Tensor) -> None:
        """Set the standardization from training targets ``y`` of shape (N, k), in float64.

        A target constant to 12 significant digits keeps the scale 1 (nothing to divide by); targets too large
        to standardize (a deviation past float64's range) are refused with a ValueError."""
        y = torch.as_tensor(y).reshape(len(y), self.n_outputs).to(torch.float64)
        mean = y.mean(dim=0)
        # Scaled by the largest deviation first: the squares of huge targets would overflow float64.
        scale = (y - mean).abs().amax(dim=0).clamp(min=torch.finfo(torch.float64).tiny)
        std = scale * ((y - mean) / scale).std(dim=0, unbiased=False)
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise ValueError(f"targets too large to standardize in float64 (mean {mean.tolist()}, "
                             f"deviation {std.tolist()}); rescale them")
        constant = std <= 1e-12 * mean.abs()  # a constant target (std 0 included)
        self.y_mean.copy_(mean.to(self.y_mean))
        self.y_std.copy_(torch.where(constant, torch.ones_like(std), std).to(self.y_std))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, k), standardized units
        return self.linear(self.scaler(h))

    def loss(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = (y.reshape(len(y), self.n_outputs).to(self.y_mean) - self.y_mean) / self.y_std  # in float64
        return F.mse_loss(self(h), z.to(h.dtype))

    def predict(self, h: torch.Tensor) -> torch.Tensor:  # (B, k), original units, float64
        return self(h).to(self.y_std) * self.y_std + self.y_mean

    def config(self) -> dict[str, Any]:
        return {"type": self.kind, "hidden_size": self.hidden_size, "n_outputs": self.n_outputs,
                "readout": self.readout.config()}


class ClassificationHead(_LinearHead):
    """Linear head giving class logits; binary is the two-class case."""

    kind = "classification"

    def __init__(self, hidden_size: int, n_classes: int = 2, readout: Readout | dict | None = None):
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        super().__init__(hidden_size, int(n_classes), readout)
        self.n_classes = int(n_classes)
        # Per-class loss weights (for imbalanced data); ones = unweighted.
        self.register_buffer("class_weight", torch.ones(self.n_classes))

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, C) logits
        return self.linear(self.scaler(h))

    def loss(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self(h), y.long().reshape(-1), weight=self.class_weight.to(h.dtype))

    def predict(self, h: torch.Tensor) -> torch.Tensor:  # (B, C) probabilities
        return self(h).softmax(dim=-1)

    def config(self) -> dict[str, Any]:
        return {"type": self.kind, "hidden_size": self.hidden_size, "n_classes": self.n_classes,
                "readout": self.readout.config()}


_HEADS = {cls.kind: cls for cls in (RegressionHead, ClassificationHead)}


def build_head(config: dict[str, Any]) -> nn.Module:
    """Rebuild an (untrained) head from its JSON config."""
    kind = config.get("type")
    if kind not in _HEADS:
        raise ValueError(f"unknown head type {kind!r}; known: {sorted(_HEADS)}")
    args = {k: v for k, v in config.items() if k != "type"}
    return _HEADS[kind](**args)
