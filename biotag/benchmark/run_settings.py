"""A results folder's ``run.json``: the settings its cells ran with, checked when a run resumes into it."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from biotag._version import __version__
from biotag.benchmark.models import Settings
from biotag.files import atomic_write_text

__all__ = ["RUN", "UNRECORDED", "LLM_SETTINGS", "TAGLLM_SETTINGS", "check_run_settings"]

RUN = "run.json"


# Settings that change speed, never results: not compared on resume. The threads (n_jobs) go in each
# cell's record instead, beside its wall time (forests give the same trees on any number of threads).
UNRECORDED = ("prefix_cache", "prefix_memory", "n_jobs", "device", "verbose")
# The settings that change an LLM model's scores; experts read none of them (``n_jobs`` is their threads).
LLM_SETTINGS = ("epochs", "lr", "p", "domain_p", "prompt_tokens", "batch_size", "dtype", "stage1_corpus", "model")
# Of those, what only Tag-LLM cells read (the PEFT baselines keep their own rates; the probes train no tags).
TAGLLM_SETTINGS = ("lr", "p", "domain_p", "stage1_corpus")
def check_run_settings(out_dir: Path, settings: Settings, *, llm: bool = True, tagllm: bool = True) -> None:
    """Refuse to resume ``out_dir`` with settings other than its cells ran with, and record them in its ``run.json``.

    A run of expert models only (``llm=False``) reads none of the LLM settings, and a run without Tag-LLM
    (``tagllm=False``) none of Tag-LLM's own: they are not compared, and the folder keeps the record of the cells
    that read them."""
    run_file = out_dir / RUN
    wanted = {k: v for k, v in settings.as_dict().items() if k not in UNRECORDED}
    if run_file.is_file():
        meta = json.loads(run_file.read_text())
        previous = meta.get("settings")
        # Where the stage-1 tags live depends on the machine's cache; their corpus is recorded separately.
        # A setting added after the run began counts as its default there.
        defaults = Settings().as_dict()
        unread = (*LLM_SETTINGS, "domain_tags") if not llm else (*TAGLLM_SETTINGS, "domain_tags") if not tagllm else ()
        if previous is not None:
            wanted.update({k: previous.get(k, defaults[k]) for k in unread})
        changed = {k: (previous.get(k, defaults[k]), v) for k, v in wanted.items()
                   if k != "domain_tags" and previous is not None and previous.get(k, defaults[k]) != v}
        if changed:
            raise ValueError(
                f"{out_dir} holds results made with other settings {changed} (old, new); "
                "resume with the same settings or write to another directory"
            )
    atomic_write_text(run_file, json.dumps({"settings": wanted, "biotag": __version__,
                                            "python": platform.python_version(), "machine": platform.machine(),
                                            "cpus": os.cpu_count()}, indent=2))
