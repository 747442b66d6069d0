"""The exact fast path for stages 2 and 3: the frozen prefix before the function tag, computed once.

- :mod:`~biotag.model.prefix.kv`: where keys and values live (a store, and views of one prefix in it);
- :mod:`~biotag.model.prefix.compute`: computing prefixes, and running the function tag after them;
- :mod:`~biotag.model.prefix.cache`: :class:`PrefixCache`, prefixes kept on disk between fits;
- :mod:`~biotag.model.prefix.memo`: :class:`~biotag.model.prefix.memo.PrefixMemo`, kept in memory for the fits of one
  learning-rate search.

The core (:class:`~biotag.tags.TaggedLM`) never imports this package: ``TaggedLM.predict(prefix_cache=...)``
hands the work to the cache it is given.
"""

from biotag.model.prefix.cache import PrefixCache
from biotag.model.prefix.compute import (compute_prefixes, forward_from_prefixes, predict_from_prefixes,
                                        prefix_readout, shared_prefixes)
from biotag.model.prefix.kv import FilePrefixKV, JoinedPrefixKV, KVView, PrefixKV, PrefixStore

__all__ = ["PrefixCache", "compute_prefixes", "forward_from_prefixes", "prefix_readout", "predict_from_prefixes",
           "shared_prefixes",
           "KVView", "PrefixKV", "FilePrefixKV", "JoinedPrefixKV", "PrefixStore"]
