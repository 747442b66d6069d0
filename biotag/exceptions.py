"""Errors raised by biotag.

Every input error carries *all* offending rows at once, so a user fixing a
10,000-row CSV sees every problem in one run instead of one per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

__all__ = [
    "InputIssue",
    "InvalidInputError",
    "InvalidSmilesError",
    "InvalidSequenceError",
    "IncompatibleBaseModelError",
    "CorruptFileError",
]

# How many offending rows the message spells out; the full list is on ``.issues``.
_MAX_LISTED = 10


@dataclass(frozen=True)
class InputIssue:
    """One bad input row: its position, the value as given and why it was rejected."""

    index: int
    value: Any
    reason: str

    def __str__(self) -> str:
        return f"row {self.index}: {_short_repr(self.value)} ({self.reason})"


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'" + f" [{len(str(value))} chars]"


class InvalidInputError(ValueError):
    """Some input rows are invalid; ``issues`` lists every one of them."""

    what = "input"
    what_plural = "inputs"
    hint = ""

    def __init__(self, issues: Sequence[InputIssue]):
        self.issues = list(issues)
        listed = "; ".join(str(issue) for issue in self.issues[:_MAX_LISTED])
        more = len(self.issues) - _MAX_LISTED
        if more > 0:
            listed += f"; and {more} more (see the exception's .issues)"
        noun = self.what if len(self.issues) == 1 else self.what_plural
        message = f"{len(self.issues)} invalid {noun}: {listed}."
        if self.hint:
            message += " " + self.hint
        super().__init__(message)

    @property
    def indices(self) -> list[int]:
        """Positions (0-based) of the offending rows."""
        return [issue.index for issue in self.issues]


class InvalidSmilesError(InvalidInputError):
    """One or more SMILES could not be parsed or standardized."""

    what = "SMILES"
    what_plural = "SMILES"
    hint = "Fix or remove these rows, or pass errors='nan' to keep them as missing values."


class InvalidSequenceError(InvalidInputError):
    """One or more protein sequences are empty, too long or hold non-amino-acid letters."""

    what = "protein sequence"
    what_plural = "protein sequences"
    hint = "Fix or remove these rows, or pass errors='nan' to keep them as missing values."


class IncompatibleBaseModelError(ValueError):
    """A saved tag library was trained on a different base model than the one given."""


class CorruptFileError(ValueError):
    """A saved biotag file is missing, truncated or not what it claims to be."""
