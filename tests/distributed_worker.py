"""One data-parallel job on a tiny model, for tests/test_distributed.py: run alone (``python``) or under ``torchrun``.

``python distributed_worker.py MODEL_DIR OUT_DIR CASE [crash]`` fits an estimator on a toy task, predicts an odd number
of rows and (on the main process) writes the fitted tags and the predictions to OUT_DIR. With ``crash``, the second
process raises during its third training step.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import torch

from biotag import TagLLMClassifier, TagLLMRegressor
from biotag.parallel import current, is_main_process

CASES = {
    # the frozen-prefix path, with the head reading pooled segments and starting at the probe
    "prefix": dict(readout="tag+pool", head_init="random"),
    # the head starts at the linear probe of the gathered readouts
    "probe": dict(head_init="probe"),
    # the plain path: the domain tag trains too (enrichment), so nothing is cached
    "enrich": dict(enrich=True, head_init="random"),
    "classify": dict(head_init="probe"),
    # the head refitted in closed form after each epoch, the tag trained against the batch-left-out ridge fit
    "refit": dict(head_init="probe", head_fit="refit"),
}


def toy(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = random.Random(seed)
    smiles = ["".join(rng.choice(["C", "N", "O", "CC", "c1ccccc1"]) for _ in range(rng.randint(2, 6)))
              for _ in range(n)]
    return smiles, np.array([s.count("C") + 0.5 * s.count("N") for s in smiles])


def main(model: str, out: str, case: str, crash: bool = False) -> None:
    torch.set_num_threads(1)
    X, y = toy(45, seed=0)  # 45 rows: 36 train + 9 validation, neither a multiple of 2
    X_new, _ = toy(23, seed=1)
    params = dict(model=model, p=2, epochs=3, lr=2e-2, batch_size=8, random_state=0, verbose=0,
                  validation_fraction=0.2, dtype="float32", **CASES[case])
    if case == "classify":
        est = TagLLMClassifier(**params)
        y = (y > np.median(y)).astype(int)
    else:
        est = TagLLMRegressor(**params)
    if crash:
        import biotag.training.loop as loop

        real, calls = loop.loss_and_units, {"n": 0}

        def failing(*args, **kwargs):
            calls["n"] += 1
            if current() is not None and current().rank == 1 and calls["n"] == 3:
                raise RuntimeError("simulated failure on process 1")
            return real(*args, **kwargs)

        loop.loss_and_units = failing
    est.fit(X, y)
    pred = est.predict_proba(X_new) if case == "classify" else est.predict(X_new)
    est.save(Path(out) / "estimator")
    if is_main_process():
        parallel = current()
        np.save(Path(out) / "predictions.npy", np.asarray(pred))
        (Path(out) / "run.json").write_text(json.dumps({
            "world": 1 if parallel is None else parallel.world,
            "history": est.history_.epochs, "best_epoch": est.history_.best_epoch, "steps": est.history_.steps}))


if __name__ == "__main__":
    main(*sys.argv[1:4], crash=sys.argv[4:] == ["crash"])
