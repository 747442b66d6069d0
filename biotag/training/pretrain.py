"""Stage 1 as one call: a domain tag learned by next-token prediction on unlabeled sequences."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from biotag.config import Stage1Config, TagLLMConfig
from biotag.domains import ProteinFeaturizer, SmilesFeaturizer
from biotag.domains.tagging import DOMAIN_TAGS, Template
from biotag.model import TaggedLM
from biotag.tags import TagLibrary, TagSpec
from biotag.backbone import load_base_model
from biotag.training.loop import Example, train_stage
from biotag.training.optimize import History
from biotag.training.stages import stage1

__all__ = ["pretrain_domain_tag", "pretrain_library", "stage1_corpus"]


def pretrain_domain_tag(
    tlm: TaggedLM,
    sequences: Sequence[str],
    domain: str,
    *,
    tag: str | None = None,
    config: Stage1Config = Stage1Config(),
    progress: bool = True,
    **settings: Any,
) -> History:
    """Train ``tag`` (default: the domain's tag) in ``tlm.library`` on already validated ``sequences``, with
    ``config`` (``settings`` replace any of its fields: ``p``, ``epochs``, ``lr``, ``batch_size``, ...).

    A ``val_fraction`` of the sequences, drawn with ``seed``, is held out for
    the validation loss and early stopping. The library is changed in place.
    """
    if not sequences:
        raise ValueError("stage 1 needs at least one sequence")
    config = dataclasses.replace(config, **settings)
    p, seed = config.p, config.seed
    tag = tag or DOMAIN_TAGS[domain]
    tlm.library.ensure_tag(TagSpec(tag, "domain", p=p), tlm.model)
    template = Template((domain,), domain_tags=(tag,))
    examples = [Example(template.build(s)) for s in sequences]
    n_val = int(round(len(examples) * config.val_fraction))
    order = np.random.default_rng(seed).permutation(len(examples))
    val = [examples[i] for i in order[:n_val]]
    train = [examples[i] for i in order[n_val:]]
    spec = stage1(tag, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size, seed=seed)
    return train_stage(tlm, spec, train, val or None, progress=progress)


def stage1_corpus(raw: Sequence[str], domain: str, *, max_samples: int | None = None, seed: int = 0,
                  max_length: int = 1000) -> list[str]:
    """Validated, canonical ``raw`` sequences for stage 1 (an error names every bad row), at most ``max_samples``
    of them drawn with ``seed`` in their order; proteins longer than ``max_length`` are truncated, with a warning.
    """
    featurizer = SmilesFeaturizer() if domain == "smiles" else ProteinFeaturizer(max_length=max_length,
                                                                                  too_long="truncate")
    sequences = list(featurizer.transform(list(raw)))
    if max_samples and len(sequences) > max_samples:
        pick = np.random.default_rng(seed).choice(len(sequences), max_samples, replace=False)
        sequences = [sequences[i] for i in sorted(pick)]
    return sequences


def pretrain_library(
    model: str | None,
    corpora: Mapping[str, Sequence[str]],
    *,
    init: str | Path | None = None,
    tags: Mapping[str, str] | None = None,
    dtype: str = TagLLMConfig.dtype,
    device: str = TagLLMConfig.device,
    tokenization: str = "model",
    progress: bool = True,
    **settings,
) -> tuple[TagLibrary, dict[str, History]]:
    """Stage 1 from a model name: load ``model`` (None: the default) in ``dtype`` on ``device``, start from the
    library at ``init`` (or an empty one), train each domain's tag on its validated corpus (``tags`` renames them;
    ``settings`` go to :func:`pretrain_domain_tag`) and return the library, unsaved, with each domain's history."""
    base, tokenizer = load_base_model(model, dtype=dtype, device=device)
    library = TagLibrary.load(init, base) if init is not None else TagLibrary.for_model(base)
    library.to(base.get_input_embeddings().weight.device)
    tlm = TaggedLM(base, tokenizer, library, tokenization=tokenization)
    histories = {domain: pretrain_domain_tag(tlm, corpus, domain, tag=(tags or {}).get(domain), progress=progress,
                                             **settings)
                 for domain, corpus in corpora.items()}
    return library, histories
