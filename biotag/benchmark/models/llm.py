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

from pathlib import Path
from typing import Any

import numpy as np

from biotag.benchmark.models.base import BenchmarkModel, register
from biotag.benchmark.standardize import standardized_text
from biotag.benchmark.tasks import Split

# torch, transformers and biotag.tags load with the first model built, so listing the models and reporting on
# results (which import this module to register them) start without them.

__all__ = ["LinearProbe", "LinearProbePooled", "PromptTuning", "LoRA", "FeatureCache"]


class FeatureCache:
    """A frozen model's features of token sequences, kept on disk across cells and runs.

    The linear probe's features depend only on the frozen weights and the input's token ids, so the five
    seeds of a task (whose splits reshuffle the same molecules) compute them once. One folder per model
    (named by :func:`~biotag.backbone.fingerprint.model_digest` of all its weights), one file per input (keyed by its token
    ids) holding one tensor per kind of feature; a file that cannot be read, or lacks a kind asked for, is
    recomputed, never trusted.
    """

    def __init__(self, model: torch.nn.Module, directory: str | Path | None = None):
        from biotag.backbone.fingerprint import model_digest
        from biotag.files import TensorFiles, cache_root

        folder = Path(directory) if directory is not None else cache_root() / "probe-features"
        self.files = TensorFiles(folder / model_digest(model, sample=None)[:16])

    @staticmethod
    def key(ids: list[int]) -> str:
        return ",".join(map(str, ids))

    def get(self, ids: list[int], kinds: tuple[str, ...] = ("h",)) -> dict[str, np.ndarray] | None:
        found = self.files.read(self.key(ids))
        if found is None or found[1].get("ids") != self.key(ids) or any(k not in found[0] for k in kinds):
            return None
        return {k: found[0][k].numpy() for k in kinds}

    def put(self, ids: list[int], features: dict[str, np.ndarray]) -> None:
        import torch

        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in features.items()}
        self.files.write(self.key(ids), tensors, {"ids": self.key(ids)})


@register
class LinearProbe(BenchmarkModel):
    """Ridge / logistic regression on the frozen LLM's last-token hidden state; strength chosen on valid.

    Features are computed once per model and input (:class:`FeatureCache`), so a task's later seeds reuse
    the first seed's; their wall times are the probe's own cost once features exist.
    """

    name = "linear_probe"
    group = "probe"
    #: The readouts the probe chooses from on validation, with the strength: ``last`` (the last token's final
    #: state), ``pool`` (the tokens' mean at a third, two thirds and the end of the depth), ``last+pool``.
    readouts: tuple[str, ...] = ("last",)

    def _kinds(self) -> tuple[str, ...]:
        return ("h",) + ((self._pooled_kind(),) if any("pool" in r for r in self.readouts) else ())

    def _pooled_kind(self) -> str:
        from biotag.heads.readout import Readout

        layers = Readout.named("pool", n_layers=self.model.config.num_hidden_layers, segments=1).layers
        return "pooled" + ",".join(map(str, layers))

    def embed(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Each kind of feature (``h``, and the pooled states when a readout pools) of every text, (N, F)."""
        kinds = self._kinds()
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        distinct = {FeatureCache.key(row): row for row in ids}
        table = {key: self.cache.get(row, kinds) for key, row in distinct.items()}
        missing = [row for key, row in distinct.items() if table[key] is None]
        for row, features in zip(missing, self._hidden(missing, kinds) if missing else []):
            self.cache.put(row, features)
            table[FeatureCache.key(row)] = features
        return {k: np.stack([table[FeatureCache.key(row)][k] for row in ids]) for k in kinds}

    def features(self, embedded: dict[str, np.ndarray], readout: str) -> np.ndarray:
        parts = {"last": ["h"], "pool": [self._pooled_kind()], "last+pool": ["h", self._pooled_kind()]}[readout]
        return np.concatenate([embedded[k] for k in parts], axis=1)

    def _hidden(self, ids: list[list[int]], kinds: tuple[str, ...]) -> list[dict[str, np.ndarray]]:
        import torch
        from tqdm.auto import tqdm

        from biotag.model.batching import left_pad, position_ids
        from biotag.model.prompt import pad_id  # the pad id biotag's own prompts use

        pooled = len(kinds) > 1
        layers = [int(x) for x in kinds[1][len("pooled"):].split(",")] if pooled else []
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # length buckets: little padding
        out: list[dict[str, np.ndarray]] = [{} for _ in ids]
        for start in tqdm(range(0, len(order), 32), desc=f"{self.name} features", unit="batch", leave=False,
                          disable=not self.settings.verbose):
            idx = order[start : start + 32]
            padded = left_pad([ids[i] for i in idx], pad_id(self.tokenizer))
            input_ids, mask = (t.to(self.model.device) for t in padded)
            with torch.no_grad():
                result = self.model.base_model(input_ids=input_ids, attention_mask=mask,
                                               position_ids=position_ids(mask), output_hidden_states=pooled)
            last = result.last_hidden_state[:, -1].float().cpu().numpy()
            weight = (mask / mask.sum(dim=1, keepdim=True)).float()
            means = [torch.einsum("bt,btd->bd", weight, result.hidden_states[layer].float()).cpu() for layer in layers]
            for row, i in enumerate(idx):
                out[i]["h"] = last[row]
                if pooled:
                    out[i][kinds[1]] = torch.cat([m[row] for m in means]).numpy()
        return out

    def fit(self, split: Split) -> "LinearProbe":
        from biotag.backbone import load_base_model

        # the run's precision and device ("auto" resolved where the model loads), as the Tag-LLM cells
        self.model, self.tokenizer = load_base_model(self.settings.model, dtype=self.settings.dtype,
                                                     device=self.settings.device)
        self.provenance["dtype"] = str(self.model.dtype).removeprefix("torch.")
        self.provenance["device"] = str(self.model.device)
        self.cache = FeatureCache(self.model)
        E_train = self.embed(standardized_text(split.X_train, self.task.domains))
        E_valid = self.embed(standardized_text(split.X_valid, self.task.domains))
        best = None
        for readout in self.readouts:
            score, est = self._fit_linear(self.features(E_train, readout), split.y_train,
                                          self.features(E_valid, readout), split.y_valid)
            if best is None or score < best[0]:
                best = (score, est, readout)
        _, self.estimator, self.readout = best
        self.provenance["readout"] = self.readout
        self.trainable_params = self.features(E_train, self.readout).shape[1] + 1
        return self

    def _fit_linear(self, F_train, y_train, F_valid, y_valid):
        """The best ridge / logistic regression over a grid of strengths, by validation loss: (loss, model)."""
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.metrics import log_loss, mean_squared_error
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        best = None
        for strength in 10.0 ** np.arange(-3, 5):
            if self.task.kind == "classification":
                est = make_pipeline(StandardScaler(), LogisticRegression(C=1 / strength, max_iter=2000))
                est.fit(F_train, y_train)
                score = log_loss(y_valid, est.predict_proba(F_valid)[:, 1], labels=[0, 1])
            else:
                est = make_pipeline(StandardScaler(), Ridge(alpha=strength))
                est.fit(F_train, y_train)
                score = mean_squared_error(y_valid, est.predict(F_valid))
            if best is None or score < best[0]:
                best = (score, est)
        return best

    def predict(self, X: list) -> np.ndarray:
        F = self.features(self.embed(standardized_text(X, self.task.domains)), self.readout)
        if self.task.kind == "classification":
            return self.estimator.predict_proba(F)[:, 1]
        return self.estimator.predict(F)


@register
class LinearProbePooled(LinearProbe):
    """``linear_probe`` that chooses its readout on validation, with the strength: the last token's state, the
    tokens' mean at a third, two thirds and the end of the model's depth, or both."""

    name = "linear_probe_pooled"
    readouts = ("last", "pool", "last+pool")


class PeftBaseline(BenchmarkModel):
    """A PEFT method on a sequence-classification view of the base model, with a one-output head."""

    group = "peft"
    # Batches grouped by length: every step runs the full model over the padded batch, and random batches of
    # SMILES are about half padding (``benchmarks/results/peft-batching/peft_batching.py`` measures the difference).
    group_by_length = True
    lr = 3e-3

    def peft_config(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _load(self):
        try:
            from peft import get_peft_model
        except ImportError as err:
            raise ImportError(f"{self.name} needs PEFT: pip install 'biotag[peft]'") from err
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from biotag.backbone.compat import dtype_kwargs
        from biotag.backbone.load import model_source
        from biotag.hardware import resolve_placement
        from biotag.model.prompt import pad_id

        source, _ = model_source(self.settings.model)
        tokenizer = AutoTokenizer.from_pretrained(source)
        torch.manual_seed(self.seed)  # the new head's and adapters' initial values
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1,
                                                                   **dtype_kwargs(torch.float32))
        model.config.pad_token_id = pad_id(tokenizer)
        # the run's device, resolved as the Tag-LLM cells' (PEFT trains the whole adapter stack in float32)
        device = resolve_placement(self.settings.device, "float32").device
        self.provenance["device"] = str(device)
        return get_peft_model(model, self.peft_config()).to(device), tokenizer

    def _logits(self, ids: list[list[int]]) -> torch.Tensor:
        from biotag.model.batching import left_pad
        from biotag.model.prompt import pad_id

        device = self.model.device
        input_ids, mask = left_pad(ids, pad_id(self.tokenizer))
        return self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits[:, 0].float()

    def _loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch

        if self.task.kind == "classification":
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        return torch.nn.functional.mse_loss(logits, target)

    def _tokens(self, X: list) -> list[list[int]]:
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"]
                for t in standardized_text(X, self.task.domains)]

    def fit(self, split: Split) -> "PeftBaseline":
        import torch

        from biotag.training import Schedule, optimize

        if self.settings.dtype not in ("float32", "auto"):
            raise ValueError(f"{self.name} runs in float32 only, not dtype={self.settings.dtype!r}")
        self.provenance["dtype"] = "float32"
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
        schedule = Schedule(epochs=self.settings.epochs, batch_size=self.settings.batch_size, lr=self.lr, patience=3,
                            seed=self.seed)

        def batch_loss(idx: np.ndarray) -> torch.Tensor:
            self.model.train()
            logits = self._logits([ids_train[i] for i in idx])
            return self._loss(logits, y_train[idx].to(logits.device))

        @torch.no_grad()
        def val_loss() -> float:
            self.model.eval()
            total = 0.0
            for start in range(0, len(ids_valid), 32):
                chunk = slice(start, start + 32)
                logits = self._logits(ids_valid[chunk])
                total += self._loss(logits, y_valid[chunk].to(logits.device)).item() * len(ids_valid[chunk])
            return total / max(len(ids_valid), 1)

        self.history = optimize(params, len(ids_train), batch_loss, schedule, val_loss=val_loss if ids_valid else None,
                                lengths=[len(r) for r in ids_train] if self.group_by_length else None,
                                progress=self.settings.verbose, desc=self.name)
        self.trainable_params = int(sum(p.numel() for p in params))
        return self

    def predict(self, X: list) -> np.ndarray:
        import torch

        self.model.eval()
        ids = self._tokens(X)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros(len(ids))
        for start in range(0, len(order), 32):
            idx = order[start : start + 32]
            with torch.no_grad():
                out[idx] = self._logits([ids[i] for i in idx]).cpu().numpy()
        if self.task.kind == "classification":
            return 1.0 / (1.0 + np.exp(-out))
        return out * self.std + self.mean


@register
class PromptTuning(PeftBaseline):
    """PEFT prompt tuning with ``prompt_tokens`` virtual tokens (20: as many as the paper's Tag-LLM tags,
    domain + function, 10 each)."""

    name = "prompt_tuning"
    lr = 3e-3  # the rate biotag's tags use

    def peft_config(self) -> Any:
        from peft import PromptTuningConfig, TaskType

        return PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=self.settings.prompt_tokens)


@register
class LoRA(PeftBaseline):
    """PEFT LoRA (r=8, alpha=16, dropout 0.05, PEFT's default target modules) with a regression head."""

    name = "lora"
    lr = 5e-4

    def peft_config(self) -> Any:
        from peft import LoraConfig, TaskType

        return LoraConfig(task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.05)
