import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from biotag import InvalidSmilesError, SmilesFeaturizer, canonicalize_smiles


def test_issue_example():
    assert SmilesFeaturizer().fit_transform(["OCC", "c1ccccc1O"]) == ["CCO", "Oc1ccccc1"]


@pytest.mark.parametrize(
    "smiles, kwargs, expected",
    [
        ("OCC", {}, "CCO"),
        ("C1=CC=CC=C1", {}, "c1ccccc1"),  # kekulé in, aromatic out
        ("C[C@H](N)C(=O)O", {}, "C[C@H](N)C(=O)O"),  # stereo kept by default
        ("C[C@@H](N)C(=O)O", {}, "C[C@@H](N)C(=O)O"),
        ("C[C@H](N)C(=O)O", {"isomeric": False}, "CC(N)C(=O)O"),  # stereo dropped
        ("C/C=C/C", {}, "C/C=C/C"),
        ("C/C=C/C", {"isomeric": False}, "CC=CC"),
        ("CC(=O)[O-].[Na+]", {}, "CC(=O)O"),  # salt stripped, neutralized
        ("CC(=O)[O-].[Na+]", {"neutralize": False}, "CC(=O)[O-]"),
        ("c1ccccc1C(=O)O.Cl", {}, "O=C(O)c1ccccc1"),  # HCl salt
        ("C[NH3+]", {}, "CN"),  # charge neutralized
        ("C[N+](C)(C)C", {}, "C[N+](C)(C)C"),  # quaternary N has no neutral form
        ("CCO.CCCCCC", {"largest_fragment": False}, "CCCCCC.CCO"),
        ("CN(=O)=O", {}, "C[N+](=O)[O-]"),  # cleanup normalizes the nitro group
        ("Oc1ccccn1", {"canonical_tautomer": True}, "O=c1cccc[nH]1"),
        ("[2H]C", {}, "[2H]C"),
    ],
)
def test_known_canonicalizations(smiles, kwargs, expected):
    assert canonicalize_smiles(smiles, **kwargs) == expected


def test_featurizer_matches_function_and_is_stateless():
    feat = SmilesFeaturizer(isomeric=False)
    assert feat.fit(["garbage ignored"]) is feat
    assert feat.transform(["C[C@H](N)C(=O)O"]) == [canonicalize_smiles("C[C@H](N)C(=O)O", isomeric=False)]
    assert clone(feat).get_params() == feat.get_params()


@pytest.mark.parametrize(
    "container",
    [list, tuple, np.array, lambda v: np.array(v).reshape(-1, 1)],
)
def test_array_like_inputs_give_lists(container):
    assert SmilesFeaturizer().transform(container(["OCC", "C(=O)O"])) == ["CCO", "O=CO"]


def test_pandas_input_keeps_index_and_order():
    s = pd.Series(["OCC", "C(=O)O", "c1ccccc1"], index=[10, 5, 7], name="smi")
    out = SmilesFeaturizer().transform(s)
    assert isinstance(out, pd.Series)
    assert out.index.tolist() == [10, 5, 7] and out.name == "smi"
    assert out.tolist() == ["CCO", "O=CO", "c1ccccc1"]
    df_out = SmilesFeaturizer().transform(s.to_frame())
    assert df_out.tolist() == out.tolist()


def test_multi_column_dataframe_refused():
    with pytest.raises(ValueError, match="one-column DataFrame"):
        SmilesFeaturizer().transform(pd.DataFrame({"a": ["C"], "b": ["C"]}))


def test_bare_string_refused():
    with pytest.raises(TypeError, match=r"wrap it in a list"):
        SmilesFeaturizer().transform("CCO")


BAD = ["CCO", "C1CC", None, "", "   ", 3, float("nan"), "N(C)(C)(C)(C)C", "CC O", "c1cccc1"]
REASONS = {
    1: "syntax error",
    2: "missing value",
    3: "empty string",
    4: "empty string",
    5: "not a string but int",
    6: "missing value",
    7: "valence",
    8: "whitespace",
    9: "sanitization failed",
}


def test_one_error_reports_every_bad_row():
    with pytest.raises(InvalidSmilesError) as info:
        SmilesFeaturizer().transform(BAD)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.indices == sorted(REASONS)
    for issue in err.issues:
        assert REASONS[issue.index] in issue.reason
        assert issue.value is BAD[issue.index] or (issue.value != issue.value)  # NaN is not equal to itself
    assert "row 1: 'C1CC'" in str(err) and "row 7" in str(err)


def test_nan_policy_keeps_alignment():
    out = SmilesFeaturizer(errors="nan").transform(BAD)
    assert len(out) == len(BAD)
    assert out[0] == "CCO"
    assert all(isinstance(v, float) and np.isnan(v) for v in out[1:])


def test_too_long():
    with pytest.raises(InvalidSmilesError, match="too long"):
        canonicalize_smiles("C" * 50, max_length=20)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="errors must be one of"):
        SmilesFeaturizer(errors="drop").transform(["C"])
    with pytest.raises(ValueError, match="max_length"):
        SmilesFeaturizer(max_length=0).fit(["C"])


def test_rdkit_logging_is_silenced_locally_only(capfd):
    from rdkit import Chem, RDLogger

    # Start from RDKit's default (logging on): importing PyTDC, as earlier tests in a PyTDC environment
    # do, switches RDKit's logs off for the whole process.
    RDLogger.EnableLog("rdApp.*")

    SmilesFeaturizer(errors="nan").transform(["C1CC", "N(C)(C)(C)(C)C"])
    assert capfd.readouterr().err == ""
    Chem.MolFromSmiles("C1CC")  # outside biotag, RDKit still speaks
    assert "SMILES Parse Error" in capfd.readouterr().err


def test_in_a_pipeline():
    pipe = make_pipeline(SmilesFeaturizer(), SmilesFeaturizer(isomeric=False))
    assert pipe.fit_transform(["C[C@H](N)C(=O)O"]) == ["CC(N)C(=O)O"]


def test_sklearn_tags_declare_strings():
    tags = SmilesFeaturizer().__sklearn_tags__()
    assert tags.input_tags.string


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet="CNOScnos()[]=#@+-123456789/\\%.", max_size=30)))
def test_arbitrary_text_raises_only_the_documented_error(text):
    try:
        out = canonicalize_smiles(text)
    except InvalidSmilesError as exc:
        assert exc.issues[0].value == text
    else:
        assert isinstance(out, str) and out
        assert canonicalize_smiles(out) == out  # canonical form is a fixed point


def test_standardization_never_returns_an_unreadable_smiles():
    # Uncharging a cyclopentadienyl anion (a metal complex ligand) leaves a five-atom aromatic ring
    # that RDKit writes but cannot parse; the row is reported instead of passed on.
    complex_ = "C[c-]1cccc1.[C-]#[O+].[Mn]"
    with pytest.raises(InvalidSmilesError, match="cannot read back"):
        canonicalize_smiles(complex_)
    kept = canonicalize_smiles(complex_, neutralize=False)
    from rdkit import Chem

    assert Chem.MolFromSmiles(kept) is not None
    out = SmilesFeaturizer(errors="nan").transform(["CCO", complex_])
    assert out[0] == "CCO" and np.isnan(out[1])


def test_invisible_and_lookalike_characters_are_refused_by_code_point_and_position():
    rows = ["CC\u200bO", "C\u2013C", "\u0421\u0421O", "CC\x00O", "CCO"]
    with pytest.raises(InvalidSmilesError) as err:
        SmilesFeaturizer().transform(rows)
    message = str(err.value)
    assert "4 invalid SMILES" in message
    for expected in ["U+200B (ZERO WIDTH SPACE) at position 2", "U+2013 (EN DASH) at position 1",
                     "U+0421 (CYRILLIC CAPITAL LETTER ES) at position 0", "U+0000 (a control character) at position 2"]:
        assert expected in message
    assert SmilesFeaturizer(errors="nan").transform(rows)[4] == "CCO"  # the good row keeps its place


def test_an_overlong_smiles_is_refused_before_rdkit_reads_it():
    # refused unread ("before canonicalization"): reading it back would take minutes
    with pytest.raises(InvalidSmilesError, match="10000 characters before canonicalization"):
        SmilesFeaturizer(max_length=100).transform(["C" * 10000])
    out = SmilesFeaturizer(errors="nan").transform(["C" * 10000, "CC(=O)[O-].[Na+]"])
    assert out[1] == "CC(=O)O" and out[0] != out[0]  # NaN: refused unread, with no max_length too
    # a salt form longer than max_length whose canonical form fits still passes
    assert canonicalize_smiles("CC(=O)[O-].[Na+]", max_length=8) == "CC(=O)O"


@pytest.mark.parametrize("X, match", [
    (b"CCO", "single bytes value"),
    ({"CCO": 1.0, "CCN": 2.0}, "got a dict"),
    ({"CCO", "CCN"}, "ordered list-like"),
])
def test_inputs_that_would_be_featurized_piece_by_piece_are_refused(X, match):
    with pytest.raises(TypeError, match=match):
        SmilesFeaturizer().transform(X)


def test_max_length_true_is_not_a_length():
    with pytest.raises(ValueError, match="max_length"):
        SmilesFeaturizer(max_length=True).fit(["C"])


def test_wildcard_atoms_are_refused_unless_asked_for():
    from biotag import InvalidSmilesError

    with pytest.raises(InvalidSmilesError, match=r"row 1: '\*CC\*' \(wildcard atom '\*' \(atom 0, 3\)"):
        SmilesFeaturizer().transform(["CCO", "*CC*"])
    assert SmilesFeaturizer(errors="nan").transform(["c1ccccc1*", "CCO"])[1] == "CCO"
    assert SmilesFeaturizer(wildcards=True).transform(["*CC*", "[*]c1ccccc1"]) == ["*CC*", "*c1ccccc1"]
    assert canonicalize_smiles("*OCC", wildcards=True) == "*OCC"
    assert SmilesFeaturizer(wildcards=True).get_params()["wildcards"] is True
