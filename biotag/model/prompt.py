"""Turning TaggedInputs into padded model inputs with tag slots.

Each row becomes token ids plus, at tag positions, a *slot*: the index of one
tag vector in the flat table of all tag vectors. Rows are left-padded, so the
last real position is the same for every row (needed for generation); position
ids count only real tokens, so a padded row computes exactly what it would
alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from biotag.config import TOKENIZATIONS
from biotag.domains.tagging import Tag, TaggedInput, Text
from biotag.model.batching import left_pad, position_ids

__all__ = ["TOKENIZATIONS", "IGNORE", "EncodedBatch", "PromptEncoder", "pad_id"]

IGNORE = -100


@dataclass
class EncodedBatch:
    input_ids: torch.Tensor  # (B, T) token ids; tag positions hold the pad id
    attention_mask: torch.Tensor  # (B, T) 1 = real, 0 = left padding
    position_ids: torch.Tensor  # (B, T) 0.. over real positions
    tag_slots: torch.Tensor  # (B, T) index into the tag-vector table, -1 for ordinary tokens
    readout: torch.Tensor  # (B,) position of the last vector of the last function tag
    lm_labels: torch.Tensor  # (B, T) next-token target for the position, IGNORE where no loss
    segments: torch.Tensor  # (B, T) index of the domain segment (0, 1, ...) a position belongs to, -1 elsewhere

    def to(self, device: torch.device | str) -> "EncodedBatch":
        return EncodedBatch(**{k: v.to(device) for k, v in vars(self).items()})

    def __len__(self) -> int:
        return self.input_ids.shape[0]


class PromptEncoder:
    """Tokenizes tagged inputs for one tokenizer and one tag layout.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerBase
    tag_offsets : dict
        Tag name -> (first slot, p) in the flat tag table.
    function_tags : set of str
        Tags whose last position is read by heads.
    tokenization : {"model", "char"}
        How domain text (``Text`` with a ``domain``) is tokenized. Plain text
        always uses the model's tokenizer.
    max_length : int, optional
        Longest accepted row, in positions (tokens + tag vectors).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        tag_offsets: dict[str, tuple[int, int]],
        function_tags: set[str],
        *,
        tokenization: str = "model",
        max_length: int | None = None,
    ):
        if tokenization not in TOKENIZATIONS:
            raise ValueError(f"tokenization must be one of {TOKENIZATIONS}, got {tokenization!r}")
        self.tokenizer = tokenizer
        self.tag_offsets = tag_offsets
        self.function_tags = function_tags
        self.tokenization = tokenization
        self.max_length = max_length
        self.pad_id = pad_id(tokenizer)
        self._cache: dict[tuple[str, bool], list[int]] = {}

    def _tokens(self, text: str, as_chars: bool) -> list[int]:
        key = (text, as_chars)
        if key not in self._cache:
            if as_chars:
                ids = [i for ch in text for i in self.tokenizer(ch, add_special_tokens=False)["input_ids"]]
            else:
                ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            self._cache[key] = ids
        return self._cache[key]

    def encode_row(
        self, item: TaggedInput, target_text: str | None = None
    ) -> tuple[list[int], list[int], list[int], int, list[int]]:
        """One row: (ids, slots, labels, readout, segments). Labels mark domain text (stage 1) or the target
        text; segments number the domain texts' positions 0, 1, ... (-1 elsewhere)."""
        ids: list[int] = []
        slots: list[int] = []
        labels: list[int] = []
        segments: list[int] = []
        readout, n_domains = -1, 0
        for seg in item.segments:
            if isinstance(seg, Tag):
                if seg.name not in self.tag_offsets:
                    raise KeyError(f"tag {seg.name} is not in the tag library; known: {sorted(self.tag_offsets)}")
                first, p = self.tag_offsets[seg.name]
                ids += [self.pad_id] * p
                slots += list(range(first, first + p))
                labels += [IGNORE] * p
                segments += [-1] * p
                if seg.name in self.function_tags:
                    readout = len(ids) - 1
            elif isinstance(seg, Text):
                toks = self._tokens(seg.text, as_chars=seg.domain is not None and self.tokenization == "char")
                ids += toks
                slots += [-1] * len(toks)
                # Stage 1: loss only on the domain sequence's tokens.
                labels += toks if seg.domain is not None and target_text is None else [IGNORE] * len(toks)
                segments += [n_domains if seg.domain is not None else -1] * len(toks)
                n_domains += seg.domain is not None
        if target_text is not None:
            # Text tasks: loss only on the answer (and its end-of-sequence token).
            answer = self._tokens(target_text, as_chars=False) + [self.tokenizer.eos_token_id or self.pad_id]
            ids += answer
            slots += [-1] * len(answer)
            labels += answer
            segments += [-1] * len(answer)
        if readout < 0:
            readout = len(ids) - 1
        return ids, slots, labels, readout, segments

    def check_lengths(self, items: Sequence[TaggedInput], what: str = "X") -> None:
        """Refuse, before any computing, inputs over ``max_length`` positions: one error naming each by its index
        in ``items`` (an error raised batch by batch could only name its row within the batch)."""
        if self.max_length is None:
            return
        over = [(i, n) for i, item in enumerate(items) if (n := len(self.encode_row(item)[0])) > self.max_length]
        if over:
            shown = "; ".join(f"row {i}: {n} positions ({str(items[i])[:60]!r})" for i, n in over[:10])
            more = f" and {len(over) - 10} more" if len(over) > 10 else ""
            raise ValueError(f"{len(over)} row(s) of {what} longer than max_length={self.max_length} positions (tokens "
                             f"+ tag vectors): {shown}{more}. Shorten them or raise max_length.")

    def encode(self, items: Sequence[TaggedInput], target_texts: Sequence[str] | None = None) -> EncodedBatch:
        """Encode and left-pad a batch."""
        rows = []
        for i, item in enumerate(items):
            row = self.encode_row(item, None if target_texts is None else target_texts[i])
            if self.max_length is not None and len(row[0]) > self.max_length:
                raise ValueError(
                    f"row {i} is {len(row[0])} positions long (tokens + tag vectors), over max_length="
                    f"{self.max_length}: {str(item)[:80]!r}. Shorten the input or raise max_length."
                )
            if not row[0]:
                raise ValueError(f"row {i} encodes to nothing: {item!r}")
            rows.append(row)
        T = max(len(r[0]) for r in rows)
        input_ids, mask = left_pad([r[0] for r in rows], self.pad_id)
        slots, _ = left_pad([r[1] for r in rows], -1)
        labels, _ = left_pad([r[2] for r in rows], IGNORE)
        readout = torch.tensor([T - len(r[0]) + r[3] for r in rows], dtype=torch.long)
        segments, _ = left_pad([r[4] for r in rows], -1)
        return EncodedBatch(input_ids, mask, position_ids(mask), slots, readout, labels, segments)


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id biotag pads with (and puts at tag positions): the tokenizer's pad token, else its end of
    sequence, else its unknown token, else 0."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id):
        if candidate is not None:
            return int(candidate)
    return 0
