"""Computing frozen prefixes once, and running the function tag after them.

With the domain tags frozen, everything before the function tag (domain tags and sequences) is a
function of frozen weights only. Under causal attention its keys and values never change during
training, so they are computed once (no grad) and every training step runs the model on the function
tag's ``p`` positions alone, attending to the cached keys/values. The loss and gradients are those of
the full forward, to float tolerance (tests/model/prefix/test_compute.py).
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from typing import TYPE_CHECKING, Sequence

import torch
from transformers import DynamicCache

from biotag.config import PREFIX_MEMORY
from biotag.domains.tagging import TaggedInput
from biotag.backbone.attention import grouped_attention
from biotag.model.batching import batch_order, lead_batches, split_function_tag, split_lead
from biotag.backbone.compat import cache_layers, output_cache, with_cache
from biotag.model.prefix.kv import JoinedPrefixKV, KVView, Layers, PrefixKV, PrefixStore
from biotag.heads.readout import Readout
from biotag.model.tagged import TaggedLM
from biotag import hardware
from biotag import progress
from biotag.parallel import map_rows

if TYPE_CHECKING:
    from biotag.model.prefix.cache import PrefixCache

__all__ = ["compute_prefixes", "forward_from_prefixes", "prefix_readout", "shared_prefixes", "predict_from_prefixes"]


class _Layout:
    """Where each prefix goes in one store: each distinct cross-domain lead once, then each prefix's own
    positions (those after its lead)."""

    def __init__(self, tlm: TaggedLM, prefixes: Sequence[TaggedInput]):
        encoder = tlm.encoder()
        self.lengths = [len(encoder.encode_row(p)[0]) for p in prefixes]
        self.leads = [None if s is None else s[0] for s in map(split_lead, prefixes)]
        self.lead_at: dict[TaggedInput, tuple[int, int]] = {}  # lead -> (offset, length)
        total = 0
        for lead in self.leads:
            if lead is not None and lead not in self.lead_at:
                n = len(encoder.encode_row(lead)[0])
                self.lead_at[lead] = (total, n)
                total += n
        self.own_at = []  # per prefix: (offset, length) of its positions after its lead
        for lead, n in zip(self.leads, self.lengths):
            own = n - (0 if lead is None else self.lead_at[lead][1])
            self.own_at.append((total, own))
            total += own
        self.total = total


@torch.no_grad()
def compute_prefixes(
    tlm: TaggedLM,
    prefixes: Sequence[TaggedInput],
    *,
    batch_size: int = 16,
    spill_dir: str | None = None,
    memory_fraction: float = PREFIX_MEMORY,
    pool: Readout | None = None,
) -> list[PrefixKV | JoinedPrefixKV]:
    """Keys/values of every prefix, computed in :func:`~biotag.model.batching.batch_order` batches (little
    padding, shared leads computed once), stored unpadded.

    A cross-domain prefix comes back as a :class:`JoinedPrefixKV`: its lead (see
    :func:`~biotag.model.batching.split_lead`) is stored once for all the prefixes that share it. They stay in
    memory when they take at most ``memory_fraction`` of the available memory, and otherwise go to a
    file-backed store in ``spill_dir`` (default: the system's temporary directory). ``MemoryError`` if the
    disk cannot hold them either. With ``pool`` (a readout that pools), each view also carries its domain
    segments' pooled states (``pooled``, on the CPU), from the same forward.
    """
    layout = _Layout(tlm, prefixes)
    store: PrefixStore | None = None
    lead_kv: dict[TaggedInput, PrefixKV] = {}
    out: list[PrefixKV | JoinedPrefixKV | None] = [None] * len(prefixes)
    bar = progress.progress_bar(len(prefixes), "frozen prefixes")
    for idx in lead_batches(prefixes, batch_order(prefixes, layout.lengths), batch_size):
        batch = tlm.encode([prefixes[i] for i in idx])
        result, shared, pooled = tlm.forward_shared_lead(batch, use_cache=True, pool=pool)
        layers = cache_layers(output_cache(result))
        if store is None:
            nbytes = PrefixStore.bytes_per_position(layers) * layout.total
            store = PrefixStore.allocate(layers, layout.total,
                                         _placement(nbytes, spill_dir, memory_fraction, layers[0][0].device))
        T = batch.input_ids.shape[1]
        for row, i in enumerate(idx):
            # The cache holds the shared lead, then the left-padded rest: row i's rest is real from T - length.
            keep = torch.cat([torch.arange(shared), torch.arange(shared + T - layout.lengths[i], T)]).to(tlm.device)
            lead = layout.leads[i]
            row_pooled = None if pooled is None else pooled[row].cpu()
            if lead is None:
                store.put(layers, row, keep, layout.own_at[i][0])
                out[i] = PrefixKV(store, *layout.own_at[i], pooled=row_pooled)
                continue
            at, n = layout.lead_at[lead]
            if lead not in lead_kv:
                store.put(layers, row, keep[:n], at)
                lead_kv[lead] = PrefixKV(store, at, n)
            store.put(layers, row, keep[n:], layout.own_at[i][0])
            out[i] = JoinedPrefixKV(lead_kv[lead], PrefixKV(store, *layout.own_at[i]), pooled=row_pooled)
        bar.update(len(idx))
    bar.close()
    return out  # type: ignore[return-value]


def _placement(nbytes: int, spill_dir: str | None, memory_fraction: float, device=None) -> str | None:
    """None to keep ``nbytes`` of prefixes in memory (on ``device``, where the store is allocated, so a GPU's
    free memory is the budget there), else the directory to spill them to."""
    if nbytes <= memory_fraction * hardware.available_memory(device):
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


def _padded_cache(prefixes: Sequence[KVView], device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The prefixes' keys/values left-padded to the longest: per layer ``(keys, values)``, each
    (B, kv_heads, L, head_dim). A joined prefix's lead is read once, however many rows share it."""
    L = max(p.length for p in prefixes)
    leads: dict[int, Layers] = {}

    def parts(p: KVView) -> list[Layers]:
        if not isinstance(p, JoinedPrefixKV):
            return [p.layers()]
        if id(p.lead) not in leads:
            leads[id(p.lead)] = p.lead.layers()
        return [leads[id(p.lead)], p.rest.layers()]

    rows = [parts(p) for p in prefixes]
    kv = []
    for layer, (k0, v0) in enumerate(rows[0][0]):
        keys = k0.new_zeros((len(prefixes), k0.shape[0], L, k0.shape[2]))
        values = v0.new_zeros((len(prefixes), v0.shape[0], L, v0.shape[2]))
        for b, p in enumerate(prefixes):
            at = L - p.length
            for part in rows[b]:
                k, v = part[layer]
                keys[b, :, at : at + k.shape[1]], values[b, :, at : at + k.shape[1]] = k, v
                at += k.shape[1]
        kv.append((keys.to(device), values.to(device)))
    return kv


def forward_from_prefixes(tlm: TaggedLM, prefixes: Sequence[KVView], tag: str) -> torch.Tensor:
    """Final hidden state at the last vector of ``tag`` after each cached prefix: (B, d) float32.

    Prefixes are left-padded to a common length; padding is masked out and
    position ids continue each prefix's own count, exactly as in the full forward.
    """
    device = tlm.device
    B, L = len(prefixes), max(p.length for p in prefixes)
    vectors = tlm.library.tags[tag]  # (p, d), trainable
    n = vectors.shape[0]
    kv = _padded_cache(prefixes, device)
    mask = torch.zeros((B, L + n), dtype=torch.long, device=device)
    for b, p in enumerate(prefixes):
        mask[b, L - p.length :] = 1
    lengths = torch.tensor([p.length for p in prefixes], device=device)
    positions = lengths[:, None] + torch.arange(n, device=device)[None, :]  # (B, p)
    embeds = vectors.to(tlm.model.dtype).unsqueeze(0).expand(B, -1, -1)  # (B, p, d)
    with grouped_attention(tlm.model, frozen_past=True):  # the cached keys/values need no gradient
        out = tlm.model.base_model(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **with_cache(tlm.model.base_model, DynamicCache(kv)),
        )
    return out.last_hidden_state[:, -1].to(torch.float32)


def prefix_readout(tlm: TaggedLM, prefixes: Sequence[KVView], head: str) -> torch.Tensor:
    """What ``head`` reads after each cached prefix, as :meth:`TaggedLM.readout` computes it over the whole
    input: the function tag's state (:func:`forward_from_prefixes`) and the prefixes' pooled states. (B, F)."""
    readout = tlm.head(head).readout
    parts = [forward_from_prefixes(tlm, prefixes, head)] if readout.tag else []
    if readout.pools:
        if any(p.pooled is None for p in prefixes):
            raise ValueError(f"head {head} pools the domain segments; compute the prefixes with pool=its readout")
        parts.append(torch.stack([p.pooled for p in prefixes]).to(tlm.device, torch.float32))
    return torch.cat(parts, dim=1)


def shared_prefixes(tlm: TaggedLM, items: Sequence[TaggedInput], *, batch_size: int = 16,
                    prefix_cache: "PrefixCache | None" = None, pool: Readout | None = None) -> list[KVView]:
    """The frozen prefix (before the function tag) of each input; identical prefixes are computed once
    and shared, and with ``prefix_cache`` read from (or written to) disk. With ``pool``, each carries its
    pooled domain segments too."""
    unique: dict[TaggedInput, int] = {}
    for item in items:
        unique.setdefault(split_function_tag(item)[0], len(unique))
    if prefix_cache is not None:
        computed = prefix_cache.prefixes(tlm, list(unique), batch_size=batch_size, pool=pool)
    else:
        computed = compute_prefixes(tlm, list(unique), batch_size=batch_size, pool=pool)
    return [computed[unique[split_function_tag(item)[0]]] for item in items]


@torch.no_grad()
def predict_from_prefixes(tlm: TaggedLM, items: Sequence[TaggedInput], head: str, *, batch_size: int = 32,
                          prefix_cache: "PrefixCache | None" = None) -> torch.Tensor:
    """:meth:`TaggedLM.predict <biotag.tags.TaggedLM.predict>` through the frozen prefixes (read from or
    written to ``prefix_cache``): (N, k). Inputs that do not end with ``head``'s tag take the full forward."""
    if any((split_function_tag(item) or (None, None))[1] != head for item in items):
        return tlm.predict(items, head, batch_size=batch_size)
    gathered = map_rows(lambda mine: predict_from_prefixes(tlm, mine, head, batch_size=batch_size,
                                                           prefix_cache=prefix_cache), items)
    if gathered is not None:  # under a launcher: each process its rows, gathered in input order
        return torch.stack(gathered)
    prefixes = shared_prefixes(tlm, items, batch_size=batch_size, prefix_cache=prefix_cache,
                               pool=tlm.head(head).readout)
    order = sorted(range(len(items)), key=lambda i: prefixes[i].length)
    out: list[torch.Tensor | None] = [None] * len(items)
    bar = progress.progress_bar(len(items), "predict")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        pred = tlm.head(head).predict(prefix_readout(tlm, [prefixes[i] for i in idx], head)).cpu()
        for row, i in enumerate(idx):
            out[i] = pred[row]
        bar.update(len(idx))
    bar.close()
    return torch.stack(out)  # type: ignore[arg-type]
