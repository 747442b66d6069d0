import numpy as np
import pytest
import torch
from tiny import stage_setup

from biotag.training.knowledge import DESCRIPTORS, descriptor_targets, teach_domain_tag


def test_descriptors_are_computed_from_the_sequence_and_a_bad_row_is_named():
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    Y = descriptor_targets(["CCO", "c1ccccc1O"], "smiles")
    assert Y.shape == (2, len(DESCRIPTORS["smiles"]))
    column = list(DESCRIPTORS["smiles"]).index("MolWt")
    assert Y[1, column] == pytest.approx(Descriptors.MolWt(Chem.MolFromSmiles("c1ccccc1O")))
    assert Y[1, list(DESCRIPTORS["smiles"]).index("NumAromaticRings")] == 1
    assert descriptor_targets(["MKTAYIAKQR"], "protein")[0, 0] == 10  # the length comes first
    with pytest.raises(ValueError, match="row 1: 'C1CC' is not a valid smiles"):
        descriptor_targets(["CCO", "C1CC"], "smiles")
    with pytest.raises(ValueError, match="no descriptors for domain 'text'"):
        descriptor_targets(["a"], "text")
    # a task's own label is never a target: QED (a formula of several) and GRAVY (the Descriptor task)
    assert "qed" not in {d.lower() for d in DESCRIPTORS["smiles"]} and "gravy" not in DESCRIPTORS["protein"]


def test_the_knowledge_stage_trains_the_domain_tag_and_leaves_nothing_else_behind():
    tlm = stage_setup()
    smiles = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCC", "CCCl", "OCCO", "NCCN", "CC(C)O", "C1CCCCC1", "CCOC",
              "CC(C)(C)O", "OC(=O)CC(=O)O", "c1ccncc1", "CCS", "CCCCCCO"] * 4
    before = {name: t.detach().clone() for name, t in tlm.library.tags.items()}
    heads = set(tlm.library.heads)
    history = teach_domain_tag(tlm, smiles, "smiles", epochs=2, lr=1e-2, val_fraction=0.25, progress=False)
    assert history.start_val_loss is not None and len(history.val_loss) == 2
    assert set(tlm.library.tags) == set(before) and set(tlm.library.heads) == heads  # its own tag and head removed
    for name, tensor in before.items():  # only the domain tag can have moved, and only if an epoch beat the start
        moved = not torch.equal(tlm.library.tags[name].detach(), tensor)
        assert moved == (name == "<SMILES>" and bool(history.best_epoch)), name
    assert np.isfinite(history.train_loss).all()
