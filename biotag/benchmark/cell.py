"""Entry point of one isolated benchmark cell: ``python -m biotag.benchmark.cell SPEC.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from biotag.benchmark.models import Settings
from biotag.benchmark.runner import Cell, run_cell


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    record = run_cell(Cell(**spec["cell"]), Settings(**spec["settings"]), spec["out_dir"],
                      data_path=spec["data_path"])
    Path(spec["record"]).write_text(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
