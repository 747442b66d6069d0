"""A small end-to-end Tag-LLM run on the default model (``biotag demo``, ``bash scripts/run.sh demo``).

Caco2 permeability from the TDC ADMET group (the offline, reconstructed split):
validate and canonicalize SMILES, train a ``<Caco2>`` function tag and a
regression head on the frozen SmolLM2-135M through ``TagLLMRegressor`` in a
scikit-learn pipeline, and score the held-out test set against predicting the
training mean. Takes about 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline

from biotag.data import data_dir
from biotag.domains import SmilesFeaturizer
from biotag.estimators import TagLLMRegressor
from biotag.exceptions import InvalidSmilesError

__all__ = ["run_demo"]


def _load_split(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = root / "tdc" / "admet_group" / "caco2_wang"
    if not folder.is_dir():
        raise FileNotFoundError(f"Caco2 benchmark folder not found at {folder}")
    return pd.read_csv(folder / "train_val.csv"), pd.read_csv(folder / "test.csv")


def run_demo(
    *, n_train: int | None = None, epochs: int = 6, out: str = "biotag-demo", data: str | None = None, seed: int = 0
) -> int:
    """Run the demo and print what happens; returns 0 (a process exit status)."""
    t0 = time.perf_counter()
    train, test = _load_split(data_dir(data))
    print(f"Caco2_Wang (TDC ADMET group, reconstructed split): {len(train)} train_val, {len(test)} test molecules")
    if n_train is not None and n_train < len(train):
        train = train.sample(n=n_train, random_state=seed)
        print(f"using a random subset of {n_train} training molecules")

    try:
        SmilesFeaturizer().transform(["CCO", "C1CC(", "c1ccccc1", "CC(=O)[O-].[Na+]"])
    except InvalidSmilesError as exc:
        print(f"invalid input is reported with its row, never dropped:\n  {exc}")
    print("salts are stripped and charges neutralized:",
          SmilesFeaturizer().transform(["CC(=O)[O-].[Na+]"])[0])

    regressor = TagLLMRegressor(function_tag="<Caco2>", epochs=epochs, random_state=seed)
    model = make_pipeline(SmilesFeaturizer(), regressor)
    t = time.perf_counter()
    model.fit(train["Drug"], train["Y"])
    fit_s = time.perf_counter() - t
    print(f"trained {regressor.n_trainable_params_:,} parameters (<Caco2> tag, {regressor.p} x "
          f"{regressor.library_.hidden_size}, and a linear head) on the frozen SmolLM2-135M in {fit_s:.0f} s")
    for rec in regressor.history_.epochs:
        print(f"  epoch {rec['epoch']}: train loss {rec['train_loss']:.3f}  validation loss {rec['val_loss']:.3f}"
              + ("  <- kept" if rec["epoch"] == regressor.history_.best_epoch else ""))
    if regressor.history_.best_epoch == 0:
        print(f"  no epoch beat the head's start (validation loss {regressor.history_.start_val_loss:.3f}), so the "
              "start was kept")

    pred = model.predict(test["Drug"])
    y = test["Y"].to_numpy(dtype=float)
    mae = float(np.mean(np.abs(pred - y)))
    mean_mae = float(np.mean(np.abs(train["Y"].mean() - y)))
    print(f"held-out test MAE: Tag-LLM {mae:.3f}  vs  predicting the training mean {mean_mae:.3f}  "
          f"({len(y)} test molecules, reconstructed split; the TDC leaderboard's best is 0.276)")
    saved = regressor.save(out)
    size = sum(f.stat().st_size for f in saved.iterdir())
    print(f"saved tags + head + scaler ({size / 1024:.0f} KiB of safetensors + JSON) to {saved}/; "
          f"total {time.perf_counter() - t0:.0f} s")
    return 0
