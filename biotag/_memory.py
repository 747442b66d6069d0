"""Peak memory of the running process, as a benchmark should count it."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

__all__ = ["peak_rss_mb"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process image, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``, which starts afresh at
    ``exec``. ``getrusage``'s ``ru_maxrss`` is preserved across ``execve`` and
    inherited at ``fork``, so a child started by a large parent would report
    the parent's peak. Elsewhere ``ru_maxrss`` is the best available.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
