"""``head_fit="refit"``: the tags train against ridge fits that leave their batch's rows out; the head is refitted."""

import numpy as np
import pytest
import torch
from tiny import SMI, stage_setup, toy_smiles

from biotag.heads import ClassificationHead, RegressionHead
from biotag.heads.readout import Readout
from biotag.training import Example, stage2, train_stage
from biotag.training.loop import evaluate_loss
from biotag.heads.refit import HeldOutRidge, ridge_targets


def _fitted(head_kind="regression", n=90, d=8, seed=0):
    rng = np.random.default_rng(seed)
    h = torch.tensor(rng.normal(size=(n, d)) * rng.uniform(0.5, 5, d), dtype=torch.float32)
    signal = h[:, 0] - 2 * h[:, 1] / h[:, 1].std()
    if head_kind == "regression":
        head, y = RegressionHead(d), 3 + signal + torch.tensor(rng.normal(size=n), dtype=torch.float32)
        head.fit_scaler(y[:60])
    else:
        head, y = ClassificationHead(d, 3), torch.bucketize(signal, torch.tensor([-1.0, 1.0]))
    head.scaler.fit(h[:60])
    return head, h, y


@pytest.mark.parametrize("head_kind", ["regression", "classification"])
def test_held_out_weights_are_the_ridge_fit_of_the_other_rows(head_kind):
    """The Woodbury shortcut gives exactly the ridge fit (unpenalized intercept) on every row but the batch's."""
    head, h, y = _fitted(head_kind)
    ridge = HeldOutRidge(head, y[:60])
    strength = ridge.refit(h[:60])
    assert strength in ridge.strengths
    batch = np.array([3, 17, 40, 41, 59])
    rest = np.setdiff1d(np.arange(60), batch)
    z = head.scaler(h[:60].double())
    Z = torch.cat([z, torch.ones(60, 1, dtype=torch.float64)], dim=1)[rest]
    penalty = torch.diag(torch.tensor([strength] * 8 + [0.0], dtype=torch.float64))
    T = ridge_targets(head, y[:60])[rest]
    direct = torch.linalg.solve(Z.T @ Z + penalty, Z.T @ T)
    assert torch.allclose(ridge.held_out_weights(batch), direct, atol=1e-8)
    # the strength is the one with the lowest leave-one-out error of the training rows, computed directly
    Z_all, T_all = (torch.cat([head.scaler(h[:60].double()), torch.ones(60, 1, dtype=torch.float64)], 1),
                    ridge_targets(head, y[:60]))
    pen = torch.diag(torch.tensor([1.0] * 8 + [0.0], dtype=torch.float64))

    def loo(a):
        errors = []
        for i in range(60):
            keep = np.arange(60) != i
            W = torch.linalg.solve(Z_all[keep].T @ Z_all[keep] + a * pen, Z_all[keep].T @ T_all[keep])
            errors.append(((Z_all[i] @ W - T_all[i]) ** 2).mean())
        return float(np.mean(errors))
    errors = {a: loo(a) for a in ridge.strengths}
    assert strength == min(errors, key=errors.get)


def test_the_held_out_loss_reaches_the_readouts_not_the_fit():
    head, h, y = _fitted()
    ridge = HeldOutRidge(head, y[:60])
    ridge.refit(h[:60])
    live = h[:8].clone().requires_grad_(True)
    loss = ridge.loss(np.arange(8), live)
    loss.backward()
    assert live.grad is not None and live.grad.abs().sum() > 0
    assert head.linear.weight.grad is None  # the head is never trained by gradient
    with pytest.raises(RuntimeError, match="before refit"):
        HeldOutRidge(head, y[:60]).loss(np.arange(8), h[:8])


def _count_data(n=160):
    return [Example(SMI.build(s), float(s.count("C"))) for s in toy_smiles(n, 4)]


def test_refit_trains_the_tag_and_keeps_the_head_at_a_closed_form_fit():
    """The tag moves; the head ends at the probe fit of the final readouts (no optimizer step ever touched it); the
    start is validated and kept if no epoch beats it, as with joint training."""
    data = _count_data()
    readout = Readout(tag=True, layers=(1,), segments=1)
    tlm = stage_setup(readout=readout)
    before = tlm.library.tags["<Count>"].detach().clone()
    spec = stage2("<Count>", "<SMILES>", epochs=3, lr=1e-2, head_init="probe-select", head_fit="refit", patience=None)
    history = train_stage(tlm, spec, data[:120], data[120:], progress=False)
    assert history.start_val_loss is not None and len(history.val_loss) == 3
    losses = [history.start_val_loss, *history.val_loss]
    assert history.best_epoch == int(np.argmin(losses))
    assert evaluate_loss(tlm, spec, data[120:]) == pytest.approx(min(losses), rel=1e-4)  # the kept state's loss
    if history.best_epoch:  # an epoch beat the start: its tag has moved
        assert not torch.equal(tlm.library.tags["<Count>"].detach(), before)


def test_the_tag_has_a_gradient_through_the_held_out_loss():
    """The held-out loss reaches the function tag through the readout the head reads."""
    data = _count_data()
    tlm = stage_setup(readout=Readout(tag=True, layers=(1,), segments=1))
    spec = stage2("<Count>", "<SMILES>", epochs=1, lr=1e-2, head_init="probe", head_fit="refit", patience=None)
    train_stage(tlm, spec, data[:120], data[120:], progress=False)
    # the tag has a gradient through the held-out loss (it is part of the readout the head reads)
    from biotag.training.loop import initial_readouts, stage_readouts

    head = tlm.head("<Count>")
    ridge = HeldOutRidge(head, torch.tensor([e.target for e in data[:120]]))
    ridge.refit(initial_readouts(tlm, spec, data[:120], None, 32, limit=120))
    tag = tlm.library.tags["<Count>"]
    tag.requires_grad_(True)
    ridge.loss(np.arange(16), stage_readouts(tlm, spec, data[:16])).backward()
    assert tag.grad is not None and tag.grad.abs().sum() > 0
    tag.requires_grad_(False)


def test_refit_needs_a_probe_start():
    with pytest.raises(ValueError, match="head_fit"):
        stage2("<Count>", "<SMILES>", head_fit="adam")
    with pytest.raises(ValueError, match="probe head_init"):
        stage2("<Count>", "<SMILES>", head_init="random", head_fit="refit")


def test_the_estimators_take_head_fit(tiny_model_dir):
    from biotag.estimators import TagLLMClassifier, TagLLMRegressor

    smiles = ["CCO", "CCN", "CCC", "c1ccccc1", "CC(=O)O", "CCCC", "CCCl", "OCCO", "NCCN", "CC(C)O"] * 4
    y = np.array([s.count("C") for s in smiles], dtype=float)
    est = TagLLMRegressor(model=tiny_model_dir, domain_tags=None, epochs=2, head_fit="refit", random_state=0,
                          verbose=0).fit(smiles, y)
    assert est.stage_spec_.head_fit == "refit" and np.isfinite(est.predict(smiles)).all()
    clf = TagLLMClassifier(model=tiny_model_dir, domain_tags=None, epochs=1, head_fit="refit", random_state=0,
                           verbose=0).fit(smiles, y > 2)
    assert clf.predict_proba(smiles).shape == (len(smiles), 2)
    with pytest.raises(ValueError, match="head_fit"):
        TagLLMRegressor(model=tiny_model_dir, head_fit="adam").fit(smiles, y)
