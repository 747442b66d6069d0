import math
import random

import pytest
import torch
from tiny import SMI, count_examples, make_tiny_lm, stage_setup, toy_smiles

from biotag import Template
from biotag.model import TaggedLM
from biotag.tags import TagLibrary, TagSpec
from biotag.heads.readout import Readout
from biotag.training import Example, stage1, stage2, stage3, train_stage
from biotag.training.loop import evaluate_loss


def test_stage1_lowers_lm_loss_on_domain_tokens_only():
    tlm = stage_setup()
    data = [Example(Template("smiles").build(s)) for s in ["CNOCNOCNO", "CNOCNO", "CNOCNOCNOCNO"] * 8]
    batch = tlm.encode([data[0].input])
    n_tag = 3
    assert (batch.lm_labels[0, :n_tag] == -100).all() and (batch.lm_labels[0, n_tag:] >= 0).all()
    spec = stage1("<SMILES>", epochs=15, lr=5e-2, batch_size=8)
    before = evaluate_loss(tlm, spec, data)
    history = train_stage(tlm, spec, data, progress=False)
    after = evaluate_loss(tlm, spec, data)
    assert after < before - 0.05, (before, after)
    assert len(history.train_loss) == 15


def test_stage2_regression_lowers_loss_and_touches_only_tags_and_head():
    tlm = stage_setup()
    base_before = {k: v.clone() for k, v in tlm.model.state_dict().items()}
    smiles_before = tlm.library.tags["<SMILES>"].detach().clone()
    protein_before = tlm.library.tags["<Protein>"].detach().clone()
    count_before = tlm.library.tags["<Count>"].detach().clone()
    train, val = count_examples(96, 0), count_examples(32, 1)
    spec = stage2("<Count>", "<SMILES>", epochs=12, lr=2e-2, batch_size=16)
    tlm.head("<Count>").fit_scaler(torch.tensor([e.target for e in train]))
    before = evaluate_loss(tlm, spec, val)
    history = train_stage(tlm, spec, train, val, progress=False)
    after = evaluate_loss(tlm, spec, val)
    assert after < 0.7 * before, (before, after)
    assert history.best_epoch is not None and not any(math.isnan(v) for v in history.val_loss)
    # the base model is bit-identical; the frozen domain tags did not move; the function tag did
    for k, v in tlm.model.state_dict().items():
        assert torch.equal(v, base_before[k]), k
    assert torch.equal(tlm.library.tags["<SMILES>"], smiles_before)
    assert torch.equal(tlm.library.tags["<Protein>"], protein_before)
    assert not torch.equal(tlm.library.tags["<Count>"], count_before)
    assert not any(p.requires_grad for p in tlm.library.parameters())


def test_gradients_reach_only_the_stage_parameters():
    tlm = stage_setup()
    spec = stage2("<Count>", "<SMILES>")
    from biotag.training.loop import _trainable, batch_loss

    params = [p for group in _trainable(tlm, spec) for p in group["params"]]
    batch_loss(tlm, spec, count_examples(4)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    assert tlm.library.tags["<SMILES>"].grad is None
    assert all(p.grad is None for p in tlm.model.parameters())


def test_enrich_moves_the_domain_tag():
    tlm = stage_setup()
    before = tlm.library.tags["<SMILES>"].detach().clone()
    train_stage(tlm, stage2("<Count>", "<SMILES>", enrich=True, epochs=1, lr=1e-2), count_examples(32), progress=False)
    assert not torch.equal(before, tlm.library.tags["<SMILES>"])


def test_classification_stage_lowers_loss():
    tlm = stage_setup("classification")
    smiles = toy_smiles(120, 2)
    data = [Example(SMI.build(s), min(s.count("C"), 2)) for s in smiles]
    spec = stage2("<Count>", "<SMILES>", task="classification", epochs=10, lr=2e-2)
    before = evaluate_loss(tlm, spec, data[90:])
    train_stage(tlm, spec, data[:90], progress=False)
    assert evaluate_loss(tlm, spec, data[90:]) < before


def test_stage3_cross_domain_lowers_loss():
    tlm = stage_setup()
    tpl = Template(("protein", "smiles"), function_tag="<Count>")
    rng = random.Random(0)
    rows = [("".join(rng.choice("MKAG") for _ in range(5)), s) for s in toy_smiles(96, 3)]
    data = [Example(tpl.build(p, s), float(s.count("C") + p.count("K"))) for p, s in rows]
    spec = stage3("<Count>", ("<Protein>", "<SMILES>"), epochs=10, lr=2e-2)
    tlm.head("<Count>").fit_scaler(torch.tensor([e.target for e in data]))
    before = evaluate_loss(tlm, spec, data[72:])
    train_stage(tlm, spec, data[:72], progress=False)
    assert evaluate_loss(tlm, spec, data[72:]) < 0.8 * before


def test_text_stage_lowers_answer_loss():
    model, tok = make_tiny_lm()
    lib = TagLibrary.for_model(model)
    lib.ensure_tag(TagSpec("<SMILES>", "domain", p=2), model)
    lib.ensure_tag(TagSpec("<Name>", "function", p=2), model)
    tlm = TaggedLM(model, tok, lib)
    tpl = Template("smiles", function_tag="<Name>")
    data = [Example(tpl.build(s), "yes" if "N" in s else "no") for s in toy_smiles(48, 4)]
    spec = stage2("<Name>", "<SMILES>", task="text", epochs=8, lr=5e-2)
    batch = tlm.encode([data[0].input], target_texts=[data[0].target])
    assert (batch.lm_labels >= 0).sum() == len(data[0].target) + 1  # answer + EOS only
    before = evaluate_loss(tlm, spec, data)
    train_stage(tlm, spec, data, progress=False)
    assert evaluate_loss(tlm, spec, data) < before


def test_training_is_reproducible():
    results = []
    for _ in range(2):
        tlm = stage_setup()
        train_stage(tlm, stage2("<Count>", "<SMILES>", epochs=2, seed=3), count_examples(40), progress=False)
        results.append(tlm.library.state_dict())
    for k in results[0]:
        assert torch.equal(results[0][k], results[1][k]), k


def test_missing_tag_and_empty_data_errors():
    tlm = stage_setup()
    with pytest.raises(KeyError, match="not in the library"):
        train_stage(tlm, stage2("<Other>", "<SMILES>"), count_examples(4), progress=False)
    with pytest.raises(ValueError, match="at least one training example"):
        train_stage(tlm, stage2("<Count>", "<SMILES>"), [], progress=False)


@pytest.mark.parametrize("readout", [None, Readout(True, (1, 2), 1)], ids=["tag", "tag+pool"])
@pytest.mark.parametrize("loss", ["regression", "classification"])
def test_prefix_reuse_trains_exactly_like_the_plain_path(loss, readout):
    from biotag.training.loop import can_reuse_prefix

    runs = []
    for reuse in (True, False):
        tlm = stage_setup(loss, readout=readout)
        if loss == "regression":
            train, val = count_examples(48, 0), count_examples(16, 1)
        else:
            train = [Example(e.input, int(e.target) % 3) for e in count_examples(48, 0)]
            val = [Example(e.input, int(e.target) % 3) for e in count_examples(16, 1)]
        spec = stage2("<Count>", "<SMILES>", task=loss, epochs=3, lr=1e-2, reuse_prefix=reuse)
        assert can_reuse_prefix(spec, train) is reuse
        history = train_stage(tlm, spec, train, val, progress=False)
        pred = tlm.predict([e.input for e in val], "<Count>")
        runs.append((history, pred))
    (h_fast, p_fast), (h_plain, p_plain) = runs
    # Stated tolerance: float32 reassociation only, accumulated over 9 optimizer steps.
    assert h_fast.train_loss == pytest.approx(h_plain.train_loss, rel=1e-4, abs=1e-5)
    assert h_fast.val_loss == pytest.approx(h_plain.val_loss, rel=1e-4, abs=1e-5)
    torch.testing.assert_close(p_fast, p_plain, atol=1e-4, rtol=1e-4)


def test_prefix_reuse_is_off_where_it_would_not_be_exact():
    from biotag.training.loop import can_reuse_prefix

    data = count_examples(4)
    assert not can_reuse_prefix(stage2("<Count>", "<SMILES>", enrich=True), data)  # domain tag trains
    assert not can_reuse_prefix(stage1("<SMILES>"), data)
    assert not can_reuse_prefix(stage2("<Count>", "<SMILES>", task="text"), data)
    assert can_reuse_prefix(stage2("<Count>", "<SMILES>"), data)
