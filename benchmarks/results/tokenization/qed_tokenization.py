"""Pick the default tokenization of domain sequences by measurement.

Trains a <QED> function tag + regression head (stage 2, domain tag at the
paper's initialization) on SMILES from the offline TDC cache, labels from
RDKit's QED, once with the model's own tokenizer and once character by
character, and reports held-out R², tokens per molecule and throughput.

    python benchmarks/results/tokenization/qed_tokenization.py --n-train 300 --n-test 100 --epochs 4
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from rdkit.Chem import QED, MolFromSmiles
from sklearn.metrics import mean_absolute_error, r2_score

from biotag import SmilesFeaturizer, Template, load_base_model
from biotag.data import read_tdc_table
from biotag.heads import RegressionHead
from biotag.model import TaggedLM
from biotag.tags import TagLibrary, TagSpec
from biotag.training import Example, stage2, train_stage

SOURCES = ["Caco2_Wang", "HIA_Hou", "BBB_Martins", "Lipophilicity_AstraZeneca"]


def qed_data(n_train: int, n_test: int, seed: int) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    smiles = sorted({s for name in SOURCES for s in read_tdc_table(name)["Drug"]})
    canon = SmilesFeaturizer(errors="nan").transform(smiles)
    valid = sorted({c for c in canon if isinstance(c, str)})
    print(f"{len(smiles)} source SMILES, {len(valid)} valid unique after canonicalization")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(valid), size=n_train + n_test, replace=False)
    chosen = [valid[i] for i in pick]
    y = np.array([QED.qed(MolFromSmiles(s)) for s in chosen])
    return chosen[:n_train], y[:n_train], chosen[n_train:], y[n_train:]


def run(tokenization: str, model, tok, data, args) -> dict:
    x_tr, y_tr, x_te, y_te = data
    lib = TagLibrary.for_model(model)
    lib.ensure_tag(TagSpec("<SMILES>", "domain", p=args.p), model)
    lib.ensure_tag(TagSpec("<QED>", "function", p=args.p), model)
    lib.add_head("<QED>", RegressionHead(lib.hidden_size))
    tlm = TaggedLM(model, tok, lib, tokenization=tokenization)
    tpl = Template("smiles", function_tag="<QED>")
    enc = tlm.encoder()
    n_tokens = np.mean([len(enc.encode_row(tpl.build(s))[0]) - 2 * args.p for s in x_tr])
    train = [Example(tpl.build(s), float(v)) for s, v in zip(x_tr, y_tr)]
    spec = stage2("<QED>", "<SMILES>", epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    start = time.perf_counter()
    train_stage(tlm, spec, train, progress=True)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = tlm.predict([tpl.build(s) for s in x_te], "<QED>").numpy().ravel()
    predict_s = time.perf_counter() - start
    return {
        "tokenization": tokenization,
        "tokens_per_molecule": round(float(n_tokens), 1),
        "test_r2": round(float(r2_score(y_te, pred)), 4),
        "test_mae": round(float(mean_absolute_error(y_te, pred)), 4),
        "mean_baseline_mae": round(float(mean_absolute_error(y_te, np.full_like(y_te, y_tr.mean()))), 4),
        "train_s": round(train_s, 1),
        "train_samples_per_s": round(len(train) * args.epochs / train_s, 2),
        "predict_samples_per_s": round(len(x_te) / predict_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--p", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizations", default="model,char")
    parser.add_argument("--out", default=None, help="write results as JSON here")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    model, tok = load_base_model()
    print(f"base model loaded in {time.perf_counter() - start:.1f} s, {torch.get_num_threads()} threads")
    data = qed_data(args.n_train, args.n_test, args.seed)
    rows = [run(t, model, tok, data, args) for t in args.tokenizations.split(",")]
    for row in rows:
        print(json.dumps(row))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"args": vars(args), "results": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
