"""biotag's command line: a thin layer over the public API (the library never imports it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import pandas as pd

EXIT_OK, EXIT_INVALID_ROWS, EXIT_USAGE = 0, 1, 2


def _read_table(path: Path, column: str | None) -> tuple[pd.DataFrame, str]:
    sep = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    if column is None:
        if frame.shape[1] != 1:
            raise SystemExit(f"error: {path} has columns {list(frame.columns)}; choose one with --column")
        column = str(frame.columns[0])
    if column not in frame.columns:
        raise SystemExit(f"error: column {column!r} not in {path}; columns are {list(frame.columns)}")
    return frame, column


def _is_fasta(path: Path) -> bool:
    if path.suffix.lower() in {".fasta", ".fa", ".faa", ".fas"}:
        return True
    with path.open() as handle:
        return handle.read(1) == ">"


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate and canonicalize a CSV column or a FASTA file; exit 1 if any row is invalid."""
    from biotag.domains import ProteinFeaturizer, SmilesFeaturizer, read_fasta
    from biotag.exceptions import InvalidInputError

    path = Path(args.input)
    if not path.is_file():
        raise SystemExit(f"error: input file not found: {str(path)!r}")
    if args.domain == "smiles":
        featurizer = SmilesFeaturizer(max_length=args.max_length)
    else:
        featurizer = ProteinFeaturizer(nonstandard=args.nonstandard, max_length=args.max_length)

    if _is_fasta(path):
        records = read_fasta(path)
        frame = pd.DataFrame(records, columns=["id", "sequence"])
        column = "sequence"
    else:
        frame, column = _read_table(path, args.column)
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
    return EXIT_INVALID_ROWS if reasons else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="biotag", description="Tag-LLM for chemistry and biology.")
    sub = parser.add_subparsers(dest="command", required=True)

    val = sub.add_parser("validate", help="validate and canonicalize a CSV/TSV column or a FASTA file")
    val.add_argument("input", help="CSV/TSV file (choose the column with --column) or FASTA file")
    val.add_argument("--domain", choices=["smiles", "protein"], required=True)
    val.add_argument("--column", help="column holding the SMILES/sequences (CSV input)")
    val.add_argument("--out", help="output CSV (default: INPUT.canonical.csv)")
    val.add_argument("--report", help="invalid-row report CSV (default: INPUT.invalid.csv)")
    val.add_argument("--max-length", type=int, default=None, help="reject longer values")
    val.add_argument("--nonstandard", choices=["raise", "keep", "x"], default="raise",
                     help="protein: ambiguous/rare residues B, Z, J, X, U, O")
    val.set_defaults(func=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
