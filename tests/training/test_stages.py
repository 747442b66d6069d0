import math
import random

import pytest
import torch

from biotag import Template
from biotag.tags import ClassificationHead, RegressionHead, TaggedLM, TagLibrary, TagSpec
from biotag.training import Example, StageSpec, get_lr, stage1, stage2, stage3, train_stage
from biotag.training.loop import evaluate_loss
from conftest import make_tiny_lm

SMI = Template("smiles", function_tag="<Count>")


def toy_smiles(n, seed=0):
    rng = random.Random(seed)
    return ["".join(rng.choice("CNO") for _ in range(rng.randint(3, 12))) for _ in range(n)]


def setup(head="regression", p=3):
    model, tok = make_tiny_lm()
    lib = TagLibrary.for_model(model)
    for name, kind in [("<SMILES>", "domain"), ("<Protein>", "domain"), ("<Count>", "function")]:
        lib.ensure_tag(TagSpec(name, kind, p=p), model)
    lib.add_head("<Count>", RegressionHead(32) if head == "regression" else ClassificationHead(32, 3))
    return TaggedLM(model, tok, lib)


def count_examples(n, seed=0):
    # target: number of 'C' in the string: learnable from the sequence
    return [Example(SMI.build(s), float(s.count("C"))) for s in toy_smiles(n, seed)]


def test_get_lr_is_warmup_then_cosine():
    lrs = [get_lr(s, 100, lr=1.0, warmup_ratio=0.1, min_lr_ratio=0.1) for s in range(100)]
    assert lrs[0] < lrs[5] < lrs[9] and max(lrs) == pytest.approx(1.0, abs=0.01)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.1, abs=0.01)
    assert get_lr(7, 100, lr=1.0, warmup_ratio=0.1, min_lr_ratio=0.1) == lrs[7]


def test_stage_spec_validation_and_json_round_trip():
    spec = stage2("<QED>", "<SMILES>", lr=3e-3, epochs=2)
    assert spec.train_tags == ("<QED>",) and spec.frozen_tags == ("<SMILES>",) and spec.head == "<QED>"
    assert StageSpec.from_dict(spec.to_dict()) == spec
    import json

    assert StageSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    enriched = stage2("<QED>", "<SMILES>", enrich=True)
    assert enriched.train_tags == ("<QED>", "<SMILES>") and enriched.frozen_tags == ()
    assert stage3("<BA>", ("<Protein>", "<SMILES>")).frozen_tags == ("<Protein>", "<SMILES>")
    with pytest.raises(ValueError, match="StageSpec.lr must be > 0, got -1"):
        stage1("<SMILES>", lr=-1)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        stage1("<SMILES>", batch_size=0)
    with pytest.raises(ValueError, match="both trained and frozen"):
        StageSpec("x", ("<A>",), "lm", frozen_tags=("<A>",))
    with pytest.raises(ValueError, match="loss must be one of"):
        StageSpec("x", ("<A>",), "mse")
    with pytest.raises(ValueError, match="unknown StageSpec field"):
        StageSpec.from_dict({**spec.to_dict(), "lrr": 1})


def test_stage1_lowers_lm_loss_on_domain_tokens_only():
    tlm = setup()
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
    tlm = setup()
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
    tlm = setup()
    spec = stage2("<Count>", "<SMILES>")
    from biotag.training.loop import _trainable, batch_loss

    params = _trainable(tlm, spec)
    batch_loss(tlm, spec, count_examples(4)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    assert tlm.library.tags["<SMILES>"].grad is None
    assert all(p.grad is None for p in tlm.model.parameters())


def test_enrich_moves_the_domain_tag():
    tlm = setup()
    before = tlm.library.tags["<SMILES>"].detach().clone()
    train_stage(tlm, stage2("<Count>", "<SMILES>", enrich=True, epochs=1, lr=1e-2), count_examples(32), progress=False)
    assert not torch.equal(before, tlm.library.tags["<SMILES>"])


def test_classification_stage_lowers_loss():
    tlm = setup("classification")
    smiles = toy_smiles(120, 2)
    data = [Example(SMI.build(s), min(s.count("C"), 2)) for s in smiles]
    spec = stage2("<Count>", "<SMILES>", task="classification", epochs=10, lr=2e-2)
    before = evaluate_loss(tlm, spec, data[90:])
    train_stage(tlm, spec, data[:90], progress=False)
    assert evaluate_loss(tlm, spec, data[90:]) < before


def test_stage3_cross_domain_lowers_loss():
    tlm = setup()
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
        tlm = setup()
        train_stage(tlm, stage2("<Count>", "<SMILES>", epochs=2, seed=3), count_examples(40), progress=False)
        results.append(tlm.library.state_dict())
    for k in results[0]:
        assert torch.equal(results[0][k], results[1][k]), k


def test_early_stopping_restores_the_best_epoch():
    tlm = setup()
    train, val = count_examples(48, 0), count_examples(16, 1)
    spec = stage2("<Count>", "<SMILES>", epochs=30, lr=0.3, patience=2)  # a high rate overshoots
    history = train_stage(tlm, spec, train, val, progress=False)
    assert len(history.epochs) < 30 or history.best_epoch is not None
    best = min(history.val_loss)
    assert history.val_loss[history.best_epoch - 1] == best
    assert evaluate_loss(tlm, spec, val, batch_size=32) == pytest.approx(best, rel=1e-5)


def test_grad_accumulation_and_max_steps():
    tlm = setup()
    history = train_stage(tlm, stage2("<Count>", "<SMILES>", epochs=5, batch_size=4, grad_accum=2, max_steps=3),
                          count_examples(40), progress=False)
    assert history.steps == 3 and len(history.epochs) == 1


def test_missing_tag_and_empty_data_errors():
    tlm = setup()
    with pytest.raises(KeyError, match="not in the library"):
        train_stage(tlm, stage2("<Other>", "<SMILES>"), count_examples(4), progress=False)
    with pytest.raises(ValueError, match="at least one training example"):
        train_stage(tlm, stage2("<Count>", "<SMILES>"), [], progress=False)


@pytest.mark.parametrize("loss", ["regression", "classification"])
def test_prefix_reuse_trains_exactly_like_the_plain_path(loss):
    from biotag.training.loop import can_reuse_prefix

    runs = []
    for reuse in (True, False):
        tlm = setup(loss)
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


def test_head_initialization_follows_the_stage_seed_not_the_global_rng():
    results = []
    for global_seed in (123, 456):
        tlm = setup()
        torch.manual_seed(global_seed)  # whatever the caller's RNG holds when the head is built
        tlm.library.heads["<Count>"] = RegressionHead(32)
        train_stage(tlm, stage2("<Count>", "<SMILES>", epochs=1, seed=3), count_examples(24), progress=False)
        results.append(tlm.library.state_dict())
    for k in results[0]:
        assert torch.equal(results[0][k], results[1][k]), k


def test_epoch_batches_cover_every_row_once_and_group_by_length():
    import numpy as np

    from biotag.training.loop import epoch_batches

    n, size = 1000, 16
    lengths = np.random.default_rng(0).integers(10, 200, n)
    plain = epoch_batches(np.random.default_rng(3), n, size)
    # Without lengths: the batches the loop has always drawn (a permutation cut in order).
    np.testing.assert_array_equal(np.concatenate(plain), np.random.default_rng(3).permutation(n))
    grouped = epoch_batches(np.random.default_rng(3), n, size, lengths, group=10)
    assert sorted(np.concatenate(grouped).tolist()) == list(range(n))
    assert all(len(b) <= size for b in grouped) and len(grouped) == len(plain)

    def padded(batches):  # positions a left-padded batch runs over
        return sum(lengths[b].max() * len(b) for b in batches)

    assert padded(grouped) < 0.7 * padded(plain)
    # The batch order is shuffled (not longest first) and follows the seed.
    firsts = [lengths[b].max() for b in grouped]
    assert firsts != sorted(firsts, reverse=True)
    again = epoch_batches(np.random.default_rng(3), n, size, lengths, group=10)
    assert all(np.array_equal(a, b) for a, b in zip(grouped, again))


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_probe_init_puts_the_head_at_the_regularized_linear_fit(kind):
    import numpy as np
    from sklearn.linear_model import LogisticRegression, Ridge

    from biotag.tags.heads import probe_init

    rng = np.random.default_rng(0)
    h = torch.tensor(rng.normal(size=(120, 32)) * rng.uniform(0.1, 30, 32), dtype=torch.float32)
    signal = (h[:, :3] / h[:, :3].std(0)).sum(1)
    if kind == "regression":
        head, y = RegressionHead(32), 5 + 2 * signal + torch.tensor(rng.normal(size=120) * 0.3, dtype=torch.float32)
        head.fit_scaler(y[:80])
    else:
        head = ClassificationHead(32, 2 if kind == "binary" else 3)
        y = (signal > 0).long() if kind == "binary" else torch.bucketize(signal, torch.tensor([-1.0, 1.0]))
    head.scaler.fit(h[:80])
    chosen = probe_init(head, h[:80], y[:80], h[80:], y[80:])
    Z = head.scaler(h.double()).numpy()
    if kind == "regression":
        ref = Ridge(alpha=chosen).fit(Z[:80], ((y[:80] - head.y_mean) / head.y_std).numpy())
        np.testing.assert_allclose(head.predict(h[80:]).detach().numpy().ravel(),
                                   ref.predict(Z[80:]) * head.y_std.item() + head.y_mean.item(), atol=1e-4)
    else:
        ref = LogisticRegression(C=1 / chosen, max_iter=2000).fit(Z[:80], y[:80].numpy())
        np.testing.assert_allclose(head.predict(h[80:]).detach().numpy(), ref.predict_proba(Z[80:]), atol=1e-4)
    # The chosen strength is the one whose fit has the lowest validation loss of the grid.
    losses = {}
    for a in (0.01, 1.0, 1e4):
        probe_init(head, h[:80], y[:80], h[80:], y[80:], strengths=(a,))
        losses[a] = head.loss(h[80:], y[80:]).detach().item()
    probe_init(head, h[:80], y[:80], h[80:], y[80:])
    assert head.loss(h[80:], y[80:]).detach().item() <= min(losses.values()) + 1e-6
    # Without validation rows the strength comes from cross-validation on the training rows.
    assert probe_init(head, h[:80], y[:80]) in (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)


@pytest.mark.parametrize("head_kind", ["regression", "classification"])
def test_probe_head_init_starts_training_from_the_probe_solution(head_kind):
    """LP-FT: with head_init="probe" the head starts at the ridge/logistic fit of the initial readouts, so
    (at a vanishing learning rate) the validation loss is the probe's, far below a random head's."""
    smiles = toy_smiles(160, 4)
    if head_kind == "regression":
        data = [Example(SMI.build(s), float(s.count("C"))) for s in smiles]
    else:
        data = [Example(SMI.build(s), min(s.count("C"), 2)) for s in smiles]
    task = "regression" if head_kind == "regression" else "classification"
    losses = {}
    for init in ("random", "probe"):
        tlm = setup(head_kind)
        spec = stage2("<Count>", "<SMILES>", task=task, epochs=1, lr=1e-9, head_init=init)
        train_stage(tlm, spec, data[:120], data[120:], progress=False)
        losses[init] = evaluate_loss(tlm, spec, data[120:])
    assert losses["probe"] < 0.8 * losses["random"], losses
    with pytest.raises(ValueError, match="head_init"):
        stage2("<Count>", "<SMILES>", head_init="ridge")


def test_a_probe_start_is_kept_when_no_epoch_beats_it():
    smiles = toy_smiles(160, 4)
    data = [Example(SMI.build(s), float(s.count("C"))) for s in smiles]
    tlm = setup()
    spec = stage2("<Count>", "<SMILES>", epochs=2, lr=5.0, head_init="probe")  # a rate that wrecks training
    history = train_stage(tlm, spec, data[:120], data[120:], progress=False)
    assert history.best_epoch == 0 and min(history.val_loss) > history.start_val_loss
    assert evaluate_loss(tlm, spec, data[120:]) == pytest.approx(history.start_val_loss, rel=1e-5)
    # A random start is never validated (it is not a solution), as before.
    plain = train_stage(setup(), stage2("<Count>", "<SMILES>", epochs=1), data[:120], data[120:], progress=False)
    assert plain.start_val_loss is None and plain.best_epoch == 1
