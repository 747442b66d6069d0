"""Grouped-query attention without copying keys and values per query head.

Models with fewer key/value heads than query heads (grouped-query attention: SmolLM2, Llama 3,
Mistral, Qwen) share each key/value head among several query heads. Given an attention mask,
transformers' ``sdpa`` and ``eager`` attention copy every key/value head once per query head
(``repeat_kv``) first. When a few trainable tag vectors attend to a long cached prefix, that copy
and, in the backward pass, the sum back over the copies dominate the step: for a DAVIS pair (about
600 cached positions, 10 tag vectors) they take most of its time on a CPU.

Two replacements, each computing softmax(q k^T * scale + mask) v as the model's own attention does:

- ``grouped_sdpa`` (any forward): PyTorch's fused kernel with the heads grouped inside it
  (``enable_gqa=True``, PyTorch 2.5 and later).
- ``frozen_past_attention`` (a step from cached prefixes): the query heads of one key/value head
  are stacked as rows of one product, and everything before the queries' own positions, a cached
  prefix that nothing trains, is detached: the backward pass computes no gradient for its keys and
  values, only for the queries and the queries' own keys/values. The fused kernel's backward
  computes those gradients whether they are needed or not, which in bfloat16 on a CPU takes most of
  the step.

:func:`grouped_attention` switches a model to one of them for the length of a ``with`` block and
puts its own setting back afterwards. Models without grouped heads, models on a fused attention
implementation (flash, flex) and older PyTorch are left as they are.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from packaging.version import Version

NAME = "biotag_grouped_sdpa"
FROZEN_PAST = "biotag_frozen_past"
# Both compute softmax(q k^T * scale + mask) v; eager is what transformers < 4.51 picks for GGUF models.
_REPLACES = ("sdpa", "eager")
_TORCH_HAS_GQA = Version(torch.__version__.split("+")[0]) >= Version("2.5")


def _mask(module, attention_mask, q_length: int, kv_length: int, is_causal, device) -> torch.Tensor | None:
    """transformers' mask cut to the keys, or without one a causal (q, k) mask: the queries are the last positions."""
    if attention_mask is not None:
        return attention_mask[:, :, :, :kv_length]
    if q_length > 1 and (is_causal if is_causal is not None else getattr(module, "is_causal", True)):
        return torch.ones(q_length, kv_length, dtype=torch.bool, device=device).tril(kv_length - q_length)[None, None]
    return None


def grouped_sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                 is_causal: bool | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: (B, heads, q, d) queries, (B, kv_heads, k, d) keys/values."""
    # SDPA's own is_causal aligns the queries to the first positions, so causality goes in the mask.
    attention_mask = _mask(module, attention_mask, query.shape[2], key.shape[2], is_causal, query.device)
    out = F.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling,
        enable_gqa=key.shape[1] != query.shape[1],
    )
    return out.transpose(1, 2).contiguous(), None


def frozen_past_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                          is_causal: bool | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """As :func:`grouped_sdpa`, for queries after a cached past that no gradient may reach.

    The keys/values before the queries' own ``q`` positions are detached: use it only where they come
    from a cache computed without gradients (:func:`biotag.model.prefix.forward_from_prefixes`).
    """
    B, H, q, d = query.shape
    kv_heads, kv_length = key.shape[1], key.shape[2]
    group, past = H // kv_heads, kv_length - q
    scale = scaling if scaling is not None else d**-0.5
    # Query head h uses key/value head h // group (repeat_kv's order): a key/value head's queries, stacked.
    stacked = query.reshape(B, kv_heads, group * q, d)
    # Products with the detached keys/values carry no gradient to them; the own positions' gradients come
    # from a second, zero-valued term (x - x.detach() is 0, its gradient the identity), so the big products
    # run on whole contiguous tensors, without slicing out the past.
    k_own, v_own = key[:, :, past:], value[:, :, past:]
    scores = stacked @ key.detach().transpose(-1, -2)
    scores = (scores + F.pad(stacked @ (k_own - k_own.detach()).transpose(-1, -2), (past, 0))) * scale
    attention_mask = _mask(module, attention_mask, q, kv_length, is_causal, query.device)
    if attention_mask is not None:  # (B or 1, 1, q, k): the same for every head; rows repeat per stacked head
        m = attention_mask
        m = m.unsqueeze(2).expand(m.shape[0], m.shape[1], group, q, kv_length).reshape(
            m.shape[0], m.shape[1], group * q, kv_length)
        scores = scores.masked_fill(~m, torch.finfo(scores.dtype).min) if m.dtype == torch.bool else scores + m
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = F.dropout(probs, p=dropout, training=dropout > 0)
    out = probs @ value.detach() + probs[..., past:] @ (v_own - v_own.detach())  # (B, kv_heads, group * q, d)
    return out.reshape(B, H, q, d).transpose(1, 2).contiguous(), None


_FUNCTIONS = {NAME: grouped_sdpa, FROZEN_PAST: frozen_past_attention}


@functools.cache  # once per name: the block is entered on every forward
def _register(name: str) -> None:
    try:
        from transformers import AttentionInterface
    except ImportError:  # transformers < 4.51 keeps a plain dict
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        ALL_ATTENTION_FUNCTIONS.setdefault(name, _FUNCTIONS[name])
        return
    AttentionInterface.register(name, _FUNCTIONS[name])
    try:  # transformers >= 4.53 builds masks per implementation; ours take sdpa's masks
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    except ImportError:
        return
    AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def _applies(model) -> bool:
    config = getattr(model, "config", None)
    if config is None or not _TORCH_HAS_GQA or getattr(config, "_attn_implementation", None) not in _REPLACES:
        return False
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return bool(heads) and kv_heads < heads


@contextlib.contextmanager
def grouped_attention(model, *, frozen_past: bool = False) -> Iterator[None]:
    """Within the block, ``model`` runs grouped-query attention without per-head key/value copies.

    ``frozen_past=True``: every forward in the block runs queries after a cache computed without
    gradients (see :func:`frozen_past_attention`).

    transformers' attention layers read their implementation from the model's config at every forward and take no
    per-call choice, so the block names ours there and puts the model's own back when it ends, however it ends: the
    config a caller sees outside the block is never changed.
    """
    if not _applies(model):
        yield
        return
    name = FROZEN_PAST if frozen_past else NAME
    _register(name)
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = before


def attention_used(model) -> str | None:
    """The attention implementation ``model`` runs under :func:`grouped_attention` (keys of cached prefixes)."""
    return NAME if _applies(model) else getattr(getattr(model, "config", None), "_attn_implementation", None)
