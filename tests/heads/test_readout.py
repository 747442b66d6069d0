"""Readouts: pooled domain segments are what a plain forward gives, on every path (full, shared lead, prefixes,
the prefix cache), and a head reading them trains, saves and predicts."""

import pytest
import torch
from tiny import ARCHITECTURES, SMILES, make_tlm

from biotag import Template
from biotag.heads import RegressionHead
from biotag.model.batching import split_function_tag
from biotag.model.prefix import PrefixCache, compute_prefixes, prefix_readout
from biotag.heads.readout import Readout, pool_segments

PAIRS = [("MKT", s) for s in SMILES] + [("MKTAYIAK", s) for s in SMILES[:2]]


def plain_pooled(tlm, item, readout):
    """The pooled states of one input, by hand: one plain forward of that row alone, no batching, no lead."""
    batch = tlm.encode([item])
    out = tlm.model.base_model(inputs_embeds=tlm.embed(batch), output_hidden_states=True)
    segments = batch.segments[0]
    rows = []
    for s in range(readout.segments):
        rows += [out.hidden_states[layer][0, segments == s].mean(dim=0) for layer in readout.layers]
    return torch.cat(rows)


def test_named_readouts_pick_thirds_of_the_depth():
    assert Readout.named("tag", n_layers=30, segments=2) == Readout()
    assert Readout.named("tag+pool", n_layers=30, segments=2) == Readout(True, (10, 20, 30), 2)
    assert Readout.named("pool", n_layers=2, segments=1) == Readout(False, (1, 2), 1)
    assert Readout.named("tag+pool", n_layers=2, segments=1).size(32) == 32 * 3
    with pytest.raises(ValueError, match="readout must be one of"):
        Readout.named("mean", n_layers=2, segments=1)
    with pytest.raises(ValueError, match="needs the function tag"):
        Readout(tag=False)
    assert Readout.from_config(None) == Readout()
    assert Readout.from_config(Readout(True, (1, 2), 2).config()) == Readout(True, (1, 2), 2)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_pooled_readout_matches_a_plain_forward_of_each_row(arch):
    tlm = make_tlm(arch)
    readout = Readout(True, (0, 1, 2), 2)
    items = Template(("protein", "smiles"), function_tag="<QED>").build_many(PAIRS)
    got = tlm.readout(tlm.encode(items), readout)  # batched, left-padded, with a shared lead
    assert got.shape == (len(items), readout.size(32))
    torch.testing.assert_close(got[:, :32], tlm.readout(tlm.encode(items)))  # the tag's block is the paper's
    for row, item in enumerate(items):
        torch.testing.assert_close(got[row, 32:], plain_pooled(tlm, item, readout), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_prefixes_carry_the_pooled_states_of_the_full_forward(arch, tmp_path):
    tlm = make_tlm(arch)
    readout = Readout(True, (1, 2), 2)
    tlm.library.add_head("<QED>", RegressionHead(32, readout=readout))
    items = Template(("protein", "smiles"), function_tag="<QED>").build_many(PAIRS)
    full = tlm.readout(tlm.encode(items), readout)
    prefixes = [split_function_tag(x)[0] for x in items]
    computed = compute_prefixes(tlm, prefixes, batch_size=3, pool=readout)
    torch.testing.assert_close(prefix_readout(tlm, computed, "<QED>"), full, atol=1e-5, rtol=1e-4)
    cache = PrefixCache(tmp_path)
    for _ in range(2):  # written, then read back
        cached = cache.prefixes(tlm, prefixes, batch_size=3, pool=readout)
        torch.testing.assert_close(prefix_readout(tlm, cached, "<QED>"), full, atol=1e-5, rtol=1e-4)


def test_prefix_readout_refuses_prefixes_computed_without_pooling():
    tlm = make_tlm()
    tlm.library.add_head("<QED>", RegressionHead(32, readout=Readout(True, (1,), 1)))
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)
    prefixes = compute_prefixes(tlm, [split_function_tag(x)[0] for x in items])
    with pytest.raises(ValueError, match="pools the domain segments"):
        prefix_readout(tlm, prefixes, "<QED>")


def test_pooling_names_a_layout_that_does_not_match_the_head():
    tlm = make_tlm()
    batch = tlm.encode(Template("smiles", function_tag="<QED>").build_many(SMILES))
    states = tlm.model.base_model(inputs_embeds=tlm.embed(batch), output_hidden_states=True).hidden_states
    with pytest.raises(ValueError, match="no domain segment 1"):
        pool_segments([(states, batch.segments)], Readout(True, (1,), 2))
    with pytest.raises(ValueError, match="go past the model's 2 layers"):
        pool_segments([(states, batch.segments)], Readout(True, (3,), 1))


def test_a_pooling_head_saves_its_readout(tmp_path):
    tlm = make_tlm()
    readout = Readout(True, (1, 2), 1)
    tlm.library.add_head("<QED>", RegressionHead(32, readout=readout))
    tlm.library.save(tmp_path / "lib")
    loaded = type(tlm.library).load(tmp_path / "lib", tlm.model)
    assert loaded.heads["<QED>"].readout == readout
    assert loaded.heads["<QED>"].linear.in_features == 96
