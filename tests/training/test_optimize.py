
import pytest
from tiny import count_examples, stage_setup

from biotag.training import stage2, train_stage
from biotag.training.loop import evaluate_loss


def test_epoch_batches_cover_every_row_once_and_group_by_length():
    import numpy as np

    from biotag.training import epoch_batches

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


def test_grad_accumulation_and_max_steps():
    tlm = stage_setup()
    history = train_stage(tlm, stage2("<Count>", "<SMILES>", epochs=5, batch_size=4, grad_accum=2, max_steps=3),
                          count_examples(40), progress=False)
    assert history.steps == 3 and len(history.epochs) == 1


def test_early_stopping_restores_the_best_epoch():
    tlm = stage_setup()
    train, val = count_examples(48, 0), count_examples(16, 1)
    spec = stage2("<Count>", "<SMILES>", epochs=30, lr=0.3, patience=2)  # a high rate overshoots
    history = train_stage(tlm, spec, train, val, progress=False)
    assert len(history.epochs) < 30 or history.best_epoch is not None
    best = min(history.val_loss)
    assert history.val_loss[history.best_epoch - 1] == best
    assert evaluate_loss(tlm, spec, val, batch_size=32) == pytest.approx(best, rel=1e-5)


def _quadratic(start: float):
    """A parameter of a mean loss (p - t)^2 over 32 rows whose targets t are -1 and 1 (the optimum: p = 0), started
    at ``start``; the batch loss, and the loss of every row."""
    import torch

    p = torch.nn.Parameter(torch.tensor([start]))
    targets = torch.tensor([-1.0, 1.0] * 16)

    def loss(idx):
        return ((p - targets[torch.as_tensor(idx)]) ** 2).mean()

    return p, loss, lambda: float(loss(list(range(32))).detach())


def test_a_first_epoch_that_raises_the_training_loss_is_warned_of_with_its_rates():
    import warnings

    from biotag.training import Schedule, optimize

    p, loss, every_row = _quadratic(0.0)  # at the optimum: steps of size 0.5 leave it
    with pytest.warns(UserWarning, match=r"rose over the first epoch \(1.0000 -> .*\) at lr 0.5"):
        history = optimize([p], 32, loss, Schedule(epochs=1, batch_size=8, lr=0.5, warmup_ratio=0.0),
                           progress=False, train_loss=every_row)
    assert history.start_train_loss == 1.0 and history.first_epoch_train_loss > 1.0
    p, loss, every_row = _quadratic(3.0)  # far from it: small steps lower the loss, and nothing is said
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = optimize([p], 32, loss, Schedule(epochs=1, batch_size=8, lr=0.05, warmup_ratio=0.0),
                           progress=False, train_loss=every_row)
    assert history.first_epoch_train_loss < history.start_train_loss == 10.0


def test_the_head_trains_in_its_own_group_at_its_own_rate():
    import torch

    from biotag.training import Schedule, optimize

    tag, head = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))

    def loss(idx):
        return ((tag - 1.0) ** 2).sum() + ((head - 1.0) ** 2).sum()

    groups = [{"params": [tag], "role": "tags"}, {"params": [head], "role": "head"}]
    optimize(groups, 16, loss, Schedule(epochs=2, batch_size=8, lr=0.1, head_lr=0.0), progress=False)
    assert torch.all(tag > 0) and torch.equal(head, torch.zeros(2))  # a head rate of 0 keeps the head where it started
