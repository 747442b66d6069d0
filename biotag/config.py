"""Every default of Tag-LLM, defined once.

:class:`TagLLMConfig` is what the estimators take as parameters, what ``biotag train``'s function stages default
to and what the benchmark's ``tagllm`` model runs; :class:`Stage1Config` is the same for stage 1 (a domain tag
learned by next-token prediction). The estimators, the protocol file, the training functions and the benchmark
all read their defaults from here; ``tests/test_config.py`` checks that they agree.

How each default was chosen (on validation scores, never on test scores) is in ``benchmarks/README.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Sequence

__all__ = ["TagLLMConfig", "Stage1Config", "PAPER", "PREFIX_MEMORY", "READOUTS", "HEAD_INITS", "HEAD_FITS", "TOKENIZATIONS",
           "DTYPES", "DTYPE_CHOICES"]

READOUTS = ("tag", "tag+pool", "pool")
HEAD_INITS = ("random", "probe", "probe-select")
HEAD_FITS = ("joint", "refit")
TOKENIZATIONS = ("model", "char")
#: The precisions a frozen base model can be held in, by name, and what a user may ask for.
DTYPES = ("float32", "bfloat16", "float16")
DTYPE_CHOICES = ("auto",) + DTYPES
#: The share of the available memory cached frozen prefixes may be loaded into; beyond it they are read from their
#: files batch by batch. Speed only: results do not depend on it.
PREFIX_MEMORY = 0.5


@dataclass(frozen=True)
class TagLLMConfig:
    """Tag-LLM's settings for stages 2 and 3: the tags, the head, the schedule, and where the frozen model runs.

    Examples
    --------
    >>> TagLLMConfig().p, TagLLMConfig(p=10).p
    (3, 10)
    >>> TagLLMConfig(readout="mean")
    Traceback (most recent call last):
    ...
    ValueError: TagLLMConfig.readout must be one of ('tag', 'tag+pool', 'pool'), got 'mean'
    """

    # -- the frozen base model
    model: str | None = None  # Hugging Face id or path; None: the offline default, SmolLM2-135M-Instruct
    device: str = "auto"  # "auto": this process's GPU when there is one, else the CPU
    dtype: str = "auto"  # the frozen model's precision; "auto": bfloat16 where the hardware computes it natively
    # -- the tags
    p: int = 3  # vectors per new function tag (the paper's is 10; 3 scored level on validation and fits faster)
    domain_p: int | None = None  # vectors per new, untrained domain tag (None: p); shipped tags keep their own
    domain_tags: str | None = "pretrained"  # "pretrained": biotag's shipped stage-1 tags; a library path; None
    enrich: bool = False  # also train the domain tags in stages 2 and 3 (the paper's "enriched" tags)
    tokenization: str = "model"  # "model": the LM's tokenizer on domain sequences; "char": one token a character
    max_length: int | None = None  # longest input in positions; a longer row is an error naming it
    # -- the head
    readout: str = "tag+pool"  # what the head reads: the function tag's state, + the input's pooled states, or pool
    head_init: str = "probe-select"  # the head's start: random, a linear probe, or the better of two probes
    head_fit: str = "joint"  # "joint": trained beside the tags; "refit": refitted in closed form after each epoch
    # -- the schedule (AdamW, linear warmup, cosine decay)
    epochs: int = 10
    max_steps: int | None = None  # optimizer steps; training stops when reached
    batch_size: int = 16
    lr: float | tuple[float, ...] = 3e-3  # several rates: fit trains at each and keeps the best on validation
    head_lr: float | None = None  # the head's own rate, in its own parameter group (None: lr)
    weight_decay: float = 0.0  # decaying tags pulls them toward 0, away from the embedding scale
    warmup_ratio: float = 0.1  # share of all steps spent warming up
    validation_fraction: float = 0.1  # share of the training rows held out for early stopping when none are given
    patience: int | None = 3  # epochs without validation improvement before stopping; None: never early

    def __post_init__(self) -> None:
        for name, choices in (("readout", READOUTS), ("head_init", HEAD_INITS), ("head_fit", HEAD_FITS),
                              ("tokenization", TOKENIZATIONS), ("dtype", DTYPE_CHOICES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"TagLLMConfig.{name} must be one of {choices}, got {getattr(self, name)!r}")
        for name in ("p", "epochs", "batch_size"):
            _positive_int(self, name, getattr(self, name))
        for name in ("domain_p", "max_steps", "patience", "max_length"):
            if getattr(self, name) is not None:
                _positive_int(self, name, getattr(self, name))
        for rate in (self.lr if isinstance(self.lr, Sequence) else (self.lr,)):
            if isinstance(rate, bool) or not isinstance(rate, Real) or not rate > 0:
                raise ValueError(f"TagLLMConfig.lr must be a positive number or several, got {self.lr!r}")
        if self.head_lr is not None and (isinstance(self.head_lr, bool) or not isinstance(self.head_lr, Real)
                                         or not self.head_lr >= 0):
            raise ValueError(f"TagLLMConfig.head_lr must be 0 or more, or None, got {self.head_lr!r}")
        _share(self, "weight_decay", self.weight_decay, upper=None)
        _share(self, "warmup_ratio", self.warmup_ratio, upper=1, open_upper=True)
        _share(self, "validation_fraction", self.validation_fraction, upper=1, open_upper=True)

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The paper's setting (Shen et al., 2024): the head reads the function tag alone and starts at random. The benchmark's
#: ``tagllm_paper`` runs it; the paper's tags have 10 vectors (``p=10``).
PAPER = {"readout": "tag", "head_init": "random"}


@dataclass(frozen=True)
class Stage1Config:
    """Stage 1's settings: a domain tag learned by next-token prediction on unlabeled sequences."""

    p: int = 3  # vectors per domain tag (the shipped tags' length)
    epochs: int = 1
    lr: float = 1e-3  # a prompt-tuning-sized rate: tags are few, well-scaled vectors
    batch_size: int = 8  # what the shipped tags trained with
    val_fraction: float = 0.05  # share of the sequences held out for the validation loss
    seed: int = 0
    max_samples: int | None = None  # at most this many sequences, drawn with seed (None: all)

    def __post_init__(self) -> None:
        for name in ("p", "epochs", "batch_size"):
            _positive_int(self, name, getattr(self, name))
        if not self.lr > 0:
            raise ValueError(f"Stage1Config.lr must be > 0, got {self.lr!r}")
        _share(self, "val_fraction", self.val_fraction, upper=1, open_upper=True)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The settings a stage-1 entry of a protocol file may give, with their defaults."""
        return {f.name: f.default for f in dataclasses.fields(cls)}


def _positive_int(config: Any, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{type(config).__name__}.{name} must be a positive int, got {value!r}")


def _share(config: Any, name: str, value: Any, *, upper: float | None, open_upper: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, Real) and value >= 0
    if ok and upper is not None:
        ok = value < upper if open_upper else value <= upper
    if not ok:
        bound = "" if upper is None else f" and below {upper}" if open_upper else f" and at most {upper}"
        raise ValueError(f"{type(config).__name__}.{name} must be 0 or more{bound}, got {value!r}")
