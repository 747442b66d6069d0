"""scikit-learn estimators over Tag-LLM."""

from biotag.estimators.classifier import TagLLMClassifier
from biotag.estimators.regressor import TagLLMRegressor

__all__ = ["TagLLMRegressor", "TagLLMClassifier"]
