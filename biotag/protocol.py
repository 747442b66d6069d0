"""The paper's protocol as one run: stage 1 -> stage 2 -> stage 3 from a JSON or YAML file (``biotag train``).

Each stage starts from the tag library the stage before it wrote, trains, and writes its own library into
``<output>/<stage name>/`` with ``stage.json`` (the stage's settings, its :class:`~biotag.training.StageSpec`, its
history). A rerun skips every stage whose ``stage.json`` holds the same settings and data, and resumes after the
last finished one. The same file runs alone or under ``torchrun`` / ``accelerate launch`` (one machine or several):
training is then data-parallel (:mod:`biotag.parallel`) and only the main process writes.

The format, by example (``examples/protocol.yaml`` is a complete one)::

    model: null            # Hugging Face id or local folder; null: the offline default model
    dtype: auto            # the frozen model's precision: auto | float32 | bfloat16
    output: runs/demo      # one folder per stage under it
    stages:
      - name: smiles       # stage 1: a domain tag by next-token prediction
        stage: 1
        domain: smiles
        data: {train: molecules.csv, columns: {smiles: smiles}}
        epochs: 1
      - name: logp         # stage 2: a function tag and its head, on one domain
        stage: 2
        tag: <LogP>
        task: regression
        data: {train: logp.csv, valid: logp_valid.csv, columns: {smiles: smiles}, target: logp}
      - name: binding      # stage 3: a function tag across domains
        stage: 3
        tag: <Binding>
        task: regression
        data: {train: dti.csv, columns: {protein: target, smiles: drug}, target: affinity}

Paths are relative to the file. A stage-1 entry takes ``p``, ``epochs``, ``lr``, ``batch_size``, ``val_fraction``,
``seed`` and ``max_samples``. A stage-2 or -3 entry takes ``task`` (regression or classification) and the
estimators' settings: ``p``, ``epochs``, ``max_steps``, ``batch_size``, ``lr``, ``weight_decay``,
``warmup_ratio``, ``patience``, ``head_init``, ``head_fit``, ``readout``, ``enrich``, ``validation_fraction``,
``seed``. Any other key is refused by name.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from biotag.data import read_text_table
from biotag.domains import DOMAIN_TAGS
from biotag.estimators import TagLLMClassifier, TagLLMRegressor
from biotag.parallel import current, is_main_process
from biotag.training import pretrain_library, stage1_corpus
from biotag.config import DTYPE_CHOICES, Stage1Config, TagLLMConfig
from biotag.files import atomic_write_text, sha256_file

__all__ = ["Protocol", "ProtocolStage", "load_protocol", "run_protocol"]

_STAGE1_KEYS = Stage1Config.defaults()
# A function stage takes the estimators' settings, less those the file sets once for every stage.
_FUNCTION_KEYS = (set(TagLLMConfig.fields()) - {"model", "dtype", "device", "domain_tags", "tokenization",
                                                "max_length"}) | {"seed"}
_COMMON = {"name", "stage", "data", "domain", "tag", "task"}
_DATA_KEYS = {"train", "valid", "columns", "target"}


@dataclass
class ProtocolStage:
    """One entry of ``stages``: which stage, on which data, with which settings."""

    name: str
    stage: int
    train: Path
    columns: dict[str, str]  # domain -> column, in the input's order
    valid: Path | None = None
    target: str | None = None
    tag: str | None = None
    task: str = "regression"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(self.columns)


@dataclass
class Protocol:
    """A whole run: the base model, its precision, the output folder and the stages in order."""

    stages: list[ProtocolStage]
    output: Path
    model: str | None = None
    dtype: str = TagLLMConfig.dtype
    device: str = TagLLMConfig.device


def load_protocol(path: str | os.PathLike[str]) -> Protocol:
    """Read and check a protocol file (``.json``, ``.yaml`` or ``.yml``); every mistake is a ValueError naming
    the stage and the key."""
    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(f"protocol file not found: {str(src)!r}")
    text = src.read_text(encoding="utf-8")
    if src.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"{src} is not valid YAML: {err}") from None
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{src} is not valid JSON: {err}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{src} must hold a mapping with 'output' and 'stages'")
    if unknown := set(raw) - {"model", "dtype", "device", "output", "stages"}:
        raise ValueError(f"{src}: unknown key(s) {sorted(unknown)}; known: model, dtype, device, output, stages")
    if not raw.get("output"):
        raise ValueError(f"{src}: 'output' (the folder the stages are written to) is missing")
    if not isinstance(raw.get("stages"), list) or not raw["stages"]:
        raise ValueError(f"{src}: 'stages' must be a non-empty list")
    dtype = raw.get("dtype", TagLLMConfig.dtype)
    if dtype not in DTYPE_CHOICES:
        raise ValueError(f"{src}: dtype must be one of {DTYPE_CHOICES}, got {dtype!r}")
    base = src.resolve().parent
    stages = [_stage(entry, i, base) for i, entry in enumerate(raw["stages"])]
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"{src}: stage names must be unique, got {names}")
    _check_domain_tags(stages, src)
    return Protocol(stages=stages, output=base / raw["output"], model=raw.get("model"), dtype=dtype,
                    device=str(raw.get("device", TagLLMConfig.device)))


def _stage(entry: Any, i: int, base: Path) -> ProtocolStage:
    where = f"stages[{i}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a mapping, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError(f"{where}: 'name' must be a folder name, got {name!r}")
    where = f"stage {name!r}"
    kind = entry.get("stage")
    if kind not in (1, 2, 3):
        raise ValueError(f"{where}: 'stage' must be 1, 2 or 3, got {kind!r}")
    allowed = _COMMON | (set(_STAGE1_KEYS) if kind == 1 else _FUNCTION_KEYS)
    if unknown := set(entry) - allowed:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; a stage-{kind} entry takes {sorted(allowed)}")
    data = entry.get("data")
    if not isinstance(data, dict) or "train" not in data:
        raise ValueError(f"{where}: 'data' must be a mapping with at least 'train' (a CSV/TSV file)")
    if unknown := set(data) - _DATA_KEYS:
        raise ValueError(f"{where}: unknown data key(s) {sorted(unknown)}; known: {sorted(_DATA_KEYS)}")
    columns = data.get("columns")
    if kind == 1 and columns is None and entry.get("domain"):
        columns = {entry["domain"]: entry["domain"]}
    if not isinstance(columns, dict) or not columns:
        raise ValueError(f"{where}: data.columns must map each domain to its column, e.g. {{smiles: smiles}}")
    if bad := [d for d in columns if d not in DOMAIN_TAGS]:
        raise ValueError(f"{where}: unknown domain(s) {bad} in data.columns; known: {sorted(DOMAIN_TAGS)}")
    settings = {k: v for k, v in entry.items() if k not in _COMMON}
    stage = ProtocolStage(name=name, stage=kind, train=base / str(data["train"]), columns=dict(columns),
                          valid=base / str(data["valid"]) if data.get("valid") else None, target=data.get("target"),
                          tag=entry.get("tag"), task=entry.get("task", "regression"), settings=settings)
    if kind == 1:
        if len(columns) != 1:
            raise ValueError(f"{where}: stage 1 trains one domain tag; data.columns has {list(columns)}")
        if entry.get("domain", stage.domains[0]) != stage.domains[0]:
            raise ValueError(f"{where}: 'domain' is {entry['domain']!r} but data.columns names {stage.domains[0]!r}")
        return stage
    if not stage.tag:
        raise ValueError(f"{where}: 'tag' (the function tag, e.g. <LogP>) is missing")
    if stage.task not in ("regression", "classification"):
        raise ValueError(f"{where}: 'task' must be regression or classification, got {stage.task!r}")
    if not stage.target:
        raise ValueError(f"{where}: data.target (the column of the labels) is missing")
    if kind == 2 and len(columns) != 1:
        raise ValueError(f"{where}: stage 2 is single-domain; use stage 3 for {list(columns)}")
    if kind == 3 and len(columns) < 2:
        raise ValueError(f"{where}: stage 3 is cross-domain; data.columns has only {list(columns)}")
    return stage


def _check_domain_tags(stages: list[ProtocolStage], src: Path) -> None:
    """A function stage reads its domains through the domain tags of the library before it: each must have been
    trained (stage 1) or created (by the first stage) by then."""
    have: set[str] = set()
    for i, stage in enumerate(stages):
        if stage.stage == 1:
            have.add(stage.tag or DOMAIN_TAGS[stage.domains[0]])
            continue
        needed = [DOMAIN_TAGS[d] for d in stage.domains]
        if i > 0 and (missing := [t for t in needed if t not in have]):
            raise ValueError(f"{src}: stage {stage.name!r} reads {missing}, which no stage before it trains; add a "
                             f"stage-1 entry for {'/'.join(missing)} before it")
        have.update(needed)


def run_protocol(protocol: Protocol, *, progress: bool = True, log: Callable[[str], None] | None = None) -> Path:
    """Run the stages in order, each from the library the stage before it wrote; skip the finished ones.

    What happens goes to ``log`` (default: the ``biotag.protocol`` logger, at INFO). Returns the last stage's library folder.
    """
    log = log or logging.getLogger(__name__).info  # a child of the "biotag" logger
    for stage in protocol.stages:
        _check_tables(stage)  # a bad row of the last stage's file fails now, not after the first stage trained
    parallel = current()
    library_dir: Path | None = None
    for stage in protocol.stages:
        folder = protocol.output / stage.name
        record = _record(protocol, stage, library_dir)
        if _finished(folder, record):
            log(f"stage {stage.name!r}: finished before, reusing {folder}")
            library_dir = folder
            continue
        log(f"stage {stage.name!r} (stage {stage.stage}, {'+'.join(stage.domains)}): training"
            + (f" on {parallel.world} processes" if parallel else ""))
        history, spec = (_run_stage1 if stage.stage == 1 else _run_function_stage)(protocol, stage, library_dir,
                                                                                  folder, progress)
        if is_main_process():
            atomic_write_text(folder / "stage.json", json.dumps(dict(record, stage_spec=spec, history=history),
                                                                indent=2, default=str))
        if parallel is not None:
            parallel.barrier()  # the next stage reads this one's library
        for epoch in history.get("epochs", []):
            log("  " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in epoch.items()))
        library_dir = folder
    return library_dir  # type: ignore[return-value]


def _record(protocol: Protocol, stage: ProtocolStage, previous: Path | None) -> dict[str, Any]:
    """What a stage's result depends on: its settings, its data files' contents, the model and the library it
    starts from."""
    files = {str(p.name): sha256_file(p) for p in (stage.train, stage.valid) if p is not None and p.is_file()}
    start = None
    if previous is not None and (previous / "tags.safetensors").is_file():
        start = sha256_file(previous / "tags.safetensors")
    return {"format": "biotag-protocol-stage", "model": protocol.model, "dtype": protocol.dtype,
            "stage": stage.stage, "tag": stage.tag, "task": stage.task, "columns": stage.columns,
            "target": stage.target, "settings": stage.settings, "data_sha256": files, "starts_from": start}


def _finished(folder: Path, record: dict[str, Any]) -> bool:
    meta = folder / "stage.json"
    if not (meta.is_file() and (folder / "library.json").is_file()):
        return False
    try:
        known = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return {k: known.get(k) for k in record} == json.loads(json.dumps(record, default=str))


def _table(path: Path, columns: list[str], where: str) -> pd.DataFrame:
    try:
        frame = read_text_table(path)
    except (FileNotFoundError, ValueError) as err:
        raise type(err)(f"{where}: {err}") from None
    if missing := [c for c in columns if c not in frame.columns]:
        raise ValueError(f"{where}: {path} lacks column(s) {missing}; it has {list(frame.columns)}")
    return frame


def _check_tables(stage: ProtocolStage) -> None:
    columns, where = list(stage.columns.values()), f"stage {stage.name!r}"
    if stage.stage == 1:
        _table(stage.train, columns, where)
        return
    for path in (stage.train, stage.valid):
        if path is not None:
            _labels(_table(path, columns + [stage.target], where)[stage.target], stage, path)


def _run_stage1(protocol: Protocol, stage: ProtocolStage, previous: Path | None, folder: Path, progress: bool):
    settings = dict(_STAGE1_KEYS, **stage.settings)
    domain, column = next(iter(stage.columns.items()))
    frame = _table(stage.train, [column], f"stage {stage.name!r}")
    sequences = stage1_corpus(frame[column].tolist(), domain, max_samples=settings.pop("max_samples"),
                              seed=settings["seed"])
    tag = stage.tag or DOMAIN_TAGS[domain]
    library, histories = pretrain_library(protocol.model, {domain: sequences}, init=previous, tags={domain: tag},
                                          dtype=protocol.dtype, device=protocol.device, progress=progress, **settings)
    library.save(folder)
    history = histories[domain]
    return {"epochs": history.epochs, "best_epoch": history.best_epoch, "steps": history.steps}, \
        {"name": stage.name, "train_tags": [tag], "loss": "lm"}


def _run_function_stage(protocol: Protocol, stage: ProtocolStage, previous: Path | None, folder: Path,
                        progress: bool):
    where = f"stage {stage.name!r}"
    columns = list(stage.columns.values())
    settings = dict(stage.settings)
    seed = settings.pop("seed", 0)
    Estimator = TagLLMRegressor if stage.task == "regression" else TagLLMClassifier
    est = Estimator(model=protocol.model, domains=stage.domains, columns=None, function_tag=stage.tag,
                    domain_tags=previous, dtype=protocol.dtype, device=protocol.device, random_state=seed,
                    verbose=int(progress), **settings)
    train = _table(stage.train, columns + [stage.target], where)
    X, y = _inputs(train, columns), _labels(train[stage.target], stage, stage.train)
    if stage.valid is not None:
        valid = _table(stage.valid, columns + [stage.target], where)
        est.fit(X, y, X_val=_inputs(valid, columns), y_val=_labels(valid[stage.target], stage, stage.valid))
    else:
        est.fit(X, y)
    est.library_.save(folder)
    history = {"epochs": est.history_.epochs, "best_epoch": est.history_.best_epoch, "steps": est.history_.steps}
    return history, est.stage_spec_.to_dict()


def _inputs(frame: pd.DataFrame, columns: list[str]):
    return frame[columns[0]].tolist() if len(columns) == 1 else frame[columns].to_numpy(dtype=object)


def _labels(values: pd.Series, stage: ProtocolStage, path: Path) -> np.ndarray:
    if stage.task == "classification":
        return values.to_numpy(dtype=object)
    numbers = pd.to_numeric(values, errors="coerce")
    if bad := [i for i, ok in enumerate(numbers.notna()) if not ok][:10]:
        shown = ", ".join(f"row {i}: {values.iloc[i]!r}" for i in bad)
        raise ValueError(f"stage {stage.name!r}: {path} column {stage.target!r} has values that are not numbers "
                         f"({shown})")
    return numbers.to_numpy(dtype=np.float64)

