"""Frozen prefixes kept on disk between fits, one safetensors file per input."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Sequence

import torch

from biotag.config import PREFIX_MEMORY
from biotag.domains.tagging import TaggedInput
from biotag.backbone.attention import attention_used
from biotag.model.batching import batch_order, split_lead
from biotag.model.prefix import compute
from biotag.model.prefix.kv import FilePrefixKV, JoinedPrefixKV, KVView, Layers, PrefixKV, PrefixStore
from biotag.heads.readout import Readout
from biotag.model.tagged import TaggedLM
from biotag import hardware
from biotag.files import TensorFiles
from biotag.checks import check_fraction
from biotag.backbone.fingerprint import model_digest

__all__ = ["PrefixCache"]


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

    def __init__(self, directory: str | Path, memory_fraction: float = PREFIX_MEMORY):
        self.directory = Path(directory)
        self.memory_fraction = check_fraction(memory_fraction, "memory_fraction")

    # ---- keys ----------------------------------------------------------------------------------------

    def folder(self, tlm: TaggedLM, tags: Sequence[str]) -> Path:
        """The folder of this model, these frozen tags' current vectors and this encoding."""
        import transformers

        h = hashlib.sha256()
        for part in (tlm.library.base_fingerprint, model_digest(tlm.model), tlm.tokenization,
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
        return TensorFiles(folder).file(("" if part == "whole" else f"{part}|") + repr(prefix))

    # ---- reading and writing ------------------------------------------------------------------------

    def _read(self, file: Path, prefix: TaggedInput, length: int, *, load: bool = True,
              part: str = "whole") -> Layers | None:
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
    def _pooled_key(prefix: TaggedInput, pool: Readout) -> str:
        return f"pooled{list(pool.layers)}x{pool.segments}|{prefix!r}"

    def _read_pooled(self, folder: Path, prefix: TaggedInput, pool: Readout) -> torch.Tensor | None:
        found = TensorFiles(folder).read(self._pooled_key(prefix, pool))
        if found is None or found[1].get("key") != self._pooled_key(prefix, pool) or "pooled" not in found[0]:
            return None
        return found[0]["pooled"]

    def _with_pooled(self, tlm, folder: Path, prefixes: Sequence[TaggedInput], views: list[KVView],
                     pool: Readout) -> list[KVView]:
        """``views`` carrying their prefixes' pooled states, read from their files (or, if unreadable, computed)."""
        for prefix, view in zip(prefixes, views):
            view.pooled = self._read_pooled(folder, prefix, pool)
            if view.pooled is None:
                warnings.warn(f"the cached pooled states of {prefix!r} are unreadable; recomputing them", stacklevel=4)
                view.pooled = compute.compute_prefixes(tlm, [prefix], batch_size=1, pool=pool)[0].pooled
        return views

    @staticmethod
    def _write(file: Path, prefix: TaggedInput, layers: Layers, part: str = "whole") -> None:
        tensors = {name: t for i, (k, v) in enumerate(layers) for name, t in ((f"k{i}", k), (f"v{i}", v))}
        TensorFiles.write_file(file, tensors, {"prefix": repr(prefix), "layers": str(len(layers)), "part": part})

    # ---- the cache ----------------------------------------------------------------------------------

    @torch.no_grad()
    def prefixes(self, tlm: TaggedLM, prefixes: Sequence[TaggedInput], *, batch_size: int = 16,
                 memory_fraction: float | None = None, pool: Readout | None = None) -> list[KVView]:
        """Like :func:`compute_prefixes`: the cached ones are read, the others computed and written.

        When they fit in ``memory_fraction`` of the available memory (default: the cache's own), the files are
        read one at a time
        into one store. Otherwise they stay on disk as :class:`FilePrefixKV`, each read when its batch
        runs: the cache is the store, so a data set's prefixes take their disk space once. A
        cross-domain prefix has two files, its lead's (one for every prefix with that lead) and its
        rest's; leads and rests are kept in memory or left on disk each on their own. With ``pool``, each
        view carries its pooled domain segments (:class:`~biotag.heads.readout.Readout`), kept in a file of
        their own.
        """
        pool = pool if pool is not None and pool.pools else None
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
        files_pooled = TensorFiles(folder)
        missing = [i for i, (f, lead) in enumerate(zip(files, leads))
                   if not f.is_file() or (lead is not None and not lead_files[lead].is_file())
                   or (pool is not None and not files_pooled.file(self._pooled_key(prefixes[i], pool)).is_file())]
        try:
            self._compute_and_write(tlm, missing, prefixes, lengths, files, batch_size, memory_fraction,
                                    lead_files=lead_files, pool=pool, folder=folder)
        except OSError as err:  # a full or read-only disk: the cache is an optimization, not a requirement
            warnings.warn(f"cannot write cached prefixes to {folder} ({err}); computing them without the cache",
                          stacklevel=3)
            return compute.compute_prefixes(tlm, prefixes, batch_size=batch_size, memory_fraction=memory_fraction,
                                            pool=pool)
        lead_kv = dict(zip(lead_length, self._gather(
            tlm, list(lead_length), list(lead_files.values()), list(lead_length.values()),
            ["whole"] * len(lead_length), memory_fraction)))
        own = self._gather(tlm, prefixes, files, [n - lead_length.get(lead, 0) for n, lead in zip(lengths, leads)],
                           parts, memory_fraction)
        views = [kv if lead is None else JoinedPrefixKV(lead_kv[lead], kv) for kv, lead in zip(own, leads)]
        return views if pool is None else self._with_pooled(tlm, folder, prefixes, views, pool)

    def _gather(self, tlm, prefixes: Sequence[TaggedInput], files: Sequence[Path], lengths: Sequence[int],
                parts: Sequence[str], memory_fraction: float) -> list[PrefixKV | FilePrefixKV]:
        """The written prefixes (or parts) in one store, or left in their files if they would not fit."""
        if not prefixes:
            return []
        first = (self._read(files[0], prefixes[0], lengths[0], part=parts[0])
                 or self._recompute(tlm, files[0], prefixes[0], part=parts[0]))
        like = [(k.unsqueeze(0), v.unsqueeze(0)) for k, v in first]
        if PrefixStore.bytes_per_position(like) * sum(lengths) > memory_fraction * hardware.available_memory(tlm.device):
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
        kv = compute.compute_prefixes(tlm, [prefix], batch_size=1)[0]
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
                           lead_files: dict[TaggedInput, Path] | None = None, pool: Readout | None = None,
                           folder: Path | None = None):
        """Compute and write the prefixes ``which``, ``chunk`` at a time (in :func:`batch_order`), so
        memory holds a chunk, never the whole data set. A cross-domain prefix writes the part after its
        lead, and its lead's file unless that is already there; with ``pool``, the pooled states too."""
        order = [which[j] for j in batch_order([prefixes[i] for i in which], [lengths[i] for i in which])]
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            # A chunk's size is bounded, and it goes to its files next: spilling it to a scratch file first
            # (a low memory_fraction) would only write it twice.
            computed = compute.compute_prefixes(tlm, [prefixes[i] for i in part], batch_size=batch_size,
                                                memory_fraction=max(memory_fraction, 0.5), pool=pool)
            for i, kv in zip(part, computed):
                if pool is not None:
                    key = self._pooled_key(prefixes[i], pool)
                    TensorFiles(folder).write(key, {"pooled": kv.pooled}, {"key": key})
                if isinstance(kv, JoinedPrefixKV):
                    lead = split_lead(prefixes[i])[0]
                    if not lead_files[lead].is_file():
                        self._write(lead_files[lead], lead, kv.lead.layers())
                    self._write(files[i], prefixes[i], kv.rest.layers(), "rest")
                else:
                    self._write(files[i], prefixes[i], kv.layers())

    def predict(self, tlm: TaggedLM, items: Sequence[TaggedInput], head: str, *, batch_size: int = 32) -> torch.Tensor:
        """``tlm``'s head outputs (N, k) with the frozen prefixes read from (or written to) this cache."""
        return compute.predict_from_prefixes(tlm, items, head, batch_size=batch_size, prefix_cache=self)
