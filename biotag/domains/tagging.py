"""Tagged inputs as structured values: a sequence of tag and text segments.

The core never re-parses strings such as ``"<SMILES> CCO"``; it receives
``TaggedInput((Tag("<SMILES>"), Text("CCO", domain="smiles")))`` and knows
exactly where each tag goes and which text is domain data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence, Union

__all__ = ["Tag", "Text", "Segment", "TaggedInput", "Template", "DOMAIN_TAGS", "check_tag_name"]

#: Default domain tag for each built-in domain.
DOMAIN_TAGS = {"smiles": "<SMILES>", "protein": "<Protein>"}

_TAG_NAME = re.compile(r"^<[A-Za-z0-9][A-Za-z0-9_+\-]*>$")


def check_tag_name(name: str) -> str:
    """Return ``name`` if it looks like ``<Name>``; raise a ValueError that says why otherwise."""
    if not isinstance(name, str) or not _TAG_NAME.match(name):
        raise ValueError(
            f"invalid tag name {name!r}: a tag is written '<Name>' with letters, digits, '_', '+' or '-'"
        )
    return name


@dataclass(frozen=True)
class Tag:
    """A learned tag, spliced into the input as ``p`` embedding vectors."""

    name: str

    def __post_init__(self) -> None:
        check_tag_name(self.name)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Text:
    """Ordinary text; ``domain`` marks specialized data (``"smiles"``, ``"protein"``)."""

    text: str
    domain: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"Text.text must be a str, got {type(self.text).__name__}: {self.text!r}")

    def __str__(self) -> str:
        return self.text


Segment = Union[Tag, Text]


@dataclass(frozen=True)
class TaggedInput:
    """One model input: tags and text in order."""

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.segments))
        for seg in self.segments:
            if not isinstance(seg, (Tag, Text)):
                raise TypeError(f"a TaggedInput holds Tag and Text segments, got {seg!r}")

    @property
    def tags(self) -> tuple[str, ...]:
        """Names of the tags, in order."""
        return tuple(seg.name for seg in self.segments if isinstance(seg, Tag))

    def __str__(self) -> str:
        return " ".join(str(seg) for seg in self.segments)


@dataclass(frozen=True)
class Template:
    """How one row of domain values becomes a :class:`TaggedInput`.

    Parameters
    ----------
    domains : tuple of str
        The domain of each input column, in order: ``("smiles",)``,
        ``("protein", "smiles")`` or ``("smiles", "smiles")``.
    function_tag : str, optional
        The task's tag, placed last (e.g. ``"<BindingAffinity>"``).
    domain_tags : tuple of str, optional
        Tag per column; defaults to :data:`DOMAIN_TAGS` for each domain.

    Examples
    --------
    >>> t = Template(("protein", "smiles"), function_tag="<BindingAffinity>")
    >>> str(t.build("MKTAY", "CCO"))
    '<Protein> MKTAY <SMILES> CCO <BindingAffinity>'
    """

    domains: tuple[str, ...]
    function_tag: str | None = None
    domain_tags: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if isinstance(self.domains, str):
            object.__setattr__(self, "domains", (self.domains,))
        object.__setattr__(self, "domains", tuple(self.domains))
        if not self.domains:
            raise ValueError("Template.domains must name at least one domain, e.g. ('smiles',)")
        if self.domain_tags is None:
            unknown = [d for d in self.domains if d not in DOMAIN_TAGS]
            if unknown:
                raise ValueError(
                    f"Template.domains has unknown domain(s) {unknown}; known: {sorted(DOMAIN_TAGS)}, "
                    "or pass domain_tags to name the tags yourself"
                )
            object.__setattr__(self, "domain_tags", tuple(DOMAIN_TAGS[d] for d in self.domains))
        object.__setattr__(self, "domain_tags", tuple(self.domain_tags))
        if len(self.domain_tags) != len(self.domains):
            raise ValueError(
                f"Template.domain_tags has {len(self.domain_tags)} entries for {len(self.domains)} domains"
            )
        for name in self.domain_tags:
            check_tag_name(name)
        if self.function_tag is not None:
            check_tag_name(self.function_tag)

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag the template uses."""
        return self.domain_tags + ((self.function_tag,) if self.function_tag else ())

    def build(self, *values: str) -> TaggedInput:
        """Tag one row: one value per domain, in order."""
        if len(values) != len(self.domains):
            raise ValueError(f"template expects {len(self.domains)} value(s) {self.domains}, got {len(values)}")
        segments: list[Segment] = []
        for tag, domain, value in zip(self.domain_tags, self.domains, values):
            segments += [Tag(tag), Text(value, domain=domain)]
        if self.function_tag:
            segments.append(Tag(self.function_tag))
        return TaggedInput(tuple(segments))

    def build_many(self, rows: Iterable[Sequence[Any]] | Iterable[str]) -> list[TaggedInput]:
        """Tag many rows; a single-domain template accepts plain strings."""
        out = []
        for row in rows:
            values = (row,) if isinstance(row, str) else tuple(row)
            out.append(self.build(*values))
        return out
