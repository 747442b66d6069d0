import json

import pytest
import torch
from tiny import SMILES, make_tiny_lm, make_tlm

from biotag import CorruptFileError, IncompatibleBaseModelError, Template
from biotag.heads import RegressionHead
from biotag.model import TaggedLM
from biotag.tags import TagLibrary, TagSpec, init_tag_vector


def test_init_follows_the_paper():
    model, _ = make_tiny_lm()
    weight = model.get_input_embeddings().weight.detach()
    v = init_tag_vector(weight)
    assert torch.allclose(v.norm(), weight.norm(dim=1).mean())
    cos = torch.nn.functional.cosine_similarity(v, weight.mean(0), dim=0)
    assert cos > 0.9999
    lib = TagLibrary.for_model(model)
    lib.ensure_tag(TagSpec("<SMILES>", "domain", p=5), model)
    tag = lib.tags["<SMILES>"]
    assert tag.shape == (5, 32) and tag.dtype == torch.float32
    assert torch.allclose(tag, v.expand(5, -1))
    # computed from the actual model: another model gives another vector
    other, _ = make_tiny_lm(seed=3)
    assert not torch.allclose(init_tag_vector(other.get_input_embeddings().weight), v)


def test_a_new_tag_has_the_estimators_length_unless_told():
    from biotag.config import TagLLMConfig

    assert TagSpec("<X>", "domain").p == TagLLMConfig().p and TagSpec("<X>", "domain", p=10).p == 10


def test_save_load_identical_outputs(tmp_path):
    tlm = make_tlm()
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)
    tlm.head("<QED>").fit_scaler(torch.arange(5.0).reshape(-1, 1))
    before = tlm.predict(items, "<QED>")
    tlm.library.save(tmp_path / "lib")
    meta = json.loads((tmp_path / "lib" / "library.json").read_text())
    assert meta["base_model"]["id"] == "tiny-llama-seed0" and meta["tags"][0] == {"name": "<SMILES>", "kind": "domain", "p": 3}
    assert "biotag_version" in meta and meta["base_model"]["embedding_fingerprint"]
    loaded = TagLibrary.load(tmp_path / "lib", tlm.model)
    after = TaggedLM(tlm.model, tlm.tokenizer, loaded).predict(items, "<QED>")
    assert torch.equal(before, after)


def test_load_refuses_another_base_model(tmp_path):
    tlm = make_tlm()
    tlm.library.save(tmp_path / "lib")
    other, tok = make_tiny_lm(seed=7)
    with pytest.raises(IncompatibleBaseModelError, match="trained on base model 'tiny-llama-seed0'"):
        TagLibrary.load(tmp_path / "lib", other)
    lib = TagLibrary.load(tmp_path / "lib")  # no model: loads, and TaggedLM checks
    with pytest.raises(IncompatibleBaseModelError):
        TaggedLM(other, tok, lib)


def test_several_libraries_compose(tmp_path):
    model, tok = make_tiny_lm()
    domains = TagLibrary.for_model(model)
    domains.ensure_tag(TagSpec("<SMILES>", "domain", p=3), model)
    functions = TagLibrary.for_model(model)
    functions.ensure_tag(TagSpec("<QED>", "function", p=2), model)
    functions.add_head("<QED>", RegressionHead(32))
    domains.save(tmp_path / "d")
    functions.save(tmp_path / "f")
    merged = TagLibrary.load(tmp_path / "d", model).merge(TagLibrary.load(tmp_path / "f", model))
    assert list(merged.specs) == ["<SMILES>", "<QED>"] and list(merged.heads) == ["<QED>"]
    with pytest.raises(ValueError, match="both libraries define tag <SMILES>"):
        merged.merge(TagLibrary.load(tmp_path / "d", model))
    other, _ = make_tiny_lm(seed=5)
    with pytest.raises(IncompatibleBaseModelError):
        TagLibrary.for_model(other).merge(merged)
    part = merged.subset(["<QED>", "<Protein>"])  # a name it lacks is skipped; heads stay behind
    assert list(part.specs) == ["<QED>"] and not part.heads and torch.equal(part.tags["<QED>"], merged.tags["<QED>"])
    part.check_compatible(model)


def _flip_a_data_byte(folder):
    data = bytearray((folder / "tags.safetensors").read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's values: still valid safetensors, another number
    (folder / "tags.safetensors").write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda d: (d / "tags.safetensors").write_bytes((d / "tags.safetensors").read_bytes()[:100]), "corrupt"),
        (lambda d: (d / "tags.safetensors").write_bytes(b"\x00" * 64), "corrupt"),
        (lambda d: (d / "library.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "library.json").write_text('{"format": "other"}'), "not a biotag tag library"),
        (lambda d: (d / "tags.safetensors").unlink(), "missing"),
        (lambda d: (d / "library.json").write_text(
            (d / "library.json").read_text().replace('"p": 3', '"p": 4', 1)), "does not match"),
        (lambda d: (d / "library.json").write_text(
            (d / "library.json").read_text().replace('"kind": "domain"', '"kind": "nope"', 1)), "not a valid"),
        (lambda d: (d / "library.json").write_text(  # never allocated: it would be terabytes
            (d / "library.json").read_text().replace('"hidden_size": 32', '"hidden_size": 1000000000000', 1)),
         "base_model.hidden_size is 1000000000000, not a size"),
        (lambda d: (d / "library.json").write_text(
            (d / "library.json").read_text().replace('"tags": [', '"tags": "none", "x": [', 1)), "not a valid"),
        (lambda d: (d / "library.json").write_text(
            (d / "library.json").read_text().replace('"base_model"', '"base"', 1)), "field 'base_model' is missing"),
        (_flip_a_data_byte, "has changed since it was saved"),
    ],
)
def test_corrupt_library_gives_a_clear_error(tmp_path, damage, match):
    tlm = make_tlm()
    path = tlm.library.save(tmp_path / "lib")
    damage(path)
    with pytest.raises(CorruptFileError, match=match):
        TagLibrary.load(path, tlm.model)


def test_non_finite_tag_vectors_are_refused_on_load(tmp_path):
    tlm = make_tlm()
    with torch.no_grad():
        next(iter(tlm.library.tags.values())).fill_(float("nan"))
    path = tlm.library.save(tmp_path / "lib")
    with pytest.raises(CorruptFileError, match="non-finite values"):
        TagLibrary.load(path, tlm.model)


def test_missing_library_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tag library"):
        TagLibrary.load(tmp_path / "nowhere")
