
import pytest
import torch

from biotag.tags import ClassificationHead, RegressionHead


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
