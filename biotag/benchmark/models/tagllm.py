"""Tag-LLM as a benchmark model: biotag's estimators, with stage-1 domain tags when the run provides them.

Two methods: ``tagllm``, the estimators' defaults (:class:`~biotag.config.TagLLMConfig`), and ``tagllm_paper``, the
paper's setting (:data:`~biotag.config.PAPER`). A variant is the same method with options, named in the cell's model
as ``tagllm[head_init=probe,readout=tag]`` (``biotag benchmark run --tagllm-args head_init=probe,readout=tag``): any
field of the config the run does not set itself, and ``inner_validation=True`` (fit early-stops on a tenth of its own
training rows, so the split's validation rows stay unseen by every choice made in fit).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from biotag.benchmark.models.base import BenchmarkModel, register
from biotag.benchmark.standardize import standardized_columns
from biotag.benchmark.tasks import Split
from biotag.config import PAPER, TagLLMConfig

__all__ = ["TagLLM", "TagLLMPaper", "TagLLMEarlier", "RECORDED_AS", "EARLIER", "read_as", "parse_options"]

# What a run sets for every Tag-LLM cell (run.json records it): not an option of one model.
_RUN_LEVEL = ("model", "dtype", "device", "domain_tags", "epochs", "batch_size", "p", "domain_p")
OPTIONS = tuple(f for f in TagLLMConfig.fields() if f not in _RUN_LEVEL) + ("inner_validation",)

# The estimators' defaults before stage 2's start and optimizer were fixed: the probe start that may drop the tag's
# features, its strength chosen on the validation rows, and one AdamW rate for tags and head. Their cells are read as
# ``tagllm_earlier`` (with the options they ran); it names results only, and no longer runs.
EARLIER = "tagllm_earlier"

# Earlier results recorded each variant under a name of its own; they are read as the method and options they ran.
_SEARCH = f"{EARLIER}[lr=0.001/0.003/0.01]"
RECORDED_AS = {
    "tagllm": "tagllm_paper",
    "tagllm_probe": f"{EARLIER}[head_init=probe,readout=tag]",
    "tagllm_pool": f"{EARLIER}[head_init=random]",
    "tagllm_pool_probe": f"{EARLIER}[head_init=probe]",
    "tagllm_pool_probe_select": EARLIER,
    "tagllm_pool_probe_select_lr": _SEARCH,
    "tagllm_pool_probe_select_inner": f"{EARLIER}[inner_validation=True]",
    "tagllm_pool_probe_select_lr_inner": f"{EARLIER}[inner_validation=True,lr=0.001/0.003/0.01]",
    "tagllm_pool_refit": f"{EARLIER}[head_fit=refit]",
    "tagllm_pool_refit_inner": f"{EARLIER}[head_fit=refit,inner_validation=True]",
}


def read_as(record: dict[str, Any]) -> str:
    """The model a cell's record ran, as it is named now: a cell recorded under an earlier name (before cells
    recorded their options) by :data:`RECORDED_AS`; a ``tagllm`` cell that recorded its options but not its whole
    setting (``config``) ran the earlier defaults (:data:`EARLIER`); any other as recorded."""
    from biotag.benchmark.models.base import label, split_label

    model = str(record["model"])
    if "options" not in record:
        return RECORDED_AS.get(model, model)
    name, options = split_label(model)
    return label(EARLIER, options) if name == "tagllm" and "config" not in record else model


def parse_options(options: dict[str, str]) -> dict[str, Any]:
    """Option values from their text (``"10"``, ``"1e-3/3e-3"``, ``"True"``, ``"None"``), each name checked.

    >>> parse_options({"head_init": "probe", "lr": "1e-3/3e-3", "patience": "None"})
    {'head_init': 'probe', 'lr': (0.001, 0.003), 'patience': None}
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown Tag-LLM option(s) {unknown}; options: {', '.join(OPTIONS)} (the run sets "
                         f"{', '.join(_RUN_LEVEL)} for every cell)")
    return {name: _value(text) for name, text in options.items()}


def _value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    if "/" in text:
        return tuple(_value(part) for part in text.split("/"))
    special = {"True": True, "true": True, "False": False, "false": False, "None": None, "none": None}
    if text in special:
        return special[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@register
class TagLLM(BenchmarkModel):
    """biotag's estimators with their defaults, the run's settings and this cell's options."""

    name = "tagllm"
    group = "tagllm"
    takes_options = True
    method: dict[str, Any] = {}  # what this method sets beyond the defaults

    def config(self) -> tuple[TagLLMConfig, bool]:
        """The estimator's settings and whether fit holds out its own validation rows (``inner_validation``)."""
        s = self.settings
        options = parse_options(self.options)
        inner = bool(options.pop("inner_validation", False))
        run = {"model": s.model, "dtype": s.dtype, "device": s.device, "epochs": s.epochs, "batch_size": s.batch_size,
               "lr": s.lr, "p": s.p, "domain_p": s.domain_p}
        return dataclasses.replace(TagLLMConfig(), **{**run, **self.method, **options}), inner

    def fit(self, split: Split) -> "TagLLM":
        from biotag.estimators import TagLLMClassifier, TagLLMRegressor

        cls = TagLLMClassifier if self.task.kind == "classification" else TagLLMRegressor
        libraries = {self.settings.domain_tags[d] for d in self.task.domains if d in self.settings.domain_tags}
        if len(libraries) > 1:
            raise ValueError(f"the domains of {self.task.name} need their stage-1 tags in one library; got {libraries}")
        library = libraries.pop() if libraries else None
        if library is not None:
            from biotag.tags.library import library_digest

            self.provenance["domain_tags_sha256"] = library_digest(library)
        config, inner = self.config()
        self.provenance["options"] = dict(self.options)  # the variant, beside its name (none: the method as it is)
        # every option's value as it ran: what the defaults were when it ran, whatever they are when it is read
        self.provenance["config"] = {**{k: v for k, v in config.to_dict().items() if k in OPTIONS},
                                     "inner_validation": inner}
        s = self.settings
        self.estimator = cls(
            **{**config.to_dict(), "domain_tags": library}, domains=self.task.domains, random_state=self.seed,
            prefix_cache=str(Path(s.prefix_cache) / self.task.name) if s.prefix_cache else None,
            prefix_memory=s.prefix_memory, verbose=int(s.verbose),
        )
        X_train = standardized_columns(split.X_train, self.task.domains)
        X_valid = standardized_columns(split.X_valid, self.task.domains)
        if inner:
            self.estimator.fit(X_train, split.y_train)  # validation_fraction of them held out
        else:
            self.estimator.fit(X_train, split.y_train, X_val=X_valid, y_val=split.y_valid)
        self._record()
        return self

    def _record(self) -> None:
        est = self.estimator
        self.trainable_params = int(est.n_trainable_params_)
        self.provenance["dtype"] = est.dtype_
        history = est.history_
        self.provenance["best_epoch"] = history.best_epoch  # 0: no epoch of tag training beat the start
        # the validation loss of the start and after each epoch: how training moved from it
        self.provenance["val_losses"] = [None if v is None or v != v else round(float(v), 4)
                                         for v in [history.start_val_loss, *history.val_loss]]
        # each epoch's mean training loss while it trained, and every training row's loss at the start and after the
        # first epoch with the parameters fixed (recorded for a probe start): whether the optimizer lowers it
        self.provenance["train_losses"] = [round(float(v), 4) for v in history.train_loss]
        for name in ("start_train_loss", "first_epoch_train_loss"):
            if (value := getattr(history, name)) is not None:
                self.provenance[name] = round(float(value), 4)
        if len(est.lr_search_) > 1:
            self.provenance["lr"] = est.lr_

    def predict(self, X: list) -> np.ndarray:
        X = standardized_columns(X, self.task.domains)
        if self.task.kind == "classification":
            return self.estimator.predict_proba(X)[:, 1]
        return self.estimator.predict(X)


@register
class TagLLMPaper(TagLLM):
    """The paper's setting: the head reads the function tag alone and starts at random (tag length and epochs are
    the run's: ``--p 10 --epochs 3`` for the paper's own)."""

    name = "tagllm_paper"
    method = dict(PAPER)


@register
class TagLLMEarlier(TagLLM):
    """The estimators' defaults before stage 2's start and optimizer were fixed (see :data:`EARLIER`): the committed
    results that ran them are read under this name. It does not run: validation rows no longer choose the start."""

    name = EARLIER
    results_only = True
    method = {"head_init": "probe-select", "head_fit": "joint", "head_lr": None}

    def fit(self, split: Split) -> "TagLLM":
        raise ValueError(f"{EARLIER} names results of earlier defaults and does not run; run tagllm")
