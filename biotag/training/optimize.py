"""The one optimization loop: every stage, and every baseline biotag trains, goes through :func:`optimize`."""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from biotag.parallel import DataParallel
from biotag.training.schedule import Schedule, get_lr

__all__ = ["History", "optimize", "epoch_batches"]


@dataclass
class History:
    """Per-epoch losses (for plotting) and what the early stopping chose.

    ``best_epoch`` 0 means no epoch beat the starting point (validated only when the stage
    starts from a fitted head), which was restored; ``start_val_loss`` is that starting loss.
    ``start_train_loss`` and ``first_epoch_train_loss``: the training rows' loss at the start and after the first
    epoch, both measured with the parameters fixed (where the optimizer is checked: see :func:`optimize`).
    """

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    steps: int = 0
    start_val_loss: float | None = None
    start_train_loss: float | None = None
    first_epoch_train_loss: float | None = None

    @property
    def train_loss(self) -> list[float]:
        return [e["train_loss"] for e in self.epochs]

    @property
    def val_loss(self) -> list[float]:
        return [e.get("val_loss", math.nan) for e in self.epochs]


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


class _BestState:
    """The parameters of the best validation loss so far, and how many epochs have not beaten it."""

    def __init__(self):
        self.loss, self.state, self.epoch, self.bad_epochs = math.inf, None, None, 0

    def offer(self, loss: float, params: Sequence[torch.nn.Parameter], epoch: int) -> None:
        if loss < self.loss:
            self.loss, self.epoch, self.bad_epochs = loss, epoch, 0
            self.state = [p.detach().clone() for p in params]
        else:
            self.bad_epochs += 1

    @torch.no_grad()
    def restore(self, params: Sequence[torch.nn.Parameter]) -> None:
        if self.state is not None:
            for p, saved in zip(params, self.state):
                p.copy_(saved)


def _set_lr(optimizer: torch.optim.Optimizer, schedule: Schedule, step: int, total: int) -> None:
    for group in optimizer.param_groups:  # each group at its own rate, on one warmup and decay
        group["lr"] = get_lr(step, total, lr=group["base_lr"], warmup_ratio=schedule.warmup_ratio,
                             min_lr_ratio=schedule.min_lr_ratio)


def _param_groups(params: Sequence[torch.nn.Parameter] | Sequence[dict], schedule: Schedule) -> list[dict]:
    """AdamW's parameter groups: ``params`` as given (dicts with ``params`` and a ``role``: ``"head"`` trains at
    ``schedule.head_lr``, anything else at ``schedule.lr``), or one group at ``schedule.lr``."""
    if params and not isinstance(params[0], dict):
        return [{"params": list(params), "base_lr": schedule.lr}]
    head_lr = schedule.lr if schedule.head_lr is None else schedule.head_lr
    return [{"params": list(g["params"]), "base_lr": head_lr if g.get("role") == "head" else schedule.lr}
            for g in params if g["params"]]


def _adamw(groups: list[dict], schedule: Schedule) -> torch.optim.AdamW:
    return torch.optim.AdamW([{"params": g["params"], "lr": g["base_lr"], "base_lr": g["base_lr"]} for g in groups],
                             lr=schedule.lr, weight_decay=schedule.weight_decay)


def _check_first_epoch(history: History, schedule: Schedule) -> None:
    """Warn when the first epoch raised the training loss it started from: the rates are too high for the start."""
    before, after = history.start_train_loss, history.first_epoch_train_loss
    if before is None or after is None or not after > before:
        return
    head = "" if schedule.head_lr is None else f", the head's {schedule.head_lr:g}"
    warnings.warn(f"the training loss rose over the first epoch ({before:.4f} -> {after:.4f}) at lr {schedule.lr:g}"
                  f"{head}: these rates move the parameters away from their start; lower lr or head_lr",
                  stacklevel=3)


class _LocalLoss:
    """Back-propagates one micro-batch's loss; returns the sum and count of its rows' losses (for the history).

    With ``parallel`` (:mod:`biotag.parallel`), every process draws the same batches, ``batch_loss`` is called with
    this process's rows of each batch only, and ``val_loss()`` must return the loss over every process's rows.
    With ``units``, ``batch_loss`` returns ``(loss, n)``: a mean over ``n`` units that are not rows (a language
    model's tokens), so that processes weigh their shares by tokens, as one process's batch mean does.

    Alone, the loss is ``batch_loss(idx)``. Among data-parallel processes it is this process's rows' share of the
    batch mean, times the world size (DDP averages over processes), run through DDP so that its backward
    all-reduces the gradients (only on ``sync`` steps: gradient-accumulation steps skip the all-reduce). A
    ``batch_loss`` with a true ``wants_batch`` attribute is called as ``batch_loss(rows, batch)``: the rows it
    scores and the whole batch they belong to (a loss that leaves the batch out of a fit needs all of it).
    """

    def __init__(self, params: Sequence[torch.nn.Parameter], batch_loss: Callable[[np.ndarray], Any],
                 parallel: DataParallel | None, units: bool):
        self.params, self.batch_loss, self.parallel, self.units = list(params), batch_loss, parallel, units
        self.wants_batch = bool(getattr(batch_loss, "wants_batch", False))
        self.ddp = parallel.wrap(self.params) if parallel is not None else None

    def _loss(self, rows: np.ndarray, batch: np.ndarray):
        return self.batch_loss(rows, batch) if self.wants_batch else self.batch_loss(rows)

    def backward(self, idx: np.ndarray, *, accum: int, sync: bool) -> tuple[float, int]:
        if self.parallel is None:
            loss = self._loss(idx, idx)
            loss = loss[0] if self.units else loss
            (loss / accum).backward()
            return loss.item() * len(idx), len(idx)
        mine = self.parallel.own(idx)
        with contextlib.nullcontext() if sync else self.ddp.no_sync():
            loss = self.ddp(self._share, mine, idx)
            (loss / accum).backward()
        return loss.item() * len(idx) / self.parallel.world, len(mine)  # this process's rows' loss sum, count

    def mean(self, total: float, count: int) -> float:
        """An epoch's mean training loss from this process's sum and count (over every process's)."""
        if self.parallel is not None:
            total, count = self.parallel.sum(total, count)
        return total / max(count, 1)

    def _share(self, mine: np.ndarray, batch: np.ndarray) -> torch.Tensor:
        if len(mine) == 0:  # no rows of this batch here: zero gradients, so the all-reduce still meets
            loss, own = sum(p.sum() for p in self.params) * 0.0, 0
        elif self.units:
            loss, own = self._loss(mine, batch)
        else:
            loss, own = self._loss(mine, batch), len(mine)
        total = self.parallel.sum(own)[0] if self.units else len(batch)  # over tokens: the batch's token count
        return loss * (own * self.parallel.world / max(total, 1))


def _step(optimizer: torch.optim.Optimizer, params: Sequence[torch.nn.Parameter], grad_clip: float | None) -> None:
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _epoch(micro: list[np.ndarray], step_loss: _LocalLoss, optimizer: torch.optim.Optimizer,
           params: Sequence[torch.nn.Parameter], schedule: Schedule, history: History, total_steps: int,
           bar) -> tuple[float, int]:
    """One epoch's steps over its micro-batches (stopping at ``total_steps``); its loss sum and row count."""
    running, seen = 0.0, 0
    for i, idx in enumerate(micro):
        if i % schedule.grad_accum == 0:
            _set_lr(optimizer, schedule, history.steps, total_steps)
        boundary = (i + 1) % schedule.grad_accum == 0 or i + 1 == len(micro)
        total, count = step_loss.backward(idx, accum=schedule.grad_accum, sync=boundary)
        running, seen = running + total, seen + count
        if boundary:
            _step(optimizer, params, schedule.grad_clip)
            history.steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{running / max(seen, 1):.4f}")
            if history.steps >= total_steps:
                break
    return running, seen


def optimize(
    params: Sequence[torch.nn.Parameter],
    n_train: int,
    batch_loss: Callable[[np.ndarray], torch.Tensor],
    schedule: Schedule,
    *,
    val_loss: Callable[[], float] | None = None,
    lengths: Sequence[int] | None = None,
    validate_start: bool = False,
    progress: bool = True,
    desc: str = "training",
    parallel: DataParallel | None = None,
    units: bool = False,
    on_epoch_end: Callable[[], None] | None = None,
    train_loss: Callable[[], float] | None = None,
    also_kept: Sequence[torch.Tensor] = (),
) -> History:
    """AdamW, warmup + cosine, clipping, accumulation, validation, early stopping.

    ``batch_loss(indices)`` is the mean loss of those training rows; ``val_loss()`` the validation loss after
    each epoch, whose best parameters are restored at the end. ``lengths`` (one per training row) groups
    batches by length (:func:`epoch_batches`). ``validate_start`` also scores the starting parameters (epoch
    0), kept if no epoch beats them: for a start that is a fitted solution already (a linear-probe head).
    ``parallel`` (data-parallel processes) and ``units`` (a loss over tokens): see :class:`_LocalLoss`.
    ``on_epoch_end()`` runs after each epoch's steps; ``params`` may be groups (a ``"head"`` at ``head_lr``).
    ``train_loss()`` (every training row, parameters fixed) is measured at the start and after epoch 1; a rise is
    warned of. ``also_kept``: tensors changed outside the optimizer (a refitted head), restored with the best epoch.
    """
    optimizer = _adamw(_param_groups(params, schedule), schedule)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    step_loss, kept = _LocalLoss(params, batch_loss, parallel, units), params + list(also_kept)
    steps_per_epoch = math.ceil(n_train / (schedule.batch_size * schedule.grad_accum))
    total_steps = min(schedule.max_steps or 10**12, steps_per_epoch * schedule.epochs)
    order_rng = np.random.default_rng(schedule.seed)
    history, best = History(), _BestState()
    if validate_start and val_loss is not None:
        history.start_val_loss = val_loss()
        best.offer(history.start_val_loss, kept, 0)
    history.start_train_loss = train_loss() if train_loss is not None else None
    bar = tqdm(total=total_steps, desc=desc, disable=not progress, leave=False)

    for epoch in range(schedule.epochs):
        micro = epoch_batches(order_rng, n_train, schedule.batch_size, lengths)
        running, seen = _epoch(micro, step_loss, optimizer, params, schedule, history, total_steps, bar)
        if on_epoch_end is not None:
            on_epoch_end()
        if epoch == 0 and train_loss is not None:
            history.first_epoch_train_loss = train_loss()
            _check_first_epoch(history, schedule)
        record = {"epoch": epoch + 1, "train_loss": step_loss.mean(running, seen)}
        if val_loss is not None:
            record["val_loss"] = val_loss()
            best.offer(record["val_loss"], kept, epoch + 1)
        history.epochs.append(record)
        if history.steps >= total_steps or (schedule.patience is not None and best.bad_epochs >= schedule.patience):
            break
    bar.close()
    history.best_epoch = best.epoch
    best.restore(kept)
    return history
