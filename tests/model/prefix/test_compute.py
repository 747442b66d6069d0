"""The prefix-reuse fast path computes exactly what the full forward computes."""

import warnings

import pytest
import torch
from tiny import ARCHITECTURES, SMILES, make_tlm

from biotag import Template
from biotag.model.batching import split_function_tag
from biotag.model.prefix import compute_prefixes, forward_from_prefixes


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_prefix_path_matches_full_forward(arch):
    tlm = make_tlm(arch)
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)
    full = tlm.readout(tlm.encode(items))
    prefixes = compute_prefixes(tlm, [split_function_tag(x)[0] for x in items], batch_size=2)
    fast = forward_from_prefixes(tlm, prefixes, "<QED>")
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_the_fast_paths_pass_the_cache_under_the_name_the_installed_transformers_takes(arch):
    # transformers 5 renamed the forward's ``past_key_values`` to ``cache`` (the old name is removed in 5.40);
    # earlier releases know only the old one. Neither may warn: a deprecated name would break on upgrade.
    tlm = make_tlm(arch)
    items = Template(("protein", "smiles"), function_tag="<QED>").build_many([("MKT", s) for s in SMILES])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        prefixes = compute_prefixes(tlm, [split_function_tag(x)[0] for x in items], batch_size=2)  # shared lead
        fast = forward_from_prefixes(tlm, prefixes, "<QED>")
    torch.testing.assert_close(fast, tlm.readout(tlm.encode(items)), atol=1e-5, rtol=1e-4)


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


def test_prefixes_spill_to_a_file_backed_store_with_the_same_values(tmp_path):
    tlm = make_tlm()
    prefixes = [split_function_tag(x)[0] for x in Template("smiles", function_tag="<QED>").build_many(SMILES)]
    in_memory = compute_prefixes(tlm, prefixes, batch_size=2)
    with pytest.warns(UserWarning, match="file-backed store"):
        spilled = compute_prefixes(tlm, prefixes, batch_size=2, spill_dir=tmp_path, memory_fraction=0.0)
    def file_backed(kv):
        return kv.store.keys[0].untyped_storage().filename is not None

    assert file_backed(spilled[0]) and not file_backed(in_memory[0])
    assert list(tmp_path.iterdir()) == []  # unlinked once mapped: nothing is left behind
    for a, b in zip(in_memory, spilled):
        for x, y in zip(a.keys + a.values, b.keys + b.values):
            assert torch.equal(x, y)
    torch.testing.assert_close(forward_from_prefixes(tlm, spilled, "<QED>"),
                               forward_from_prefixes(tlm, in_memory, "<QED>"))


def test_prefixes_that_fit_nowhere_raise_memory_error_and_training_falls_back(tmp_path, monkeypatch):
    import shutil

    from biotag.training import Example, stage2, train_stage

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10, 10, 0))
    tlm = make_tlm()
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)
    with pytest.raises(MemoryError, match="GiB free in"):
        compute_prefixes(tlm, [split_function_tag(x)[0] for x in items], spill_dir=tmp_path, memory_fraction=0.0)
    monkeypatch.setattr("biotag.hardware.available_memory", lambda device=None: 0)
    spec = stage2("<QED>", "<SMILES>", epochs=1, batch_size=2)
    with pytest.warns(UserWarning, match="plain path"):
        history = train_stage(tlm, spec, [Example(x, float(i)) for i, x in enumerate(items)], progress=False)
    assert len(history.train_loss) == 1


def test_a_store_on_a_gpu_is_budgeted_by_the_gpu_free_memory_not_the_hosts(tmp_path, monkeypatch):
    """Simulated on a CPU: torch.cuda.mem_get_info stands for a GPU with 1 kB free (the host has gigabytes)."""
    from biotag import hardware
    from biotag.model.prefix import compute

    asked = []
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: asked.append(device) or (1000, 10**12))
    gpu = torch.device("cuda:0")
    assert hardware.available_memory(gpu) == 1000 and asked == [gpu]
    assert hardware.available_memory(torch.device("cpu")) > 10**6  # the host's MemAvailable, not the GPU's
    assert compute._placement(10_000, str(tmp_path), 0.5, torch.device("cpu")) is None  # fits the host
    with pytest.warns(UserWarning, match="file-backed store"):
        assert compute._placement(10_000, str(tmp_path), 0.5, gpu) == str(tmp_path)  # not the GPU
