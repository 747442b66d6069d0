"""Reusing the frozen prefix: the exact fast path for stages 2 and 3.

With the domain tags frozen, everything before the function tag (domain tags
and sequences) is a function of frozen weights only. Under causal attention
its keys and values never change during training, so they are computed once
(no grad) and every training step runs the model on the function tag's ``p``
positions alone, attending to the cached keys/values. The loss and gradients
are those of the full forward, to float tolerance (tests/tags/test_prefix.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import DynamicCache

from biotag.domains.tagging import Tag, TaggedInput
from biotag.tags.prompt import EncodedBatch

__all__ = ["PrefixKV", "split_function_tag", "compute_prefixes", "forward_from_prefixes"]


@dataclass
class PrefixKV:
    """Keys and values of one input's prefix: per layer, (kv_heads, L, head_dim) each."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def length(self) -> int:
        return self.keys[0].shape[1]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)


def split_function_tag(item: TaggedInput) -> tuple[TaggedInput, str] | None:
    """``(prefix, function tag)`` if the input ends with a tag, else None."""
    if len(item.segments) < 2 or not isinstance(item.segments[-1], Tag):
        return None
    return TaggedInput(item.segments[:-1]), item.segments[-1].name


def _layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    # transformers >= 4.56 keeps ``cache.layers[i].keys``; earlier releases ``key_cache[i]``.
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    if hasattr(cache, "key_cache"):
        return list(zip(cache.key_cache, cache.value_cache))
    return [(k, v) for k, v in cache]  # legacy tuple of (k, v)


@torch.no_grad()
def compute_prefixes(tlm, prefixes: Sequence[TaggedInput], *, batch_size: int = 16) -> list[PrefixKV]:
    """Keys/values of every prefix, computed in length-sorted batches (little padding), stored unpadded."""
    encoder = tlm.encoder()
    lengths = [len(encoder.encode_row(p)[0]) for p in prefixes]
    order = sorted(range(len(prefixes)), key=lengths.__getitem__)
    out: list[PrefixKV | None] = [None] * len(prefixes)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tlm.encode([prefixes[i] for i in idx])
        result = tlm.model.base_model(
            inputs_embeds=tlm.embed(batch),
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=True,
        )
        layers = _layers(result.past_key_values)
        T = batch.input_ids.shape[1]
        for row, i in enumerate(idx):
            pad = T - lengths[i]  # left padding: the real positions are the last lengths[i]
            out[i] = PrefixKV(
                keys=[k[row, :, pad:].clone() for k, _ in layers],
                values=[v[row, :, pad:].clone() for _, v in layers],
            )
    return out  # type: ignore[return-value]


def forward_from_prefixes(tlm, prefixes: Sequence[PrefixKV], tag: str) -> torch.Tensor:
    """Final hidden state at the last vector of ``tag`` after each cached prefix: (B, d) float32.

    Prefixes are left-padded to a common length; padding is masked out and
    position ids continue each prefix's own count, exactly as in the full forward.
    """
    device = tlm.device
    B, L = len(prefixes), max(p.length for p in prefixes)
    vectors = tlm.library.tags[tag]  # (p, d), trainable
    n = vectors.shape[0]
    n_layers = len(prefixes[0].keys)
    kv = []
    for layer in range(n_layers):
        k0 = prefixes[0].keys[layer]
        keys = k0.new_zeros((B, k0.shape[0], L, k0.shape[2]))
        values = k0.new_zeros((B, k0.shape[0], L, prefixes[0].values[layer].shape[2]))
        for b, p in enumerate(prefixes):
            keys[b, :, L - p.length :] = p.keys[layer]
            values[b, :, L - p.length :] = p.values[layer]
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
