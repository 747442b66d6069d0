"""Frozen prefixes kept in memory between the fits of one process: an estimator's learning-rate search."""

from __future__ import annotations

import hashlib
from typing import Sequence

from biotag.config import PREFIX_MEMORY
from biotag.domains.tagging import TaggedInput
from biotag.model.prefix import compute
from biotag.model.prefix.kv import KVView
from biotag.heads.readout import Readout
from biotag.model.tagged import TaggedLM

__all__ = ["PrefixMemo"]


class PrefixMemo:
    """Like :class:`~biotag.model.prefix.PrefixCache`, but in memory and for one process's fits: each prefix is
    computed the first time a fit asks for it and handed out again to later fits, as long as the base model, its
    encoding and the frozen tags' vectors are the same (they are part of the key).

    It keeps what it computed for as long as it lives, so it belongs to one ``fit``; the memory is what one fit's
    prefixes take anyway.
    """

    def __init__(self):
        self._kept: dict[tuple, dict[TaggedInput, KVView]] = {}

    @staticmethod
    def _key(tlm: TaggedLM, prefixes: Sequence[TaggedInput], pool: Readout | None) -> tuple:
        h = hashlib.sha256()
        for name in sorted({t for p in prefixes for t in p.tags}):
            h.update(name.encode())
            h.update(tlm.library.tags[name].detach().to("cpu").float().contiguous().numpy().tobytes())
        return id(tlm.model), tlm.tokenization, tlm.max_length, pool, h.hexdigest()

    def prefixes(self, tlm: TaggedLM, prefixes: Sequence[TaggedInput], *, batch_size: int = 16,
                 memory_fraction: float = PREFIX_MEMORY, pool: Readout | None = None) -> list[KVView]:
        """As :meth:`PrefixCache.prefixes <biotag.model.prefix.PrefixCache.prefixes>`: the kept ones handed out,
        the others computed (:func:`~biotag.model.prefix.compute_prefixes`) and kept."""
        pool = pool if pool is not None and pool.pools else None
        kept = self._kept.setdefault(self._key(tlm, prefixes, pool), {})
        missing = [p for p in dict.fromkeys(prefixes) if p not in kept]
        if missing:
            kept.update(zip(missing, compute.compute_prefixes(tlm, missing, batch_size=batch_size,
                                                              memory_fraction=memory_fraction, pool=pool)))
        return [kept[p] for p in prefixes]
