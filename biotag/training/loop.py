"""One training loop for every stage. Reads top to bottom; device placement lives in TaggedLM."""

from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from biotag.domains.tagging import TaggedInput
from biotag.tags.heads import RegressionHead, probe_init
from biotag.tags.prefix import (FilePrefixKV, JoinedPrefixKV, PrefixCache, PrefixKV, forward_from_prefixes,
                                shared_prefixes, split_function_tag)
from biotag.tags.tagged import TaggedLM
from biotag.training.stages import StageSpec

__all__ = ["Example", "History", "train_stage", "optimize", "epoch_batches", "get_lr", "evaluate_loss",
           "can_reuse_prefix"]


@dataclass(frozen=True)
class Example:
    """A training row: the tagged input and its target (number(s), class index, text, or None for stage 1)."""

    input: TaggedInput
    target: Any = None


@dataclass
class History:
    """Per-epoch losses (for plotting) and what the early stopping chose.

    ``best_epoch`` 0 means no epoch beat the starting point (validated only when the stage
    starts from a fitted head), which was restored; ``start_val_loss`` is that starting loss.
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    steps: int = 0
    start_val_loss: float | None = None

    @property
    def train_loss(self) -> list[float]:
        return [e["train_loss"] for e in self.epochs]

    @property
    def val_loss(self) -> list[float]:
        return [e.get("val_loss", math.nan) for e in self.epochs]


def get_lr(step: int, total: int, *, lr: float, warmup_ratio: float, min_lr_ratio: float) -> float:
    """Linear warmup, then cosine decay to ``min_lr_ratio * lr``. Pure: same inputs, same rate."""
    warmup = int(warmup_ratio * total)
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


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
    return torch.as_tensor(values, dtype=torch.long if loss == "classification" else torch.float32)


def batch_loss(
    tlm: TaggedLM, stage: StageSpec, examples: Sequence[Example], prefixes: Sequence[PrefixKV] | None = None
) -> torch.Tensor:
    """The stage's loss on one batch; with ``prefixes``, through the exact prefix-reuse path."""
    inputs = [e.input for e in examples]
    targets = _targets(examples, stage.loss)
    if stage.loss == "lm":
        return tlm.lm_loss(tlm.encode(inputs))
    if stage.loss == "text":
        return tlm.lm_loss(tlm.encode(inputs, target_texts=targets))
    if prefixes is not None:
        h = forward_from_prefixes(tlm, prefixes, stage.head)
    else:
        h = tlm.readout(tlm.encode(inputs))
    return tlm.head(stage.head).loss(h, targets.to(h.device))


@torch.no_grad()
def evaluate_loss(
    tlm: TaggedLM,
    stage: StageSpec,
    examples: Sequence[Example],
    batch_size: int = 32,
    prefixes: Sequence[PrefixKV] | None = None,
) -> float:
    """Mean loss over ``examples`` (weighted by batch size)."""
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        pre = None if prefixes is None else prefixes[start : start + batch_size]
        total += batch_loss(tlm, stage, chunk, pre).item() * len(chunk)
        count += len(chunk)
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
    prefixes: Sequence[PrefixKV] | None,
    batch_size: int,
    limit: int = 1024,
) -> torch.Tensor:
    """Readouts (N, d) of up to ``limit`` examples before training: for the head's input scaler (and its
    linear-probe start)."""
    n = min(len(examples), limit)
    out = []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if prefixes is not None:
            out.append(forward_from_prefixes(tlm, prefixes[start:stop], stage.head))
        else:
            out.append(tlm.readout(tlm.encode([e.input for e in examples[start:stop]])))
    return torch.cat(out).cpu()


def prefix_cache(tlm: TaggedLM, examples: Sequence[Example], batch_size: int,
                 store: PrefixCache | None = None) -> list[PrefixKV | FilePrefixKV | JoinedPrefixKV]:
    """Keys/values of each example's frozen prefix; identical prefixes are computed once and shared.
    With ``store``, prefixes cached on disk by an earlier fit are read, and new ones written there."""
    return shared_prefixes(tlm, [e.input for e in examples], batch_size=batch_size, cache=store)


def _trainable(tlm: TaggedLM, stage: StageSpec) -> list[torch.nn.Parameter]:
    """Set requires_grad on exactly what the stage trains; return those parameters."""
    lib = tlm.library
    missing = [t for t in stage.train_tags + stage.frozen_tags if t not in lib.specs]
    if missing:
        raise KeyError(f"stage {stage.name!r} uses tags {missing} that are not in the library")
    lib.requires_grad_(False)
    params = [lib.tags[name] for name in stage.train_tags]
    if stage.head is not None:
        head = tlm.head(stage.head)
        head.requires_grad_(True)
        params += list(head.parameters())
    for p in params:
        p.requires_grad_(True)
    return params


def epoch_batches(rng: np.random.Generator, n: int, batch_size: int,
                  lengths: Sequence[int] | None = None, group: int = 50) -> list[np.ndarray]:
    """One epoch's batches of row indices: every row once, in a random order.

    With ``lengths``, batches are grouped by length (as ``transformers``' ``group_by_length``): the shuffled
    rows are cut into megabatches of ``group`` batches, each sorted by length and cut into batches, and the
    batches are then shuffled. Rows of a batch then have similar lengths, so a padded batch does little
    wasted work (random batches of SMILES carry about twice their real length in padding).
    """
    order = rng.permutation(n)
    if lengths is None:
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    lengths = np.asarray(lengths)
    batches = []
    for start in range(0, n, group * batch_size):
        mega = order[start : start + group * batch_size]
        mega = mega[np.argsort(-lengths[mega], kind="stable")]
        batches += [mega[i : i + batch_size] for i in range(0, len(mega), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def optimize(
    params: Sequence[torch.nn.Parameter],
    n_train: int,
    batch_loss: Callable[[np.ndarray], torch.Tensor],
    schedule: StageSpec,
    *,
    val_loss: Callable[[], float] | None = None,
    lengths: Sequence[int] | None = None,
    validate_start: bool = False,
    progress: bool = True,
) -> History:
    """The one optimization loop: AdamW, warmup + cosine, clipping, accumulation, validation, early stopping.

    ``batch_loss(indices)`` returns the mean loss of those training rows;
    ``val_loss()`` the validation loss after each epoch. ``schedule`` supplies
    the hyperparameters (a :class:`StageSpec`, or any object with its schedule
    fields). With ``val_loss``, the parameters of the best epoch are restored at
    the end. ``params`` keep ``requires_grad``. ``lengths`` (one per training row) groups batches by
    length (:func:`epoch_batches`), for callers whose cost grows with a batch's padded length.
    ``validate_start`` also scores the starting parameters (epoch 0), so they are kept if no epoch
    beats them: for a start that is already a fitted solution (a linear-probe head).
    """
    optimizer = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay)
    steps_per_epoch = math.ceil(n_train / (schedule.batch_size * schedule.grad_accum))
    total_steps = min(schedule.max_steps or 10**12, steps_per_epoch * schedule.epochs)
    order_rng = np.random.default_rng(schedule.seed)
    history = History()
    best_val, best_state, bad_epochs = math.inf, None, 0
    if validate_start and val_loss is not None:
        best_val = history.start_val_loss = val_loss()
        best_state, history.best_epoch = [p.detach().clone() for p in params], 0
    bar = tqdm(total=total_steps, desc=schedule.name, disable=not progress, leave=False)

    for epoch in range(schedule.epochs):
        micro = epoch_batches(order_rng, n_train, schedule.batch_size, lengths)
        running, seen = 0.0, 0
        for i, idx in enumerate(micro):
            if i % schedule.grad_accum == 0:
                for group in optimizer.param_groups:
                    group["lr"] = get_lr(history.steps, total_steps, lr=schedule.lr,
                                         warmup_ratio=schedule.warmup_ratio, min_lr_ratio=schedule.min_lr_ratio)
            loss = batch_loss(idx)
            (loss / schedule.grad_accum).backward()
            running, seen = running + loss.item() * len(idx), seen + len(idx)
            if (i + 1) % schedule.grad_accum == 0 or i + 1 == len(micro):
                if schedule.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, schedule.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                history.steps += 1
                bar.update(1)
                bar.set_postfix(loss=f"{running / seen:.4f}")
                if history.steps >= total_steps:
                    break
        record = {"epoch": epoch + 1, "train_loss": running / max(seen, 1)}
        if val_loss is not None:
            record["val_loss"] = val_loss()
            if record["val_loss"] < best_val:
                best_val, bad_epochs, history.best_epoch = record["val_loss"], 0, epoch + 1
                best_state = [p.detach().clone() for p in params]
            else:
                bad_epochs += 1
        history.epochs.append(record)
        if history.steps >= total_steps or (schedule.patience is not None and bad_epochs >= schedule.patience):
            break
    bar.close()
    if best_state is not None:
        with torch.no_grad():
            for p, saved in zip(params, best_state):
                p.copy_(saved)
    return history


def train_stage(
    tlm: TaggedLM,
    stage: StageSpec,
    train: Sequence[Example],
    val: Sequence[Example] | None = None,
    *,
    progress: bool = True,
    prefix_store: PrefixCache | None = None,
) -> History:
    """Train what ``stage`` declares on ``train``; validate each epoch on ``val``.

    With ``val`` given, the parameters of the epoch with the lowest validation
    loss are restored at the end, and ``stage.patience`` stops training early.
    The base model never changes. ``prefix_store`` keeps the frozen prefixes on disk between
    calls (see :class:`~biotag.tags.prefix.PrefixCache`).

    Examples
    --------
    >>> history = train_stage(tlm, stage2("<QED>", "<SMILES>"), train, val)  # doctest: +SKIP
    """
    if not train:
        raise ValueError("train_stage needs at least one training example")
    seed_everything(stage.seed)
    params = _trainable(tlm, stage)
    head = tlm.head(stage.head) if stage.head is not None else None
    if isinstance(head, RegressionHead):
        head.fit_scaler(_targets(train, "regression"))  # standardize on training targets only

    train_prefixes = val_prefixes = None
    if can_reuse_prefix(stage, list(train) + list(val or [])):
        try:
            train_prefixes = prefix_cache(tlm, train, max(stage.batch_size, 16), prefix_store)
            val_prefixes = prefix_cache(tlm, val, max(stage.batch_size, 16), prefix_store) if val else None
        except MemoryError as err:
            warnings.warn(f"{err} Training on the plain path instead (same results, slower).", stacklevel=2)
            train_prefixes = val_prefixes = None

    if head is not None and hasattr(head, "scaler") and not bool(head.scaler.fitted):
        # A fresh head: initialize it from the stage's seed (its constructor drew from whatever the
        # global RNG held), then fit its input standardization on the initial readouts.
        head.linear.reset_parameters()
        probe = stage.head_init == "probe"
        size = max(stage.batch_size, 32)
        readouts = initial_readouts(tlm, stage, train, train_prefixes, size, limit=len(train) if probe else 1024)
        head.scaler.fit(readouts[:1024])
        if probe:  # LP-FT: start the head at the linear probe's solution on these readouts
            val_readouts = initial_readouts(tlm, stage, val, val_prefixes, size, limit=len(val)) if val else None
            probe_init(head, readouts, _targets(train, stage.loss), val_readouts,
                       _targets(val, stage.loss) if val else None)

    def step_loss(idx: np.ndarray) -> torch.Tensor:
        batch = [train[j] for j in idx]
        prefixes = None if train_prefixes is None else [train_prefixes[j] for j in idx]
        return batch_loss(tlm, stage, batch, prefixes)

    def val_loss() -> float:
        return evaluate_loss(tlm, stage, val, max(stage.batch_size, 32), val_prefixes)

    history = optimize(params, len(train), step_loss, stage, val_loss=val_loss if val else None,
                       validate_start=stage.head_init == "probe", progress=progress)
    for p in params:
        p.requires_grad_(False)
    return history
