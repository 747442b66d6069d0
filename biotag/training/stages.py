"""The three Tag-LLM stages, declared as data.

A :class:`StageSpec` says which tags and head train, which stay frozen, the
loss and the schedule. One loop (:func:`biotag.training.train_stage`) runs any of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from biotag.domains.tagging import check_tag_name

__all__ = ["StageSpec", "stage1", "stage2", "stage3", "LOSSES", "HEAD_INITS"]

LOSSES = ("lm", "regression", "classification", "text")
HEAD_INITS = ("random", "probe")


@dataclass
class StageSpec:
    """One training stage.

    Attributes
    ----------
    name : str
        For logs and history ("stage1", "stage2", ...).
    train_tags : tuple of str
        Tags whose vectors are updated.
    frozen_tags : tuple of str
        Tags used but not updated (e.g. pretrained domain tags in stage 2).
    head : str or None
        Name of the head trained with the tags (regression/classification).
    loss : {"lm", "regression", "classification", "text"}
        "lm": next-token loss on the domain sequence (stage 1); "text": on the answer.
    """

    name: str
    train_tags: tuple[str, ...]
    loss: str
    frozen_tags: tuple[str, ...] = ()
    head: str | None = None
    epochs: int = 3
    max_steps: int | None = None  # optimizer steps; stops early when reached
    batch_size: int = 16
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 1e-3  # tags are few, well-scaled vectors: a prompt-tuning-sized rate
    weight_decay: float = 0.0  # decaying tags pulls them toward 0, away from the embedding scale
    warmup_ratio: float = 0.1  # fraction of all steps spent warming up
    min_lr_ratio: float = 0.1  # cosine decays to this fraction of lr
    grad_clip: float | None = 1.0
    patience: int | None = None  # epochs without validation improvement before stopping; None = no early stop
    seed: int = 0
    # Compute the frozen prefix (domain tags + sequences) once and train on the function tag's
    # positions only. Exact; used when every input ends with the trained function tag and
    # nothing before it trains (not with enrich, stage 1 or text tasks).
    reuse_prefix: bool = True
    # How a fresh head starts: "random" (nn.Linear's init), or "probe": the ridge / logistic-regression
    # fit on the initial readouts, strength chosen on the validation set (LP-FT's linear-probe step).
    head_init: str = "random"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.train_tags = tuple(self.train_tags)
        self.frozen_tags = tuple(self.frozen_tags)
        for tag in self.train_tags + self.frozen_tags:
            check_tag_name(tag)
        if self.loss not in LOSSES:
            raise ValueError(f"StageSpec.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.head_init not in HEAD_INITS:
            raise ValueError(f"StageSpec.head_init must be one of {HEAD_INITS}, got {self.head_init!r}")
        if overlap := set(self.train_tags) & set(self.frozen_tags):
            raise ValueError(f"StageSpec: tags {sorted(overlap)} are both trained and frozen")
        if not self.train_tags and self.head is None:
            raise ValueError("StageSpec trains nothing: give train_tags or a head")
        if self.loss in ("regression", "classification") and self.head is None:
            raise ValueError(f"StageSpec.loss={self.loss!r} needs a head name")
        for name in ("epochs", "batch_size", "grad_accum"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"StageSpec.{name} must be a positive int, got {value!r}")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            raise ValueError(f"StageSpec.max_steps must be a positive int or None, got {self.max_steps!r}")
        if not self.lr > 0:
            raise ValueError(f"StageSpec.lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"StageSpec.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"StageSpec.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"StageSpec.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"StageSpec.grad_clip must be > 0 or None, got {self.grad_clip!r}")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ValueError(f"StageSpec.patience must be a positive int or None, got {self.patience!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StageSpec":
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ValueError(f"unknown StageSpec field(s): {sorted(unknown)}")
        return cls(**data)


def stage1(domain_tag: str, **schedule: Any) -> StageSpec:
    """Stage 1: a domain tag learns by next-token prediction on unlabeled sequences."""
    return StageSpec(name="stage1", train_tags=(domain_tag,), loss="lm", **schedule)


def stage2(
    function_tag: str, domain_tag: str, *, task: str = "regression", enrich: bool = False, **schedule: Any
) -> StageSpec:
    """Stage 2: a function tag and its head on single-domain labeled data.

    The domain tag stays frozen unless ``enrich=True``. For ``task="text"`` the
    function tag decodes through the LM head and no head is trained.
    """
    trained = (function_tag, domain_tag) if enrich else (function_tag,)
    frozen = () if enrich else (domain_tag,)
    head = None if task == "text" else function_tag
    return StageSpec(name="stage2", train_tags=trained, frozen_tags=frozen, head=head, loss=task, **schedule)


def stage3(
    function_tag: str, domain_tags: tuple[str, ...], *, task: str = "regression", enrich: bool = False, **schedule: Any
) -> StageSpec:
    """Stage 3: a cross-domain function tag, e.g. ``<Protein> seq <SMILES> smi <BindingAffinity>``."""
    domain_tags = tuple(domain_tags)
    trained = (function_tag, *domain_tags) if enrich else (function_tag,)
    frozen = () if enrich else domain_tags
    head = None if task == "text" else function_tag
    return StageSpec(name="stage3", train_tags=trained, frozen_tags=frozen, head=head, loss=task, **schedule)
