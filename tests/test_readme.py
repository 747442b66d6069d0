"""The README is what a new user runs first: its Python blocks run as written, its results table is the one the
committed results give, and it stays short."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_is_short_and_its_results_table_is_the_committed_results(data_dir):
    assert len(README.read_text().splitlines()) <= 150
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "results_table.py"), "--check", str(README),
                           "--data", str(data_dir)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_readme_validation_block_runs_as_written():
    block = next(b for b in _python_blocks() if "SmilesFeaturizer(errors=" in b)
    exec(compile(block, "README.md", "exec"), {})


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1], ids=["estimator", "stages"])
def test_the_readme_model_blocks_run_as_written_on_the_default_model(index, tmp_path, monkeypatch, data_dir):
    """As written, but with the data folder wherever it is here, and files written in a scratch folder."""
    block = [b for b in _python_blocks() if "SmilesFeaturizer(errors=" not in b][index]
    monkeypatch.chdir(tmp_path)
    exec(compile(block.replace('"../shared/data/', f'"{data_dir}/'), "README.md", "exec"), {})
