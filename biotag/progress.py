"""Progress bars for the long steps (prefix computation, prediction), shown only where a caller asks for them."""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Iterator

__all__ = ["showing_progress", "progress_bar"]

_PROGRESS: contextvars.ContextVar[bool] = contextvars.ContextVar("biotag_progress", default=False)


@contextmanager
def showing_progress(enabled: bool) -> Iterator[None]:
    """Within the block, the long steps below it (prefix computation, prediction) show progress bars when
    ``enabled``: an estimator's ``verbose`` or a stage's ``progress`` reaches them without being passed down."""
    token = _PROGRESS.set(bool(enabled))
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def progress_bar(total: int, desc: str):
    """A tqdm bar over ``total`` items, shown only inside :func:`showing_progress` (True)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not _PROGRESS.get(), leave=False, unit="input")
