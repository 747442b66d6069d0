"""A lead shared by every row (the domain tag) is computed once, with the same results as the full forward."""

import pytest
import torch
from tiny import ARCHITECTURES, SMILES, make_tlm

from biotag import Template
from biotag.model import shared_lead
from biotag.model.batching import split_function_tag
from biotag.model.prefix import compute_prefixes, forward_from_prefixes


def plain_readout(tlm, batch):
    """The straightforward path: one forward over the padded batch."""
    hidden = tlm.hidden_states(batch)
    return hidden[torch.arange(len(batch)), batch.readout].float()


def test_shared_lead_spans_the_domain_tag_and_common_tokens():
    tlm = make_tlm(p=5)
    template = Template("smiles", function_tag="<QED>")
    assert shared_lead(tlm.encode(template.build_many(["CCO", "c1ccccc1O", "N"]))) == 5
    # "CC..." rows share their first tokens too, at the same positions.
    k = shared_lead(tlm.encode(template.build_many(["CCCCO", "CCCCN"])))
    assert k > 5
    assert shared_lead(tlm.encode(template.build_many(["CCO"]))) == 0  # one row: nothing to share
    assert shared_lead(tlm.encode(Template(("protein", "smiles"), function_tag="<QED>").build_many(
        [("MKT", "CC"), ("MKT", "N")]))) >= 5


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_readout_with_shared_lead_matches_the_full_forward(arch):
    tlm = make_tlm(arch, p=5)
    batch = tlm.encode(Template("smiles", function_tag="<QED>").build_many(SMILES))
    assert shared_lead(batch) >= 5
    torch.testing.assert_close(tlm.readout(batch), plain_readout(tlm, batch), atol=1e-5, rtol=1e-4)


def test_gradients_through_the_shared_lead_match():
    """Enrichment and stage 1 train the domain tag: its gradient must pass through the lead path intact."""
    tlm = make_tlm(p=5)
    batch = tlm.encode(Template("smiles", function_tag="<QED>").build_many(SMILES))
    tags = [tlm.library.tags["<SMILES>"], tlm.library.tags["<QED>"]]
    for t in tags:
        t.requires_grad_(True)
    fast = torch.autograd.grad(tlm.readout(batch).pow(2).sum(), tags)
    full = torch.autograd.grad(plain_readout(tlm, batch).pow(2).sum(), tags)
    for f, g in zip(fast, full):
        torch.testing.assert_close(f, g, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_cached_prefixes_with_shared_lead_match_the_full_forward(arch):
    tlm = make_tlm(arch, p=5)
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)
    prefixes = compute_prefixes(tlm, [split_function_tag(x)[0] for x in items], batch_size=4)
    single = compute_prefixes(tlm, [split_function_tag(x)[0] for x in items], batch_size=1)  # no lead
    for a, b in zip(prefixes, single):
        assert a.length == b.length
        for x, y in zip(a.keys + a.values, b.keys + b.values):
            torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)
    full = plain_readout(tlm, tlm.encode(items))
    torch.testing.assert_close(forward_from_prefixes(tlm, prefixes, "<QED>"), full, atol=1e-5, rtol=1e-4)


def test_cross_domain_rows_of_one_protein_are_batched_together_and_match_the_full_forward():
    from biotag.model.batching import batch_order

    tlm = make_tlm(p=3)
    template = Template(("protein", "smiles"), function_tag="<QED>")
    proteins = ["MKTAYIAKQRQISFVKSHFSRQ", "GGLVQPGGSLRLSCAAS"]
    rows = [(proteins[i % 2], s) for i, s in enumerate(SMILES * 4)]  # 10 rows per protein
    items = template.build_many(rows)
    prefixes = [split_function_tag(x)[0] for x in items]
    order = batch_order(prefixes, [len(tlm.encoder().encode_row(x)[0]) for x in prefixes])
    groups = [rows[i][0] for i in order]
    assert groups == sorted(groups, key=groups.index) and groups[0] != groups[-1]  # one protein, then the other
    # A batch of one protein shares the whole protein part, not just the leading tag.
    same = [items[i] for i in order[:4]]
    assert shared_lead(tlm.encode(same)) > 3 + len(proteins[0]) // 2
    cached = compute_prefixes(tlm, prefixes, batch_size=4)
    full = plain_readout(tlm, tlm.encode(items))
    torch.testing.assert_close(forward_from_prefixes(tlm, cached, "<QED>"), full, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        expected = tlm.head("<QED>").predict(full)
    torch.testing.assert_close(tlm.predict(items, "<QED>", batch_size=4), expected, atol=1e-5, rtol=1e-4)
