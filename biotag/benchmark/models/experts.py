"""The expert baselines: tabular learners on hand-made features of molecules and proteins."""

from __future__ import annotations

from typing import Callable

import numpy as np

from biotag.benchmark import features
from biotag.benchmark.models.base import BenchmarkModel, register
from biotag.benchmark.tasks import Split, Task
from biotag.exceptions import InputIssue, InvalidInputError

__all__ = ["TargetScaler", "FeatureModel", "RandomForestMorgan", "CatBoostMapLight", "RidgeProtein", "per_distinct"]


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

    holds_out_valid = False  # trains on train + valid

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
        if self.task.kind == "classification":
            return self.estimator.predict_proba(F)[:, 1]
        return self.scaler.inverse_transform(self.estimator.predict(F))

    def count_params(self) -> int:
        return 0

    @property
    def threads(self) -> int | None:
        return self.settings.threads


@register
class RandomForestMorgan(FeatureModel):
    """Random forest (500 trees) on 2048-bit Morgan count fingerprints (radius 2); proteins: composition."""

    name = "rf_morgan"

    def make(self):
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if self.task.kind == "classification" else RandomForestRegressor
        return cls(n_estimators=500, n_jobs=self.threads, random_state=self.seed)

    def count_params(self) -> int:  # split thresholds and leaf values: one per node
        return int(sum(tree.tree_.node_count for tree in self.estimator.estimators_))


@register
class CatBoostMapLight(FeatureModel):
    """MapLight's features and target scaling (Notwell & Wood, 2023: ECFP4 counts, Avalon counts, ErG and
    RDKit descriptors; log10 for skewed targets) under CatBoost's default parameters. MapLight's own submission
    also sets ``random_strength=2`` and, for regression, the MAE loss; ``benchmarks/results/maplight-params/maplight_params.py``
    measures what that changes (the README's sanity check)."""

    name = "catboost_maplight"

    def smiles_features(self, smiles: list[str]) -> np.ndarray:
        return features.maplight_features(smiles, exclude=self.task.label_features)

    def make(self):
        try:
            import catboost
        except ImportError as err:
            raise ImportError("catboost_maplight needs CatBoost: pip install 'biotag[boost]'") from err
        cls = catboost.CatBoostClassifier if self.task.kind == "classification" else catboost.CatBoostRegressor
        return cls(random_state=self.seed, verbose=0, thread_count=self.threads,
                   allow_writing_files=False)

    def count_params(self) -> int:  # leaf values of every oblivious tree, plus one split per level
        model = self.estimator
        depth = int(model.get_all_params().get("depth", 6))
        return int(model.tree_count_ * (2**depth + depth))


@register
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
