"""Where biotag finds data: one path setting, never a copy inside the project."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

__all__ = ["data_dir", "read_tdc_table", "read_text_table"]

ENV_VAR = "BIOTAG_DATA_DIR"
#: Where the data is looked for when neither a path nor ``$BIOTAG_DATA_DIR`` says: beside the project, as
#: ``scripts/run.sh`` sets it from the repository root.
DEFAULT = Path("..") / "shared" / "data"


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``path`` if given, else ``$BIOTAG_DATA_DIR``, else :data:`DEFAULT` (``../shared/data``
    from the working directory) where it exists.

    It holds ``tdc/`` (a PyTDC cache), ``proteins/`` and ``reference/``. biotag never downloads it: a missing
    directory is an error that says how to set it.
    """
    chosen = path if path is not None else os.environ.get(ENV_VAR)
    if chosen is None and DEFAULT.is_dir():
        return DEFAULT.resolve()
    if chosen is None:
        raise FileNotFoundError(
            f"no data directory given and none at {DEFAULT} (from {Path.cwd()}): pass a path or set {ENV_VAR} "
            f"(e.g. export {ENV_VAR}=../shared/data); biotag never downloads data"
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


def read_text_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A user's CSV (or ``.tsv``/``.tab``) table, every field as text, blank fields missing.

    A table whose rows do not all have as many fields as its header is a ValueError naming those lines: an
    unquoted comma in a name would otherwise shift the rest of its row into the wrong columns.
    """
    import csv

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {str(path)!r}")
    sep = "\t" if path.suffix.lower() in {".tsv", ".tab"} else ","
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
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], index_col=False)
