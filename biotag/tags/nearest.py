"""Looking inside tags: which vocabulary tokens each tag vector sits closest to."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from biotag.tags.library import TagLibrary

__all__ = ["nearest_tokens"]


@torch.no_grad()
def nearest_tokens(
    library: TagLibrary, model: nn.Module, tokenizer: PreTrainedTokenizerBase, *, k: int = 5
) -> dict[str, list[list[tuple[str, float]]]]:
    """For every tag and each of its ``p`` vectors, the ``k`` nearest vocabulary tokens by cosine similarity.

    Returns ``{tag: [[(token, cosine), ...] per vector]}``.

    Examples
    --------
    >>> near = nearest_tokens(tlm.library, tlm.model, tlm.tokenizer, k=3)["<SMILES>"]
    >>> len(near), len(near[0]), type(near[0][0][0]).__name__  # p vectors, k tokens each, named
    (3, 3, 'str')
    """
    library.check_compatible(model)
    vocab = model.get_input_embeddings().weight.detach().to(torch.float32)  # (V, d)
    vocab = vocab / vocab.norm(dim=1, keepdim=True).clamp(min=1e-12)
    out = {}
    for name in library.specs:
        vectors = library.tags[name].detach().to(vocab)  # (p, d)
        sims = (vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)) @ vocab.T  # (p, V)
        top = sims.topk(k, dim=1)
        out[name] = [
            [(tokenizer.convert_ids_to_tokens(int(i)), round(float(s), 4)) for s, i in zip(vals, idx)]
            for vals, idx in zip(top.values, top.indices)
        ]
    return out
