"""The paper's LLM baselines on biotag's backbone: a linear probe, and PEFT prompt tuning and LoRA.

All read the same inputs as Tag-LLM (the standardized sequences as text) on the
same frozen base model. The probe fits a linear model on the final hidden state
of the last input token. Prompt tuning and LoRA come from PEFT, trained the
standard way (full forward and backward over every position, every step) with a
regression/classification head on the last token, as in the paper's Table 3,
through biotag's one optimization loop (same schedule, early stopping on valid; batches grouped by
length, as transformers' ``group_by_length`` does).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import MISSING, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from biotag.benchmark.models import BenchmarkModel, standardized_text
from biotag.benchmark.tasks import Split
from biotag.tags.prompt import _pad_id  # the pad id biotag's own prompts use

__all__ = ["LinearProbe", "PromptTuning", "LoRA", "FeatureCache"]


def _pad_left(batch: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(len(r) for r in batch)
    ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), T), dtype=torch.long)
    for b, row in enumerate(batch):
        ids[b, T - len(row):] = torch.tensor(row)
        mask[b, T - len(row):] = 1
    return ids, mask


def weights_key(model: torch.nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of every parameter and buffer, by name: the model's identity."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


class FeatureCache:
    """A frozen model's features of token sequences, kept on disk across cells and runs.

    The linear probe's features depend only on the frozen weights and the input's
    token ids, so the five seeds of a task (whose splits reshuffle the same
    molecules) compute them once. One ``.npz`` of plain arrays per model (no pickle),
    keyed by the SHA-256 of each input's token ids, and replaced atomically.
    """

    def __init__(self, model_key: str, directory: str | Path | None = None):
        from biotag.tags.base import cache_root

        folder = Path(directory) if directory is not None else cache_root() / "probe-features"
        self.path = folder / f"{model_key}.npz"

    @staticmethod
    def key(ids: list[int]) -> str:
        return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()

    def load(self) -> dict[str, np.ndarray]:
        if not self.path.is_file():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return dict(zip(data["keys"].tolist(), data["features"]))
        except (OSError, ValueError, KeyError):  # a damaged cache is recomputed, never trusted
            return {}

    def save(self, table: dict[str, np.ndarray]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, keys=np.array(list(table), dtype="U64"), features=np.stack(list(table.values())))
        os.replace(tmp, self.path)


class LinearProbe(BenchmarkModel):
    """Ridge / logistic regression on the frozen LLM's last-token hidden state; strength chosen on valid.

    Features are computed once per model and input (:class:`FeatureCache`), so a task's later seeds reuse
    the first seed's; their wall times are the probe's own cost once features exist.
    """

    name = "linear_probe"

    def embed(self, texts: list[str]) -> np.ndarray:
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        keys = [FeatureCache.key(row) for row in ids]
        table = self.cache.load()
        missing = sorted({k: i for i, k in enumerate(keys) if k not in table}.values())
        if missing:
            table.update(zip((keys[i] for i in missing), self._hidden([ids[i] for i in missing])))
            self.cache.save(table)
        return np.stack([table[k] for k in keys]) if keys else np.zeros((0, self.model.config.hidden_size), np.float32)

    @torch.no_grad()
    def _hidden(self, ids: list[list[int]]) -> np.ndarray:
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # length buckets: little padding
        out = np.zeros((len(ids), self.model.config.hidden_size), dtype=np.float32)
        for start in range(0, len(order), 32):
            idx = order[start : start + 32]
            input_ids, mask = _pad_left([ids[i] for i in idx], _pad_id(self.tokenizer))
            position_ids = (mask.cumsum(1) - 1).clamp(min=0)
            hidden = self.model.base_model(input_ids=input_ids, attention_mask=mask,
                                           position_ids=position_ids).last_hidden_state
            out[idx] = hidden[:, -1].float().numpy()
        return out

    def fit(self, split: Split) -> "LinearProbe":
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.metrics import log_loss, mean_squared_error
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from biotag.tags import load_base_model

        self.model, self.tokenizer = load_base_model(self.settings.model, dtype=getattr(torch, self.settings.dtype))
        self.cache = FeatureCache(weights_key(self.model))
        F_train = self.embed(standardized_text(split.X_train, self.task.domains))
        F_valid = self.embed(standardized_text(split.X_valid, self.task.domains))
        best = None
        for strength in 10.0 ** np.arange(-3, 5):
            if self.task.kind == "binary":
                est = make_pipeline(StandardScaler(), LogisticRegression(C=1 / strength, max_iter=2000))
                est.fit(F_train, split.y_train)
                score = log_loss(split.y_valid, est.predict_proba(F_valid)[:, 1], labels=[0, 1])
            else:
                est = make_pipeline(StandardScaler(), Ridge(alpha=strength))
                est.fit(F_train, split.y_train)
                score = mean_squared_error(split.y_valid, est.predict(F_valid))
            if best is None or score < best[0]:
                best = (score, est)
        self.estimator = best[1]
        self.trainable_params = F_train.shape[1] + 1
        return self

    def predict(self, X: list) -> np.ndarray:
        F = self.embed(standardized_text(X, self.task.domains))
        if self.task.kind == "binary":
            return self.estimator.predict_proba(F)[:, 1]
        return self.estimator.predict(F)


class PeftBaseline(BenchmarkModel):
    """A PEFT method on a sequence-classification view of the base model, with a one-output head."""

    lr = 3e-3

    def peft_config(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _load(self):
        try:
            from peft import get_peft_model
        except ImportError as err:
            raise ImportError(f"{self.name} needs PEFT: pip install 'biotag[peft]'") from err
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from biotag.tags.base import _DTYPE_KW, model_source

        source, _ = model_source(self.settings.model)
        tokenizer = AutoTokenizer.from_pretrained(source)
        torch.manual_seed(self.seed)  # the new head's and adapters' initial values
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1,
                                                                   **{_DTYPE_KW: torch.float32})
        model.config.pad_token_id = _pad_id(tokenizer)
        return get_peft_model(model, self.peft_config()), tokenizer

    def _logits(self, ids: list[list[int]]) -> torch.Tensor:
        input_ids, mask = _pad_left(ids, _pad_id(self.tokenizer))
        return self.model(input_ids=input_ids, attention_mask=mask).logits[:, 0].float()

    def _loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.task.kind == "binary":
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        return torch.nn.functional.mse_loss(logits, target)

    def _tokens(self, X: list) -> list[list[int]]:
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"]
                for t in standardized_text(X, self.task.domains)]

    def fit(self, split: Split) -> "PeftBaseline":
        from biotag.training import StageSpec
        from biotag.training.loop import optimize

        if self.settings.dtype != "float32":
            raise ValueError(f"{self.name} runs in float32 only, not dtype={self.settings.dtype!r}")
        self.model, self.tokenizer = self._load()
        if self.task.kind == "regression":
            self.mean, self.std = float(split.y_train.mean()), float(split.y_train.std()) or 1.0
        else:
            self.mean, self.std = 0.0, 1.0
        ids_train, ids_valid = self._tokens(split.X_train), self._tokens(split.X_valid)
        y_train = torch.tensor((split.y_train - self.mean) / self.std, dtype=torch.float32)
        y_valid = torch.tensor((split.y_valid - self.mean) / self.std, dtype=torch.float32)
        params = [p for p in self.model.parameters() if p.requires_grad]
        # The schedule of biotag's stages (warmup, cosine, clipping...), with this baseline's rate and epochs.
        defaults = {f.name: f.default for f in fields(StageSpec) if f.default is not MISSING}
        schedule = SimpleNamespace(**{**defaults, "name": self.name, "epochs": self.settings.epochs,
                                      "batch_size": self.settings.batch_size, "lr": self.lr, "patience": 3,
                                      "seed": self.seed})

        def batch_loss(idx: np.ndarray) -> torch.Tensor:
            self.model.train()
            return self._loss(self._logits([ids_train[i] for i in idx]), y_train[idx])

        @torch.no_grad()
        def val_loss() -> float:
            self.model.eval()
            total = 0.0
            for start in range(0, len(ids_valid), 32):
                chunk = slice(start, start + 32)
                total += self._loss(self._logits(ids_valid[chunk]), y_valid[chunk]).item() * len(ids_valid[chunk])
            return total / max(len(ids_valid), 1)

        # Batches grouped by length: every step runs the full model over the padded batch, and random
        # batches of SMILES are about half padding.
        self.history = optimize(params, len(ids_train), batch_loss, schedule, val_loss=val_loss if ids_valid else None,
                                lengths=[len(r) for r in ids_train], progress=False)
        self.trainable_params = int(sum(p.numel() for p in params))
        return self

    @torch.no_grad()
    def predict(self, X: list) -> np.ndarray:
        self.model.eval()
        ids = self._tokens(X)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros(len(ids))
        for start in range(0, len(order), 32):
            idx = order[start : start + 32]
            out[idx] = self._logits([ids[i] for i in idx]).numpy()
        if self.task.kind == "binary":
            return 1.0 / (1.0 + np.exp(-out))
        return out * self.std + self.mean


class PromptTuning(PeftBaseline):
    """PEFT prompt tuning with as many virtual tokens as Tag-LLM's tags (domain + function: 2p)."""

    name = "prompt_tuning"
    lr = 3e-3  # the rate biotag's tags use

    def peft_config(self) -> Any:
        from peft import PromptTuningConfig, TaskType

        return PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=2 * self.settings.p)


class LoRA(PeftBaseline):
    """PEFT LoRA (r=8, alpha=16, dropout 0.05, PEFT's default target modules) with a regression head."""

    name = "lora"
    lr = 5e-4

    def peft_config(self) -> Any:
        from peft import LoraConfig, TaskType

        return LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.05)
