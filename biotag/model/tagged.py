"""A frozen causal LM with tags spliced into its input embeddings."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase

from biotag.domains.tagging import TaggedInput
from biotag.backbone.attention import grouped_attention
from biotag.backbone.load import freeze
from biotag.tags.library import TagLibrary
from biotag.model.batching import batch_order, lead_batches
from biotag.backbone.compat import cache_layers, output_cache, with_cache
from biotag.model.prompt import IGNORE, EncodedBatch, PromptEncoder
from biotag.heads.readout import Readout, pool_segments
from biotag.parallel import map_rows
from biotag.progress import progress_bar

__all__ = ["TaggedLM", "shared_lead"]


def shared_lead(batch: EncodedBatch, *, min_length: int = 4) -> int:
    """How many leading real positions all rows share (same token or tag vector, same position id).

    Capped so that every row keeps its readout position outside the lead; 0 when
    there is a single row or fewer than ``min_length`` shared positions.
    """
    B, T = batch.input_ids.shape
    if B < 2:
        return 0
    starts = T - batch.attention_mask.sum(dim=1)  # first real column of each row
    limit = int((batch.readout - starts).min())  # the lead stops before any row's readout
    if limit < min_length:
        return 0
    cols = starts[:, None] + torch.arange(limit, device=starts.device)[None]
    ids, slots = batch.input_ids.gather(1, cols), batch.tag_slots.gather(1, cols)
    same = ((ids == ids[:1]) & (slots == slots[:1])).all(dim=0)
    k = int(same.long().cumprod(dim=0).sum())
    return k if k >= min_length else 0


class TaggedLM:
    """Base model + tokenizer + tag library: encode, run, read out.

    The base model is not part of the library (which holds only what trains);
    it is frozen here once more in case the caller loaded it themselves.

    Parameters
    ----------
    model : PreTrainedModel
        Any Hugging Face causal LM.
    tokenizer : PreTrainedTokenizerBase
    library : TagLibrary
        Must hold every tag the inputs use.
    tokenization : {"model", "char"}, default="model"
        Tokenization of domain sequences (see :class:`~biotag.model.prompt.PromptEncoder`).
    max_length : int, optional
        Longest row in positions; default the model's ``max_position_embeddings``.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        library: TagLibrary,
        *,
        tokenization: str = "model",
        max_length: int | None = None,
    ):
        self.model = freeze(model)
        self.tokenizer = tokenizer
        self.library = library
        self.tokenization = tokenization
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", None)
        library.check_compatible(model)

    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    def encoder(self) -> PromptEncoder:
        """The prompt encoder for the library's current tags.

        Kept between calls so its tokenization cache survives from batch to batch
        and epoch to epoch; rebuilt only when the tag layout changes.
        """
        layout = tuple((name, spec.p, spec.kind) for name, spec in self.library.specs.items())
        if getattr(self, "_encoder_layout", None) != layout:
            offsets, first = {}, 0
            for name, p, _ in layout:
                offsets[name] = (first, p)
                first += p
            functions = {name for name, _, kind in layout if kind == "function"}
            self._encoder = PromptEncoder(
                self.tokenizer, offsets, functions, tokenization=self.tokenization, max_length=self.max_length
            )
            self._encoder_layout = layout
        return self._encoder

    def encode(self, items: Sequence[TaggedInput], target_texts: Sequence[str] | None = None) -> EncodedBatch:
        return self.encoder().encode(items, target_texts).to(self.device)

    def tag_table(self) -> torch.Tensor:  # (sum of p, d), in library order; differentiable
        return torch.cat([self.library.tags[name] for name in self.library.specs], dim=0)

    def embed(self, batch: EncodedBatch) -> torch.Tensor:  # (B, T, d)
        embeds = self.model.get_input_embeddings()(batch.input_ids)
        is_tag = batch.tag_slots >= 0
        if is_tag.any():
            table = self.tag_table().to(embeds.dtype)
            vectors = table[batch.tag_slots.clamp(min=0)]  # (B, T, d)
            embeds = torch.where(is_tag.unsqueeze(-1), vectors, embeds)
        return embeds

    def forward_shared_lead(self, batch: EncodedBatch, *, use_cache: bool = False, pool: Readout | None = None):
        """The transformer (no LM head) over ``batch``, with its shared lead computed once.

        Rows that begin with the same tokens or tag vectors (a domain tag, in every
        tagged prompt) have identical keys and values there: left padding gives each
        row's first real position the id 0. The lead of ``k`` positions runs once, for
        one row; the rest of every row attends to it through the cache, exactly as in
        the full forward. Returns ``(output, k, pooled)``: ``output`` covers the batch's last
        ``T - k`` columns (with ``use_cache``, its cache holds the lead's ``k``
        positions followed by those columns); ``pooled`` is the domain segments pooled as
        ``pool`` says (:func:`~biotag.heads.readout.pool_segments`), or None.
        """
        with grouped_attention(self.model):
            return self._forward_shared_lead(batch, use_cache, pool if pool is not None and pool.pools else None)

    def _forward_shared_lead(self, batch: EncodedBatch, use_cache: bool, pool: Readout | None):
        embeds = self.embed(batch)
        k = shared_lead(batch)
        states = pool is not None
        if k == 0:
            out = self.model.base_model(
                inputs_embeds=embeds, attention_mask=batch.attention_mask,
                position_ids=batch.position_ids, use_cache=use_cache, output_hidden_states=states,
            )
            return out, 0, pool_segments([(out.hidden_states, batch.segments)], pool) if states else None
        B, T = batch.input_ids.shape
        first = T - int(batch.attention_mask[0].sum())  # row 0's first real column
        lead_out = self.model.base_model(
            inputs_embeds=embeds[:1, first : first + k],
            position_ids=torch.arange(k, device=embeds.device)[None],
            use_cache=True, output_hidden_states=states,
        )
        cache = DynamicCache([(key.expand(B, -1, -1, -1), value.expand(B, -1, -1, -1))
                              for key, value in cache_layers(output_cache(lead_out))])
        lengths = batch.attention_mask.sum(dim=1, keepdim=True)
        # Column j of the rest holds original column j + k; it is real when it was real and past the lead.
        rest_mask = (torch.arange(T - k, device=embeds.device)[None] >= T - lengths).long()
        out = self.model.base_model(
            inputs_embeds=embeds[:, k:],
            attention_mask=torch.cat([rest_mask.new_ones((B, k)), rest_mask], dim=1),
            position_ids=batch.position_ids[:, k:],
            use_cache=True, output_hidden_states=states,
            **with_cache(self.model.base_model, cache),
        )
        if not states:
            return out, k, None
        lead_segments = batch.segments[:1, first : first + k].expand(B, -1)
        rest_segments = batch.segments[:, k:].masked_fill(rest_mask == 0, -1)
        pooled = pool_segments([(lead_out.hidden_states, lead_segments), (out.hidden_states, rest_segments)], pool)
        return out, k, pooled

    def hidden_states(self, batch: EncodedBatch) -> torch.Tensor:  # (B, T, d), final layer, after final norm
        # ``base_model`` is the transformer without the LM head on every HF causal LM:
        # skipping the (vocab x d) projection saves most of the cost when heads read out.
        with grouped_attention(self.model):
            out = self.model.base_model(
                inputs_embeds=self.embed(batch),
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
            )
        return out.last_hidden_state

    def readout(self, batch: EncodedBatch, readout: Readout | None = None) -> torch.Tensor:
        """What a head with ``readout`` (default: the paper's) reads: (B, readout.size(d)) float32."""
        readout = readout or Readout()
        out, k, pooled = self.forward_shared_lead(batch, pool=readout)
        parts = [] if pooled is None else [pooled]
        if readout.tag:
            hidden = out.last_hidden_state
            rows = torch.arange(len(batch), device=hidden.device)
            parts.insert(0, hidden[rows, batch.readout - k].to(torch.float32))
        return torch.cat(parts, dim=1)

    def logits(self, batch: EncodedBatch) -> torch.Tensor:  # (B, T, V)
        with grouped_attention(self.model):
            return self.model(
                inputs_embeds=self.embed(batch),
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
            ).logits

    def lm_loss(self, batch: EncodedBatch) -> torch.Tensor:
        """Next-token cross-entropy on the labelled positions (domain text, or a text answer)."""
        logits = self.logits(batch)[:, :-1].float()  # position t predicts token t + 1
        targets = batch.lm_labels[:, 1:]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)

    def head(self, name: str) -> nn.Module:
        if name not in self.library.heads:
            raise KeyError(f"no head named {name!r} in the library; heads: {sorted(self.library.heads)}")
        return self.library.heads[name]

    @torch.no_grad()
    def predict(self, items: Sequence[TaggedInput], head: str, *, batch_size: int = 32,
                prefix_cache=None) -> torch.Tensor:
        """Head outputs in original units (regression) or probabilities (classification), (N, k).

        Rows are batched by :func:`~biotag.model.batching.batch_order` and
        :func:`~biotag.model.batching.lead_batches` and returned in input order. With ``cache`` (a
        :class:`~biotag.model.prefix.PrefixCache`), the frozen prefixes are read from (or written to) it
        and only the function tag's positions run: the same outputs, to float tolerance.
        """
        if not items:
            raise ValueError("predict needs at least one input")
        gathered = map_rows(lambda mine: self.predict(mine, head, batch_size=batch_size, prefix_cache=prefix_cache),
                            items)  # under a launcher: each process its rows, gathered in input order
        if gathered is not None:
            return torch.stack(gathered)
        if prefix_cache is not None:
            return prefix_cache.predict(self, items, head, batch_size=batch_size)
        encoder = self.encoder()
        order = batch_order(items, [len(encoder.encode_row(item)[0]) for item in items])
        out: list[torch.Tensor | None] = [None] * len(items)
        bar = progress_bar(len(items), "predict")
        for idx in lead_batches(items, order, batch_size):
            batch = encoder.encode([items[i] for i in idx]).to(self.device)
            pred = self.head(head).predict(self.readout(batch, self.head(head).readout)).cpu()
            for row, i in enumerate(idx):
                out[i] = pred[row]
            bar.update(len(idx))
        bar.close()
        return torch.stack(out)  # type: ignore[arg-type]

    @torch.no_grad()
    def generate(self, items: Sequence[TaggedInput], *, max_new_tokens: int = 32, **kwargs) -> list[str]:
        """Decode an answer after each input through the LM head (text tasks)."""
        batch = self.encode(items)
        ids = self.model.generate(
            inputs_embeds=self.embed(batch),
            attention_mask=batch.attention_mask,
            max_new_tokens=max_new_tokens,
            pad_token_id=self.encoder().pad_id,
            do_sample=False,
            **kwargs,
        )
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)
