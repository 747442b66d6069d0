"""How the benchmark rounds and prints a score.

Three decimal places, as TDC rounds its ADMET metrics; a score below 0.01 keeps three significant figures instead
(Descriptor's MSE is about 0.003, where three places would print every model alike), less the trailing zeros past the
third place (a figure published or recorded as 0.0048 is not printed as 0.00480). A spread is printed to its mean's
places.
"""

from __future__ import annotations

import math

__all__ = ["places", "rounded", "figure"]


def places(x: float) -> int:
    """Decimal places that print ``x`` to three places, or to three significant figures below 0.01."""
    x = abs(float(x))
    if not math.isfinite(x) or x == 0 or x >= 0.01:
        return 3
    return 2 - math.floor(math.log10(x))


def rounded(x: float, like: float | None = None) -> float:
    """``x`` rounded to the places of ``like`` (default: its own)."""
    return round(float(x), places(x if like is None else like))


def figure(x: float, like: float | None = None) -> str:
    """``x`` printed to the places ``like`` (default: ``x``) is printed to."""
    like = float(x if like is None else like)
    decimals = places(like)
    if math.isfinite(like):
        digits = f"{abs(like):.{decimals}f}".rstrip("0")
        decimals = max(3, len(digits) - digits.index(".") - 1)
    return f"{float(x):.{decimals}f}"
