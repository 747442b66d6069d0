"""What a task head reads from the frozen model: the function tag's last position, pooled domain segments, or both.

The paper's head reads the final hidden state at the function tag's last position. A frozen LLM's middle
layers often know more about a molecule than that one position shows, so a head may also read each
domain segment's tokens mean-pooled at chosen layers. With the domain tags frozen those pooled states
never change during training (causal attention: nothing after a segment reaches it), so the prefix path
computes them once with the prefix's keys and values.

Without the function tag (``Readout(tag=False, ...)``) the head is a linear probe of the pooled states:
the ablation that says what the tag adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from biotag.config import READOUTS

__all__ = ["Readout", "READOUTS", "pool_segments"]



@dataclass(frozen=True)
class Readout:
    """The features a head reads, in order: the function tag's last final-layer state (``tag``), then, for
    each of ``segments`` domain segments, its tokens' mean hidden state at each of ``layers`` (indices into
    the model's hidden states: 0 is the embeddings, the model's depth is the final layer after its norm).

    Examples
    --------
    >>> Readout.named("tag+pool", n_layers=30, segments=1)
    Readout(tag=True, layers=(10, 20, 30), segments=1)
    >>> Readout.named("tag+pool", n_layers=30, segments=1).size(576)
    2304
    """

    tag: bool = True
    layers: tuple[int, ...] = ()
    segments: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(layer) for layer in self.layers))
        if not self.tag and not (self.layers and self.segments):
            raise ValueError("a readout needs the function tag, or pooled layers of at least one segment")
        if any(layer < 0 for layer in self.layers):
            raise ValueError(f"readout layers are hidden-state indices >= 0; got {self.layers}")

    @classmethod
    def named(cls, name: str, *, n_layers: int, segments: int) -> "Readout":
        """The readout called ``name`` (one of :data:`READOUTS`) for a model ``n_layers`` deep and inputs with
        ``segments`` domain segments; pooling reads the layers at a third, two thirds and the end of the depth."""
        if name not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {name!r}")
        if name == "tag" or segments == 0:
            return cls()
        layers = tuple(sorted({max(1, round(n_layers * k / 3)) for k in (1, 2, 3)}))
        return cls(tag=name != "pool", layers=layers, segments=segments)

    @property
    def pools(self) -> bool:
        return bool(self.layers and self.segments)

    def size(self, hidden_size: int) -> int:
        """How many features the head reads for a model with ``hidden_size``."""
        return hidden_size * (int(self.tag) + len(self.layers) * self.segments)

    def config(self) -> dict[str, Any]:
        return {"tag": self.tag, "layers": list(self.layers), "segments": self.segments}

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> "Readout":
        """A saved readout; None (a head saved before readouts existed) is the paper's."""
        return cls() if config is None else cls(bool(config["tag"]), tuple(config["layers"]), int(config["segments"]))


def pool_segments(parts: Sequence[tuple[Sequence[torch.Tensor], torch.Tensor]], readout: Readout) -> torch.Tensor:
    """Each row's domain segments mean-pooled at the readout's layers: (B, segments x layers x d) float32,
    segment-major.

    ``parts`` are pieces of one batch's forward, each ``(hidden_states, segments)``: the model's tuple of
    (B or 1, t, d) states (embeddings first) and the (B, t) domain-segment index of each of its positions
    (-1 for anything else, padding included). A shared lead run once for the batch is one piece, the rest
    of the rows another.
    """
    sums: dict[tuple[int, int], torch.Tensor] = {}
    counts: dict[int, torch.Tensor] = {}
    for states, segments in parts:
        if any(layer >= len(states) for layer in readout.layers):
            raise ValueError(f"readout layers {readout.layers} go past the model's {len(states) - 1} layers")
        found = int(segments.max()) + 1 if segments.numel() else 0
        if found > readout.segments:
            raise ValueError(f"the head pools {readout.segments} domain segment(s) per input; an input has {found}")
        for s in range(readout.segments):
            weight = (segments == s).to(torch.float32)  # (B, t)
            counts[s] = counts.get(s, 0) + weight.sum(dim=1)
            for layer in readout.layers:
                h = states[layer].to(torch.float32)
                part = torch.einsum("bt,btd->bd", weight.to(h.device), h.expand(len(weight), -1, -1))
                sums[s, layer] = sums.get((s, layer), 0) + part
    out = []
    for s in range(readout.segments):
        if bool((counts[s] == 0).any()):
            raise ValueError(f"an input has no domain segment {s}: every input of a task needs the same layout")
        out += [sums[s, layer] / counts[s][:, None].to(sums[s, layer].device) for layer in readout.layers]
    return torch.cat(out, dim=1)
