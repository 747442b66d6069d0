from pathlib import Path

import pytest

cffconvert = pytest.importorskip("cffconvert")
ROOT = Path(__file__).resolve().parents[1]


def test_citation_cff_is_valid_cff_1_2_0():
    text = (ROOT / "CITATION.cff").read_text()
    citation = cffconvert.Citation(cffstr=text)
    citation.validate()  # raises on any schema violation
    assert citation.cffobj["cff-version"] == "1.2.0"
    refs = citation.cffobj["references"]
    assert any("2402.05140" in str(ref) and ref["authors"][0]["family-names"] == "Shen" for ref in refs)
    assert any("Therapeutics Data Commons" in ref["title"] for ref in refs)


def test_validator_rejects_a_broken_file():
    text = (ROOT / "CITATION.cff").read_text().replace("cff-version: 1.2.0", "cff-version: 1.2.0\nbogus: 1")
    with pytest.raises(Exception, match="bogus"):
        cffconvert.Citation(cffstr=text).validate()


def test_version_matches_package():
    import biotag

    assert f'version: "{biotag.__version__}"' in (ROOT / "CITATION.cff").read_text()
