
import pytest
import torch
from tiny import ARCHITECTURES, SMILES, make_tiny_lm, make_tlm

from biotag import Template
from biotag.domains.tagging import Tag, TaggedInput, Text
from biotag.model import TaggedLM
from biotag.tags import TagLibrary


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("tokenization", ["model", "char"])
def test_padded_batch_equals_one_at_a_time(arch, tokenization):
    tlm = make_tlm(arch, tokenization=tokenization)
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)
    batch = tlm.encode(items)
    assert batch.attention_mask.sum(1).tolist() != [batch.input_ids.shape[1]] * len(items)  # really padded
    with torch.no_grad():
        h_batch = tlm.readout(batch)
        h_single = torch.cat([tlm.readout(tlm.encode([x])) for x in items])
        lm_batch = tlm.lm_loss(tlm.encode(items[:1] + items[2:3]))
    torch.testing.assert_close(h_batch, h_single, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        losses = [tlm.lm_loss(tlm.encode([x])) for x in (items[0], items[2])]
    assert torch.isfinite(lm_batch) and all(torch.isfinite(x) for x in losses)


def test_readout_is_last_function_tag_position():
    tlm = make_tlm()
    items = [Template("smiles", function_tag="<QED>").build("CCO"), TaggedInput((Tag("<QED>"), Text("hello")))]
    batch = tlm.encode(items)
    T = batch.input_ids.shape[1]
    assert batch.readout[0] == T - 1
    assert batch.readout[1] == T - len("hello") - 1
    assert batch.tag_slots[1, batch.readout[1]] >= 0


def test_tags_are_spliced_into_embeddings():
    tlm = make_tlm()
    batch = tlm.encode([Template("smiles", function_tag="<QED>").build("CC")])
    embeds = tlm.embed(batch)[0]
    p = 3
    torch.testing.assert_close(embeds[:p], tlm.library.tags["<SMILES>"])
    torch.testing.assert_close(embeds[-2:], tlm.library.tags["<QED>"])


def test_base_model_is_frozen_and_in_eval_mode():
    model, tok = make_tiny_lm()
    model.train()
    tlm = TaggedLM(model, tok, TagLibrary.for_model(model))
    assert not tlm.model.training
    assert not any(p.requires_grad for p in tlm.model.parameters())


def test_zero_shot_composition_runs_mechanically():
    """A function tag trained with <SMILES> can be applied after <Protein>."""
    tlm = make_tlm()
    with_smiles = TaggedInput((Tag("<SMILES>"), Text("CCO", "smiles"), Tag("<QED>")))
    with_protein = TaggedInput((Tag("<Protein>"), Text("MKT", "protein"), Tag("<QED>")))
    out = tlm.predict([with_smiles, with_protein], "<QED>")
    assert out.shape == (2, 1) and torch.isfinite(out).all() and out[0] != out[1]


def test_generate_returns_text():
    tlm = make_tlm()
    out = tlm.generate([Template("smiles", function_tag="<QED>").build("CCO")] * 2, max_new_tokens=4)
    assert len(out) == 2 and all(isinstance(s, str) for s in out) and out[0] == out[1]


def test_building_and_running_a_tagged_model_leaves_the_callers_model_config_as_it_was():
    model, tok = make_tiny_lm()
    before = model.config.to_dict()
    library = TagLibrary.for_model(model)
    from biotag.heads import RegressionHead
    from biotag.tags import TagSpec

    library.ensure_tag(TagSpec("<SMILES>", "domain"), model)
    library.ensure_tag(TagSpec("<QED>", "function"), model)
    library.add_head("<QED>", RegressionHead(library.hidden_size))
    tlm = TaggedLM(model, tok, library)
    assert model.config.to_dict() == before
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)
    tlm.readout(tlm.encode(items)).sum().backward()  # forward and backward under the grouped attention
    tlm.predict(items, "<QED>")
    with pytest.raises(RuntimeError):
        from biotag.backbone.attention import grouped_attention

        with grouped_attention(model):
            raise RuntimeError("a failed step")
    assert model.config.to_dict() == before
