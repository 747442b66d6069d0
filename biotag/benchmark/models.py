"""The models a benchmark compares, all behind one surface: ``fit(split)`` then ``predict(X)``.

Models that use a validation set (early stopping) train on ``train`` and stop on
``valid``; models that do not (forests, boosting) train on ``train + valid``, as
their published ADMET-group entries do. Classifiers predict the positive class's
probability, which TDC's ROC-AUC and PR-AUC expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from biotag.benchmark import features
from biotag.benchmark.tasks import Split, Task
from biotag.exceptions import InputIssue, InvalidInputError

__all__ = ["Settings", "MODELS", "EXPERT_MODELS", "TAGLLM_MODELS", "PEFT_MODELS", "LLM_MODELS", "make_model",
           "standardized_columns", "standardized_text"]


@dataclass
class Settings:
    """What a run may tune; recorded with every result.

    ``epochs`` applies to the LLM models; ``domain_tags`` maps a domain to a saved
    tag library holding its stage-1 tag; ``n_jobs`` is the forests' and CatBoost's threads (-1: every
    core this process may use), a speed setting that each expert cell records as ``threads``.
    """

    epochs: int = 10
    batch_size: int = 16
    lr: float = 3e-3
    p: int = 10
    n_jobs: int = 2
    domain_tags: dict[str, str] = field(default_factory=dict)
    stage1_corpus: int = 0  # molecules the stage-1 <SMILES> tag trained on (0: no stage 1)
    model: str | None = None  # base LLM; None = the default model
    # The frozen model's precision in Tag-LLM and linear-probe cells ("bfloat16": about 3x faster on a CPU with
    # AVX512-BF16, and on GPUs); tags and heads train in float32 either way. PEFT baselines run in float32.
    dtype: str = "float32"
    # Where Tag-LLM cells keep their frozen prefixes between seeds (one folder per task; the runner removes
    # a task's folder after its cells). A speed setting only: not compared on resume, not recorded.
    prefix_cache: str | None = None
    # The share of the available memory a Tag-LLM cell may load its cached prefixes into (beyond it they are
    # read from disk per batch). Lower it to run cells side by side; a speed setting only, like the cache.
    prefix_memory: float = 0.5

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


def standardized_columns(X: list, domains: tuple[str, ...]) -> list:
    """Inputs as every LLM model sees them: each column validated and standardized by its domain featurizer
    (RDKit for SMILES, Biopython rules for proteins), exactly as a user's pipeline would; bad rows raise.
    Ambiguous residue codes (X, B, Z, ...; one DAVIS kinase has an X) are kept as given."""
    from biotag.domains import ProteinFeaturizer

    columns = [list(X)] if len(domains) == 1 else [list(c) for c in zip(*X)]
    out = []
    for domain, column in zip(domains, columns):
        out.append(standardized_smiles(column) if domain == "smiles"
                   else ProteinFeaturizer(nonstandard="keep").transform(column))
    return out[0] if len(domains) == 1 else [list(row) for row in zip(*out)]


def standardized_smiles(column: list) -> list[str]:
    """SMILES standardized by :class:`~biotag.domains.SmilesFeaturizer`'s defaults; a valid molecule whose
    neutralization leaves a SMILES RDKit cannot read back (a stabilized carbanion in VDss_Lombardo) keeps
    its charges instead, since a benchmark may not drop a row. Invalid SMILES still raise, naming their rows."""
    from biotag.domains import SmilesFeaturizer

    out = SmilesFeaturizer(errors="nan").transform(column)
    bad = [i for i, value in enumerate(out) if not isinstance(value, str)]
    if bad:
        charged = SmilesFeaturizer(neutralize=False, errors="nan").transform([column[i] for i in bad])
        if any(not isinstance(value, str) for value in charged):
            SmilesFeaturizer(neutralize=False).transform(column)  # raises, naming every invalid row
        for i, value in zip(bad, charged):
            out[i] = value
    return out


def standardized_text(X: list, domains: tuple[str, ...]) -> list[str]:
    """Standardized inputs as plain text for the LLM baselines (several domains joined by a space)."""
    rows = standardized_columns(X, domains)
    return list(rows) if len(domains) == 1 else [" ".join(row) for row in rows]


def per_distinct(features_of: Callable[[list], np.ndarray], column: list) -> np.ndarray:
    """``features_of(column)``, computed on each distinct value once and gathered back in row order. An input
    error names the column's own rows (every row holding a bad value), not positions among distinct values."""
    position: dict = {}
    rows = np.array([position.setdefault(value, len(position)) for value in column], dtype=np.int64)
    try:
        features = features_of(list(position))
    except InvalidInputError as err:
        issues = [InputIssue(row, issue.value, issue.reason)
                  for issue in err.issues for row in np.flatnonzero(rows == issue.index).tolist()]
        raise type(err)(sorted(issues, key=lambda issue: issue.index)) from None
    return features[rows]


class BenchmarkModel:
    """fit(split) / predict(X); ``trainable_params`` counts what the fit learned."""

    name = "model"
    trainable_params: int = 0

    @classmethod
    def applies_to(cls, task: Task) -> bool:
        """Whether the model takes this task's inputs (a run skips the cells where it does not)."""
        return True

    def __init__(self, task: Task, seed: int, settings: Settings):
        self.task, self.seed, self.settings = task, seed, settings
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


class TargetScaler:
    """MapLight's target transform: shift to non-negative, optional log10(1 + y), then standardize."""

    def __init__(self, log: bool):
        self.log = log

    def fit(self, y: np.ndarray) -> "TargetScaler":
        self.offset = min(float(np.min(y)), 0.0)
        z = self._forward(y)
        self.mean, self.std = float(z.mean()), float(z.std()) or 1.0
        return self

    def _forward(self, y: np.ndarray) -> np.ndarray:
        z = np.asarray(y, dtype=float) - self.offset
        return np.log10(z + 1.0) if self.log else z

    def transform(self, y: np.ndarray) -> np.ndarray:
        return (self._forward(y) - self.mean) / self.std

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=float) * self.std + self.mean
        return (10.0**z - 1.0 if self.log else z) + self.offset


class FeatureModel(BenchmarkModel):
    """A tabular learner on hand-made features of the input columns."""

    def featurize(self, X: list) -> np.ndarray:
        """Each column's features, computed once per distinct value (DAVIS pairs 68 drugs with 379 kinases
        in 25,772 rows) and gathered back in row order."""
        columns = list(zip(*X)) if len(self.task.domains) > 1 else [X]
        blocks = []
        for domain, column in zip(self.task.domains, columns):
            features_of = self.smiles_features if domain == "smiles" else self.protein_features
            blocks.append(per_distinct(features_of, list(column)))
        return np.concatenate(blocks, axis=1)

    def smiles_features(self, smiles: list[str]) -> np.ndarray:
        return features.morgan_counts(smiles)

    def protein_features(self, sequences: list[str]) -> np.ndarray:
        return features.protein_composition(sequences, exclude=self.task.label_features)

    def make(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, split: Split) -> "FeatureModel":
        X, y = self.featurize(split.X_train_valid), split.y_train_valid
        self.scaler = TargetScaler(self.task.log_target).fit(y) if self.task.kind == "regression" else None
        self.estimator = self.make()
        self.estimator.fit(X, y if self.scaler is None else self.scaler.transform(y))
        self.trainable_params = self.count_params()
        return self

    def predict(self, X: list) -> np.ndarray:
        F = self.featurize(X)
        if self.task.kind == "binary":
            return self.estimator.predict_proba(F)[:, 1]
        return self.scaler.inverse_transform(self.estimator.predict(F))

    def count_params(self) -> int:
        return 0

    @property
    def threads(self) -> int | None:
        return self.settings.threads


class RandomForestMorgan(FeatureModel):
    """Random forest (500 trees) on 2048-bit Morgan count fingerprints (radius 2); proteins: composition."""

    name = "rf_morgan"

    def make(self):
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if self.task.kind == "binary" else RandomForestRegressor
        return cls(n_estimators=500, n_jobs=self.threads, random_state=self.seed)

    def count_params(self) -> int:  # split thresholds and leaf values: one per node
        return int(sum(tree.tree_.node_count for tree in self.estimator.estimators_))


class CatBoostMapLight(FeatureModel):
    """MapLight's features and target scaling (Notwell & Wood, 2023: ECFP4 counts, Avalon counts, ErG and
    RDKit descriptors; log10 for skewed targets) under CatBoost's default parameters. MapLight's own submission
    also sets ``random_strength=2`` and, for regression, the MAE loss; ``benchmarks/maplight_params.py``
    measures what that changes (the README's sanity check)."""

    name = "catboost_maplight"

    def smiles_features(self, smiles: list[str]) -> np.ndarray:
        return features.maplight_features(smiles, exclude=self.task.label_features)

    def make(self):
        try:
            import catboost
        except ImportError as err:
            raise ImportError("catboost_maplight needs CatBoost: pip install 'biotag[boost]'") from err
        cls = catboost.CatBoostClassifier if self.task.kind == "binary" else catboost.CatBoostRegressor
        return cls(random_state=self.seed, verbose=0, thread_count=self.threads,
                   allow_writing_files=False)

    def count_params(self) -> int:  # leaf values of every oblivious tree, plus one split per level
        model = self.estimator
        depth = int(model.get_all_params().get("depth", 6))
        return int(model.tree_count_ * (2**depth + depth))


class RidgeProtein(FeatureModel):
    """The protein tasks' sequence-feature baseline: ridge regression (strength by internal CV) on
    position-wise one-hot codes when all sequences have one length (mutational scans such as
    beta-lactamase), else on amino-acid and dipeptide composition with ProtParam descriptors."""

    name = "ridge_protein"

    @classmethod
    def applies_to(cls, task: Task) -> bool:
        return task.domains == ("protein",) and task.kind == "regression"

    def protein_features(self, sequences: list[str]) -> np.ndarray:
        if getattr(self, "length", None) is None:  # decided once, on the training sequences
            lengths = {len(s) for s in sequences}
            self.length = lengths.pop() if len(lengths) == 1 else 0
        if self.length and all(len(s) == self.length for s in sequences):
            return features.one_hot_aligned(sequences)
        if self.length:
            raise ValueError(f"{self.name} was fitted on aligned {self.length}-residue sequences; "
                             f"got lengths {sorted({len(s) for s in sequences})[:5]}")
        return features.protein_composition(sequences, exclude=self.task.label_features)

    def make(self):
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15)))

    def count_params(self) -> int:
        linear = self.estimator[-1]
        return int(np.size(linear.coef_) + np.size(linear.intercept_))

    @property
    def threads(self) -> int | None:  # n_jobs does not reach it; its BLAS threads follow the environment
        return None


class TagLLM(BenchmarkModel):
    """biotag's estimators on the default model, with stage-1 domain tags when the run provides them."""

    name = "tagllm"
    head_init = "random"

    def fit(self, split: Split) -> "TagLLM":
        from biotag import TagLLMClassifier, TagLLMRegressor

        cls = TagLLMClassifier if self.task.kind == "binary" else TagLLMRegressor
        libraries = {self.settings.domain_tags[d] for d in self.task.domains if d in self.settings.domain_tags}
        if len(libraries) > 1:
            raise ValueError(f"the domains of {self.task.name} need their stage-1 tags in one library; got {libraries}")
        s = self.settings
        library = libraries.pop() if libraries else None
        if library is not None:
            from biotag.tags.library import library_digest

            self.provenance["domain_tags_sha256"] = library_digest(library)
        self.estimator = cls(
            model=s.model, dtype=s.dtype, domains=self.task.domains, p=s.p, epochs=s.epochs,
            batch_size=s.batch_size, lr=s.lr, domain_tags=library,
            head_init=self.head_init, random_state=self.seed,
            prefix_cache=str(Path(s.prefix_cache) / self.task.name) if s.prefix_cache else None,
            prefix_memory=s.prefix_memory, verbose=0,
        )
        X_train = standardized_columns(split.X_train, self.task.domains)
        X_valid = standardized_columns(split.X_valid, self.task.domains)
        self.estimator.fit(X_train, split.y_train, X_val=X_valid, y_val=split.y_valid)
        self.trainable_params = int(self.estimator.n_trainable_params_)
        return self

    def predict(self, X: list) -> np.ndarray:
        X = standardized_columns(X, self.task.domains)
        if self.task.kind == "binary":
            return self.estimator.predict_proba(X)[:, 1]
        return self.estimator.predict(X)


class TagLLMProbe(TagLLM):
    """``tagllm`` with the head started at the linear probe's solution on the untrained tags' readouts
    (``head_init="probe"``, LP-FT), kept if no epoch of tag training beats it on validation."""

    name = "tagllm_probe"
    head_init = "probe"


from biotag.benchmark.llm_baselines import LinearProbe, LoRA, PromptTuning  # noqa: E402 - they subclass the above

MODELS: dict[str, Callable[..., BenchmarkModel]] = {
    m.name: m for m in [RandomForestMorgan, CatBoostMapLight, RidgeProtein, TagLLM, TagLLMProbe, LinearProbe,
                        PromptTuning, LoRA]
}
EXPERT_MODELS = ("rf_morgan", "catboost_maplight", "ridge_protein")
TAGLLM_MODELS = ("tagllm", "tagllm_probe")  # Tag-LLM itself, in its variants
PEFT_MODELS = ("prompt_tuning", "lora")
LLM_MODELS = (*TAGLLM_MODELS, "linear_probe", *PEFT_MODELS)


def make_model(name: str, task: Task, seed: int, settings: Settings) -> BenchmarkModel:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name](task, seed, settings)


