"""Stage 1 as one call: a domain tag learned by next-token prediction on unlabeled sequences."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from biotag.domains.tagging import DOMAIN_TAGS, Template
from biotag.tags import TaggedLM, TagSpec
from biotag.training.loop import Example, train_stage
from biotag.training.optimize import History
from biotag.training.stages import stage1

__all__ = ["pretrain_domain_tag"]


def pretrain_domain_tag(
    tlm: TaggedLM,
    sequences: Sequence[str],
    domain: str,
    *,
    tag: str | None = None,
    p: int = 10,
    epochs: int = 1,
    lr: float = 1e-3,
    batch_size: int = 8,
    val_fraction: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train ``tag`` (default: the domain's tag) in ``tlm.library`` on already validated ``sequences``.

    A ``val_fraction`` of the sequences, drawn with ``seed``, is held out for
    the validation loss and early stopping. The library is changed in place.
    """
    if not sequences:
        raise ValueError("stage 1 needs at least one sequence")
    tag = tag or DOMAIN_TAGS[domain]
    tlm.library.ensure_tag(TagSpec(tag, "domain", p=p), tlm.model)
    template = Template((domain,), domain_tags=(tag,))
    examples = [Example(template.build(s)) for s in sequences]
    n_val = int(round(len(examples) * val_fraction))
    order = np.random.default_rng(seed).permutation(len(examples))
    val = [examples[i] for i in order[:n_val]]
    train = [examples[i] for i in order[n_val:]]
    spec = stage1(tag, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return train_stage(tlm, spec, train, val or None, progress=progress)
