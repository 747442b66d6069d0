"""biotag: teach general-purpose LLMs chemistry and biology through learned input tags (Tag-LLM).

The public names below load on first use (PEP 562), so ``import biotag`` and a command that only validates
SMILES do not pay for torch and transformers; ``from biotag import TagLLMRegressor`` imports what it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from biotag._version import __version__

# Each public name and the module that defines it.
_PUBLIC: dict[str, str] = {
    **dict.fromkeys(["SmilesFeaturizer", "ProteinFeaturizer", "canonicalize_smiles", "normalize_protein",
                     "read_fasta", "Tag", "Text", "TaggedInput", "Template"], "biotag.domains"),
    **dict.fromkeys(["TagLLMRegressor", "TagLLMClassifier"], "biotag.estimators"),
    "TagLLMConfig": "biotag.config",
    "load_base_model": "biotag.backbone",
    **dict.fromkeys(["TagLibrary", "TagSpec"], "biotag.tags"),
    "TaggedLM": "biotag.model",
    **dict.fromkeys(["RegressionHead", "ClassificationHead"], "biotag.heads"),
    **dict.fromkeys(["StageSpec", "stage1", "stage2", "stage3", "Example", "History", "train_stage"],
                    "biotag.training"),
    **dict.fromkeys(["InputIssue", "InvalidInputError", "InvalidSmilesError", "InvalidSequenceError",
                     "IncompatibleBaseModelError", "CorruptFileError"], "biotag.exceptions"),
}
_SUBPACKAGES = ("backbone", "benchmark", "checks", "cli", "config", "data", "demo", "domains", "estimators",
                "exceptions", "files", "hardware", "heads", "model", "parallel", "progress", "protocol", "tags",
                "training")

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC) | set(_SUBPACKAGES))


if TYPE_CHECKING:  # for type checkers and editors; nothing is imported at run time
    from biotag.domains import (ProteinFeaturizer, SmilesFeaturizer, Tag, TaggedInput, Template, Text,
                                canonicalize_smiles, normalize_protein, read_fasta)
    from biotag.estimators import TagLLMClassifier, TagLLMRegressor
    from biotag.exceptions import (CorruptFileError, IncompatibleBaseModelError, InputIssue, InvalidInputError,
                                   InvalidSequenceError, InvalidSmilesError)
    from biotag.heads import ClassificationHead, RegressionHead
    from biotag.model import TaggedLM
    from biotag.tags import TagLibrary, TagSpec
    from biotag.backbone import load_base_model
    from biotag.config import TagLLMConfig
    from biotag.training import Example, History, StageSpec, stage1, stage2, stage3, train_stage
