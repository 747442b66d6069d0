"""The Tag-LLM core: base model loading, tags, heads, prompt assembly, tag libraries."""

from biotag.tags.base import DEFAULT_MODEL_ID, default_model_path, embedding_fingerprint, freeze, load_base_model
from biotag.tags.heads import ClassificationHead, RegressionHead, build_head
from biotag.tags.library import DEFAULT_P, TagLibrary, TagSpec, init_tag_vector
from biotag.tags.prompt import TOKENIZATIONS, EncodedBatch, PromptEncoder
from biotag.tags.tagged import TaggedLM, shared_lead

__all__ = [
    "load_base_model", "default_model_path", "embedding_fingerprint", "freeze", "DEFAULT_MODEL_ID",
    "RegressionHead", "ClassificationHead", "build_head",
    "TagLibrary", "TagSpec", "init_tag_vector", "DEFAULT_P",
    "PromptEncoder", "EncodedBatch", "TOKENIZATIONS", "TaggedLM", "shared_lead",
]
