"""The models a benchmark compares, all behind one surface: ``fit(split)`` then ``predict(X)``.

- :mod:`~biotag.benchmark.models.base`: settings, the base class and the registry;
- :mod:`~biotag.benchmark.models.experts`: forests, CatBoost and ridge on hand-made features;
- :mod:`~biotag.benchmark.models.tagllm`: Tag-LLM through biotag's estimators;
- :mod:`~biotag.benchmark.models.llm`: the paper's LLM baselines (linear probe, PEFT prompt tuning, LoRA).

Each family's module registers its models when it is imported; this package imports them all.
"""

from biotag.benchmark.models import experts, tagllm, llm  # noqa: F401, I001 - each registers its models, in report order
from biotag.benchmark.models.base import (GROUPS, MODELS, BenchmarkModel, Settings, group_of, label, make_model,
                                          model_names, register, split_label)
from biotag.benchmark.models.tagllm import read_as

EXPERT_MODELS = model_names("expert")
TAGLLM_MODELS = model_names("tagllm")  # Tag-LLM: the estimators' defaults and the paper's setting
PEFT_MODELS = model_names("peft")
LLM_MODELS = model_names("tagllm", "probe", "peft")

__all__ = ["Settings", "BenchmarkModel", "MODELS", "GROUPS", "register", "make_model", "model_names", "label",
           "split_label", "group_of", "read_as", "is_tagllm", "is_llm_baseline", "EXPERT_MODELS", "TAGLLM_MODELS", "PEFT_MODELS", "LLM_MODELS"]


def is_tagllm(name: str) -> bool:
    """Whether a cell's model is Tag-LLM (either method, any options)."""
    return group_of(name) == "tagllm"


def is_llm_baseline(name: str) -> bool:
    """Whether a cell's model is one of the LLM baselines of the same frozen model (probes, PEFT)."""
    return group_of(name) in ("probe", "peft")
