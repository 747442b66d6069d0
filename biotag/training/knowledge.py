"""A domain tag taught what a chemist computes from the sequence itself: the paper's "domain knowledge" stage.

Stage 1 teaches a domain tag to predict the next token. This stage teaches it to make the frozen model's pooled
states of each sequence predict descriptors computed from the sequence alone: for molecules, RDKit's (weight, logP,
polar surface, hydrogen-bond donors and acceptors, rotatable bonds, rings, aromatic rings, sp3 share, heavy atoms,
heteroatoms, formal charge); for proteins, Biopython's ProtParam (length, weight, isoelectric point, aromaticity,
instability, charge at pH 7, secondary-structure shares). A linear head on the pooled states trains beside the tag
and is dropped at the end: what is kept is a domain tag under which a linear readout of the input's states already
knows these quantities. A task whose label is one of them (QED is a formula of several, the Descriptor task is
GRAVY) never appears among the targets: GRAVY is not one, and neither is QED.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from biotag.config import Stage1Config
from biotag.domains.tagging import DOMAIN_TAGS, Template
from biotag.heads import RegressionHead
from biotag.heads.readout import Readout
from biotag.model import TaggedLM
from biotag.tags import TagSpec
from biotag.training.loop import Example, train_stage
from biotag.training.optimize import History
from biotag.training.stages import StageSpec

__all__ = ["DESCRIPTORS", "descriptor_targets", "teach_domain_tag"]

#: The head the stage trains beside the tag, and the function tag that closes each input; both removed at the end.
KNOWLEDGE_TAG = "<Descriptors>"


def _smiles_descriptors() -> dict[str, Callable]:
    from rdkit import Chem
    from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

    return {
        "MolWt": Descriptors.MolWt, "MolLogP": Crippen.MolLogP, "TPSA": rdMolDescriptors.CalcTPSA,
        "NumHDonors": Lipinski.NumHDonors, "NumHAcceptors": Lipinski.NumHAcceptors,
        "NumRotatableBonds": Lipinski.NumRotatableBonds, "RingCount": rdMolDescriptors.CalcNumRings,
        "NumAromaticRings": rdMolDescriptors.CalcNumAromaticRings, "FractionCSP3": rdMolDescriptors.CalcFractionCSP3,
        "HeavyAtomCount": Lipinski.HeavyAtomCount, "NumHeteroatoms": rdMolDescriptors.CalcNumHeteroatoms,
        "FormalCharge": Chem.GetFormalCharge,
    }


def _protein_descriptors() -> dict[str, Callable]:
    return {
        "length": lambda a: float(a.length), "molecular_weight": lambda a: a.molecular_weight(),
        "isoelectric_point": lambda a: a.isoelectric_point(), "aromaticity": lambda a: a.aromaticity(),
        "instability_index": lambda a: a.instability_index(), "charge_at_pH7": lambda a: a.charge_at_pH(7.0),
        "helix": lambda a: a.secondary_structure_fraction()[0], "turn": lambda a: a.secondary_structure_fraction()[1],
        "sheet": lambda a: a.secondary_structure_fraction()[2],
    }


#: The descriptors each domain's tag is taught, by name (computed from the sequence alone).
DESCRIPTORS = {"smiles": tuple(_smiles_descriptors()), "protein": tuple(_protein_descriptors())}


def descriptor_targets(sequences: Sequence[str], domain: str) -> np.ndarray:
    """The :data:`DESCRIPTORS` of ``domain`` for each of ``sequences`` (validated, canonical): (N, k) float64.
    A sequence whose descriptor cannot be computed is an error naming its row."""
    if domain not in DESCRIPTORS:
        raise ValueError(f"no descriptors for domain {domain!r}; domains: {', '.join(DESCRIPTORS)}")
    if domain == "smiles":
        from rdkit import Chem

        functions, parse = _smiles_descriptors(), Chem.MolFromSmiles
    else:
        from Bio.SeqUtils.ProtParam import ProteinAnalysis

        functions, parse = _protein_descriptors(), lambda s: ProteinAnalysis(s.replace("X", ""))
    out = np.empty((len(sequences), len(functions)))
    for i, sequence in enumerate(sequences):
        parsed = parse(sequence)
        if parsed is None:
            raise ValueError(f"row {i}: {sequence!r} is not a valid {domain} sequence")
        out[i] = [float(f(parsed)) for f in functions.values()]
    if not np.isfinite(out).all():
        row = int(np.argwhere(~np.isfinite(out))[0, 0])
        raise ValueError(f"row {row}: a descriptor of {sequences[row]!r} is not finite")
    return out


def teach_domain_tag(
    tlm: TaggedLM,
    sequences: Sequence[str],
    domain: str,
    *,
    tag: str | None = None,
    epochs: int = 1,
    lr: float = 1e-3,
    head_lr: float = 1e-4,
    batch_size: int = 8,
    val_fraction: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train ``tag`` (default: the domain's tag, created if the library lacks it) in ``tlm.library`` so that a
    linear head on the pooled states of each of ``sequences`` (validated, canonical) predicts their
    :data:`DESCRIPTORS`; the head starts at the ridge fit on the untrained states and trains at ``head_lr``. A
    ``val_fraction`` of the sequences, drawn with ``seed``, is held out for the validation loss and early stopping
    (the best epoch's tag is kept). The library is changed in place: the tag trained, nothing else added."""
    if not sequences:
        raise ValueError("the knowledge stage needs at least one sequence")
    tag = tag or DOMAIN_TAGS[domain]
    library = tlm.library
    library.ensure_tag(TagSpec(tag, "domain", p=library.specs[tag].p if tag in library.specs else Stage1Config.p),
                       tlm.model)
    if KNOWLEDGE_TAG in library.specs:
        raise ValueError(f"the library already has a {KNOWLEDGE_TAG} tag; the knowledge stage adds and removes its own")
    targets = descriptor_targets(sequences, domain)
    library.ensure_tag(TagSpec(KNOWLEDGE_TAG, "function", p=1), tlm.model)
    readout = Readout.named("pool", n_layers=tlm.model.config.num_hidden_layers, segments=1)
    library.add_head(KNOWLEDGE_TAG, RegressionHead.for_targets(library.hidden_size, torch.as_tensor(targets), readout).to(
        library.tags[tag].device))
    template = Template((domain,), function_tag=KNOWLEDGE_TAG, domain_tags=(tag,))
    examples = [Example(template.build(s), row) for s, row in zip(sequences, targets)]
    order = np.random.default_rng(seed).permutation(len(examples))
    n_val = int(round(len(examples) * val_fraction))
    spec = StageSpec(name="knowledge", train_tags=(tag,), frozen_tags=(KNOWLEDGE_TAG,), head=KNOWLEDGE_TAG,
                     loss="regression", reuse_prefix=False, head_init="probe", epochs=epochs, lr=lr, head_lr=head_lr,
                     batch_size=batch_size, seed=seed)
    try:
        return train_stage(tlm, spec, [examples[i] for i in order[n_val:]],
                           [examples[i] for i in order[:n_val]] or None, progress=progress)
    finally:
        library.remove(KNOWLEDGE_TAG)
