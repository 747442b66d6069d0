"""The estimators' shared numpydoc sections, written once: each estimator's docstring names them by placeholder
(``{parameters}``, ``{attributes}``) and :class:`~biotag.estimators._base.TagLLMBase` fills them in. Defaults are
those of :class:`~biotag.config.TagLLMConfig`; how they were chosen is in ``benchmarks/README.md``."""

PARAMETERS = """\
    Parameters
    ----------
    model : str or path, optional
        Hugging Face causal LM id or path; ``None`` is the offline default (SmolLM2-135M-Instruct).
    domains : str or tuple of str, default="smiles"
        Domain of each input column: ``"smiles"``, ``"protein"``, or a tuple such as
        ``("protein", "smiles")`` for drug-target data.
    columns : list of str, optional
        DataFrame columns to use, in domain order (default: all columns, in order).
    function_tag : str, optional
        Name of the task's tag (default ``"<Task>"``).
    device : str, default="auto"
        ``"auto"`` uses this process's GPU when there is one, else the CPU.
    dtype : {"auto", "float32", "bfloat16", "float16"}, default="auto"
        The frozen model's precision; tags and heads stay float32. ``"auto"`` is bfloat16 where the hardware computes
        it natively (CUDA GPUs of compute capability 8+, CPUs with AVX512-BF16 or AMX) and float32 elsewhere (bf16 is
        emulated, and slow, on other CPUs). It is decided where the model loads; ``dtype_`` says what ``fit`` used.
    p : int, default=3
        Vectors per new function tag (the paper's is 10).
    domain_p : int, optional
        Vectors of a new, untrained domain tag; default ``p``. Pretrained domain tags keep their own length.
    domain_tags : "pretrained", path or None, default="pretrained"
        The domain tags to start from. ``"pretrained"``: the stage-1 tags biotag ships for the model (a domain or
        model it ships none for starts untrained). A path: a tag library of yours holding every domain tag. None:
        untrained domain tags.
    enrich : bool, default=False
        Also train the domain tags (the paper's "enriched" variant).
    tokenization : {"model", "char"}, default="model"
        Tokenization of domain sequences.
    max_length : int, optional
        Longest input in positions; longer rows are an error naming the row.
    readout : {"tag", "tag+pool", "pool"}, default="tag+pool"
        What the head reads: ``"tag"`` the final hidden state at the function tag's last position (the paper's);
        ``"tag+pool"`` that and each input column's tokens mean-pooled at a third, two thirds and the end of the
        model's depth (computed once with the frozen prefix); ``"pool"`` the pooled states alone (a linear probe:
        the function tag has no effect).
    head_init : {"random", "probe", "probe-select"}, default="probe-select"
        How the head starts. ``"probe"``: at the ridge / logistic-regression fit on the untrained tags' readouts,
        every feature included, so the function tag's features carry weight and the tag has a gradient from the
        first step (LP-FT); ``"probe-select"``: that fit, or the one on the pooled states alone (the tag's features
        then start at weight zero and the tag learns only once the head grows them), whichever cross-validates
        better; ``"random"``: the paper's start. A probe's strength is chosen by cross-validation on the training
        rows, never on the validation rows that early stopping compares each epoch with the start against.
    head_fit : {"joint", "refit"}, default="joint"
        ``"joint"``: the head trains by AdamW beside the tags (the paper's). ``"refit"``: never by gradient; after
        each epoch it is refitted in closed form on the new readouts, and the tags train against ridge fits of the
        other training rows (strengths by leave-one-out on the training rows). Needs a probe ``head_init``.
    epochs, max_steps, batch_size, lr, weight_decay, warmup_ratio
        Training budget and AdamW schedule (linear warmup, cosine decay). ``lr`` may list several rates, e.g.
        ``(1e-3, 3e-3, 1e-2)``: ``fit`` then trains once per rate from the same start and keeps the one with the
        lowest validation loss (``lr_``, ``lr_search_``).
    head_lr : float, optional
        The head's own learning rate, in its own AdamW parameter group (default: ``lr``). A head that starts at a
        fitted probe is near its optimum, where the tags' rate can raise the training loss; 0 keeps it there.
    validation_fraction : float, default=0.1
        Share of the training rows held out for early stopping and best-epoch restore when no ``X_val`` is given;
        0 disables.
    patience : int or None, default=3
        Epochs without validation improvement before stopping.
    prefix_cache : str or path, optional
        A directory where the frozen part of each input (domain tags and sequence, before the function tag) is kept
        between fits (see :class:`~biotag.model.prefix.PrefixCache`): a grid search, cross-validation or several
        seeds compute it once. The directory is not cleaned up. Results match the uncached path to float tolerance.
    prefix_memory : float, default=0.5
        With ``prefix_cache``: the share of the available memory cached prefixes may be loaded into; beyond it they
        are read from their files batch by batch. Results do not depend on it.
"""

ATTRIBUTES = """\
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
        Each rate tried and the validation loss of the parameters its training kept (inf without validation rows).
    dtype_ : str
        The base model's precision during ``fit`` (what ``dtype`` resolved to).
    stage_spec_ : StageSpec
        The stage ``fit`` trained (what trained and froze, the loss, the schedule); not kept by ``save``.
    feature_names_in_ : ndarray, present for DataFrame input
        The columns' names, checked on predict. There is no ``n_features_in_``: the input is strings, one column
        per domain, as for scikit-learn's text vectorizers.
"""

RUN = """\
    random_state : int, RandomState or None
        Seeds the validation split, the initialization order and the shuffling.
    verbose : int, default=1
        0: silent; 1: a progress bar.
"""
