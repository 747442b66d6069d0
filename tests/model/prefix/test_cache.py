"""Frozen prefixes kept on disk between fits: same results, computed once, never trusted when unreadable."""

import numpy as np
import pytest
import torch

from biotag import TagLLMClassifier, TagLLMRegressor
from biotag.domains.tagging import Tag, TaggedInput, Text
from biotag.model import TaggedLM
from biotag.tags import TagLibrary, TagSpec
from biotag.model.prefix import FilePrefixKV, PrefixCache, PrefixStore, compute_prefixes

SMILES = ["CCO", "c1ccccc1O", "CCN(CC)CC", "CC(=O)Oc1ccccc1C(=O)O", "N#CC", "OCCO", "CCCCCCCC", "C1CCNCC1"] * 3
Y = np.array([len(s) + 0.5 * s.count("O") for s in SMILES], dtype=float)


def fast(cls, tiny_model_dir, **kw):
    # The paper's readout: one cached file per prefix (tag+pool adds a pooled file beside it, tested on its own)
    params = dict(model=tiny_model_dir, p=2, epochs=3, lr=2e-2, batch_size=4, random_state=0, verbose=0,
                  readout="tag", head_init="random")
    return cls(**{**params, **kw})


def test_cached_prefixes_equal_computed_ones(tiny_lm, tmp_path):
    model, tok = tiny_lm
    lib = TagLibrary.for_model(model)
    lib.ensure_tag(TagSpec("<SMILES>", "domain", p=3), model)
    tlm = TaggedLM(model, tok, lib)
    items = [TaggedInput((Tag("<SMILES>"), Text(s, "smiles"))) for s in SMILES[:8]]
    expected = compute_prefixes(tlm, items, batch_size=3)
    cache = PrefixCache(tmp_path)
    for _ in range(2):  # written, then read back
        got = cache.prefixes(tlm, items, batch_size=5)
        for a, b in zip(expected, got):
            assert a.length == b.length
            for ka, kb in zip(a.keys + a.values, b.keys + b.values):
                torch.testing.assert_close(ka, kb, atol=1e-5, rtol=1e-5)
    assert len(list(tmp_path.rglob("*.safetensors"))) == 8


@pytest.mark.parametrize("cls", [TagLLMRegressor, TagLLMClassifier])
def test_fits_with_the_cache_match_fits_without_and_compute_each_prefix_once(cls, tiny_model_dir, tmp_path,
                                                                            computed_prefixes):
    y = Y if cls is TagLLMRegressor else (Y > np.median(Y)).astype(int)
    X_train, y_train, X_val, y_val, X_test = SMILES[:16], y[:16], SMILES[16:20], y[16:20], SMILES[20:]
    plain = fast(cls, tiny_model_dir).fit(X_train, y_train, X_val=X_val, y_val=y_val)
    seen = computed_prefixes
    seen.clear()  # the plain fit's own
    cached = fast(cls, tiny_model_dir, prefix_cache=str(tmp_path)).fit(X_train, y_train, X_val=X_val, y_val=y_val)
    first = len(seen)
    assert first == len(set(X_train) | set(X_val))  # every distinct molecule once
    out = "predict" if cls is TagLLMRegressor else "predict_proba"
    np.testing.assert_allclose(getattr(cached, out)(X_test), getattr(plain, out)(X_test), atol=1e-4)
    assert np.allclose(cached.history_.train_loss, plain.history_.train_loss, atol=1e-5)
    # another seed on the same molecules: nothing left to compute, for training or prediction
    del seen[:]
    again = fast(cls, tiny_model_dir, prefix_cache=str(tmp_path), random_state=1)
    again.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    getattr(again, out)(X_test)
    assert seen == []
    reference = fast(cls, tiny_model_dir, random_state=1).fit(X_train, y_train, X_val=X_val, y_val=y_val)
    np.testing.assert_allclose(getattr(again, out)(X_test), getattr(reference, out)(X_test), atol=1e-4)


def test_an_unreadable_file_is_recomputed_with_a_warning(tiny_model_dir, tmp_path, computed_prefixes):
    est = fast(TagLLMRegressor, tiny_model_dir, prefix_cache=str(tmp_path)).fit(SMILES[:12], Y[:12])
    files = sorted(tmp_path.rglob("*.safetensors"))
    files[0].write_bytes(b"not a safetensors file")
    files[1].write_bytes(files[1].read_bytes()[:100])  # cut short
    seen = computed_prefixes
    seen.clear()  # the fit's own
    with pytest.warns(UserWarning, match="unreadable"):
        pred = est.predict(SMILES[:12])
    assert len(seen) == 2
    np.testing.assert_allclose(pred, fast(TagLLMRegressor, tiny_model_dir).fit(SMILES[:12], Y[:12]).predict(SMILES[:12]),
                               atol=1e-4)


def test_prefixes_too_large_for_memory_stay_in_their_files(tiny_model_dir, tmp_path, monkeypatch):

    X, X_test = SMILES[:16], SMILES[16:]
    filled = fast(TagLLMRegressor, tiny_model_dir, prefix_cache=str(tmp_path)).fit(X, Y[:16])
    files = sorted(tmp_path.rglob("*.safetensors"))
    files[0].write_bytes(files[0].read_bytes()[:100])  # cut short: recomputed, not trusted

    stores: list = []
    real_allocate = PrefixStore.allocate
    monkeypatch.setattr(PrefixStore, "allocate", lambda *a: stores.append(a) or real_allocate(*a))
    monkeypatch.setattr("biotag.hardware.available_memory", lambda device=None: 1)  # nothing fits in memory
    read: list = []
    real = FilePrefixKV.layers
    monkeypatch.setattr(FilePrefixKV, "layers", lambda self: read.append(self.file) or real(self))
    with pytest.warns(UserWarning, match="unreadable"):
        from_files = fast(TagLLMRegressor, tiny_model_dir, prefix_cache=str(tmp_path)).fit(X, Y[:16])
    assert set(read) == set(files)  # every prefix was read from its file when its batch ran
    assert len(stores) == 1  # only the recomputed prefix was held outside its file, for a moment
    np.testing.assert_allclose(from_files.predict(X_test), filled.predict(X_test), atol=1e-5)
    assert np.allclose(from_files.history_.train_loss, filled.history_.train_loss, atol=1e-6)


def test_prefix_memory_zero_reads_every_prefix_from_its_file(tiny_model_dir, tmp_path, monkeypatch):
    """A lowered share of memory (two jobs side by side) changes where the prefixes live, never the results."""
    X, X_test = SMILES[:16], SMILES[16:]
    in_memory = fast(TagLLMRegressor, tiny_model_dir, prefix_cache=str(tmp_path)).fit(X, Y[:16])
    files = set(tmp_path.rglob("*.safetensors"))
    read: list = []
    real = FilePrefixKV.layers
    monkeypatch.setattr(FilePrefixKV, "layers", lambda self: read.append(self.file) or real(self))
    from_disk = fast(TagLLMRegressor, tiny_model_dir, prefix_cache=str(tmp_path), prefix_memory=0.0).fit(X, Y[:16])
    assert set(read) == files
    del read[:]
    pred = from_disk.predict(X_test)  # prediction reads them from disk too
    assert set(read) == files
    np.testing.assert_allclose(pred, in_memory.predict(X_test), atol=1e-5)
    assert np.allclose(from_disk.history_.train_loss, in_memory.history_.train_loss, atol=1e-6)


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_a_share_of_memory_outside_0_to_1_is_refused(tiny_model_dir, tmp_path, fraction):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(ValueError, match="memory_fraction must be between 0 and 1"):
        PrefixCache(tmp_path, memory_fraction=fraction)
    with pytest.raises(InvalidParameterError, match="prefix_memory"):
        fast(TagLLMRegressor, tiny_model_dir, prefix_cache=str(tmp_path), prefix_memory=fraction).fit(SMILES[:8], Y[:8])


def test_the_cache_is_filled_a_chunk_at_a_time(tiny_lm, tmp_path, monkeypatch):
    model, tok = tiny_lm
    lib = TagLibrary.for_model(model)
    lib.ensure_tag(TagSpec("<SMILES>", "domain", p=3), model)
    tlm = TaggedLM(model, tok, lib)
    items = [TaggedInput((Tag("<SMILES>"), Text(s, "smiles"))) for s in dict.fromkeys(SMILES)]
    cache, calls = PrefixCache(tmp_path), []
    real = PrefixCache._compute_and_write
    monkeypatch.setattr(PrefixCache, "_compute_and_write",
                        lambda self, *a, **kw: real(self, *a, **{**kw, "chunk": 3}))
    import biotag.model.prefix.compute as prefix_module

    real_compute = prefix_module.compute_prefixes
    monkeypatch.setattr(prefix_module, "compute_prefixes", lambda tlm, p, **kw: calls.append(len(p)) or
                        real_compute(tlm, p, **kw))
    got = cache.prefixes(tlm, items)
    assert calls == [3, 3, 2]
    for a, b in zip(compute_prefixes(tlm, items), got):
        for ka, kb in zip(a.keys + a.values, b.keys + b.values):
            torch.testing.assert_close(ka, kb, atol=1e-5, rtol=1e-5)


def test_other_domain_tags_or_tokenization_get_their_own_folder(tiny_lm, tmp_path):
    model, tok = tiny_lm
    lib = TagLibrary.for_model(model)
    lib.ensure_tag(TagSpec("<SMILES>", "domain", p=3), model)
    cache = PrefixCache(tmp_path)
    tlm = TaggedLM(model, tok, lib)
    base = cache.folder(tlm, ["<SMILES>"])
    assert cache.folder(TaggedLM(model, tok, lib, tokenization="char"), ["<SMILES>"]) != base
    with torch.no_grad():
        lib.tags["<SMILES>"].add_(1e-3)  # a trained (enriched) domain tag: its prefixes change
    assert cache.folder(tlm, ["<SMILES>"]) != base


def test_a_disk_that_cannot_take_the_cache_falls_back_to_computing(tiny_model_dir, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PrefixCache, "_write", staticmethod(full))
    with pytest.warns(UserWarning, match="cannot write cached prefixes"):
        est = fast(TagLLMRegressor, tiny_model_dir, prefix_cache=str(tmp_path)).fit(SMILES[:12], Y[:12])
    plain = fast(TagLLMRegressor, tiny_model_dir).fit(SMILES[:12], Y[:12])
    with pytest.warns(UserWarning, match="cannot write cached prefixes"):
        pred = est.predict(SMILES)
    np.testing.assert_allclose(pred, plain.predict(SMILES), atol=1e-4)
