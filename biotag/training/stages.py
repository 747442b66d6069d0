"""The three Tag-LLM stages, declared as data.

A :class:`StageSpec` says which tags and head train, which stay frozen, the loss and the
:class:`~biotag.training.schedule.Schedule`. One loop (:func:`biotag.training.train_stage`) runs any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from biotag.domains.tagging import check_tag_name
from biotag.config import Stage1Config
from biotag.training.schedule import Schedule

__all__ = ["StageSpec", "stage1", "stage2", "stage3", "LOSSES", "HEAD_INITS", "HEAD_FITS"]

LOSSES = ("lm", "regression", "classification", "text")
HEAD_INITS = ("random", "probe", "probe-select")
HEAD_FITS = ("joint", "refit")


@dataclass
class StageSpec(Schedule):
    """One training stage: what trains, on which loss, under which :class:`Schedule` (its fields, by keyword).

    Attributes
    ----------
    name : str
        For logs and history ("stage1", "stage2", ...).
    train_tags : tuple of str
        Tags whose vectors are updated.
    loss : {"lm", "regression", "classification", "text"}
        "lm": next-token loss on the domain sequence (stage 1); "text": on the answer.
    frozen_tags : tuple of str
        Tags used but not updated (e.g. pretrained domain tags in stage 2).
    head : str or None
        Name of the head trained with the tags (regression/classification).

    Examples
    --------
    >>> spec = StageSpec("stage2", ("<QED>",), "regression", frozen_tags=("<SMILES>",), head="<QED>", epochs=5)
    >>> StageSpec.from_dict(spec.to_dict()) == spec
    True
    """

    name: str
    train_tags: tuple[str, ...]
    loss: str
    frozen_tags: tuple[str, ...] = ()
    head: str | None = None
    # Compute the frozen prefix (domain tags + sequences) once and train on the function tag's
    # positions only. Exact; used when every input ends with the trained function tag and
    # nothing before it trains (not with enrich, stage 1 or text tasks).
    reuse_prefix: bool = True
    # How a fresh head starts: "random" (nn.Linear's init), or "probe": the ridge / logistic-regression
    # fit on the initial readouts, strength chosen by cross-validation on the training rows (LP-FT's linear-probe
    # step); "probe-select": that fit or the pooled states' alone, whichever cross-validates better.
    head_init: str = "random"
    # How the head trains: "joint" (by the optimizer, beside the tags: the paper's), or "refit": refitted in closed
    # form after each epoch as it started, the tags training against ridge fits that leave their batch's rows out
    # (biotag.heads.refit). "refit" needs a probe start.
    head_fit: str = "joint"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.train_tags = tuple(self.train_tags)
        self.frozen_tags = tuple(self.frozen_tags)
        for tag in self.train_tags + self.frozen_tags:
            check_tag_name(tag)
        if self.loss not in LOSSES:
            raise ValueError(f"StageSpec.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.head_init not in HEAD_INITS:
            raise ValueError(f"StageSpec.head_init must be one of {HEAD_INITS}, got {self.head_init!r}")
        if self.head_fit not in HEAD_FITS:
            raise ValueError(f"StageSpec.head_fit must be one of {HEAD_FITS}, got {self.head_fit!r}")
        if self.head_fit == "refit" and (self.head_init == "random" or self.head is None):
            raise ValueError("StageSpec.head_fit='refit' refits a probe head: it needs a head and a probe head_init, "
                             f"got head={self.head!r}, head_init={self.head_init!r}")
        if overlap := set(self.train_tags) & set(self.frozen_tags):
            raise ValueError(f"StageSpec: tags {sorted(overlap)} are both trained and frozen")
        if not self.train_tags and self.head is None:
            raise ValueError("StageSpec trains nothing: give train_tags or a head")
        if self.loss in ("regression", "classification") and self.head is None:
            raise ValueError(f"StageSpec.loss={self.loss!r} needs a head name")

    @property
    def schedule(self) -> Schedule:
        """The stage's schedule alone."""
        return Schedule(**{f.name: getattr(self, f.name) for f in fields(Schedule)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StageSpec":
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ValueError(f"unknown StageSpec field(s): {sorted(unknown)}")
        return cls(**data)


def stage1(domain_tag: str, **schedule: Any) -> StageSpec:
    """Stage 1: a domain tag learns by next-token prediction on unlabeled sequences (the schedule's defaults are
    :class:`~biotag.config.Stage1Config`'s)."""
    defaults = Stage1Config()
    schedule = {"epochs": defaults.epochs, "lr": defaults.lr, "batch_size": defaults.batch_size, "patience": None,
                **schedule}
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
