import os

import numpy as np
import pytest

from biotag.benchmark.isolation import in_child_process
from biotag.utils import peak_rss_mb


def test_work_runs_in_another_process_and_its_errors_come_back():
    assert in_child_process(os.getpid) != os.getpid()
    with pytest.raises(ValueError, match="invalid literal"):
        in_child_process(int, "not a number")  # the child's error comes back


def test_a_child_that_dies_is_a_clear_error():
    with pytest.raises(ChildProcessError, match="exited with 3 before it answered"):
        in_child_process(os._exit, 3)


def test_peak_memory_of_a_child_process_is_its_own():
    """A cell process must not report its parent's peak (getrusage's ru_maxrss is inherited at fork)."""
    ballast = np.ones(400 * 2**20 // 8)  # the parent now holds 400 MiB more than the child ever will
    assert in_child_process(peak_rss_mb) < peak_rss_mb() - 300
    del ballast
