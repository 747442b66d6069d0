"""What every benchmark model shares: its settings, its surface (``fit(split)`` then ``predict(X)``), and
the registry each model adds itself to.

Models that use a validation set (early stopping) train on ``train`` and stop on ``valid``; models that do
not (forests, boosting) train on ``train + valid``, as their published ADMET-group entries do. Classifiers
predict the positive class's probability, which TDC's ROC-AUC and PR-AUC expect. The registry lives here,
below the models: adding a model is adding a file that registers it, and nothing imports upward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biotag.benchmark.tasks import Split, Task
from biotag.config import PREFIX_MEMORY, TagLLMConfig

__all__ = ["Settings", "BenchmarkModel", "MODELS", "GROUPS", "register", "make_model", "model_names", "label",
           "split_label", "option_pairs", "group_of"]

_DEFAULTS = TagLLMConfig()

#: The groups a model belongs to, in report order: the expert baselines, Tag-LLM in its variants, the
#: linear probe of the frozen LLM, and PEFT's methods on it.
GROUPS = ("expert", "tagllm", "probe", "peft")


@dataclass
class Settings:
    """What a run may tune; recorded with every result.

    ``epochs`` applies to the LLM models; ``domain_tags`` maps a domain to a saved
    tag library holding its stage-1 tag; ``n_jobs`` is the forests' and CatBoost's threads (-1: every
    core this process may use), a speed setting that each expert cell records as ``threads``.
    """

    epochs: int = _DEFAULTS.epochs
    batch_size: int = _DEFAULTS.batch_size
    lr: float = _DEFAULTS.lr  # Tag-LLM's
    p: int = _DEFAULTS.p  # vectors per new Tag-LLM tag (the paper's is 10)
    domain_p: int | None = _DEFAULTS.domain_p  # vectors of each domain tag, trained in stage 1 or not (None: p)
    prompt_tokens: int = 20  # prompt tuning's virtual tokens: the paper's Tag-LLM tags, <SMILES> + <Task>, 10 each
    n_jobs: int = 2
    domain_tags: dict[str, str] = field(default_factory=dict)
    # molecules the stage-1 <SMILES> tag trained on (0: no stage 1; None: a given library that does not say)
    stage1_corpus: int | None = 0
    model: str | None = _DEFAULTS.model  # base LLM; None = the default model
    # The frozen model's precision in Tag-LLM and linear-probe cells: "auto" is bfloat16 where the hardware runs it
    # natively (a CPU with AVX512-BF16 or AMX, a recent GPU), float32 elsewhere; each such cell records
    # the precision it ran in. Tags and heads train in float32 either way. PEFT baselines run in float32.
    dtype: str = _DEFAULTS.dtype
    # Where Tag-LLM cells keep their frozen prefixes between seeds (one folder per task; the runner removes
    # a task's folder after its cells). A speed setting only: not compared on resume, not recorded.
    prefix_cache: str | None = None
    # The share of the available memory a Tag-LLM cell may load its cached prefixes into (beyond it they are
    # read from disk per batch). Lower it to run cells side by side; a speed setting only, like the cache.
    prefix_memory: float = PREFIX_MEMORY
    # Where a cell's LLM runs ("auto": this process's GPU when there is one, else the CPU); the runner sets it per
    # cell when it spreads cells over devices. Placement only: not compared on resume; each cell records it.
    device: str = _DEFAULTS.device
    # Progress bars inside each cell too (prefixes, epochs, probe features, PEFT steps), under the run's bar of
    # cells. Display only: not compared on resume, not recorded.
    verbose: bool = False

    def __post_init__(self):
        n = self.n_jobs
        if isinstance(n, bool) or not isinstance(n, int) or not (n >= 1 or n == -1):
            raise ValueError(f"n_jobs must be a number of threads (1 or more) or -1 for every core, got {n!r}")

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @property
    def threads(self) -> int:
        """``n_jobs`` as a number of threads: -1 resolves to the cores this process may use."""
        if self.n_jobs != -1:
            return self.n_jobs
        from joblib import cpu_count

        return cpu_count()


class BenchmarkModel:
    """fit(split) / predict(X); ``trainable_params`` counts what the fit learned."""

    name = "model"
    group = "expert"  # one of GROUPS
    trainable_params: int = 0
    # Whether the fit keeps the validation rows out of training (they only stop it or choose among its
    # settings); only then is a cell's validation score recorded, the score that defaults are chosen on.
    holds_out_valid: bool = True
    takes_options: bool = False  # whether a variant of it can be named, as tagllm[head_init=probe]
    results_only: bool = False  # names committed results of a method that no longer runs

    @classmethod
    def applies_to(cls, task: Task) -> bool:
        """Whether the model takes this task's inputs (a run skips the cells where it does not)."""
        return True

    def __init__(self, task: Task, seed: int, settings: Settings, options: dict[str, Any] | None = None):
        self.task, self.seed, self.settings = task, seed, settings
        self.options = dict(options or {})  # a variant of the method: what its label names, e.g. tagllm[p=10]
        if self.options and not self.takes_options:
            raise ValueError(f"{self.name} takes no options, got {self.options}")
        self.provenance: dict[str, Any] = {}  # what the cell's record should say about its inputs

    @property
    def threads(self) -> int | None:
        """The threads the fit computes on (recorded with the cell, beside its wall time): torch's for the
        LLM models."""
        import torch

        return torch.get_num_threads()

    def fit(self, split: Split) -> "BenchmarkModel":  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, X: list) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


MODELS: dict[str, type[BenchmarkModel]] = {}


def register(cls: type[BenchmarkModel]) -> type[BenchmarkModel]:
    """Class decorator: add a model to :data:`MODELS` under its ``name`` (in its ``group``)."""
    if cls.group not in GROUPS:
        raise ValueError(f"{cls.__name__}.group must be one of {GROUPS}, got {cls.group!r}")
    if cls.name in MODELS and MODELS[cls.name] is not cls:
        raise ValueError(f"a benchmark model named {cls.name!r} is registered already ({MODELS[cls.name].__name__})")
    MODELS[cls.name] = cls
    return cls


def model_names(*groups: str) -> tuple[str, ...]:
    """The registered models of ``groups`` that run, in registration order."""
    return tuple(name for name, cls in MODELS.items() if cls.group in groups and not cls.results_only)


def label(name: str, options: dict[str, Any] | None = None) -> str:
    """A cell's model: the method's name, and its options where it has any, sorted (``tagllm[head_init=probe]``).

    >>> label("tagllm", {"readout": "tag", "head_init": "probe"}), label("tagllm", {"lr": (1e-3, 3e-3)})
    ('tagllm[head_init=probe,readout=tag]', 'tagllm[lr=0.001/0.003]')
    """
    if not options:
        return name
    text = {k: "/".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for k, v in options.items()}
    return f"{name}[{','.join(f'{k}={text[k]}' for k in sorted(text))}]"


def split_label(text: str) -> tuple[str, dict[str, str]]:
    """The method and its options (as text) of a label written by :func:`label`.

    >>> split_label("tagllm[head_init=probe,readout=tag]")
    ('tagllm', {'head_init': 'probe', 'readout': 'tag'})
    """
    name, _, rest = text.partition("[")
    if not rest:
        return name, {}
    if not rest.endswith("]"):
        raise ValueError(f"model {text!r}: options go in one pair of brackets, e.g. tagllm[head_init=probe]")
    return name, option_pairs(rest[:-1])


def option_pairs(text: str) -> dict[str, str]:
    """``NAME=VALUE`` pairs, comma-separated (a list of values takes slashes: ``lr=1e-3/3e-3``).

    >>> option_pairs("head_init=probe, lr=1e-3/3e-3")
    {'head_init': 'probe', 'lr': '1e-3/3e-3'}
    """
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    if not pairs or any(not key.strip() or not eq or not value.strip() for key, eq, value in pairs):
        raise ValueError(f"{text!r}: give NAME=VALUE pairs, comma-separated, e.g. head_init=probe,readout=tag")
    return {key.strip(): value.strip() for key, _, value in pairs}


def group_of(text: str) -> str | None:
    """The group of a label's method (None for a name no model has)."""
    cls = MODELS.get(split_label(text)[0])
    return None if cls is None else cls.group


def make_model(text: str, task: Task, seed: int, settings: Settings) -> BenchmarkModel:
    name, options = split_label(text)
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name](task, seed, settings, options)
