"""Training one stage: what trains, its loss on a batch, its frozen prefixes, then the one loop.

Reads top to bottom; device placement lives in TaggedLM, head starts in :mod:`biotag.heads.probe`,
the optimization in :mod:`biotag.training.optimize`."""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from biotag.domains.tagging import TaggedInput
from biotag.parallel import DataParallel, current
from biotag.model.batching import split_function_tag
from biotag.model.prompt import IGNORE
from biotag.model.prefix import KVView, PrefixCache, prefix_readout, shared_prefixes
from biotag.model.tagged import TaggedLM
from biotag.heads.probe import initialize_head, probe_columns, probe_init
from biotag.training.optimize import History, optimize
from biotag.heads.refit import HeldOutRidge
from biotag.training.stages import StageSpec
from biotag.progress import showing_progress

__all__ = ["Example", "train_stage", "evaluate_loss", "can_reuse_prefix"]


@dataclass(frozen=True)
class Example:
    """A training row: the tagged input and its target (number(s), class index, text, or None for stage 1)."""

    input: TaggedInput
    target: Any = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _targets(examples: Sequence[Example], loss: str) -> torch.Tensor | list[str] | None:
    if loss == "lm":
        return None
    if loss == "text":
        return [str(e.target) for e in examples]
    values = np.asarray([e.target for e in examples], dtype=np.float64)
    return torch.as_tensor(values, dtype=torch.long if loss == "classification" else torch.float64)


def batch_loss(
    tlm: TaggedLM, stage: StageSpec, examples: Sequence[Example], prefixes: Sequence[KVView] | None = None
) -> torch.Tensor:
    """The stage's loss on one batch; with ``prefixes``, through the exact prefix-reuse path."""
    return loss_and_units(tlm, stage, examples, prefixes)[0]


def loss_and_units(
    tlm: TaggedLM, stage: StageSpec, examples: Sequence[Example], prefixes: Sequence[KVView] | None = None
) -> tuple[torch.Tensor, int]:
    """The stage's loss on one batch and what it is a mean over: its rows, or for a language-model loss (stage 1,
    text answers) its predicted tokens."""
    inputs = [e.input for e in examples]
    targets = _targets(examples, stage.loss)
    if stage.loss in ("lm", "text"):
        batch = tlm.encode(inputs, target_texts=targets) if stage.loss == "text" else tlm.encode(inputs)
        return tlm.lm_loss(batch), int((batch.lm_labels[:, 1:] != IGNORE).sum())
    h = stage_readouts(tlm, stage, examples, prefixes)
    return tlm.head(stage.head).loss(h, targets.to(h.device)), len(examples)


def stage_readouts(tlm: TaggedLM, stage: StageSpec, examples: Sequence[Example],
                   prefixes: Sequence[KVView] | None = None) -> torch.Tensor:
    """What the stage's head reads of ``examples`` (B, d); with ``prefixes``, through the exact prefix-reuse path."""
    if prefixes is not None:
        return prefix_readout(tlm, prefixes, stage.head)
    return tlm.readout(tlm.encode([e.input for e in examples]), tlm.head(stage.head).readout)


@torch.no_grad()
def evaluate_loss(
    tlm: TaggedLM,
    stage: StageSpec,
    examples: Sequence[Example],
    batch_size: int = 32,
    prefixes: Sequence[KVView | None] | None = None,
    *,
    parallel: DataParallel | None = None,
) -> float:
    """Mean loss over ``examples``: over their rows, or their tokens for a language-model loss. With ``parallel``,
    each process scores its own rows (and holds only their ``prefixes``) and the mean is over all of them."""
    rows = np.arange(len(examples)) if parallel is None else parallel.shard(len(examples))
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        idx = rows[start : start + batch_size]
        chunk = [examples[i] for i in idx]
        pre = None if prefixes is None else [prefixes[i] for i in idx]
        loss, units = loss_and_units(tlm, stage, chunk, pre)
        total += loss.item() * units
        count += units
    if parallel is not None:
        total, count = parallel.sum(total, count)
    return total / max(count, 1)


def can_reuse_prefix(stage: StageSpec, examples: Sequence[Example]) -> bool:
    """True when the prefix before the function tag is frozen for every example (so caching it is exact)."""
    if not stage.reuse_prefix or stage.loss not in ("regression", "classification"):
        return False
    if stage.head not in stage.train_tags:
        return False
    for example in examples:
        split = split_function_tag(example.input)
        if split is None or split[1] != stage.head or set(split[0].tags) & set(stage.train_tags):
            return False
    return True


@torch.no_grad()
def initial_readouts(
    tlm: TaggedLM,
    stage: StageSpec,
    examples: Sequence[Example],
    prefixes: Sequence[KVView | None] | None,
    batch_size: int,
    limit: int = 1024,
    parallel: DataParallel | None = None,
) -> torch.Tensor:
    """Readouts (N, d) of up to ``limit`` examples before training: for the head's input scaler (and its
    linear-probe start). With ``parallel``, each process reads out its own rows and every process gets all N."""
    n = min(len(examples), limit)
    rows = np.arange(n) if parallel is None else parallel.shard(n)
    out = []
    for start in range(0, len(rows), batch_size):
        idx = rows[start : start + batch_size]
        out.append(stage_readouts(tlm, stage, [examples[i] for i in idx],
                                  None if prefixes is None else [prefixes[i] for i in idx]))
    mine = torch.cat(out).cpu() if out else []
    if parallel is None:
        return mine
    return torch.stack(parallel.gather(list(mine), n))


def _trainable(tlm: TaggedLM, stage: StageSpec) -> list[dict]:
    """Set requires_grad on exactly what the stage trains by gradient; return those parameters as AdamW's groups,
    the tags' and the head's (which trains at the schedule's ``head_lr``; a head refitted in closed form,
    ``head_fit="refit"``, is not among them)."""
    lib = tlm.library
    missing = [t for t in stage.train_tags + stage.frozen_tags if t not in lib.specs]
    if missing:
        raise KeyError(f"stage {stage.name!r} uses tags {missing} that are not in the library")
    lib.requires_grad_(False)
    groups = [{"params": [lib.tags[name] for name in stage.train_tags], "role": "tags"}]
    if stage.head is not None:
        head = tlm.head(stage.head)
        head.requires_grad_(stage.head_fit != "refit")
        if stage.head_fit != "refit":
            groups.append({"params": list(head.parameters()), "role": "head"})
    for p in (p for g in groups for p in g["params"]):
        p.requires_grad_(True)
    return groups


def train_stage(
    tlm: TaggedLM,
    stage: StageSpec,
    train: Sequence[Example],
    val: Sequence[Example] | None = None,
    *,
    progress: bool = True,
    prefix_cache: PrefixCache | None = None,
) -> History:
    """Train what ``stage`` declares on ``train``; validate each epoch on ``val``.

    With ``val`` given, the parameters of the epoch with the lowest validation
    loss are restored at the end, and ``stage.patience`` stops training early.
    The base model never changes. ``prefix_cache`` keeps the frozen prefixes on disk between
    calls (see :class:`~biotag.model.prefix.PrefixCache`).

    Examples
    --------
    >>> from biotag.training import stage2
    >>> history = train_stage(tlm, stage2("<Count>", "<SMILES>", epochs=2), train, progress=False)
    >>> len(history.epochs)
    2
    """
    parallel = current()  # under a launcher: this process's rows only (see biotag.parallel)
    _refuse(train)
    seed_everything(stage.seed)
    params = _trainable(tlm, stage)
    progress = progress and (parallel is None or parallel.rank == 0)
    with showing_progress(progress):
        train_prefixes, val_prefixes = _frozen_prefixes(tlm, stage, train, val, prefix_cache, parallel)
    examples, prefixes = {"train": train, "val": val}, {"train": train_prefixes, "val": val_prefixes}
    start = _start_head(tlm, stage, examples, prefixes, parallel) if stage.head is not None else {}
    ridge, refit = _refitting(tlm, stage, examples, prefixes, start, parallel) if stage.head_fit == "refit" else (None,) * 2

    per_token = stage.loss in ("lm", "text")  # a mean over tokens, not rows: data-parallel shares weigh by them

    def step_loss(idx: np.ndarray, whole: np.ndarray | None = None) -> torch.Tensor | tuple[torch.Tensor, int]:
        batch = [train[j] for j in idx]
        prefixes = None if train_prefixes is None else [train_prefixes[j] for j in idx]
        if ridge is not None:  # the tags train against the ridge fit of the rows outside the (whole) batch
            return ridge.loss(idx, stage_readouts(tlm, stage, batch, prefixes), leave_out=whole)
        loss, units = loss_and_units(tlm, stage, batch, prefixes)
        return (loss, units) if per_token else loss
    step_loss.wants_batch = ridge is not None

    val_loss = _scorer(tlm, stage, val, val_prefixes, parallel)
    fitted = stage.head is not None and stage.head_init != "random"
    train_loss = _scorer(tlm, stage, train, train_prefixes, parallel) if fitted else None

    # A language-model stage runs whole sequences: batches of similar lengths waste little on padding (random
    # batches of SMILES are about half padding). Other stages keep random batches, the same with or without prefixes.
    encoder = tlm.encoder()
    lengths = [len(encoder.encode_row(e.input)[0]) for e in train] if per_token else None
    history = optimize(params, len(train), step_loss, stage.schedule, val_loss=val_loss, lengths=lengths,
                       validate_start=stage.head_init != "random", progress=progress, desc=stage.name,
                       parallel=parallel, units=per_token, on_epoch_end=refit, train_loss=train_loss,
                       also_kept=list(tlm.head(stage.head).parameters()) if ridge is not None else ())
    for p in (p for g in params for p in g["params"]):
        p.requires_grad_(False)
    return history


def _scorer(tlm: TaggedLM, stage: StageSpec, rows: Sequence[Example] | None, prefixes, parallel: DataParallel | None
            ) -> Callable[[], float] | None:
    """The mean loss of ``rows`` with the parameters as they are, as a function (None without rows)."""
    if not rows:
        return None
    return lambda: evaluate_loss(tlm, stage, rows, max(stage.batch_size, 32), prefixes, parallel=parallel)


def _refuse(train: Sequence[Example]) -> None:
    """What ``train_stage`` cannot run, refused before any work."""
    if not train:
        raise ValueError("train_stage needs at least one training example")


def _read(tlm: TaggedLM, stage: StageSpec, examples: dict, prefixes: dict, part: str, limit: int | None = None,
          parallel: DataParallel | None = None) -> torch.Tensor:
    """The initial readouts of ``examples[part]`` (``"train"`` or ``"val"``): all of them, or the first ``limit``."""
    rows = examples[part]
    return initial_readouts(tlm, stage, rows, prefixes[part], max(stage.batch_size, 32),
                            limit=len(rows) if limit is None else limit, parallel=parallel)


def _start_head(tlm: TaggedLM, stage: StageSpec, examples: dict, prefixes: dict, parallel: DataParallel | None
                ) -> dict[str, torch.Tensor]:
    """The head's start (:func:`~biotag.heads.probe.initialize_head`) from the initial readouts; returns the
    parts it read in full (``"train"``, ``"val"``), for a refit stage to reuse."""
    full = {}

    def readouts(part: str, limit: int | None) -> torch.Tensor | None:
        if not examples[part]:
            return None
        h = _read(tlm, stage, examples, prefixes, part, limit, parallel)
        if limit is None:
            full[part] = h
        return h

    initialize_head(tlm.head(stage.head), readouts, _targets(examples["train"], stage.loss), head_init=stage.head_init)
    return full


def _refitting(tlm: TaggedLM, stage: StageSpec, examples: dict, prefixes: dict, start: dict[str, torch.Tensor],
               parallel: DataParallel | None) -> tuple[HeldOutRidge, Callable[[], None]]:
    """``head_fit="refit"`` (:mod:`biotag.heads.refit`): the held-out ridge fit the tags train against, on the
    start's training readouts (else read here), and what runs after each epoch: every training row read afresh, the
    head and that fit refitted. Strengths are chosen on the training rows alone."""
    head = tlm.head(stage.head)
    targets = _targets(examples["train"], stage.loss)

    def read() -> torch.Tensor:  # among data-parallel processes, every row gathered: each holds the same fits
        return _read(tlm, stage, examples, prefixes, "train", parallel=parallel)

    ridge = HeldOutRidge(head, targets)
    ridge.refit(start["train"] if "train" in start else read())

    def refit() -> None:
        h_train = read()
        probe_init(head, h_train, targets, columns=probe_columns(head, stage.head_init))
        ridge.refit(h_train)
    return ridge, refit


def _frozen_prefixes(tlm: TaggedLM, stage: StageSpec, train: Sequence[Example], val: Sequence[Example] | None,
                     cache: PrefixCache | None, parallel: DataParallel | None = None
                     ) -> tuple[list[KVView | None] | None, list[KVView | None] | None]:
    """The frozen prefixes of the training and validation rows when the stage can reuse them (else None):
    identical prefixes computed once and shared; with ``cache``, read from (or written to) disk. With
    ``parallel``, only this process's rows have theirs (the others are None)."""
    if not can_reuse_prefix(stage, list(train) + list(val or [])):
        return None, None
    size, pool = max(stage.batch_size, 16), tlm.head(stage.head).readout

    def compute(examples: Sequence[Example]) -> list[KVView | None]:
        rows = np.arange(len(examples)) if parallel is None else parallel.shard(len(examples))
        mine = shared_prefixes(tlm, [examples[i].input for i in rows], batch_size=size, prefix_cache=cache,
                               pool=pool) if len(rows) else []
        if parallel is None:
            return mine
        out: list[KVView | None] = [None] * len(examples)
        for i, view in zip(rows, mine):
            out[i] = view
        return out

    try:
        # A process short of memory falls back alone: both paths give the same losses.
        return compute(train), (compute(val) if val else None)
    except MemoryError as err:
        warnings.warn(f"{err} Training on the plain path instead (same results, slower).", stacklevel=3)
        return None, None
