"""The machine biotag runs on: CPU flags, memory, and the precision and device a frozen model is held in.

:func:`resolve_placement` is the one place where ``dtype="auto"`` and ``device="auto"`` are decided;
:func:`~biotag.backbone.load_base_model` calls it, and everything after reads the loaded model.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any, NamedTuple

from biotag.config import DTYPE_CHOICES, DTYPES

#: CPU flags of native bfloat16 arithmetic (AVX512-BF16, AMX). Without them torch emulates bf16 matmuls,
#: much slower than float32 (benchmarks/README.md, Speed).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

__all__ = ["DTYPES", "DTYPE_CHOICES", "BF16_CPU_FLAGS", "available_memory", "peak_rss_mb", "torch_dtype", "cpu_flags", "cpu_description", "native_bf16", "Placement", "resolve_placement"]

def available_memory(device=None) -> int:
    """Bytes available to new allocations on ``device``: the GPU's free memory for a CUDA device
    (``torch.cuda.mem_get_info``), else the host's ``MemAvailable`` (a large number if unknown)."""
    if device is not None and getattr(device, "type", str(device).split(":")[0]) == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


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


def torch_dtype(name: str):
    """The torch dtype of a name in :data:`DTYPES`; a ValueError names the known ones.

    Examples
    --------
    >>> torch_dtype("bfloat16")
    torch.bfloat16
    """
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {name!r}")
    import torch

    return getattr(torch, name)


def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags, as ``/proc/cpuinfo`` lists them (empty where there is no such file)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_description() -> str:
    """This CPU's model name and the vector flags that decide its speed in each precision, e.g.
    ``"AMD EPYC (avx2 avx512f avx512_bf16)"``: what every timing and every precision choice is recorded with."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    flags = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in cpu_flags()]
    return f"{name} ({' '.join(flags) or 'no AVX2'})"


def native_bf16(device) -> bool:
    """Whether ``device`` (a torch.device) computes in bfloat16 natively: a CUDA GPU of compute capability 8
    or more, or a CPU with AVX512-BF16 or AMX. Elsewhere bf16 is emulated, and slower than float32."""
    import torch

    if device.type == "cuda":
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # torch without the argument
            return torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        return bool(BF16_CPU_FLAGS & cpu_flags())
    return False


class Placement(NamedTuple):
    """Where a frozen base model lives and in what precision, as :func:`resolve_placement` decides it."""

    device: Any  # torch.device
    dtype: str  # one of DTYPES

    @property
    def torch_dtype(self):
        return torch_dtype(self.dtype)


def resolve_placement(device: Any = "auto", dtype: str = "auto") -> Placement:
    """The one place where ``device="auto"`` and ``dtype="auto"`` are decided.

    ``device="auto"`` picks CUDA when present (under a launcher, the process's own GPU: ``LOCAL_RANK``), else the
    CPU; anything else is passed to torch (None: the CPU). ``dtype="auto"`` is bfloat16 where :func:`native_bf16` on
    that device, else float32; any other name is checked and kept. Tags and heads always train in float32.

    Examples
    --------
    >>> resolve_placement("cpu", "float32")
    Placement(device=device(type='cpu'), dtype='float32')
    """
    import torch

    if device is None:
        device = torch.device("cpu")
    elif device == "auto":
        device = _auto_device()
    device = torch.device(device)
    if dtype == "auto":
        dtype = "bfloat16" if native_bf16(device) else "float32"
    elif not isinstance(dtype, str):  # a torch.dtype
        dtype = str(dtype).removeprefix("torch.")
    torch_dtype(dtype)
    return Placement(device, dtype)


def _auto_device():
    import torch

    if not torch.cuda.is_available():
        return torch.device("cpu")
    local = os.environ.get("LOCAL_RANK")
    if local is not None and local.isdigit() and int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return torch.device("cuda", int(local) % torch.cuda.device_count())
    return torch.device("cuda")
