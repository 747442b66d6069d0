import json

import pytest
import torch

from biotag import CorruptFileError, IncompatibleBaseModelError, Template
from biotag.domains.tagging import Tag, TaggedInput, Text
from biotag.tags import ClassificationHead, RegressionHead, TaggedLM, TagLibrary, TagSpec, init_tag_vector
from tiny import ARCHITECTURES, SMILES, make_tiny_lm, make_tlm

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


def test_default_p_is_ten():
    assert TagSpec("<X>", "domain").p == 10


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("tokenization", ["model", "char"])
def test_padded_batch_equals_one_at_a_time(arch, tokenization):
    tlm = make_tlm(arch, tokenization=tokenization)
    items = Template("smiles", function_tag="<QED>").build_many(SMILES)
    batch = tlm.encode(items)
    assert batch.attention_mask.sum(1).tolist() != [batch.input_ids.shape[1]] * len(items)  # really padded
    with torch.no_grad():
        h_batch = tlm.readout(batch)
        h_single = torch.cat([tlm.readout(tlm.encode([x])) for x in items])
        lm_batch = tlm.lm_loss(tlm.encode(items[:1] + items[2:3]))
    torch.testing.assert_close(h_batch, h_single, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        losses = [tlm.lm_loss(tlm.encode([x])) for x in (items[0], items[2])]
    assert torch.isfinite(lm_batch) and all(torch.isfinite(x) for x in losses)


def test_readout_is_last_function_tag_position():
    tlm = make_tlm()
    items = [Template("smiles", function_tag="<QED>").build("CCO"), TaggedInput((Tag("<QED>"), Text("hello")))]
    batch = tlm.encode(items)
    T = batch.input_ids.shape[1]
    assert batch.readout[0] == T - 1
    assert batch.readout[1] == T - len("hello") - 1
    assert batch.tag_slots[1, batch.readout[1]] >= 0


def test_tags_are_spliced_into_embeddings():
    tlm = make_tlm()
    batch = tlm.encode([Template("smiles", function_tag="<QED>").build("CC")])
    embeds = tlm.embed(batch)[0]
    p = 3
    torch.testing.assert_close(embeds[:p], tlm.library.tags["<SMILES>"])
    torch.testing.assert_close(embeds[-2:], tlm.library.tags["<QED>"])


def test_char_and_model_tokenization_differ():
    char = make_tlm(tokenization="char").encode([Template("smiles").build("CCCC")])
    model = make_tlm(tokenization="model").encode([Template("smiles").build("CCCC")])
    assert char.input_ids.shape[1] == 3 + 4 and model.input_ids.shape[1] == 3 + 2


def test_over_long_row_names_the_row():
    tlm = make_tlm(max_length=12)
    items = Template("smiles").build_many(["CC", "CCCCCCCCCCCCCCCCCCCC"])
    with pytest.raises(ValueError, match=r"row 1 is \d+ positions long.*max_length=12"):
        tlm.encode(items)


def test_unknown_tag_is_a_clear_error():
    tlm = make_tlm()
    with pytest.raises(KeyError, match="<BindingAffinity> is not in the tag library"):
        tlm.encode([Template("smiles", function_tag="<BindingAffinity>").build("CC")])


def test_base_model_is_frozen_and_in_eval_mode():
    model, tok = make_tiny_lm()
    model.train()
    tlm = TaggedLM(model, tok, TagLibrary.for_model(model))
    assert not tlm.model.training
    assert not any(p.requires_grad for p in tlm.model.parameters())


def test_regression_head_standardizes():
    head = RegressionHead(4, n_outputs=2)
    y = torch.tensor([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    head.fit_scaler(y)
    torch.testing.assert_close(head.y_mean, torch.tensor([3.0, 30.0]))
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.zero_()
    assert torch.allclose(head.predict(torch.zeros(1, 4)), torch.tensor([[3.0, 30.0]]))
    const = RegressionHead(4)
    const.fit_scaler(torch.ones(5, 1))
    assert const.y_std.item() == 1.0


def test_classification_head_probabilities():
    head = ClassificationHead(4, n_classes=3)
    probs = head.predict(torch.randn(5, 4))
    assert probs.shape == (5, 3) and torch.allclose(probs.sum(1), torch.ones(5))
    with pytest.raises(ValueError, match="n_classes"):
        ClassificationHead(4, n_classes=1)


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
    ],
)
def test_corrupt_library_gives_a_clear_error(tmp_path, damage, match):
    tlm = make_tlm()
    path = tlm.library.save(tmp_path / "lib")
    damage(path)
    with pytest.raises(CorruptFileError, match=match):
        TagLibrary.load(path, tlm.model)


def test_missing_library_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tag library"):
        TagLibrary.load(tmp_path / "nowhere")


def test_zero_shot_composition_runs_mechanically():
    """A function tag trained with <SMILES> can be applied after <Protein>."""
    tlm = make_tlm()
    with_smiles = TaggedInput((Tag("<SMILES>"), Text("CCO", "smiles"), Tag("<QED>")))
    with_protein = TaggedInput((Tag("<Protein>"), Text("MKT", "protein"), Tag("<QED>")))
    out = tlm.predict([with_smiles, with_protein], "<QED>")
    assert out.shape == (2, 1) and torch.isfinite(out).all() and out[0] != out[1]


def test_generate_returns_text():
    tlm = make_tlm()
    out = tlm.generate([Template("smiles", function_tag="<QED>").build("CCO")] * 2, max_new_tokens=4)
    assert len(out) == 2 and all(isinstance(s, str) for s in out) and out[0] == out[1]
