"""Reusing the frozen prefix: the exact fast path for stages 2 and 3.

With the domain tags frozen, everything before the function tag (domain tags
and sequences) is a function of frozen weights only. Under causal attention
its keys and values never change during training, so they are computed once
(no grad) and every training step runs the model on the function tag's ``p``
positions alone, attending to the cached keys/values. The loss and gradients
are those of the full forward, to float tolerance (tests/tags/test_prefix.py).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from transformers import DynamicCache

from biotag.domains.tagging import Tag, TaggedInput, Text
from biotag.tags._attention import attention_used, grouped_attention

__all__ = ["PrefixKV", "FilePrefixKV", "JoinedPrefixKV", "PrefixStore", "PrefixCache", "available_memory",
           "cache_layers", "split_function_tag", "split_lead", "batch_order", "lead_batches", "compute_prefixes",
           "shared_prefixes", "forward_from_prefixes", "predict_from_cache"]


class PrefixStore:
    """Keys and values of many prefixes, end to end: per layer, (kv_heads, total positions, head_dim).

    Kept in memory, or in a file-backed mapping when they would not fit (``spilled``);
    the file is unlinked as soon as it is mapped, so it disappears with the store.
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], spilled: bool = False):
        self.keys, self.values, self.spilled = keys, values, spilled

    @classmethod
    def allocate(cls, like: list[tuple[torch.Tensor, torch.Tensor]], total: int, spill_dir: str | Path | None):
        """Room for ``total`` positions shaped like one batch's cache layers ``(B, kv_heads, T, head_dim)``."""

        def empty(t: torch.Tensor) -> torch.Tensor:
            shape = (t.shape[1], total, t.shape[3])
            if spill_dir is None:
                return t.new_empty(shape)
            fd, name = tempfile.mkstemp(prefix="biotag-prefix-", suffix=".bin", dir=spill_dir)
            os.close(fd)
            try:
                flat = torch.from_file(name, shared=True, size=math.prod(shape), dtype=t.dtype)
            finally:
                os.unlink(name)  # the mapping stays valid; the space is freed with the tensor
            return flat.view(shape)

        return cls([empty(k) for k, _ in like], [empty(v) for _, v in like], spilled=spill_dir is not None)

    @staticmethod
    def bytes_per_position(like: list[tuple[torch.Tensor, torch.Tensor]]) -> int:
        return sum(2 * k.shape[1] * k.shape[3] * k.element_size() for k, _ in like)


class _Layers:
    """Per-layer keys and values of one prefix, from its ``layers()``: (kv_heads, length, head_dim) each."""

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def keys(self) -> list[torch.Tensor]:
        return [k for k, _ in self.layers()]

    @property
    def values(self) -> list[torch.Tensor]:
        return [v for _, v in self.layers()]


@dataclass
class PrefixKV(_Layers):
    """One input's prefix: ``length`` positions of a store from ``offset``; per layer (kv_heads, L, head_dim)."""

    store: PrefixStore
    offset: int
    length: int

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        span = slice(self.offset, self.offset + self.length)
        return [(k[:, span], v[:, span]) for k, v in zip(self.store.keys, self.store.values)]


@dataclass
class FilePrefixKV(_Layers):
    """One input's prefix left in its :class:`PrefixCache` file and read when a batch needs it, for
    prefixes that together would not fit in memory: the cache is their store, so nothing is copied."""

    file: Path
    length: int

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        from safetensors import safe_open

        with safe_open(str(self.file), framework="pt") as f:
            return [(f.get_tensor(f"k{i}"), f.get_tensor(f"v{i}")) for i in range(int(f.metadata()["layers"]))]


@dataclass(eq=False)
class JoinedPrefixKV(_Layers):
    """A cross-domain prefix kept in two parts: its lead (``<Protein> sequence <SMILES>``), stored once and
    shared by every prefix with the same lead, and the rest (the molecule), stored per prefix.

    DAVIS pairs 379 kinases of about 460 tokens with 68 molecules of about 55: stored whole, its
    prefixes would take 633 GB on the default model; stored this way, 72 GB
    (``benchmarks/joined_prefixes.py``).
    """

    lead: PrefixKV | FilePrefixKV
    rest: PrefixKV | FilePrefixKV

    @property
    def length(self) -> int:
        return self.lead.length + self.rest.length

    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.cat([lk, rk], dim=1), torch.cat([lv, rv], dim=1))
                for (lk, lv), (rk, rv) in zip(self.lead.layers(), self.rest.layers())]


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable``), or a large number if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def split_function_tag(item: TaggedInput) -> tuple[TaggedInput, str] | None:
    """``(prefix, function tag)`` if the input ends with a tag, else None."""
    if len(item.segments) < 2 or not isinstance(item.segments[-1], Tag):
        return None
    return TaggedInput(item.segments[:-1]), item.segments[-1].name


@functools.lru_cache(maxsize=None)
def _takes_cache(forward) -> bool:
    return "cache" in inspect.signature(forward).parameters


def with_cache(model, cache) -> dict:
    """``cache`` as the keyword ``model``'s forward takes: ``cache`` in transformers 5 releases that renamed
    ``past_key_values`` (the old name is removed in 5.40), ``past_key_values`` in earlier ones."""
    return {"cache" if _takes_cache(type(model).forward) else "past_key_values": cache}


def output_cache(output):
    """The key/value cache a forward with ``use_cache=True`` returned, under either release's name."""
    cache = getattr(output, "cache", None)
    return output.past_key_values if cache is None else cache


def cache_layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    # transformers >= 4.56 keeps ``cache.layers[i].keys``; earlier releases ``key_cache[i]``.
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    if hasattr(cache, "key_cache"):
        return list(zip(cache.key_cache, cache.value_cache))
    return [(k, v) for k, v in cache]  # legacy tuple of (k, v)


def split_lead(prefix: TaggedInput) -> tuple[TaggedInput, TaggedInput] | None:
    """``(lead, rest)`` of a cross-domain input: everything before its last domain sequence, and the rest.

    None for an input with fewer than two domain sequences (single-domain rows share only their tag).
    Segments are tokenized one by one, so the lead's positions are the first positions of the input's.
    """
    texts = [i for i, seg in enumerate(prefix.segments) if isinstance(seg, Text) and seg.domain is not None]
    if len(texts) < 2:
        return None
    return TaggedInput(prefix.segments[: texts[-1]]), TaggedInput(prefix.segments[texts[-1] :])


def batch_order(items: Sequence[TaggedInput], lengths: Sequence[int]) -> list[int]:
    """The order in which to batch ``items``: by length (little padding), with rows that share everything
    before their last domain sequence kept together.

    For cross-domain inputs (``<Protein> seq <SMILES> smiles <Task>``) the rows of one
    protein then fall into the same batches, where :func:`~biotag.tags.tagged.shared_lead` computes the
    long protein part once per batch instead of once per row. Single-domain rows share
    only the leading tag, so they are ordered by length alone.
    """
    def lead(item: TaggedInput) -> tuple[str, ...]:
        split = split_lead(item)
        return () if split is None else tuple(str(seg) for seg in split[0].segments)

    return sorted(range(len(items)), key=lambda i: (lead(items[i]), lengths[i]))


def lead_batches(items: Sequence[TaggedInput], order: Sequence[int], batch_size: int) -> list[list[int]]:
    """``order`` (from :func:`batch_order`) cut into batches of at most ``batch_size`` that never mix rows of
    a shared lead with other rows: a batch of one protein computes the protein once (a batch straddling
    two proteins shares only the leading tag and runs both proteins for every row). Rows whose lead no
    other row has, and single-domain rows, fill batches freely."""
    leads = [None if s is None else s[0] for s in map(split_lead, items)]
    counts: dict[TaggedInput | None, int] = {}
    for lead in leads:
        counts[lead] = counts.get(lead, 0) + 1
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1][-1] if batches else None
        new_group = last is not None and leads[i] != leads[last] and max(counts[leads[i]], counts[leads[last]]) > 1
        if last is None or len(batches[-1]) == batch_size or new_group:
            batches.append([])
        batches[-1].append(i)
    return batches


@torch.no_grad()
def compute_prefixes(
    tlm,
    prefixes: Sequence[TaggedInput],
    *,
    batch_size: int = 16,
    spill_dir: str | Path | None = None,
    memory_fraction: float = 0.5,
) -> list[PrefixKV | JoinedPrefixKV]:
    """Keys/values of every prefix, computed in :func:`batch_order` batches (little padding, shared leads
    computed once), stored unpadded.

    A cross-domain prefix comes back as a :class:`JoinedPrefixKV`: its lead (see :func:`split_lead`)
    is stored once for all the prefixes that share it. They stay in memory when they take at most
    ``memory_fraction`` of the available memory, and otherwise go to a file-backed store in
    ``spill_dir`` (default: the system's temporary directory). ``MemoryError`` if the disk cannot hold
    them either.
    """
    encoder = tlm.encoder()
    lengths = [len(encoder.encode_row(p)[0]) for p in prefixes]
    leads = [None if s is None else s[0] for s in map(split_lead, prefixes)]
    # Layout of the store: each distinct lead once, then each prefix's own positions (after its lead).
    lead_at: dict[TaggedInput, tuple[int, int]] = {}
    total = 0
    for lead in leads:
        if lead is not None and lead not in lead_at:
            n = len(encoder.encode_row(lead)[0])
            lead_at[lead] = (total, n)
            total += n
    own_at = []
    for lead, n in zip(leads, lengths):
        own = n - (0 if lead is None else lead_at[lead][1])
        own_at.append((total, own))
        total += own
    order = batch_order(prefixes, lengths)
    store: PrefixStore | None = None
    lead_kv: dict[TaggedInput, PrefixKV] = {}
    out: list[PrefixKV | JoinedPrefixKV | None] = [None] * len(prefixes)

    def put(layers, row: int, positions: torch.Tensor, at: int) -> None:  # row's positions into the store at ``at``
        span = slice(at, at + len(positions))
        for (k, v), sk, sv in zip(layers, store.keys, store.values):
            sk[:, span] = k[row, :, positions]
            sv[:, span] = v[row, :, positions]

    for idx in lead_batches(prefixes, order, batch_size):
        batch = tlm.encode([prefixes[i] for i in idx])
        result, shared = tlm.forward_shared_lead(batch, use_cache=True)
        layers = cache_layers(output_cache(result))
        if store is None:
            store = PrefixStore.allocate(layers, total, _where(PrefixStore.bytes_per_position(layers) * total,
                                                               spill_dir, memory_fraction))
        T = batch.input_ids.shape[1]
        for row, i in enumerate(idx):
            # The cache holds the shared lead, then the left-padded rest: row i's rest is real from T - lengths[i].
            keep = torch.cat([torch.arange(shared), torch.arange(shared + T - lengths[i], T)]).to(tlm.device)
            lead = leads[i]
            if lead is None:
                put(layers, row, keep, own_at[i][0])
                out[i] = PrefixKV(store, *own_at[i])
                continue
            at, n = lead_at[lead]
            if lead not in lead_kv:
                put(layers, row, keep[:n], at)
                lead_kv[lead] = PrefixKV(store, at, n)
            put(layers, row, keep[n:], own_at[i][0])
            out[i] = JoinedPrefixKV(lead_kv[lead], PrefixKV(store, *own_at[i]))
    return out  # type: ignore[return-value]


def _where(nbytes: int, spill_dir: str | Path | None, memory_fraction: float) -> str | None:
    """None to keep ``nbytes`` of prefixes in memory, else the directory to spill them to."""
    if nbytes <= memory_fraction * available_memory():
        return None
    directory = str(spill_dir or tempfile.gettempdir())
    free = shutil.disk_usage(directory).free
    if nbytes > 0.9 * free:
        raise MemoryError(
            f"the cached prefixes need {nbytes / 2**30:.1f} GiB: more than {memory_fraction:.0%} of the available "
            f"memory and more than the {free / 2**30:.1f} GiB free in {directory}. Pass spill_dir= a larger disk, "
            "or train without prefix reuse (reuse_prefix=False)."
        )
    warnings.warn(
        f"the cached prefixes need {nbytes / 2**30:.1f} GiB, over {memory_fraction:.0%} of the available memory; "
        f"they go to a file-backed store in {directory} (deleted when training ends)",
        stacklevel=3,
    )
    return directory


def forward_from_prefixes(tlm, prefixes: Sequence[PrefixKV | FilePrefixKV | JoinedPrefixKV],
                          tag: str) -> torch.Tensor:
    """Final hidden state at the last vector of ``tag`` after each cached prefix: (B, d) float32.

    Prefixes are left-padded to a common length; padding is masked out and
    position ids continue each prefix's own count, exactly as in the full forward.
    """
    device = tlm.device
    B, L = len(prefixes), max(p.length for p in prefixes)
    vectors = tlm.library.tags[tag]  # (p, d), trainable
    n = vectors.shape[0]
    # Per row, its parts (a joined prefix's lead, read once per batch however many rows share it, then its
    # rest), each per layer (kv_heads, length, head_dim).
    leads: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def parts(p) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
        if not isinstance(p, JoinedPrefixKV):
            return [p.layers()]
        if id(p.lead) not in leads:
            leads[id(p.lead)] = p.lead.layers()
        return [leads[id(p.lead)], p.rest.layers()]

    rows = [parts(p) for p in prefixes]
    kv = []
    for layer, (k0, v0) in enumerate(rows[0][0]):
        keys = k0.new_zeros((B, k0.shape[0], L, k0.shape[2]))
        values = v0.new_zeros((B, v0.shape[0], L, v0.shape[2]))
        for b, p in enumerate(prefixes):
            at = L - p.length
            for part in rows[b]:
                k, v = part[layer]
                keys[b, :, at : at + k.shape[1]], values[b, :, at : at + k.shape[1]] = k, v
                at += k.shape[1]
        kv.append((keys.to(device), values.to(device)))
    mask = torch.zeros((B, L + n), dtype=torch.long, device=device)
    for b, p in enumerate(prefixes):
        mask[b, L - p.length :] = 1
    lengths = torch.tensor([p.length for p in prefixes], device=device)
    position_ids = lengths[:, None] + torch.arange(n, device=device)[None, :]  # (B, p)
    embeds = vectors.to(tlm.model.dtype).unsqueeze(0).expand(B, -1, -1)  # (B, p, d)
    with grouped_attention(tlm.model, frozen_past=True):  # the cached keys/values need no gradient
        out = tlm.model.base_model(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=position_ids,
            use_cache=True,
            **with_cache(tlm.model.base_model, DynamicCache(kv)),
        )
    return out.last_hidden_state[:, -1].to(torch.float32)


def check_memory_fraction(value: float, name: str = "memory_fraction") -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless it is a share between 0 and 1."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


class PrefixCache:
    """Frozen prefixes kept on disk between fits: each input's keys/values are computed once.

    Fits and predictions on the same inputs, model and frozen tags (a grid search, cross-validation,
    benchmark seeds, a prediction after training) load them instead of running the model over the
    sequences again. One safetensors file per prefix, under a folder named by a hash of everything
    that determines the keys/values: the base model (its embedding fingerprint, config and a sample of
    every weight), the frozen tags' vectors, tokenization, length limit, dtype and the torch and
    transformers versions. A file that cannot be read is recomputed (with a warning), never trusted.

    Disk use is ``2 x layers x kv_heads x head_dim`` values per position: about 46 KB per token
    for the default model in float32, or 3 to 4 MB per SMILES.

    ``memory_fraction`` is the share of the available memory (``MemAvailable``, measured when a data set's
    prefixes are loaded) that they may take; beyond it they are read from their files batch by batch.
    Lower it when other jobs will start on the machine later (a process that loaded its prefixes into
    memory keeps them there; two side by side can run out of memory), or set 0 to always read from disk.
    """

    def __init__(self, directory: str | Path, memory_fraction: float = 0.5):
        self.directory = Path(directory)
        self.memory_fraction = check_memory_fraction(memory_fraction)

    # ---- keys ----------------------------------------------------------------------------------------

    @staticmethod
    def _model_digest(model) -> str:
        """The config, dtype and the first and last 1,024 values of every weight (cheap even for 7B models)."""
        h = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
        h.update(str(model.dtype).encode())
        with torch.no_grad():
            for name, param in model.named_parameters():
                flat = param.detach().reshape(-1)
                sample = torch.cat([flat[:1024], flat[-1024:]]).to("cpu", torch.float32).contiguous()
                h.update(f"{name}{tuple(param.shape)}".encode())
                h.update(sample.numpy().tobytes())
        return h.hexdigest()

    def folder(self, tlm, tags: Sequence[str]) -> Path:
        """The folder of this model, these frozen tags' current vectors and this encoding."""
        import transformers

        h = hashlib.sha256()
        for part in (tlm.library.base_fingerprint, self._model_digest(tlm.model), tlm.tokenization,
                     tlm.max_length, torch.__version__, transformers.__version__,
                     attention_used(tlm.model)):
            h.update(f"{part}|".encode())
        for name in sorted(tags):
            h.update(name.encode())
            h.update(tlm.library.tags[name].detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return self.directory / h.hexdigest()[:24]

    @staticmethod
    def _file(folder: Path, prefix: TaggedInput, part: str = "whole") -> Path:
        """The file of a prefix (``part="whole"``, also a cross-domain lead) or of what follows its lead."""
        label = "" if part == "whole" else f"{part}|"
        key = hashlib.sha256(f"{label}{prefix!r}".encode()).hexdigest()[:32]
        return folder / key[:2] / f"{key}.safetensors"

    # ---- reading and writing ------------------------------------------------------------------------

    def _read(self, file: Path, prefix: TaggedInput, length: int, *, load: bool = True,
              part: str = "whole") -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """The file's layers; without ``load``, an empty list once its header checks out (the tensors stay
        on disk). None, with a warning, if the file is missing pieces, holds another input or cannot be read."""
        from safetensors import safe_open

        if not file.is_file():
            return None
        try:
            with safe_open(str(file), framework="pt") as f:  # checks that the file holds every tensor it lists
                meta = f.metadata() or {}
                if meta.get("prefix") != repr(prefix) or meta.get("part", "whole") != part:
                    raise ValueError("the file holds another input's prefix")
                n = int(f.metadata()["layers"])
                shapes = [(f.get_slice(f"k{i}").get_shape(), f.get_slice(f"v{i}").get_shape()) for i in range(n)]
                if not shapes or any(k != v or len(k) != 3 or k[1] != length for k, v in shapes):
                    raise ValueError(f"its tensors do not hold {length} positions")
                return [(f.get_tensor(f"k{i}"), f.get_tensor(f"v{i}")) for i in range(n)] if load else []
        except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed, never trusted
            warnings.warn(f"cached prefix {file} is unreadable ({type(err).__name__}: {err}); recomputing it",
                          stacklevel=4)
            return None

    @staticmethod
    def _write(file: Path, prefix: TaggedInput, layers: list[tuple[torch.Tensor, torch.Tensor]],
               part: str = "whole") -> None:
        from safetensors.torch import save_file

        file.parent.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for i, (k, v) in enumerate(layers):
            tensors[f"k{i}"], tensors[f"v{i}"] = (t.to("cpu").clone(memory_format=torch.contiguous_format)
                                                for t in (k, v))  # own, contiguous storage
        fd, tmp = tempfile.mkstemp(prefix=file.stem, suffix=".tmp", dir=file.parent)
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"prefix": repr(prefix), "layers": str(len(layers)), "part": part})
            os.replace(tmp, file)  # atomic: a reader never sees half a file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # ---- the cache ----------------------------------------------------------------------------------

    @torch.no_grad()
    def prefixes(self, tlm, prefixes: Sequence[TaggedInput], *, batch_size: int = 16,
                 memory_fraction: float | None = None) -> list[PrefixKV | FilePrefixKV | JoinedPrefixKV]:
        """Like :func:`compute_prefixes`: the cached ones are read, the others computed and written.

        When they fit in ``memory_fraction`` of the available memory (default: the cache's own), the files are read one at a time
        into one store. Otherwise they stay on disk as :class:`FilePrefixKV`, each read when its batch
        runs: the cache is the store, so a data set's prefixes take their disk space once. A
        cross-domain prefix has two files, its lead's (one for every prefix with that lead) and its
        rest's; leads and rests are kept in memory or left on disk each on their own.
        """
        if memory_fraction is None:
            memory_fraction = self.memory_fraction
        tags = sorted({t for p in prefixes for t in p.tags})
        folder = self.folder(tlm, tags)
        encoder = tlm.encoder()
        lengths = [len(encoder.encode_row(p)[0]) for p in prefixes]
        leads = [None if s is None else s[0] for s in map(split_lead, prefixes)]
        lead_length = {lead: len(encoder.encode_row(lead)[0]) for lead in dict.fromkeys(leads) if lead is not None}
        lead_files = {lead: self._file(folder, lead) for lead in lead_length}
        parts = ["whole" if lead is None else "rest" for lead in leads]
        files = [self._file(folder, p, part) for p, part in zip(prefixes, parts)]
        missing = [i for i, (f, lead) in enumerate(zip(files, leads))
                   if not f.is_file() or (lead is not None and not lead_files[lead].is_file())]
        try:
            self._compute_and_write(tlm, missing, prefixes, lengths, files, batch_size, memory_fraction,
                                    lead_files=lead_files)
        except OSError as err:  # a full or read-only disk: the cache is an optimization, not a requirement
            warnings.warn(f"cannot write cached prefixes to {folder} ({err}); computing them without the cache",
                          stacklevel=3)
            return compute_prefixes(tlm, prefixes, batch_size=batch_size, memory_fraction=memory_fraction)
        lead_kv = dict(zip(lead_length, self._gather(
            tlm, list(lead_length), list(lead_files.values()), list(lead_length.values()),
            ["whole"] * len(lead_length), memory_fraction)))
        own = self._gather(tlm, prefixes, files, [n - lead_length.get(lead, 0) for n, lead in zip(lengths, leads)],
                           parts, memory_fraction)
        return [kv if lead is None else JoinedPrefixKV(lead_kv[lead], kv) for kv, lead in zip(own, leads)]

    def _gather(self, tlm, prefixes: Sequence[TaggedInput], files: Sequence[Path], lengths: Sequence[int],
                parts: Sequence[str], memory_fraction: float) -> list[PrefixKV | FilePrefixKV]:
        """The written prefixes (or parts) in one store, or left in their files if they would not fit."""
        if not prefixes:
            return []
        first = (self._read(files[0], prefixes[0], lengths[0], part=parts[0])
                 or self._recompute(tlm, files[0], prefixes[0], part=parts[0]))
        like = [(k.unsqueeze(0), v.unsqueeze(0)) for k, v in first]
        if PrefixStore.bytes_per_position(like) * sum(lengths) > memory_fraction * available_memory():
            return [FilePrefixKV(file, n) if self._read(file, prefix, n, load=False, part=part) is not None
                    else self._recompute(tlm, file, prefix, keep=False, part=part)
                    for prefix, file, n, part in zip(prefixes, files, lengths, parts)]
        store = PrefixStore.allocate([(k.to(tlm.device), v.to(tlm.device)) for k, v in like], sum(lengths), None)
        out, offset = [], 0
        for i, (prefix, file, n, part) in enumerate(zip(prefixes, files, lengths, parts)):
            layers = first if i == 0 else (self._read(file, prefix, n, part=part)
                                           or self._recompute(tlm, file, prefix, part=part))
            for (k, v), sk, sv in zip(layers, store.keys, store.values):
                sk[:, offset : offset + n] = k
                sv[:, offset : offset + n] = v
            out.append(PrefixKV(store, offset, n))
            offset += n
        return out

    def _recompute(self, tlm, file: Path, prefix: TaggedInput, *, keep: bool = True, part: str = "whole"):
        """An unreadable file's prefix (or the part after its lead), computed alone and written back if the
        disk lets us: its layers, or (``keep=False``) a :class:`FilePrefixKV`, in memory if it could not be
        written."""
        kv = compute_prefixes(tlm, [prefix], batch_size=1)[0]
        if part == "rest":
            kv = kv.rest
        layers = [(k.clone(), v.clone()) for k, v in kv.layers()]
        try:
            self._write(file, prefix, layers, part)
        except OSError:
            return layers if keep else kv
        return layers if keep else FilePrefixKV(file, kv.length)

    def _compute_and_write(self, tlm, which: list[int], prefixes, lengths, files, batch_size: int,
                           memory_fraction: float, chunk: int = 256,
                           lead_files: dict[TaggedInput, Path] | None = None):
        """Compute and write the prefixes ``which``, ``chunk`` at a time (in :func:`batch_order`), so
        memory holds a chunk, never the whole data set. A cross-domain prefix writes the part after its
        lead, and its lead's file unless that is already there."""
        order = [which[j] for j in batch_order([prefixes[i] for i in which], [lengths[i] for i in which])]
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            # A chunk's size is bounded, and it goes to its files next: spilling it to a scratch file first
            # (a low memory_fraction) would only write it twice.
            computed = compute_prefixes(tlm, [prefixes[i] for i in part], batch_size=batch_size,
                                        memory_fraction=max(memory_fraction, 0.5))
            for i, kv in zip(part, computed):
                if isinstance(kv, JoinedPrefixKV):
                    lead = split_lead(prefixes[i])[0]
                    if not lead_files[lead].is_file():
                        self._write(lead_files[lead], lead, kv.lead.layers())
                    self._write(files[i], prefixes[i], kv.rest.layers(), "rest")
                else:
                    self._write(files[i], prefixes[i], kv.layers())


def shared_prefixes(tlm, items: Sequence[TaggedInput], *, batch_size: int = 16,
                    cache: PrefixCache | None = None) -> list[PrefixKV | FilePrefixKV | JoinedPrefixKV]:
    """The frozen prefix (before the function tag) of each input; identical prefixes are computed once
    and shared, and with ``cache`` read from (or written to) disk."""
    unique: dict[TaggedInput, int] = {}
    for item in items:
        unique.setdefault(split_function_tag(item)[0], len(unique))
    if cache is not None:
        computed = cache.prefixes(tlm, list(unique), batch_size=batch_size)
    else:
        computed = compute_prefixes(tlm, list(unique), batch_size=batch_size)
    return [computed[unique[split_function_tag(item)[0]]] for item in items]


@torch.no_grad()
def predict_from_cache(tlm, cache: PrefixCache, items: Sequence[TaggedInput], head: str,
                       batch_size: int = 32) -> torch.Tensor:
    """``TaggedLM.predict`` with the frozen prefixes read from (or written to) ``cache``: (N, k)."""
    if any((split_function_tag(item) or (None, None))[1] != head for item in items):
        return tlm.predict(items, head, batch_size=batch_size)
    prefixes = shared_prefixes(tlm, items, batch_size=batch_size, cache=cache)
    order = sorted(range(len(items)), key=lambda i: prefixes[i].length)
    out: list[torch.Tensor | None] = [None] * len(items)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        pred = tlm.head(head).predict(forward_from_prefixes(tlm, [prefixes[i] for i in idx], head)).cpu()
        for row, i in enumerate(idx):
            out[i] = pred[row]
    return torch.stack(out)  # type: ignore[arg-type]
