"""Utilities every layer of biotag shares: atomic writes, digests, the cache folder, memory, precisions.

This module sits below every subpackage and imports none of them, so any of them may use it.
torch is imported only by the functions that need it.
"""

from __future__ import annotations

import contextvars
import hashlib
import math
import os
import platform
import resource
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["atomic_path", "atomic_write_text", "sha256_file", "model_digest", "cache_root", "TensorFiles",
           "available_memory", "peak_rss_mb", "showing_progress", "progress_bar", "DTYPES", "DTYPE_CHOICES", "torch_dtype", "cpu_flags", "cpu_description", "native_bf16", "resolve_device",
           "resolve_dtype", "is_missing", "check_fraction"]

#: The precisions a frozen base model can be held in, by name.
DTYPES = ("float32", "bfloat16", "float16")
#: What a user may ask for: a precision, or ``"auto"`` (bfloat16 where the hardware runs it natively).
DTYPE_CHOICES = ("auto",) + DTYPES
#: CPU flags of native bfloat16 arithmetic (AVX512-BF16, AMX). Without them torch emulates bf16 matmuls,
#: about 7x slower than float32 on the default model.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


# ---- files -----------------------------------------------------------------------------------------------

@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file beside ``path`` to write; it replaces ``path`` in one step when the block ends.

    A reader never sees half a file, and a write that fails leaves the old file (or none) in place.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "numbers.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("1 2 3")
    >>> target.read_text()
    '1 2 3'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(name)
        os.replace(name, path)
    finally:
        if os.path.exists(name):
            os.unlink(name)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 22) -> str:
    """The SHA-256 of a file's bytes, read in chunks (hex)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_digest(model: Any, *, sample: int | None = 1024) -> str:
    """The SHA-256 (hex) of a torch model's identity: its config (if it has one), every tensor's name, shape
    and dtype, and its values: all of them (``sample=None``), or the first and last ``sample`` of each
    (cheap even for a 7B model, and enough to tell checkpoints apart)."""
    import torch

    digest = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_json_string"):
        digest.update(config.to_json_string(use_diff=False).encode())
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
            flat = tensor.detach().reshape(-1)
            if sample is not None and flat.numel() > 2 * sample:
                flat = torch.cat([flat[:sample], flat[-sample:]])
            digest.update(flat.to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_root() -> Path:
    """Where biotag keeps what it can rebuild: ``$BIOTAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/biotag``,
    else ``~/.cache/biotag``."""
    if os.environ.get("BIOTAG_CACHE_DIR"):
        return Path(os.environ["BIOTAG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "biotag"


class TensorFiles:
    """Tensors kept on disk under string keys, one safetensors file per key (``folder/ab/abcd....safetensors``),
    each written atomically with string metadata. What the caches of frozen features (prefixes, probe
    features) share: a file that cannot be read is reported as missing, and its caller recomputes it.

    Examples
    --------
    >>> import tempfile, torch
    >>> files = TensorFiles(tempfile.mkdtemp())
    >>> files.write("CCO", {"h": torch.ones(3)}, {"input": "CCO"})
    >>> files.read("CCO")[0]["h"].tolist(), files.read("CCO")[1]["input"], files.read("CCN")
    ([1.0, 1.0, 1.0], 'CCO', None)
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    def file(self, key: str) -> Path:
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.folder / name[:2] / f"{name}.safetensors"

    def write(self, key: str, tensors: dict, metadata: dict[str, str]) -> None:
        """Write ``tensors`` under ``key``."""
        self.write_file(self.file(key), tensors, metadata)

    @staticmethod
    def write_file(file: Path, tensors: dict, metadata: dict[str, str]) -> None:
        """Write ``tensors`` (each copied to its own contiguous CPU storage) to ``file``, atomically."""
        import torch
        from safetensors.torch import save_file

        own = {name: t.detach().to("cpu").clone(memory_format=torch.contiguous_format) for name, t in tensors.items()}
        with atomic_path(file) as tmp:  # a reader never sees half a file
            save_file(own, str(tmp), metadata=metadata)

    def read(self, key: str) -> tuple[dict, dict[str, str]] | None:
        """``(tensors, metadata)`` stored under ``key``, or None if there is none or it cannot be read."""
        from safetensors import safe_open

        file = self.file(key)
        if not file.is_file():
            return None
        try:
            with safe_open(str(file), framework="pt") as handle:
                return {name: handle.get_tensor(name) for name in handle.keys()}, handle.metadata() or {}
        except Exception:  # noqa: BLE001 - an unreadable file is recomputed, never trusted
            return None


# ---- memory ----------------------------------------------------------------------------------------------

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


# ---- progress --------------------------------------------------------------------------------------------

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


# ---- values ----------------------------------------------------------------------------------------------

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


def resolve_device(device: str):
    """``"auto"`` picks CUDA when present (under a launcher, the process's own GPU: ``LOCAL_RANK``), else CPU;
    anything else is passed to torch."""
    import torch

    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        local = os.environ.get("LOCAL_RANK")
        if local is not None and local.isdigit() and int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
            return torch.device("cuda", int(local) % torch.cuda.device_count())
        return torch.device("cuda")
    return torch.device(device)


def resolve_dtype(name: str, device) -> str:
    """The precision a frozen base model is held in on ``device``: ``"auto"`` is bfloat16 where
    :func:`native_bf16`, else float32; any other name is checked and kept.

    >>> import torch
    >>> resolve_dtype("float32", torch.device("cpu"))
    'float32'
    """
    if name == "auto":
        return "bfloat16" if native_bf16(device) else "float32"
    torch_dtype(name)
    return name


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' missing markers.

    Examples
    --------
    >>> [is_missing(v) for v in (None, float("nan"), "", 0)]
    [True, True, False, False]
    """
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    pandas = sys.modules.get("pandas")  # only pandas makes its markers; no need to import it to check
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


def check_fraction(value: float, name: str) -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless it is a share between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)
