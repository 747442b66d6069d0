"""Cutting inputs into batches: which rows go together, in what order, and how they are padded.

Rows are left-padded, so the last real position is the same for every row, and position ids count
only real positions, so a padded row computes exactly what it would alone.
"""

from __future__ import annotations

from typing import Sequence

import torch

from biotag.domains.tagging import Tag, TaggedInput, Text

__all__ = ["left_pad", "position_ids", "split_function_tag", "split_lead", "batch_order", "lead_batches"]


def left_pad(rows: Sequence[Sequence[int]], value: int, length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` left-padded with ``value`` to ``length`` (default: the longest): ``(values, mask)``, each (B, T),
    the mask 1 on real positions.

    Examples
    --------
    >>> values, mask = left_pad([[5, 6, 7], [8]], value=0)
    >>> values.tolist(), mask.tolist()
    ([[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]])
    """
    T = max(len(r) for r in rows) if length is None else length
    values = torch.full((len(rows), T), value, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for b, row in enumerate(rows):
        if len(row):
            values[b, T - len(row) :] = torch.as_tensor(list(row), dtype=torch.long)
            mask[b, T - len(row) :] = 1
    return values, mask


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Position ids (B, T) of a left-padded batch: 0, 1, ... over each row's real positions, 0 on padding."""
    return (mask.cumsum(dim=1) - 1).clamp(min=0)


def split_function_tag(item: TaggedInput) -> tuple[TaggedInput, str] | None:
    """``(prefix, function tag)`` if the input ends with a tag, else None."""
    if len(item.segments) < 2 or not isinstance(item.segments[-1], Tag):
        return None
    return TaggedInput(item.segments[:-1]), item.segments[-1].name


def split_lead(prefix: TaggedInput) -> tuple[TaggedInput, TaggedInput] | None:
    """``(lead, rest)`` of a cross-domain input: everything before its last domain sequence, and the rest.

    None for an input with fewer than two domain sequences (single-domain rows share only their tag).
    Segments are tokenized one by one, so the lead's positions are the first positions of the input's.
    """
    texts = [i for i, seg in enumerate(prefix.segments) if isinstance(seg, Text) and seg.domain is not None]
    if len(texts) < 2:
        return None
    return TaggedInput(prefix.segments[: texts[-1]]), TaggedInput(prefix.segments[texts[-1] :])


def batch_order(items: Sequence[TaggedInput], lengths: Sequence[int]) -> list[int]:
    """The order in which to batch ``items``: by length (little padding), with rows that share everything
    before their last domain sequence kept together.

    For cross-domain inputs (``<Protein> seq <SMILES> smiles <Task>``) the rows of one
    protein then fall into the same batches, where :func:`~biotag.model.tagged.shared_lead` computes the
    long protein part once per batch instead of once per row. Single-domain rows share
    only the leading tag, so they are ordered by length alone.
    """
    def lead(item: TaggedInput) -> tuple[str, ...]:
        split = split_lead(item)
        return () if split is None else tuple(str(seg) for seg in split[0].segments)

    return sorted(range(len(items)), key=lambda i: (lead(items[i]), lengths[i]))


def lead_batches(items: Sequence[TaggedInput], order: Sequence[int], batch_size: int) -> list[list[int]]:
    """``order`` (from :func:`batch_order`) cut into batches of at most ``batch_size`` that never mix rows of
    a shared lead with other rows: a batch of one protein computes the protein once (a batch straddling
    two proteins shares only the leading tag and runs both proteins for every row). Rows whose lead no
    other row has, and single-domain rows, fill batches freely."""
    leads = [None if s is None else s[0] for s in map(split_lead, items)]
    counts: dict[TaggedInput | None, int] = {}
    for lead in leads:
        counts[lead] = counts.get(lead, 0) + 1
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1][-1] if batches else None
        new_group = last is not None and leads[i] != leads[last] and max(counts[leads[i]], counts[leads[last]]) > 1
        if last is None or len(batches[-1]) == batch_size or new_group:
            batches.append([])
        batches[-1].append(i)
    return batches
