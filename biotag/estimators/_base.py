"""What TagLLMRegressor and TagLLMClassifier share: parameters (declared once, in ``_params.py``), model handling,
fit, save/load, pickling."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from biotag._version import __version__
from biotag.domains.tagging import DOMAIN_TAGS, Template, check_tag_name
from biotag.estimators import _docs
from biotag.estimators._params import PARAMETER_CONSTRAINTS, PARAMETERS, init_storing
from biotag.estimators._inputs import check_domains, check_feature_names, check_X
from biotag.estimators._library import start_library
from biotag.estimators._search import fit_rates, learning_rates, rates_from_state, rates_state, search_prefixes
from biotag.exceptions import CorruptFileError
from biotag.parallel import is_main_process
from biotag.model import TaggedLM
from biotag.tags import TagLibrary
from biotag.backbone import load_base_model
from biotag.model.prefix import PrefixCache
from biotag.tags.pretrained import PRETRAINED
from biotag.heads.readout import Readout
from biotag.training import Example, History, stage2, stage3, train_stage
from biotag.files import atomic_write_text
from biotag.progress import showing_progress

_ESTIMATOR_JSON = "estimator.json"
class TagLLMBase(BaseEstimator):
    """Shared machinery; use :class:`TagLLMRegressor` or :class:`TagLLMClassifier`."""

    _parameter_constraints: dict = PARAMETER_CONSTRAINTS
    _task = "regression"
    _default_function_tag = "<Task>"
    _own_parameters: dict[str, Any] = {}  # a subclass's parameters beyond PARAMETERS, placed before random_state

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__init__ = init_storing(cls._parameters())
        if cls.__doc__:  # the shared sections, written once (_docs.py); random_state and verbose close Parameters
            cls.__doc__ = cls.__doc__.replace("{parameters}\n", _docs.PARAMETERS).replace(
                "{attributes}\n", _docs.RUN + "\n" + _docs.ATTRIBUTES)

    @classmethod
    def _parameters(cls) -> dict[str, Any]:
        names = list(PARAMETERS)
        at = names.index("random_state")
        defaults = {**PARAMETERS, **cls._own_parameters}
        return {name: defaults[name] for name in names[:at] + list(cls._own_parameters) + names[at:]}

    # ---- parameters ---------------------------------------------------------------------

    def _domains(self) -> tuple[str, ...]:
        return (self.domains,) if isinstance(self.domains, str) else tuple(self.domains)

    def _function_tag(self) -> str:
        return self.function_tag or self._default_function_tag

    def _template(self, domain_tags: tuple[str, ...] | None = None) -> Template:
        return Template(self._domains(), function_tag=self._function_tag(), domain_tags=domain_tags)

    def _check_params(self) -> None:
        self._validate_params()
        self._template()  # names an unknown domain or a malformed tag name
        learning_rates(self.lr)
        if self.function_tag is not None:
            check_tag_name(self.function_tag)
        if self.domain_tags not in (None, PRETRAINED) and not Path(self.domain_tags).is_dir():
            raise FileNotFoundError(f"domain_tags={str(self.domain_tags)!r} is not a tag library directory")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except RuntimeError as exc:
                raise ValueError(f"device={self.device!r} is not a torch device: {exc}") from None

    # ---- the base model: referenced, never owned ----------------------------------------------------

    def _load_base(self):
        """The frozen base model on ``device`` in ``dtype`` ("auto": decided afresh where it loads)."""
        return load_base_model(self.model, dtype=self.dtype, device=self.device)

    def _make_tlm(self, model, tokenizer, library: TagLibrary) -> TaggedLM:
        # The one place where the estimator decides placement: the tags follow the base model.
        library.to(model.get_input_embeddings().weight.device)
        return TaggedLM(model, tokenizer, library, tokenization=self.tokenization, max_length=self.max_length)

    def _tagged_lm(self) -> TaggedLM:
        """The fitted tags on the base model, loading (and verifying) the model on first use."""
        tlm = getattr(self, "_tlm", None)
        if tlm is None:
            # TaggedLM refuses a model whose embedding fingerprint differs from the library's.
            tlm = self._tlm = self._make_tlm(*self._load_base(), self.library_)
        return tlm

    # ---- fitting --------------------------------------------------------------------------------------

    def _target_state(self, y: Any) -> Any:
        """What the targets of a fit determine before training (a classifier's classes); None by default."""
        return None

    def _targets(self, y: Any, n_rows: int, state: Any) -> np.ndarray:  # pragma: no cover - abstract
        """``y`` checked against ``n_rows`` and encoded as the head trains on it."""
        raise NotImplementedError

    def _build_head(self, hidden_size: int, y: np.ndarray, state: Any, readout: Readout):  # pragma: no cover
        """The head reading ``readout`` for training targets ``y`` (encoded), built with what it needs of them."""
        raise NotImplementedError

    def _set_fitted_targets(self, y: np.ndarray, state: Any) -> None:
        """Keep what prediction needs to know of the targets (after a successful fit)."""

    def _split(self, rows: list, rng: np.random.RandomState, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_val = int(round(len(rows) * self.validation_fraction))
        if n_val == 0:
            return np.arange(len(rows)), np.arange(0)
        if len(rows) - n_val < 2:
            raise ValueError(f"{len(rows)} rows leave too few for training after validation_fraction="
                             f"{self.validation_fraction}; pass more data or validation_fraction=0")
        order = rng.permutation(len(rows))
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _fit_rows(self, X: Any, y: Any, X_val: Any, y_val: Any, state: Any) -> tuple:
        """The checked rows, their names and targets, the training seed, and the training and validation split."""
        rows, names = check_X(X, self._domains(), self.columns)
        check_domains(X, rows, self._domains())
        y_arr = self._targets(y, len(rows), state)
        if len(rows) < 2:
            raise ValueError(f"need at least 2 training rows, got {len(rows)}")
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(0, 2**31 - 1))
        if X_val is None and y_val is None:
            train_idx, val_idx = self._split(rows, rng, y_arr)
            return rows, names, y_arr, seed, (train_idx, [rows[i] for i in val_idx], y_arr[val_idx])
        if X_val is None or y_val is None:
            raise ValueError("pass both X_val and y_val, or neither")
        val_rows, val_names = check_X(X_val, self._domains(), self.columns)
        check_feature_names(names, val_names, "X_val")
        check_domains(X_val, val_rows, self._domains(), "X_val")
        return rows, names, y_arr, seed, (np.arange(len(rows)), val_rows, self._targets(y_val, len(val_rows), state))

    def fit(self, X: Any, y: Any, *, X_val: Any = None, y_val: Any = None) -> "TagLLMBase":
        """Train the function tag (and the domain tags if ``enrich``) and the head on the frozen model.

        Parameters
        ----------
        X : list, array, Series or DataFrame
            One column per domain (1-D for a single domain).
        y : array-like
            Targets aligned with ``X``.
        X_val, y_val : optional
            A validation set for early stopping and best-epoch restore. Without
            it, ``validation_fraction`` of ``X`` is held out (0 disables).
        """
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        state = self._target_state(y)  # a classifier refuses a single class or continuous labels first
        self._check_params()
        rows, names, y_arr, seed, (train_idx, val_rows, y_val_arr) = self._fit_rows(X, y, X_val, y_val, state)
        model, tokenizer = self._load_base()
        start = self._new_library(model)
        readout = Readout.named(self.readout, n_layers=model.config.num_hidden_layers, segments=len(self._domains()))
        start.add_head(self._function_tag(), self._build_head(start.hidden_size, y_arr[train_idx], state, readout))
        first, template = self._make_tlm(model, tokenizer, start), self._template(self._domain_tag_names())
        encoder = first.encoder()  # its tokenizations are kept: the fit from `start` itself reuses them
        encoder.check_lengths(items := [template.build(*r) for r in rows])  # by the input's row numbers
        train = [Example(items[i], y_arr[i]) for i in train_idx]
        val = [Example(template.build(*r), t) for r, t in zip(val_rows, y_val_arr)]
        if X_val is not None:
            encoder.check_lengths([e.input for e in val], "X_val")
        rates = learning_rates(self.lr)
        cache = search_prefixes(rates, bool(val), self._prefix_cache())

        def train_at(lr: float, library: TagLibrary):
            tlm = first if library is start else self._make_tlm(model, tokenizer, library)
            spec = self._stage(template, seed, lr)
            return (tlm, spec), train_stage(tlm, spec, train, val or None, progress=bool(self.verbose),
                                            prefix_cache=cache)

        self.lr_, (tlm, spec), self.history_, self.lr_search_ = fit_rates(rates, start, train_at)
        self.library_, self._tlm = tlm.library, tlm
        self._set_fitted_targets(y_arr, state)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_trainable_params_ = tlm.library.n_parameters(spec.train_tags + (spec.head,))
        self.stage_spec_ = spec
        self.dtype_ = str(model.dtype).removeprefix("torch.")
        return self

    def _domain_tag_names(self) -> tuple[str, ...]:
        return tuple(DOMAIN_TAGS[d] for d in self._domains())

    def _new_library(self, model) -> TagLibrary:
        return start_library(model, self.model, self.domain_tags, self._domain_tag_names(), self._function_tag(),
                             p=self.p, domain_p=self.domain_p)

    def _stage(self, template: Template, seed: int, lr: float):
        function_tag = self._function_tag()
        schedule = dict(epochs=self.epochs, max_steps=self.max_steps, batch_size=self.batch_size, lr=lr,
                        head_lr=self.head_lr,
                        weight_decay=self.weight_decay, warmup_ratio=self.warmup_ratio, patience=self.patience,
                        seed=seed, head_init=self.head_init, head_fit=self.head_fit)
        domain_tags = template.domain_tags
        if len(set(domain_tags)) == 1:
            return stage2(function_tag, domain_tags[0], task=self._task, enrich=self.enrich, **schedule)
        return stage3(function_tag, tuple(dict.fromkeys(domain_tags)), task=self._task, enrich=self.enrich,
                      **schedule)

    # ---- prediction ------------------------------------------------------------------------------------

    def _prefix_cache(self) -> PrefixCache | None:
        if self.prefix_cache is None:
            return None
        return PrefixCache(self.prefix_cache, memory_fraction=self.prefix_memory)

    def _head_outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "library_")
        rows, names = check_X(X, self._domains(), self.columns)
        fitted = getattr(self, "feature_names_in_", None)
        check_feature_names(None if fitted is None else list(fitted), names)
        check_domains(X, rows, self._domains())
        tlm = self._tagged_lm()
        template = self._template(self._domain_tag_names())
        items = [template.build(*r) for r in rows]
        tlm.encoder().check_lengths(items)
        # With a prefix cache, the frozen prefixes come from it: only the function tag's positions run.
        with showing_progress(bool(self.verbose) and len(items) > 256):  # bars only where the wait is felt
            out = tlm.predict(items, self._function_tag(), batch_size=max(self.batch_size, 32),
                              prefix_cache=self._prefix_cache())
        return out.numpy().astype(np.float64)

    # ---- saving, loading, pickling ----------------------------------------------------------------------

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted tags, head (with its target scaler), classes and parameters: safetensors + JSON;
        kilobytes, the base model referenced by ``model`` and its embedding fingerprint (only the main process
        writes under a launcher such as ``torchrun``)."""
        check_is_fitted(self, "library_")
        out = Path(path)
        if not is_main_process():
            return out
        self.library_.save(out)
        params = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in self.get_params().items()}
        if isinstance(params.get("random_state"), np.random.RandomState):
            params["random_state"] = None
        state = {
            "format": "biotag-estimator",
            "format_version": 1,
            "biotag_version": __version__,
            "estimator": type(self).__name__,
            "params": params,
            "feature_names_in_": list(getattr(self, "feature_names_in_", [])) or None,
            "n_trainable_params_": self.n_trainable_params_,
            "dtype_": self.dtype_,
            "history": {"epochs": self.history_.epochs, "best_epoch": self.history_.best_epoch,
                        "steps": self.history_.steps},
            **rates_state(self.lr_, self.lr_search_),
            **self._extra_state(),
        }
        atomic_write_text(out / _ESTIMATOR_JSON, json.dumps(state, indent=2, default=_json_default))
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "TagLLMBase":
        """Load an estimator written by :meth:`save`; the base model loads (and is verified) on first predict."""
        src = Path(path)
        file = src / _ESTIMATOR_JSON
        if not file.is_file():
            raise FileNotFoundError(f"no saved biotag estimator at {src}: {_ESTIMATOR_JSON} is missing")
        try:
            state = json.loads(file.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptFileError(f"{file} is not valid JSON ({exc}); the saved estimator is corrupt") from exc
        if state.get("format") != "biotag-estimator" or state.get("estimator") != cls.__name__:
            raise CorruptFileError(f"{file} holds a {state.get('estimator')!r}, not a {cls.__name__}")
        library = TagLibrary.load(src)
        try:
            params = dict(state["params"])
            if isinstance(params.get("domains"), list):
                params["domains"] = tuple(params["domains"])
            est = cls(**params)
            est._check_params()
            est.library_ = library
            if state.get("feature_names_in_"):
                est.feature_names_in_ = np.asarray(state["feature_names_in_"], dtype=object)
            est.n_trainable_params_ = int(state["n_trainable_params_"])
            est.dtype_ = str(state["dtype_"])
            est.history_ = History(**state["history"])
            est.lr_, est.lr_search_ = rates_from_state(state, params["lr"])
            est._set_extra_state(state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            field = f"the field {exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)
            raise CorruptFileError(f"{file} is not a valid saved estimator: {field}") from exc
        return est

    def __getstate__(self) -> dict[str, Any]:
        # Never pickle the base model: drop the runtime handle; the library (tags + head,
        # kilobytes) stays, with the base model's id and embedding fingerprint to verify on use.
        state = self.__dict__.copy()
        state.pop("_tlm", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tlm = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = True
        tags.non_deterministic = False
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"X_types": ["string", "2darray"]}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")
