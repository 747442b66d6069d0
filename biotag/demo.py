"""A small end-to-end Tag-LLM run on the default model, for the README's first command.

Caco2 permeability from the TDC ADMET group (the offline, reconstructed split):
validate and canonicalize SMILES, train a ``<Caco2>`` function tag and a
regression head on the frozen SmolLM2-135M, and score the held-out test set
against predicting the training mean.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from biotag.data import data_dir
from biotag.domains import SmilesFeaturizer, Template
from biotag.exceptions import InvalidSmilesError
from biotag.tags import RegressionHead, TaggedLM, TagLibrary, TagSpec, load_base_model
from biotag.training import Example, stage2, train_stage

__all__ = ["run_demo"]


def _load_split(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = root / "tdc" / "admet_group" / "caco2_wang"
    if not folder.is_dir():
        raise FileNotFoundError(f"Caco2 benchmark folder not found at {folder}")
    return pd.read_csv(folder / "train_val.csv"), pd.read_csv(folder / "test.csv")


def run_demo(
    *, n_train: int = 200, epochs: int = 3, out: str = "biotag-demo", data: str | None = None, seed: int = 0
) -> int:
    """Run the demo and print what happens; returns 0 (a process exit status)."""
    t0 = time.perf_counter()
    train_val, test = _load_split(data_dir(data))
    print(f"Caco2_Wang (TDC ADMET group, reconstructed split): {len(train_val)} train_val, {len(test)} test")

    featurizer = SmilesFeaturizer()
    try:
        featurizer.transform(["CCO", "C1CC(", "c1ccccc1"])
    except InvalidSmilesError as exc:
        print(f"invalid input is reported, never dropped:\n  {exc}")
    train_smiles = featurizer.transform(train_val["Drug"])  # raises, naming rows, if any is bad
    test_smiles = featurizer.transform(test["Drug"])
    print(f"canonicalized {len(train_smiles) + len(test_smiles)} SMILES, all valid")

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train_val))
    n_val = max(20, n_train // 5)
    tr, va = order[:n_train], order[n_train : n_train + n_val]
    y = train_val["Y"].to_numpy(dtype=float)

    t = time.perf_counter()
    model, tokenizer = load_base_model()
    print(f"default model loaded in {time.perf_counter() - t:.1f} s: {type(model).__name__}, "
          f"hidden size {model.config.hidden_size}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M "
          "frozen parameters")
    library = TagLibrary.for_model(model)
    library.ensure_tag(TagSpec("<SMILES>", "domain"), model)
    library.ensure_tag(TagSpec("<Caco2>", "function"), model)
    library.add_head("<Caco2>", RegressionHead(library.hidden_size))
    tlm = TaggedLM(model, tokenizer, library)
    template = Template("smiles", function_tag="<Caco2>")
    print(f"input format: {template.build(train_smiles.iloc[0])}")

    train = [Example(template.build(train_smiles.iloc[i]), y[i]) for i in tr]
    val = [Example(template.build(train_smiles.iloc[i]), y[i]) for i in va]
    spec = stage2("<Caco2>", "<SMILES>", epochs=epochs, lr=3e-3, batch_size=16, seed=seed)
    n_params = library.n_parameters(["<Caco2>"])
    print(f"training <Caco2> + head ({n_params:,} parameters) on {len(train)} molecules, "
          f"{len(val)} for validation, {epochs} epochs")
    t = time.perf_counter()
    history = train_stage(tlm, spec, train, val)
    print(f"trained in {time.perf_counter() - t:.0f} s; epoch losses (standardized units):")
    for rec in history.epochs:
        print(f"  epoch {rec['epoch']}: train {rec['train_loss']:.3f}  val {rec['val_loss']:.3f}")

    pred = tlm.predict([template.build(s) for s in test_smiles], "<Caco2>").numpy().ravel()
    y_test = test["Y"].to_numpy(dtype=float)
    mae = float(np.mean(np.abs(pred - y_test)))
    mean_mae = float(np.mean(np.abs(y[tr].mean() - y_test)))
    print(f"held-out test MAE: Tag-LLM {mae:.3f}  vs  predicting the training mean {mean_mae:.3f} "
          f"({len(y_test)} test molecules; the TDC leaderboard's best is 0.276 with all 728 training molecules)")
    saved = library.save(out)
    print(f"tag library (tags + head only, {sum(f.stat().st_size for f in saved.iterdir()) / 1024:.0f} KiB) "
          f"saved to {saved}; total {time.perf_counter() - t0:.0f} s")
    return 0
