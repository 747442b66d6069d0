"""Grouped-query attention without copying keys and values per query head.

Models with fewer key/value heads than query heads (grouped-query attention: SmolLM2, Llama 3,
Mistral, Qwen) share each key/value head among several query heads. Given an attention mask,
transformers' ``sdpa`` attention copies every key/value head once per query head (``repeat_kv``)
before calling :func:`torch.nn.functional.scaled_dot_product_attention`. When a few trainable tag
vectors attend to a long cached prefix, that copy and, in the backward pass, the sum back over the
copies dominate the step: for a DAVIS pair (about 600 cached positions, 10 tag vectors) they take
most of its time on a CPU. PyTorch 2.5 and later groups the heads inside the kernel
(``enable_gqa=True``) with a mask, which gives the same result without the copies.

:func:`grouped_attention` switches a model to that attention for the length of a ``with`` block and
puts its own setting back afterwards. Models without grouped heads, models on a fused attention
implementation (flash, flex) and older PyTorch are left as they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from packaging.version import Version

NAME = "biotag_grouped_sdpa"
# Both compute softmax(q k^T * scale + mask) v; eager is what transformers < 4.51 picks for GGUF models.
_REPLACES = ("sdpa", "eager")
_TORCH_HAS_GQA = Version(torch.__version__.split("+")[0]) >= Version("2.5")


def grouped_sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                 is_causal: bool | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: (B, heads, q, d) queries, (B, kv_heads, k, d) keys/values."""
    q_length, kv_length = query.shape[2], key.shape[2]
    if attention_mask is not None:
        attention_mask = attention_mask[:, :, :, :kv_length]
    elif q_length > 1 and (is_causal if is_causal is not None else getattr(module, "is_causal", True)):
        # Queries are the last q_length positions; SDPA's own is_causal aligns them to the first.
        attention_mask = torch.ones(q_length, kv_length, dtype=torch.bool, device=query.device).tril(
            kv_length - q_length)
    out = F.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling,
        enable_gqa=key.shape[1] != query.shape[1],
    )
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    try:
        from transformers import AttentionInterface
    except ImportError:  # transformers < 4.51 keeps a plain dict
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        ALL_ATTENTION_FUNCTIONS.setdefault(NAME, grouped_sdpa)
        return
    AttentionInterface.register(NAME, grouped_sdpa)
    try:  # transformers >= 4.53 builds masks per implementation; ours takes sdpa's masks
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
    except ImportError:
        return
    AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def _applies(model) -> bool:
    config = getattr(model, "config", None)
    if config is None or not _TORCH_HAS_GQA or getattr(config, "_attn_implementation", None) not in _REPLACES:
        return False
    heads = getattr(config, "num_attention_heads", None)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return bool(heads) and kv_heads < heads


@contextlib.contextmanager
def grouped_attention(model) -> Iterator[None]:
    """Within the block, ``model`` runs grouped-query attention without per-head key/value copies."""
    if not _applies(model):
        yield
        return
    _register()
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before


def attention_used(model) -> str | None:
    """The attention implementation ``model`` runs under :func:`grouped_attention` (keys of cached prefixes)."""
    return NAME if _applies(model) else getattr(getattr(model, "config", None), "_attn_implementation", None)
