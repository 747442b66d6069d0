"""Data parallelism under a launcher: ``torchrun`` or ``accelerate launch`` start the processes, accelerate joins them.

A plain Python process is a world of one, and nothing here changes what it does. Under a launcher
(``WORLD_SIZE`` > 1) every process runs the same script on the same data, and biotag splits the work:

- Row ``i`` of a training set, a validation set or a prediction belongs to process ``i % world``. Each process
  computes the frozen prefixes of its own rows only, and keeps them for every epoch.
- A step's batch is drawn from the same global order on every process (the single-process batch). Each process
  runs its own rows of it, and :class:`~torch.nn.parallel.DistributedDataParallel` all-reduces the gradients of the
  tags and the head (only they train). The step is then the single-process step, to float rounding.
- Validation losses are summed over processes, so early stopping decides the same everywhere. Readouts for a
  head's start and predictions are gathered in input order: every row once, on every process.
- Files (tag libraries, estimators) are written by the main process only.

The process group is accelerate's :class:`~accelerate.PartialState` (gloo on CPUs, NCCL on GPUs); collectives
time out after ``BIOTAG_DIST_TIMEOUT`` seconds (default 1800), so a process that died ends the run with an error
instead of a hang. A process that joined the group leaves it when its script ends (the
group is left open after an uncaught error, for the launcher to end the others).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["DataParallel", "current", "is_main_process", "single_process", "launched", "map_rows"]

TIMEOUT_ENV = "BIOTAG_DIST_TIMEOUT"
# "off": the single_process() depth (>0 makes current() None); "joined": the exit hook that leaves the group is set
_local = {"off": 0, "joined": False}


def launched() -> bool:
    """True when a launcher started this process as one of several (``WORLD_SIZE`` > 1)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


@contextlib.contextmanager
def single_process() -> Iterator[None]:
    """Inside it, this process works alone even under a launcher: for one task per process (a benchmark
    cell), and for the per-process part of a data-parallel computation."""
    _local["off"] += 1
    try:
        yield
    finally:
        _local["off"] -= 1


@dataclass(frozen=True)
class DataParallel:
    """This process's place among ``world`` data-parallel processes."""

    rank: int
    world: int
    device: torch.device  # this process's GPU under a launcher, else the CPU

    def shard(self, n: int) -> np.ndarray:
        """The rows of ``n`` this process owns: ``rank, rank + world, ...``."""
        return np.arange(self.rank, n, self.world)

    def own(self, indices: np.ndarray) -> np.ndarray:
        """The entries of ``indices`` (row numbers) this process owns, in their order."""
        indices = np.asarray(indices)
        return indices[indices % self.world == self.rank]

    def gather(self, mine: Sequence[Any], n: int) -> list[Any]:
        """Every process's values for its :meth:`shard` of ``n`` rows, as one list in row order (on every process)."""
        from accelerate.utils import gather_object

        if len(mine) != len(self.shard(n)):
            raise ValueError(f"process {self.rank} gave {len(mine)} values for its {len(self.shard(n))} rows")
        flat = gather_object(list(mine))  # rank 0's values, then rank 1's, ...
        out: list[Any] = [None] * n
        start = 0
        for rank in range(self.world):
            rows = np.arange(rank, n, self.world)
            for k, i in enumerate(rows):
                out[i] = flat[start + k]
            start += len(rows)
        return out

    def sum(self, *values: float) -> list[float]:
        """``values`` summed over the processes (float64), on every process."""
        t = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def barrier(self) -> None:
        from accelerate import PartialState

        PartialState().wait_for_everyone()

    def wrap(self, params: Sequence[Any]):
        """``params`` (the trainable tags and head) in DistributedDataParallel: ``module(fn, *args)`` runs
        ``fn(*args)`` and the backward of its result all-reduces (averages) their gradients."""
        module = _Trainable(list(params))
        device = params[0].device if params else self.device
        ids = [device.index] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)  # no buffers to sync

    def _collective_device(self):
        return self.device if dist.get_backend() == "nccl" else "cpu"


def _state():
    from accelerate import PartialState

    seconds = float(os.environ.get(TIMEOUT_ENV, "1800"))
    # accelerate treats a CPU-only launch as distributed only when told it is on the CPU
    state = PartialState(cpu=not torch.cuda.is_available(), timeout=datetime.timedelta(seconds=seconds))
    if not _local["joined"]:
        _local["joined"] = True
        atexit.register(_leave)
    return state


def _leave() -> None:
    """At the end of a script that joined the group: leave it while the interpreter is whole. Left to interpreter
    teardown, gloo's worker threads can still hold tensors and abort the process ("terminate called without an
    active exception"), failing a run that succeeded. After an uncaught error the group is left as it is: the
    others may be inside a collective, and the launcher ends them."""
    if dist.is_available() and dist.is_initialized() and getattr(sys, "last_value", None) is None:
        dist.destroy_process_group()


def current() -> DataParallel | None:
    """This process's :class:`DataParallel` under a launcher (joining the process group on first use), else None."""
    if _local["off"] or not launched():
        return None
    state = _state()
    if state.num_processes < 2:
        return None
    device = state.device if state.device.type == "cuda" else torch.device("cpu")
    return DataParallel(rank=state.process_index, world=state.num_processes, device=device)


def is_main_process() -> bool:
    """False on every process but the first under a launcher; True alone."""
    if not launched():
        return True
    return _state().is_main_process


def map_rows(fn: Callable[[list[Any]], Sequence[Any]], items: Sequence[Any]) -> list[Any] | None:
    """``fn`` over ``items`` split among the processes, the results gathered in input order; None when alone
    (the caller then runs ``fn`` itself). ``fn`` gets this process's rows and returns one value per row."""
    parallel = current()
    if parallel is None:
        return None
    from biotag.progress import showing_progress

    rows = parallel.shard(len(items))
    quiet = contextlib.nullcontext() if parallel.rank == 0 else showing_progress(False)  # one bar: the main one's
    with single_process(), quiet:
        mine = list(fn([items[i] for i in rows])) if len(rows) else []
    return parallel.gather(mine, len(items))


class _Trainable(torch.nn.Module):
    """The trainable parameters as one module for DDP; its forward runs the loss it is given."""

    def __init__(self, params: list[torch.nn.Parameter]):
        super().__init__()
        self.params = torch.nn.ParameterList(params)

    def forward(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)
