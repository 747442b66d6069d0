"""Tag-LLM as a benchmark model: biotag's estimators, with stage-1 domain tags when the run provides them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biotag.benchmark.models.base import BenchmarkModel, register
from biotag.benchmark.standardize import standardized_columns
from biotag.benchmark.tasks import Split

__all__ = ["TagLLM", "TagLLMProbe", "TagLLMPooled", "TagLLMPooledProbe", "TagLLMPooledProbeSelect",
           "TagLLMPooledProbeSelectRates", "TagLLMPooledProbeSelectInner", "TagLLMPooledProbeSelectRatesInner",
           "TagLLMPooledRefit", "TagLLMPooledRefitInner"]


@register
class TagLLM(BenchmarkModel):
    """biotag's estimators on the default model, with stage-1 domain tags when the run provides them."""

    name = "tagllm"
    group = "tagllm"
    head_init = "random"
    head_fit = "joint"
    readout = "tag"
    rates: tuple[float, ...] | None = None  # learning rates fit chooses from on validation (None: the run's lr)
    inner = False  # fit holds out its own validation rows from the training rows; the split's stay unseen

    def fit(self, split: Split) -> "TagLLM":
        from biotag.estimators import TagLLMClassifier, TagLLMRegressor

        cls = TagLLMClassifier if self.task.kind == "classification" else TagLLMRegressor
        libraries = {self.settings.domain_tags[d] for d in self.task.domains if d in self.settings.domain_tags}
        if len(libraries) > 1:
            raise ValueError(f"the domains of {self.task.name} need their stage-1 tags in one library; got {libraries}")
        s = self.settings
        library = libraries.pop() if libraries else None
        if library is not None:
            from biotag.tags.library import library_digest

            self.provenance["domain_tags_sha256"] = library_digest(library)
        self.estimator = cls(
            model=s.model, dtype=s.dtype, domains=self.task.domains, p=s.p, domain_p=s.domain_p,
            epochs=s.epochs, batch_size=s.batch_size, lr=self.rates or s.lr, domain_tags=library,
            head_init=self.head_init, head_fit=self.head_fit, readout=self.readout, random_state=self.seed,
            prefix_cache=str(Path(s.prefix_cache) / self.task.name) if s.prefix_cache else None,
            prefix_memory=s.prefix_memory, device=s.device, verbose=int(s.verbose),
        )
        X_train = standardized_columns(split.X_train, self.task.domains)
        X_valid = standardized_columns(split.X_valid, self.task.domains)
        if self.inner:
            self.estimator.fit(X_train, split.y_train)  # validation_fraction of them held out
        else:
            self.estimator.fit(X_train, split.y_train, X_val=X_valid, y_val=split.y_valid)
        self.trainable_params = int(self.estimator.n_trainable_params_)
        self.provenance["dtype"] = self.estimator.dtype_
        history = self.estimator.history_
        self.provenance["best_epoch"] = history.best_epoch  # 0: no epoch of tag training beat the start
        # the validation loss of the start (the probe) and after each epoch: how training moved from it
        self.provenance["val_losses"] = [None if v is None or v != v else round(float(v), 4)
                                         for v in [history.start_val_loss, *history.val_loss]]
        if self.rates:
            self.provenance["lr"] = self.estimator.lr_
        return self

    def predict(self, X: list) -> np.ndarray:
        X = standardized_columns(X, self.task.domains)
        if self.task.kind == "classification":
            return self.estimator.predict_proba(X)[:, 1]
        return self.estimator.predict(X)


@register
class TagLLMProbe(TagLLM):
    """``tagllm`` with the head started at the linear probe's solution on the untrained tags' readouts
    (``head_init="probe"``, LP-FT), kept if no epoch of tag training beats it on validation."""

    name = "tagllm_probe"
    head_init = "probe"


@register
class TagLLMPooled(TagLLM):
    """``tagllm`` whose head also reads the molecule's (each column's) tokens mean-pooled at a third, two thirds
    and the end of the model's depth (``readout="tag+pool"``)."""

    name = "tagllm_pool"
    readout = "tag+pool"


@register
class TagLLMPooledProbe(TagLLMPooled):
    """``tagllm_pool`` with the head started at the linear probe's solution (LP-FT)."""

    name = "tagllm_pool_probe"
    head_init = "probe"


@register
class TagLLMPooledProbeSelect(TagLLMPooledProbe):
    """``tagllm_pool_probe`` whose probe start may read the pooled states alone, if that fits the validation rows
    better (``head_init="probe-select"``), as ``linear_probe_pooled`` chooses its readout: the estimators'
    defaults."""

    name = "tagllm_pool_probe_select"
    head_init = "probe-select"


@register
class TagLLMPooledProbeSelectRates(TagLLMPooledProbeSelect):
    """``tagllm_pool_probe_select`` (the estimators' defaults) with a learning-rate search inside ``fit``: one
    training at each of 1e-3, 3e-3 (the default) and 1e-2, the rate with the lowest validation loss kept (the cell
    records it as ``lr``)."""

    name = "tagllm_pool_probe_select_lr"
    rates = (1e-3, 3e-3, 1e-2)


@register
class TagLLMPooledProbeSelectInner(TagLLMPooledProbeSelect):
    """``tagllm_pool_probe_select`` that early-stops on 10 % of its training rows (the estimator's
    ``validation_fraction``), so that the split's validation rows stay unseen: its validation score is then free of
    the choices made on them. The baseline of ``tagllm_pool_probe_select_lr_inner``."""

    name = "tagllm_pool_probe_select_inner"
    inner = True


@register
class TagLLMPooledProbeSelectRatesInner(TagLLMPooledProbeSelectRates):
    """``tagllm_pool_probe_select_lr`` choosing its rate (and epoch) on 10 % of its training rows, as
    ``tagllm_pool_probe_select_inner`` does: the two compare a search against none on validation rows neither has
    seen."""

    name = "tagllm_pool_probe_select_lr_inner"
    inner = True


@register
class TagLLMPooledRefit(TagLLMPooledProbeSelect):
    """``tagllm_pool_probe_select`` whose head is refitted in closed form after each epoch, the tag training
    against ridge fits that leave its batch's rows out (``head_fit="refit"``)."""

    name = "tagllm_pool_refit"
    head_fit = "refit"


@register
class TagLLMPooledRefitInner(TagLLMPooledRefit):
    """``tagllm_pool_refit`` early-stopping on 10 % of its training rows, against ``tagllm_pool_probe_select_inner``
    on validation rows neither has seen."""

    name = "tagllm_pool_refit_inner"
    inner = True
