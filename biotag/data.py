"""Where biotag finds data: one path setting, never a copy inside the project."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

__all__ = ["data_dir", "read_tdc_table"]

ENV_VAR = "BIOTAG_DATA_DIR"


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``path`` if given, else ``$BIOTAG_DATA_DIR``.

    It holds ``tdc/`` (a PyTDC cache), ``proteins/`` and ``reference/``.
    A missing directory is an error that says how to set it.
    """
    chosen = path if path is not None else os.environ.get(ENV_VAR)
    if chosen is None:
        raise FileNotFoundError(
            f"no data directory given: pass a path or set {ENV_VAR} (e.g. export {ENV_VAR}=../shared/data)"
        )
    found = Path(chosen).expanduser()
    if not found.is_dir():
        raise FileNotFoundError(f"data directory {str(found)!r} does not exist (from {'argument' if path else ENV_VAR})")
    return found


def read_tdc_table(name: str, path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read a TDC single-instance table (``tdc/<lowercase name>.tab``) without PyTDC.

    Examples
    --------
    >>> read_tdc_table("Caco2_Wang").columns.tolist()  # doctest: +SKIP
    ['Drug_ID', 'Drug', 'Y']
    """
    file = data_dir(path) / "tdc" / f"{name.lower()}.tab"
    if not file.is_file():
        raise FileNotFoundError(f"TDC table {name!r} not found at {file}")
    return pd.read_csv(file, sep="\t")
