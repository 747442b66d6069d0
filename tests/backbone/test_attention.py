"""Grouped-query attention without per-head key/value copies computes what the model's own attention
computes, forward and backward, and leaves the model's setting as it found it."""

import pytest
import torch
from tiny import SMILES, make_tiny_lm, make_tlm

from biotag import Template
from biotag.backbone.attention import NAME, attention_used, grouped_attention
from biotag.model.batching import split_function_tag
from biotag.model.prefix import PrefixCache, compute_prefixes, forward_from_prefixes

PROTEINS = ["MKTAYIAKQRQISFVKSHFSRQ", "GGLVQPGGSLRLSCAAS"]


def own_attention_hidden(tlm, batch):
    """The final hidden states from the model's own attention (no grouped block around it)."""
    return tlm.model.base_model(inputs_embeds=tlm.embed(batch), attention_mask=batch.attention_mask,
                                position_ids=batch.position_ids, use_cache=False).last_hidden_state


@pytest.mark.parametrize("arch", ["llama", "mistral", "qwen2"])
def test_grouped_attention_matches_the_models_own_forward_and_backward(arch):
    tlm = make_tlm(p=3, arch=arch)
    assert tlm.model.config.num_key_value_heads < tlm.model.config.num_attention_heads
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)  # different lengths: padded rows
    batch = tlm.encode(items)
    tag = tlm.library.tags["<QED>"]
    tag.requires_grad_(True)

    expected = own_attention_hidden(tlm, batch)
    expected[:, -1].pow(2).sum().backward()
    expected_grad, tag.grad = tag.grad.clone(), None
    got = tlm.hidden_states(batch)
    got[:, -1].pow(2).sum().backward()

    real = batch.attention_mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(tag.grad, expected_grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ["llama", "mistral", "qwen2"])
def test_cached_prefixes_under_grouped_attention_give_the_models_own_readout_and_gradient(arch):
    tlm = make_tlm(p=3, arch=arch)
    items = Template(("protein", "smiles"), function_tag="<QED>").build_many(
        [(PROTEINS[i % 2], s) for i, s in enumerate(SMILES * 2)])
    tag = tlm.library.tags["<QED>"]
    tag.requires_grad_(True)
    batch = tlm.encode(items)
    expected = own_attention_hidden(tlm, batch)[torch.arange(len(batch)), batch.readout]
    expected.pow(2).sum().backward()
    expected_grad, tag.grad = tag.grad.clone(), None

    with torch.no_grad():
        prefixes = compute_prefixes(tlm, [split_function_tag(x)[0] for x in items], batch_size=4)
    got = forward_from_prefixes(tlm, prefixes, "<QED>")
    got.pow(2).sum().backward()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(tag.grad, expected_grad, atol=1e-5, rtol=1e-4)


def test_the_model_keeps_its_attention_setting_after_the_block_even_on_error():
    model, _ = make_tiny_lm()
    before = model.config._attn_implementation
    with grouped_attention(model):
        assert model.config._attn_implementation == NAME
        with grouped_attention(model):  # nested: the inner block changes nothing
            assert model.config._attn_implementation == NAME
        assert model.config._attn_implementation == NAME
    assert model.config._attn_implementation == before
    with pytest.raises(RuntimeError, match="inside"):
        with grouped_attention(model):
            raise RuntimeError("inside")
    assert model.config._attn_implementation == before


def test_models_without_grouped_heads_or_on_other_attention_are_left_alone():
    gpt2, _ = make_tiny_lm("gpt2")  # one key/value head per query head
    before = gpt2.config._attn_implementation
    with grouped_attention(gpt2):
        assert gpt2.config._attn_implementation == before
    assert attention_used(gpt2) == before

    llama, _ = make_tiny_lm()
    llama.config._attn_implementation = "flex_attention"
    with grouped_attention(llama):
        assert llama.config._attn_implementation == "flex_attention"


def test_the_prefix_cache_folder_names_the_attention_that_computed_the_keys_values(tmp_path):
    tlm = make_tlm(p=3)
    cache = PrefixCache(tmp_path)
    grouped = cache.folder(tlm, ["<SMILES>"])
    assert attention_used(tlm.model) == NAME
    tlm.model.config._attn_implementation = "flex_attention"  # not replaced: another key
    assert cache.folder(tlm, ["<SMILES>"]) != grouped
