import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from biotag.benchmark.isolation import in_child_process
from biotag.hardware import peak_rss_mb


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


PARENT = """
import time
from biotag.benchmark.isolation import in_child_process
in_child_process(time.sleep, 120)
"""


def _alive(pid: int) -> bool:
    try:  # a zombie waiting for its reaper is gone as far as work goes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_parent_takes_its_child_process_with_it():
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    try:
        deadline, children = time.time() + 60, []
        while not children and time.time() < deadline:
            time.sleep(0.2)
            children = [int(pid) for pid in Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()]
        assert children, "the child process never started"
        time.sleep(1)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 30
        while any(_alive(pid) for pid in children) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in children)
    finally:
        parent.kill()
