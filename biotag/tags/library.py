"""A tag library: the only trained state of Tag-LLM (tags and heads), saved on its own.

Layout on disk (a directory)::

    library.json       names, kinds and p of the tags, head configs, base-model identity
    tags.safetensors   every tensor (tag vectors, head weights, head buffers)

Nothing is pickled and loading executes no code. A library records the base
model's embedding fingerprint and refuses to load onto any other model.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import safetensors.torch
import torch
from torch import nn

from biotag._version import __version__
from biotag.config import TagLLMConfig
from biotag.domains.tagging import check_tag_name
from biotag.exceptions import CorruptFileError, IncompatibleBaseModelError
from biotag.backbone.fingerprint import embedding_fingerprint, embedding_fingerprints
from biotag.parallel import is_main_process
from biotag.files import atomic_path, atomic_write_text, sha256_file
from biotag.heads.modules import build_head

__all__ = ["TagSpec", "TagLibrary", "init_tag_vector", "library_digest"]

FORMAT = "biotag-tag-library"
FORMAT_VERSION = 1
TAG_KINDS = ("domain", "function")
_JSON, _TENSORS = "library.json", "tags.safetensors"


def library_digest(path: str | os.PathLike[str]) -> str:
    """The first 16 hex digits of the SHA-256 of a saved library's tensors: which library, of several
    trained alike (a stage-1 tag retrained on another machine differs in its last digits), a result used."""
    return sha256_file(Path(path) / _TENSORS)[:16]


@dataclass(frozen=True)
class TagSpec:
    """A tag's identity: ``name`` like ``<SMILES>``, ``kind`` domain/function, ``p`` vectors."""

    name: str
    kind: str
    p: int = TagLLMConfig.p  # the estimators' tag length

    def __post_init__(self) -> None:
        check_tag_name(self.name)
        if self.kind not in TAG_KINDS:
            raise ValueError(f"TagSpec.kind must be one of {TAG_KINDS}, got {self.kind!r} for {self.name}")
        if not isinstance(self.p, int) or self.p < 1:
            raise ValueError(f"TagSpec.p must be a positive int, got {self.p!r} for {self.name}")


@torch.no_grad()
def init_tag_vector(embedding_weight: torch.Tensor) -> torch.Tensor:
    """The paper's initialization: the mean vocabulary embedding, rescaled to the mean embedding norm.

    Computed from the actual model, never a constant. Returns a (d,) float32 vector.
    """
    weight = embedding_weight.detach().to(torch.float32)  # (V, d)
    mean = weight.mean(dim=0)
    return mean / mean.norm() * weight.norm(dim=1).mean()


class TagLibrary(nn.Module):
    """Tags (``p`` x ``d`` parameters each) and task heads, tied to one base model.

    Examples
    --------
    >>> lib = TagLibrary(hidden_size=8)
    >>> lib.add_tag(TagSpec("<SMILES>", "domain", p=4), init=torch.ones(8))
    >>> tuple(lib.tags["<SMILES>"].shape)
    (4, 8)
    """

    def __init__(self, hidden_size: int, *, base_model_id: str | None = None, base_fingerprint: str | None = None,
                 base_fingerprints: dict[str, str] | None = None):
        super().__init__()
        self.hidden_size = int(hidden_size)
        self.base_model_id = base_model_id
        self.base_fingerprint = base_fingerprint
        # The base model's fingerprint at each precision it rounds to (see embedding_fingerprints); libraries
        # saved before biotag recorded them have none, and load only onto the exact precision they came from.
        self.base_fingerprints = dict(base_fingerprints or {})
        self.tags = nn.ParameterDict()
        self.specs: dict[str, TagSpec] = {}
        self.heads = nn.ModuleDict()

    @classmethod
    def for_model(cls, model: nn.Module) -> "TagLibrary":
        """An empty library bound to ``model`` (its width, id and embedding fingerprint)."""
        return cls(
            model.get_input_embeddings().embedding_dim,
            base_model_id=getattr(model, "biotag_model_id", None) or getattr(model, "name_or_path", None),
            base_fingerprint=embedding_fingerprint(model),
            base_fingerprints=embedding_fingerprints(model),
        )

    def add_tag(self, spec: TagSpec, *, init: torch.Tensor) -> None:
        """Add a tag whose ``p`` vectors all start at ``init`` (shape (d,))."""
        if spec.name in self.specs:
            raise ValueError(f"tag {spec.name} is already in the library")
        if init.shape != (self.hidden_size,):
            raise ValueError(f"init must have shape ({self.hidden_size},), got {tuple(init.shape)}")
        self.tags[spec.name] = nn.Parameter(init.detach().to(torch.float32).repeat(spec.p, 1).clone())
        self.specs[spec.name] = spec

    def ensure_tag(self, spec: TagSpec, model: nn.Module) -> None:
        """Add ``spec`` initialized from ``model``'s vocabulary unless the library has it."""
        if spec.name in self.specs:
            if self.specs[spec.name].p != spec.p:
                raise ValueError(f"tag {spec.name} exists with p={self.specs[spec.name].p}, not p={spec.p}")
            return
        self.add_tag(spec, init=init_tag_vector(model.get_input_embeddings().weight))

    def add_head(self, name: str, head: nn.Module) -> None:
        if head.hidden_size != self.hidden_size:
            raise ValueError(f"head width {head.hidden_size} does not match the library's {self.hidden_size}")
        self.heads[name] = head

    def remove(self, name: str) -> None:
        """Drop tag ``name`` and its head, where the library has them."""
        for store in (self.tags, self.specs, self.heads):
            if name in store:
                del store[name]

    def n_parameters(self, names: Iterable[str] | None = None) -> int:
        """Number of scalars in the named tags and heads (all by default)."""
        names = dict.fromkeys(list(self.specs) + list(self.heads) if names is None else list(names))
        count = 0
        for name in names:
            if name in self.tags:
                count += self.tags[name].numel()
            if name in self.heads:
                count += sum(p.numel() for p in self.heads[name].parameters())
        return count

    # ---- saving and loading -------------------------------------------------------------

    def metadata(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "biotag_version": __version__,
            "base_model": {
                "id": self.base_model_id,
                "embedding_fingerprint": self.base_fingerprint,
                "embedding_fingerprints": self.base_fingerprints,
                "hidden_size": self.hidden_size,
            },
            "tags": [asdict(spec) for spec in self.specs.values()],
            "heads": {name: head.config() for name, head in self.heads.items()},
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``library.json`` and ``tags.safetensors`` into directory ``path`` (under a launcher, only the
        main process writes; the others return the same path)."""
        out = Path(path)
        if not is_main_process():
            return out
        out.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        with atomic_path(out / _TENSORS) as tmp:
            safetensors.torch.save_file(tensors, str(tmp), metadata={"format": FORMAT})
        meta = dict(self.metadata(), tensors_sha256=sha256_file(out / _TENSORS))  # checked on load
        atomic_write_text(out / _JSON, json.dumps(meta, indent=2))
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str], model: nn.Module | None = None) -> "TagLibrary":
        """Load a saved library; with ``model`` given, refuse it unless it is the same base model."""
        src = Path(path)
        meta = _read_json(src / _JSON)
        try:
            base = meta["base_model"]
            _check_size(base["hidden_size"], "base_model.hidden_size", MAX_HIDDEN_SIZE)
            for entry in meta["tags"]:
                _check_size(entry["p"], f"tags[{entry.get('name')!r}].p", MAX_TAG_LENGTH)
            lib = cls(base["hidden_size"], base_model_id=base["id"], base_fingerprint=base["embedding_fingerprint"],
                      base_fingerprints=base.get("embedding_fingerprints"))
            for entry in meta["tags"]:
                spec = TagSpec(**entry)
                lib.add_tag(spec, init=torch.zeros(lib.hidden_size))
            for name, config in meta["heads"].items():
                _check_size(config["hidden_size"], f"heads[{name!r}].hidden_size", MAX_HIDDEN_SIZE)
                _check_size(config.get("n_outputs", config.get("n_classes", 1)), f"heads[{name!r}] outputs",
                            MAX_HIDDEN_SIZE)
                lib.add_head(name, build_head(config))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            field = f"the field {exc.args[0]!r} is missing" if isinstance(exc, KeyError) else repr(exc)
            raise CorruptFileError(f"{src / _JSON} is not a valid biotag tag library: {field}") from exc
        if model is not None:
            lib.check_compatible(model, source=src)
        recorded = meta.get("tensors_sha256")  # libraries saved before digests have none
        if recorded is not None and (src / _TENSORS).is_file() and sha256_file(src / _TENSORS) != recorded:
            raise CorruptFileError(f"{src / _TENSORS} has changed since it was saved (its SHA-256 differs from the one "
                                   f"{src / _JSON} records); the file is corrupt")
        tensors = _read_tensors(src / _TENSORS)
        bad = sorted(k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all())
        if bad:
            raise CorruptFileError(f"{src / _TENSORS} holds non-finite values (NaN or infinity) in {bad}")
        expected = lib.state_dict()
        if set(tensors) != set(expected) or any(tensors[k].shape != v.shape for k, v in expected.items()):
            raise CorruptFileError(
                f"{src / _TENSORS} does not match {src / _JSON}: tensors "
                f"{sorted((k, tuple(v.shape)) for k, v in tensors.items())} vs expected "
                f"{sorted((k, tuple(v.shape)) for k, v in expected.items())}"
            )
        lib.load_state_dict(tensors)
        return lib

    def check_compatible(self, model: nn.Module, *, source: object = "this library") -> None:
        """Raise :class:`IncompatibleBaseModelError` unless ``model`` is the base model of this library."""
        width = model.get_input_embeddings().embedding_dim
        fingerprint = embedding_fingerprint(model)
        if width != self.hidden_size or not (fingerprint == self.base_fingerprint or _same_base(
                self.base_fingerprints, embedding_fingerprints(model))):
            raise IncompatibleBaseModelError(
                f"{source} was trained on base model {self.base_model_id!r} (embedding fingerprint "
                f"{self.base_fingerprint}, width {self.hidden_size}), but the given model has fingerprint "
                f"{fingerprint} and width {width}. Tags only make sense on the model they were trained on."
                + ("" if self.base_fingerprints else " (This library predates per-precision fingerprints: load the "
                   "model in the dtype the library was trained in.)")
            )

    def subset(self, names: Iterable[str]) -> "TagLibrary":
        """A new library on the same base model with only those of ``names`` this one holds (tags, no heads)."""
        kept = TagLibrary(self.hidden_size, base_model_id=self.base_model_id, base_fingerprint=self.base_fingerprint,
                          base_fingerprints=self.base_fingerprints)
        for name in names:
            if name in self.specs:
                kept._copy_tag(self, name)
        return kept

    def _copy_tag(self, other: "TagLibrary", name: str) -> None:
        self.add_tag(other.specs[name], init=torch.zeros(self.hidden_size))
        with torch.no_grad():
            self.tags[name].copy_(other.tags[name])

    def merge(self, other: "TagLibrary") -> "TagLibrary":
        """Add ``other``'s tags and heads (e.g. domain tags from one file, function tags from another)."""
        same = other.base_fingerprint == self.base_fingerprint or _same_base(self.base_fingerprints,
                                                                               other.base_fingerprints)
        if not same or other.hidden_size != self.hidden_size:
            raise IncompatibleBaseModelError(
                f"cannot merge libraries from different base models ({self.base_model_id!r}, "
                f"{self.base_fingerprint}) and ({other.base_model_id!r}, {other.base_fingerprint})"
            )
        for name in other.specs:
            if name in self.specs:
                raise ValueError(f"both libraries define tag {name}; rename one before merging")
            self._copy_tag(other, name)
        for name, head in other.heads.items():
            if name in self.heads:
                raise ValueError(f"both libraries define head {name}")
            self.add_head(name, head)
        return self


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"no tag library at {path.parent}: {path.name} is missing")
    try:
        meta = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path} is not valid JSON ({exc}); the tag library is corrupt") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorruptFileError(f"{path} is not a biotag tag library (format {FORMAT!r} expected)")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CorruptFileError(
            f"{path} has format_version {meta['format_version']}, newer than this biotag "
            f"({__version__}) reads ({FORMAT_VERSION}); upgrade biotag"
        )
    return meta


#: Bounds checked before anything is allocated from a library's JSON (a corrupt or hostile size would otherwise
#: try to allocate terabytes): wider than any released LLM, longer than any tag.
MAX_HIDDEN_SIZE, MAX_TAG_LENGTH = 1 << 16, 1 << 12


def _check_size(value, field: str, limit: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ValueError(f"{field} is {value!r}, not a size from 1 to {limit}")


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CorruptFileError(f"{path} is missing; the tag library is incomplete")
    try:
        return safetensors.torch.load_file(str(path))
    except Exception as exc:  # safetensors raises SafetensorError / OSError on truncated files
        raise CorruptFileError(f"{path} could not be read as safetensors ({exc}); the file is corrupt") from exc


def _same_base(ours: dict[str, str], theirs: dict[str, str]) -> bool:
    """Whether two fingerprint sets agree at a precision both have (the same model, one loaded in float32
    and the other in bfloat16, agree at bfloat16)."""
    return any(ours[k] == theirs[k] for k in ours.keys() & theirs.keys())
