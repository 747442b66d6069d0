"""Teach the shipped ``<SMILES>`` tag RDKit descriptors (biotag's knowledge stage) and save the library.

    python benchmarks/results/knowledge-stage/knowledge_stage.py --n 6000 --out /tmp/knowledge-tags

The molecules are the stage-1 corpus (every ADMET molecule in no test set of any task), ``--n`` of them drawn with
seed 0; the frozen model runs in the precision ``dtype="auto"`` picks. The library written keeps the shipped
``<Protein>`` tag as it is. ``knowledge.json`` beside it records the corpus, the settings, the losses and the CPU.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from biotag.backbone import load_base_model
from biotag.benchmark.corpus import smiles_corpus
from biotag.hardware import cpu_description
from biotag.model import TaggedLM
from biotag.tags import TagLibrary
from biotag.tags.pretrained import pretrained_library
from biotag.training.knowledge import DESCRIPTORS, teach_domain_tag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=6000, help="molecules to teach on (default 6000)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--head-lr", type=float, default=1e-4)
    parser.add_argument("--data", default=None, help="the offline data folder (default: $BIOTAG_DATA_DIR)")
    parser.add_argument("--out", required=True, help="where the library is written")
    args = parser.parse_args()
    model, tokenizer = load_base_model(None)
    library = TagLibrary.load(pretrained_library(None), model)
    tlm = TaggedLM(model, tokenizer, library)
    smiles, corpus = smiles_corpus(args.n, seed=0, path=args.data)
    start = time.perf_counter()
    history = teach_domain_tag(tlm, smiles, "smiles", epochs=args.epochs, lr=args.lr, head_lr=args.head_lr)
    seconds = time.perf_counter() - start
    out = library.save(args.out)
    record = {"corpus": corpus, "n": len(smiles), "descriptors": list(DESCRIPTORS["smiles"]), "epochs": args.epochs,
              "lr": args.lr, "head_lr": args.head_lr, "dtype": str(model.dtype).removeprefix("torch."),
              "cpu": cpu_description(), "seconds": round(seconds, 1), "start_val_loss": history.start_val_loss,
              "val_loss": history.val_loss, "train_loss": history.train_loss, "best_epoch": history.best_epoch}
    (Path(out) / "knowledge.json").write_text(json.dumps(record, indent=2))
    # stage 1's record as shipped (what the benchmark reads of a library), this stage's beside it
    shipped = json.loads((pretrained_library(None) / "corpus.json").read_text())
    (Path(out) / "corpus.json").write_text(json.dumps({**shipped, "knowledge": record}, indent=2))
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
