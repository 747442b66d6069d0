"""The domain tags biotag ships: package data in the library format, with the record of how they were trained."""

import json

from biotag.tags.pretrained import PRETRAINED, SHIPPED, pretrained_library


def test_the_shipped_library_is_the_default_models_and_says_how_it_was_trained():
    assert pretrained_library(None) == SHIPPED and pretrained_library("gpt2") is None and PRETRAINED == "pretrained"
    library = json.loads((SHIPPED / "library.json").read_text())
    assert [(t["name"], t["kind"], t["p"]) for t in library["tags"]] == [("<SMILES>", "domain", 3),
                                                                          ("<Protein>", "domain", 3)]
    record = json.loads((SHIPPED / "corpus.json").read_text())
    assert record["dtype"] == "bfloat16" and record["p"] == 3 and record["epochs"] == 1
    sizes = {domain: corpus["n"] for domain, corpus in record["corpora"].items()}
    assert sizes == {"smiles": 30481, "protein": 4678}
    for corpus in record["corpora"].values():
        assert len(corpus["sha256"]) == 64 and corpus["history"][0]["val_loss"] > 0
    assert (SHIPPED / "tags.safetensors").stat().st_size < 64 * 1024  # tens of KB at most
