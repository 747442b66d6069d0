"""Domain featurizers: validate, canonicalize and tag SMILES and protein sequences."""

from biotag.domains._base import ValidatedColumn, validated_domain
from biotag.domains.protein import (
    NONSTANDARD_RESIDUES,
    STANDARD_RESIDUES,
    ProteinFeaturizer,
    normalize_protein,
    read_fasta,
)
from biotag.domains.smiles import SmilesFeaturizer, canonicalize_smiles, quiet_rdkit
from biotag.domains.tagging import DOMAIN_TAGS, Tag, TaggedInput, Template, Text

__all__ = [
    "ValidatedColumn",
    "validated_domain",
    "SmilesFeaturizer",
    "ProteinFeaturizer",
    "canonicalize_smiles",
    "normalize_protein",
    "read_fasta",
    "quiet_rdkit",
    "STANDARD_RESIDUES",
    "NONSTANDARD_RESIDUES",
    "Tag",
    "Text",
    "TaggedInput",
    "Template",
    "DOMAIN_TAGS",
]
