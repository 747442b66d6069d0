"""The models a benchmark compares, all behind one surface: ``fit(split)`` then ``predict(X)``.

- :mod:`~biotag.benchmark.models.base`: settings, the base class and the registry;
- :mod:`~biotag.benchmark.models.experts`: forests, CatBoost and ridge on hand-made features;
- :mod:`~biotag.benchmark.models.tagllm`: Tag-LLM through biotag's estimators;
- :mod:`~biotag.benchmark.models.llm`: the paper's LLM baselines (linear probe, PEFT prompt tuning, LoRA).

Each family's module registers its models when it is imported; this package imports them all.
"""

from biotag.benchmark.models import experts, tagllm, llm  # noqa: F401, I001 - each registers its models, in report order
from biotag.benchmark.models.base import GROUPS, MODELS, BenchmarkModel, Settings, make_model, model_names, register

EXPERT_MODELS = model_names("expert")
TAGLLM_MODELS = model_names("tagllm")  # Tag-LLM itself, in its variants
PEFT_MODELS = model_names("peft")
LLM_MODELS = model_names("tagllm", "probe", "peft")

__all__ = ["Settings", "BenchmarkModel", "MODELS", "GROUPS", "register", "make_model", "model_names",
           "EXPERT_MODELS", "TAGLLM_MODELS", "PEFT_MODELS", "LLM_MODELS"]
