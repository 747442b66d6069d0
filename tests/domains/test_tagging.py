import pytest

from biotag import Tag, TaggedInput, Template, Text


def test_single_domain():
    t = Template(("smiles",), function_tag="<QED>")
    x = t.build("CCO")
    assert x.segments == (Tag("<SMILES>"), Text("CCO", domain="smiles"), Tag("<QED>"))
    assert str(x) == "<SMILES> CCO <QED>"
    assert x.tags == ("<SMILES>", "<QED>")


def test_multi_domain_templates():
    dti = Template(("protein", "smiles"), function_tag="<BindingAffinity>")
    assert str(dti.build("MKT", "CCO")) == "<Protein> MKT <SMILES> CCO <BindingAffinity>"
    combo = Template(("smiles", "smiles"), function_tag="<Synergy>")
    assert [s.text for s in combo.build("CCO", "CCN").segments if isinstance(s, Text)] == ["CCO", "CCN"]
    assert combo.build_many([("C", "N"), ("O", "S")])[1].segments[1].text == "O"
    assert Template("smiles").build_many(["C", "N"])[1].segments[1].text == "N"


def test_text_that_looks_like_a_tag_stays_text():
    x = Template(("smiles",)).build("<QED>")
    assert x.tags == ("<SMILES>",)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown domain"):
        Template(("dna",))
    with pytest.raises(ValueError, match="invalid tag name 'QED'"):
        Template(("smiles",), function_tag="QED")
    with pytest.raises(ValueError, match="expects 2 value"):
        Template(("protein", "smiles")).build("MKT")
    with pytest.raises(TypeError, match="Tag and Text"):
        TaggedInput(("CCO",))
    assert Template(("dna",), domain_tags=("<DNA>",)).build("ACGT").tags == ("<DNA>",)
