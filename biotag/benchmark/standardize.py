"""Inputs as every LLM model of a benchmark sees them: each column standardized by its domain's featurizer.

One SMILES standardization serves the whole benchmark (the models' inputs, the stage-1 corpora and the
test molecules they must leave out): :class:`~biotag.domains.SmilesFeaturizer`'s defaults.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["standardize_or_none", "standardized_smiles", "first_standardized", "standardized_columns",
           "standardized_text"]


def standardize_or_none(smiles: Sequence[str], *, neutralize: bool = True) -> list[str | None]:
    """Each SMILES standardized, or None where RDKit cannot read it (or read back its standard form)."""
    from biotag.domains import SmilesFeaturizer

    out = SmilesFeaturizer(neutralize=neutralize, errors="nan").transform(list(smiles))
    return [s if isinstance(s, str) else None for s in out]


def standardized_smiles(column: list) -> list[str]:
    """SMILES standardized by :class:`~biotag.domains.SmilesFeaturizer`'s defaults; a valid molecule whose
    neutralization leaves a SMILES RDKit cannot read back (a stabilized carbanion in VDss_Lombardo) keeps
    its charges instead, since a benchmark may not drop a row. Invalid SMILES still raise, naming their rows."""
    out = standardize_or_none(column)
    bad = [i for i, value in enumerate(out) if value is None]
    if bad:
        charged = standardize_or_none([column[i] for i in bad], neutralize=False)
        if any(value is None for value in charged):
            from biotag.domains import SmilesFeaturizer

            SmilesFeaturizer(neutralize=False).transform(column)  # raises, naming every invalid row
        for i, value in zip(bad, charged):
            out[i] = value
    return out  # type: ignore[return-value]


def first_standardized(raw: Sequence[str], n: int | None, *, exclude: set[str] | frozenset[str] = frozenset()
                       ) -> tuple[list[str], int]:
    """The first ``n`` (None: all) distinct standardized SMILES of ``raw``, in order, skipping unparsable ones and
    those in ``exclude``; and how many excluded candidates were met on the way. Candidates are standardized in
    chunks, so a large pool is standardized only as far as needed."""
    out: list[str] = []
    seen: set[str] = set()
    dropped = 0
    step = max(64, (len(raw) if n is None else n) // 4)
    for start in range(0, len(raw), step):
        for s in standardize_or_none(list(raw[start : start + step])):
            if s is None or s in seen:
                continue
            if s in exclude:
                dropped += 1
                continue
            seen.add(s)
            out.append(s)
            if len(out) == n:
                return out, dropped
    return out, dropped


def standardized_columns(X: list, domains: tuple[str, ...]) -> list:
    """Inputs as every LLM model sees them: each column validated and standardized by its domain featurizer
    (RDKit for SMILES, Biopython rules for proteins), exactly as a user's pipeline would; bad rows raise.
    Ambiguous residue codes (X, B, Z, ...; one DAVIS kinase has an X) are kept as given."""
    from biotag.domains import ProteinFeaturizer

    columns = [list(X)] if len(domains) == 1 else [list(c) for c in zip(*X)]
    out = []
    for domain, column in zip(domains, columns):
        out.append(standardized_smiles(column) if domain == "smiles"
                   else ProteinFeaturizer(nonstandard="keep").transform(column))
    return out[0] if len(domains) == 1 else [list(row) for row in zip(*out)]


def standardized_text(X: list, domains: tuple[str, ...]) -> list[str]:
    """Standardized inputs as plain text for the LLM baselines (several domains joined by a space)."""
    rows = standardized_columns(X, domains)
    return list(rows) if len(domains) == 1 else [" ".join(row) for row in rows]
