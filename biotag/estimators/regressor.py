"""TagLLMRegressor: Tag-LLM as a scikit-learn regressor."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from sklearn.base import RegressorMixin

from biotag.estimators._base import TagLLMBase
from biotag.estimators._inputs import check_y_regression
from biotag.tags import RegressionHead
from biotag.tags.readout import Readout


class TagLLMRegressor(RegressorMixin, TagLLMBase):
    """Predict numeric properties of molecules or proteins with learned tags on a frozen LLM.

    The input is tagged as ``<SMILES> smiles <Task>`` (or one tag and value per
    domain for several columns). A linear head reads the final hidden state at
    the function tag's last position together with the input's tokens mean-pooled
    at three depths (``readout="tag+pool"``), and starts at the linear probe's
    solution (``head_init="probe-select"``); targets are standardized for training and
    predictions come back in original units. Only the function tag (and the
    domain tags with ``enrich=True``) and the head train.

    Training uses the exact prefix-reuse path: the frozen prefix (domain tags and
    sequence) is computed once, then each step runs only the function tag's
    positions. On 2 CPU cores with the offline default model, a thousand
    molecules take a few minutes to fit (bfloat16 on a CPU with AVX512-BF16/AMX,
    float32 elsewhere; the README gives measured times).

    Parameters
    ----------
    model : str or path, optional
        Hugging Face causal LM id or path; ``None`` is the offline default (SmolLM2-135M-Instruct).
    domains : str or tuple of str, default="smiles"
        Domain of each input column: ``"smiles"``, ``"protein"``, or a tuple such as
        ``("protein", "smiles")`` for drug–target data.
    columns : list of str, optional
        DataFrame columns to use, in domain order (default: all columns, in order).
    function_tag : str, optional
        Name of the task's tag (default ``"<Task>"``).
    p : int, default=3
        Vectors per new tag. 3 was chosen on validation scores (Caco2, HIA, DILI, Half_Life, Lipophilicity;
        5 seeds each): level with the paper's 10 and about 1.3x faster to fit.
    domain_p : int, optional
        Vectors of a new (untrained) domain tag; default ``p``. Pretrained domain tags (``domain_tags``) keep
        their own length.
    domain_tags : "pretrained", path or None, default="pretrained"
        The domain tags to start from. ``"pretrained"``: the stage-1 tags biotag ships for the model, those of the
        estimator's domains (for the default model 3-vector ``<SMILES>`` and ``<Protein>`` tags, trained on 30,481
        molecules and 4,678 protein sequences in no benchmark test set; they raised the validation score on Caco2,
        Half_Life, Lipophilicity, Descriptor and beta-lactamase); a domain or model it ships none for starts
        untrained. A path: a tag library of yours holding every domain tag. None: untrained domain tags.
    enrich : bool, default=False
        Also train the domain tags (the paper's "enriched" variant).
    head_init : {"random", "probe", "probe-select"}, default="probe-select"
        How the head starts. ``"probe"`` starts it at the ridge / logistic-regression fit on the
        untrained tags' readouts (strength chosen on the validation rows), then trains tags and head
        together (LP-FT: linear probe, then fine-tune); ``"probe-select"`` also tries that fit on the pooled
        states alone (``readout="tag+pool"``; the function tag's weights then start at zero) and starts at the
        better on the validation rows, as the linear probe chooses its readout (chosen on validation over
        ``"probe"``: better means on 4 of the 5 development tasks); ``"random"`` is the paper's start.
    head_fit : {"joint", "refit"}, default="joint"
        How the head trains. ``"joint"``: by AdamW beside the tags (the paper's). ``"refit"``: never by gradient;
        after each epoch it is refitted from its probe start's fit on the new readouts, and the tags train
        against ridge fits of the other training rows, each batch's rows left out (so they are scored as the
        probe sees unseen rows). Needs a probe ``head_init`` and validation rows.
    readout : {"tag", "tag+pool", "pool"}, default="tag+pool"
        What the head reads: ``"tag"`` the final hidden state at the function tag's last position (the
        paper's); ``"tag+pool"`` that and each input column's tokens mean-pooled at a third, two thirds and
        the end of the model's depth (computed once with the frozen prefix, so nearly free);
        ``"pool"`` the pooled states alone (a linear probe: the function tag has no effect).
        The defaults were chosen on validation scores (Caco2, HIA, DILI, Half_Life, Lipophilicity; 5 seeds
        each): ``"tag+pool"`` with the probe start ranked first of the Tag-LLM variants on every task
        (``benchmarks/results/validation-sweep/``).
    epochs, max_steps, batch_size, lr, weight_decay, warmup_ratio
        Training budget and AdamW schedule (linear warmup, cosine decay).
        Defaults: 10 epochs, batch 16, lr 3e-3 (1e-2 was unstable on Caco2), no weight decay.
        ``lr`` may list several rates, e.g. ``(1e-3, 3e-3, 1e-2)``: ``fit`` then trains once per rate from the
        same start (the frozen prefixes computed once) and keeps the one whose restored parameters have the
        lowest validation loss (``lr_``, ``lr_search_``). It needs validation rows and takes one training per
        rate.
    validation_fraction : float, default=0.1
        Share of the training rows held out for early stopping and best-epoch
        restore when no ``X_val`` is given; 0 disables.
    patience : int or None, default=3
        Epochs without validation improvement before stopping.
    tokenization : {"model", "char"}, default="model"
        Tokenization of domain sequences.
    max_length : int, optional
        Longest input in positions; longer rows are an error naming the row.
    device : str, default="auto"
        ``"auto"`` uses a GPU when present.
    dtype : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        Base-model weights; tags and heads stay float32. ``"auto"`` holds the base model in
        bfloat16 where the hardware computes it natively (CUDA GPUs of compute capability 8+,
        CPUs with AVX512-BF16 or AMX: predict measured 3.1x faster than float32) and in
        float32 elsewhere (on an AVX2-only CPU bf16 measured about 7x slower). It is decided
        wherever the estimator loads the model; ``dtype_`` says what ``fit`` used.
    prefix_cache : str or path, optional
        A directory where the frozen part of each input (domain tags and sequence, before the
        function tag) is kept between fits, as keys/values (see
        :class:`~biotag.tags.prefix.PrefixCache`). Fits and predictions on inputs seen before, with
        the same model and frozen domain tags, then skip the sequence's forward pass: a grid search,
        cross-validation or several seeds pay for it once. About 3-4 MB per SMILES on the default
        model; the directory is not cleaned up. Results match the uncached path to float tolerance.
    prefix_memory : float, default=0.5
        With ``prefix_cache``: the share of the available memory the cached prefixes of a fit or
        prediction may be loaded into; beyond it they are read from their files batch by batch
        (slower, little memory). Lower it when other jobs will start on the machine during a long
        fit (two fits that each loaded half the memory can run it out); 0 always reads from disk.
        Results do not depend on it.
    random_state : int, RandomState or None
        Seeds the validation split, the initialization order and the shuffling.
    verbose : int, default=1
        0: silent; 1: a progress bar.

    Attributes
    ----------
    library_ : TagLibrary
        The trained tags and head.
    history_ : History
        Per-epoch train and validation loss (standardized units).
    n_trainable_params_ : int
        Size of what trained (tags and head).
    lr_ : float
        The learning rate ``fit`` kept (``lr`` itself, unless it lists several).
    lr_search_ : dict
        Each rate tried and the validation loss of the parameters its training kept (inf without validation
        rows).
    dtype_ : str
        The base model's precision during ``fit`` (what ``dtype`` resolved to).
    stage_spec_ : StageSpec
        The stage ``fit`` trained (what trained and froze, the loss, the schedule); not kept by ``save``.
    feature_names_in_ : ndarray, present for DataFrame input
        The columns' names, checked on predict. There is no ``n_features_in_``: the input is strings, one column
        per domain (``domains`` says how many), as for scikit-learn's text vectorizers; tools that probe a fitted
        model with a numeric row of that width (MAPIE) then work.

    Examples
    --------
    On the default model, leave out ``model=`` (here: a tiny model, for speed).

    >>> from sklearn.pipeline import make_pipeline
    >>> from biotag import SmilesFeaturizer, TagLLMRegressor
    >>> pipe = make_pipeline(SmilesFeaturizer(), TagLLMRegressor(tiny_model, epochs=2, verbose=0, random_state=0))
    >>> pipe.fit(smiles, values).predict(["CCO", "CCN"]).shape
    (2,)
    """

    _task = "regression"

    def __init__(
        self,
        model: str | None = None,
        *,
        domains: str | tuple[str, ...] = "smiles",
        columns: list[str] | None = None,
        function_tag: str | None = None,
        p: int = 3,
        domain_p: int | None = None,
        domain_tags: str | None = "pretrained",
        enrich: bool = False,
        head_init: str = "probe-select",
        head_fit: str = "joint",
        readout: str = "tag+pool",
        epochs: int = 10,
        max_steps: int | None = None,
        batch_size: int = 16,
        lr: float | Sequence[float] = 3e-3,
        weight_decay: float = 0.0,
        warmup_ratio: float = 0.1,
        validation_fraction: float = 0.1,
        patience: int | None = 3,
        tokenization: str = "model",
        max_length: int | None = None,
        device: str = "auto",
        dtype: str = "auto",
        prefix_cache: str | None = None,
        prefix_memory: float = 0.5,
        random_state: Any = None,
        verbose: int = 1,
    ):
        self.model = model
        self.domains = domains
        self.columns = columns
        self.function_tag = function_tag
        self.p = p
        self.domain_p = domain_p
        self.domain_tags = domain_tags
        self.enrich = enrich
        self.head_init = head_init
        self.head_fit = head_fit
        self.readout = readout
        self.epochs = epochs
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tokenization = tokenization
        self.max_length = max_length
        self.device = device
        self.dtype = dtype
        self.prefix_cache = prefix_cache
        self.prefix_memory = prefix_memory
        self.random_state = random_state
        self.verbose = verbose

    def _targets(self, y: Any, n_rows: int, state: Any) -> np.ndarray:
        return check_y_regression(y, n_rows)

    def _build_head(self, hidden_size: int, y: np.ndarray, state: Any, readout: Readout) -> RegressionHead:
        return RegressionHead.for_targets(hidden_size, torch.as_tensor(y), readout)

    def _set_fitted_targets(self, y: np.ndarray, state: Any) -> None:
        self._y_ndim = y.ndim

    def predict(self, X: Any) -> np.ndarray:
        """Predictions in the targets' original units: shape (n,) or (n, n_outputs), one per input row."""
        out = self._head_outputs(X)
        return out[:, 0] if self._y_ndim == 1 else out

    def _extra_state(self) -> dict[str, Any]:
        return {"y_ndim": self._y_ndim}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        self._y_ndim = state["y_ndim"]
