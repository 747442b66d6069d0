import pytest

from biotag.benchmark.standardize import first_standardized, standardize_or_none, standardized_columns


def test_a_molecule_that_neutralization_breaks_keeps_its_charges_and_keeps_its_row():
    from rdkit import Chem

    from biotag.exceptions import InvalidSmilesError

    carbanion = "O=c1[c-](CC[S@](=O)c2ccccc2)c(=O)n(-c2ccccc2)n1-c1ccccc1"  # a VDss_Lombardo molecule
    out = standardized_columns(["CC(=O)[O-].[Na+]", carbanion, "C[NH3+]"], ("smiles",))
    assert out[0] == "CC(=O)O" and out[2] == "CN"  # the others are neutralized as before
    assert "-" in out[1] and Chem.MolFromSmiles(out[1]) is not None
    with pytest.raises(InvalidSmilesError, match="row 2"):  # a really invalid one still names its row
        standardized_columns(["CCO", carbanion, "not a smiles"], ("smiles",))


def test_first_standardized_skips_invalid_repeated_and_excluded_molecules():
    raw = ["OCC", "not a smiles", "CCO", "c1ccccc1", "CCN", "CCC"]
    out, dropped = first_standardized(raw, 2, exclude={"c1ccccc1"})
    assert out == ["CCO", "CCN"] and dropped == 1  # "OCC" and "CCO" are one molecule
    every, dropped = first_standardized(raw * 30, None, exclude={"c1ccccc1"})  # None: every candidate
    assert every == ["CCO", "CCN", "CCC"] and dropped == 30
    assert standardize_or_none(["CCO", "C1CC"]) == ["CCO", None]
