"""On a CUDA GPU: the estimators' paths that place tensors (head start, prefixes, pooled readouts, precision)
give what the CPU gives. Skipped where there is no GPU; the CPU-side simulations of the same faults live beside
the code they test (the memory budget in ``tags/prefix/test_compute.py``, ``dtype="auto"`` in ``test_utils.py``)."""

import numpy as np
import pytest
import torch

from biotag import TagLLMClassifier, TagLLMRegressor
from biotag.hardware import available_memory, resolve_placement

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SMILES = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "OCCO", "NCCN", "CC(C)O", "c1ccncc1", "CCOC",
          "CCCCO", "CN", "CO", "C=CC", "CC#N", "OC(=O)CC", "NC(=O)C", "CCS", "CSC", "CCCl"] * 2
Y = np.array([s.count("C") + 0.5 * s.count("O") for s in SMILES])


def params(tiny_model_dir, **kw):
    return dict(model=tiny_model_dir, p=2, epochs=3, lr=2e-2, batch_size=8, random_state=0, verbose=0,
                dtype="float32", **kw)


@pytest.mark.parametrize("head_init", ["random", "probe"])
@pytest.mark.parametrize("readout", ["tag", "tag+pool"])
def test_a_regressor_on_the_gpu_predicts_what_it_predicts_on_the_cpu(tiny_model_dir, head_init, readout):
    kw = params(tiny_model_dir, head_init=head_init, readout=readout)
    gpu = TagLLMRegressor(device="cuda", **kw).fit(SMILES, Y)
    cpu = TagLLMRegressor(device="cpu", **kw).fit(SMILES, Y)
    assert gpu._tagged_lm().model.device.type == "cuda"
    np.testing.assert_allclose(gpu.predict(SMILES), cpu.predict(SMILES), rtol=1e-3, atol=1e-3 * Y.std())


def test_a_classifier_starting_at_the_probe_on_the_gpu_with_a_prefix_cache(tiny_model_dir, tmp_path):
    labels = (Y > np.median(Y)).astype(int)
    est = TagLLMClassifier(device="cuda", head_init="probe", readout="tag+pool", prefix_cache=str(tmp_path),
                           **params(tiny_model_dir)).fit(SMILES, labels)
    first = est.predict_proba(SMILES)
    assert first.shape == (len(SMILES), 2) and np.isfinite(first).all()
    again = TagLLMClassifier(device="cuda", head_init="probe", readout="tag+pool", prefix_cache=str(tmp_path),
                             **params(tiny_model_dir)).fit(SMILES, labels)  # prefixes read back from the cache
    np.testing.assert_allclose(again.predict_proba(SMILES), first, atol=1e-5)


def test_auto_precision_and_memory_budget_on_the_gpu(tiny_model_dir):
    gpu = torch.device("cuda")
    native = torch.cuda.get_device_capability(gpu)[0] >= 8
    assert resolve_placement(gpu, "auto").dtype == ("bfloat16" if native else "float32")
    free, total = torch.cuda.mem_get_info(gpu)
    assert 0 < available_memory(gpu) <= total
    est = TagLLMRegressor(device="cuda", **{**params(tiny_model_dir), "dtype": "auto"}).fit(SMILES, Y)
    assert est.dtype_ == resolve_placement(gpu, "auto").dtype and np.isfinite(est.predict(SMILES)).all()
