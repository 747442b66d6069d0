"""The stage-1 domain tags biotag ships for its default model, and where to find them.

They are package data, a few tens of KiB of safetensors + JSON, trained by biotag itself with the command in
``pretrained/README.md`` beside them; the estimators start from them unless told otherwise (``domain_tags``).
"""

from __future__ import annotations

from pathlib import Path

from biotag.backbone.load import DEFAULT_MODEL_ID

__all__ = ["PRETRAINED", "SHIPPED", "pretrained_library"]

#: What an estimator's ``domain_tags`` says to start from the shipped tags (where there are some for its model).
PRETRAINED = "pretrained"
#: The folder of the default model's shipped library.
SHIPPED = Path(__file__).parent / "pretrained" / "smollm2-135m-instruct"


def pretrained_library(model: str | None) -> Path | None:
    """The shipped tag library for ``model`` (None: the default model), or None where biotag ships none."""
    if model not in (None, DEFAULT_MODEL_ID) or not (SHIPPED / "library.json").is_file():
        return None
    return SHIPPED
