"""The tagged model: tags spliced into a frozen LLM's input embeddings (:class:`TaggedLM`), prompt assembly,
batching, and the exact prefix fast path (:mod:`biotag.model.prefix`)."""

from biotag.model.prompt import TOKENIZATIONS, EncodedBatch, PromptEncoder
from biotag.model.tagged import TaggedLM, shared_lead

__all__ = ["TaggedLM", "shared_lead", "PromptEncoder", "EncodedBatch", "TOKENIZATIONS"]
