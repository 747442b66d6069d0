"""The frozen base model: loading it (in the precision and on the device resolved once, here), its fingerprints,
the attention biotag runs it with, and what differs between transformers releases."""

from biotag.backbone.fingerprint import embedding_fingerprint, embedding_fingerprints, model_digest
from biotag.backbone.load import DEFAULT_MODEL_ID, default_model_path, freeze, load_base_model

__all__ = ["load_base_model", "default_model_path", "freeze", "DEFAULT_MODEL_ID", "embedding_fingerprint",
           "embedding_fingerprints", "model_digest"]
