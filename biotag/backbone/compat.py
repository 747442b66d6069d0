"""What differs between the transformers releases biotag runs on (current ones, and the 4.x a PyTDC
environment pins): the name of a forward's key/value cache argument, where a cache keeps its layers, and
the name of ``from_pretrained``'s precision argument."""

from __future__ import annotations

import functools
import inspect

import torch
import transformers
from packaging.version import Version

__all__ = ["with_cache", "output_cache", "cache_layers", "dtype_kwargs"]

# transformers renamed `torch_dtype` to `dtype` in 4.56; PyTDC pins <4.51.
_DTYPE_KW = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def dtype_kwargs(dtype: torch.dtype) -> dict:
    """``from_pretrained``'s precision argument, under the name the installed transformers takes."""
    return {_DTYPE_KW: dtype}


@functools.lru_cache(maxsize=None)
def _takes_cache(forward) -> bool:
    return "cache" in inspect.signature(forward).parameters


def with_cache(model, cache) -> dict:
    """``cache`` as the keyword ``model``'s forward takes: ``cache`` in transformers 5 releases that renamed
    ``past_key_values`` (the old name is removed in 5.40), ``past_key_values`` in earlier ones."""
    return {"cache" if _takes_cache(type(model).forward) else "past_key_values": cache}


def output_cache(output):
    """The key/value cache a forward with ``use_cache=True`` returned, under either release's name."""
    cache = getattr(output, "cache", None)
    return output.past_key_values if cache is None else cache


def cache_layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer ``(keys, values)``, each (B, kv_heads, T, head_dim), of a key/value cache of any release."""
    # transformers >= 4.56 keeps ``cache.layers[i].keys``; earlier releases ``key_cache[i]``.
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    if hasattr(cache, "key_cache"):
        return list(zip(cache.key_cache, cache.value_cache))
    return [(k, v) for k, v in cache]  # legacy tuple of (k, v)
