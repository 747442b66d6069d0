"""The prefix-reuse fast path computes exactly what the full forward computes."""

import pytest
import torch

from biotag import Template
from biotag.tags.prefix import compute_prefixes, forward_from_prefixes, split_function_tag
from conftest import ARCHITECTURES
from test_core import SMILES, make_tlm


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_prefix_path_matches_full_forward(arch):
    tlm = make_tlm(arch)
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)
    full = tlm.readout(tlm.encode(items))
    prefixes = compute_prefixes(tlm, [split_function_tag(x)[0] for x in items], batch_size=2)
    fast = forward_from_prefixes(tlm, prefixes, "<QED>")
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-4)


def test_prefix_path_gradients_match():
    tlm = make_tlm()
    items = Template(("protein", "smiles"), function_tag="<QED>").build_many([("MKT", s) for s in SMILES])
    tag = tlm.library.tags["<QED>"]
    tag.requires_grad_(True)
    full = tlm.readout(tlm.encode(items)).pow(2).sum()
    (g_full,) = torch.autograd.grad(full, tag)
    prefixes = compute_prefixes(tlm, [split_function_tag(x)[0] for x in items])
    fast = forward_from_prefixes(tlm, prefixes, "<QED>").pow(2).sum()
    (g_fast,) = torch.autograd.grad(fast, tag)
    torch.testing.assert_close(fast, full, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(g_fast, g_full, atol=1e-5, rtol=1e-4)


def test_split_function_tag():
    x = Template("smiles", function_tag="<QED>").build("CC")
    prefix, tag = split_function_tag(x)
    assert tag == "<QED>" and str(prefix) == "<SMILES> CC"
    assert split_function_tag(Template("smiles").build("CC")) is None
