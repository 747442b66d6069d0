"""What the command line reads: tables and sequence files, checked before use, and its option values."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from biotag.data import read_text_table

__all__ = ["read_table", "read_sequences", "is_fasta", "threads", "seeds", "corpus_size", "options",
           "devices", "positive_int", "positive_float"]


def read_table(path: Path, column: str | None) -> tuple[pd.DataFrame, str]:
    frame = read_text_table(path)
    if column is None:
        if frame.shape[1] != 1:
            raise ValueError(f"{path} has columns {list(frame.columns)}; choose one with --column")
        column = str(frame.columns[0])
    if column not in frame.columns:
        raise ValueError(f"column {column!r} not in {path}; columns are {list(frame.columns)}")
    return frame, column


def threads(text: str) -> int:
    """An --n-jobs value: a number of threads, or -1 for every core."""
    if text.strip() == "-1":
        return -1
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        message = f"{text!r} is not a number of threads (1 or more) or -1 for every core"
        raise argparse.ArgumentTypeError(message) from None


def positive_int(text: str) -> int:
    """A whole number of 1 or more (--p)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (--lr)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
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


def options(text: str) -> dict[str, str]:
    """A --tagllm-args value: NAME=VALUE pairs, comma-separated (a list of values takes slashes: lr=1e-3/3e-3)."""
    from biotag.benchmark.models.base import option_pairs

    try:
        return option_pairs(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def corpus_size(text: str) -> int | str:
    """A --corpus value: a number of molecules (1 or more), or 'all'."""
    if text == "all":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a corpus size (1 or more molecules) or 'all'") from None


def library_dir(text: str) -> Path:
    """A --domain-tags value: a folder holding a saved tag library (its library.json)."""
    path = Path(text).expanduser()
    if not (path / "library.json").is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a saved tag library (no library.json in it)")
    return path.resolve()


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
