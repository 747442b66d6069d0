"""The tag library an estimator's fit starts from: its domain tags (shipped, yours or fresh) and a new function tag."""

from __future__ import annotations

import os
from typing import Sequence

from biotag.tags import TagLibrary, TagSpec
from biotag.tags.pretrained import PRETRAINED, pretrained_library

__all__ = ["start_library"]


def start_library(model, model_name: str | None, domain_tags: str | os.PathLike | None,
                  domain_tag_names: Sequence[str], function_tag: str, *, p: int, domain_p: int | None) -> TagLibrary:
    """A library for ``model`` holding each of ``domain_tag_names`` and a fresh ``function_tag`` of ``p`` vectors.

    ``domain_tags`` is a saved library that must hold every domain tag, ``"pretrained"`` the tags biotag ships for
    ``model_name`` where it ships some (a domain without one starts fresh; the shipped tags of other domains are
    left out), or None: fresh tags of ``domain_p`` vectors (None: ``p``). A loaded tag keeps its own length.
    """
    shipped = domain_tags == PRETRAINED
    source = pretrained_library(model_name) if shipped else domain_tags
    if source is not None:
        library = TagLibrary.load(source, model)
        if shipped:
            library = library.subset(domain_tag_names)
        missing = [t for t in domain_tag_names if t not in library.specs]
        if missing and not shipped:
            raise ValueError(f"domain_tags library {str(domain_tags)!r} lacks {missing}; it has {list(library.specs)}")
    else:
        library = TagLibrary.for_model(model)
    for tag in domain_tag_names:
        library.ensure_tag(TagSpec(tag, "domain", p=getattr(library.specs.get(tag), "p", domain_p or p)), model)
    if function_tag in library.specs:
        raise ValueError(f"function_tag {function_tag} is already in the domain_tags library; choose another name")
    library.ensure_tag(TagSpec(function_tag, "function", p=p), model)
    return library

