"""What the command line reads: tables and sequence files, checked before use, and its option values."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

__all__ = ["read_table", "check_rectangular", "read_sequences", "is_fasta", "threads", "seeds", "corpus_size",
           "devices"]


def read_table(path: Path, column: str | None) -> tuple[pd.DataFrame, str]:
    sep = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
    check_rectangular(path, sep)
    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], index_col=False)
    if column is None:
        if frame.shape[1] != 1:
            raise ValueError(f"{path} has columns {list(frame.columns)}; choose one with --column")
        column = str(frame.columns[0])
    if column not in frame.columns:
        raise ValueError(f"column {column!r} not in {path}; columns are {list(frame.columns)}")
    return frame, column


def check_rectangular(path: Path, sep: str) -> None:
    """A table whose rows have as many fields as its header, or a ValueError naming the lines that do not (an
    unquoted comma in a name would shift every later field of its row into the next column)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle, delimiter=sep))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not a UTF-8 text table ({err.reason} at byte {err.start})") from None
    if not rows or not any(field.strip() for field in rows[0]):
        raise ValueError(f"{path} is empty: no header line")
    width = len(rows[0])
    ragged = [n for n, row in enumerate(rows[1:], start=2) if row and len(row) != width]
    if ragged:
        shown = ", ".join(f"line {n} ({len(rows[n - 1])} fields)" for n in ragged[:10])
        raise ValueError(f"{path}: the header has {width} field(s) but {shown}" + (" and more" if len(ragged) > 10
                         else "") + "; quote fields that contain the separator")


def threads(text: str) -> int:
    """An --n-jobs value: a number of threads, or -1 for every core."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of threads (1 or more) or -1 for every core")
    return value


def seeds(text: str) -> list[int]:
    """A --seeds value: comma-separated whole numbers."""
    try:
        return [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of seeds (e.g. 1,2,3)") from None


def devices(text: str) -> list[str]:
    """A --devices value: comma-separated torch devices (cuda:0,cuda:1; cpu,cpu runs two cells on the CPU)."""
    import torch

    names = [d.strip() for d in text.split(",") if d.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no device; e.g. cuda:0,cuda:1")
    for name in names:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise argparse.ArgumentTypeError(f"{name!r} is not a torch device (e.g. cuda:0, cpu)") from None
        if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
            raise argparse.ArgumentTypeError(f"{name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return names


def corpus_size(text: str) -> int | str:
    """A --corpus value: a number of molecules (1 or more), or 'all'."""
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a corpus size (1 or more molecules) or 'all'")
    return value


def is_fasta(path: Path) -> bool:
    if path.suffix.lower() in {".fasta", ".fa", ".faa", ".fas"}:
        return True
    with path.open() as handle:
        return handle.read(1) == ">"


def read_sequences(path: Path, column: str | None) -> list[str]:
    if is_fasta(path):
        from biotag.domains import read_fasta

        return [seq for _, seq in read_fasta(path)]
    if path.suffix.lower() in {".csv", ".tsv", ".tab"}:
        frame, column = read_table(path, column)
        return frame[column].tolist()
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]
