"""Hand-made features for the expert baselines: fingerprints, descriptors, sequence composition."""

from __future__ import annotations

from itertools import product
from typing import Sequence

import numpy as np

from biotag.exceptions import InputIssue, InvalidSmilesError

__all__ = ["molecules", "morgan_counts", "maplight_features", "protein_composition", "one_hot_aligned"]

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


def molecules(smiles: Sequence[str]) -> list:
    """RDKit molecules; an unparsable SMILES raises :class:`InvalidSmilesError` naming its row."""
    from rdkit import Chem

    from biotag.domains.smiles import quiet_rdkit  # RDKit loads with the first molecule, not with the registry

    out, issues = [], []
    with quiet_rdkit():
        for i, s in enumerate(smiles):
            mol = Chem.MolFromSmiles(s) if isinstance(s, str) and s else None
            if mol is None:
                issues.append(InputIssue(i, s, "RDKit could not parse it"))
            out.append(mol)
    if issues:
        raise InvalidSmilesError(issues)
    return out


def morgan_counts(smiles: Sequence[str], *, radius: int = 2, n_bits: int = 2048) -> np.ndarray:
    """Hashed Morgan (ECFP-like) count fingerprints, (N, n_bits) float32."""
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return np.stack([generator.GetCountFingerprintAsNumPy(m) for m in molecules(smiles)]).astype(np.float32)


def maplight_features(smiles: Sequence[str], exclude: Sequence[str] = ()) -> np.ndarray:
    """MapLight's feature set (Notwell & Wood, 2023): ECFP4 counts (1024), Avalon counts (1024), ErG (315)
    and RDKit 2D descriptors (all of RDKit's descriptor list but the names in ``exclude``); non-finite
    descriptors become NaN."""
    from rdkit import DataStructs
    from rdkit.Avalon import pyAvalonTools
    from rdkit.Chem import Descriptors, rdReducedGraphs

    from biotag.domains.smiles import quiet_rdkit

    _check_names(exclude, [name for name, _ in Descriptors._descList], "RDKit descriptor")  # before any work
    functions = [fn for name, fn in Descriptors._descList if name not in exclude]
    mols = molecules(smiles)
    ecfp = morgan_counts(smiles, radius=2, n_bits=1024)
    avalon = np.zeros((len(mols), 1024), dtype=np.float32)
    for i, mol in enumerate(mols):
        DataStructs.ConvertToNumpyArray(pyAvalonTools.GetAvalonCountFP(mol, nBits=1024), avalon[i])
    erg = np.stack([rdReducedGraphs.GetErGFingerprint(m) for m in mols]).astype(np.float32)
    with quiet_rdkit():
        desc = np.array([[fn(m) for fn in functions] for m in mols], dtype=np.float64).reshape(len(mols), -1)
    desc[~np.isfinite(desc)] = np.nan
    desc = np.clip(desc, -1e30, 1e30).astype(np.float32)  # Ipc overflows float32 otherwise
    return np.concatenate([ecfp, avalon, erg, desc], axis=1)


PROTPARAM = ("length", "molecular_weight", "isoelectric_point", "aromaticity", "instability_index", "gravy",
             "charge_at_pH7.4")


def protein_composition(sequences: Sequence[str], exclude: Sequence[str] = ()) -> np.ndarray:
    """Amino-acid (20) and dipeptide (400) composition plus Biopython's ProtParam summary (:data:`PROTPARAM`
    but the names in ``exclude``), (N, 427 - excluded)."""
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    _check_names(exclude, PROTPARAM, "ProtParam feature")
    keep = [name not in exclude for name in PROTPARAM]
    dipeptides = {"".join(p): i for i, p in enumerate(product(AMINO_ACIDS, repeat=2))}
    rows = []
    for seq in sequences:
        aac = np.array([seq.count(a) for a in AMINO_ACIDS], dtype=np.float64) / max(len(seq), 1)
        dpc = np.zeros(400)
        for j in range(len(seq) - 1):
            k = dipeptides.get(seq[j : j + 2])
            if k is not None:
                dpc[k] += 1
        dpc /= max(len(seq) - 1, 1)
        clean = "".join(c for c in seq if c in AMINO_ACIDS)
        analysis = ProteinAnalysis(clean)
        summary = [len(seq), analysis.molecular_weight(), analysis.isoelectric_point(), analysis.aromaticity(),
                   analysis.instability_index(), analysis.gravy(), analysis.charge_at_pH(7.4)]  # PROTPARAM order
        rows.append(np.concatenate([aac, dpc, [v for v, k in zip(summary, keep) if k]]))
    return np.asarray(rows, dtype=np.float32)


def _check_names(exclude: Sequence[str], known: Sequence[str], what: str) -> None:
    unknown = sorted(set(exclude) - set(known))
    if unknown:  # a misspelt exclusion would silently leave the label among the features
        raise ValueError(f"no {what} named {unknown}; known: {', '.join(known)}")


def one_hot_aligned(sequences: Sequence[str]) -> np.ndarray:
    """Position-wise one-hot of equal-length sequences (mutational scans), (N, L * 21)."""
    lengths = {len(s) for s in sequences}
    if len(lengths) != 1:
        raise ValueError(f"one_hot_aligned needs sequences of one length; got lengths {sorted(lengths)[:5]}...")
    alphabet = {a: i for i, a in enumerate(AMINO_ACIDS)}
    codes = np.array([[alphabet.get(c, 20) for c in s] for s in sequences])  # 20 = anything else
    out = np.zeros((len(sequences), codes.shape[1], 21), dtype=np.float32)
    np.put_along_axis(out, codes[..., None], 1.0, axis=2)
    return out.reshape(len(sequences), -1)
