
import pytest

from biotag.training import get_lr


def test_get_lr_is_warmup_then_cosine():
    lrs = [get_lr(s, 100, lr=1.0, warmup_ratio=0.1, min_lr_ratio=0.1) for s in range(100)]
    assert lrs[0] < lrs[5] < lrs[9] and max(lrs) == pytest.approx(1.0, abs=0.01)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.1, abs=0.01)
    assert get_lr(7, 100, lr=1.0, warmup_ratio=0.1, min_lr_ratio=0.1) == lrs[7]
