"""Files biotag writes and keeps: atomic writes, digests of files, the cache folder, tensors on disk by key.

This module sits below every subpackage and imports none of them; torch is imported only where needed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "atomic_write_text", "sha256_file", "cache_root", "TensorFiles"]

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
