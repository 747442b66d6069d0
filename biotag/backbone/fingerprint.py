"""Fingerprints of a base model: what tag libraries and caches record, so that nothing trained or computed on one
model is used on another."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["embedding_fingerprint", "embedding_fingerprints", "model_digest"]


def embedding_fingerprint(model: PreTrainedModel) -> str:
    """SHA-256 (first 16 hex digits) of the input-embedding matrix, in float32.

    Tag libraries record it, so tags are never loaded onto a model whose
    embedding space they were not trained in.
    """
    return _fingerprint(model.get_input_embeddings().weight)


#: The precisions a model's weights can be rounded to exactly, by the precision they are held in.
_ROUNDINGS = {torch.float32: (torch.float32, torch.bfloat16, torch.float16), torch.bfloat16: (torch.bfloat16,),
              torch.float16: (torch.float16,)}


def embedding_fingerprints(model: PreTrainedModel) -> dict[str, str]:
    """The embedding fingerprint at the model's own precision and at each lower one it rounds to
    (a float32 model: float32, bfloat16 and float16), keyed by dtype name.

    The same model loaded in float32 and in bfloat16 shares the ``bfloat16`` entry (loading in a
    lower precision rounds exactly as ``Tensor.to`` does), so tags trained on one load onto the other.
    """
    weight = model.get_input_embeddings().weight
    return {str(d).removeprefix("torch."): _fingerprint(weight.to(d))
            for d in _ROUNDINGS.get(weight.dtype, (weight.dtype,))}


def _fingerprint(weight: torch.Tensor) -> str:
    values = weight.detach().to("cpu", torch.float32).contiguous()
    return hashlib.sha256(values.numpy().tobytes()).hexdigest()[:16]


def model_digest(model: Any, *, sample: int | None = 1024) -> str:
    """The SHA-256 (hex) of a torch model's identity: its config (if it has one), every tensor's name, shape
    and dtype, and its values: all of them (``sample=None``), or the first and last ``sample`` of each
    (cheap even for a 7B model, and enough to tell checkpoints apart)."""
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
