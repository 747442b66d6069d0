"""Cross-domain prefixes keep their lead (``<Protein> sequence <SMILES>``) once for every row that shares it,
in memory and in the on-disk cache, and compute exactly what the full forward computes."""

import numpy as np
import pytest
import torch
from tiny import SMILES, make_tlm

from biotag import TagLLMRegressor, Template
from biotag.model.batching import split_function_tag, split_lead
from biotag.model.prefix import FilePrefixKV, JoinedPrefixKV, PrefixCache, compute_prefixes, forward_from_prefixes

PROTEINS = ["MKTAYIAKQRQISFVKSHFSRQ", "GGLVQPGGSLRLSCAAS", "MSTNPKPQRKTKRNTNRRPQDVKFPGG"]
ROWS = [(PROTEINS[i % 3], s) for i, s in enumerate(SMILES * 5)]  # 25 rows, 3 proteins
TEMPLATE = Template(("protein", "smiles"), function_tag="<QED>")


def plain_readout(tlm, items):
    batch = tlm.encode(items)
    return tlm.hidden_states(batch)[torch.arange(len(batch)), batch.readout].float()


def alone(tlm, prefix):
    """The keys/values of one prefix from a plain forward over it alone: per layer (kv_heads, L, head_dim)."""
    from biotag.backbone.compat import cache_layers, output_cache

    batch = tlm.encode([prefix])
    with torch.no_grad():
        out = tlm.model.base_model(inputs_embeds=tlm.embed(batch), attention_mask=batch.attention_mask,
                                   position_ids=batch.position_ids, use_cache=True)
    return [(k[0], v[0]) for k, v in cache_layers(output_cache(out))]


def assert_same_layers(got, expected):
    assert len(got) == len(expected)
    for (k, v), (k0, v0) in zip(got, expected):
        torch.testing.assert_close(k, k0, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(v, v0, atol=1e-5, rtol=1e-4)


def test_split_lead():
    prefix, _ = split_function_tag(TEMPLATE.build("MKT", "CCO"))
    lead, rest = split_lead(prefix)
    assert str(lead) == "<Protein> MKT <SMILES>" and str(rest) == "CCO"
    assert split_lead(split_function_tag(Template("smiles", function_tag="<QED>").build("CCO"))[0]) is None


def test_batches_never_mix_the_rows_of_a_shared_lead_with_other_rows():
    from biotag.model.batching import batch_order, lead_batches

    tlm = make_tlm(p=3)
    prefixes = [split_function_tag(x)[0] for x in TEMPLATE.build_many(ROWS)]  # 3 proteins, 8 or 9 rows each
    order = batch_order(prefixes, [len(tlm.encoder().encode_row(p)[0]) for p in prefixes])
    batches = lead_batches(prefixes, order, 5)
    assert sorted(i for b in batches for i in b) == list(range(len(ROWS))) and max(map(len, batches)) == 5
    assert all(len({ROWS[i][0] for i in b}) == 1 for b in batches)
    assert len(batches) == 6  # 2 per protein, not ceil(25 / 5) = 5 batches of which two straddle proteins
    single = [split_function_tag(x)[0] for x in Template("smiles", function_tag="<QED>").build_many(SMILES * 3)]
    assert lead_batches(single, list(range(15)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14]]
    unique = [split_function_tag(x)[0] for x in TEMPLATE.build_many([(p, "CCO") for p in PROTEINS])]
    assert lead_batches(unique, [0, 1, 2], 4) == [[0, 1, 2]]  # leads no other row shares batch together


def test_each_lead_is_stored_once_and_the_keys_values_are_those_of_the_prefix_alone():
    tlm = make_tlm(p=3)
    prefixes = [split_function_tag(x)[0] for x in TEMPLATE.build_many(ROWS)]
    got = compute_prefixes(tlm, prefixes, batch_size=4)  # batches straddle proteins too
    assert all(isinstance(p, JoinedPrefixKV) for p in got)
    assert len({id(p.lead) for p in got}) == len(PROTEINS)
    encoder = tlm.encoder()
    store = got[0].lead.store
    distinct_leads = {split_lead(p)[0] for p in prefixes}
    lead_positions = sum(len(encoder.encode_row(lead)[0]) for lead in distinct_leads)
    rest_positions = sum(p.rest.length for p in got)
    assert store.keys[0].shape[1] == lead_positions + rest_positions  # not one copy of the protein per row
    assert lead_positions + rest_positions < sum(p.length for p in got) / 2
    for prefix, kv in zip(prefixes[:6], got[:6]):
        assert kv.length == len(encoder.encode_row(prefix)[0])
        assert_same_layers(kv.layers(), alone(tlm, prefix))


def test_joined_prefixes_give_the_full_forward_readout_and_gradient():
    tlm = make_tlm(p=3)
    items = TEMPLATE.build_many(ROWS)
    prefixes = compute_prefixes(tlm, [split_function_tag(x)[0] for x in items], batch_size=5)
    tag = tlm.library.tags["<QED>"]
    tag.requires_grad_(True)
    full = plain_readout(tlm, items)
    fast = forward_from_prefixes(tlm, prefixes, "<QED>")
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-4)
    (g_full,) = torch.autograd.grad(full.pow(2).sum(), tag)
    (g_fast,) = torch.autograd.grad(fast.pow(2).sum(), tag)
    torch.testing.assert_close(g_fast, g_full, atol=1e-5, rtol=1e-4)


def test_the_cache_writes_each_lead_once_and_reads_back_what_was_computed(tmp_path):
    tlm = make_tlm(p=3)
    prefixes = [split_function_tag(x)[0] for x in TEMPLATE.build_many(ROWS)]
    expected = compute_prefixes(tlm, prefixes, batch_size=4)
    cache = PrefixCache(tmp_path)
    for _ in range(2):  # written, then read back
        got = cache.prefixes(tlm, prefixes, batch_size=5)
        assert len({id(p.lead) for p in got}) == len(PROTEINS)
        for a, b in zip(expected, got):
            assert (a.lead.length, a.rest.length) == (b.lead.length, b.rest.length)
            assert_same_layers(b.layers(), a.layers())
    distinct = len(set(prefixes))
    assert len(list(tmp_path.rglob("*.safetensors"))) == len(PROTEINS) + distinct


def test_leads_and_rests_too_large_for_memory_stay_in_their_files_and_a_lead_is_read_once_a_batch(
        tmp_path, monkeypatch):

    tlm = make_tlm(p=3)
    items = TEMPLATE.build_many(ROWS)
    prefixes = [split_function_tag(x)[0] for x in items]
    cache = PrefixCache(tmp_path)
    in_memory = cache.prefixes(tlm, prefixes)
    monkeypatch.setattr("biotag.hardware.available_memory", lambda device=None: 1)
    from_files = cache.prefixes(tlm, prefixes)
    assert all(isinstance(p.lead, FilePrefixKV) and isinstance(p.rest, FilePrefixKV) for p in from_files)
    read: list = []
    real = FilePrefixKV.layers
    monkeypatch.setattr(FilePrefixKV, "layers", lambda self: read.append(self.file) or real(self))
    one_protein = [p for p, (protein, _) in zip(from_files, ROWS) if protein == PROTEINS[0]][:4]
    out = forward_from_prefixes(tlm, one_protein, "<QED>")
    assert len(read) == 1 + len(one_protein)  # the shared lead once, then each row's rest
    torch.testing.assert_close(out, forward_from_prefixes(tlm, [p for p, (protein, _) in zip(in_memory, ROWS)
                                                                if protein == PROTEINS[0]][:4], "<QED>"))
    torch.testing.assert_close(forward_from_prefixes(tlm, from_files, "<QED>"), plain_readout(tlm, items),
                               atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("which", ["lead", "rest"])
def test_an_unreadable_lead_or_rest_is_recomputed_with_a_warning(tmp_path, which):
    tlm = make_tlm(p=3)
    prefixes = [split_function_tag(x)[0] for x in TEMPLATE.build_many(ROWS)]
    cache = PrefixCache(tmp_path)
    expected = cache.prefixes(tlm, prefixes)
    folder = cache.folder(tlm, ["<Protein>", "<SMILES>"])
    target = prefixes[0]
    file = (PrefixCache._file(folder, split_lead(target)[0]) if which == "lead"
            else PrefixCache._file(folder, target, "rest"))
    assert file.is_file()
    file.write_bytes(file.read_bytes()[:100])  # cut short
    with pytest.warns(UserWarning, match="unreadable"):
        got = cache.prefixes(tlm, prefixes)
    for a, b in zip(expected, got):
        assert_same_layers(b.layers(), a.layers())


def test_a_whole_prefix_file_is_never_read_as_a_rest(tmp_path):
    """Files of the two kinds live under different names and say which part they hold."""
    tlm = make_tlm(p=3)
    prefix = split_function_tag(TEMPLATE.build(*ROWS[0]))[0]
    cache = PrefixCache(tmp_path)
    folder = cache.folder(tlm, ["<Protein>", "<SMILES>"])
    assert PrefixCache._file(folder, prefix) != PrefixCache._file(folder, prefix, "rest")
    whole = PrefixCache._file(folder, prefix)
    PrefixCache._write(whole, prefix, alone(tlm, prefix))
    rest = PrefixCache._file(folder, prefix, "rest")
    rest.parent.mkdir(parents=True, exist_ok=True)
    rest.write_bytes(whole.read_bytes())  # a whole prefix's file where the rest should be
    n = compute_prefixes(tlm, [prefix])[0].rest.length
    with pytest.warns(UserWarning, match="another input"):
        assert cache._read(rest, prefix, n, part="rest") is None


def test_a_cross_domain_estimator_with_the_cache_matches_one_without(tiny_model_dir, tmp_path):
    import pandas as pd

    X = pd.DataFrame(ROWS, columns=["protein", "smiles"])
    y = np.array([len(p) / 10 + len(s) for p, s in ROWS], dtype=float)
    params = dict(model=tiny_model_dir, domains=("protein", "smiles"), p=2, epochs=2, lr=2e-2, batch_size=4,
                  random_state=0, verbose=0)
    plain = TagLLMRegressor(**params).fit(X[:20], y[:20])
    cached = TagLLMRegressor(**params, prefix_cache=str(tmp_path)).fit(X[:20], y[:20])
    np.testing.assert_allclose(cached.predict(X[20:]), plain.predict(X[20:]), atol=1e-4)
    assert np.allclose(cached.history_.train_loss, plain.history_.train_loss, atol=1e-5)
