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
    "InputIssue",
    "InvalidInputError",
    "InvalidSmilesError",
    "InvalidSequenceError",
    "IncompatibleBaseModelError",
    "CorruptFileError",
]
