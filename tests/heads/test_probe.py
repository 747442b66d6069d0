
import pytest
import torch
from tiny import SMI, count_examples, stage_setup, toy_smiles

from biotag.heads import ClassificationHead, RegressionHead
from biotag.training import Example, stage2, train_stage
from biotag.training.loop import evaluate_loss


def test_head_initialization_follows_the_stage_seed_not_the_global_rng():
    results = []
    for global_seed in (123, 456):
        tlm = stage_setup()
        torch.manual_seed(global_seed)  # whatever the caller's RNG holds when the head is built
        tlm.library.heads["<Count>"] = RegressionHead(32)
        train_stage(tlm, stage2("<Count>", "<SMILES>", epochs=1, seed=3), count_examples(24), progress=False)
        results.append(tlm.library.state_dict())
    for k in results[0]:
        assert torch.equal(results[0][k], results[1][k]), k


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_probe_init_puts_the_head_at_the_regularized_linear_fit(kind):
    import numpy as np
    from sklearn.linear_model import LogisticRegression, Ridge

    from biotag.training import probe_init

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
        tlm = stage_setup(head_kind)
        spec = stage2("<Count>", "<SMILES>", task=task, epochs=1, lr=1e-9, head_init=init)
        train_stage(tlm, spec, data[:120], data[120:], progress=False)
        losses[init] = evaluate_loss(tlm, spec, data[120:])
    assert losses["probe"] < 0.8 * losses["random"], losses
    with pytest.raises(ValueError, match="head_init"):
        stage2("<Count>", "<SMILES>", head_init="ridge")


def test_a_probe_start_is_kept_when_no_epoch_beats_it():
    smiles = toy_smiles(160, 4)
    data = [Example(SMI.build(s), float(s.count("C"))) for s in smiles]
    tlm = stage_setup()
    spec = stage2("<Count>", "<SMILES>", epochs=2, lr=5.0, head_init="probe")  # a rate that wrecks training
    history = train_stage(tlm, spec, data[:120], data[120:], progress=False)
    assert history.best_epoch == 0 and min(history.val_loss) > history.start_val_loss
    # The start was scored through the cached prefixes, this through the full forward: equal to float tolerance
    # (the loss is small, so its float32 rounding is a larger share of it on some CPUs' kernels).
    assert evaluate_loss(tlm, spec, data[120:]) == pytest.approx(history.start_val_loss, rel=1e-4)
    # A random start is never validated (it is not a solution), as before.
    plain = train_stage(stage_setup(), stage2("<Count>", "<SMILES>", epochs=1), data[:120], data[120:], progress=False)
    assert plain.start_val_loss is None and plain.best_epoch == 1


def test_probe_select_starts_at_the_better_in_cross_validation_of_the_whole_readout_and_its_pooled_states():
    """With ``head_init="probe-select"`` a head that reads the tag and pooled states starts at whichever probe,
    on all its features or on the pooled ones alone (the tag's weights at zero), cross-validates better on the
    training rows; ``"probe"`` reads every feature, the tag's included. Neither looks at other rows."""
    import numpy as np

    from biotag.heads.readout import Readout
    from biotag.training import initialize_head

    rng = np.random.default_rng(0)
    readout = Readout(tag=True, layers=(1,), segments=1)
    pooled = rng.normal(size=(60, 16))
    h = torch.tensor(np.hstack([rng.normal(size=(60, 16)) * 3, pooled]), dtype=torch.float32)  # the tag: noise
    y = torch.tensor(pooled[:, :2].sum(1) + rng.normal(size=60) * 0.1, dtype=torch.float32)
    losses, parts = {}, []

    def readouts(part, limit):
        parts.append(part)
        return h[:30]
    for start in ("probe", "probe-select"):
        head = RegressionHead(16, readout=readout)
        initialize_head(head, readouts, y[:30], head_init=start)
        losses[start] = head.loss(h[30:], y[30:]).item()
        tag_weights = head.linear.weight[:, :16]
        assert (torch.count_nonzero(tag_weights) == 0) == (start == "probe-select")  # pooled states alone won here
    assert set(parts) == {"train"}
    assert losses["probe-select"] < losses["probe"]
