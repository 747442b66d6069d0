"""Running work in a fresh Python process: its memory (and its peak) is its own, and a crash stays there."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
from typing import Any, Callable, Sequence

__all__ = ["in_child_process", "on_devices"]


def _exit_with_parent() -> None:
    """Wait for the parent's end (its sentinel closes when it exits or is killed) and end this process too: a
    child must not train on for minutes after its parent was stopped."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


def _child(conn, fn: Callable, args: tuple, kwargs: dict) -> None:
    # Ctrl-C reaches the whole process group: the parent alone decides, and stops this process (see below)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    try:
        outcome = (True, fn(*args, **kwargs))
    except BaseException as err:  # noqa: BLE001 - every failure goes back to the parent
        outcome = (False, err)
    try:
        conn.send(outcome)
    except (pickle.PicklingError, TypeError, AttributeError):  # an error (or result) that cannot travel
        conn.send((False, RuntimeError(f"{type(outcome[1]).__name__}: {outcome[1]}")))
    except OSError:  # the parent has gone (stopped): nobody to answer
        pass
    finally:
        conn.close()


def _stop(process) -> None:
    """End a child at once: asked first (SIGTERM), then killed if it has not gone within a few seconds."""
    process.terminate()
    process.join(timeout=3)
    if process.is_alive():
        process.kill()
        process.join()


def in_child_process(fn: Callable, /, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a fresh (spawned) Python process; its result, or its exception, comes back.

    ``fn`` must be importable by name (a module-level function). A child that dies before answering (killed,
    out of memory, a crash in native code) raises :class:`ChildProcessError` with its exit code. A parent that
    is killed takes the child with it; one interrupted while it waits (Ctrl-C, or SIGTERM turned into an exception)
    stops the child within seconds and lets the interruption go on.

    Examples
    --------
    >>> import os
    >>> in_child_process(os.getpid) != os.getpid()
    True
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, fn, args, kwargs))
    process.start()
    sender.close()
    try:
        ok, value = receiver.recv()
    except EOFError:
        process.join()
        name = getattr(fn, "__name__", fn)
        raise ChildProcessError(f"the child process running {name!r} exited with {process.exitcode} "
                                "before it answered") from None
    except BaseException:  # stopped (Ctrl-C, SIGTERM) while the child works: it stops too, now, not at its end
        _stop(process)
        raise
    finally:
        receiver.close()
    process.join()
    if ok:
        return value
    raise value


def on_devices(items: Sequence[Any], fn: Callable[[Any, Any], None], devices: Sequence[Any] | None) -> None:
    """``fn(item, device)`` for every item: one at a time (``device`` None) without ``devices``, else as many at
    once as there are devices, each call holding one device until it returns (threads: ``fn`` is expected to
    wait on a child process, so the GIL is no bottleneck). The first exception is raised after the others end."""
    if not devices or len(devices) == 1:
        for item in items:
            fn(item, devices[0] if devices else None)
        return
    from concurrent.futures import ThreadPoolExecutor

    free, lock = list(devices), threading.Condition()

    def hold(item: Any) -> None:
        with lock:
            lock.wait_for(lambda: free)
            device = free.pop(0)
        try:
            fn(item, device)
        finally:
            with lock:
                free.append(device)
                lock.notify()

    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        futures = [pool.submit(hold, item) for item in items]
    for future in futures:
        future.result()
