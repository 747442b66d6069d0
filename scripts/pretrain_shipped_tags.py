"""Train the stage-1 domain tags biotag ships for its default model, and put them in the package.

    python scripts/pretrain_shipped_tags.py    # needs the offline data ($BIOTAG_DATA_DIR) and the bench extra

One epoch of next-token prediction for each 3-vector domain tag, the frozen model in the precision ``dtype="auto"``
picks on this machine: ``<SMILES>`` on every ADMET molecule in no test set of any task (30,481 molecules),
``<Protein>`` on every beta-lactamase train/valid sequence in no test set of any task (4,678 sequences). Each is the
benchmark's own stage-1 call (``--corpus all`` on a molecule task and on a protein task), so a benchmark run like
that on the same machine has already trained it (in biotag's cache) and this copies it. The two libraries become
one in ``biotag/tags/pretrained/smollm2-135m-instruct/``: ``library.json`` + ``tags.safetensors``, and
``corpus.json``, each corpus's size, checksum and the training's loss. Training takes about 70 minutes for
``<SMILES>`` and 25 for ``<Protein>`` on 2 CPU cores with AVX512-BF16.
"""

from __future__ import annotations

import argparse
import json
import shutil

import torch

from biotag.benchmark.corpus import ensure_domain_tags
from biotag.benchmark.suite import stage1_folder
from biotag.tags import TagLibrary
from biotag.tags.pretrained import SHIPPED
from biotag.hardware import cpu_description, resolve_placement

P = 3  # the estimators' default tag length
DOMAINS = ("smiles", "protein")  # one library each, as the benchmark trains them


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="the offline data folder (default: $BIOTAG_DATA_DIR)")
    args = parser.parse_args()
    dtype = resolve_placement(torch.device("cpu"), "auto").dtype
    folders = [ensure_domain_tags(stage1_folder(f"{domain}-all", dtype, P), {domain: None}, path=args.data,
                                  dtype=dtype, p=P, isolate=True) for domain in DOMAINS]
    library = TagLibrary.load(folders[0])
    records = [json.loads((folder / "corpus.json").read_text()) for folder in folders]
    for folder, record in zip(folders[1:], records[1:]):
        library.merge(TagLibrary.load(folder))
        shared = {k: v for k, v in record.items() if k != "corpora"}
        if shared != {k: v for k, v in records[0].items() if k != "corpora"}:
            raise RuntimeError(f"{folder} was trained with other settings than {folders[0]}: {shared}")
        records[0]["corpora"].update(record["corpora"])
    if SHIPPED.exists():
        shutil.rmtree(SHIPPED)
    library.save(SHIPPED)
    (SHIPPED / "corpus.json").write_text(json.dumps(records[0], indent=2))
    print(f"{SHIPPED}: {', '.join(library.specs)} ({P} vectors each) trained in {dtype} on {cpu_description()}")


if __name__ == "__main__":
    main()
