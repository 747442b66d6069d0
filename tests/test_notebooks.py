"""Every notebook runs top to bottom (small settings); any cell error fails the test."""

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(name: str, monkeypatch) -> "nbformat.NotebookNode":
    # The kernel must be this interpreter (the one with biotag installed), whatever PATH said before.
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("BIOTAG_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    return nb


def outputs(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_notebooks_are_committed_without_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
    assert len(list(NOTEBOOKS.glob("*.ipynb"))) == 3


def test_benchmark_report_notebook(monkeypatch, data_dir):
    nb = execute("03_benchmark_report.ipynb", monkeypatch)
    assert "cells" in outputs(nb) and "Tag-LLM against the best expert baseline" in outputs(nb)


@pytest.mark.slow
def test_quickstart_notebook(monkeypatch, data_dir, record_property):
    nb = execute("01_quickstart.ipynb", monkeypatch)
    text = outputs(nb)
    assert "Tag-LLM test MAE" in text and "random forest (Morgan counts) test MAE" in text
    assert "row 1" in text  # the invalid SMILES is reported with its position
    assert "90 % intervals cover" in text  # MAPIE's split conformal intervals on the fitted pipeline
    record_property("quickstart", [line for line in text.splitlines() if "MAE" in line or "intervals" in line])


@pytest.mark.slow
def test_tags_and_stages_notebook(monkeypatch, data_dir, record_property):
    nb = execute("02_tags_and_stages.ipynb", monkeypatch)
    text = outputs(nb)
    assert "held-out QED R2" in text and "held-out pKd MAE" in text and "same predictions: True" in text
    record_property("stages", [line for line in text.splitlines() if "held-out" in line])


def test_notebooks_match_their_sources(tmp_path):
    """The committed .ipynb files are built from notebooks/src/*.py (so reviews can diff plain text)."""
    import runpy

    build = runpy.run_path(str(NOTEBOOKS / "src" / "build.py"), run_name="not_main")["build"]
    for source in sorted((NOTEBOOKS / "src").glob("0*.py")):
        built = tmp_path / (source.stem + ".ipynb")
        build(str(source), str(built))
        fresh, committed = nbformat.read(built, as_version=4), nbformat.read(NOTEBOOKS / built.name, as_version=4)
        assert [c.source for c in fresh.cells] == [c.source for c in committed.cells], source.name
