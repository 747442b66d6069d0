import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biotag import InvalidSequenceError, ProteinFeaturizer, normalize_protein, read_fasta
from biotag.domains import NONSTANDARD_RESIDUES, STANDARD_RESIDUES


def test_alphabets():
    assert STANDARD_RESIDUES == set("ACDEFGHIKLMNPQRSTVWY")
    assert NONSTANDARD_RESIDUES == set("BXZJUO")


def test_strip_and_upper():
    assert normalize_protein(" mkt ayi\nAK\t") == "MKTAYIAK"


@pytest.mark.parametrize(
    "policy, expected", [("keep", "MKXBZUO"), ("x", "MKXXXXX")]
)
def test_nonstandard_policies(policy, expected):
    assert normalize_protein("MKXBZUO", nonstandard=policy) == expected


def test_nonstandard_rejected_by_default():
    with pytest.raises(InvalidSequenceError, match="non-standard residue"):
        normalize_protein("MKU")


def test_length_policy():
    with pytest.raises(InvalidSequenceError, match="too long: 6 residues"):
        normalize_protein("MKTAYI", max_length=4)
    with pytest.warns(UserWarning, match=r"truncated 1 sequence to their first max_length=4 residues: row 0 \(6 residues\)$"):
        assert normalize_protein("MKTAYI", max_length=4, too_long="truncate") == "MKTA"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert normalize_protein("MKTA", max_length=4, too_long="truncate") == "MKTA"


def test_every_bad_row_in_one_error():
    bad = ["MKT", "MK1T", "", None, 5, "MKB", "MK-T", "ACDEFGHIKL", np.nan]
    with pytest.raises(InvalidSequenceError) as info:
        ProteinFeaturizer(max_length=8).transform(bad)
    reasons = {i.index: i.reason for i in info.value.issues}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert "invalid residue(s) '1'" in reasons[1] and "position 2" in reasons[1]
    assert reasons[2] == "empty string"
    assert "missing value" in reasons[3] and "missing value" in reasons[8]
    assert "not a string" in reasons[4]
    assert "non-standard" in reasons[5]
    assert "'-'" in reasons[6]
    assert "too long" in reasons[7]


def test_nan_policy_aligned():
    out = ProteinFeaturizer(errors="nan").transform(pd.Series(["mkt", "M1", "GG"], index=["a", "b", "c"]))
    assert out.index.tolist() == ["a", "b", "c"]
    assert out["a"] == "MKT" and np.isnan(out["b"]) and out["c"] == "GG"


def test_read_fasta_text_and_path(tmp_path):
    text = ">sp|P1|A kinase\nMKTAY\nIAKQR\n\n>p2 second\nggl\n>p3\nMK*\n"
    records = read_fasta(text)
    assert records == [("sp|P1|A", "MKTAYIAKQR"), ("p2", "ggl"), ("p3", "MK*")]
    path = tmp_path / "x.fasta"
    path.write_text(text)
    assert read_fasta(path) == records
    assert read_fasta(str(path)) == records
    with pytest.raises(InvalidSequenceError) as info:
        ProteinFeaturizer().transform_fasta(path)
    assert info.value.indices == [2]  # the '*' record, by file position
    assert ProteinFeaturizer(errors="nan").transform_fasta(path)[:2] == ["MKTAYIAKQR", "GGL"]


def test_single_record_fasta():
    assert read_fasta(">only\nMKT\n") == [("only", "MKT")]


def test_fasta_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        read_fasta(tmp_path / "missing.fasta")
    empty = tmp_path / "empty.fasta"
    empty.write_text("no records here\n")
    with pytest.raises(ValueError, match="FASTA from '.*empty.fasta'"):
        read_fasta(empty)
    blank = tmp_path / "blank.fasta"
    blank.write_text("")
    with pytest.raises(ValueError, match="no FASTA records found"):
        read_fasta(blank)


def test_bad_parameters():
    with pytest.raises(ValueError, match="nonstandard must be one of"):
        ProteinFeaturizer(nonstandard="drop").fit(["MKT"])
    with pytest.raises(ValueError, match="too_long must be one of"):
        normalize_protein("MKT", too_long="cut")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_arbitrary_text_raises_only_the_documented_error(text):
    try:
        out = normalize_protein(text)
    except InvalidSequenceError as exc:
        assert exc.issues[0].value == text
    else:
        assert set(out) <= STANDARD_RESIDUES and out


def test_non_ascii_letters_are_refused_before_uppercasing():
    with pytest.raises(InvalidSequenceError, match=r"U\+00DF \(LATIN SMALL LETTER SHARP S\) at position 2"):
        ProteinFeaturizer().transform(["MKßG"])  # "ß".upper() == "SS": it would become two serines


def test_fasta_text_without_a_header_is_not_reported_as_a_missing_file():
    with pytest.raises(ValueError, match="does not start with a '>' header line"):
        ProteinFeaturizer().transform_fasta("MKT\nGGG")


def test_truncation_is_one_warning_per_call_naming_the_rows():
    """A long list truncated row by row would flood a notebook; one warning names the first rows and the count."""
    seqs = ["MKT", *["A" * (10 + i) for i in range(7)]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ProteinFeaturizer(max_length=8, too_long="truncate").transform(seqs)
    assert out == ["MKT", *["A" * 8] * 7]
    (warning,) = caught
    assert str(warning.message) == ("truncated 7 sequences to their first max_length=8 residues: row 1 (10 residues), "
                                    "row 2 (11 residues), row 3 (12 residues), row 4 (13 residues), row 5 (14 residues) "
                                    "and 2 more")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ProteinFeaturizer(max_length=8, too_long="truncate").transform(["MKT", "AAAA"])
