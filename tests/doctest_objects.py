"""A pytest plugin (``-p doctest_objects`` in pyproject.toml): the objects biotag's docstring examples use.

Examples run on the tiny LM built from a config, so they take milliseconds and download nothing.
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def doctest_objects(doctest_namespace, tmp_path_factory):
    from tiny import SMILES, count_examples, make_tiny_lm, stage_setup

    model, tokenizer = make_tiny_lm()
    folder = tmp_path_factory.mktemp("tiny-model")  # a model directory, loadable by path like any model
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    doctest_namespace.update(
        tlm=stage_setup(), train=count_examples(32), model=model, tokenizer=tokenizer, tiny_model=str(folder),
        smiles=SMILES * 4, values=[float(len(s)) for s in SMILES] * 4, labels=[len(s) > 3 for s in SMILES] * 4,
    )
