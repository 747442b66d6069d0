
import pytest
import torch

from biotag.heads import ClassificationHead, RegressionHead


def test_regression_head_standardizes():
    head = RegressionHead(4, n_outputs=2)
    y = torch.tensor([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    head.fit_scaler(y)
    torch.testing.assert_close(head.y_mean, torch.tensor([3.0, 30.0], dtype=torch.float64))
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.zero_()
    assert torch.allclose(head.predict(torch.zeros(1, 4)), torch.tensor([[3.0, 30.0]], dtype=torch.float64))
    const = RegressionHead(4)
    const.fit_scaler(torch.ones(5, 1))
    assert const.y_std.item() == 1.0
    near = RegressionHead(4)
    near.fit_scaler(1e10 + torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64))  # 1e10 + small changes
    assert near.y_std.item() == pytest.approx(0.8165, rel=1e-4)  # float32 could not see them
    with pytest.raises(ValueError, match="too large to standardize"):
        RegressionHead(4).fit_scaler(torch.tensor([[1e308], [1e308]], dtype=torch.float64))


@pytest.mark.parametrize("scale, offset", [(1e150, 0.0), (1e-20, 0.0), (1.0, 1e10)])
def test_targets_of_any_scale_train_the_same_estimator(tiny_model_dir, scale, offset):
    """Extreme targets trained to NaN, to a constant or to nonsense when standardized in float32."""
    import random

    import numpy as np

    from biotag import TagLLMRegressor

    rng = random.Random(0)
    X = ["".join(rng.choice(["C", "N", "O", "CC"]) for _ in range(rng.randint(2, 6))) for _ in range(30)]
    y = np.array([s.count("C") + 0.5 * s.count("N") for s in X])
    params = dict(model=tiny_model_dir, p=2, epochs=2, lr=2e-2, batch_size=8, random_state=0, verbose=0)
    plain = TagLLMRegressor(**params).fit(X, y).predict(X)
    scaled = TagLLMRegressor(**params).fit(X, y * scale + offset).predict(X)
    np.testing.assert_allclose((scaled - offset) / scale, plain, rtol=1e-5, atol=1e-5)


def test_classification_head_probabilities():
    head = ClassificationHead(4, n_classes=3)
    probs = head.predict(torch.randn(5, 4))
    assert probs.shape == (5, 3) and torch.allclose(probs.sum(1), torch.ones(5))
    with pytest.raises(ValueError, match="n_classes"):
        ClassificationHead(4, n_classes=1)
