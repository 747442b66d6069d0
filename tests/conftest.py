"""Shared fixtures: a tiny llama-style LM built from a config (no downloads, milliseconds)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tiny import make_tiny_lm



@pytest.fixture
def tiny_lm():
    return make_tiny_lm()


@pytest.fixture
def computed_prefixes(monkeypatch) -> list:
    """Every prefix the model actually runs over, cached or not."""
    import biotag.model.prefix.compute as prefix_module

    seen: list = []
    real = prefix_module.compute_prefixes

    def spy(tlm, prefixes, **kw):
        seen.extend(prefixes)
        return real(tlm, prefixes, **kw)

    monkeypatch.setattr(prefix_module, "compute_prefixes", spy)
    return seen


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("BIOTAG_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"data directory {path} not found; set BIOTAG_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> str:
    """The tiny LM saved as a Hugging Face model directory, loadable by path like any model."""
    path = tmp_path_factory.mktemp("tiny-llama")
    model, tok = make_tiny_lm()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


_MEASURED: list[tuple[str, list]] = []


def pytest_runtest_logreport(report):
    if report.when == "call" and report.user_properties:
        _MEASURED.append((report.nodeid, report.user_properties))


def pytest_terminal_summary(terminalreporter):
    """Print the figures that slow tests record (record_property), so CI logs carry them."""
    if _MEASURED:
        terminalreporter.section("measured figures")
        for nodeid, props in _MEASURED:
            terminalreporter.write_line(f"{nodeid}: " + ", ".join(f"{k}={v}" for k, v in props))


@pytest.fixture(scope="session", autouse=True)
def toy_tasks():
    """The benchmark tests' toy tasks (no PyTDC, no data), registered for the session only."""
    from toy import register_toy_tasks, unregister_toy_tasks

    register_toy_tasks()
    yield
    unregister_toy_tasks()


@pytest.fixture(autouse=True)
def _a_cpu_without_native_bf16(monkeypatch):
    """``dtype="auto"`` resolves as on a CPU without native bf16 (float32), so every test computes the same on
    every CI machine, whichever CPU it has; the tests of ``"auto"`` itself set the flags they need."""
    monkeypatch.setattr("biotag.hardware.cpu_flags", lambda: frozenset())
