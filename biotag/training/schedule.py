"""How long and how fast to train: a :class:`Schedule`, and the learning rate it gives at each step."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from biotag.config import TagLLMConfig

__all__ = ["Schedule", "get_lr"]

_DEFAULTS = TagLLMConfig()


@dataclass(kw_only=True)
class Schedule:
    """The optimization schedule of one training run (a stage, or a baseline trained by the same loop).

    Every field has a default, Tag-LLM's (:class:`~biotag.config.TagLLMConfig`) where it has one; a :class:`~biotag.training.StageSpec` is a schedule with tags, a loss
    and a head added, and anything else trained by :func:`~biotag.training.optimize` passes one whole.
    """

    epochs: int = _DEFAULTS.epochs
    max_steps: int | None = _DEFAULTS.max_steps
    batch_size: int = _DEFAULTS.batch_size
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = _DEFAULTS.lr
    head_lr: float | None = _DEFAULTS.head_lr  # the head's rate (None: lr); 0 keeps the head where it starts
    weight_decay: float = _DEFAULTS.weight_decay
    warmup_ratio: float = _DEFAULTS.warmup_ratio
    min_lr_ratio: float = 0.1  # cosine decays to this fraction of lr
    grad_clip: float | None = 1.0
    patience: int | None = _DEFAULTS.patience  # None: no early stopping
    seed: int = 0

    def __post_init__(self) -> None:
        kind = type(self).__name__
        for name in ("epochs", "batch_size", "grad_accum"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{kind}.{name} must be a positive int, got {value!r}")
        for name in ("max_steps", "patience"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{kind}.{name} must be a positive int or None, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"{kind}.lr must be > 0, got {self.lr!r}")
        if self.head_lr is not None and not self.head_lr >= 0:
            raise ValueError(f"{kind}.head_lr must be >= 0 or None, got {self.head_lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"{kind}.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"{kind}.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"{kind}.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"{kind}.grad_clip must be > 0 or None, got {self.grad_clip!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def get_lr(step: int, total: int, *, lr: float, warmup_ratio: float, min_lr_ratio: float) -> float:
    """Linear warmup, then cosine decay to ``min_lr_ratio * lr``. Pure: same inputs, same rate.

    Examples
    --------
    >>> [round(get_lr(s, 10, lr=1.0, warmup_ratio=0.2, min_lr_ratio=0.1), 3) for s in (0, 1, 2, 9)]
    [0.333, 0.667, 1.0, 0.134]
    """
    warmup = int(warmup_ratio * total)
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
