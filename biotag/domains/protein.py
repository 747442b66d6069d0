"""Protein sequence validation with Biopython: residue alphabet, FASTA input, length policy."""

from __future__ import annotations

import io
import itertools
import os
import unicodedata
import warnings
from pathlib import Path
from typing import Any, Callable

from Bio import SeqIO
from Bio.Data import IUPACData

from biotag.domains._base import BaseFeaturizer, RowError, check_text
from biotag.exceptions import InvalidSequenceError

__all__ = ["normalize_protein", "read_fasta", "ProteinFeaturizer", "STANDARD_RESIDUES", "NONSTANDARD_RESIDUES"]

#: The 20 standard amino acids (IUPAC one-letter codes).
STANDARD_RESIDUES = frozenset(IUPACData.protein_letters)
#: Ambiguous or rare codes: B (D/N), Z (E/Q), J (I/L), X (any), U (selenocysteine), O (pyrrolysine).
NONSTANDARD_RESIDUES = frozenset(IUPACData.extended_protein_letters) - STANDARD_RESIDUES

NONSTANDARD_POLICIES = ("raise", "keep", "x")
TOO_LONG_POLICIES = ("raise", "truncate")


def _check_policies(nonstandard: str, max_length: int | None, too_long: str) -> None:
    if nonstandard not in NONSTANDARD_POLICIES:
        raise ValueError(f"nonstandard must be one of {NONSTANDARD_POLICIES}, got {nonstandard!r}")
    if too_long not in TOO_LONG_POLICIES:
        raise ValueError(f"too_long must be one of {TOO_LONG_POLICIES}, got {too_long!r}")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"max_length must be a positive int or None, got {max_length!r}")


def _normalize(
    value: Any, *, nonstandard: str, max_length: int | None, too_long: str, on_truncate: Callable[[int], None]
) -> str:
    text = "".join(check_text(value).split())
    for position, ch in enumerate(text):
        if not ch.isascii():  # before upper(): "ß".upper() is "SS"
            raise RowError(f"character U+{ord(ch):04X} ({unicodedata.name(ch, 'a control character')}) at position "
                           f"{position} is not an amino-acid letter")
    seq = text.upper()
    bad = sorted({ch for ch in seq if ch not in STANDARD_RESIDUES})
    invalid = [ch for ch in bad if ch not in NONSTANDARD_RESIDUES]
    if invalid:
        where = seq.index(invalid[0])
        raise RowError(f"invalid residue(s) {''.join(invalid)!r}, first at position {where}")
    if bad and nonstandard == "raise":
        raise RowError(
            f"non-standard residue(s) {''.join(bad)!r}; pass nonstandard='keep' or 'x' to accept them"
        )
    if bad and nonstandard == "x":
        seq = "".join(ch if ch in STANDARD_RESIDUES else "X" for ch in seq)
    if max_length is not None and len(seq) > max_length:
        if too_long == "raise":
            raise RowError(f"too long: {len(seq)} residues, max_length={max_length}")
        on_truncate(len(seq))
        seq = seq[:max_length]
    return seq


def _normalizer(
    nonstandard: str, max_length: int | None, too_long: str, truncated: list[tuple[int, int]] | None = None
) -> Callable[[Any], str]:
    """One value's normalizer; each truncated row goes into ``truncated`` as (row, residues), rows counted by call."""
    _check_policies(nonstandard, max_length, too_long)
    rows = itertools.count()
    truncated = [] if truncated is None else truncated

    def normalize(value: Any) -> str:
        row = next(rows)
        return _normalize(value, nonstandard=nonstandard, max_length=max_length, too_long=too_long,
                          on_truncate=lambda residues: truncated.append((row, residues)))

    return normalize


def _warn_truncated(truncated: list[tuple[int, int]], max_length: int | None) -> None:
    """One warning for a call, naming its truncated rows (the first five) and how many there were."""
    if not truncated:
        return
    shown = ", ".join(f"row {row} ({residues} residues)" for row, residues in truncated[:5])
    more = f" and {len(truncated) - 5} more" if len(truncated) > 5 else ""
    n = len(truncated)
    warnings.warn(f"truncated {n} sequence{'s' if n > 1 else ''} to their first max_length={max_length} residues: "
                  f"{shown}{more}", UserWarning, stacklevel=3)


def normalize_protein(
    seq: str, *, nonstandard: str = "raise", max_length: int | None = None, too_long: str = "raise"
) -> str:
    """Validate one amino-acid sequence: strip whitespace, uppercase, check residues and length.

    Parameters
    ----------
    seq : str
        One-letter amino-acid sequence; whitespace and case are ignored.
    nonstandard : {"raise", "keep", "x"}, default="raise"
        What to do with ambiguous or rare codes (B, Z, J, X, U, O): reject,
        keep as is, or replace each with ``X``. Other letters, digits and
        symbols are always rejected.
    max_length : int, optional
        Longest accepted sequence, in residues.
    too_long : {"raise", "truncate"}, default="raise"
        Policy for sequences longer than ``max_length``: reject, or keep the
        first ``max_length`` residues and warn.

    Returns
    -------
    str

    Raises
    ------
    InvalidSequenceError

    Examples
    --------
    >>> normalize_protein(" mkt ayi AK ")
    'MKTAYIAK'
    >>> normalize_protein("MKXAY", nonstandard="keep")
    'MKXAY'
    """
    return ProteinFeaturizer(nonstandard=nonstandard, max_length=max_length, too_long=too_long).transform([seq])[0]


def read_fasta(source: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Read single- or multi-record FASTA (a path or the text itself) with ``Bio.SeqIO``.

    Returns ``(record id, raw sequence)`` pairs in file order; validation is the
    featurizer's job, so nothing is dropped here.

    Examples
    --------
    >>> read_fasta(">p1 kinase\\nMKTAY\\nIAK\\n>p2\\nGGG\\n")
    [('p1', 'MKTAYIAK'), ('p2', 'GGG')]
    """
    text_given = isinstance(source, str) and source.lstrip().startswith(">")
    if text_given:
        handle: Any = io.StringIO(source)
    else:
        path = Path(source)
        if not path.is_file():
            if isinstance(source, str) and "\n" in source:  # text, not a path: it lacks the '>' header line
                raise ValueError(f"the given text is not FASTA: it does not start with a '>' header line "
                                 f"({source[:40]!r}); a bare list of sequences goes to transform(), not "
                                 "transform_fasta()")
            raise FileNotFoundError(f"FASTA file not found: {str(path)!r}")
        handle = path.open()
    where = "the given text" if text_given else repr(str(source))
    with handle:
        try:
            records = [(rec.id, str(rec.seq)) for rec in SeqIO.parse(handle, "fasta")]
        except ValueError as exc:
            raise ValueError(f"could not read FASTA from {where}: {exc}") from exc
    if not records:
        raise ValueError(f"no FASTA records found in {where}")
    return records


class ProteinFeaturizer(BaseFeaturizer):
    """Validate and normalize amino-acid sequences, as a stateless scikit-learn transformer.

    Parameters
    ----------
    errors : {"raise", "nan"}, default="raise"
        ``"raise"``: one :class:`~biotag.InvalidSequenceError` listing every bad
        row. ``"nan"``: bad rows become ``NaN`` in place.
    nonstandard, max_length, too_long
        See :func:`normalize_protein`.

    Examples
    --------
    >>> ProteinFeaturizer().fit_transform(["mktayi", "GGL V"])
    ['MKTAYI', 'GGLV']
    >>> ProteinFeaturizer().transform_fasta(">a\\nMKT\\n>b\\nGGL\\n")
    ['MKT', 'GGL']
    """

    _error_type = InvalidSequenceError
    _domain = "protein"

    def __init__(
        self, *, errors: str = "raise", nonstandard: str = "raise", max_length: int | None = None, too_long: str = "raise"
    ):
        self.errors = errors
        self.nonstandard = nonstandard
        self.max_length = max_length
        self.too_long = too_long

    def _normalizer(self) -> Callable[[Any], str]:
        return _normalizer(self.nonstandard, self.max_length, self.too_long)

    def transform(self, X: Any) -> list[Any] | Any:
        """Normalize every value, in input order (see the base class); with ``too_long="truncate"``, one warning
        per call names the rows that were cut to ``max_length``."""
        truncated: list[tuple[int, int]] = []
        out = self._transform(X, _normalizer(self.nonstandard, self.max_length, self.too_long, truncated))
        _warn_truncated(truncated, self.max_length)
        return out

    def transform_fasta(self, source: str | os.PathLike[str]) -> list[Any]:
        """Read FASTA (path or text) and normalize every record's sequence, in file order."""
        return self.transform([seq for _, seq in read_fasta(source)])


