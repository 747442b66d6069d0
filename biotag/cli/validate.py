"""`biotag validate`: validate and canonicalize a CSV/TSV column or a FASTA file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from biotag.cli.exit_codes import EXIT_OK, EXIT_SOME_FAILED
from biotag.cli.inputs import is_fasta, read_table


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate and canonicalize a CSV column or a FASTA file; exit 1 if any row is invalid."""
    from biotag.domains import ProteinFeaturizer, SmilesFeaturizer, read_fasta
    from biotag.exceptions import InvalidInputError

    path = Path(args.input)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {str(path)!r}")
    if args.domain == "smiles":
        featurizer = SmilesFeaturizer(max_length=args.max_length, wildcards=args.wildcards)
    else:
        featurizer = ProteinFeaturizer(nonstandard=args.nonstandard, max_length=args.max_length)

    if is_fasta(path):
        records = read_fasta(path)
        frame = pd.DataFrame(records, columns=["id", "sequence"])
        column = "sequence"
    else:
        frame, column = read_table(path, args.column)
    values = frame[column].tolist()
    reasons: dict[int, str] = {}
    try:
        canonical = featurizer.set_params(errors="raise").transform(values)
    except InvalidInputError as exc:
        reasons = {issue.index: issue.reason for issue in exc.issues}
        canonical = featurizer.set_params(errors="nan").transform(values)

    out_col = f"{column}_canonical"
    frame[out_col] = canonical
    out = Path(args.out) if args.out else path.with_name(path.stem + ".canonical.csv")
    frame.to_csv(out, index=False)
    report = Path(args.report) if args.report else path.with_name(path.stem + ".invalid.csv")
    pd.DataFrame(
        {"row": list(reasons), "value": [values[i] for i in reasons], "reason": list(reasons.values())}
    ).to_csv(report, index=False)
    print(f"{len(values)} rows, {len(values) - len(reasons)} valid, {len(reasons)} invalid")
    print(f"canonical column {out_col!r} written to {out}")
    print(f"invalid-row report written to {report}")
    for i, reason in list(reasons.items())[:10]:
        print(f"  row {i}: {values[i]!r}: {reason}")
    return EXIT_SOME_FAILED if reasons else EXIT_OK


def add_validate_command(sub) -> None:
    val = sub.add_parser("validate", help="validate and canonicalize a CSV/TSV column or a FASTA file")
    val.add_argument("input", help="CSV/TSV file (choose the column with --column) or FASTA file")
    val.add_argument("--domain", choices=["smiles", "protein"], required=True)
    val.add_argument("--column", help="column holding the SMILES/sequences (CSV input)")
    val.add_argument("--out", help="output CSV (default: INPUT.canonical.csv)")
    val.add_argument("--report", help="invalid-row report CSV (default: INPUT.invalid.csv)")
    val.add_argument("--max-length", type=int, default=None, help="reject longer values")
    val.add_argument("--wildcards", action="store_true", help="smiles: accept '*' atoms (polymer ends, R groups)")
    val.add_argument("--nonstandard", choices=["raise", "keep", "x"], default="raise",
                     help="protein: ambiguous/rare residues B, Z, J, X, U, O")
    val.set_defaults(func=cmd_validate)
