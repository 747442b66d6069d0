"""biotag: teach general-purpose LLMs chemistry and biology through learned input tags (Tag-LLM)."""

from biotag._version import __version__
from biotag.domains import (
    ProteinFeaturizer,
    SmilesFeaturizer,
    Tag,
    TaggedInput,
    Template,
    Text,
    canonicalize_smiles,
    normalize_protein,
    read_fasta,
)
from biotag.tags import (
    ClassificationHead,
    RegressionHead,
    TaggedLM,
    TagLibrary,
    TagSpec,
    load_base_model,
)
from biotag.training import Example, History, StageSpec, stage1, stage2, stage3, train_stage
from biotag.estimators import TagLLMClassifier, TagLLMRegressor
from biotag.exceptions import (
    CorruptFileError,
    IncompatibleBaseModelError,
    InputIssue,
    InvalidInputError,
    InvalidSequenceError,
    InvalidSmilesError,
)

__all__ = [
    "__version__",
    "SmilesFeaturizer",
    "ProteinFeaturizer",
    "canonicalize_smiles",
    "normalize_protein",
    "read_fasta",
    "Tag",
    "Text",
    "TaggedInput",
    "Template",
    "TagLLMRegressor",
    "TagLLMClassifier",
    "load_base_model",
    "TagLibrary",
    "TagSpec",
    "TaggedLM",
    "RegressionHead",
    "ClassificationHead",
    "StageSpec",
    "stage1",
    "stage2",
    "stage3",
    "Example",
    "History",
    "train_stage",
    "InputIssue",
    "InvalidInputError",
    "InvalidSmilesError",
    "InvalidSequenceError",
    "IncompatibleBaseModelError",
    "CorruptFileError",
]
