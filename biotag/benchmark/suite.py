"""One call for a whole benchmark: choose tasks and models, pretrain the domain tags, run, report."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import pandas as pd

from biotag.config import PREFIX_MEMORY, TagLLMConfig
from biotag.benchmark.models import PEFT_MODELS, Settings, is_tagllm, label, split_label
from biotag.benchmark.runner import check_models, run_benchmark
from biotag.benchmark.tasks import BUILT_IN, SEEDS, TASKS, get_task
from biotag.parallel import current, is_main_process
from biotag.hardware import DTYPE_CHOICES, resolve_placement
from biotag.files import atomic_write_text, cache_root
from biotag.checks import check_fraction
from biotag.data import data_dir

__all__ = ["benchmark", "select_tasks", "record_stage1", "stage1_folder", "QUICK", "SMALL_LIMIT"]

SMALL_LIMIT = 2100  # "small" ADMET tasks: about 2,000 molecules at most (train_val + test; BBB has 2,030)

# --quick: two small tasks (one regression, one classification), one seed, two epochs. Tag-LLM runs as the
# estimators' defaults (tagllm_pool_probe_select, chosen on validation; "tagllm" is the paper's readout) from the domain
# tags biotag ships for the model, as TagLLMRegressor() starts ("shipped": untrained where it ships none); no stage 1
# in the run unless asked for (--pretrain or --corpus).
QUICK = {"tasks": ("caco2_wang", "hia_hou"), "seeds": (1,), "epochs": 2, "corpus": 160, "pretrain": "shipped",
         "models": ("rf_morgan", "catboost_maplight", "tagllm")}
FULL = {"corpus": 2000, "pretrain": True, "models": ("rf_morgan", "catboost_maplight", "ridge_protein", "tagllm")}
PROTEIN_CORPUS = 200  # stage-1 protein sequences at most: each is ~286 residues, ten times a SMILES


def record_stage1(out_dir: str | Path, folder: str | Path) -> Path:
    """Record the stage-1 library in ``folder`` in the results folder's ``domain_tags_corpus.json``.

    The file's top level is the latest library's corpus record; ``libraries`` keeps the record of every
    library the folder's cells have used, under the digest each Tag-LLM cell records as
    ``domain_tags_sha256``: a library retrained between sessions (same corpus and seed, other last digits)
    stays on file beside its successor. A file from before the digests were kept is filed under
    ``"unrecorded"``."""
    from biotag.tags.library import library_digest

    out_dir, folder = Path(out_dir), Path(folder)
    corpus = folder / "corpus.json"  # a library trained elsewhere may not say what it learned from
    record = json.loads(corpus.read_text()) if corpus.is_file() else {"library": str(folder.resolve())}
    file = out_dir / "domain_tags_corpus.json"
    libraries: dict = {}
    if file.is_file():
        try:
            earlier = json.loads(file.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{file} is not valid JSON ({err}); move it aside to start its record anew") from None
        libraries = dict(earlier.pop("libraries", None) or {})
        if not libraries and earlier != record:
            libraries["unrecorded"] = earlier
    libraries[library_digest(folder)] = record
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, json.dumps({**record, "libraries": libraries}, indent=2) + "\n")
    return file


def select_tasks(spec: str | Sequence[str]) -> list[str]:
    """Task names from a list or a comma-separated string; ``small``, ``admet`` and ``all`` are groups."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for name in (n.strip().lower() for n in names if n.strip()):
        if name == "all":
            out += list(TASKS)
        elif name == "admet":
            out += [t.name for t in TASKS.values() if t.group == "admet"]
        elif name == "small":
            out += [t.name for t in TASKS.values() if t.group == "admet" and t.size <= SMALL_LIMIT]
        else:
            out.append(get_task(name).name)
    return list(dict.fromkeys(out))


# long: the one entry point of a benchmark run; its docstring documents every option
def benchmark(
    out_dir: str | Path,
    *,
    tasks: str | Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    quick: bool = False,
    epochs: int | None = None,
    p: int | None = None,
    domain_p: int | None = None,
    prompt_tokens: int | None = None,
    lr: float | None = None,
    corpus: int | str | None = None,
    pretrain: bool | str | Path | None = None,
    data_path: str | Path | None = None,
    report: bool = True,
    progress: bool = True,
    prefix_cache: bool | str | Path = True,
    dtype: str = TagLLMConfig.dtype,
    prefix_memory: float = PREFIX_MEMORY,
    n_jobs: int = 2,
    devices: Sequence[str] | None = None,
    verbose: bool = False,
    tagllm_args: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Run (or resume) a benchmark into ``out_dir`` and write its report there.

    With ``quick``, the defaults shrink to :data:`QUICK` (minutes on a laptop CPU); anything passed explicitly wins
    over the preset. ``p`` (vectors per new Tag-LLM tag), ``domain_p`` (vectors of each domain tag, trained in
    stage 1 or not, if not ``p``), ``prompt_tokens`` (prompt tuning's virtual tokens) and ``lr`` (Tag-LLM's
    learning rate) default to :class:`~biotag.benchmark.models.base.Settings`'. ``pretrain`` is True for stage-1
    domain tags trained before the Tag-LLM cells, False for untrained ones, ``"shipped"`` for the tags biotag ships
    for the model (where it ships them for every domain, at the run's length; else untrained), a folder (a
    :class:`~pathlib.Path`) for the tags of the library saved there (likewise); it defaults to the
    preset's choice (quick: shipped), and to True when ``corpus`` is given. With ``prefix_cache`` and more
    than one seed, Tag-LLM cells keep their frozen prefixes in a temporary folder, so a task's later seeds skip the
    sequences' forward passes; each task's part is removed once its cells are done, the folder when the run ends.
    ``prefix_cache`` may instead name a folder that the prefixes are kept in, across runs and with any number of
    seeds: a long task interrupted and resumed does not compute them again.
    ``dtype`` is the frozen model's precision in Tag-LLM and linear-probe cells (``"auto"``: bfloat16 where the
    hardware computes it natively, else float32; each cell records its own; PEFT baselines: float32 only).
    ``prefix_memory`` is the share of the available memory a Tag-LLM cell may load its cached prefixes into (see
    :class:`~biotag.TagLLMRegressor`). ``n_jobs`` is the threads of the forests and CatBoost (-1: every core).
    ``devices`` runs that many cells at once, one per device (see :func:`~biotag.benchmark.runner.run_benchmark`;
    under ``torchrun`` each process runs its share of the cells, the main one writing the report). ``verbose`` shows
    each cell's own progress (prefixes, epochs, probe features, PEFT steps) under the bar of cells.
    ``tagllm_args`` (e.g. ``{"head_init": "probe"}``) runs every Tag-LLM model with those options: a variant, named in
    its cells as ``tagllm[head_init=probe]``.
    """
    preset = QUICK if quick else FULL
    tasks = select_tasks(tasks if tasks is not None else preset.get("tasks", "small"))
    models = with_options(list(models if models is not None else preset["models"]), tagllm_args or {})
    check_models(models)
    seeds = tuple(seeds if seeds is not None else preset.get("seeds", SEEDS))
    _check_precision(models, dtype)
    check_fraction(prefix_memory, "prefix_memory")  # before stage 1, not in the first cell
    if BUILT_IN.intersection(tasks):
        data_dir(data_path)  # no data directory: one clear error before any work (biotag never downloads)
    defaults = Settings()
    settings = Settings(epochs=epochs or preset.get("epochs", defaults.epochs), p=p or defaults.p, domain_p=domain_p,
                        prompt_tokens=prompt_tokens or defaults.prompt_tokens, lr=lr or defaults.lr, dtype=dtype,
                        prefix_memory=prefix_memory, n_jobs=n_jobs, verbose=verbose and progress)
    out_dir = Path(out_dir)
    if pretrain is None:
        pretrain = True if corpus is not None else preset["pretrain"]
    elif corpus is not None and pretrain is not True:
        flag = {"shipped": "--shipped-tags", False: "--no-pretrain"}.get(pretrain, "--domain-tags")
        raise ValueError(f"a stage-1 corpus ({corpus}) trains domain tags, and pretrain={pretrain!r} ({flag}) "
                         "trains none: give one or the other")
    tagllm = any(is_tagllm(m) for m in models)
    if isinstance(pretrain, Path) and tagllm:
        settings = dataclasses.replace(settings, **_library_tags(pretrain, settings, out_dir, tasks))
    elif pretrain == "shipped" and tagllm:
        folder = pretrained_library(settings.model)
        settings = dataclasses.replace(settings, **(_library_tags(folder, settings, out_dir, tasks) if folder else {}))
    elif pretrain and tagllm:
        stage1 = _stage1_everywhere(settings, out_dir, tasks, corpus or preset["corpus"], data_path, progress)
        settings = dataclasses.replace(settings, **stage1)
    scratch = None
    kept = not isinstance(prefix_cache, bool)
    if kept:
        settings = dataclasses.replace(settings, prefix_cache=str(Path(prefix_cache).expanduser().resolve()))
    elif prefix_cache and len(seeds) > 1 and tagllm:  # one seed: nothing to share
        scratch = tempfile.mkdtemp(prefix="biotag-prefixes-")
        settings = dataclasses.replace(settings, prefix_cache=scratch)
    try:
        results = run_benchmark(tasks, models, out_dir, seeds=seeds, settings=settings, data_path=data_path,
                                progress=progress, keep_prefixes=kept, devices=devices)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if is_main_process() and report and not results.empty and (results["status"] == "ok").any():
        from biotag.benchmark.report import write_report

        write_report([out_dir], out_dir, data_path=data_path)
    return results


def with_options(models: list[str], options: dict[str, str]) -> list[str]:
    """``models`` with ``options`` added to each Tag-LLM one (checked: an unknown option is an error naming it)."""
    from biotag.benchmark.models.tagllm import parse_options

    parse_options(options)
    out = []
    for model in models:
        name, own = split_label(model)
        out.append(label(name, {**own, **options}) if options and is_tagllm(model) else model)
    return out


def _check_precision(models: Sequence[str], dtype: str) -> None:
    if dtype not in DTYPE_CHOICES:
        raise ValueError(f"dtype must be one of {DTYPE_CHOICES}, got {dtype!r}")
    peft = [m for m in models if m in PEFT_MODELS]
    if dtype not in ("float32", "auto") and peft:
        raise ValueError(f"the PEFT baselines ({', '.join(peft)}) run in float32 only; run them without "
                         f"dtype={dtype!r}, into their own results directory")


def stage1_folder(corpora: str, dtype: str, p: int) -> Path:
    """Where the benchmark keeps the stage-1 library of ``corpora`` (e.g. ``"smiles-all"``), trained with the
    frozen model in ``dtype``, of ``p``-vector tags: one folder per setting, in biotag's cache."""
    suffix = ("" if dtype == "float32" else f"-{dtype}") + ("" if p == 10 else f"-p{p}")
    return cache_root() / "benchmark-domain-tags" / (corpora + suffix)


def pretrained_library(model: str | None) -> Path | None:
    """The library of domain tags biotag ships for ``model`` (None where it ships none); imported when asked."""
    from biotag.tags.pretrained import pretrained_library as shipped

    return shipped(model)


def _library_tags(folder: Path, settings: Settings, out_dir: Path, tasks: Sequence[str]) -> dict:
    """The settings that point the cells at the domain tags of the library in ``folder`` (biotag's shipped one, or
    one a user gives), where it holds every domain of the tasks at the run's domain tag length; none (untrained tags)
    otherwise."""
    from biotag.domains.tagging import DOMAIN_TAGS

    lengths = {tag["name"]: tag["p"] for tag in json.loads((folder / "library.json").read_text())["tags"]}
    domains = sorted({d for t in tasks for d in get_task(t).domains})
    if any(lengths.get(DOMAIN_TAGS[d]) != (settings.domain_p or settings.p) for d in domains):
        return {}
    if is_main_process():
        record_stage1(out_dir, folder)
    return {"domain_tags": {d: str(folder) for d in domains}, "stage1_corpus": _corpus_size(folder, domains)}


def _stage1_everywhere(settings: Settings, out_dir: Path, tasks: Sequence[str], n: int | str,
                       data_path: str | Path | None, progress: bool) -> dict:
    """Stage-1 tags for every process: trained by the main one (under a launcher the others wait, then take them)."""
    parallel = current()
    changes = {}
    if parallel is None or parallel.rank == 0:
        changes = _with_stage1_tags(settings, out_dir, tasks, n, data_path, progress)
    if parallel is not None:
        parallel.barrier()
        if parallel.rank != 0:
            changes = _with_stage1_tags(settings, out_dir, tasks, n, data_path, False, record=False)
    return changes


def _with_stage1_tags(settings: Settings, out_dir: Path, tasks: Sequence[str], n: int | str,
                      data_path: str | Path | None, progress: bool, *, record: bool = True) -> dict:
    """Train (or find) the stage-1 tags of the tasks' domains on ``n`` molecules (fewer proteins), record
    their corpus in ``out_dir``; the settings that point the cells at them."""
    import torch

    from biotag.benchmark.corpus import ensure_domain_tags

    domains = sorted({d for t in tasks for d in get_task(t).domains})
    if n == "all":  # every candidate of every domain
        sizes: dict[str, int | None] = {d: None for d in domains}
    else:
        sizes = {d: (n if d == "smiles" else min(n, PROTEIN_CORPUS)) for d in domains}
    name = "+".join(f"{d}-{'all' if k is None else k}" for d, k in sizes.items())
    dtype = resolve_placement(torch.device("cpu"), settings.dtype).dtype  # stage 1 trains on the CPU
    p = settings.domain_p or settings.p
    folder = ensure_domain_tags(stage1_folder(name, dtype, p), sizes, path=data_path,
                                progress=progress, isolate=True, dtype=dtype, p=p)  # its model is freed first
    if record:
        record_stage1(out_dir, folder)
    return {"domain_tags": {d: str(folder) for d in domains},
            "stage1_corpus": _corpus_size(folder, domains) if n == "all" else n}


def _corpus_size(folder: Path, domains: Sequence[str]) -> int | None:
    """How many sequences the stage-1 library in ``folder`` learned the run's ``domains`` from, all corpora together
    (a protein-only run counts its proteins, not the library's SMILES); None where the library does not say."""
    if not (folder / "corpus.json").is_file():
        return None
    corpora = json.loads((folder / "corpus.json").read_text())["corpora"]
    return sum(int(corpora.get(d, {}).get("n", 0)) for d in domains)
