"""Tags trained on a model in one precision load onto the same model in another (float32 <-> bfloat16), and
never onto another model."""

import copy
import json

import pytest
import torch
from tiny import make_tiny_lm

from biotag.exceptions import IncompatibleBaseModelError
from biotag.tags import TagLibrary, TagSpec
from biotag.backbone.fingerprint import embedding_fingerprint, embedding_fingerprints


def library_on(model):
    lib = TagLibrary.for_model(model)
    lib.ensure_tag(TagSpec("<SMILES>", "domain", p=2), model)
    return lib


def test_fingerprints_at_each_precision_a_model_rounds_to():
    model, _ = make_tiny_lm()
    fp32 = embedding_fingerprints(model)
    assert set(fp32) == {"float32", "bfloat16", "float16"} and fp32["float32"] == embedding_fingerprint(model)
    bf16 = embedding_fingerprints(copy.deepcopy(model).to(torch.bfloat16))
    assert bf16 == {"bfloat16": fp32["bfloat16"]}  # loading in bfloat16 rounds as Tensor.to does
    assert fp32["bfloat16"] != fp32["float32"]


@pytest.mark.parametrize("trained, used", [(torch.float32, torch.bfloat16), (torch.bfloat16, torch.float32),
                                           (torch.float32, torch.float16)])
def test_a_saved_library_loads_onto_the_same_model_in_another_precision(tmp_path, trained, used):
    model, _ = make_tiny_lm()
    lib = library_on(copy.deepcopy(model).to(trained))
    lib.save(tmp_path / "lib")
    loaded = TagLibrary.load(tmp_path / "lib", copy.deepcopy(model).to(used))
    torch.testing.assert_close(loaded.tags["<SMILES>"], lib.tags["<SMILES>"])
    other, _ = make_tiny_lm(seed=1)
    with pytest.raises(IncompatibleBaseModelError, match="trained on"):
        TagLibrary.load(tmp_path / "lib", copy.deepcopy(other).to(used))


def test_libraries_of_one_model_in_two_precisions_merge():
    model, _ = make_tiny_lm()
    merged = library_on(model)
    other = TagLibrary.for_model(copy.deepcopy(model).to(torch.bfloat16))
    other.ensure_tag(TagSpec("<Protein>", "domain", p=2), model)
    merged.merge(other)
    assert set(merged.specs) == {"<SMILES>", "<Protein>"}


def test_a_library_saved_before_per_precision_fingerprints_keeps_the_exact_check(tmp_path):
    model, _ = make_tiny_lm()
    library_on(model).save(tmp_path / "lib")
    meta_file = tmp_path / "lib" / "library.json"
    meta = json.loads(meta_file.read_text())
    del meta["base_model"]["embedding_fingerprints"]  # as older biotag wrote it
    meta_file.write_text(json.dumps(meta))
    TagLibrary.load(tmp_path / "lib", model)  # the exact model: fine
    with pytest.raises(IncompatibleBaseModelError, match="predates per-precision fingerprints"):
        TagLibrary.load(tmp_path / "lib", copy.deepcopy(model).to(torch.bfloat16))


def test_an_estimator_in_bfloat16_uses_domain_tags_pretrained_in_float32(tiny_model_dir, tmp_path):
    import numpy as np

    from biotag import TagLLMRegressor
    from biotag.backbone import load_base_model

    model, _ = load_base_model(tiny_model_dir)  # float32
    library_on(model).save(tmp_path / "stage1")
    smiles = ["CCO", "c1ccccc1O", "CCN(CC)CC", "CC(=O)Oc1ccccc1C(=O)O", "N#CC", "OCCO", "CCCCCCCC", "C1CCNCC1"]
    y = np.array([len(s) for s in smiles], dtype=float)
    est = TagLLMRegressor(model=tiny_model_dir, dtype="bfloat16", domain_tags=str(tmp_path / "stage1"), p=2,
                          epochs=1, batch_size=4, random_state=0, verbose=0).fit(smiles, y)
    assert np.isfinite(est.predict(smiles)).all()
