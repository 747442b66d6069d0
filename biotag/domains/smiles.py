"""SMILES validation and standardization with RDKit.

``canonicalize_smiles`` is the pure function; ``SmilesFeaturizer`` is the same
thing as a scikit-learn transformer over many rows.
"""

from __future__ import annotations

import contextlib
import unicodedata
from typing import Any, Callable, Iterator

from rdkit import Chem, rdBase
from rdkit.Chem.MolStandardize import rdMolStandardize

from biotag.domains._base import BaseFeaturizer, RowError, apply_rowwise, check_text
from biotag.exceptions import InvalidSmilesError

__all__ = ["canonicalize_smiles", "SmilesFeaturizer", "quiet_rdkit"]


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's log while the block runs, and only then.

    ``RDLogger.DisableLog`` would switch logging off for the whole process;
    ``BlockLogs`` is scoped to its own lifetime.
    """
    blocker = rdBase.BlockLogs()
    try:
        yield
    finally:
        del blocker


def _parse(smiles: str) -> Chem.Mol:
    """Parse and sanitize, turning RDKit's silent ``None`` into a reason."""
    mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        raise RowError("unparsable SMILES (syntax error)")
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several Boost.Python exception types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RowError(f"unparsable SMILES (sanitization failed: {reason})") from None
    return mol


def _standardize(
    mol: Chem.Mol, *, cleanup: bool, largest_fragment: bool, neutralize: bool, canonical_tautomer: bool
) -> Chem.Mol:
    if cleanup:
        # Removes explicit Hs, disconnects metals, normalizes functional groups, reionizes.
        mol = rdMolStandardize.Cleanup(mol)
    if largest_fragment:
        # Salt stripping: keep the largest organic fragment (counter-ions, solvents go).
        mol = rdMolStandardize.LargestFragmentChooser(preferOrganic=True).choose(mol)
    if neutralize:
        mol = rdMolStandardize.Uncharger().uncharge(mol)
    if canonical_tautomer:
        mol = rdMolStandardize.TautomerEnumerator().Canonicalize(mol)
    return mol


#: The characters SMILES is written in: printable ASCII. Anything else (a zero-width space, an en dash for a bond,
#: a Cyrillic letter that looks like C, a NUL byte) RDKit would drop or misread into another molecule.
SMILES_CHARACTERS = frozenset(chr(c) for c in range(0x21, 0x7F))
#: Inputs longer than this are refused before RDKit reads them: reading a SMILES back costs time about cubic in
#: its length (17 s at 3,000 characters), and no drug-like molecule comes near it.
MAX_SMILES_CHARACTERS = 2000
#: With ``max_length``, inputs longer than this multiple of it are refused unread: salt stripping and
#: canonicalization shorten a SMILES, but not fourfold.
RAW_LENGTH_FACTOR = 4


def _check_characters(smiles: str) -> None:
    for position, ch in enumerate(smiles):
        if ch not in SMILES_CHARACTERS:
            name = unicodedata.name(ch, "a control character")
            raise RowError(f"character U+{ord(ch):04X} ({name}) at position {position} is not SMILES "
                           "(SMILES is written in printable ASCII)")


def _check_raw_length(smiles: str, max_length: int | None) -> None:
    limit = MAX_SMILES_CHARACTERS if max_length is None else min(MAX_SMILES_CHARACTERS, RAW_LENGTH_FACTOR * max_length)
    if len(smiles) > limit:
        why = (f"more than {RAW_LENGTH_FACTOR} x max_length={max_length}" if limit < MAX_SMILES_CHARACTERS
               else f"the longest SMILES biotag reads is {MAX_SMILES_CHARACTERS} characters")
        raise RowError(f"too long: {len(smiles)} characters before canonicalization ({why})")


def _check_no_wildcards(mol: Chem.Mol) -> None:
    """A ``*`` atom stands for any atom (a polymer's open end, an R group, a fragment's cut): not a molecule to
    predict for unless the caller says so."""
    where = [atom.GetIdx() for atom in mol.GetAtoms() if atom.GetAtomicNum() == 0]
    if where:
        raise RowError(f"wildcard atom '*' (atom {', '.join(map(str, where))}): not a whole molecule; "
                       "pass wildcards=True to keep such atoms")


def _canonicalize(
    value: Any,
    *,
    cleanup: bool = True,
    largest_fragment: bool = True,
    neutralize: bool = True,
    canonical_tautomer: bool = False,
    isomeric: bool = True,
    max_length: int | None = None,
    wildcards: bool = False,
) -> str:
    smiles = check_text(value).strip()
    if any(ch.isspace() for ch in smiles):
        raise RowError("whitespace inside the SMILES (a name or a second field?)")
    _check_characters(smiles)
    _check_raw_length(smiles, max_length)
    with quiet_rdkit():
        mol = _parse(smiles)
        if not wildcards:
            _check_no_wildcards(mol)
        try:
            mol = _standardize(
                mol,
                cleanup=cleanup,
                largest_fragment=largest_fragment,
                neutralize=neutralize,
                canonical_tautomer=canonical_tautomer,
            )
        except Exception as exc:
            raise RowError(f"standardization failed: {exc}") from None
        if mol is None or mol.GetNumAtoms() == 0:
            raise RowError("no atoms left after standardization")
        out = Chem.MolToSmiles(mol, isomericSmiles=isomeric, canonical=True)
        # Standardization can leave a structure RDKit writes but cannot read back (e.g. uncharging a
        # cyclopentadienyl anion leaves a five-atom aromatic ring); never hand such a string on.
        if Chem.MolFromSmiles(out) is None:
            raise RowError(f"standardization produced {out!r}, which RDKit cannot read back; "
                           "pass neutralize=False (or cleanup=False) to keep the input's charges")
    if max_length is not None and len(out) > max_length:
        raise RowError(f"too long: {len(out)} characters after canonicalization, max_length={max_length}")
    return out


def canonicalize_smiles(
    smiles: str,
    *,
    cleanup: bool = True,
    largest_fragment: bool = True,
    neutralize: bool = True,
    canonical_tautomer: bool = False,
    isomeric: bool = True,
    max_length: int | None = None,
    wildcards: bool = False,
) -> str:
    """Validate one SMILES and return its standardized RDKit canonical form.

    Parameters
    ----------
    smiles : str
        The input SMILES.
    cleanup : bool, default=True
        RDKit's standard cleanup: remove explicit hydrogens, disconnect metals,
        normalize functional groups (e.g. nitro), reionize.
    largest_fragment : bool, default=True
        Keep only the largest organic fragment (strips salts and solvents).
    neutralize : bool, default=True
        Neutralize charges where a neutral form exists.
    canonical_tautomer : bool, default=False
        Replace the molecule by RDKit's canonical tautomer (slower; off by default).
    isomeric : bool, default=True
        Keep stereochemistry and isotopes; ``False`` drops them.
    max_length : int, optional
        Reject results longer than this many characters.
    wildcards : bool, default=False
        Accept ``*`` atoms (polymer ends, R groups, fragment cuts); refused by default, as not a whole molecule.

    Returns
    -------
    str
        Canonical SMILES.

    Raises
    ------
    InvalidSmilesError
        If the value is missing, empty, not a string, unparsable or too long.
        The error's ``issues`` carry the value and the reason.

    Examples
    --------
    >>> canonicalize_smiles("OCC")
    'CCO'
    >>> canonicalize_smiles("CC(=O)[O-].[Na+]")
    'CC(=O)O'
    >>> canonicalize_smiles("C[C@H](N)C(=O)O", isomeric=False)
    'CC(N)C(=O)O'
    """
    normalize = _normalizer(cleanup, largest_fragment, neutralize, canonical_tautomer, isomeric, max_length, wildcards)
    return apply_rowwise([smiles], normalize, errors="raise", error_type=InvalidSmilesError)[0]


def _normalizer(
    cleanup: bool,
    largest_fragment: bool,
    neutralize: bool,
    canonical_tautomer: bool,
    isomeric: bool,
    max_length: int | None,
    wildcards: bool = False,
) -> Callable[[Any], str]:
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise ValueError(f"max_length must be a positive int or None, got {max_length!r}")

    def normalize(value: Any) -> str:
        return _canonicalize(
            value,
            cleanup=cleanup,
            largest_fragment=largest_fragment,
            neutralize=neutralize,
            canonical_tautomer=canonical_tautomer,
            isomeric=isomeric,
            max_length=max_length,
            wildcards=wildcards,
        )

    return normalize


class SmilesFeaturizer(BaseFeaturizer):
    """Validate and canonicalize SMILES, as a stateless scikit-learn transformer.

    Parameters
    ----------
    errors : {"raise", "nan"}, default="raise"
        ``"raise"``: one :class:`~biotag.InvalidSmilesError` listing every bad row
        (index, value, reason). ``"nan"``: bad rows become ``NaN`` in place, so
        the output stays aligned with the input.
    cleanup, largest_fragment, neutralize, canonical_tautomer, isomeric, max_length, wildcards
        See :func:`canonicalize_smiles`.

    Examples
    --------
    >>> SmilesFeaturizer().fit_transform(["OCC", "c1ccccc1O"])
    ['CCO', 'Oc1ccccc1']
    >>> SmilesFeaturizer(errors="nan").fit_transform(["CCO", "C1CC"])
    ['CCO', nan]
    """

    _error_type = InvalidSmilesError
    _domain = "smiles"

    def __init__(
        self,
        *,
        errors: str = "raise",
        cleanup: bool = True,
        largest_fragment: bool = True,
        neutralize: bool = True,
        canonical_tautomer: bool = False,
        isomeric: bool = True,
        max_length: int | None = None,
        wildcards: bool = False,
    ):
        self.errors = errors
        self.cleanup = cleanup
        self.largest_fragment = largest_fragment
        self.neutralize = neutralize
        self.canonical_tautomer = canonical_tautomer
        self.isomeric = isomeric
        self.max_length = max_length
        self.wildcards = wildcards

    def _normalizer(self) -> Callable[[Any], str]:
        return _normalizer(
            self.cleanup, self.largest_fragment, self.neutralize, self.canonical_tautomer, self.isomeric,
            self.max_length, self.wildcards,
        )


