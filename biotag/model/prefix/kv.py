"""Where cached keys and values live: one store for many prefixes, and views of one prefix in it.

Every view has ``length`` positions and ``layers()``: per layer ``(keys, values)``, each
(kv_heads, length, head_dim); and, when they were asked for, its domain segments' pooled states
(``pooled``, see :class:`~biotag.heads.readout.Readout`), as frozen as its keys and values.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["PrefixStore", "KVView", "PrefixKV", "FilePrefixKV", "JoinedPrefixKV", "Layers"]

Layers = list[tuple[torch.Tensor, torch.Tensor]]


class PrefixStore:
    """Keys and values of many prefixes, end to end: per layer, (kv_heads, total positions, head_dim).

    Kept in memory, or in a file-backed mapping when they would not fit; the file is unlinked as soon
    as it is mapped, so it disappears with the store.
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor]):
        self.keys, self.values = keys, values

    @classmethod
    def allocate(cls, like: Layers, total: int, spill_dir: str | Path | None) -> "PrefixStore":
        """Room for ``total`` positions shaped like one batch's cache layers ``(B, kv_heads, T, head_dim)``;
        in memory, or (``spill_dir``) in a file there."""

        def empty(t: torch.Tensor) -> torch.Tensor:
            shape = (t.shape[1], total, t.shape[3])
            if spill_dir is None:
                return t.new_empty(shape)
            fd, name = tempfile.mkstemp(prefix="biotag-prefix-", suffix=".bin", dir=spill_dir)
            os.close(fd)
            try:
                flat = torch.from_file(name, shared=True, size=math.prod(shape), dtype=t.dtype)
            finally:
                os.unlink(name)  # the mapping stays valid; the space is freed with the tensor
            return flat.view(shape)

        return cls([empty(k) for k, _ in like], [empty(v) for _, v in like])

    @staticmethod
    def bytes_per_position(like: Layers) -> int:
        return sum(2 * k.shape[1] * k.shape[3] * k.element_size() for k, _ in like)

    def put(self, layers: Layers, row: int, positions: torch.Tensor, at: int) -> None:
        """Copy ``positions`` of batch row ``row`` of cache ``layers`` into the store from position ``at``."""
        span = slice(at, at + len(positions))
        for (k, v), sk, sv in zip(layers, self.keys, self.values):
            sk[:, span] = k[row, :, positions]
            sv[:, span] = v[row, :, positions]


class KVView:
    """A prefix's keys and values, wherever they live: ``layers()``, and each part of them."""

    length: int
    pooled: torch.Tensor | None = None

    def layers(self) -> Layers:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def keys(self) -> list[torch.Tensor]:
        return [k for k, _ in self.layers()]

    @property
    def values(self) -> list[torch.Tensor]:
        return [v for _, v in self.layers()]


@dataclass
class PrefixKV(KVView):
    """One input's prefix: ``length`` positions of a store from ``offset``."""

    store: PrefixStore
    offset: int
    length: int
    pooled: torch.Tensor | None = None

    def layers(self) -> Layers:
        span = slice(self.offset, self.offset + self.length)
        return [(k[:, span], v[:, span]) for k, v in zip(self.store.keys, self.store.values)]


@dataclass
class FilePrefixKV(KVView):
    """One input's prefix left in its :class:`~biotag.model.prefix.PrefixCache` file and read when a batch
    needs it, for prefixes that together would not fit in memory: the cache is their store, so nothing is
    copied."""

    file: Path
    length: int
    pooled: torch.Tensor | None = None

    def layers(self) -> Layers:
        from safetensors import safe_open

        with safe_open(str(self.file), framework="pt") as f:
            return [(f.get_tensor(f"k{i}"), f.get_tensor(f"v{i}")) for i in range(int(f.metadata()["layers"]))]


@dataclass(eq=False)
class JoinedPrefixKV(KVView):
    """A cross-domain prefix kept in two parts: its lead (``<Protein> sequence <SMILES>``), stored once and
    shared by every prefix with the same lead, and the rest (the molecule), stored per prefix.

    DAVIS pairs 379 kinases of about 460 tokens with 68 molecules of about 55: stored whole, its
    prefixes would take 633 GB on the default model; stored this way, 72 GB
    (``benchmarks/results/joined-prefixes/joined_prefixes.py``).
    """

    lead: PrefixKV | FilePrefixKV
    rest: PrefixKV | FilePrefixKV
    pooled: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return self.lead.length + self.rest.length

    def layers(self) -> Layers:
        return [(torch.cat([lk, rk], dim=1), torch.cat([lv, rv], dim=1))
                for (lk, lv), (rk, rv) in zip(self.lead.layers(), self.rest.layers())]
