
import pytest
from tiny import make_tlm

from biotag import Template


def test_char_and_model_tokenization_differ():
    char = make_tlm(tokenization="char").encode([Template("smiles").build("CCCC")])
    model = make_tlm(tokenization="model").encode([Template("smiles").build("CCCC")])
    assert char.input_ids.shape[1] == 3 + 4 and model.input_ids.shape[1] == 3 + 2


def test_over_long_row_names_the_row():
    tlm = make_tlm(max_length=12)
    items = Template("smiles").build_many(["CC", "CCCCCCCCCCCCCCCCCCCC"])
    with pytest.raises(ValueError, match=r"row 1 is \d+ positions long.*max_length=12"):
        tlm.encode(items)


def test_unknown_tag_is_a_clear_error():
    tlm = make_tlm()
    with pytest.raises(KeyError, match="<BindingAffinity> is not in the tag library"):
        tlm.encode([Template("smiles", function_tag="<BindingAffinity>").build("CC")])
