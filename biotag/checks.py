"""Small checks of values that several layers share: missing values, fractions.
"""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["is_missing", "check_fraction"]

def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' missing markers.

    Examples
    --------
    >>> [is_missing(v) for v in (None, float("nan"), "", 0)]
    [True, True, False, False]
    """
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    pandas = sys.modules.get("pandas")  # only pandas makes its markers; no need to import it to check
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


def check_fraction(value: float, name: str) -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless it is a share between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)
