"""Train the stage-1 domain tags biotag ships for its default model, and put them in the package.

    python scripts/pretrain_shipped_tags.py    # needs the offline data ($BIOTAG_DATA_DIR) and the bench extra

One epoch of next-token prediction for a 3-vector ``<SMILES>`` tag on every ADMET molecule in no test set of any
task (the benchmark's ``--corpus all``, 30,481 molecules), the frozen model in the precision ``dtype="auto"``
picks on this machine. It is the benchmark's own stage-1 call, so a benchmark run with ``--corpus all`` on the same
machine has already trained these tags (in biotag's cache) and this copies them. The files land in
``biotag/tags/pretrained/smollm2-135m-instruct/``: the library (safetensors + JSON) and ``corpus.json``, the corpus's
size, checksum and the training's loss. Training takes about 40 minutes on 2 CPU cores with AVX512-BF16.
"""

from __future__ import annotations

import argparse
import shutil

import torch

from biotag.benchmark.corpus import ensure_domain_tags
from biotag.benchmark.suite import stage1_folder
from biotag.tags.pretrained import SHIPPED
from biotag.utils import cpu_description, resolve_dtype

P = 3  # the estimators' default tag length


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="the offline data folder (default: $BIOTAG_DATA_DIR)")
    args = parser.parse_args()
    dtype = resolve_dtype("auto", torch.device("cpu"))
    folder = ensure_domain_tags(stage1_folder("smiles-all", dtype, P), {"smiles": None},  # the benchmark's own
                                path=args.data, dtype=dtype, p=P, isolate=True)
    SHIPPED.mkdir(parents=True, exist_ok=True)
    for name in ("library.json", "tags.safetensors", "corpus.json"):
        shutil.copyfile(folder / name, SHIPPED / name)
    print(f"{SHIPPED}: <SMILES> ({P} vectors) trained in {dtype} on {cpu_description()}")


if __name__ == "__main__":
    main()
