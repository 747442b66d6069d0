"""Reusing the frozen prefix: the exact fast path for stages 2 and 3.

With the domain tags frozen, everything before the function tag (domain tags
and sequences) is a function of frozen weights only. Under causal attention
its keys and values never change during training, so they are computed once
(no grad) and every training step runs the model on the function tag's ``p``
positions alone, attending to the cached keys/values. The loss and gradients
are those of the full forward, to float tolerance (tests/tags/test_prefix.py).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from transformers import DynamicCache

from biotag.domains.tagging import Tag, TaggedInput, Text
from biotag.tags.prompt import EncodedBatch

__all__ = ["PrefixKV", "PrefixStore", "available_memory", "cache_layers", "split_function_tag", "batch_order",
           "compute_prefixes", "forward_from_prefixes"]


class PrefixStore:
    """Keys and values of many prefixes, end to end: per layer, (kv_heads, total positions, head_dim).

    Kept in memory, or in a file-backed mapping when they would not fit (``spilled``);
    the file is unlinked as soon as it is mapped, so it disappears with the store.
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], spilled: bool = False):
        self.keys, self.values, self.spilled = keys, values, spilled

    @classmethod
    def allocate(cls, like: list[tuple[torch.Tensor, torch.Tensor]], total: int, spill_dir: str | Path | None):
        """Room for ``total`` positions shaped like one batch's cache layers ``(B, kv_heads, T, head_dim)``."""

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

        return cls([empty(k) for k, _ in like], [empty(v) for _, v in like], spilled=spill_dir is not None)

    @staticmethod
    def bytes_per_position(like: list[tuple[torch.Tensor, torch.Tensor]]) -> int:
        return sum(2 * k.shape[1] * k.shape[3] * k.element_size() for k, _ in like)


@dataclass
class PrefixKV:
    """One input's prefix: ``length`` positions of a store from ``offset``; per layer (kv_heads, L, head_dim)."""

    store: PrefixStore
    offset: int
    length: int

    @property
    def keys(self) -> list[torch.Tensor]:
        return [k[:, self.offset : self.offset + self.length] for k in self.store.keys]

    @property
    def values(self) -> list[torch.Tensor]:
        return [v[:, self.offset : self.offset + self.length] for v in self.store.values]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable``), or a large number if unknown."""
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


def split_function_tag(item: TaggedInput) -> tuple[TaggedInput, str] | None:
    """``(prefix, function tag)`` if the input ends with a tag, else None."""
    if len(item.segments) < 2 or not isinstance(item.segments[-1], Tag):
        return None
    return TaggedInput(item.segments[:-1]), item.segments[-1].name


def cache_layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    # transformers >= 4.56 keeps ``cache.layers[i].keys``; earlier releases ``key_cache[i]``.
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    if hasattr(cache, "key_cache"):
        return list(zip(cache.key_cache, cache.value_cache))
    return [(k, v) for k, v in cache]  # legacy tuple of (k, v)


def batch_order(items: Sequence[TaggedInput], lengths: Sequence[int]) -> list[int]:
    """The order in which to batch ``items``: by length (little padding), with rows that share everything
    before their last domain sequence kept together.

    For cross-domain inputs (``<Protein> seq <SMILES> smiles <Task>``) the rows of one
    protein then fall into the same batches, where :func:`~biotag.tags.tagged.shared_lead` computes the
    long protein part once per batch instead of once per row. Single-domain rows share
    only the leading tag, so they are ordered by length alone.
    """
    def lead(item: TaggedInput) -> tuple[str, ...]:
        texts = [i for i, seg in enumerate(item.segments) if isinstance(seg, Text) and seg.domain is not None]
        return tuple(str(seg) for seg in item.segments[: texts[-1]]) if len(texts) > 1 else ()

    return sorted(range(len(items)), key=lambda i: (lead(items[i]), lengths[i]))


@torch.no_grad()
def compute_prefixes(
    tlm,
    prefixes: Sequence[TaggedInput],
    *,
    batch_size: int = 16,
    spill_dir: str | Path | None = None,
    memory_fraction: float = 0.5,
) -> list[PrefixKV]:
    """Keys/values of every prefix, computed in :func:`batch_order` batches (little padding, shared leads
    computed once), stored unpadded.

    They stay in memory when they take at most ``memory_fraction`` of the available
    memory, and otherwise go to a file-backed store in ``spill_dir`` (default: the
    system's temporary directory). ``MemoryError`` if the disk cannot hold them either.
    """
    encoder = tlm.encoder()
    lengths = [len(encoder.encode_row(p)[0]) for p in prefixes]
    offsets = [0] * len(prefixes)
    for i in range(1, len(prefixes)):
        offsets[i] = offsets[i - 1] + lengths[i - 1]
    total = sum(lengths)
    order = batch_order(prefixes, lengths)
    store: PrefixStore | None = None
    out: list[PrefixKV | None] = [None] * len(prefixes)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tlm.encode([prefixes[i] for i in idx])
        result, lead = tlm.forward_shared_lead(batch, use_cache=True)
        layers = cache_layers(result.past_key_values)
        if store is None:
            store = PrefixStore.allocate(layers, total, _where(PrefixStore.bytes_per_position(layers) * total,
                                                               spill_dir, memory_fraction))
        T = batch.input_ids.shape[1]
        for row, i in enumerate(idx):
            # The cache holds the shared lead, then the left-padded rest: row i's rest is real from T - lengths[i].
            keep = torch.cat([torch.arange(lead), torch.arange(lead + T - lengths[i], T)]).to(tlm.device)
            span = slice(offsets[i], offsets[i] + lengths[i])
            for (k, v), sk, sv in zip(layers, store.keys, store.values):
                sk[:, span] = k[row, :, keep]
                sv[:, span] = v[row, :, keep]
            out[i] = PrefixKV(store, offsets[i], lengths[i])
    return out  # type: ignore[return-value]


def _where(nbytes: int, spill_dir: str | Path | None, memory_fraction: float) -> str | None:
    """None to keep ``nbytes`` of prefixes in memory, else the directory to spill them to."""
    if nbytes <= memory_fraction * available_memory():
        return None
    directory = str(spill_dir or tempfile.gettempdir())
    free = shutil.disk_usage(directory).free
    if nbytes > 0.9 * free:
        raise MemoryError(
            f"the cached prefixes need {nbytes / 2**30:.1f} GiB: more than {memory_fraction:.0%} of the available "
            f"memory and more than the {free / 2**30:.1f} GiB free in {directory}. Pass spill_dir= a larger disk, "
            "or train without prefix reuse (reuse_prefix=False)."
        )
    warnings.warn(
        f"the cached prefixes need {nbytes / 2**30:.1f} GiB, over {memory_fraction:.0%} of the available memory; "
        f"they go to a file-backed store in {directory} (deleted when training ends)",
        stacklevel=3,
    )
    return directory


def forward_from_prefixes(tlm, prefixes: Sequence[PrefixKV], tag: str) -> torch.Tensor:
    """Final hidden state at the last vector of ``tag`` after each cached prefix: (B, d) float32.

    Prefixes are left-padded to a common length; padding is masked out and
    position ids continue each prefix's own count, exactly as in the full forward.
    """
    device = tlm.device
    B, L = len(prefixes), max(p.length for p in prefixes)
    vectors = tlm.library.tags[tag]  # (p, d), trainable
    n = vectors.shape[0]
    kv = []
    for layer in range(len(prefixes[0].store.keys)):
        k0, v0 = prefixes[0].store.keys[layer], prefixes[0].store.values[layer]
        keys = k0.new_zeros((B, k0.shape[0], L, k0.shape[2]))
        values = v0.new_zeros((B, v0.shape[0], L, v0.shape[2]))
        for b, p in enumerate(prefixes):
            span = slice(p.offset, p.offset + p.length)
            keys[b, :, L - p.length :] = p.store.keys[layer][:, span]
            values[b, :, L - p.length :] = p.store.values[layer][:, span]
        kv.append((keys.to(device), values.to(device)))
    mask = torch.zeros((B, L + n), dtype=torch.long, device=device)
    for b, p in enumerate(prefixes):
        mask[b, L - p.length :] = 1
    lengths = torch.tensor([p.length for p in prefixes], device=device)
    position_ids = lengths[:, None] + torch.arange(n, device=device)[None, :]  # (B, p)
    embeds = vectors.to(tlm.model.dtype).unsqueeze(0).expand(B, -1, -1)  # (B, p, d)
    out = tlm.model.base_model(
        inputs_embeds=embeds,
        attention_mask=mask,
        position_ids=position_ids,
        past_key_values=DynamicCache(kv),
        use_cache=True,
    )
    return out.last_hidden_state[:, -1].to(torch.float32)
